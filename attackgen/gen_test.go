package attackgen

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

var (
	intelOnce sync.Once
	intel     *number.Intel
)

func testIntel(t *testing.T) *number.Intel {
	t.Helper()
	intelOnce.Do(func() {
		x, err := number.New(number.Options{NoCarrier: true})
		if err != nil {
			t.Fatal(err)
		}
		intel = x
	})
	return intel
}

var (
	scMu  sync.Mutex
	cache = map[uint64]*Scenario{}
)

// scenario generates a small scenario of the seed once per test binary.
func scenario(t *testing.T, seed uint64) *Scenario {
	t.Helper()
	scMu.Lock()
	defer scMu.Unlock()
	if sc, ok := cache[seed]; ok {
		return sc
	}
	sc, err := fresh(t, seed)
	if err != nil {
		t.Fatal(err)
	}
	cache[seed] = sc
	return sc
}

func fresh(t *testing.T, seed uint64) (*Scenario, error) {
	return Generate(Options{Seed: seed, HistoryDays: 4, Scale: 0.15, Intel: testIntel(t)})
}

func TestDeterministicPerSeed(t *testing.T) {
	a := scenario(t, 7)
	b, err := fresh(t, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Calls) == 0 || !reflect.DeepEqual(a.Calls, b.Calls) {
		t.Fatalf("seed 7 twice: %d and %d calls, not identical", len(a.Calls), len(b.Calls))
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("seed 7 twice: scenarios differ")
	}
	c := scenario(t, 8)
	if reflect.DeepEqual(a.Calls, c.Calls) {
		t.Fatal("seeds 7 and 8 gave the same stream")
	}
}

// Every parameter moves with the seed: tenants, countries, dial plans,
// volumes, hours, attack times and the rate deck.
func TestParametersVaryWithSeed(t *testing.T) {
	countries, zones, styles, hours, deckPrices, highRisk, attackStarts := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[float64]bool{}, map[string]bool{}, map[time.Time]bool{}
	tenants := map[int]bool{}
	for seed := uint64(1); seed <= 6; seed++ {
		sc := scenario(t, seed)
		tenants[len(sc.Tenants)] = true
		for _, tn := range sc.Tenants {
			countries[tn.Country] = true
			zones[tn.Timezone] = true
			styles[tn.DialStyle] = true
			hours[tn.Hours] = true
		}
		for _, r := range sc.Deck {
			if r.Prefix == "44" {
				deckPrices[r.PricePerMin] = true
			}
		}
		highRisk[fmtList(sc.HighRisk)] = true
		for _, a := range sc.Attacks {
			attackStarts[a.Start] = true
		}
	}
	for name, n := range map[string]int{"tenant counts": len(tenants), "countries": len(countries), "zones": len(zones), "dial styles": len(styles), "hours": len(hours), "high-risk lists": len(highRisk)} {
		if n < 2 {
			t.Errorf("%s: only %d distinct value(s) over 6 seeds", name, n)
		}
	}
	if len(attackStarts) < 40 {
		t.Errorf("only %d distinct attack start times over 6 seeds", len(attackStarts))
	}
}

func fmtList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestLabelsAndClasses(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		sc := scenario(t, seed)
		ids := map[string]*Attack{}
		for _, a := range sc.Attacks {
			ids[a.ID] = a
		}
		inWeek := map[string]int{}
		legit := 0
		seen := map[string]bool{}
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if seen[c.ID] {
				t.Fatalf("seed %d: call id %s twice", seed, c.ID)
			}
			seen[c.ID] = true
			if c.Label == "" {
				t.Fatalf("seed %d: call %s has no label", seed, c.ID)
			}
			if c.Label == Legit {
				if c.Class != "" {
					t.Fatalf("seed %d: legitimate call %s has class %q", seed, c.ID, c.Class)
				}
				legit++
				continue
			}
			a := ids[c.Label]
			if a == nil || a.Class != c.Class {
				t.Fatalf("seed %d: call %s labelled %q/%q names no attack", seed, c.ID, c.Label, c.Class)
			}
			if c.Start.Before(sc.AttackStart.Add(-36 * time.Hour)) {
				t.Fatalf("seed %d: attack call %s at %s, long before the attack week %s", seed, c.ID, c.Start, sc.AttackStart)
			}
			if c.Chargeable() && !c.Start.Before(sc.AttackStart) {
				inWeek[c.Class]++
			}
		}
		for _, cl := range Classes {
			if inWeek[cl] == 0 {
				t.Errorf("seed %d: no chargeable %s call in the attack week", seed, cl)
			}
		}
		if legit < len(sc.Calls)/2 {
			t.Errorf("seed %d: only %d of %d calls legitimate", seed, legit, len(sc.Calls))
		}
		// Wangiri: one-ring inbound calls precede callbacks to the same numbers.
		for _, a := range sc.Attacks {
			if a.Class != Wangiri {
				continue
			}
			rang := map[string]time.Time{}
			for i := range sc.Calls {
				c := &sc.Calls[i]
				if c.Label != a.ID {
					continue
				}
				if c.Direction == Inbound {
					if c.Disposition != NoAnswer || c.End.Sub(c.Start) > 4*time.Second {
						t.Errorf("seed %d %s: one-ring call %s lasted %s (%s)", seed, a.ID, c.ID, c.End.Sub(c.Start), c.Disposition)
					}
					if _, ok := rang[c.Caller]; !ok {
						rang[c.Caller] = c.Start
					}
					continue
				}
				at, ok := rang[c.CalleeE164]
				if !ok || !c.Start.After(at) {
					t.Errorf("seed %d %s: callback %s to %s without an earlier ring from it", seed, a.ID, c.ID, c.CalleeE164)
				}
			}
		}
	}
}

// Numbers are real: libphonenumber (through the project's classifier)
// calls every chargeable destination valid, the dialled form reads back to
// the same E.164 in the tenant's dial plan, and the price is the deck's.
func TestNumbersDialPlansAndPrices(t *testing.T) {
	x := testIntel(t)
	for _, seed := range []uint64{4, 5} {
		sc := scenario(t, seed)
		plans := map[string]*number.DialPlan{}
		for _, tn := range sc.Tenants {
			plans[tn.Name] = &number.DialPlan{Country: tn.Country, IntlPrefixes: []string{tn.IntlPrefix}}
		}
		types := map[string]int{}
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if !c.Chargeable() {
				continue
			}
			_, _, typ, valid := x.Classify(c.CalleeE164[1:])
			if !valid {
				t.Fatalf("seed %d: %s calls %s, not a valid number", seed, c.ID, c.CalleeE164)
			}
			types[typ.String()]++
			info, err := x.Lookup(c.Callee, plans[c.Tenant])
			if err != nil || info.E164 != c.CalleeE164 {
				t.Fatalf("seed %d: %s dialled %q in %s reads as %q (%v), want %s", seed, c.ID, c.Callee, plans[c.Tenant].Country, info.E164, err, c.CalleeE164)
			}
			want := math.Round(c.Rate*float64(c.Billsec)/60*1e4) / 1e4
			if c.Cost != want {
				t.Fatalf("seed %d: %s costs %v, want %v", seed, c.ID, c.Cost, want)
			}
			if c.Billsec > 0 && (c.Answer.IsZero() || c.End.Sub(c.Answer) != time.Duration(c.Billsec)*time.Second || c.Disposition != Answered) {
				t.Fatalf("seed %d: %s: billsec %d but answer %s end %s (%s)", seed, c.ID, c.Billsec, c.Answer, c.End, c.Disposition)
			}
		}
		if types["premium_rate"] == 0 || types["mobile"]+types["fixed_or_mobile"] == 0 {
			t.Errorf("seed %d: destination types %v: want premium-rate and mobile among them", seed, types)
		}
		// The deck prices every chargeable call by its longest prefix.
		for _, a := range sc.Attacks {
			if a.Cost <= 0 {
				t.Errorf("seed %d %s: costs nothing as planned", seed, a.ID)
			}
		}
	}
}

func TestPoliciesValidate(t *testing.T) {
	sc := scenario(t, 3)
	for _, k := range []string{PolicyOperator, PolicyDefault} {
		y, err := sc.Policy(k, "")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(k+".yaml", y)
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range sc.Tenants {
			pt := cfg.Tenants[tn.Name]
			if pt == nil || pt.Country != tn.Country || pt.Timezone != tn.Timezone {
				t.Fatalf("%s policy: tenant %s = %+v", k, tn.Name, pt)
			}
			if k == PolicyOperator {
				if pt.Destinations.Default != "allow" {
					t.Errorf("operator policy: %s default %q, want allow", tn.Name, pt.Destinations.Default)
				}
				for _, cc := range sc.HighRisk {
					if pt.Destinations.Countries[cc] != "block" {
						t.Errorf("operator policy: %s does not block %s", tn.Name, cc)
					}
				}
				// No blanket premium-rate refusal (the built-in limit is 0).
				if l := pt.Limits.Extension.PremiumCallsPerDay; l.On {
					t.Errorf("operator policy: %s premium_calls_per_day %+v, want off", tn.Name, l)
				}
			}
		}
	}
	if _, err := sc.Policy("lenient", ""); err == nil {
		t.Fatal("unknown policy kind accepted")
	}
}

func TestExportRoundTrip(t *testing.T) {
	sc := scenario(t, 2)
	var buf bytes.Buffer
	if err := WriteCalls(&buf, sc.Calls); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCalls(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(sc.Calls) {
		t.Fatalf("read %d calls back, wrote %d", len(back), len(sc.Calls))
	}
	for i := range back {
		a, b := back[i], sc.Calls[i]
		if a.ID != b.ID || a.Label != b.Label || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.Cost != b.Cost || a.Callee != b.Callee {
			t.Fatalf("call %d differs after the round trip: %+v vs %+v", i, a, b)
		}
	}
	buf.Reset()
	if err := WriteCSV(&buf, sc.Calls); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(buf.Bytes(), []byte("\n")); n != len(sc.Calls)+1 {
		t.Fatalf("CSV has %d lines, want %d", n, len(sc.Calls)+1)
	}
	buf.Reset()
	if err := sc.WriteDeck(&buf); err != nil {
		t.Fatal(err)
	}
	rates, err := number.ReadRates("deck.csv", &buf)
	if err != nil || len(rates) != len(sc.Deck) {
		t.Fatalf("deck reads back as %d rows (%v), want %d", len(rates), err, len(sc.Deck))
	}
	if _, err := ReadCalls(bytes.NewReader([]byte("{\"call_id\": 3}\n"))); err == nil {
		t.Fatal("a malformed line read without error")
	}
}

// The Asterisk and JSON CDR exports read back through the project's CDR
// reader as the same calls.
func TestCDRExportsReadBack(t *testing.T) {
	sc := scenario(t, 6)
	byID := map[string]*Call{}
	for i := range sc.Calls {
		byID[sc.Calls[i].ID] = &sc.Calls[i]
	}
	for _, f := range []struct {
		name   string
		format cdr.Format
		write  func(*bytes.Buffer) error
	}{
		{"asterisk", cdr.Asterisk, func(b *bytes.Buffer) error { return WriteAsterisk(b, sc.Calls) }},
		{"json", cdr.JSON, func(b *bytes.Buffer) error { return WriteCDRs(b, sc.Calls) }},
	} {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			t.Fatal(err)
		}
		rd := cdr.NewReader(&buf, cdr.Options{Format: f.format})
		n := 0
		var r cdr.Record
		for rd.Next(&r) {
			n++
			c := byID[r.CallID]
			if c == nil {
				t.Fatalf("%s: unknown call %q", f.name, r.CallID)
			}
			wantDir := screen.Outbound
			if c.Direction == Inbound {
				wantDir = screen.Inbound
			}
			wantCallee := c.Callee
			if f.format == cdr.Asterisk && c.Direction == Inbound && !c.Forwarded {
				wantCallee = c.Extension // Master.csv's dst of an inbound call is the extension
			}
			if r.Tenant != c.Tenant || r.Extension != c.Extension || r.Callee != wantCallee || r.Billsec != c.Billsec || r.Forwarded != c.Forwarded ||
				r.Direction != wantDir || !r.Start.Equal(c.Start.Truncate(time.Second)) {
				t.Fatalf("%s: %s read back as %+v, want %+v", f.name, c.ID, r, c)
			}
		}
		if st := rd.Stats(); n != len(sc.Calls) || st.Malformed != 0 || rd.Err() != nil {
			t.Fatalf("%s: %d records read back, wrote %d (%+v, %v)", f.name, n, len(sc.Calls), st, rd.Err())
		}
	}
}
