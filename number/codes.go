package number

import (
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

// CallingCodeFor returns the country calling code of an ISO 3166 region
// ("US" → 1), or 0 for an unknown region. It is for configuration, not the
// hot path.
func CallingCodeFor(region string) int {
	return phonenumbers.GetCountryCodeForRegion(region)
}

// KnownCallingCode reports whether cc (digits, no "+") is an assigned
// country calling code. It is for configuration, not the hot path.
func KnownCallingCode(cc string) bool {
	n, err := strconv.Atoi(cc)
	if err != nil || n <= 0 {
		return false
	}
	_, ok := phonenumbers.GetSupportedCallingCodes()[n]
	return ok
}

// SharedCallingCode reports whether several regions share calling code cc
// (+1 for the NANP countries, +7, +44…): the code alone then names more
// than one country.
func SharedCallingCode(cc int) bool {
	return len(phonenumbers.GetRegionCodesForCountryCode(cc)) > 1
}
