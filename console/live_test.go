package console

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

func TestLiveSnapshot(t *testing.T) {
	l := &Live{tenants: map[string]*ring{}}
	t0 := time.Date(2026, 11, 23, 3, 0, 30, 0, time.UTC)
	add := func(tenant, ext, country, action string, risk int, at time.Time) {
		l.add(store.Decision{Tenant: tenant, Extension: ext, Country: country, Action: action, Enforced: action, Risk: risk}, at)
	}
	for i := range 5 {
		add("acme", "1001", "SO", "reject", 100, t0.Add(time.Duration(i)*time.Second))
	}
	add("acme", "1002", "GB", "challenge", 20, t0)
	add("beta", "2001", "DE", "allow", 0, t0.Add(-20*time.Minute)) // outside the top lists' 15 minutes
	add("beta", "2001", "DE", "allow", 0, t0.Add(-2*time.Hour))    // outside the hour
	all := l.Snapshot("", t0.Add(10*time.Second))
	if all.LastMinute != [4]int{0, 1, 0, 5} || all.Total != [4]int{1, 1, 0, 5} {
		t.Errorf("last minute %v, hour %v", all.LastMinute, all.Total)
	}
	if len(all.Countries) != 2 || all.Countries[0].Key != "SO" || all.Countries[0].Refused != 5 || all.Countries[0].MaxRisk != 100 {
		t.Errorf("countries = %+v", all.Countries)
	}
	if all.Series[Minutes-21].Verdicts[0] != 1 {
		t.Errorf("the minute 20 minutes ago = %v, want one allow", all.Series[Minutes-21])
	}
	beta := l.Snapshot("beta", t0.Add(10*time.Second))
	if beta.Total != [4]int{1, 0, 0, 0} || len(beta.Extensions) != 0 {
		t.Errorf("beta = %v, extensions %v; want only beta's call, none in the last 15 min", beta.Total, beta.Extensions)
	}
	// The chart is well-formed XML with a text alternative.
	svg := VerdictChart(all)
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("chart is not XML: %v", err)
	}
	if !strings.Contains(svg, "<desc id=\"vc-desc\">Last hour: 1 allowed, 1 challenged, 0 sent to the honeypot, 5 rejected") {
		t.Errorf("chart description missing: %.300s", svg)
	}
	for n, want := range map[int]int{0: 4, 3: 4, 5: 8, 9: 20, 21: 40, 950: 2000} {
		if got := niceMax(n); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", n, got, want)
		}
	}
}

// "Last minute" is the last sixty seconds: calls made just before the
// minute turns still count just after it, and drop out sixty seconds on.
func TestLiveLastMinuteRolls(t *testing.T) {
	l := &Live{tenants: map[string]*ring{}}
	t0 := time.Date(2026, 11, 23, 3, 0, 58, 0, time.UTC)
	for i := range 12 {
		l.add(store.Decision{Tenant: "acme", Extension: "1001", Action: "allow"}, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	for _, c := range []struct {
		after time.Duration
		want  int
	}{{2 * time.Second, 12}, {59 * time.Second, 12}, {61 * time.Second, 0}} {
		if got := l.Snapshot("", t0.Add(c.after)).LastMinute[0]; got != c.want {
			t.Errorf("%v after the calls: last minute = %d, want %d", c.after, got, c.want)
		}
	}
}

func TestLiveBoundsKeys(t *testing.T) {
	l := &Live{tenants: map[string]*ring{}}
	now := time.Unix(1_800_000_000, 0)
	for i := range maxKeys + 500 {
		l.add(store.Decision{Tenant: "t", Extension: string(rune('a'+i%26)) + strings.Repeat("x", i%1000) + string(rune(i)), Action: "allow"}, now)
	}
	if n := len(l.tenants["t"].min[(now.Unix()/60)%Minutes].exts); n != maxKeys {
		t.Errorf("extensions kept = %d, want the cap %d", n, maxKeys)
	}
}

// BenchmarkLiveDecision is the cost the live view adds to each screened
// call on the hot path: a non-blocking channel send.
func BenchmarkLiveDecision(b *testing.B) {
	l := NewLive(nil)
	defer l.Close()
	d := store.Decision{Tenant: "acme", Extension: "1001", Country: "GB", Action: "allow", Enforced: "allow"}
	b.ReportAllocs()
	for b.Loop() {
		l.Decision(d)
	}
}

// TestLiveCountsQueued: decisions are counted at the next tick without a
// full queue, a full queue's worth at once, and the ones still queued
// when the view closes are counted by Close.
func TestLiveCountsQueued(t *testing.T) {
	l := NewLive(nil)
	d := store.Decision{Tenant: "acme", Extension: "1001", Country: "GB", Action: "allow", Enforced: "allow"}
	waitCounted := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for l.counted.Load() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := l.counted.Load(); got != n {
			t.Fatalf("counted %d, want %d", got, n)
		}
	}
	for range 3 {
		l.Decision(d)
	}
	waitCounted(3)
	for range liveKick + 5 {
		l.Decision(d)
	}
	waitCounted(liveKick + 8)
	for range 7 {
		l.Decision(d)
	}
	l.Close()
	if got := l.counted.Load(); got != liveKick+15 || l.Dropped() != 0 {
		t.Errorf("after Close counted %d (dropped %d), want %d", got, l.Dropped(), liveKick+15)
	}
}
