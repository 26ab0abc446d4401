package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// VoiceStore is a voice store that can also re-seal with the current key;
// both backends are.
type VoiceStore interface {
	vstore.Store
	Rekey(ctx context.Context) (int, error)
}

// VoiceDB is one empty database of a voice backend under test.
type VoiceDB struct {
	// Open opens a handle sealing with k: each handle is what one node
	// holds. The opener closes it when the test ends.
	Open func(k *vstore.Keys) VoiceStore
	// Raw returns what the database holds of the records, byte for byte
	// (for SQLite the file and its write-ahead log; for PostgreSQL every
	// column of the sealed tables as stored).
	Raw func() []byte
	// CopySubject copies a subject's row, sealed record and all, to
	// another id behind the store's back.
	CopySubject func(tenant, from, to string)
}

// RunVoice runs the voice store conformance suite; fresh makes one empty
// database for t.
func RunVoice(t *testing.T, fresh func(t *testing.T) *VoiceDB) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, *VoiceDB)
	}{
		{"SubjectsEncryptedAndRotated", voiceSubjectsEncryptedAndRotated},
		{"GenerationFollowsKind", voiceGenerationFollowsKind},
		{"TwoHandles", voiceTwoHandles},
		{"ConcurrentKindChanges", voiceConcurrentKindChanges},
		{"ResultsAndCallStats", voiceResultsAndCallStats},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, fresh(t)) })
	}
}

// voiceKey is a 32-byte key of b.
func voiceKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// VoiceKeys is a key set whose keys are 32 bytes of cur (the current
// one) and of each old byte.
func VoiceKeys(t *testing.T, cur byte, old ...byte) *vstore.Keys {
	t.Helper()
	var o [][]byte
	for _, b := range old {
		o = append(o, voiceKey(b))
	}
	k, err := vstore.NewKeys(voiceKey(cur), o...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// VoiceGen is a tenant's generation of one kind in s.
func VoiceGen(t *testing.T, s vstore.Store, tenant, kind string) string {
	t.Helper()
	g, err := s.Generation(context.Background(), tenant, kind)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// VoiceIDs lists the ids of a tenant's subjects of one kind in s.
func VoiceIDs(t *testing.T, s vstore.Store, tenant, kind string) []string {
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

func voiceSubjectsEncryptedAndRotated(t *testing.T, d *VoiceDB) {
	ctx := context.Background()
	s := d.Open(VoiceKeys(t, 1))
	now := time.Unix(1700000000, 123456789).UTC()
	secret := []byte("VOICEPRINT-PLAINTEXT-MARKER")
	sub := vstore.Subject{Tenant: "acme", ID: "acct-1", Kind: vstore.KindFraudster, Label: "LABEL-MARKER", Model: "m1", Speech: 4.5, Utterances: 3,
		Created: now, Updated: now.Add(time.Second), Print: secret, Stats: []byte("STATS-MARKER"), Audio: [][]byte{[]byte("AUDIO-MARKER")}}
	g0 := VoiceGen(t, s, "acme", vstore.KindFraudster)
	if err := s.PutSubject(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if g1 := VoiceGen(t, s, "acme", vstore.KindFraudster); g0 == g1 {
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
	raw := d.Raw()
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
	s2 := d.Open(VoiceKeys(t, 2))
	if _, err := s2.GetSubject(ctx, "acme", "acct-1"); !errors.Is(err, vstore.ErrKey) {
		t.Errorf("wrong key: %v, want ErrKey", err)
	}
	if _, err := s2.Subjects(ctx, "acme", vstore.KindFraudster); !errors.Is(err, vstore.ErrKey) {
		t.Errorf("wrong key, list: %v, want ErrKey", err)
	}
	s2.Close()
	s3 := d.Open(VoiceKeys(t, 2, 1))
	gBefore := VoiceGen(t, s3, "acme", vstore.KindFraudster)
	if n, err := s3.Rekey(ctx); n != 1 || err != nil {
		t.Fatalf("rekey: %d, %v", n, err)
	}
	if n, err := s3.Rekey(ctx); n != 0 || err != nil {
		t.Fatalf("second rekey: %d, %v, want 0", n, err)
	}
	if VoiceGen(t, s3, "acme", vstore.KindFraudster) == gBefore {
		t.Error("generation did not change on rekey")
	}
	s3.Close()
	s4 := d.Open(VoiceKeys(t, 2))
	got, err = s4.GetSubject(ctx, "acme", "acct-1")
	if err != nil || !bytes.Equal(got.Print, secret) || !got.Created.Equal(now) {
		t.Fatalf("after rekey, new key alone: %+v, %v", got, err)
	}
	// A sealed record moved to another subject does not open.
	d.CopySubject("acme", "acct-1", "acct-2")
	if _, err := s4.GetSubject(ctx, "acme", "acct-2"); !errors.Is(err, vstore.ErrKey) {
		t.Errorf("moved ciphertext: %v, want ErrKey", err)
	}
	if err := s4.DeleteSubject(ctx, "acme", "acct-2"); err != nil {
		t.Fatal(err)
	}
	g := VoiceGen(t, s4, "acme", vstore.KindFraudster)
	if err := s4.DeleteSubject(ctx, "acme", "acct-1"); err != nil {
		t.Fatal(err)
	}
	if VoiceGen(t, s4, "acme", vstore.KindFraudster) == g {
		t.Error("generation did not change on delete")
	}
	if _, err := s4.GetSubject(ctx, "acme", "acct-1"); !errors.Is(err, vstore.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s4.DeleteSubject(ctx, "acme", "acct-1"); !errors.Is(err, vstore.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// voiceGenerationFollowsKind: a kind's generation moves when its set of
// subjects changes, and only then; replacing keeps the creation time.
func voiceGenerationFollowsKind(t *testing.T, d *VoiceDB) {
	ctx := context.Background()
	s := d.Open(VoiceKeys(t, 1))
	t0 := time.Unix(1700000000, 0).UTC()
	put := func(id, kind string, at time.Time) {
		t.Helper()
		if err := s.PutSubject(ctx, vstore.Subject{Tenant: "acme", ID: id, Kind: kind, Model: "m", Created: at, Updated: at, Print: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	gens := func() [3]string {
		return [3]string{VoiceGen(t, s, "acme", vstore.KindCustomer), VoiceGen(t, s, "acme", vstore.KindFraudster), VoiceGen(t, s, "other", vstore.KindCustomer)}
	}
	g0 := gens()
	put("a", vstore.KindCustomer, t0)
	g1 := gens()
	if g1[0] == g0[0] || g1[1] != g0[1] || g1[2] != g0[2] {
		t.Errorf("put customer: generations %v → %v, want only the customer one to move", g0, g1)
	}
	put("b", vstore.KindCustomer, t0)
	put("a", vstore.KindFraudster, t0.Add(time.Hour)) // moves a to the watchlist
	g2 := gens()
	if g2[0] == g1[0] || g2[1] == g1[1] || g2[2] != g1[2] {
		t.Errorf("kind change: generations %v → %v, want both of acme's to move", g1, g2)
	}
	if c, f := VoiceIDs(t, s, "acme", vstore.KindCustomer), VoiceIDs(t, s, "acme", vstore.KindFraudster); !slices.Equal(c, []string{"b"}) || !slices.Equal(f, []string{"a"}) {
		t.Errorf("customers %v, fraudsters %v; want [b], [a]", c, f)
	}
	if got, _ := s.GetSubject(ctx, "acme", "a"); !got.Created.Equal(t0) || !got.Updated.Equal(t0.Add(time.Hour)) || got.Kind != vstore.KindFraudster {
		t.Errorf("replaced subject: created %v updated %v kind %s; want the first creation time kept", got.Created, got.Updated, got.Kind)
	}
	if got := VoiceIDs(t, s, "other", vstore.KindCustomer); len(got) != 0 {
		t.Errorf("another tenant sees %v", got)
	}
	if err := s.DeleteSubject(ctx, "acme", "b"); err != nil {
		t.Fatal(err)
	}
	g3 := gens()
	if g3[0] == g2[0] || g3[1] != g2[1] {
		t.Errorf("delete customer: generations %v → %v", g2, g3)
	}
}

// voiceTwoHandles: two handles on one database are two nodes; what one
// writes the other reads, and the generation it sees moves.
func voiceTwoHandles(t *testing.T, d *VoiceDB) {
	ctx := context.Background()
	a, b := d.Open(VoiceKeys(t, 1)), d.Open(VoiceKeys(t, 1))
	now := time.Unix(1700000000, 0).UTC()
	gb := VoiceGen(t, b, "acme", vstore.KindFraudster)
	if err := a.PutSubject(ctx, vstore.Subject{Tenant: "acme", ID: "f-1", Kind: vstore.KindFraudster, Model: "m", Created: now, Updated: now, Print: []byte("print-1")}); err != nil {
		t.Fatal(err)
	}
	gb2 := VoiceGen(t, b, "acme", vstore.KindFraudster)
	if gb2 == gb {
		t.Errorf("generation seen by the other node did not move: %s", gb2)
	}
	subs, err := b.Subjects(ctx, "acme", vstore.KindFraudster)
	if err != nil || len(subs) != 1 || subs[0].ID != "f-1" || string(subs[0].Print) != "print-1" {
		t.Fatalf("other node lists %+v, %v", subs, err)
	}
	if err := b.DeleteSubject(ctx, "acme", "f-1"); err != nil {
		t.Fatal(err)
	}
	if VoiceGen(t, a, "acme", vstore.KindFraudster) == gb2 {
		t.Error("delete on the other node: generation did not move")
	}
	if _, err := a.GetSubject(ctx, "acme", "f-1"); !errors.Is(err, vstore.ErrNotFound) {
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
	if err := b.AddResult(ctx, vstore.Result{CallID: "call-1", Tenant: "acme", Time: now, Op: "verify", Decision: "accept"}); err != nil {
		t.Fatal(err)
	}
	if rs, err := a.Results(ctx, []string{"call-1"}); err != nil || len(rs["call-1"]) != 1 {
		t.Errorf("results through the other node: %v, %v", rs, err)
	}
}

// TestConcurrentKindChanges moves subjects between kinds from two handles
// at once while a reader caches (generation, list) pairs the way
// voice/service does: whenever a cached generation is still current, the
// list cached with it must be too.
func voiceConcurrentKindChanges(t *testing.T, d *VoiceDB) {
	ctx := context.Background()
	hs := []vstore.Store{d.Open(VoiceKeys(t, 1)), d.Open(VoiceKeys(t, 1))}
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
			g, err := h.Generation(ctx, "acme", vstore.KindFraudster)
			if err != nil {
				t.Error(err)
				return
			}
			subs, err := h.Subjects(ctx, "acme", vstore.KindFraudster)
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
				kind := vstore.KindCustomer
				if (i+w)%2 == 0 {
					kind = vstore.KindFraudster
				}
				sub := vstore.Subject{Tenant: "acme", ID: fmt.Sprint("s", i%3), Kind: kind, Model: "m", Created: now, Updated: now, Print: []byte{byte(w)}}
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
	final := cached{gen: VoiceGen(t, hs[0], "acme", vstore.KindFraudster), ids: VoiceIDs(t, hs[0], "acme", vstore.KindFraudster)}
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
		if err != nil || got.Kind != vstore.KindFraudster && got.Kind != vstore.KindCustomer {
			t.Fatalf("%s: %+v, %v", id, got, err)
		}
		if in := slices.Contains(final.ids, id); in != (got.Kind == vstore.KindFraudster) {
			t.Errorf("%s has kind %s but the fraudster list is %v", id, got.Kind, final.ids)
		}
	}
}

func voiceResultsAndCallStats(t *testing.T, d *VoiceDB) {
	ctx := context.Background()
	s := d.Open(VoiceKeys(t, 3))
	now := time.Unix(1700000000, 987654321).UTC()
	for i, dec := range []string{"uncertain", "reject"} {
		if err := s.AddResult(ctx, vstore.Result{CallID: "c1", Tenant: "acme", Time: now.Add(time.Duration(i) * time.Second), Op: "verify", Subject: "a", Decision: dec,
			Score: 0.25, LLR: -1.5, Speech: 3.25, Risk: 40 * i, Reason: "why"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddResult(ctx, vstore.Result{CallID: "c3", Tenant: "acme", Time: now, Op: "identify", Decision: "no_match"}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Results(ctx, []string{"c1", "c2"})
	if err != nil || len(rs["c1"]) != 2 || rs["c1"][1].Decision != "reject" || len(rs["c2"]) != 0 || len(rs["c3"]) != 0 {
		t.Fatalf("results: %v %v", rs, err)
	}
	want := vstore.Result{CallID: "c1", Tenant: "acme", Time: now, Op: "verify", Subject: "a", Decision: "uncertain", Score: 0.25, LLR: -1.5, Speech: 3.25, Reason: "why"}
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
}
