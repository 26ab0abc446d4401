package number

import (
	"sync"

	"github.com/nyaruka/phonenumbers"
)

var tzCache sync.Map // prefix → []string

// Timezones returns the IANA time zones an E.164 number ("+…") may be in,
// from libphonenumber's prefix data; several zones mean the number's
// range spans them. Answers are cached by the number's first digits, so
// it is cheap after the first call for a range.
func Timezones(e164 string) []string {
	if len(e164) < 2 || e164[0] != '+' {
		return nil
	}
	key := e164[:min(len(e164), 8)]
	if z, ok := tzCache.Load(key); ok {
		return z.([]string)
	}
	zs, err := phonenumbers.GetTimezonesForPrefix(key)
	if err != nil {
		zs = nil
	}
	var out []string
	for _, z := range zs {
		if z != "" && z != "Etc/Unknown" {
			out = append(out, z)
		}
	}
	tzCache.Store(key, out)
	return out
}
