package counter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/snapfile"
)

const testMagic = "counter test\n"

func roundTrip(t *testing.T, m *Memory) *Memory {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.snap")
	if err := snapfile.Write(path, testMagic, func(e *snapfile.Enc) error { m.WriteSnapshot(e); return nil }); err != nil {
		t.Fatal(err)
	}
	d, err := snapfile.Read(path, testMagic)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	back := NewMemory(0)
	if err := back.ReadSnapshot(d); err != nil {
		t.Fatalf("ReadSnapshot: %v", err)
	}
	if err := d.Done(); err != nil {
		t.Fatalf("after ReadSnapshot: %v", err)
	}
	return back
}

// TestSnapshotRoundTrip fills every kind of counter, writes a snapshot,
// reads it into a fresh store and wants the same answers: counts, held
// slots and their leases, sums, and the ids that make Add idempotent.
func TestSnapshotRoundTrip(t *testing.T) {
	m := NewMemory(0)
	win := Key{Scope: ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	slot := Key{Scope: TenantConcurrent, Tenant: "acme"}
	spend := Key{Scope: TenantIntlSpend, Tenant: "acme", Bucket: 20415}
	for i := range 7 {
		if _, ok, _ := m.Reserve(win, fmt.Sprint("w", i), t0.Add(time.Duration(i)*time.Minute), time.Hour, 7); !ok {
			t.Fatalf("reserve %d refused", i)
		}
	}
	m.Acquire(slot, "s1", t0, t0.Add(time.Hour), 2)
	m.Acquire(slot, "s2", t0, t0.Add(2*time.Minute), 2)
	m.Add(spend, "a", 1.25)
	m.Add(spend, "b", 2.5)

	back := roundTrip(t, m)
	at := t0.Add(10 * time.Minute)
	if got, want := back.Count(win, at, time.Hour), m.Count(win, at, time.Hour); got != want || got != 7 {
		t.Errorf("window count after restore = %d, want %d (7)", got, want)
	}
	if _, ok, _ := back.Reserve(win, "w8", at, time.Hour, 7); ok {
		t.Error("an 8th call admitted after restore with a limit of 7")
	}
	if _, ok, added := back.Reserve(win, "w3", at, time.Hour, 7); !ok || added {
		t.Errorf("retry of a counted id after restore: ok=%v added=%v, want admitted without counting", ok, added)
	}
	if got := back.Held(slot, t0.Add(time.Minute)); got != 2 {
		t.Errorf("slots held after restore = %d, want 2", got)
	}
	if got := back.Held(slot, t0.Add(3*time.Minute)); got != 1 {
		t.Errorf("slots held past the short lease = %d, want 1 (leases kept)", got)
	}
	if got := back.Sum(spend); got != 3.75 {
		t.Errorf("sum after restore = %v, want 3.75", got)
	}
	if got := back.Add(spend, "a", 1.25); got != 3.75 {
		t.Errorf("Add of an id counted before the snapshot = %v, want 3.75 (not twice)", got)
	}
	if got := back.Add(spend, "c", 1); got != 4.75 {
		t.Errorf("Add of a new id = %v, want 4.75", got)
	}
	if ls := back.List(TenantIntlSpend, "acme", "", at); len(ls) != 1 || ls[0].Count != 3 {
		t.Errorf("List of the sum after restore = %+v, want one with count 3", ls)
	}
}

// TestSnapshotCorruptLeavesEmpty flips bytes in a snapshot body: the
// reader reports an error and the store is empty, never half-filled.
func TestSnapshotCorruptLeavesEmpty(t *testing.T) {
	m := NewMemory(0)
	k := Key{Scope: ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	for i := range 5 {
		m.Reserve(k, fmt.Sprint(i), t0, time.Hour, 10)
	}
	path := filepath.Join(t.TempDir(), "c.snap")
	if err := snapfile.Write(path, testMagic, func(e *snapfile.Enc) error { m.WriteSnapshot(e); return nil }); err != nil {
		t.Fatal(err)
	}
	d, err := snapfile.Read(path, testMagic)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	body := make([]byte, d.Len())
	copy(body, snapfileBody(t, path))
	// A count that claims more records than the body holds.
	bad := append([]byte{}, body...)
	bad[len(bad)-2] = 0xff
	back := NewMemory(0)
	back.Reserve(k, "x", t0, time.Hour, 10)
	if err := back.ReadSnapshot(snapfile.NewDec(bad[:len(bad)-1])); err == nil {
		t.Fatal("ReadSnapshot of a damaged body succeeded")
	} else if !errors.Is(err, snapfile.ErrCorrupt) {
		t.Errorf("error %v, want ErrCorrupt", err)
	}
	if n := len(back.List(0, "", "", t0)); n != 0 {
		t.Errorf("%d counters left after a failed read, want 0", n)
	}
}

func snapfileBody(t *testing.T, path string) []byte {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b[len(testMagic) : len(b)-12]
}

// TestSumForgetsOldIDs: a sum remembers the ids it counted for at least
// sumIDTurn of Sweep time (a retry inside it counts once), then forgets
// them, so a day of calls does not pile up ids in memory.
func TestSumForgetsOldIDs(t *testing.T) {
	m := NewMemory(0)
	k := Key{Scope: SystemSpend, Bucket: t0.Unix() / 86400}
	m.Add(k, "a", 1)
	m.Sweep(t0)                // the sum's first generation starts
	m.Sweep(t0.Add(sumIDTurn)) // a moves to the old generation
	if got := m.Add(k, "a", 1); got != 1 {
		t.Errorf("retry one turn later: sum %v, want 1", got)
	}
	m.Sweep(t0.Add(2 * sumIDTurn))
	s := m.shard(k)
	x := s.sums[k]
	if _, ok := x.ids[m.ids.hash("a")]; ok {
		t.Error("id still remembered after two turns")
	}
	if _, ok := x.old[m.ids.hash("a")]; ok {
		t.Error("id still in the old generation after two turns")
	}
	if x.n != 1 || x.v != 1 {
		t.Errorf("sum %v over %d ids, want 1 over 1", x.v, x.n)
	}
}

// TestWindowCountsEventsPrunedByLaterCalls: calls stamped later prune
// their own windows; a call stamped earlier that arrives afterwards must
// still find the events of its window (within LateGrace), through Reserve
// and Apply alike. Window one minute, limit three: events at 10 s, 65 s and
// 75 s (the last prunes up to 15 s without the grace), then a call stamped
// 60 s, whose window (0 s, 60 s] holds the 10 s event: three, refused.
func TestWindowCountsEventsPrunedByLaterCalls(t *testing.T) {
	k := Key{Scope: ExtIntlBurst, Tenant: "a", Subject: "1001"}
	m, b := NewMemory(0), NewMemory(0)
	res := make([]Result, 1)
	for i, s := range []int{10, 65, 75} {
		at := t0.Add(time.Duration(s) * time.Second)
		if _, ok, _ := m.Reserve(k, fmt.Sprint(i), at, time.Minute, 3); !ok {
			t.Fatalf("Reserve: call at %d s refused", s)
		}
		if f := b.Apply(at, []Op{{Kind: OpWindow, Key: k, ID: fmt.Sprint(i), Window: time.Minute, Limit: 3}}, res); f != -1 {
			t.Fatalf("Apply: call at %d s refused", s)
		}
	}
	late := t0.Add(60 * time.Second)
	if n, ok, _ := m.Reserve(k, "late", late, time.Minute, 3); ok {
		t.Errorf("Reserve admitted a call stamped at 60 s whose window holds the 10 s event and two later ones (n=%d)", n)
	}
	if f := b.Apply(late, []Op{{Kind: OpWindow, Key: k, ID: "late", Window: time.Minute, Limit: 3}}, res); f != 0 {
		t.Errorf("Apply admitted a call stamped at 60 s whose window holds the 10 s event and two later ones (n=%d)", res[0].N)
	}
}

// FuzzReadSnapshot feeds arbitrary bodies to ReadSnapshot: an error or a
// store, never a panic or an unbounded allocation.
func FuzzReadSnapshot(f *testing.F) {
	m := NewMemory(0)
	m.Reserve(Key{Scope: ExtIntlCalls, Tenant: "t", Subject: "1"}, "a", t0, time.Hour, 3)
	m.Acquire(Key{Scope: TenantConcurrent, Tenant: "t"}, "b", t0, t0.Add(time.Hour), 3)
	m.Add(Key{Scope: TenantIntlSpend, Tenant: "t", Bucket: 3}, "c", 2)
	path := filepath.Join(f.TempDir(), "seed.snap")
	if err := snapfile.Write(path, testMagic, func(e *snapfile.Enc) error { m.WriteSnapshot(e); return nil }); err != nil {
		f.Fatal(err)
	}
	b, _ := readFile(path)
	f.Add(b[len(testMagic) : len(b)-12])
	f.Add([]byte{0})
	f.Add([]byte{5, 1, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		back := NewMemory(0)
		if err := back.ReadSnapshot(snapfile.NewDec(body)); err != nil {
			if n := len(back.List(0, "", "", t0)); n != 0 {
				t.Fatalf("%d counters left after error %v", n, err)
			}
		}
	})
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// TestReadSnapshotV1: a snapshot written before ids were hashed (string
// ids) still loads, and its ids are recognised: a replayed call counts
// once.
func TestReadSnapshotV1(t *testing.T) {
	k := Key{Scope: ExtIntlCalls, Tenant: "acme", Subject: "1001"}
	path := filepath.Join(t.TempDir(), "v1.snap")
	err := snapfile.Write(path, testMagic, func(e *snapfile.Enc) error {
		e.Uvarint(2) // the hint
		e.Uvarint(tagWindow)
		writeKey(e, k)
		e.Varint(t0.UnixNano())
		e.Uvarint(1)
		e.Varint(0)
		e.String("call-1")
		e.Uvarint(tagSlots)
		writeKey(e, Key{Scope: TenantConcurrent, Tenant: "acme"})
		e.Uvarint(1)
		e.String("call-1")
		e.Varint(t0.Add(time.Hour).UnixNano())
		e.Uvarint(0)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := snapfile.Read(path, testMagic)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := NewMemory(0)
	if err := m.ReadSnapshotV1(d); err != nil || d.Done() != nil {
		t.Fatalf("ReadSnapshotV1: %v, %v", err, d.Done())
	}
	if n, ok, added := m.Reserve(k, "call-1", t0, time.Hour, 10); !ok || added || n != 1 {
		t.Errorf("replayed call-1: n=%d ok=%v added=%v, want 1, true, false", n, ok, added)
	}
	if !m.Release(Key{Scope: TenantConcurrent, Tenant: "acme"}, "call-1") {
		t.Error("call-1's slot from the v1 snapshot not found")
	}
}
