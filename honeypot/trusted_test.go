package honeypot_test

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestTrustedScannerNotBlocked runs SIPVicious's svmap at the decoy from
// a trusted loopback address (attack.trusted) and from an untrusted one.
// The trusted source is recorded but gets no ban and no address entry,
// and a call screened from it is allowed — also when a ban and an
// address entry for it are in the store anyway (from an older tollgate,
// a feed, another node). Releasing the untrusted scanner's ban releases
// the address entry the decoy learned from the same scan, so its next
// call is no longer refused.
func TestTrustedScannerNotBlocked(t *testing.T) {
	if _, err := exec.LookPath("svmap"); err != nil {
		t.Fatalf("svmap not installed (scripts/test.sh installs sipvicious): %v", err)
	}
	trusted := netip.MustParsePrefix("127.0.0.7/32")
	r := newRig(t, trusted)
	ctx := context.Background()
	run(t, 60*time.Second, "svmap", "-b", "127.0.0.7", "-p", r.port, "127.0.0.1")
	waitFor(t, "the trusted scan recorded", func() bool { return len(r.events(t, "127.0.0.7")) > 0 })
	// The untrusted scan comes after it through the same recorder: once
	// its entry is stored, the trusted scan has been folded too.
	run(t, 60*time.Second, "svmap", "-b", "127.0.0.5", "-p", r.port, "127.0.0.1")
	waitFor(t, "the untrusted scanner banned and listed", func() bool {
		_, err := r.db.Get(ctx, reputation.KindIP, "127.0.0.5")
		return err == nil && r.banned(t, "127.0.0.5") != nil
	})
	if _, err := r.db.Get(ctx, reputation.KindIP, "127.0.0.7"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("trusted scanner's address learned: %v", err)
	}
	if b := r.banned(t, "127.0.0.7"); b != nil {
		t.Fatalf("trusted scanner banned: %+v", b)
	}
	if st := r.hp.Stats(); st.Trusted == 0 {
		t.Errorf("stats %+v: no event counted as trusted", st)
	}

	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\n"))
	if err != nil {
		t.Fatal(err)
	}
	live := reputation.NewLive(reputation.Policy{IPAction: "reject", NumberAction: "reject", Trusted: []netip.Prefix{trusted}})
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: r.intel, Env: check.Env{Reputation: live}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	screenFrom := func(src string) *screen.Verdict {
		t.Helper()
		if err := reputation.Refresh(ctx, r.db, live, time.Now()); err != nil {
			t.Fatal(err)
		}
		c := &screen.Call{ID: "c-" + src, Tenant: "acme", Extension: "1001", Caller: "+12125550100", Callee: "12125550123",
			UserAgent: "Yealink SIP-T46S", SourceIP: netip.MustParseAddr(src), Time: time.Now()}
		var v screen.Verdict
		if err := eng.Screen(ctx, c, &v); err != nil {
			t.Fatal(err)
		}
		return &v
	}
	if v := screenFrom("127.0.0.7"); v.Action != screen.Allow || v.Has("bad_source_ip") || v.Has("banned_ip") {
		t.Fatalf("call from the trusted address after its scan: %v %+v; want allow", v.Action, v.Reasons())
	}
	if v := screenFrom("127.0.0.5"); v.Action != screen.Reject || !v.Has("banned_ip") {
		t.Fatalf("call from the untrusted scanner: %v %+v; want reject for banned_ip", v.Action, v.Reasons())
	}

	// Learned data about the trusted address that reached the store some
	// other way is not applied to it.
	now := time.Now()
	if _, err := r.db.Upsert(ctx, reputation.Entry{Kind: reputation.KindIP, Value: "127.0.0.7", Source: reputation.SourceHoneypot, Score: 90, Reason: "old scan"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.db.AddBan(ctx, reputation.Ban{IP: "127.0.0.7", Source: "feed", Reason: "old ban", Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if v := screenFrom("127.0.0.7"); v.Action != screen.Allow || len(v.Reasons()) != 0 {
		t.Fatalf("call from the trusted address with a stored ban and entry: %v %+v; want allow", v.Action, v.Reasons())
	}

	// Releasing the untrusted scanner's ban frees what the scan taught.
	b := r.banned(t, "127.0.0.5")
	rel, err := r.db.ReleaseBan(ctx, b.ID)
	if err != nil || rel.Freed != "ip/127.0.0.5" {
		t.Fatalf("release = %+v, %v; want the address entry freed", rel, err)
	}
	if _, err := r.db.Get(ctx, reputation.KindIP, "127.0.0.5"); !errors.Is(err, reputation.ErrNotFound) {
		t.Fatalf("address entry after the release: %v", err)
	}
	if v := screenFrom("127.0.0.5"); v.Action != screen.Allow || len(v.Reasons()) != 0 {
		t.Fatalf("call from the released address: %v %+v; want allow", v.Action, v.Reasons())
	}
}
