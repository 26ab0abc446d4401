package detect

import (
	"testing"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestApplyNarrowsUsualCountry: a destination block aimed at a country the
// tenant calls as a matter of course names the number's range instead, so
// its legitimate calls there go on; a country it rarely calls is blocked
// whole.
func TestApplyNarrowsUsualCountry(t *testing.T) {
	rule := &config.Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 3600}
	for _, tc := range []struct {
		calls int
		want  string
	}{{UsualCalls, "447700900"}, {UsualCalls - 1, "44"}, {0, "44"}} {
		prof := &baseline.Profile{Countries: map[string]uint32{"GB": uint32(tc.calls)}}
		c := &Call{Rec: &cdr.Record{Tenant: "acme", Extension: "1001", Direction: screen.Outbound}, Dest: &number.Info{E164: "+447700900123"},
			International: true, Class: "GB", Country: "44", Range: "447700900", Handle: &baseline.Handle{Tenant: prof}}
		var f Finding
		Apply(&f, rule, c, Target{Kind: "prefix", Value: c.Country})
		if f.Target.Kind != "prefix" || f.Target.Value != tc.want {
			t.Errorf("%d calls to GB in the baseline: target %+v; want prefix %s", tc.calls, f.Target, tc.want)
		}
	}
}

// TestClassifySharedCallingCode: a destination whose calling code several
// countries share (+1 809, the Dominican Republic, for a South African
// tenant) is blocked by its range, never by the code ("1" would be the
// United States and Canada too); a code of one country is the country.
func TestClassifySharedCallingCode(t *testing.T) {
	za := number.CallingCodeFor("ZA")
	for _, tc := range []struct {
		info number.Info
		want string
	}{
		{number.Info{E164: "+18095550123", CallingCode: 1, Country: "DO", Rate: 0.25}, "1809555"},
		{number.Info{E164: "+35526940818", CallingCode: 355, Country: "AL", Rate: 0.5}, "355"},
	} {
		ne := &numEntry{info: tc.info, international: true}
		classify(ne, za)
		if ne.country != tc.want {
			t.Errorf("%s: country prefix %q; want %q", tc.info.E164, ne.country, tc.want)
		}
	}
}

// TestApplyBorrowedExtensionCostlyScope: beside a destination or address
// block, the extension that dialed is blocked for costly calls only (its
// agent's cheap calls go on); a block aimed at the extension itself keeps
// the international scope.
func TestApplyBorrowedExtensionCostlyScope(t *testing.T) {
	c := &Call{Rec: &cdr.Record{Tenant: "acme", Extension: "1001", Direction: screen.Outbound, SourceIP: "198.51.100.7"}, Dest: &number.Info{E164: "+6771234567"},
		International: true, Premium: true, Class: "PG", Country: "677", Range: "67712"}
	for _, tc := range []struct {
		block, scope string
		also         bool
	}{{"destination", "costly", true}, {"source_ip", "costly", true}, {"extension", "international", false}} {
		var f Finding
		Apply(&f, &config.Rule{Action: "block_and_alert", Block: config.BlockScope(tc.block), ExpiresS: 86400}, c, Target{Kind: "prefix", Value: "67712"})
		ext := f.Target
		if tc.also {
			ext = Target{}
			for _, a := range f.Also {
				if a.Kind == "extension" {
					ext = a
				}
			}
		}
		if ext.Kind != "extension" || ext.Value != "1001" || ext.Scope != tc.scope {
			t.Errorf("block %s: extension target %+v; want scope %s", tc.block, ext, tc.scope)
		}
	}
}
