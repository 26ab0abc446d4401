package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// audit checks and exports the append-only, hash-chained audit log.
//
// The log is read where the server keeps it: the data directory's, or the
// cluster's PostgreSQL with -config in cluster mode.
//
//	tollgate audit verify [-data DIR | -config POLICY] [-expect HASH] [-anchors FILE [-key-env VAR]]
//	    recompute the chain; -expect: a hash noted earlier must still be in it;
//	    -anchors: every keyed anchor (cli/anchor.go) must match the log
//	tollgate audit verify -file EXPORT.jsonl           check an export on its own
//	tollgate audit export [-data DIR | -config POLICY] [-since T] [-before T] [-o FILE]   JSON lines
func (e *env) audit(args []string) error {
	if len(args) == 0 || args[0] != "verify" && args[0] != "export" {
		return usagef("audit: want verify or export")
	}
	fs := newFlags("audit "+args[0], e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (env TOLLGATE_CONFIG); in cluster mode the log lives in the cluster's PostgreSQL")
	dataDir := fs.String("data", "", "data directory (default: server.data_dir, else ./tollgate-data)")
	expect := fs.String("expect", "", "verify: a hash printed by an earlier verify; truncation after it is detected")
	file := fs.String("file", "", "verify: check an exported file instead of the database")
	sinceS := fs.String("since", "", "export: entries at or after this time (RFC 3339)")
	beforeS := fs.String("before", "", "export: entries before this time (RFC 3339), e.g. past the retention period")
	out := fs.String("o", "", "export: write to this file (default: standard output)")
	anchors := fs.String("anchors", "", "verify: the anchor file a server wrote (console.audit_anchor_file)")
	keyEnv := fs.String("key-env", "TOLLGATE_AUDIT_KEY", "verify -anchors: environment variable holding the anchor key (hex)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("audit %s: unexpected argument %q", args[0], pos[0])
	}
	if args[0] == "verify" && *file != "" {
		return e.verifyExport(*file)
	}
	cfg, err := loadConfigData(*cfgPath, dataDir)
	if err != nil {
		return err
	}
	// Opening would create an empty database, and an empty log verifies:
	// a mistyped -data must not pass for an intact log (MustExist).
	state, st, err := openState(context.Background(), cfg, *dataDir, true, (*node.State).Records)
	if err != nil {
		return fmt.Errorf("audit %s: %w", args[0], err)
	}
	defer state.Close()
	ctx := context.Background()
	if args[0] == "verify" {
		if err := e.verifyAudit(ctx, st, *expect); err != nil {
			return err
		}
		if *anchors == "" {
			return nil
		}
		key, err := auditKey(config.SecretFromEnv(*keyEnv), *keyEnv)
		if err != nil {
			return err
		}
		return verifyAnchors(ctx, st, *anchors, key, e.stdout)
	}
	var since, before time.Time
	if *sinceS != "" {
		if since, err = time.Parse(time.RFC3339, *sinceS); err != nil {
			return usagef("-since: want RFC 3339, e.g. 2026-01-01T00:00:00Z")
		}
	}
	if *beforeS != "" {
		if before, err = time.Parse(time.RFC3339, *beforeS); err != nil {
			return usagef("-before: want RFC 3339, e.g. 2019-01-01T00:00:00Z")
		}
	}
	w := e.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	n, err := exportAudit(ctx, st, since, before, w)
	if err != nil {
		return err
	}
	if *out != "" {
		fmt.Fprintf(e.stderr, "exported %d audit entries to %s\n", n, *out)
	}
	return nil
}

// walkAudit calls fn with every entry at or after since, in append order.
func walkAudit(ctx context.Context, st store.Audit, since time.Time, fn func(store.AuditEntry) error) error {
	var lastID int64
	for {
		page, err := st.ListAudit(ctx, since, 10000)
		if err != nil {
			return err
		}
		fresh := 0
		for _, en := range page {
			if en.ID <= lastID {
				continue
			}
			fresh++
			lastID = en.ID
			if err := fn(en); err != nil {
				return err
			}
		}
		if len(page) < 10000 || fresh == 0 {
			return nil
		}
		since = page[len(page)-1].Time
	}
}

func (e *env) verifyAudit(ctx context.Context, st store.Audit, expect string) error {
	if err := st.VerifyAudit(ctx); err != nil {
		var ce *sqlite.ChainError
		if errors.As(err, &ce) {
			return fmt.Errorf("audit log TAMPERED: entry %d does not match the chain (stored hash %s, recomputed %s)", ce.ID, ce.Got, ce.Want)
		}
		return err
	}
	n, found := 0, expect == ""
	var last store.AuditEntry
	if err := walkAudit(ctx, st, time.Time{}, func(en store.AuditEntry) error {
		n++
		last = en
		found = found || en.Hash == expect
		return nil
	}); err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("audit log TRUNCATED: no entry has hash %s", expect)
	}
	fmt.Fprintf(e.stdout, "audit log intact: %d entries, hash chain verified.\n", n)
	if n > 0 {
		fmt.Fprintf(e.stdout, "last entry %d at %s; keep its hash to detect truncation later:\n%s\n", last.ID, last.Time.Format(time.RFC3339), last.Hash)
	}
	return nil
}

// exportAudit writes entries as JSON lines and checks, as it goes, that
// each one chains to the one before: an export with a hole fails.
func exportAudit(ctx context.Context, st store.Audit, since, before time.Time, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	prev := ""
	err := walkAudit(ctx, st, since, func(en store.AuditEntry) error {
		if prev != "" && sqlite.AuditHash(prev, en) != en.Hash {
			return fmt.Errorf("audit entry %d does not chain to the one before it; run 'tollgate audit verify'", en.ID)
		}
		prev = en.Hash
		if !before.IsZero() && !en.Time.Before(before) {
			return nil
		}
		n++
		return enc.Encode(en)
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// verifyExport checks that an exported file is one unbroken piece of the
// chain (the first entry's own hash is taken as given unless it is entry 1).
func (e *env) verifyExport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	n := 0
	prev := ""
	for {
		var en store.AuditEntry
		if err := dec.Decode(&en); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("%s: entry %d: %w", path, n+1, err)
		}
		if (n > 0 || en.ID == 1) && sqlite.AuditHash(prev, en) != en.Hash {
			return fmt.Errorf("%s: entry %d (id %d) does not match the chain: TAMPERED or incomplete", path, n+1, en.ID)
		}
		prev = en.Hash
		n++
	}
	fmt.Fprintf(e.stdout, "%s: %d entries, hash chain verified.\n", path, n)
	return nil
}
