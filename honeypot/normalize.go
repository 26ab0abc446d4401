package honeypot

import (
	"strings"

	"github.com/tollgate-voip/tollgate/number"
)

// Lookup is number intelligence (number.Intel.Lookup).
type Lookup func(dialed string, dp *number.DialPlan) (number.Info, error)

// Normalizer returns an Options.Normalize that reads dialed strings in
// the dial plan. Attackers prepend tech prefixes and trunk-escape digits
// to get past dial plans ("9011…", "0+44…", "++44…"): when the string as
// dialed is not a valid number, the part from an international prefix or
// "+" found within the first few characters is tried too.
func Normalizer(lookup Lookup, plan number.DialPlan) func(string) string {
	try := func(d string) (string, bool) {
		info, err := lookup(d, &plan)
		if err != nil || info.Kind != number.Subscriber || !strings.HasPrefix(info.E164, "+") {
			return "", false
		}
		return info.E164, info.Valid
	}
	return func(dialed string) string {
		if len(dialed) > 32 {
			return ""
		}
		first, valid := try(dialed)
		if valid {
			return first
		}
		for i := 1; i <= 4 && i < len(dialed); i++ {
			rest := dialed[i:]
			if !strings.HasPrefix(rest, "+") && !strings.HasPrefix(rest, "00") && !strings.HasPrefix(rest, "011") {
				continue
			}
			for strings.HasPrefix(rest, "++") {
				rest = rest[1:]
			}
			if e, ok := try(rest); ok {
				return e
			}
		}
		return first
	}
}
