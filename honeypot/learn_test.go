package honeypot_test

import (
	"testing"

	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/number"
)

// TestNumberClassifier: what the decoy never learns and what lowers the
// bar, read by number intelligence in a US dial plan.
func TestNumberClassifier(t *testing.T) {
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	classify := honeypot.NumberClassifier(intel.Lookup, number.DialPlan{Country: "US"},
		[]number.Type{number.TollFree, number.SharedCost, number.UAN}, []string{"1212555", "442079460"})
	for _, c := range []struct {
		e164, class string
		protected   bool
	}{
		{"+12125550199", "", true},  // the operator's DIDs (a prefix)
		{"+442079460123", "", true}, // another DID range
		{"+12135550199", "", false}, // an ordinary number
		{"+18005551212", "", true},  // toll-free
		{"+448456001234", "premium_rate", false},
		{"+33899123456", "premium_rate", false},
		{"+881612345678", "satellite", false}, // risk range
		{"+88216123456", "irsf", false},
		{"+447000123456", "premium", false}, // UK 070 personal numbers: premium risk range
	} {
		class, protected := classify(c.e164)
		if class != c.class || protected != c.protected {
			t.Errorf("%s: class %q protected %v; want %q %v", c.e164, class, protected, c.class, c.protected)
		}
	}
	// Emergency numbers never reach the list: the decoy's normalizer
	// gives them no E.164 form, and the classifier protects them too.
	if e := honeypot.Normalizer(intel.Lookup, number.DialPlan{Country: "US"})("911"); e != "" {
		t.Errorf("911 normalized to %q", e)
	}
	if _, protected := classify("911"); !protected {
		t.Error("911 not protected")
	}
}
