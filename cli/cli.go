// Package cli implements tollgate's subcommands.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// Version is set at build time with -ldflags "-X github.com/tollgate-voip/tollgate/cli.Version=…".
var Version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // something went wrong while running
	exitUsage = 2 // bad input: flags, config, numbers
)

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError is bad input from the user; it exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `tollgate — real-time VoIP fraud prevention

Usage:
  tollgate serve [-config FILE] [-data DIR] [-listen ADDR]   run the screening server
  tollgate check NUMBER [-tenant T] [-extension E] [-at TIME] [-config FILE] [-json]
                                                       number intelligence and the verdict
  tollgate config check FILE                             validate a policy file
  tollgate config default [-full [-config FILE]]        print the built-in policy (-full: every key, effective values)
  tollgate token add NAME -role admin|operator|screen|read [-expires 720h] [-data DIR]
                                                       create an API token (shown once)
  tollgate token revoke NAME [-data DIR]                 revoke an API token (refused within a second)
  tollgate token list [-data DIR]                        list API tokens: state, expiry, last use
  tollgate voice train-ubm|enroll|verify|identify|eval|rekey …
                                                       voice biometrics (tollgate voice for details)
  tollgate user add NAME -role admin|operator|viewer [-tenant T] [-data DIR [-create] | -config FILE]
                                                       create a console user (prints the TOTP QR code)
  tollgate user passwd|mfa|role|delete NAME, user list  manage console users
  tollgate audit verify [-data DIR] [-expect HASH]       check the audit log's hash chain
  tollgate audit export [-since T] [-before T] [-o FILE] export the audit log as JSON lines
  tollgate stir sign -orig N -dest N [-key K -x5u URL] [-attest A|B|C] [-config FILE -tenant T]
                                                       sign a PASSporT: print an Identity header
  tollgate stir verify [-identity H] [-anchors DIR] [-orig N] [-dest N] [-cert PEM] [-config FILE]
                                                       verify an Identity header (exit 1 unless passed)
  tollgate replay [-config FILE] [-format auto|asterisk|freeswitch|json] [-tz ZONE] FILE…
                                                       run CDR files through the detectors; report
  tollgate simulate [-days N] [-out FILE | -url URL -token T]
                                                       labelled traffic with attacks, to a file or a server
  tollgate incident export|damage|timeline -from T -to T [-tenant T] [-data DIR]
                                                       evidence bundle, damage assessment, timeline
  tollgate honeypot [-config FILE] [-data DIR] [-listen ADDR]
                                                       run the decoy PBX on its own (UDP)
  tollgate reputation list|add KIND VALUE|remove KIND VALUE|import FILE|export [-config FILE] [-data DIR]
                                                       the bad-actor database (IPs, numbers, ranges, User-Agents)
  tollgate bans list|release ID|export [-format nft|kamcmd|jsonrpc] [-config FILE] [-data DIR]
                                                       SIP attack bans
  tollgate asterisk pin-hash < PIN                       hash a PIN for asterisk.pins (read from stdin)
  tollgate probe HOST:PORT [-count N] [-duration D] [-json]
                                                       synthetic test call: setup time, loss, jitter, MOS
  tollgate version                                       print the version

Run 'tollgate COMMAND -h' for a command's flags.
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = e.serve(args[1:])
	case "check":
		err = e.check(args[1:])
	case "config":
		err = e.config(args[1:])
	case "replay":
		err = e.replay(args[1:])
	case "simulate":
		err = e.simulate(args[1:])
	case "incident":
		err = e.incident(args[1:])
	case "token":
		err = e.token(args[1:])
	case "probe":
		err = e.probe(args[1:])
	case "voice":
		err = e.voice(args[1:])
	case "honeypot":
		err = e.honeypotCmd(args[1:])
	case "reputation":
		err = e.reputationCmd(args[1:])
	case "bans":
		err = e.bansCmd(args[1:])
	case "user":
		err = e.user(args[1:])
	case "audit":
		err = e.audit(args[1:])
	case "stir":
		err = e.stir(args[1:])
	case "asterisk":
		err = e.asterisk(args[1:])
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "tollgate", versionString())
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "tollgate:", strings.TrimSpace(err.Error()))
	return exitCode(err)
}

// exitCode is the command line's one mapping from an error to an exit
// status: a usage or configuration error, or an error whose kind
// (internal/errkind) says the request was wrong — invalid, naming nothing
// there is, clashing with what is there — exits 2: fix the command. Any
// other failure exits 1.
func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) || isConfigError(err) {
		return exitUsage
	}
	switch errkind.Of(err) {
	case errkind.Invalid, errkind.NotFound, errkind.Conflict:
		return exitUsage
	}
	return exitError
}

func versionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		v += " " + bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}

func newFlags(name string, e *env) *flag.FlagSet {
	fs := flag.NewFlagSet("tollgate "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses flags that may come before or after positional args.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
