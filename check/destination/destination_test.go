package destination

import (
	"context"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

const policy = `
defaults:
  country: US
  on_error: fail_open
  destinations:
    default: deny
    countries: {"44": auth, "49": allow, "53": block}
    premium_prefixes: {"1900": block, "1809": limit, "4487": auth}
    types: {premium_rate: block, voip: auth}
    risk_categories: {irsf: block, wangiri: auth, limit: limit}
  extensions:
    default: {international: true, premium: false}
    "1099": {international: false}
`

func TestDestination(t *testing.T) {
	c, err := config.Parse("p.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	d := New(c.Defaults)
	info := func(e164 string, cc int, country string, typ number.Type, valid bool, risk ...number.Range) number.Info {
		return number.Info{E164: e164, CallingCode: cc, Country: country, Type: typ, Valid: valid, Risk: risk}
	}
	cases := []struct {
		name  string
		ext   string
		dest  number.Info
		intl  bool
		want  screen.Action
		codes []string
	}{
		{"domestic", "1001", info("+12125551234", 1, "US", number.FixedLineOrMobile, true), false, screen.Allow, nil},
		{"uk auth", "1001", info("+442071234567", 44, "GB", number.FixedLine, true), true, screen.Challenge, []string{"destination_auth"}},
		{"germany allow", "1001", info("+4930123456", 49, "DE", number.FixedLine, true), true, screen.Allow, nil},
		{"default deny", "1001", info("+390212345678", 39, "IT", number.FixedLine, true), true, screen.Reject, []string{"destination_not_allowed"}},
		{"cuba block", "1001", info("+5372345678", 53, "CU", number.FixedLine, true), true, screen.Reject, []string{"destination_blocked"}},
		{"premium prefix", "1001", info("+19005551234", 1, "US", number.PremiumRate, true), false, screen.Reject, []string{"premium_prefix", "number_type", "extension_not_permitted"}},
		{"limit prefix", "1001", info("+18095551234", 1, "DO", number.FixedLineOrMobile, true), true, screen.Reject, []string{"limited_destination", "destination_not_allowed"}},
		{"longest prefix wins", "1001", info("+447400123456", 44, "GB", number.Mobile, true), true, screen.Challenge, []string{"destination_auth"}},
		{"voip type auth", "1001", info("+4956123456", 49, "DE", number.VoIP, true), true, screen.Challenge, []string{"number_type"}},
		{"invalid", "1001", info("+4912", 49, "DE", number.Unknown, false), true, screen.Reject, []string{"invalid_number"}},
		{"irsf range", "1001", info("+88216123456", 882, "001", number.VoIP, true, number.Range{Prefix: "882", Category: "irsf", Reason: "x", Risk: 90}), true, screen.Reject, []string{"high_risk_destination"}},
		{"wangiri range", "1001", info("+4930999999", 49, "DE", number.FixedLine, true, number.Range{Prefix: "4930999", Category: "wangiri", Reason: "x", Risk: 30}), true, screen.Challenge, []string{"risky_destination"}},
		{"extension without international", "1099", info("+4930123456", 49, "DE", number.FixedLine, true), true, screen.Reject, []string{"extension_not_permitted"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := &screen.Call{Extension: tc.ext, Dest: tc.dest, International: tc.intl, Digits: tc.dest.E164[1:]}
			d.Classify(call)
			var v screen.Verdict
			d.Check(context.Background(), call, &v)
			if v.Action != tc.want {
				t.Errorf("action = %v, want %v (%+v)", v.Action, tc.want, v.Reasons())
			}
			for _, c := range tc.codes {
				if !v.Has(c) {
					t.Errorf("reasons %+v lack %s", v.Reasons(), c)
				}
			}
			if tc.want == screen.Allow && len(v.Reasons()) != 0 {
				t.Errorf("allowed call carries reasons %+v", v.Reasons())
			}
		})
	}
}
