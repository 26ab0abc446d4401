package cli

import (
	"bytes"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

func runCLI(args ...string) (int, string) {
	var o, e bytes.Buffer
	code := Main(args, strings.NewReader(""), &o, &e)
	return code, o.String() + e.String()
}

// copyDB copies a stopped server's database files to a fresh directory.
func copyDB(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ms, _ := filepath.Glob(filepath.Join(from, "tollgate.db*"))
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(m)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// rawDB opens a database file as an attacker would, triggers dropped.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{`DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestAuditAnchorsCatchRewriteAndTruncation is the attack from issue 16:
// with write access to the database, rewrite an entry and recompute every
// hash after it, or delete the newest entry. The chain alone passes both;
// the keyed anchors a running server wrote outside the data directory
// catch both, and a forged anchor fails its MAC.
func TestAuditAnchorsCatchRewriteAndTruncation(t *testing.T) {
	dir := t.TempDir()
	data, anchors := filepath.Join(dir, "data"), filepath.Join(dir, "offbox", "anchors.jsonl")
	if err := os.MkdirAll(filepath.Dir(anchors), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_AUDIT_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	const base = "defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\n"
	policy := base + "console:\n  audit_anchor_file: " + anchors + "\n"
	// The anchor file may not live in the data directory.
	if _, err := Start(t.Context(), Options{Config: mustParse(t, base+"console:\n  audit_anchor_file: "+filepath.Join(data, "a.jsonl")+"\n"), DataDir: data, Listen: "127.0.0.1:0", Logger: quietLog()}); err == nil || !strings.Contains(err.Error(), "inside the data directory") {
		t.Errorf("anchor file inside the data directory: %v, want refused", err)
	}
	s, _ := start(t, data, policy)
	for _, n := range []string{"a", "b", "c"} {
		if code, out := runCLI("token", "add", "t-"+n, "-role", "read", "-data", data); code != 0 {
			t.Fatalf("token add: %s", out)
		}
	}
	// Within a second or two the server anchors the newest entry.
	var last store.AuditEntry
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		es, _ := s.Store.ListAudit(t.Context(), time.Time{}, 1000)
		last = es[len(es)-1]
		as, _ := readAnchors(anchors)
		if len(as) > 0 && as[len(as)-1].ID == last.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no anchor for entry %d after 10 s: %+v", last.ID, as)
		}
	}
	stop(t, s)
	if code, out := runCLI("audit", "verify", "-data", data, "-anchors", anchors); code != 0 || !strings.Contains(out, "anchors verified") {
		t.Fatalf("verify of the untouched log = %d %s", code, out)
	}

	// Attack 1: rewrite entry 2 and recompute every hash after it.
	rewritten := copyDB(t, data)
	db := rawDB(t, rewritten)
	if _, err := db.Exec(`UPDATE audit SET actor = 'someone-else' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(rewritten, "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	es, _ := st.ListAudit(t.Context(), time.Time{}, 1000)
	st.Close()
	prev := ""
	for _, e := range es {
		h := sqlite.AuditHash(prev, e)
		if _, err := db.Exec(`UPDATE audit SET hash = ? WHERE id = ?`, h, e.ID); err != nil {
			t.Fatal(err)
		}
		prev = h
	}
	if code, out := runCLI("audit", "verify", "-data", rewritten); code != 0 {
		t.Fatalf("the chain alone should not see a recomputed rewrite (that is the weakness), got %d %s", code, out)
	}
	if code, out := runCLI("audit", "verify", "-data", rewritten, "-anchors", anchors); code == 0 || !strings.Contains(out, "TAMPERED") {
		t.Errorf("verify -anchors after a rewrite with recomputed hashes = %d %s, want TAMPERED", code, out)
	}

	// Attack 2: delete the newest entry.
	cut := copyDB(t, data)
	if _, err := rawDB(t, cut).Exec(`DELETE FROM audit WHERE id = ?`, last.ID); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI("audit", "verify", "-data", cut); code != 0 {
		t.Fatalf("the chain alone should not see a cut-off end (the weakness), got %d %s", code, out)
	}
	if code, out := runCLI("audit", "verify", "-data", cut, "-anchors", anchors); code == 0 || !strings.Contains(out, "TRUNCATED") {
		t.Errorf("verify -anchors after deleting the newest entry = %d %s, want TRUNCATED", code, out)
	}

	// A forged anchor (the attacker rewrites the anchor file to match)
	// fails its MAC.
	raw, _ := os.ReadFile(anchors)
	forged := filepath.Join(dir, "forged.jsonl")
	os.WriteFile(forged, bytes.Replace(raw, []byte(last.Hash), []byte(strings.Repeat("0", 64)), -1), 0o600)
	if code, out := runCLI("audit", "verify", "-data", data, "-anchors", forged); code == 0 || !strings.Contains(out, "bad MAC") {
		t.Errorf("verify with a forged anchor = %d %s, want a bad MAC", code, out)
	}
	// The wrong key is told apart from an intact log.
	t.Setenv("TOLLGATE_AUDIT_KEY", strings.Repeat("ab", 32))
	if code, _ := runCLI("audit", "verify", "-data", data, "-anchors", anchors); code == 0 {
		t.Error("verify with the wrong key passed")
	}
}

// TestAuditVerifyMissingDir: a mistyped -data used to create an empty
// database and report it intact.
func TestAuditVerifyMissingDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	code, out := runCLI("audit", "verify", "-data", missing)
	if code == 0 || !strings.Contains(out, "no tollgate database") {
		t.Errorf("audit verify -data <missing> = %d %s, want a clear failure", code, out)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("audit verify created the missing data directory")
	}
}

func mustParse(t *testing.T, policy string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
