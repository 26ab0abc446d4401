package cluster

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// TestChangesRouteByWhat: a notice reaches the channels of On that name
// its list and not the others; C gets every notice; a notice from a node
// whose name holds a space is routed by its last word; a notice naming
// nothing wakes every route.
func TestChangesRouteByWhat(t *testing.T) {
	r := testenv.NewRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer c.Close()
	ctx := context.Background()
	a := NewChanges(ctx, c, "t", "n1", nil)
	defer a.Close()
	b := NewChanges(ctx, c, "t", "my node", nil)
	defer b.Close()
	blocks, comp, rep := a.On("blocks", "killswitch"), a.On("compliance"), a.On("reputation")
	waitSubscribed(t, c, "t:changes", 2)

	got := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		case <-time.After(300 * time.Millisecond):
			return false
		}
	}
	b.Publish("compliance")
	if !got(comp) {
		t.Fatal("no compliance notice on the compliance channel")
	}
	if got(blocks) || got(rep) {
		t.Fatal("a compliance notice woke the blocks or reputation channel")
	}
	if !got(a.C()) {
		t.Fatal("C did not deliver the notice")
	}
	b.Publish("killswitch")
	if !got(blocks) || got(comp) || got(rep) {
		t.Fatal("a killswitch notice not routed to the blocks channel alone")
	}
	if err := c.Publish(ctx, "t:changes", "old-node").Err(); err != nil {
		t.Fatal(err)
	}
	if !got(blocks) || !got(comp) || !got(rep) {
		t.Fatal("a notice naming nothing did not wake every route")
	}
}

// TestChangesNotifyCoalesces: Notify returns at once; a burst of Notify
// calls publishes far fewer notices than calls but at least one after the
// last call, and the receiver has at most one value pending.
func TestChangesNotifyCoalesces(t *testing.T) {
	r := testenv.NewRedis(t)
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer c.Close()
	ctx := context.Background()
	a := NewChanges(ctx, c, "t", "n1", nil)
	defer a.Close()
	rx := NewChanges(ctx, c, "t", "n2", nil)
	defer rx.Close()
	ch := rx.On("reputation")
	waitSubscribed(t, c, "t:changes", 2)

	const calls = 2000
	t0 := time.Now()
	for range calls {
		a.Notify("reputation")
	}
	t.Logf("%d Notify calls took %v", calls, time.Since(t0))
	deadline := time.Now().Add(5 * time.Second)
	for rx.Received.Load() < a.Published.Load() || a.Published.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("published %d, received %d", a.Published.Load(), rx.Received.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a publish still due would show now
	pub := a.Published.Load()
	t.Logf("%d Notify calls published %d notices", calls, pub)
	if pub < 1 || pub >= calls {
		t.Fatalf("%d Notify calls published %d notices; want at least one, far fewer than calls", calls, pub)
	}
	if len(ch) != 1 {
		t.Fatalf("%d values pending on the receiver's channel, want 1", len(ch))
	}
	<-ch
	// Nothing due: no further publish; after Close, Notify is a no-op.
	a.Close()
	a.Notify("reputation")
	a.Notify("compliance")
	time.Sleep(100 * time.Millisecond)
	if a.Published.Load() != pub {
		t.Fatalf("published %d after Close, want %d", a.Published.Load(), pub)
	}
}

// waitSubscribed waits until channel has n subscribers.
func waitSubscribed(t *testing.T, c *goredis.Client, channel string, n int64) {
	t.Helper()
	for t0 := time.Now(); time.Since(t0) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		m, err := c.PubSubNumSub(context.Background(), channel).Result()
		if err == nil && m[channel] >= n {
			return
		}
	}
	t.Fatalf("%s: fewer than %d subscribers", channel, n)
}
