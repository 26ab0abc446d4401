package simulate

import (
	"bytes"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

func TestGenerate(t *testing.T) {
	calls := Generate(Options{Seed: 1, Tenants: 6, Exts: 5, Days: 14, Attacks: true})
	again := Generate(Options{Seed: 1, Tenants: 6, Exts: 5, Days: 14, Attacks: true})
	if len(calls) != len(again) || calls[len(calls)/2].CallID != again[len(again)/2].CallID {
		t.Fatal("same seed, different traffic")
	}
	by := map[string]int{}
	weekday, weekend, intl := 0, 0, 0
	ny, _ := time.LoadLocation("America/New_York")
	for i, c := range calls {
		if i > 0 && c.Start.Before(calls[i-1].Start) {
			t.Fatal("not in time order")
		}
		if f, m := c.Valid(); f != "" {
			t.Fatalf("invalid record %s: %s: %s", c.CallID, f, m)
		}
		by[c.Attack]++
		if c.Attack == "" && c.Direction == screen.Outbound {
			if wd := c.Start.In(ny).Weekday(); wd == time.Saturday || wd == time.Sunday {
				weekend++
			} else {
				weekday++
			}
			if c.Callee[:2] != "+1" {
				intl++
			}
		}
	}
	for _, a := range Attacks {
		if by[a] == 0 {
			t.Errorf("no calls of attack %s", a)
		}
	}
	if weekend*10 > weekday {
		t.Errorf("weekend %d vs weekday %d: want a quiet weekend", weekend, weekday)
	}
	if intl*5 > weekday+weekend || intl == 0 {
		t.Errorf("%d international of %d: want mostly domestic", intl, weekday+weekend)
	}
	// The Master.csv written reads back whole.
	var b bytes.Buffer
	if err := WriteAsterisk(&b, calls); err != nil {
		t.Fatal(err)
	}
	rd := cdr.NewReader(&b, cdr.Options{})
	var rec cdr.Record
	n, fwd := 0, 0
	for rd.Next(&rec) {
		if rec.CallID != calls[n].CallID || !rec.Start.Equal(calls[n].Start) || rec.Direction != calls[n].Direction || rec.Billsec != calls[n].Billsec {
			t.Fatalf("record %d = %+v; want %+v", n, rec, calls[n].Record)
		}
		if rec.Forwarded {
			fwd++
		}
		n++
	}
	if n != len(calls) || rd.Stats().Malformed != 0 || fwd != by[ForwardAbuse] {
		t.Errorf("read %d of %d, %d malformed, %d forwarded (want %d)", n, len(calls), rd.Stats().Malformed, fwd, by[ForwardAbuse])
	}
}

// TestLegitimateNumbersValid: the numbers legitimate traffic dials are
// valid numbers (screening rejects invalid ones, which would count as
// legitimate calls stopped when the simulator drives a server).
func TestLegitimateNumbersValid(t *testing.T) {
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	calls := Generate(Options{Seed: 3, Tenants: 8, Exts: 4, Days: 7})
	bad, n := 0, 0
	for _, c := range calls {
		if c.Direction != screen.Outbound {
			continue
		}
		n++
		if _, _, _, ok := intel.Classify(c.Callee[1:]); !ok {
			bad++
			if bad < 5 {
				t.Errorf("invalid legitimate callee %s", c.Callee)
			}
		}
	}
	if n == 0 || bad > 0 {
		t.Errorf("%d of %d legitimate callees invalid", bad, n)
	}
}
