package attackgen

import "github.com/tollgate-voip/tollgate/number"

// The world the generator draws from: where call centers sit, whom they
// call, and where fraud terminates. Facts only (ISO regions, time zones,
// price tiers in USD per minute as wholesale decks commonly quote them);
// each seed draws its own prices around these tiers.

type home struct {
	Region string
	Zones  []string
	// IntlPrefix is what the PBX dials before a foreign number.
	IntlPrefix string
}

var homes = []home{
	{"US", []string{"America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"}, "011"},
	{"CA", []string{"America/Toronto", "America/Vancouver", "America/Halifax"}, "011"},
	{"GB", []string{"Europe/London"}, "00"},
	{"IE", []string{"Europe/Dublin"}, "00"},
	{"DE", []string{"Europe/Berlin"}, "00"},
	{"FR", []string{"Europe/Paris"}, "00"},
	{"ES", []string{"Europe/Madrid"}, "00"},
	{"NL", []string{"Europe/Amsterdam"}, "00"},
	{"IT", []string{"Europe/Rome"}, "00"},
	{"PL", []string{"Europe/Warsaw"}, "00"},
	{"AU", []string{"Australia/Sydney", "Australia/Perth"}, "0011"},
	{"ZA", []string{"Africa/Johannesburg"}, "00"},
	{"PH", []string{"Asia/Manila"}, "00"},
	{"IN", []string{"Asia/Kolkata"}, "00"},
}

// partners are ordinary destinations a business calls; price tier of a
// fixed line (mobile costs more).
var partners = map[string]float64{
	"US": 0.006, "CA": 0.007, "GB": 0.008, "IE": 0.012, "DE": 0.009, "FR": 0.010, "ES": 0.011,
	"NL": 0.012, "IT": 0.012, "PL": 0.015, "AU": 0.020, "ZA": 0.030, "PH": 0.060, "IN": 0.015,
	"BE": 0.012, "CH": 0.015, "AT": 0.014, "SE": 0.012, "NO": 0.014, "DK": 0.013, "PT": 0.012,
	"NZ": 0.025, "MX": 0.015, "BR": 0.020, "AE": 0.080, "SG": 0.015, "JP": 0.030, "IL": 0.020,
	"CZ": 0.015, "GR": 0.014, "FI": 0.016, "HU": 0.016, "RO": 0.020, "TR": 0.030, "CO": 0.030,
	"AR": 0.035, "CL": 0.030, "KE": 0.080, "MA": 0.090, "EG": 0.090,
}

// Expensive destinations where fraud terminates: revenue-share ranges
// in high-cost countries, small islands, and non-geographic satellite
// and international networks ("001:<cc>"). Base fixed-line price per
// minute; mobile ranges cost more.
var expensive = map[string]float64{
	"CU": 1.05, "SO": 1.20, "LV": 0.55, "GN": 0.70, "SL": 0.65, "MV": 0.90, "LT": 0.45, "EE": 0.50,
	"BY": 0.55, "TN": 0.45, "GM": 0.75, "ML": 0.55, "BF": 0.50, "LR": 0.60, "TD": 0.80, "ST": 1.40,
	"CG": 0.55, "CD": 0.60, "KM": 0.95, "MG": 0.55, "ZW": 0.45, "MR": 0.60, "SN": 0.40, "NG": 0.30,
	"PG": 1.10, "TV": 2.10, "CK": 1.80, "KI": 1.60, "NR": 1.90, "SB": 1.50, "VU": 1.40, "WS": 0.95,
	"TO": 1.00, "AL": 0.40, "MD": 0.45, "BA": 0.45, "RS": 0.35, "GE": 0.40, "AZ": 0.50, "AM": 0.40,
	"JM": 0.35, "DO": 0.30, "GD": 0.45, "AG": 0.50, "LC": 0.45, "HT": 0.60, "GY": 0.55, "SR": 0.50,
	"001:881": 6.50, "001:882": 4.80, "001:883": 3.90, "001:870": 5.50,
}

// classicHighRisk are the destinations an operator's block list names
// first (the operator guidance's high_risk_country list and the usual
// additions); each seed blocks a random subset.
var classicHighRisk = []string{"CU", "SO", "LV", "GN", "SL", "MV", "ST", "TV", "CK", "TK", "KI", "PG", "TD", "001:881", "001:882", "001:883", "001:870"}

// premiumPrice is the per-minute price of premium-rate services, by
// region; what a revenue-share pumping attack earns from.
var premiumPrice = map[string]float64{
	"US": 2.00, "CA": 2.00, "GB": 1.50, "IE": 1.80, "DE": 1.99, "FR": 1.80, "ES": 1.20, "NL": 1.00,
	"IT": 1.60, "PL": 1.20, "AU": 2.50, "ZA": 0.90, "AT": 2.16, "CH": 2.50, "BE": 1.50, "LV": 2.80,
	"LT": 2.40, "EE": 2.20,
}

// midFraud are revenue-share ranges inside ordinary countries: personal
// and shared numbers that forward anywhere and pay out per minute.
var midFraud = []struct {
	region string
	typ    number.Type
	price  float64
}{
	{"GB", number.PersonalNumber, 0.38},
	{"DE", number.PersonalNumber, 0.22},
	{"GB", number.UAN, 0.12},
	{"AT", number.Mobile, 0.18},
	{"BE", number.Mobile, 0.16},
	{"CH", number.Mobile, 0.30},
}
