package attack_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/reputation"
)

var quiet = slog.New(slog.DiscardHandler)

func TestBanEscalation(t *testing.T) {
	ctx := context.Background()
	st := openDB(t)
	g := NewGuard(Policy{}, st, NewTrust(netip.MustParsePrefix("203.0.113.0/24")), quiet)
	ip := netip.MustParseAddr("198.51.100.7")
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	fail := func(at time.Time) Outcome {
		out, err := g.Observe(ctx, Event{Time: at, IP: ip, Kind: KindAuthFailure, Source: SourceAsterisk, Username: "100"})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Two failures, then one outside the 5-minute window: no ban.
	fail(t0)
	fail(t0.Add(time.Minute))
	if out := fail(t0.Add(6 * time.Minute)); out.Ban != nil {
		t.Fatalf("banned after failures spread over more than 5 minutes")
	}
	if out := fail(t0.Add(7 * time.Minute)); out.Ban != nil {
		t.Fatalf("banned after 2 failures in the window")
	}
	out := fail(t0.Add(8 * time.Minute))
	if out.Ban == nil || out.Ban.Expires.Sub(out.Ban.Created) != 24*time.Hour || out.Ban.Level != 0 {
		t.Fatalf("third failure in 5 min: ban %+v, want a 24 h ban at level 0", out.Ban)
	}
	// While banned, more failures do not stack bans.
	if out := fail(t0.Add(9 * time.Minute)); out.Ban != nil {
		t.Fatalf("second ban while banned")
	}
	// After expiry, a repeat offender gets the next step: 7 days.
	t1 := t0.Add(25 * time.Hour)
	fail(t1)
	fail(t1.Add(time.Second))
	out = fail(t1.Add(2 * time.Second))
	if out.Ban == nil || out.Ban.Expires.Sub(out.Ban.Created) != 7*24*time.Hour || out.Ban.Level != 1 {
		t.Fatalf("repeat offender: ban %+v, want 7 days at level 1", out.Ban)
	}
	// The account got locked on its fifth failure along the way.
	ls, _ := st.Lockouts(ctx, t0.Add(10*time.Minute))
	if len(ls) != 1 || ls[0].Subject != "100" || ls[0].Until.Sub(ls[0].Since) != 30*time.Minute {
		t.Fatalf("lockouts = %+v, want account 100 locked 30 min", ls)
	}
}

func TestScannerUABansAtOnceButNeverTrusted(t *testing.T) {
	ctx := context.Background()
	st := openDB(t)
	g := NewGuard(Policy{}, st, NewTrust(netip.MustParsePrefix("127.0.0.2/32")), quiet)
	now := time.Now()
	out, err := g.Observe(ctx, Event{Time: now, IP: netip.MustParseAddr("127.0.0.9"), Kind: KindScan, UserAgent: "friendly-scanner", Source: SourceHoneypot})
	if err != nil || out.Ban == nil || !strings.Contains(out.Ban.Reason, "friendly-scanner") {
		t.Fatalf("scanner UA: %+v %v, want an immediate ban", out.Ban, err)
	}
	for i := range 10 {
		out, err := g.Observe(ctx, Event{Time: now.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("127.0.0.2"), Kind: KindAuthFailure, UserAgent: "sipvicious", Source: SourceHoneypot})
		if err != nil || out.Ban != nil || !out.Trusted {
			t.Fatalf("trusted source: ban %+v err %v trusted %v", out.Ban, err, out.Trusted)
		}
	}
	if _, err := g.Ban(ctx, netip.MustParseAddr("127.0.0.2"), "manual", "manual", now); !errors.Is(err, ErrTrusted) {
		t.Fatalf("manual ban of a trusted address: err %v, want ErrTrusted", err)
	}
	if _, err := g.BanPrefix(ctx, netip.MustParsePrefix("127.0.0.0/24"), "feed", "feed", now, time.Hour); !errors.Is(err, ErrTrusted) {
		t.Fatalf("network ban covering a trusted address: err %v, want ErrTrusted", err)
	}
	bans, _ := st.Bans(ctx, now, true)
	if len(bans) != 1 || bans[0].IP != "127.0.0.9" {
		t.Fatalf("bans = %+v, want only the scanner", bans)
	}
}

func TestVoicemailLockout(t *testing.T) {
	ctx := context.Background()
	st := openDB(t)
	g := NewGuard(Policy{}, st, nil, quiet)
	now := time.Now()
	var out Outcome
	for i := range 3 {
		var err error
		out, err = g.Observe(ctx, Event{Time: now.Add(time.Duration(i) * time.Second), IP: netip.MustParseAddr("192.0.2.50"), Kind: KindVoicemailPIN, Username: "2001", Source: SourceAPI})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 && out.Lockout != nil {
			t.Fatalf("locked after %d wrong PINs", i+1)
		}
	}
	if out.Lockout == nil || out.Lockout.Kind != reputation.LockVoicemail {
		t.Fatalf("third wrong PIN: %+v, want a voicemail lockout", out.Lockout)
	}
}

func TestExports(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	bans := []reputation.Ban{
		{IP: "198.51.100.7", Created: now, Expires: now.Add(24 * time.Hour)},
		{IP: "2001:db8::/64", Created: now, Expires: now.Add(time.Hour)},
		{IP: "198.51.100.8", Created: now, Expires: now.Add(time.Hour), Released: true},
	}
	var b bytes.Buffer
	if err := WriteBans(&b, ExportNFT, bans, now); err != nil {
		t.Fatal(err)
	}
	want := "add element inet tollgate banned4 { 198.51.100.7 timeout 86400s }\nadd element inet tollgate banned6 { 2001:db8::/64 timeout 3600s }\n"
	if !strings.HasSuffix(b.String(), want) || strings.Contains(b.String(), "198.51.100.8") {
		t.Fatalf("nft export:\n%s", b.String())
	}
	b.Reset()
	if err := WriteBans(&b, ExportKamcmd, bans, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "kamcmd htable.seti tollgate_ban 198.51.100.7 1795514400\n") {
		t.Fatalf("kamcmd export:\n%s", b.String())
	}
	b.Reset()
	if err := WriteBans(&b, ExportJSONRPC, bans, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `{"id":1,"jsonrpc":"2.0","method":"htable.seti","params":["tollgate_ban","198.51.100.7",1795514400]}`) {
		t.Fatalf("jsonrpc export:\n%s", b.String())
	}
	if err := WriteBans(&b, "iptables", bans, now); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// TestIPv6RotationBansTheNetwork: a scanner rotating through its /64,
// one failure per address, is counted and banned as the /64; any other
// address of it is then refused, another /64 is not. A /64 holding a
// trusted address is counted and banned per address instead.
func TestIPv6RotationBansTheNetwork(t *testing.T) {
	ctx := context.Background()
	st := openDB(t)
	live := reputation.NewLive(reputation.DefaultPolicy)
	g := NewGuard(Policy{}, reputation.Enforcing{Store: st, Live: live}, NewTrust(netip.MustParsePrefix("2001:db8:7:7::1/128")), quiet)
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	var out Outcome
	for i := range 3 {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, byte(i), 0x99})
		var err error
		if out, err = g.Observe(ctx, Event{Time: now.Add(time.Duration(i) * time.Second), IP: ip, Kind: KindUnknownAccount, Source: SourceSIPFront}); err != nil {
			t.Fatal(err)
		}
	}
	if out.Ban == nil || out.Ban.IP != "2001:db8:1:2::/64" {
		t.Fatalf("three failures from three addresses of one /64: ban %+v; want 2001:db8:1:2::/64", out.Ban)
	}
	at := now.Add(time.Minute)
	if live.Load().Banned(netip.MustParseAddr("2001:db8:1:2:abcd::1"), at) == nil {
		t.Error("another address of the banned /64 not refused")
	}
	if live.Load().Banned(netip.MustParseAddr("2001:db8:1:3::1"), at) != nil {
		t.Error("an address of the next /64 refused")
	}
	// The /64 of a trusted address: three rotating addresses, no ban.
	for i := range 3 {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 7, 0, 7, 0, 0, 0, 0, 0, 0, 1, byte(i)})
		if out, err := g.Observe(ctx, Event{Time: now.Add(time.Duration(i) * time.Second), IP: ip, Kind: KindUnknownAccount, Source: SourceSIPFront}); err != nil || out.Ban != nil {
			t.Fatalf("rotation in a /64 with a trusted address: ban %+v err %v; want none", out.Ban, err)
		}
	}
}

// Ban poisoning: an attacker forges one UDP packet with a scanner
// User-Agent from the address a real phone logs in from. The phone's
// address must not be banned for it; a scanner User-Agent over TCP (the
// handshake proves the address) and one from an address that never
// authenticated still ban at once, and real failures still count.
func TestScannerUAForgedFromKnownGoodSourceDoesNotBan(t *testing.T) {
	ctx := context.Background()
	g := NewGuard(Policy{MaxFailures: 3}, openDB(t), nil, quiet)
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	phone := netip.MustParseAddr("198.51.100.20")
	if _, err := g.Observe(ctx, Event{Time: now, IP: phone, Transport: "udp", Kind: KindAuthSuccess, Username: "1001", Source: SourceSIPFront}); err != nil {
		t.Fatal(err)
	}
	forged := Event{Time: now.Add(time.Hour), IP: phone, Transport: "udp", Kind: KindScan, UserAgent: "friendly-scanner", Source: SourceSIPFront}
	if out, err := g.Observe(ctx, forged); err != nil || out.Ban != nil {
		t.Fatalf("forged scanner UA from the phone's address: ban %+v err %v, want none", out.Ban, err)
	}
	forged.Transport = "" // a PBX log line names no transport
	if out, _ := g.Observe(ctx, forged); out.Ban != nil {
		t.Fatalf("forged scanner UA without transport: ban %+v, want none", out.Ban)
	}
	// Over TCP the address is proven: banned.
	tcp := forged
	tcp.Transport = "tcp"
	if out, err := g.Observe(ctx, tcp); err != nil || out.Ban == nil {
		t.Fatalf("scanner UA over TCP from the same address: ban %+v err %v, want a ban", out.Ban, err)
	}
	// An address that never authenticated is banned on the first UDP packet.
	other := forged
	other.IP = netip.MustParseAddr("198.51.100.99")
	if out, _ := g.Observe(ctx, other); out.Ban == nil {
		t.Fatal("scanner UA over UDP from an unknown address: no ban")
	}
	// Once the known-good window is over, the exception is gone.
	late := forged
	late.IP = netip.MustParseAddr("198.51.100.21")
	if _, err := g.Observe(ctx, Event{Time: now, IP: late.IP, Transport: "udp", Kind: KindAuthSuccess, Username: "1002", Source: SourceSIPFront}); err != nil {
		t.Fatal(err)
	}
	late.Time = now.Add(31 * 24 * time.Hour)
	if out, _ := g.Observe(ctx, late); out.Ban == nil {
		t.Fatal("scanner UA 31 days after the last login: no ban, want one")
	}
	// Real failures from the phone's address still count towards a ban.
	g2 := NewGuard(Policy{MaxFailures: 3}, openDB(t), nil, quiet)
	g2.Observe(ctx, Event{Time: now, IP: phone, Transport: "udp", Kind: KindAuthSuccess, Username: "1001", Source: SourceSIPFront})
	var out Outcome
	for i := range 3 {
		out, _ = g2.Observe(ctx, Event{Time: now.Add(time.Duration(i+1) * time.Second), IP: phone, Transport: "udp", Kind: KindAuthFailure, Username: "x", Source: SourceSIPFront})
	}
	if out.Ban == nil {
		t.Fatal("three failures from a known-good address: no ban")
	}
}
