package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultPolicyParses(t *testing.T) {
	c := Default()
	d := c.Defaults
	if d.Country != "US" || d.OnError != "fail_closed" || d.Destinations.Default != "deny" {
		t.Fatalf("defaults = %+v", d)
	}
	if got := d.Limits.Extension.InternationalCallsPerHour; !got.On || got.N != 5 {
		t.Errorf("international_calls_per_hour = %+v, want 5", got)
	}
	if got := d.Limits.Extension.PremiumCallsPerDay; !got.On || got.N != 0 {
		t.Errorf("premium_calls_per_day = %+v, want 0 (on)", got)
	}
	if got := d.Limits.Extension.DistinctCalleesPerMonth; got.On {
		t.Errorf("distinct_callees_per_month = %+v, want off", got)
	}
	if d.Destinations.Countries["44"] != "auth" || d.Destinations.PremiumPrefixes["1809"] != "limit" {
		t.Errorf("destinations = %+v", d.Destinations)
	}
	if !c.System.InternationalCallsPerMinute.On || c.System.InternationalCallsPerMinute.N != 20 {
		t.Errorf("system = %+v", c.System)
	}
}

func TestTenantMergesOverDefaults(t *testing.T) {
	src := `
defaults:
  country: US
  on_error: fail_open
  destinations:
    countries: {"44": auth, "49": auth}
  limits:
    extension:
      international_calls_per_hour: 5
tenants:
  acme:
    timezone: Europe/London
    destinations:
      countries: {"44": allow}
    limits:
      extension:
        international_calls_per_hour: off
`
	c, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Tenants["acme"]
	if a.Country != "US" || a.OnError != "fail_open" {
		t.Errorf("inherited fields lost: %+v", a)
	}
	if a.Destinations.Countries["44"] != "allow" || a.Destinations.Countries["49"] != "auth" {
		t.Errorf("countries = %v, want 44 allow (override) and 49 auth (inherited)", a.Destinations.Countries)
	}
	if a.Limits.Extension.InternationalCallsPerHour.On {
		t.Errorf("limit not switched off")
	}
	if a.Location.String() != "Europe/London" {
		t.Errorf("location = %v", a.Location)
	}
	if c.Defaults.Destinations.Countries["44"] != "auth" {
		t.Errorf("tenant override leaked into defaults")
	}
}

func TestErrorsNameFileLineField(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"unknown top field", "defaultz: {}\n", []string{"p.yaml:1: defaultz: unknown field (did you mean \"defaults\"?)"}},
		{"missing on_error", "defaults:\n  country: US\n", []string{"p.yaml:2: defaults.on_error: required"}},
		{"bad country", "defaults:\n  country: XX\n  on_error: fail_open\n", []string{"p.yaml:2: defaults.country: unknown country \"XX\""}},
		{"bad action", "defaults:\n  country: US\n  on_error: fail_open\n  destinations:\n    countries:\n      \"44\": maybe\n", []string{"p.yaml:6: defaults.destinations.countries.44: want allow, auth or block"}},
		{"bad limit", "defaults:\n  country: US\n  on_error: fail_open\n  limits:\n    extension:\n      international_calls_per_hour: lots\n", []string{"p.yaml:6: defaults.limits.extension.international_calls_per_hour: want a whole number ≥ 0 or off, got \"lots\""}},
		{"typo nested", "defaults:\n  country: US\n  on_error: fail_open\n  limits:\n    extension:\n      internationl_calls_per_hour: 3\n", []string{"p.yaml:6: defaults.limits.extension.internationl_calls_per_hour: unknown field (did you mean \"international_calls_per_hour\"?)"}},
		{"bad tz", "defaults:\n  country: US\n  on_error: fail_open\n  timezone: Mars/Base\n", []string{"p.yaml:4: defaults.timezone: unknown time zone"}},
		{"bad hours", "defaults:\n  country: US\n  on_error: fail_open\n  hours:\n    business: {from: \"25:00\", to: \"18:00\"}\n", []string{"p.yaml:5: defaults.hours.business.from: want HH:MM"}},
		{"tenant error", "defaults:\n  country: US\n  on_error: fail_open\ntenants:\n  acme:\n    mode: loud\n", []string{"p.yaml:6: tenants.acme.mode: want enforce or shadow"}},
		{"bad calling code", "defaults:\n  country: US\n  on_error: fail_open\n  destinations:\n    countries: {\"999\": block}\n", []string{"p.yaml:5: defaults.destinations.countries.999: not a country calling code"}},
		{"syntax", "defaults: [\n", []string{"p.yaml:"}},
		{"empty", "", []string{"empty policy file"}},
		{"token both", "server:\n  tokens:\n    - {name: a, role: admin, sha256: " + strings.Repeat("a", 64) + ", secret_env: X}\ndefaults: {country: US, on_error: fail_open}\n", []string{"p.yaml:3: server.tokens[0]: set exactly one"}},
		{"token role", "server:\n  tokens:\n    - {name: a, role: root, secret_env: X}\ndefaults: {country: US, on_error: fail_open}\n", []string{"p.yaml:3: server.tokens[0].role: want admin, operator, screen or read"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tc.want)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error %T is not config.Errors", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestWindowContains(t *testing.T) {
	src := "defaults:\n  country: US\n  on_error: fail_open\n  hours:\n    business: {days: [mon-fri], from: \"08:00\", to: \"18:00\"}\n    night: {from: \"22:00\", to: \"06:00\", days: [sat]}\n"
	c, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Defaults.Hours
	at := func(s string) time.Time {
		x, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cases := []struct {
		w    *Window
		t    string
		want bool
	}{
		{&h.Business, "2026-11-23 08:00", true}, // Monday
		{&h.Business, "2026-11-23 17:59", true},
		{&h.Business, "2026-11-23 18:00", false},
		{&h.Business, "2026-11-23 07:59", false},
		{&h.Business, "2026-11-28 12:00", false}, // Saturday
		{&h.Night, "2026-11-28 23:00", true},     // Saturday night
		{&h.Night, "2026-11-29 05:59", true},     // early Sunday belongs to Saturday's night
		{&h.Night, "2026-11-29 23:00", false},    // Sunday night not configured
		{&h.Night, "2026-11-28 05:00", false},    // early Saturday belongs to Friday
	}
	for _, tc := range cases {
		if got := tc.w.Contains(at(tc.t)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(defaultPolicy))
	f.Add([]byte("defaults: {country: US, on_error: fail_open}\ntenants: {a: {mode: shadow}}\n"))
	f.Add([]byte("defaults:\n  limits: {extension: {international_calls_per_hour: off}}\n"))
	f.Add([]byte("sip: {mode: proxy}\ndetectors: {wangiri: {action: [x], block: {a: b}, severity: \"\"}}\nalerts: {pagerduty: [{routing_key_env: PD, min_severity: 3}]}\n"))
	f.Add([]byte("server: {tokens: [{name: a, role: root, secret_env: \"\"}]}\ndefaults: {country: US, on_error: &x fail_open, mode: *x}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		c, err := Parse("fuzz.yaml", src)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && c != nil {
			t.Fatal("config returned with an error")
		}
	})
}
