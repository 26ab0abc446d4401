package number

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRiskOverride(t *testing.T) {
	a := writeFile(t, "a.csv", "prefix,category,risk,action,reason\n"+
		"1900,none,,,not premium here\n"+ // delete a default
		"4420,irsf,10,auth,test range\n"+
		"53,high_risk_country,99,block,stricter Cuba\n")
	b := writeFile(t, "b.csv", "# later file wins\nprefix,category,risk,action\n+4420,wangiri,20,limit\n")
	x, err := New(Options{RiskFiles: []string{a, b}, NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := x.Lookup("+19005551234", nil); len(info.Risk) != 0 {
		t.Errorf("1900 still risky after delete: %+v", info.Risk)
	}
	if info, _ := x.Lookup("+442071234567", nil); len(info.Risk) != 1 || info.Risk[0].Category != "wangiri" || info.Risk[0].Risk != 20 {
		t.Errorf("+4420 risk = %+v; want the later file's wangiri row", info.Risk)
	}
	if info, _ := x.Lookup("+5351234567", nil); len(info.Risk) != 1 || info.Risk[0].Risk != 99 {
		t.Errorf("+53 risk = %+v; want the override", info.Risk)
	}
	y, err := New(Options{NoDefaultRisk: true, NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := y.Lookup("+5351234567", nil); info.Risk != nil {
		t.Errorf("NoDefaultRisk: +53 risk = %+v", info.Risk)
	}
}

func TestCSVErrors(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
		rates            bool
	}{
		{"nohdr.csv", "", "nohdr.csv:1: missing header", false},
		{"hdr.csv", "prefix,cat,risk,action\n", "hdr.csv:1: header column 2", false},
		{"p.csv", "prefix,category,risk,action,reason\n12a,irsf,5,,x\n", "p.csv:2: field prefix", false},
		{"c.csv", "prefix,category,risk,action,reason\n12,IRSF,5,,x\n", "c.csv:2: field category", false},
		{"r.csv", "prefix,category,risk,action,reason\n12,irsf,500,,x\n", "r.csv:2: field risk", false},
		{"a.csv", "prefix,category,risk,action,reason\n\n12,irsf,5,drop,x\n", "a.csv:3: field action", false},
		{"n.csv", "prefix,category,risk,action,reason\n12,irsf\n", "n.csv:2: 2 fields", false},
		{"deck.csv", "prefix,price_per_min\n44,cheap\n", "deck.csv:2: field price_per_min", true},
		{"deck2.csv", "prefix,price_per_min,description\n+,0.1,x\n", "deck2.csv:2: field prefix", true},
	} {
		p := writeFile(t, tt.name, tt.body)
		opts := Options{RiskFiles: []string{p}, NoCarrier: true}
		if tt.rates {
			opts = Options{RateFile: p, NoCarrier: true}
		}
		_, err := New(opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v; want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestRateDeck(t *testing.T) {
	p := writeFile(t, "deck.csv", "prefix,price_per_min,description\n44,0.02,UK\n447,0.05,UK mobile\n447,0.04,UK mobile (later row wins)\n")
	x, err := New(Options{RateFile: p, NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dialed, prefix string
		rate           float64
	}{
		{"+442071234567", "44", 0.02},
		{"+447400123456", "447", 0.04},
		{"+12015550123", "", 0},
	} {
		info, _ := x.Lookup(tt.dialed, nil)
		if info.RatePrefix != tt.prefix || info.Rate != tt.rate {
			t.Errorf("%s: rate %v (%q); want %v (%q)", tt.dialed, info.Rate, info.RatePrefix, tt.rate, tt.prefix)
		}
	}
}
