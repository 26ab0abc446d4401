package sqlite_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

func TestAuditHashIsUnambiguous(t *testing.T) {
	a := store.AuditEntry{Time: t0, Actor: "a|b", Action: "c"}
	b := store.AuditEntry{Time: t0, Actor: "a", Action: "b|c"}
	if sqlite.AuditHash("", a) == sqlite.AuditHash("", b) {
		t.Error("entries differing only in where a | falls hash alike")
	}
	if sqlite.AuditHash("", a) == sqlite.AuditHash("x", a) {
		t.Error("the previous hash does not change the hash")
	}
	utc := a
	utc.Time = t0.UTC()
	if sqlite.AuditHash("", a) != sqlite.AuditHash("", utc) {
		t.Error("the hash depends on the time zone of the entry")
	}
}

func TestAuditChain(t *testing.T) {
	s := newStore(t)
	for i, bad := range []store.AuditEntry{
		{Action: "block.add"},
		{Actor: "alice"},
		{Actor: "alice", Action: "block.add", Details: json.RawMessage(`{`)},
	} {
		if _, err := s.AppendAudit(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%d: AppendAudit(%+v) err = %v, want ErrInvalid", i, bad, err)
		}
	}
	var appended []store.AuditEntry
	prev := ""
	for i := range 5 {
		e := store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "alice", Action: "block.add",
			Object: fmt.Sprintf("block/%d", i), Details: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		got, err := s.AppendAudit(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if want := sqlite.AuditHash(prev, e); got.Hash != want {
			t.Errorf("entry %d hash = %s, want %s", i, got.Hash, want)
		}
		prev = got.Hash
		appended = append(appended, got)
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatalf("VerifyAudit on an intact log: %v", err)
	}
	got, err := s.ListAudit(ctx, t0.Add(3*time.Minute), 0)
	if err != nil || len(got) != 2 || got[0].Hash != appended[3].Hash || got[1].Hash != appended[4].Hash {
		t.Errorf("ListAudit(since 3m) = %+v, %v; want entries 3 and 4", got, err)
	}
	sameTime(t, "ListAudit Time", got[0].Time, appended[3].Time)
	if string(got[0].Details) != `{"n":3}` {
		t.Errorf("ListAudit Details = %s, want {\"n\":3}", got[0].Details)
	}
	if got, err := s.ListAudit(ctx, time.Time{}, 2); err != nil || len(got) != 2 || got[0].ID != appended[0].ID {
		t.Errorf("ListAudit(limit 2) = %+v, %v; want the first two", got, err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	path := dbPath(t)
	s := open(t, path)
	var ids []int64
	for i := range 3 {
		e, err := s.AppendAudit(ctx, store.AuditEntry{Time: t0, Actor: "alice", Action: "token.put", Object: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	db := raw(t, path)
	for _, stmt := range []string{
		`UPDATE audit SET actor = 'mallory' WHERE id = 2`,
		`DELETE FROM audit WHERE id = 2`,
		`DELETE FROM audit`,
	} {
		_, err := db.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only trigger to refuse", stmt, err)
		}
	}
	if err := s.VerifyAudit(ctx); err != nil {
		t.Fatalf("VerifyAudit after refused edits: %v", err)
	}

	// An attacker with write access to the file can drop the trigger; the
	// chain still gives the edit away.
	if _, err := db.Exec(`DROP TRIGGER audit_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET actor = 'mallory' WHERE id = ?`, ids[1]); err != nil {
		t.Fatal(err)
	}
	err := s.VerifyAudit(ctx)
	var ce *sqlite.ChainError
	if !errors.As(err, &ce) || ce.ID != ids[1] {
		t.Fatalf("VerifyAudit after tampering = %v, want a ChainError at id %d", err, ids[1])
	}

	// Rewriting that entry's hash as well moves the break to the next entry.
	var e store.AuditEntry
	var tn int64
	if err := db.QueryRow(`SELECT time, actor, action, object FROM audit WHERE id = ?`, ids[1]).
		Scan(&tn, &e.Actor, &e.Action, &e.Object); err != nil {
		t.Fatal(err)
	}
	e.Time = time.Unix(0, tn)
	var prev string
	if err := db.QueryRow(`SELECT hash FROM audit WHERE id = ?`, ids[0]).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET hash = ? WHERE id = ?`, sqlite.AuditHash(prev, e), ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyAudit(ctx); !errors.As(err, &ce) || ce.ID != ids[2] {
		t.Fatalf("VerifyAudit after rehashing = %v, want a ChainError at id %d", err, ids[2])
	}
}

// TestTwoHandles models two tollgate processes sharing one database file:
// every write from both must land, and the audit chain must stay one chain.
func TestTwoHandles(t *testing.T) {
	path := dbPath(t)
	handles := []*sqlite.Store{open(t, path), open(t, path)}
	const perWorker, workers = 50, 4
	var wg sync.WaitGroup
	errs := make(chan error, len(handles)*workers*perWorker*3)
	for h, s := range handles {
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					id := fmt.Sprintf("h%d-w%d-%d", h, w, i)
					if _, err := s.AppendAudit(ctx, store.AuditEntry{Actor: id, Action: "test"}); err != nil {
						errs <- err
					}
					d := store.Decision{CallID: id, Time: t0.Add(time.Duration(i))}
					if err := s.AppendDecisions(ctx, []store.Decision{d}); err != nil {
						errs <- err
					}
					if _, err := s.AddBlock(ctx, store.Block{Kind: store.BlockNumber, Value: id}); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := len(handles) * workers * perWorker
	for _, table := range []string{"audit", "decisions", "blocks"} {
		if n := count(t, raw(t, path), table); n != want {
			t.Errorf("%s rows = %d, want %d", table, n, want)
		}
	}
	for i, s := range handles {
		if err := s.VerifyAudit(ctx); err != nil {
			t.Errorf("handle %d: VerifyAudit: %v", i, err)
		}
	}
}
