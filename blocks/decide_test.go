package blocks

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// heldWriter keeps blocks and kill switches; a write waits on hold (when
// set) after saying so on writing.
type heldWriter struct {
	mu      sync.Mutex
	bs      []store.Block
	ks      []store.KillSwitch
	fail    error
	hold    chan struct{}
	writing chan struct{}
}

func (w *heldWriter) wait() {
	if w.hold != nil {
		w.writing <- struct{}{}
		<-w.hold
	}
}

func (w *heldWriter) AddBlock(_ context.Context, b store.Block) (store.Block, error) {
	w.wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return b, w.fail
	}
	b.ID = int64(len(w.bs) + 1)
	w.bs = append(w.bs, b)
	return b, nil
}

func (w *heldWriter) SetKillSwitch(_ context.Context, k store.KillSwitch) error {
	w.wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail != nil {
		return w.fail
	}
	w.ks = append(slices.DeleteFunc(w.ks, func(o store.KillSwitch) bool { return o.Tenant == k.Tenant }), k)
	return nil
}

func (w *heldWriter) ListBlocks(context.Context, time.Time) ([]store.Block, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.bs), nil
}

func (w *heldWriter) KillSwitches(context.Context) ([]store.KillSwitch, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ks), nil
}

// TestDecisionsEnforcedBeforeCommit: a detector's block and kill switch
// are in force while the store's commit waits, a refresh meanwhile keeps
// them, and a refused block is withdrawn; a switch turned off stops at
// its commit.
func TestDecisionsEnforcedBeforeCommit(t *testing.T) {
	ctx := context.Background()
	w := &heldWriter{hold: make(chan struct{}), writing: make(chan struct{})}
	l := NewLive()
	done := make(chan error)
	go func() {
		_, err := l.AddBlock(ctx, w, store.Block{Kind: store.BlockNumber, Value: "+88216001"})
		done <- err
	}()
	<-w.writing
	if l.Load().Number("acme", "88216001", now) == nil {
		t.Fatal("block not enforced while its commit waits")
	}
	if err := Refresh(ctx, w, l, now); err != nil || l.Load().Number("acme", "88216001", now) == nil {
		t.Fatalf("a refresh before the commit dropped the block (err %v)", err)
	}
	w.hold <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- l.SetKillSwitch(ctx, w, store.KillSwitch{Tenant: "acme", Active: true, Reason: "spend"})
	}()
	<-w.writing
	if l.Load().Kill("acme") == nil {
		t.Fatal("kill switch not enforced while its commit waits")
	}
	w.hold <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w.hold = nil
	if err := Refresh(ctx, w, l, now); err != nil {
		t.Fatal(err)
	}
	if b := l.Load().Number("acme", "88216001", now); b == nil || b.ID != 1 || l.Load().Kill("acme") == nil || len(l.local) != 0 {
		t.Fatalf("after a refresh: block %+v, kill %v, %d decisions laid over; want the stored block, the switch, none", b, l.Load().Kill("acme"), len(l.local))
	}
	if err := l.SetKillSwitch(ctx, w, store.KillSwitch{Tenant: "acme", Active: false}); err != nil || l.Load().Kill("acme") != nil {
		t.Fatalf("switch turned off: err %v, still on %v", err, l.Load().Kill("acme") != nil)
	}
	w.fail = errors.New("disk full")
	if _, err := l.AddBlock(ctx, w, store.Block{Kind: store.BlockNumber, Value: "+88216002"}); err == nil || l.Load().Number("acme", "88216002", now) != nil {
		t.Fatalf("refused block: err %v, enforced %v; want an error, not enforced", err, l.Load().Number("acme", "88216002", now) != nil)
	}
}
