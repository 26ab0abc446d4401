package cli

import (
	"slices"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
)

// TestProtectedNumbers: serve protects honeypot.learning.protected_numbers
// and every tenant's caller_id own_numbers and customer_numbers (the
// defaults' included), and parses the protected types.
func TestProtectedNumbers(t *testing.T) {
	cfg, err := config.Parse("p.yaml", []byte(`defaults:
  country: US
  on_error: fail_open
  caller_id:
    own_numbers: ["+1 212 555"]
honeypot:
  learning:
    protected_numbers: ["+44 20 7946"]
    protected_types: [toll_free, personal]
tenants:
  bank:
    caller_id:
      own_numbers: ["+1 646 555 0100"]
      customer_numbers: ["+1 718"]
`))
	if err != nil {
		t.Fatal(err)
	}
	got := protectedNumbers(cfg)
	for _, want := range []string{"1212555", "44207946", "16465550100", "1718"} {
		if !slices.Contains(got, want) {
			t.Errorf("protected numbers %v lack %s", got, want)
		}
	}
	if ts := protectedTypes(cfg.Honeypot.Learning.ProtectedTypes); !slices.Equal(ts, []number.Type{number.TollFree, number.PersonalNumber}) {
		t.Errorf("protected types = %v", ts)
	}
}
