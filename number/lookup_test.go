package number

import (
	"errors"
	"strings"
	"testing"
)

func TestLookup(t *testing.T) {
	x := newTestIntel(t)
	us := &DialPlan{Country: "US"}
	gb := &DialPlan{Country: "GB"}
	au := &DialPlan{Country: "AU"}
	tests := []struct {
		dialed  string
		dp      *DialPlan
		e164    string
		kind    Kind
		country string
		cc      int
		typ     Type
		valid   bool
	}{
		{"011442071234567", us, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"011 44 20 7123 4567", us, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"19005551234", us, "+19005551234", Subscriber, "US", 1, PremiumRate, true},
		{"(900) 555-1234", us, "+19005551234", Subscriber, "US", 1, PremiumRate, true},
		{"1-201-555-0123", us, "+12015550123", Subscriber, "US", 1, FixedLineOrMobile, true},
		{"2015550123", us, "+12015550123", Subscriber, "US", 1, FixedLineOrMobile, true},
		{"+252612345678", nil, "+252612345678", Subscriber, "SO", 252, Mobile, true},
		{"+252 61 234 5678", us, "+252612345678", Subscriber, "SO", 252, Mobile, true},
		{"252612345678", nil, "+252612345678", Subscriber, "SO", 252, Mobile, true},
		{"0207 123 4567", gb, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"020.7123.4567", gb, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"07400 123456", gb, "+447400123456", Subscriber, "GB", 44, Mobile, true},
		{"00 1 201 555 0123", gb, "+12015550123", Subscriber, "US", 1, FixedLineOrMobile, true},
		{"442071234567", gb, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"0207 123 4567", &DialPlan{Country: "GB", NationalPrefix: "0", IntlPrefixes: []string{"00"}}, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"9011442071234567", &DialPlan{Country: "US", IntlPrefixes: []string{"9011"}}, "+442071234567", Subscriber, "GB", 44, FixedLine, true},
		{"12684601234", us, "+12684601234", Subscriber, "AG", 1, FixedLine, true},
		{"+8816 1234 5678", nil, "+881612345678", Subscriber, "001", 881, Mobile, true},
		{"+882 1234 5678", nil, "+88212345678", Subscriber, "001", 882, Unknown, false},
		{"+44 20 7123", nil, "+44207123", Subscriber, "GB", 44, Unknown, false},
		{"911", us, "911", Emergency, "US", 1, Unknown, true},
		{"112", us, "112", Emergency, "US", 1, Unknown, true},
		{"112", gb, "112", Emergency, "GB", 44, Unknown, true},
		{"999", gb, "999", Emergency, "GB", 44, Unknown, true},
		{"000", au, "000", Emergency, "AU", 61, Unknown, true},
		{"112", &DialPlan{Country: "de"}, "112", Emergency, "DE", 49, Unknown, true},
		{"411", us, "411", ShortCode, "US", 1, Unknown, true},
		{"118 500", gb, "118500", ShortCode, "GB", 44, Unknown, true},
		{"*123#", gb, "*123#", ShortCode, "GB", 44, Unknown, false},
	}
	for _, tt := range tests {
		got, err := x.Lookup(tt.dialed, tt.dp)
		if err != nil {
			t.Errorf("Lookup(%q, %+v): %v", tt.dialed, tt.dp, err)
			continue
		}
		if got.E164 != tt.e164 || got.Kind != tt.kind || got.Country != tt.country || got.CallingCode != tt.cc || got.Type != tt.typ || got.Valid != tt.valid {
			t.Errorf("Lookup(%q, %+v) = %s %v %q +%d %v valid=%v; want %s %v %q +%d %v valid=%v", tt.dialed, tt.dp,
				got.E164, got.Kind, got.Country, got.CallingCode, got.Type, got.Valid,
				tt.e164, tt.kind, tt.country, tt.cc, tt.typ, tt.valid)
		}
	}
}

func TestLookupInvalid(t *testing.T) {
	x := newTestIntel(t)
	for _, tt := range []struct{ dialed, want string }{
		{"", "empty"},
		{"   ", "empty"},
		{"--", "no digits"},
		{"+44 20 7123 456A", "character 'A'"},
		{"0800-FLOWERS", "character 'F'"},
		{"44+207", "'+' at offset 2"},
		{"123456789012345678901", "more than 20 digits"},
	} {
		_, err := x.Lookup(tt.dialed, &DialPlan{Country: "GB"})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Lookup(%q): error %v; want ErrInvalid", tt.dialed, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Lookup(%q): error %q; want it to mention %q", tt.dialed, err, tt.want)
		}
	}
}

func TestLookupAnnotations(t *testing.T) {
	x := newTestIntel(t)
	info, err := x.Lookup("19005551234", &DialPlan{Country: "US"})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Risk) != 1 || info.Risk[0].Prefix != "1900" || info.Risk[0].Category != "premium" || info.Risk[0].Action != "block" {
		t.Errorf("risk of +19005551234 = %+v; want the 1900 premium block range", info.Risk)
	}
	if info.RatePrefix != "1900" || info.Rate <= 0.01 {
		t.Errorf("rate of +19005551234 = %v (%s); want the 1900 premium rate", info.Rate, info.RatePrefix)
	}
	info, _ = x.Lookup("+881612345678", nil)
	if len(info.Risk) != 2 || info.Risk[0].Prefix != "881" || info.Risk[1].Prefix != "8816" {
		t.Errorf("risk of +881612345678 = %+v; want 881 then 8816", info.Risk)
	}
	if info.RatePrefix != "8816" {
		t.Errorf("rate prefix of +881612345678 = %q; want 8816", info.RatePrefix)
	}
	info, _ = x.Lookup("+12025550123", nil)
	if info.Risk != nil || info.RatePrefix != "1" {
		t.Errorf("+12025550123: risk %+v rate prefix %q; want none and 1", info.Risk, info.RatePrefix)
	}
	for _, d := range []string{"+535", "+252612345678", "+37120000000", "+224", "+23222", "+9607", "+18095551234"} {
		info, _ := x.Lookup(d, nil)
		if len(info.Risk) == 0 {
			t.Errorf("%s: no risk range", d)
		}
	}
	info, _ = x.Lookup("911", &DialPlan{Country: "US"})
	if info.Risk != nil || info.Kind != Emergency {
		t.Errorf("911: %+v; want an emergency without risk", info)
	}
}
