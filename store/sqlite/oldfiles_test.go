package sqlite

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/storetest"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// fromDump makes the database file path from an SQL dump in testdata.
func fromDump(t *testing.T, path, dump string) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", dump))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(string(text)); err != nil {
		t.Fatalf("loading %s: %v", dump, err)
	}
}

// TestOpenFilesOfTheOldPackages: tollgate.db and voice.db as the
// packages before store/sqlite took over (reputation/sqlite and
// voice/store, commit 0e2f41f) wrote them, dumped as SQL text in
// testdata (*.dump: fixtures, not code), open unchanged and read back
// what was written.
func TestOpenFilesOfTheOldPackages(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

	recs := filepath.Join(dir, "tollgate.db")
	fromDump(t, recs, "tollgate-old.dump")
	st, err := Open(recs)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if bs, err := st.ListBlocks(ctx, t0); err != nil || len(bs) != 1 || bs[0].Value != "+88216" {
		t.Errorf("blocks of the old file = %+v, %v; want the one block", bs, err)
	}
	rep, err := OpenReputation(recs)
	if err != nil {
		t.Fatalf("the old tollgate.db's reputation tables: %v", err)
	}
	defer rep.Close()
	if v, err := rep.Version(ctx); err != nil || v != 4 {
		t.Errorf("reputation version = %d, %v; want the old file's 4", v, err)
	}
	e, err := rep.Get(ctx, "ip", "192.0.2.7")
	if err != nil || e.Hits != 3 || e.Score != 90 || e.Reason != "scanner" || !e.FirstSeen.Equal(t0) || !e.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Errorf("entry of the old file = %+v, %v", e, err)
	}
	if e, err := rep.Get(ctx, "number", "+12125550199"); err != nil || !e.Suspected() || !e.Expires.Equal(t0.AddDate(1, 0, 0)) {
		t.Errorf("suspected number of the old file = %+v, %v", e, err)
	}
	bans, err := rep.Bans(ctx, t0.Add(time.Hour), false)
	if err != nil || len(bans) != 1 || bans[0].IP != "198.51.100.0/24" || bans[0].Level != 2 || bans[0].Source != "sipfront" {
		t.Errorf("bans of the old file = %+v, %v", bans, err)
	}
	if ls, err := rep.Lockouts(ctx, t0.Add(time.Hour)); err != nil || len(ls) != 1 || ls[0].Subject != "acme/100" || ls[0].Failures != 5 {
		t.Errorf("lockouts of the old file = %+v, %v", ls, err)
	}
	evs, err := rep.Events(ctx, honeypot.EventQuery{})
	if err != nil || len(evs) != 1 || evs[0].UserAgent != "friendly-scanner" || !bytes.Equal(evs[0].Message, []byte("INVITE sip:x")) || !evs[0].Time.Equal(t0) {
		t.Errorf("honeypot events of the old file = %+v, %v", evs, err)
	}
	// New writes go on from the old ids and version.
	b, err := rep.AddBan(ctx, reputation.Ban{IP: "203.0.113.1", Created: t0, Expires: t0.Add(time.Hour)})
	if err != nil || b.ID != 2 {
		t.Errorf("a new ban on the old file = %+v, %v; want id 2", b, err)
	}
	if v, err := rep.Version(ctx); err != nil || v != 5 {
		t.Errorf("reputation version after a write = %d, %v; want 5", v, err)
	}

	vpath := filepath.Join(dir, "voice.db")
	fromDump(t, vpath, "voice-old.dump")
	keys, err := vstore.NewKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	vs, err := OpenVoice(vpath, keys)
	if err != nil {
		t.Fatalf("the old voice.db: %v", err)
	}
	defer vs.Close()
	sub, err := vs.GetSubject(ctx, "acme", "acct-1")
	if err != nil || sub.Label != "Alice" || string(sub.Print) != "print-1" || string(sub.Stats) != "stats-1" || sub.Utterances != 3 || !sub.Created.Equal(t0) {
		t.Errorf("subject of the old file = %+v, %v", sub, err)
	}
	if g, err := vs.Generation(ctx, "acme", vstore.KindCustomer); err != nil || g != "1" {
		t.Errorf("generation of the old file = %s, %v; want 1", g, err)
	}
	rs, err := vs.Results(ctx, []string{"c1"})
	if err != nil || len(rs["c1"]) != 1 || rs["c1"][0].Decision != "accept" || rs["c1"][0].LLR != 3.5 {
		t.Errorf("results of the old file = %+v, %v", rs, err)
	}
	if st, err := vs.CallStats(ctx, "c1", "verify/acct-1"); err != nil || string(st) != "acc" {
		t.Errorf("call stats of the old file = %q, %v", st, err)
	}
}

// TestOpenUnversionedFiles: compliance.db, actions.db and voice.db were
// made without a version table; their tables are created only where
// missing, so a file from before opens with its rows, and gets version 1.
func TestOpenUnversionedFiles(t *testing.T) {
	for _, c := range []struct {
		name   string
		sc     schema
		insert string
		open   func(path string) (interface{ Close() error }, error)
	}{
		{"compliance", complianceFile, `INSERT INTO opt_outs (tenant, number, time) VALUES ('', '+4930111', 1)`,
			func(p string) (interface{ Close() error }, error) { return OpenCompliance(p) }},
		{"actions", actionsFile, `INSERT INTO actions (tenant, kind, value, verdict, reason, source, created, expires) VALUES ('', 'number', '+4930111', 'reject', 'r', 's', 1, 0)`,
			func(p string) (interface{ Close() error }, error) { return OpenActions(p) }},
		{"voice", voiceFile, `INSERT INTO voice_results (call_id,tenant,time_ns,op,subject,decision,score,llr,speech,risk,reason) VALUES ('c','t',1,'verify','s','accept',0,0,0,0,'')`,
			func(p string) (interface{ Close() error }, error) {
				return OpenVoice(p, storetest.VoiceKeys(t, 1))
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name+".db")
			raw, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{c.sc.steps[0], c.insert} {
				if _, err := raw.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			raw.Close()
			s, err := c.open(path)
			if err != nil {
				t.Fatalf("opening an unversioned %s file: %v", c.name, err)
			}
			s.Close()
			raw, err = sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var v, rows int
			table := strings.Fields(c.insert)[2]
			if err := raw.QueryRow(`SELECT (SELECT max(version) FROM `+c.sc.versionTable+`), (SELECT count(*) FROM `+table+`)`).Scan(&v, &rows); err != nil || v != 1 || rows != 1 {
				t.Errorf("after open: version %d, %d rows in %s, %v; want 1 and the 1 row from before", v, rows, table, err)
			}
		})
	}
}
