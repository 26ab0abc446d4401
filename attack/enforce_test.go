package attack_test

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	checkrep "github.com/tollgate-voip/tollgate/check/reputation"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
)

// heldCommits is a reputation store whose AddBan waits for a release
// after saying it has begun.
type heldCommits struct {
	reputation.Store
	begun, release chan struct{}
}

func (h heldCommits) AddBan(ctx context.Context, b reputation.Ban) (reputation.Ban, error) {
	h.begun <- struct{}{}
	<-h.release
	return h.Store.AddBan(ctx, b)
}

// TestBanEnforcedBeforeCommit: the guard writes bans as the server wires
// it (through the node's Live, a refresh after each ban), the store holds
// the commit of the ban the third failure triggers. Screening already
// refuses a call from the address while the commit waits, a refresh
// meanwhile does not bring it back, and after the commit and a refresh
// the refusal names the stored ban.
func TestBanEnforcedBeforeCommit(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	held := heldCommits{Store: db, begun: make(chan struct{}), release: make(chan struct{})}
	live := reputation.NewLive(reputation.DefaultPolicy)
	g := NewGuard(Policy{}, reputation.Enforcing{Store: held, Live: live}, nil, quiet)
	g.OnBan = func(reputation.Ban) {
		if err := reputation.Refresh(ctx, db, live, time.Now()); err != nil {
			t.Error(err)
		}
	}
	g.Banned = func(a netip.Addr, at time.Time) bool { return live.Load().Banned(a, at) != nil }
	check := checkrep.New(live)
	ip := netip.MustParseAddr("198.51.100.31")
	now := time.Now()
	screenCall := func() *screen.Verdict {
		var v screen.Verdict
		check.Check(ctx, &screen.Call{SourceIP: ip, Time: now.Add(time.Second), Digits: "12125550100"}, &v)
		return &v
	}
	if v := screenCall(); v.Action != screen.Allow {
		t.Fatalf("before any failure: %v %+v; want allow", v.Action, v.Reasons())
	}
	done := make(chan error)
	go func() {
		for i := range 3 {
			if _, err := g.Observe(ctx, Event{Time: now.Add(time.Duration(i) * time.Millisecond), IP: ip, Kind: KindUnknownAccount, Source: "sipfront"}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	<-held.begun
	if v := screenCall(); v.Action != screen.Reject || !v.Has("banned_ip") {
		t.Errorf("while the ban's commit waits: %v %+v; want reject, banned_ip", v.Action, v.Reasons())
	}
	if err := reputation.Refresh(ctx, db, live, now); err != nil {
		t.Fatal(err)
	}
	if v := screenCall(); !v.Has("banned_ip") {
		t.Errorf("after a refresh before the commit: %+v; want banned_ip", v.Reasons())
	}
	close(held.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	bs, err := db.Bans(ctx, now, false)
	if err != nil || len(bs) != 1 {
		t.Fatalf("stored bans: %+v %v; want one", bs, err)
	}
	if v := screenCall(); !v.Has("banned_ip") || v.Reasons()[0].Rule != "bans."+strconv.FormatInt(bs[0].ID, 10) {
		t.Errorf("after the commit: %+v; want banned_ip by the stored ban %d", v.Reasons(), bs[0].ID)
	}
}
