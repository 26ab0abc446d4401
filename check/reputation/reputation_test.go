package reputation

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/number"
	rep "github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
)

func TestCheck(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	set := rep.Build([]rep.Entry{
		{Kind: rep.KindIP, Value: "198.51.100.7", Source: rep.SourceHoneypot, Score: 80, Reason: "scanned"},
		{Kind: rep.KindIP, Value: "198.51.100.8", Source: rep.SourceFeed, Score: 10},
		{Kind: rep.KindUA, Value: "friendly-scanner", Source: rep.SourceHoneypot, Score: 90},
		{Kind: rep.KindNumber, Value: "+442079460123", Source: rep.SourceHoneypot, Score: 90, Reason: "dialed at the honeypot"},
		{Kind: rep.KindRange, Value: "+88216", Source: rep.SourceFeed, Score: 70},
		{Kind: rep.KindNumber, Value: "+442079460999", Source: rep.SourceHoneypot, Score: 90, Expires: now.Add(-time.Minute)},
		{Kind: rep.KindNumber, Value: "+12125550199", Source: rep.SourceHoneypot, Score: 90, Status: rep.StatusSuspected, Reason: "dialed once"},
		{Kind: rep.KindRange, Value: "+1900555", Source: rep.SourceHoneypot, Score: 90, Status: rep.StatusSuspected},
		{Kind: rep.KindIP, Value: "127.0.0.7", Source: rep.SourceHoneypot, Score: 90, Reason: "svmap"},
	}, []rep.Ban{{ID: 4, IP: "203.0.113.9", Reason: "3 failures", Expires: now.Add(time.Hour)},
		{ID: 5, IP: "127.0.0.7", Reason: "scanner", Expires: now.Add(time.Hour)}})
	trusted := rep.Policy{IPAction: "reject", NumberAction: "reject", Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.7/32")}}
	for _, c := range []struct {
		name   string
		pol    rep.Policy
		ip, ua string
		digits string
		want   screen.Action
		code   string
	}{
		{"clean call", rep.DefaultPolicy, "192.0.2.1", "Yealink", "442079460000", screen.Allow, ""},
		{"banned source", rep.DefaultPolicy, "203.0.113.9", "", "442079460000", screen.Reject, "banned_ip"},
		{"scanner ip to honeypot", rep.DefaultPolicy, "198.51.100.7", "", "1", screen.Honeypot, "bad_source_ip"},
		{"scanner ip rejected", rep.Policy{IPAction: "reject"}, "198.51.100.7", "", "1", screen.Reject, "bad_source_ip"},
		{"low score ignored", rep.Policy{MinScore: 50}, "198.51.100.8", "", "1", screen.Allow, ""},
		{"scanner UA", rep.DefaultPolicy, "192.0.2.1", "friendly-scanner", "1", screen.Honeypot, "scanner_user_agent"},
		{"number dialed at honeypot", rep.DefaultPolicy, "192.0.2.1", "", "442079460123", screen.Reject, "attacker_dialed_number"},
		{"number challenged", rep.Policy{NumberAction: "challenge"}, "192.0.2.1", "", "442079460123", screen.Challenge, "attacker_dialed_number"},
		{"number scored", rep.Policy{NumberAction: "score"}, "192.0.2.1", "", "442079460123", screen.Allow, "attacker_dialed_number"},
		{"range", rep.DefaultPolicy, "192.0.2.1", "", "8821612345", screen.Reject, "attacker_dialed_range"},
		{"expired number", rep.DefaultPolicy, "192.0.2.1", "", "442079460999", screen.Allow, ""},
		// A suspected number or range adds risk and refuses nothing,
		// whatever the number action.
		{"suspected number", rep.DefaultPolicy, "192.0.2.1", "", "12125550199", screen.Allow, "suspected_dialed_number"},
		{"suspected number, challenge", rep.Policy{NumberAction: "challenge"}, "192.0.2.1", "", "12125550199", screen.Allow, "suspected_dialed_number"},
		{"suspected range", rep.DefaultPolicy, "192.0.2.1", "", "19005550100", screen.Allow, "suspected_dialed_range"},
		// A trusted source is not blocked by its ban or address entry…
		{"banned untrusted", rep.Policy{IPAction: "reject"}, "127.0.0.7", "", "1", screen.Reject, "banned_ip"},
		{"trusted source", trusted, "127.0.0.7", "Yealink", "442079460000", screen.Allow, ""},
		// …but the numbers it calls and a scanner User-Agent it relays
		// still count.
		{"trusted source, confirmed number", trusted, "127.0.0.7", "", "442079460123", screen.Reject, "attacker_dialed_number"},
		{"trusted source, scanner UA", trusted, "127.0.0.7", "friendly-scanner", "1", screen.Reject, "scanner_user_agent"},
	} {
		live := rep.NewLive(c.pol)
		live.Replace(set)
		ch := New(live)
		call := &screen.Call{SourceIP: netip.MustParseAddr(c.ip), UserAgent: c.ua, Time: now, Digits: c.digits, Dest: number.Info{E164: "+" + c.digits}}
		var v screen.Verdict
		ch.Check(context.Background(), call, &v)
		if c.code == "suspected_dialed_number" || c.code == "suspected_dialed_range" {
			if r := v.Reasons(); len(r) != 1 || r[0].Risk != SuspectRisk || v.Risk != SuspectRisk {
				t.Errorf("%s: reasons %+v, risk %d; want one reason of risk %d", c.name, r, v.Risk, SuspectRisk)
			}
		}
		if v.Action != c.want || (c.code != "" && !v.Has(c.code)) || (c.code == "" && len(v.Reasons()) != 0) {
			t.Errorf("%s: action %v reasons %+v; want %v %q", c.name, v.Action, v.Reasons(), c.want, c.code)
		}
	}
	if c, _ := Setup(&check.Env{}); c != nil {
		t.Errorf("Setup without a reputation database = %v, want no check", c)
	}
}

func BenchmarkCheck(b *testing.B) {
	now := time.Now()
	var es []rep.Entry
	for i := range 10000 {
		es = append(es, rep.Entry{Kind: rep.KindNumber, Value: "+4420794" + string(rune('0'+i%10)) + "0000", Score: 90})
	}
	live := rep.NewLive(rep.DefaultPolicy)
	live.Replace(rep.Build(es, nil))
	ch := New(live)
	call := &screen.Call{SourceIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "Yealink SIP-T46S", Time: now, Digits: "442071234567"}
	var v screen.Verdict
	b.ReportAllocs()
	for b.Loop() {
		v.Reset()
		ch.Check(context.Background(), call, &v)
	}
}

// BenchmarkCheckTrusted is BenchmarkCheck with 16 trusted networks, none
// covering the caller: the trust test is a scan of them on every call.
func BenchmarkCheckTrusted(b *testing.B) {
	now := time.Now()
	var es []rep.Entry
	for i := range 10000 {
		es = append(es, rep.Entry{Kind: rep.KindNumber, Value: "+4420794" + string(rune('0'+i%10)) + "0000", Score: 90})
	}
	pol := rep.DefaultPolicy
	for i := range 16 {
		pol.Trusted = append(pol.Trusted, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
	}
	live := rep.NewLive(pol)
	live.Replace(rep.Build(es, nil))
	ch := New(live)
	call := &screen.Call{SourceIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "Yealink SIP-T46S", Time: now, Digits: "442071234567"}
	var v screen.Verdict
	b.ReportAllocs()
	for b.Loop() {
		v.Reset()
		ch.Check(context.Background(), call, &v)
	}
}

// BenchmarkCheckLockouts is BenchmarkCheck with 1,000 account lockouts
// (half of them naming a tenant), voicemail numbers configured and a call
// of a tenant's extension that none of them covers: the lockout look-ups
// a call pays (tenant's own, then the tenant-less one, for the
// credentials' username and the extension).
func BenchmarkCheckLockouts(b *testing.B) {
	now := time.Now()
	var es []rep.Entry
	for i := range 10000 {
		es = append(es, rep.Entry{Kind: rep.KindNumber, Value: "+4420794" + string(rune('0'+i%10)) + "0000", Score: 90})
	}
	var ls []rep.Lockout
	for i := range 1000 {
		l := rep.Lockout{Kind: rep.LockAccount, Subject: strconv.Itoa(5000 + i), Since: now.Add(-time.Minute), Until: now.Add(time.Hour)}
		if i%2 == 0 {
			l.Tenant = "acme"
		}
		ls = append(ls, l)
	}
	pol := rep.DefaultPolicy
	pol.VoicemailNumbers = []string{"*97", "*98"}
	live := rep.NewLive(pol)
	live.Replace(rep.BuildAll(es, nil, ls))
	ch := New(live)
	call := &screen.Call{Tenant: "acme", Extension: "1001", AuthUser: "1001", Callee: "442071234567", SourceIP: netip.MustParseAddr("192.0.2.1"),
		UserAgent: "Yealink SIP-T46S", Time: now, Digits: "442071234567"}
	var v screen.Verdict
	b.ReportAllocs()
	for b.Loop() {
		v.Reset()
		ch.Check(context.Background(), call, &v)
	}
}
