package baseline

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

var ny, _ = time.LoadLocation("America/New_York")

// learnDays teaches an extension n calls a day, each day's peak
// concurrency peak(d), for days days from a Monday.
func learnDays(l *Learner, days, n int, peak func(d int) int) time.Time {
	t0 := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC) // Monday 10:00 in New York
	for d := range days {
		for k := range n {
			t := t0.Add(time.Duration(d)*24*time.Hour + time.Duration(k)*time.Minute)
			l.Learn("acme", "1001", t, t.In(ny), "GB", true, 60+k, peak(d))
		}
	}
	return t0
}

func TestWarmUp(t *testing.T) {
	l := New()
	t0 := learnDays(l, 3, 20, func(int) int { return 1 })
	p := l.Extension("acme", "1001")
	for _, c := range []struct {
		at        time.Time
		days, min int
		want      bool
	}{
		{t0.Add(2 * 24 * time.Hour), 7, 30, false}, // two days of history, 60 calls
		{t0.Add(7 * 24 * time.Hour), 7, 30, true},  // seven days after the first call
		{t0.Add(7 * 24 * time.Hour), 7, 61, false}, // but too few calls
		{t0.Add(3 * 24 * time.Hour), 0, 0, true},
	} {
		if got := p.Warm(c.at.Unix(), c.days, c.min); got != c.want {
			t.Errorf("Warm(%s, %d days, %d calls) = %v; want %v", c.at, c.days, c.min, got, c.want)
		}
	}
	var none *Profile
	if none.Warm(t0.Unix()+1e9, 0, 0) {
		t.Error("a nil profile is warm")
	}
	if l.TenantProfile("acme").Calls != 60 || l.Extension("acme", "1002") != nil {
		t.Error("tenant profile not learned alongside, or a profile for an extension never seen")
	}
}

// TestPeakConcurrencyRobust: one wild day moves the median + 3 MAD bound
// hardly at all, where a mean would follow it.
func TestPeakConcurrencyRobust(t *testing.T) {
	l := New()
	learnDays(l, 21, 3, func(d int) int {
		if d == 10 {
			return 60 // a day of fraud
		}
		return 2 + d%2 // 2 or 3
	})
	p := l.Extension("acme", "1001")
	got := p.PeakConcurrency()
	// 21 days of peaks: ten of 2, ten of 3 and one 60 → median 3, MAD 1:
	// 3 + 3 × 1.4826 = 7.45 (mean + 3 σ would be about 43).
	if math.Abs(got-7.45) > 0.01 {
		t.Errorf("PeakConcurrency = %.2f; want about the usual 2–3 despite a day at 60", got)
	}
	if New().Extension("x", "y").PeakConcurrency() != 1 || (&Profile{}).PeakConcurrency() != 1 {
		t.Error("an empty profile's peak is not 1")
	}
	// Only the last Days days count.
	l2 := New()
	learnDays(l2, Days+10, 1, func(d int) int {
		if d < 10 {
			return 40
		}
		return 1
	})
	if got := l2.Extension("acme", "1001").PeakConcurrency(); got != 1 {
		t.Errorf("PeakConcurrency with the busy days older than %d days = %.2f; want 1", Days, got)
	}
}

func TestHourShareAndQuantile(t *testing.T) {
	l := New()
	t0 := learnDays(l, 7, 10, func(int) int { return 1 })
	p := l.Extension("acme", "1001")
	if s := p.HourShare(t0.In(ny)); s < 0.13 || s > 0.15 { // 10 of 70 calls on Monday 10:00
		t.Errorf("HourShare(Monday 10:00) = %.3f; want 1/7", s)
	}
	if s := p.HourShare(t0.Add(-7 * time.Hour).In(ny)); s != 0 {
		t.Errorf("HourShare(03:00) = %.3f; want 0", s)
	}
	// Durations 60–69 s fall in [32, 64) and [64, 128).
	if q := p.DurationQuantile(0.5); q != 64 && q != 128 {
		t.Errorf("median duration bucket = %v; want 64 or 128", q)
	}
	if !p.Knows("GB") || p.Knows("FR") {
		t.Error("countries not learned")
	}
}

func TestConcurrent(t *testing.T) {
	l := New()
	// Calls [0,100) [10,50) [20,30): at 20 three are up; at 60 two.
	for i, c := range [][2]int64{{0, 100}, {10, 50}, {20, 30}, {60, 70}} {
		n := l.Concurrent("acme", "1001", c[0], c[1])
		if want := []int{1, 2, 3, 2}[i]; n != want {
			t.Errorf("call %d: Concurrent = %d; want %d", i, n, want)
		}
	}
	if n := l.Concurrent("acme", "1002", 20, 30); n != 1 {
		t.Errorf("another extension: %d; want 1", n)
	}
}

// TestPersistRoundTrip: Save then Load gives the same profiles, and the
// snapshot is a copy that later learning does not change.
func TestPersistRoundTrip(t *testing.T) {
	l := New()
	learnDays(l, 9, 4, func(d int) int { return d%3 + 1 })
	var b bytes.Buffer
	if err := l.Save(&b); err != nil {
		t.Fatal(err)
	}
	back, err := Load(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]*Profile{l.Ext, l.Tenant} {
		for _, p := range m {
			p.recent = nil // the last hour's call times are not persisted
		}
	}
	if !reflect.DeepEqual(back.Ext, l.Ext) || !reflect.DeepEqual(back.Tenant, l.Tenant) {
		t.Error("profiles differ after Save and Load")
	}
	p, q := l.Extension("acme", "1001"), back.Extension("acme", "1001")
	if p.PeakConcurrency() != q.PeakConcurrency() || !p.Warm(p.Last, 7, 30) || !q.Warm(p.Last, 7, 30) {
		t.Error("the reloaded profile judges differently")
	}
	snap := l.Snapshot(time.Now())
	calls := snap.Extension("acme", "1001").Calls
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	l.Learn("acme", "1001", now, now.In(ny), "FR", true, 10, 1)
	if s := snap.Extension("acme", "1001"); s.Calls != calls || s.Knows("FR") {
		t.Error("the snapshot changed with later learning")
	}
	// Bad input is an error, never a half-loaded learner.
	for _, bad := range []string{"", "{", `{"extensions": 5}`, `{"extensions": {"a": {"hours": "x"}}}`} {
		if _, err := Load(bytes.NewReader([]byte(bad))); err == nil {
			t.Errorf("Load(%q) succeeded", bad)
		}
	}
	// A profile with nulls in the file loads as empty maps, not a crash.
	l3, err := Load(bytes.NewReader([]byte(`{"version":1,"extensions":{"acme\u00001001":null},"tenants":{}}`)))
	if err != nil || l3.Extension("acme", "1001") != nil {
		t.Errorf("null profile: %v, %v", err, l3)
	}
	var v map[string]any
	if err := json.Unmarshal(b.Bytes(), &v); err != nil || v["version"] != 1.0 {
		t.Errorf("saved form has no version: %v", err)
	}
}

// window counts, for calls arriving in any order (late ones included),
// what a plain count over every call kept says: the calls in the hour and
// in the BurstWindow ending at each call, that call included.
func TestWindowCountsLikeAPlainCount(t *testing.T) {
	var p Profile
	var kept []int64 // what recent should hold
	x := uint64(7)
	now := int64(1_800_000_000)
	for k := range 20000 {
		x = x*6364136223846793005 + 1442695040888963407
		at := now + int64(x>>40%7) // mostly in order …
		if x>>33%10 == 0 {
			at -= int64(x >> 20 % 4000) // … some late, some over an hour late
		}
		now = max(now, at)
		var keep []int64
		for _, u := range kept {
			if u > at-3600 {
				keep = append(keep, u)
			}
		}
		if len(keep) >= 4096 {
			keep = keep[len(keep)-4095:]
		}
		kept = append(keep, at)
		sortInt64(kept)
		hour, burst := 0, 0
		for _, u := range kept {
			if u <= at && u > at-3600 {
				hour++
				if u > at-BurstWindow {
					burst++
				}
			}
		}
		h, b := p.window(at)
		if h != hour || b != burst {
			t.Fatalf("call %d at %d: window says hour %d burst %d, a plain count %d and %d", k, at, h, b, hour, burst)
		}
	}
}

func sortInt64(xs []int64) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}
