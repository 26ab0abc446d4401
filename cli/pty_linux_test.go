package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/simulate"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: what is written to pts can be read
// from ptm (after pts is closed, reading ends with an error, not EOF;
// io.ReadAll returns what came before it).
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Raw output: no \n → \r\n translation to confuse what is read back.
	if tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS); err == nil {
		tio.Oflag &^= unix.OPOST
		unix.IoctlSetTermios(int(pts.Fd()), unix.TCSETS, tio)
	}
	return ptm, pts
}

// replayFixture writes a policy and an Asterisk Master.csv of simulated
// calls and returns their paths.
func replayFixture(t *testing.T) (pol, file string) {
	dir := t.TempDir()
	pol = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(simPolicy(t, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := simulate.Generate(simulate.Options{Seed: 1, Tenants: 2, Exts: 4, Days: 3})
	var b bytes.Buffer
	if err := simulate.WriteAsterisk(&b, calls); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "Master.csv")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return pol, file
}

// TestReplayProgressOnTerminal: with stderr a terminal (a real
// pseudo-terminal) the progress bar is drawn there with \r frames and
// never goes into the report; TestReplayPrintsReport checks that with
// stderr not a terminal nothing is drawn.
func TestReplayProgressOnTerminal(t *testing.T) {
	pol, file := replayFixture(t)
	ptm, pts := openPTY(t)
	var drawn bytes.Buffer
	done := make(chan struct{})
	go func() { // drain the terminal: a full pty buffer would block the writer
		io.Copy(&drawn, ptm)
		close(done)
	}()
	var out bytes.Buffer
	rc := Main([]string{"replay", "-config", pol, file}, nil, &out, pts)
	pts.Close()
	<-done
	if rc != 0 || !bytes.Contains(drawn.Bytes(), []byte("100%")) || !bytes.Contains(drawn.Bytes(), []byte("\r[")) || strings.Contains(out.String(), "[###") {
		t.Errorf("replay on a terminal = %d; terminal got %q", rc, drawn.String())
	}
}

// TestReplayAllMalformed: a file of which no line is a CDR (here: the
// right file read with the wrong -format, and a file of garbage) exits
// non-zero with a summary of what was malformed; before, it exited 0.
func TestReplayAllMalformed(t *testing.T) {
	pol, file := replayFixture(t)
	garbage := filepath.Join(t.TempDir(), "garbage.csv")
	if err := os.WriteFile(garbage, []byte("not,a,cdr\n\x00\x01\x02\nhello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"replay", "-config", pol, "-q", garbage},
		{"replay", "-config", pol, "-q", "-format", "freeswitch", file},
	} {
		var out, errb bytes.Buffer
		rc := Main(args, nil, &out, &errb)
		if rc == 0 || !strings.Contains(errb.String(), "no CDR could be read") || !strings.Contains(out.String(), "malformed") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a failure with the summary", args, rc, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if rc := Main([]string{"replay", "-config", pol, "-q", file}, nil, &out, &errb); rc != 0 {
		t.Errorf("the good file: exit %d: %s", rc, errb.String())
	}
}
