package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/node"
)

// user manages console users in the data directory: add, passwd, mfa,
// role, delete, list. Passwords come from TOLLGATE_PASSWORD or are read
// from standard input (twice, without echo on a terminal).
func (e *env) user(args []string) error {
	const want = "user: want add NAME -role admin|operator|viewer [-tenant T], passwd NAME, mfa NAME [-off], role NAME -role R [-tenant T], delete NAME or list (each with -data DIR, or -config POLICY in cluster mode)"
	if len(args) == 0 {
		return usagef(want)
	}
	sub := args[0]
	switch sub {
	case "add", "passwd", "mfa", "role", "delete", "list":
	default:
		return usagef(want)
	}
	fs := newFlags("user "+sub, e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (env TOLLGATE_CONFIG); in cluster mode users live in the cluster's PostgreSQL")
	dataDir := fs.String("data", "", "data directory (default: server.data_dir, else ./tollgate-data)")
	role := fs.String("role", "", "admin, operator or viewer")
	tenant := fs.String("tenant", "", "limit the user to one tenant (default: every tenant)")
	noMFA := fs.Bool("no-mfa", false, "add: no second factor (only works with console.require_mfa: false)")
	off := fs.Bool("off", false, "mfa: remove the second factor")
	create := fs.Bool("create", false, "add: create the data directory if it does not hold a tollgate database yet (before the first serve)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if sub != "list" && len(pos) != 1 {
		return usagef("user %s: want exactly one NAME", sub)
	}
	cfg, err := loadConfigData(*cfgPath, dataDir)
	if err != nil {
		return err
	}
	// A mistyped -data must not quietly make a new, empty data directory
	// holding a user the server never sees: the directory must already
	// hold the server's database unless -create says to start one.
	ctx := context.Background()
	mayCreate := *create && sub == "add"
	state, err := node.Open(ctx, cfg, *dataDir, node.Options{Node: cfg.Server.Node, MustExist: !mayCreate})
	if errors.Is(err, node.ErrNoState) && errors.Is(err, os.ErrNotExist) {
		return usagef("user %s: %s holds no tollgate database (no such data directory, or serve never ran there); check -data, or pass -create to start a new one with 'user add'", sub, *dataDir)
	}
	if err != nil {
		return err
	}
	defer state.Close()
	if mayCreate && !state.Cluster() {
		if err := os.MkdirAll(*dataDir, 0o750); err != nil {
			return err
		}
	}
	// Users, sessions and the audit entries go where the server keeps
	// them: the data directory, or PostgreSQL in cluster mode.
	users, err := state.Users(ctx)
	if err != nil {
		return err
	}
	st, err := state.Records(ctx)
	if err != nil {
		return err
	}
	svc := auth.NewService(users, st, auth.DefaultPolicy())
	const actor = "cli"
	switch sub {
	case "list":
		us, err := users.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			t, mfa := u.Tenant, "totp"
			if t == "" {
				t = "*"
			}
			if !u.MFA() {
				mfa = "no-mfa"
			}
			lock := ""
			if time.Now().Before(u.LockedUntil) {
				lock = " locked until " + u.LockedUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(e.stdout, "%-20s %-8s tenant %-12s %s%s\n", u.Name, u.Role, t, mfa, lock)
		}
		return nil
	case "add":
		r, err := auth.ParseRole(*role)
		if err != nil {
			return usagef("-role: want admin, operator or viewer")
		}
		if err := auth.CheckName(pos[0]); err != nil {
			return usagef("%v", err)
		}
		pw, err := e.readPassword("Password for " + pos[0])
		if err != nil {
			return err
		}
		u := auth.User{Name: pos[0], Role: r, Tenant: *tenant}
		if !*noMFA {
			if u.TOTPSecret, err = auth.NewSecret(); err != nil {
				return err
			}
		}
		if err := svc.AddUser(ctx, actor, u, pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %q (role %s) created.\n", u.Name, u.Role)
		if u.MFA() {
			return e.printEnrolment(svc, u.Name, u.TOTPSecret)
		}
		return nil
	case "passwd":
		pw, err := e.readPassword("New password for " + pos[0])
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, actor, pos[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password of %q changed; their sessions ended and any lockout is cleared.\n", pos[0])
		return nil
	case "mfa":
		if *off {
			if err := svc.SetTOTP(ctx, actor, pos[0], nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "second factor of %q removed.\n", pos[0])
			return nil
		}
		secret, err := auth.NewSecret()
		if err != nil {
			return err
		}
		if err := svc.SetTOTP(ctx, actor, pos[0], secret); err != nil {
			return err
		}
		return e.printEnrolment(svc, pos[0], secret)
	case "role":
		r, err := auth.ParseRole(*role)
		if err != nil {
			return usagef("-role: want admin, operator or viewer")
		}
		if err := svc.SetRole(ctx, actor, pos[0], r, *tenant); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%q is now %s; their sessions ended.\n", pos[0], r)
		return nil
	default: // delete
		if err := svc.DeleteUser(ctx, actor, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "user %q deleted.\n", pos[0])
		return nil
	}
}

func (e *env) printEnrolment(svc *auth.Service, name string, secret []byte) error {
	uri := (&auth.TOTP{Secret: secret}).URI(svc.Policy.Issuer, name)
	qr, err := auth.QRText(uri)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nScan this with an authenticator app (shown only now):\n\n%s\nor enter the key by hand: %s\n(%s)\n", qr, auth.EncodeSecret(secret), uri)
	return nil
}

// readPassword takes TOLLGATE_PASSWORD, or two equal lines from stdin
// (with echo off when stdin is a terminal).
func (e *env) readPassword(prompt string) (string, error) {
	if pw := config.SecretFromEnv("TOLLGATE_PASSWORD"); pw.IsSet() {
		return pw.Reveal(), auth.CheckPassword(pw.Reveal())
	}
	restore := noEcho(e.stdin)
	defer restore()
	in := bufio.NewReader(e.stdin)
	read := func(p string) (string, error) {
		fmt.Fprintf(e.stderr, "%s: ", p)
		line, err := in.ReadString('\n')
		fmt.Fprintln(e.stderr)
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	pw, err := read(prompt + " (at least 12 characters)")
	if err != nil {
		return "", err
	}
	if err := auth.CheckPassword(pw); err != nil {
		return "", usagef("%v", err)
	}
	again, err := read("Again")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", usagef("the two passwords differ")
	}
	return pw, nil
}
