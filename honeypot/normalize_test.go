package honeypot

import (
	"testing"

	"github.com/tollgate-voip/tollgate/number"
)

func TestNormalizer(t *testing.T) {
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	us := Normalizer(intel.Lookup, number.DialPlan{Country: "US"})
	gb := Normalizer(intel.Lookup, number.DialPlan{Country: "GB"})
	for _, c := range []struct {
		norm   func(string) string
		dialed string
		want   string
	}{
		{us, "011442079460123", "+442079460123"},
		{us, "9011442079460123", "+442079460123"}, // tech prefix before the international prefix
		{us, "++442079460123", "+442079460123"},
		{gb, "00972598285108", "+972598285108"},
		{gb, "0+441772285407", "+441772285407"},
		{us, "abc", ""},
	} {
		if got := c.norm(c.dialed); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.dialed, got, c.want)
		}
	}
}
