package cluster

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/screen"
)

// recorder is a node's detector input in these tests: it keeps what each
// node processed and warmed, in order.
type recorder struct {
	mu        sync.Mutex
	node      string
	processed []Entry
	warmed    []Entry
	all       *ledger
}

// ledger is the detector input of the whole cluster.
type ledger struct {
	mu   sync.Mutex
	seen map[string][]string // call id → nodes that processed it
	n    int
}

func (r *recorder) Process(es []Entry) {
	r.mu.Lock()
	r.processed = append(r.processed, es...)
	r.mu.Unlock()
	r.all.mu.Lock()
	for _, e := range es {
		r.all.seen[e.Rec.CallID] = append(r.all.seen[e.Rec.CallID], r.node)
		r.all.n++
	}
	r.all.mu.Unlock()
}

func (r *recorder) Warm(es []Entry) {
	r.mu.Lock()
	r.warmed = append(r.warmed, es...)
	r.mu.Unlock()
}

func (l *ledger) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

type testNode struct {
	s   *Stream
	rec *recorder
}

func startNodes(t *testing.T, addr string, names ...string) ([]*testNode, *ledger) {
	t.Helper()
	all := &ledger{seen: map[string][]string{}}
	var out []*testNode
	for _, name := range names {
		out = append(out, startNode(t, addr, name, all))
	}
	return out, all
}

func startNode(t *testing.T, addr, name string, all *ledger) *testNode {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, ReadTimeout: 2 * time.Second})
	s, err := NewStream(StreamOptions{Client: c, Node: name, Partitions: 4, Lease: time.Second, ClaimIdle: 500 * time.Millisecond,
		Retain: time.Hour, Batch: 8, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{s: s, rec: &recorder{node: name, all: all}}
	s.Start(n.rec)
	t.Cleanup(func() { s.Close(); c.Close() })
	return n
}

func cdrFor(tenant string, i int, from string) cdr.Record {
	return cdr.Record{CallID: fmt.Sprintf("%s-%s-%04d", tenant, from, i), Tenant: tenant, Extension: "1001", Caller: "+12125550100",
		Callee: "+4930123456", Direction: screen.Outbound, Start: time.Unix(1_700_000_000+int64(i), 0).UTC(), Disposition: cdr.Answered, Billsec: 30, Duration: 35}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBalanced waits until every partition has exactly one owner.
func waitBalanced(t *testing.T, nodes []*testNode, parts int) {
	t.Helper()
	waitFor(t, 10*time.Second, "partitions not spread over the live nodes", func() bool {
		owners := map[int]int{}
		for _, n := range nodes {
			if len(n.s.Owned()) == 0 && len(nodes) <= parts {
				return false
			}
			for _, p := range n.s.Owned() {
				owners[p]++
			}
		}
		if len(owners) != parts {
			return false
		}
		for _, c := range owners {
			if c != 1 {
				return false
			}
		}
		return true
	})
}

func ownerOf(nodes []*testNode, tenant string) int {
	p := Partition(tenant, 4)
	for i, n := range nodes {
		if slices.Contains(n.s.Owned(), p) {
			return i
		}
	}
	return -1
}

// TestStreamExactlyOnceAcrossNodes: records of several tenants published
// on three nodes each reach one node's detectors once, a tenant's records
// all on one node, in each publisher's order.
func TestStreamExactlyOnceAcrossNodes(t *testing.T) {
	r := testenv.NewRedis(t)
	nodes, all := startNodes(t, r.Addr, "n1", "n2", "n3")
	waitBalanced(t, nodes, 4)
	tenants := []string{"acme", "globex", "initech", "umbrella", "hooli"}
	const per = 40
	for i := range per {
		for k, tn := range tenants {
			from := nodes[(i+k)%3]
			rec := cdrFor(tn, i, from.s.o.Node)
			if !from.s.Publish(rec, i%5 == 0) {
				t.Fatal("publish refused")
			}
		}
	}
	want := per * len(tenants)
	waitFor(t, 15*time.Second, "not every record processed", func() bool { return all.count() >= want })
	time.Sleep(300 * time.Millisecond) // anything processed twice would show now
	if all.count() != want {
		t.Errorf("processed %d records, want exactly %d", all.count(), want)
	}
	for id, ns := range all.seen {
		if len(ns) != 1 {
			t.Errorf("call %s processed by %v", id, ns)
		}
	}
	for _, n := range nodes {
		byTenant := map[string]int{}
		last := map[string]string{}
		for _, e := range n.rec.processed {
			if own := ownerOf(nodes, e.Rec.Tenant); own < 0 || nodes[own] != n {
				t.Errorf("%s processed %s of tenant %s, whose partition it does not own", n.s.o.Node, e.Rec.CallID, e.Rec.Tenant)
			}
			byTenant[e.Rec.Tenant]++
			// Within one publisher, order holds (ids carry the sequence).
			k := e.Rec.Tenant + e.Rec.CallID[len(e.Rec.CallID)-7:len(e.Rec.CallID)-5]
			if e.Rec.CallID < last[k] {
				t.Errorf("%s: %s after %s", n.s.o.Node, e.Rec.CallID, last[k])
			}
			last[k] = e.Rec.CallID
			if e.Rec.Direction != screen.Outbound || e.Rec.Billsec != 30 || !e.Rec.Start.Equal(time.Unix(e.Rec.Start.Unix(), 0)) {
				t.Errorf("record changed on the way: %+v", e.Rec)
			}
		}
		t.Logf("%s owns %v, processed %v, stats %+v", n.s.o.Node, n.s.Owned(), byTenant, n.s.Stats())
	}
	attempts := 0
	for _, n := range nodes {
		for _, e := range n.rec.processed {
			if e.Attempt {
				attempts++
			}
		}
	}
	if attempts != want/5 {
		t.Errorf("%d attempts arrived as attempts, want %d", attempts, want/5)
	}
}

// TestStreamHandOver kills the owner of a tenant's partition twice: once
// right after it read entries (they are pending, unseen: the next owner
// claims and processes them) and once after its detectors saw a batch but
// before it acknowledged it (the next owner claims them and, by the fed
// mark, does not process them again). The new owners warm their detectors
// with what earlier owners fed.
func TestStreamHandOver(t *testing.T) {
	r := testenv.NewRedis(t)
	nodes, all := startNodes(t, r.Addr, "n1", "n2", "n3")
	waitBalanced(t, nodes, 4)
	const tenant = "acme"
	publish := func(via *testNode, from, to int) {
		for i := from; i < to; i++ {
			if !via.s.Publish(cdrFor(tenant, i, "x"), false) {
				t.Fatal("publish refused")
			}
		}
	}
	// Before any fault: 20 records, all processed by the owner.
	o1 := ownerOf(nodes, tenant)
	publish(nodes[(o1+1)%3], 0, 20)
	waitFor(t, 10*time.Second, "first records not processed", func() bool { return all.count() == 20 })

	// Fault 1: the owner dies right after reading the next entries.
	first := nodes[o1]
	first.s.Crash(CrashAfterRead)
	publish(nodes[(o1+1)%3], 20, 40)
	select {
	case <-first.s.Crashed():
	case <-time.After(10 * time.Second):
		t.Fatal("owner did not read (and crash)")
	}
	alive := slices.Delete(slices.Clone(nodes), o1, o1+1)
	waitFor(t, 15*time.Second, "a dead node's pending entries were not taken over", func() bool { return all.count() >= 40 })
	o2 := ownerOf(alive, tenant)
	if o2 < 0 {
		t.Fatal("no live owner after the hand-over")
	}
	second := alive[o2]
	st := second.s.Stats()
	if st.Claimed == 0 {
		t.Errorf("new owner claimed nothing: %+v", st)
	}
	if got := len(second.rec.warmed); got < 20 {
		t.Errorf("new owner warmed %d records, want the 20 the first owner fed", got)
	}

	// Fault 2: the second owner dies after its detectors saw a batch, before
	// acknowledging it.
	second.s.Crash(CrashAfterFed)
	publish(alive[(o2+1)%2], 40, 60)
	select {
	case <-second.s.Crashed():
	case <-time.After(10 * time.Second):
		t.Fatal("second owner did not process (and crash)")
	}
	third := alive[(o2+1)%2]
	waitFor(t, 15*time.Second, "records after the second fault not processed", func() bool { return all.count() >= 60 })
	waitFor(t, 15*time.Second, "the third owner did not claim the unacknowledged batch", func() bool { return third.s.Stats().SkippedFed > 0 })
	time.Sleep(500 * time.Millisecond)

	if all.count() != 60 {
		t.Errorf("processed %d, want exactly 60", all.count())
	}
	for i := range 60 {
		id := cdrFor(tenant, i, "x").CallID
		if ns := all.seen[id]; len(ns) != 1 {
			t.Errorf("call %s processed by %v, want exactly one node", id, ns)
		}
	}
	// Each node's input stayed in stream order.
	for _, n := range nodes {
		for i := 1; i < len(n.rec.processed); i++ {
			if n.rec.processed[i].Rec.CallID < n.rec.processed[i-1].Rec.CallID {
				t.Errorf("%s processed %s after %s", n.s.o.Node, n.rec.processed[i].Rec.CallID, n.rec.processed[i-1].Rec.CallID)
			}
		}
		t.Logf("%s: processed %d, warmed %d, %+v", n.s.o.Node, len(n.rec.processed), len(n.rec.warmed), n.s.Stats())
	}
	// The third owner warmed everything fed before it, including the batch
	// the second owner saw but never acknowledged.
	warmedIDs := map[string]bool{}
	for _, e := range third.rec.warmed {
		warmedIDs[e.Rec.CallID] = true
	}
	for _, e := range second.rec.processed {
		if e.Rec.Tenant == tenant && !warmedIDs[e.Rec.CallID] {
			t.Errorf("third owner did not warm %s, which the second owner fed", e.Rec.CallID)
		}
	}
}

// TestStreamPublishWhileRedisAway: records published while Redis is down
// wait in the bounded queue and reach the detectors when it returns; a
// full queue counts what it drops.
func TestStreamPublishWhileRedisAway(t *testing.T) {
	r := testenv.NewRedis(t)
	nodes, all := startNodes(t, r.Addr, "n1")
	waitBalanced(t, nodes, 4)
	r.Stop()
	for i := range 30 {
		if !nodes[0].s.Publish(cdrFor("acme", i, "x"), false) {
			t.Fatal("publish refused while the queue has room")
		}
	}
	waitFor(t, 10*time.Second, "publishing did not fail while Redis was down", func() bool { return nodes[0].s.Stats().PublishRetries > 0 })
	if all.count() != 0 {
		t.Errorf("%d records processed while Redis was down", all.count())
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "queued records not processed after Redis returned", func() bool { return all.count() == 30 })

	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	s, err := NewStream(StreamOptions{Client: c, Node: "lonely", Queue: 16, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range 100 {
		if !s.Publish(cdrFor("acme", i, "y"), false) {
			refused++
		}
	}
	if refused < 100-16-s.o.Batch || s.Stats().PublishDropped != int64(refused) {
		t.Errorf("refused %d, stats %+v: a full queue must refuse and count", refused, s.Stats())
	}
	s.Close()
	if st := s.Stats(); st.PublishDropped != 100 {
		t.Errorf("after closing with Redis away, dropped = %d, want all 100 counted", st.PublishDropped)
	}
}

func TestIDOrder(t *testing.T) {
	for _, c := range []struct {
		a, b string
		le   bool
	}{{"1-0", "1-0", true}, {"1-1", "1-0", false}, {"9-5", "10-0", true}, {"10-0", "9-99", false}, {"1700000000000-3", "1700000000000-12", true}} {
		if got := idLE(c.a, c.b); got != c.le {
			t.Errorf("idLE(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
