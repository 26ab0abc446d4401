package compliance

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSetAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	want := map[uint64]bool{}
	var keys []uint64
	for i := 0; i < 200000; i++ {
		// Dense in a few area codes, plus a sparse tail of other countries.
		var k uint64
		if i%10 == 0 {
			k = 10_000_000 + r.Uint64N(999_999_999_999_99)
		} else {
			k = 1_212_000_0000 + r.Uint64N(3)*1_000_0000_0 + r.Uint64N(10_000_000)
		}
		keys = append(keys, k)
		want[k] = true
	}
	s, err := NewSet(slices.Clone(keys))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", s.Len(), len(want))
	}
	for k := range want {
		if !s.Contains(k) {
			t.Fatalf("missing %d", k)
		}
	}
	for i := 0; i < 200000; i++ {
		k := keys[i] + 1
		if s.Contains(k) != want[k] {
			t.Fatalf("Contains(%d) = %v, want %v", k, !want[k], want[k])
		}
	}
	if !s.ContainsE164("+" + strconv.FormatUint(keys[3], 10)) {
		t.Error("ContainsE164 with + failed")
	}
	if bpn := float64(s.Bytes()) / float64(s.Len()); bpn > 4 {
		t.Errorf("%.2f bytes per number, want ≤ 4 for this mix", bpn)
	}
}

func TestBuilderOrder(t *testing.T) {
	b := NewBuilder(0)
	for _, k := range []uint64{5, 5, 70000, 70001} {
		if err := b.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(4); err == nil {
		t.Fatal("out-of-order key accepted")
	}
	var empty *Set
	if empty.Contains(5) || empty.Len() != 0 {
		t.Error("nil set")
	}
}

func TestKey(t *testing.T) {
	for s, ok := range map[string]bool{"+12125550100": true, "12125550100": true, "+0123": false, "+1": false, "+1234567890123456": false, "+12a": false, "": false, "+": false} {
		if _, got := Key(s); got != ok {
			t.Errorf("Key(%q) ok = %v, want %v", s, got, ok)
		}
	}
}

func TestLoad(t *testing.T) {
	s, err := Load(strings.NewReader("# comment\n+12125550100\n\n 12125550101 \n+12125550100\n"), "l.txt", FormatE164, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || !s.ContainsE164("+12125550101") {
		t.Errorf("Len %d", s.Len())
	}
	s, err = Load(strings.NewReader("AreaCode,PhoneNumber\n646,5550100\r\n201 , 2000000\n"), "r.csv", FormatRegistry, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ContainsE164("+12012000000") || !s.ContainsE164("+16465550100") || s.Len() != 2 {
		t.Errorf("registry set wrong: %d", s.Len())
	}
	for _, tc := range []struct{ in, format, want string }{
		{"+1212555x100\n", FormatE164, "l:1: want an E.164 number"},
		{"+12125550100\n0044\n", FormatE164, "l:2: want an E.164 number"},
		{"212,5550100\n212\n", FormatRegistry, "l:2: want area code,number"},
		{"212,5550100,9\n", FormatRegistry, "l:1: want area code,number"},
		{"21299999999,5550100\n", FormatRegistry, "l:1: number longer than 15 digits"},
		{strings.Repeat("1", 300) + "\n", FormatE164, "l:1: line longer than"},
	} {
		_, err := Load(strings.NewReader(tc.in), "l", tc.format, 1, 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := Load(strings.NewReader(""), "l", "xml", 1, 0); err == nil {
		t.Error("unknown format accepted")
	}
}

func BenchmarkContains1M(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := make([]uint64, 1_000_000)
	for i := range keys {
		keys[i] = 1_200_000_0000 + r.Uint64N(800_000_0000)
	}
	probe := slices.Clone(keys[:4096])
	s, err := NewSet(keys)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(s.Bytes())/float64(s.Len()), "bytes/number")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !s.Contains(probe[i&4095]) {
			b.Fatal("missing")
		}
	}
}

// TestNormalize: opt-outs and consents are checked and stamped before a
// store keeps them.
func TestNormalize(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.FixedZone("x", 3600))
	o := OptOut{Number: "+13125550777"}
	if err := o.Normalize(now); err != nil || !o.Time.Equal(now) || o.Time.Location() != time.UTC {
		t.Errorf("opt-out = %+v, %v; want stamped now in UTC", o, err)
	}
	for _, n := range []string{"13125550777", "+1312x", ""} {
		o := OptOut{Number: n}
		if err := o.Normalize(now); !errors.Is(err, ErrInvalid) {
			t.Errorf("opt-out of %q: %v, want ErrInvalid", n, err)
		}
	}
	good := Consent{Tenant: "acme", Number: "+13125550777", Type: "express", Source: "web", Time: now.Add(-time.Hour), Expires: now.Add(time.Hour)}
	c := good
	if err := c.Normalize(now); err != nil || !c.Created.Equal(now) || c.Time.Location() != time.UTC || c.Expires.Location() != time.UTC {
		t.Errorf("consent = %+v, %v", c, err)
	}
	for name, mut := range map[string]func(*Consent){
		"no tenant":       func(c *Consent) { c.Tenant = "" },
		"no type":         func(c *Consent) { c.Type = "" },
		"no source":       func(c *Consent) { c.Source = "" },
		"no time":         func(c *Consent) { c.Time = time.Time{} },
		"expires first":   func(c *Consent) { c.Expires = c.Time },
		"number not e164": func(c *Consent) { c.Number = "0800" },
	} {
		c := good
		mut(&c)
		if err := c.Normalize(now); !errors.Is(err, ErrInvalid) {
			t.Errorf("consent %s: %v, want ErrInvalid", name, err)
		}
	}
}
