package number

import "fmt"

// Type is the kind of line a number belongs to, as libphonenumber classifies it.
type Type uint8

// Number types. The names follow libphonenumber's PhoneNumberType.
const (
	Unknown Type = iota
	FixedLine
	Mobile
	FixedLineOrMobile
	TollFree
	PremiumRate
	SharedCost
	VoIP
	PersonalNumber
	Pager
	UAN
	Voicemail
)

var typeNames = [...]string{
	"unknown", "fixed", "mobile", "fixed_or_mobile", "toll_free", "premium_rate",
	"shared_cost", "voip", "personal", "pager", "uan", "voicemail",
}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// ParseType is the inverse of Type.String.
func ParseType(s string) (Type, bool) {
	for i, n := range typeNames {
		if n == s {
			return Type(i), true
		}
	}
	return Unknown, false
}

// MarshalText implements encoding.TextMarshaler.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Kind says what sort of dialed string a number is.
type Kind uint8

// Kinds of dialed strings.
const (
	Subscriber Kind = iota // an ordinary number, normalized to E.164
	Emergency              // 911, 112, 999 …: always allowed, never fraud
	ShortCode              // a national short code (not emergency)
)

// DialPlan is the context a number was dialed in: the tenant's home
// country and its dialing prefixes. Empty prefixes take the country's
// defaults from libphonenumber's metadata.
type DialPlan struct {
	Country        string   // ISO 3166-1 alpha-2, e.g. "US"
	IntlPrefixes   []string // e.g. ["011"]; default from metadata ("00" in most of the world)
	NationalPrefix string   // e.g. "0" in GB, "1" in US; default from metadata
}

// Range is one entry of the risk layer: a prefix of E.164 digits (no "+")
// with a category and a reason.
type Range struct {
	Prefix   string `json:"prefix"`
	Category string `json:"category"` // high_risk_country, irsf, premium, satellite, wangiri, limit, …
	Reason   string `json:"reason"`
	Risk     int    `json:"risk"`             // 0–100 contribution
	Action   string `json:"action,omitempty"` // optional default action: block, limit, auth
}

// Info is what number intelligence knows about one dialed string.
type Info struct {
	Dialed      string  `json:"dialed"`
	E164        string  `json:"e164"` // "+252612345678"; the short code itself for short codes
	Kind        Kind    `json:"-"`
	Country     string  `json:"country"` // ISO alpha-2; "001" for non-geographic entities
	CallingCode int     `json:"calling_code"`
	Type        Type    `json:"type"`
	Valid       bool    `json:"valid"`
	Carrier     string  `json:"carrier,omitempty"`
	Risk        []Range `json:"risk_ranges"`            // every risk range that covers the number, shortest prefix first; shared, do not modify
	Rate        float64 `json:"rate_per_min"`           // estimated termination price per minute from the rate deck
	RatePrefix  string  `json:"rate_prefix"`            // the deck prefix that matched
	ServiceCode string  `json:"service_code,omitempty"` // a vertical service code dialed before the number (*67, #31#)
}
