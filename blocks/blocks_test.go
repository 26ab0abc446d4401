package blocks

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestSetLookups(t *testing.T) {
	s := Build([]store.Block{
		{ID: 1, Kind: store.BlockNumber, Value: "+442079460000"},
		{ID: 2, Kind: store.BlockPrefix, Value: "4930", Tenant: "acme"},
		{ID: 3, Kind: store.BlockPrefix, Value: "493012"},
		{ID: 4, Kind: store.BlockIP, Value: "198.51.100.0/24", Tenant: "acme"},
		{ID: 5, Kind: store.BlockIP, Value: "2001:db8::1"},
		{ID: 6, Kind: store.BlockExtension, Value: "1001", Tenant: "acme", Expires: now.Add(time.Minute)},
		{ID: 7, Kind: "bogus", Value: "x"},
	}, []store.KillSwitch{{Tenant: "beta", Active: true}, {Tenant: "gamma", Active: false}}, now)
	if s.Len() != 6 {
		t.Errorf("Len = %d, want 6 (the bogus kind skipped)", s.Len())
	}
	if b := s.Number("other", "442079460000", now); b == nil || b.ID != 1 {
		t.Errorf("global number block not found for another tenant")
	}
	if b := s.Prefix("acme", "4930123456", now); b == nil || b.ID != 3 {
		t.Errorf("longest prefix: got %+v, want block 3", b)
	}
	if b := s.Prefix("other", "493099", now); b != nil {
		t.Errorf("acme's prefix block applied to another tenant")
	}
	if b := s.Addr("acme", netip.MustParseAddr("198.51.100.9"), now); b == nil || b.ID != 4 {
		t.Errorf("CIDR block not found")
	}
	if b := s.Addr("other", netip.MustParseAddr("198.51.100.9"), now); b != nil {
		t.Errorf("acme's CIDR applied to another tenant")
	}
	if b := s.Addr("x", netip.MustParseAddr("2001:db8::1"), now); b == nil {
		t.Errorf("IPv6 address block not found")
	}
	if b := s.Extension("acme", "1001", now.Add(2*time.Minute)); b != nil {
		t.Errorf("expired extension block still applies")
	}
	if k := s.Kill("beta"); k == nil {
		t.Errorf("beta's kill switch not found")
	}
	if k := s.Kill("gamma"); k != nil {
		t.Errorf("inactive kill switch applies")
	}
}

type slowSource struct {
	mu      sync.Mutex
	blocks  []store.Block
	delay   chan struct{} // a read waits for it, when set
	reading chan struct{} // closed when the first read has happened
	once    sync.Once
}

func (s *slowSource) ListBlocks(context.Context, time.Time) ([]store.Block, error) {
	s.mu.Lock()
	bs := append([]store.Block(nil), s.blocks...)
	d := s.delay
	s.mu.Unlock()
	s.once.Do(func() { close(s.reading) })
	if d != nil {
		<-d
	}
	return bs, nil
}

func (s *slowSource) KillSwitches(context.Context) ([]store.KillSwitch, error) { return nil, nil }

// TestRefreshIsOrdered: a refresh that read the store before a change
// must not install its older snapshot after the refresh that saw the
// change.
func TestRefreshIsOrdered(t *testing.T) {
	gate := make(chan struct{})
	src := &slowSource{delay: gate, reading: make(chan struct{})}
	live := NewLive()
	done := make(chan struct{})
	go func() { // the periodic refresh, stuck after reading an empty store
		Refresh(context.Background(), src, live, now)
		close(done)
	}()
	<-src.reading
	src.mu.Lock()
	src.blocks = []store.Block{{ID: 1, Kind: store.BlockNumber, Value: "+441"}}
	src.delay = nil
	src.mu.Unlock()
	second := make(chan struct{})
	go func() { // the refresh after adding a block
		Refresh(context.Background(), src, live, now)
		close(second)
	}()
	time.Sleep(20 * time.Millisecond) // let the second refresh reach the store if it can
	close(gate)
	<-done
	<-second
	if live.Load().Len() != 1 {
		t.Fatalf("snapshot has %d blocks after both refreshes, want the newer one (1)", live.Load().Len())
	}
}

// TestExtensionBroadestScopeHolds: a detector's short costly-calls block
// of an extension must not narrow an earlier, longer international block
// of it (nor a tenant-wide one), and once the broader block expires the
// narrower one still applies.
func TestExtensionBroadestScopeHolds(t *testing.T) {
	s := Build([]store.Block{
		{ID: 1, Kind: store.BlockExtension, Value: "1001", Tenant: "acme", Scope: "international", Expires: now.Add(time.Hour)},
		{ID: 2, Kind: store.BlockExtension, Value: "1001", Tenant: "acme", Scope: "costly", Expires: now.Add(2 * time.Hour)},
		{ID: 3, Kind: store.BlockExtension, Value: "*", Tenant: "beta", Scope: "international", Expires: now.Add(time.Hour)},
		{ID: 4, Kind: store.BlockExtension, Value: "7", Tenant: "beta", Scope: "costly", Expires: now.Add(time.Hour)},
	}, nil, now)
	if b := s.Extension("acme", "1001", now); b == nil || b.ID != 1 {
		t.Errorf("got %+v; want the international block 1", b)
	}
	if b := s.Extension("acme", "1001", now.Add(90*time.Minute)); b == nil || b.ID != 2 {
		t.Errorf("after the international block expired: got %+v; want the costly block 2", b)
	}
	if b := s.Extension("beta", "7", now); b == nil || b.ID != 3 {
		t.Errorf("got %+v; want the tenant-wide international block 3", b)
	}
}
