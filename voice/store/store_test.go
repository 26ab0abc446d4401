package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tollgate-voip/tollgate/internal/testenv"
)

var (
	pg  *testenv.Postgres
	dbs atomic.Int64
)

// TestMain starts the PostgreSQL every Postgres test shares (one fresh
// database per test).
func TestMain(m *testing.M) {
	var err error
	if pg, err = testenv.StartPostgres(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Close()
	os.Exit(code)
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func keys(t *testing.T, cur byte, old ...byte) *Keys {
	t.Helper()
	var o [][]byte
	for _, b := range old {
		o = append(o, key(b))
	}
	k, err := NewKeys(key(cur), o...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// rekeyStore is a Store that can also re-seal with the current key; both
// implementations are.
type rekeyStore interface {
	Store
	Rekey(ctx context.Context) (int, error)
}

// db is one empty database of a backend under test.
type db struct {
	// open opens a handle on it: each handle is what one node holds.
	open func(k *Keys) rekeyStore
	// raw returns what the database holds of the records, byte for byte
	// (for SQLite the file and its write-ahead log; for PostgreSQL every
	// column of the sealed tables as stored), after the handles closed.
	raw func() []byte
	// copySubject copies a subject's row, sealed record and all, to
	// another id behind the store's back.
	copySubject func(tenant, from, to string)
}

type backend struct {
	name  string
	fresh func(t *testing.T) *db
}

var backends = []backend{{"sqlite", freshSQLite}, {"postgres", freshPostgres}}

func freshSQLite(t *testing.T) *db {
	path := filepath.Join(t.TempDir(), "voice.db")
	d := &db{}
	d.open = func(k *Keys) rekeyStore {
		s, err := OpenSQLite(path, k)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	d.raw = func() []byte {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		wal, _ := os.ReadFile(path + "-wal")
		return append(raw, wal...)
	}
	d.copySubject = func(tenant, from, to string) {
		s, err := OpenSQLite(path, keys(t, 9))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.db.Exec(`INSERT INTO voice_subjects SELECT tenant,?,kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=? AND id=?`, to, tenant, from); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func freshPostgres(t *testing.T) *db {
	dsn, err := pg.CreateDatabase(fmt.Sprint("voice", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := &db{}
	d.open = func(k *Keys) rekeyStore {
		s, err := OpenPostgres(ctx, dsn, k)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	exec := func(f func(c *pgx.Conn)) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		f(c)
	}
	d.raw = func() []byte {
		var out []byte
		exec(func(c *pgx.Conn) {
			for _, q := range []string{
				`SELECT convert_to(tenant||' '||id||' '||kind||' '||key_id, 'UTF8'), sealed FROM voice_subjects`,
				`SELECT convert_to(call_id||' '||key||' '||key_id, 'UTF8'), sealed FROM voice_call_stats`,
			} {
				rows, err := c.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var text, sealed []byte
					if err := rows.Scan(&text, &sealed); err != nil {
						t.Fatal(err)
					}
					out = append(append(append(out, text...), '\n'), sealed...)
				}
				if rows.Err() != nil {
					t.Fatal(rows.Err())
				}
			}
		})
		return out
	}
	d.copySubject = func(tenant, from, to string) {
		exec(func(c *pgx.Conn) {
			if _, err := c.Exec(ctx, `INSERT INTO voice_subjects SELECT tenant,$1,kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=$2 AND id=$3`, to, tenant, from); err != nil {
				t.Fatal(err)
			}
		})
	}
	return d
}

// each runs f against a fresh database of every backend.
func each(t *testing.T, f func(t *testing.T, d *db)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.fresh(t)) })
	}
}

func gen(t *testing.T, s Store, tenant, kind string) string {
	t.Helper()
	g, err := s.Generation(context.Background(), tenant, kind)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func ids(t *testing.T, s Store, tenant, kind string) []string {
	t.Helper()
	subs, err := s.Subjects(context.Background(), tenant, kind)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, sub := range subs {
		out = append(out, sub.ID)
	}
	return out
}

func TestSubjectsEncryptedAndRotated(t *testing.T) {
	each(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		s := d.open(keys(t, 1))
		now := time.Unix(1700000000, 123456789).UTC()
		secret := []byte("VOICEPRINT-PLAINTEXT-MARKER")
		sub := Subject{Tenant: "acme", ID: "acct-1", Kind: KindFraudster, Label: "LABEL-MARKER", Model: "m1", Speech: 4.5, Utterances: 3,
			Created: now, Updated: now.Add(time.Second), Print: secret, Stats: []byte("STATS-MARKER"), Audio: [][]byte{[]byte("AUDIO-MARKER")}}
		g0 := gen(t, s, "acme", KindFraudster)
		if err := s.PutSubject(ctx, sub); err != nil {
			t.Fatal(err)
		}
		if g1 := gen(t, s, "acme", KindFraudster); g0 == g1 {
			t.Errorf("generation did not change on put: %s", g1)
		}
		got, err := s.GetSubject(ctx, "acme", "acct-1")
		if err != nil || !bytes.Equal(got.Print, secret) || got.Label != "LABEL-MARKER" || got.Speech != 4.5 || got.Utterances != 3 ||
			got.Model != "m1" || len(got.Audio) != 1 || !got.Created.Equal(now) || !got.Updated.Equal(now.Add(time.Second)) {
			t.Fatalf("get: %+v, %v", got, err)
		}
		if err := s.PutCallStats(ctx, "c1", "verify:acct-1", []byte("CALLSTATS-MARKER"), now); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// What the database holds names the record but none of its
		// contents.
		raw := d.raw()
		if !bytes.Contains(raw, []byte("acct-1")) || !bytes.Contains(raw, []byte("verify:acct-1")) {
			t.Fatal("the raw records do not name the subject or the call: the inspection below would prove nothing")
		}
		for _, m := range []string{"VOICEPRINT-PLAINTEXT-MARKER", "LABEL-MARKER", "STATS-MARKER", "AUDIO-MARKER", "CALLSTATS-MARKER"} {
			if bytes.Contains(raw, []byte(m)) {
				t.Errorf("%s found in the database", m)
			}
		}
		// Without the key nothing opens; with the new key current and the
		// old one kept, it opens and rekey moves it.
		s2 := d.open(keys(t, 2))
		if _, err := s2.GetSubject(ctx, "acme", "acct-1"); !errors.Is(err, ErrKey) {
			t.Errorf("wrong key: %v, want ErrKey", err)
		}
		if _, err := s2.Subjects(ctx, "acme", KindFraudster); !errors.Is(err, ErrKey) {
			t.Errorf("wrong key, list: %v, want ErrKey", err)
		}
		s2.Close()
		s3 := d.open(keys(t, 2, 1))
		gBefore := gen(t, s3, "acme", KindFraudster)
		if n, err := s3.Rekey(ctx); n != 1 || err != nil {
			t.Fatalf("rekey: %d, %v", n, err)
		}
		if n, err := s3.Rekey(ctx); n != 0 || err != nil {
			t.Fatalf("second rekey: %d, %v, want 0", n, err)
		}
		if gen(t, s3, "acme", KindFraudster) == gBefore {
			t.Error("generation did not change on rekey")
		}
		s3.Close()
		s4 := d.open(keys(t, 2))
		got, err = s4.GetSubject(ctx, "acme", "acct-1")
		if err != nil || !bytes.Equal(got.Print, secret) || !got.Created.Equal(now) {
			t.Fatalf("after rekey, new key alone: %+v, %v", got, err)
		}
		// A sealed record moved to another subject does not open.
		d.copySubject("acme", "acct-1", "acct-2")
		if _, err := s4.GetSubject(ctx, "acme", "acct-2"); !errors.Is(err, ErrKey) {
			t.Errorf("moved ciphertext: %v, want ErrKey", err)
		}
		if err := s4.DeleteSubject(ctx, "acme", "acct-2"); err != nil {
			t.Fatal(err)
		}
		g := gen(t, s4, "acme", KindFraudster)
		if err := s4.DeleteSubject(ctx, "acme", "acct-1"); err != nil {
			t.Fatal(err)
		}
		if gen(t, s4, "acme", KindFraudster) == g {
			t.Error("generation did not change on delete")
		}
		if _, err := s4.GetSubject(ctx, "acme", "acct-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
		if err := s4.DeleteSubject(ctx, "acme", "acct-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
}

// TestGenerationFollowsKind: a kind's generation moves when its set of
// subjects changes, and only then; replacing keeps the creation time.
func TestGenerationFollowsKind(t *testing.T) {
	each(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		s := d.open(keys(t, 1))
		t0 := time.Unix(1700000000, 0).UTC()
		put := func(id, kind string, at time.Time) {
			t.Helper()
			if err := s.PutSubject(ctx, Subject{Tenant: "acme", ID: id, Kind: kind, Model: "m", Created: at, Updated: at, Print: []byte(id)}); err != nil {
				t.Fatal(err)
			}
		}
		gens := func() [3]string {
			return [3]string{gen(t, s, "acme", KindCustomer), gen(t, s, "acme", KindFraudster), gen(t, s, "other", KindCustomer)}
		}
		g0 := gens()
		put("a", KindCustomer, t0)
		g1 := gens()
		if g1[0] == g0[0] || g1[1] != g0[1] || g1[2] != g0[2] {
			t.Errorf("put customer: generations %v → %v, want only the customer one to move", g0, g1)
		}
		put("b", KindCustomer, t0)
		put("a", KindFraudster, t0.Add(time.Hour)) // moves a to the watchlist
		g2 := gens()
		if g2[0] == g1[0] || g2[1] == g1[1] || g2[2] != g1[2] {
			t.Errorf("kind change: generations %v → %v, want both of acme's to move", g1, g2)
		}
		if c, f := ids(t, s, "acme", KindCustomer), ids(t, s, "acme", KindFraudster); !slices.Equal(c, []string{"b"}) || !slices.Equal(f, []string{"a"}) {
			t.Errorf("customers %v, fraudsters %v; want [b], [a]", c, f)
		}
		if got, _ := s.GetSubject(ctx, "acme", "a"); !got.Created.Equal(t0) || !got.Updated.Equal(t0.Add(time.Hour)) || got.Kind != KindFraudster {
			t.Errorf("replaced subject: created %v updated %v kind %s; want the first creation time kept", got.Created, got.Updated, got.Kind)
		}
		if got := ids(t, s, "other", KindCustomer); len(got) != 0 {
			t.Errorf("another tenant sees %v", got)
		}
		if err := s.DeleteSubject(ctx, "acme", "b"); err != nil {
			t.Fatal(err)
		}
		g3 := gens()
		if g3[0] == g2[0] || g3[1] != g2[1] {
			t.Errorf("delete customer: generations %v → %v", g2, g3)
		}
	})
}

// TestTwoHandles: two handles on one database are two nodes; what one
// writes the other reads, and the generation it sees moves.
func TestTwoHandles(t *testing.T) {
	each(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		a, b := d.open(keys(t, 1)), d.open(keys(t, 1))
		now := time.Unix(1700000000, 0).UTC()
		gb := gen(t, b, "acme", KindFraudster)
		if err := a.PutSubject(ctx, Subject{Tenant: "acme", ID: "f-1", Kind: KindFraudster, Model: "m", Created: now, Updated: now, Print: []byte("print-1")}); err != nil {
			t.Fatal(err)
		}
		gb2 := gen(t, b, "acme", KindFraudster)
		if gb2 == gb {
			t.Errorf("generation seen by the other node did not move: %s", gb2)
		}
		subs, err := b.Subjects(ctx, "acme", KindFraudster)
		if err != nil || len(subs) != 1 || subs[0].ID != "f-1" || string(subs[0].Print) != "print-1" {
			t.Fatalf("other node lists %+v, %v", subs, err)
		}
		if err := b.DeleteSubject(ctx, "acme", "f-1"); err != nil {
			t.Fatal(err)
		}
		if gen(t, a, "acme", KindFraudster) == gb2 {
			t.Error("delete on the other node: generation did not move")
		}
		if _, err := a.GetSubject(ctx, "acme", "f-1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted on the other node, still read here: %v", err)
		}
		// One call's passive statistics accumulate across nodes.
		if err := a.PutCallStats(ctx, "call-1", "verify:x", []byte{1}, now); err != nil {
			t.Fatal(err)
		}
		if st, err := b.CallStats(ctx, "call-1", "verify:x"); err != nil || !bytes.Equal(st, []byte{1}) {
			t.Errorf("stats through the other node: %v, %v", st, err)
		}
		if err := b.PutCallStats(ctx, "call-1", "verify:x", []byte{1, 2}, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if st, _ := a.CallStats(ctx, "call-1", "verify:x"); !bytes.Equal(st, []byte{1, 2}) {
			t.Errorf("stats back on the first node: %v", st)
		}
		if err := b.AddResult(ctx, Result{CallID: "call-1", Tenant: "acme", Time: now, Op: "verify", Decision: "accept"}); err != nil {
			t.Fatal(err)
		}
		if rs, err := a.Results(ctx, []string{"call-1"}); err != nil || len(rs["call-1"]) != 1 {
			t.Errorf("results through the other node: %v, %v", rs, err)
		}
	})
}

// TestConcurrentKindChanges moves subjects between kinds from two handles
// at once while a reader caches (generation, list) pairs the way
// voice/service does: whenever a cached generation is still current, the
// list cached with it must be too.
func TestConcurrentKindChanges(t *testing.T) {
	each(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		hs := []Store{d.open(keys(t, 1)), d.open(keys(t, 1))}
		type cached struct {
			gen string
			ids []string
		}
		var mu sync.Mutex
		var seen []cached
		stop := make(chan struct{})
		var rd sync.WaitGroup
		rd.Add(1)
		go func() {
			defer rd.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				h := hs[i%2]
				g, err := h.Generation(ctx, "acme", KindFraudster)
				if err != nil {
					t.Error(err)
					return
				}
				subs, err := h.Subjects(ctx, "acme", KindFraudster)
				if err != nil {
					t.Error(err)
					return
				}
				c := cached{gen: g}
				for _, s := range subs {
					c.ids = append(c.ids, s.ID)
				}
				mu.Lock()
				seen = append(seen, c)
				mu.Unlock()
			}
		}()
		var wg sync.WaitGroup
		now := time.Unix(1700000000, 0).UTC()
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					kind := KindCustomer
					if (i+w)%2 == 0 {
						kind = KindFraudster
					}
					sub := Subject{Tenant: "acme", ID: fmt.Sprint("s", i%3), Kind: kind, Model: "m", Created: now, Updated: now, Print: []byte{byte(w)}}
					if err := hs[w%2].PutSubject(ctx, sub); err != nil {
						t.Errorf("put: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		rd.Wait()
		final := cached{gen: gen(t, hs[0], "acme", KindFraudster), ids: ids(t, hs[0], "acme", KindFraudster)}
		if len(seen) == 0 {
			t.Fatal("the reader saw nothing")
		}
		for _, c := range seen {
			if c.gen == final.gen && !slices.Equal(c.ids, final.ids) {
				t.Fatalf("a cache holding generation %s lists %v, but the store lists %v under the same generation", c.gen, c.ids, final.ids)
			}
		}
		for _, id := range []string{"s0", "s1", "s2"} {
			got, err := hs[1].GetSubject(ctx, "acme", id)
			if err != nil || got.Kind != KindFraudster && got.Kind != KindCustomer {
				t.Fatalf("%s: %+v, %v", id, got, err)
			}
			if in := slices.Contains(final.ids, id); in != (got.Kind == KindFraudster) {
				t.Errorf("%s has kind %s but the fraudster list is %v", id, got.Kind, final.ids)
			}
		}
	})
}

func TestResultsAndCallStats(t *testing.T) {
	each(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		s := d.open(keys(t, 3))
		now := time.Unix(1700000000, 987654321).UTC()
		for i, dec := range []string{"uncertain", "reject"} {
			if err := s.AddResult(ctx, Result{CallID: "c1", Tenant: "acme", Time: now.Add(time.Duration(i) * time.Second), Op: "verify", Subject: "a", Decision: dec,
				Score: 0.25, LLR: -1.5, Speech: 3.25, Risk: 40 * i, Reason: "why"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddResult(ctx, Result{CallID: "c3", Tenant: "acme", Time: now, Op: "identify", Decision: "no_match"}); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Results(ctx, []string{"c1", "c2"})
		if err != nil || len(rs["c1"]) != 2 || rs["c1"][1].Decision != "reject" || len(rs["c2"]) != 0 || len(rs["c3"]) != 0 {
			t.Fatalf("results: %v %v", rs, err)
		}
		want := Result{CallID: "c1", Tenant: "acme", Time: now, Op: "verify", Subject: "a", Decision: "uncertain", Score: 0.25, LLR: -1.5, Speech: 3.25, Reason: "why"}
		if got := rs["c1"][0]; got != want {
			t.Errorf("result round trip:\n got %+v\nwant %+v", got, want)
		}
		if rs, err := s.Results(ctx, nil); err != nil || len(rs) != 0 {
			t.Errorf("no call ids: %v %v", rs, err)
		}
		if b, err := s.CallStats(ctx, "c1", "verify:a"); b != nil || err != nil {
			t.Errorf("no stats yet: %v %v", b, err)
		}
		if err := s.PutCallStats(ctx, "c1", "verify:a", []byte{9, 8, 7}, now); err != nil {
			t.Fatal(err)
		}
		if err := s.PutCallStats(ctx, "c2", "verify:a", []byte{1}, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if b, _ := s.CallStats(ctx, "c1", "verify:a"); !bytes.Equal(b, []byte{9, 8, 7}) {
			t.Errorf("stats: %v", b)
		}
		if n, _ := s.ExpireCallStats(ctx, now); n != 0 {
			t.Errorf("expired %d at their own time, want 0", n)
		}
		if n, _ := s.ExpireCallStats(ctx, now.Add(time.Second)); n != 1 {
			t.Errorf("expired %d, want 1", n)
		}
		if b, _ := s.CallStats(ctx, "c1", "verify:a"); b != nil {
			t.Errorf("expired stats still read: %v", b)
		}
		if b, _ := s.CallStats(ctx, "c2", "verify:a"); !bytes.Equal(b, []byte{1}) {
			t.Errorf("newer stats: %v", b)
		}
	})
}

// TestPostgresOpenedByManyNodes: nodes starting together on an empty
// database all get the schema, once.
func TestPostgresOpenedByManyNodes(t *testing.T) {
	dsn, err := pg.CreateDatabase(fmt.Sprint("voice", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	stores := make([]*Postgres, 6)
	errs := make([]error, 6)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenPostgres(ctx, dsn, keys(t, 1))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var v, n int
	if err := stores[0].pool.QueryRow(ctx, `SELECT max(version), count(*) FROM voice_schema_version`).Scan(&v, &n); err != nil || v != len(pgMigrations) || n != 1 {
		t.Errorf("schema version %d in %d rows (%v), want %d in 1", v, n, err, len(pgMigrations))
	}
	if _, err := OpenPostgres(ctx, "postgres://x:secret-password@127.0.0.1:1/x?connect_timeout=notanumber", keys(t, 1)); err == nil || bytes.Contains([]byte(err.Error()), []byte("secret-password")) {
		t.Errorf("bad DSN: %v", err)
	}
	if _, err := OpenPostgres(ctx, dsn, nil); err == nil {
		t.Error("opened without keys")
	}
}

func TestParseKey(t *testing.T) {
	for _, s := range []string{"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="} {
		if k, err := ParseKey(s); err != nil || k[31] != 31 {
			t.Errorf("ParseKey(%q) = %v, %v", s, k, err)
		}
	}
	for _, s := range []string{"", "short", "000102"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}

// TestPostgresKindChangeWaitsForOtherNode: a put must learn a subject's
// former kind from the row as another node's transaction leaves it, not as
// it was before, or the kind the subject leaves keeps its generation and
// every node's cache keeps a stale watchlist. The other node is played by
// a transaction held open here.
func TestPostgresKindChangeWaitsForOtherNode(t *testing.T) {
	dsn, err := pg.CreateDatabase(fmt.Sprint("voice", dbs.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := OpenPostgres(ctx, dsn, keys(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	now := time.Unix(1700000000, 0).UTC()
	x := Subject{Tenant: "acme", ID: "x", Kind: KindCustomer, Model: "m", Created: now, Updated: now, Print: []byte("p")}
	if err := a.PutSubject(ctx, x); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The other node moves x to the watchlist (its sealed record is still
	// the customer one: only the kind matters here).
	var otherGen int64
	if _, err := tx.Exec(ctx, `UPDATE voice_subjects SET kind='fraudster' WHERE tenant='acme' AND id='x'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE voice_generation SET gen=gen+1 WHERE tenant='acme' AND kind='customer'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRow(ctx, `INSERT INTO voice_generation (tenant,kind,gen) VALUES ('acme','fraudster',1)
		ON CONFLICT (tenant,kind) DO UPDATE SET gen=voice_generation.gen+1 RETURNING gen`).Scan(&otherGen); err != nil {
		t.Fatal(err)
	}
	// This node puts x back as a customer while the other's transaction
	// is open: it must wait for the row.
	done := make(chan error, 1)
	go func() { done <- a.PutSubject(ctx, x) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname=current_database() AND wait_event_type='Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("put did not wait for the other node's transaction: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("put never waited on a lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// x left the watchlist, so the watchlist's generation must have moved
	// past the one the other node committed with x on it.
	if f := ids(t, a, "acme", KindFraudster); len(f) != 0 {
		t.Fatalf("fraudsters %v, want none", f)
	}
	if g := gen(t, a, "acme", KindFraudster); g == fmt.Sprint(otherGen) {
		t.Errorf("x left the watchlist but its generation is still %s, the one a cache saw with x on it", g)
	}
}
