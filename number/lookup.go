package number

import (
	"fmt"
	"strconv"
	"strings"
)

// cleaned is a dialed string reduced to its digits.
type cleaned struct {
	buf     [MaxDigits]byte
	n       int
	plus    bool // a leading "+"
	service bool // contains '*' or '#': a service code, not a number
}

func (c *cleaned) digits() []byte { return c.buf[:c.n] }

// clean strips visual separators and checks that only telephone
// characters remain.
func clean(dialed string, c *cleaned) error {
	for i := 0; i < len(dialed); i++ {
		ch := dialed[i]
		switch {
		case ch >= '0' && ch <= '9':
			if c.n == MaxDigits {
				return fmt.Errorf("%w %q: more than %d digits", ErrInvalid, dialed, MaxDigits)
			}
			c.buf[c.n] = ch
			c.n++
		case ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')' || ch == '/' || ch == '\t':
		case ch == '+':
			if c.n > 0 || c.plus || c.service {
				return fmt.Errorf("%w %q: '+' at offset %d is not at the start", ErrInvalid, dialed, i)
			}
			c.plus = true
		case ch == '*' || ch == '#':
			if c.plus {
				return fmt.Errorf("%w %q: %q in an international number", ErrInvalid, dialed, ch)
			}
			c.service = true
		default:
			return fmt.Errorf("%w %q: character %q at offset %d is not a digit or separator", ErrInvalid, dialed, rune(ch), i)
		}
	}
	if c.n == 0 {
		if strings.TrimSpace(dialed) == "" {
			return fmt.Errorf("%w: empty", ErrInvalid)
		}
		return fmt.Errorf("%w %q: no digits", ErrInvalid, dialed)
	}
	return nil
}

// Lookup normalizes what was dialed to E.164 in the caller's dial plan and
// reports what is known about it. dp may be nil, or have no Country: the
// digits are then read as E.164 with or without the "+".
//
// A leading "+" or an international prefix (dp.IntlPrefixes, or the
// country's default from libphonenumber) starts an international number;
// otherwise the country's emergency numbers (Kind Emergency) and short
// codes (Kind ShortCode) are recognized, and anything else is a national
// number whose national prefix (dp.NationalPrefix, or libphonenumber's
// rules for the country) is stripped. Dialed strings with '*' or '#' are
// service codes (Kind ShortCode). Malformed input yields an error wrapping
// ErrInvalid. A number that is not valid still reports its calling code
// and, where libphonenumber names no region, the calling code's main
// region. Info.Risk is shared and must not be modified.
func (x *Intel) Lookup(dialed string, dp *DialPlan) (Info, error) {
	var c cleaned
	if err := clean(dialed, &c); err != nil {
		return Info{Dialed: dialed}, err
	}
	digits := c.digits()
	country := ""
	if dp != nil {
		country = dp.Country
		if strings.ToUpper(country) != country {
			country = strings.ToUpper(country)
		}
	}
	if c.service {
		// A vertical service code in front of a number (*67 caller-ID
		// block, #31# CLIR, *82 …) still dials that number: screen the
		// number, or the code would be a way around every rule.
		s := strings.Map(serviceChar, dialed)
		code, rest, ok := splitServiceCode(s)
		if !ok {
			// Any other shape still dials the number it carries: a '#'
			// or '*' that ends dialing ("*72<number>#",
			// "**21*<number>#" call forwarding), GSM parameters after
			// it. The code with its end cut off is tried, then any run
			// of digits long enough to be a number; two such runs are
			// refused, since either could be the one dialed.
			t := strings.TrimRight(s, "*#")
			if code, rest, ok = splitServiceCode(t); ok {
				code += s[len(t):]
			} else if at, end, n := numberRun(s); n > 1 {
				return Info{Dialed: dialed}, fmt.Errorf("%w %q: more than one number in a service code", ErrInvalid, dialed)
			} else if ok = n == 1; ok {
				code, rest = s[:at]+s[end:], s[at:end]
			}
		}
		if ok {
			info, err := x.Lookup(rest, dp)
			if err != nil {
				return Info{Dialed: dialed}, err
			}
			info.Dialed = dialed
			info.ServiceCode = code
			return info, nil
		}
		info := Info{Dialed: dialed, E164: s, Kind: ShortCode, Country: country}
		if ref, ok := x.cls.byRegion[country]; ok {
			info.CallingCode = x.cls.plans[ref.plan].cc
		}
		return info, nil
	}
	if c.plus || country == "" {
		return x.international(dialed, digits), nil
	}
	ref, ok := x.cls.byRegion[country]
	if !ok {
		return Info{Dialed: dialed}, fmt.Errorf("number: dial plan country %q is not a region libphonenumber knows", country)
	}
	p := &x.cls.plans[ref.plan]
	short := x.short.lookup(country, digits)
	if short&shortEmergency != 0 {
		return Info{Dialed: dialed, E164: string(digits), Kind: Emergency, Country: country, CallingCode: p.cc, Valid: true}, nil
	}
	if rest, ok := x.stripIntl(digits, dp, country); ok {
		return x.international(dialed, rest), nil
	}

	// A national number.
	var r resolved
	nsn := digits
	if dp.NationalPrefix != "" {
		if len(digits) > len(dp.NationalPrefix)+1 && string(digits[:len(dp.NationalPrefix)]) == dp.NationalPrefix {
			nsn = digits[len(dp.NationalPrefix):]
		}
	} else if cand, ok := x.cls.stripPrefix(p, &ref.nat, digits, x.cls.walk(p.start, digits), r.nsn[:0]); ok {
		nsn = cand
	}
	r.plan = p
	r.n = copy(r.nsn[:], nsn)
	r.state = x.cls.walk(p.start, r.nsn[:r.n])
	if r.n < 2 {
		r.state = -1
	}
	valid := r.state >= 0 && x.cls.typ[r.state] != Unknown
	if !valid && short&shortCode != 0 {
		return Info{Dialed: dialed, E164: string(digits), Kind: ShortCode, Country: country, CallingCode: p.cc, Valid: true}, nil
	}
	if !valid && len(digits) > len(p.ccStr) && string(digits[:len(p.ccStr)]) == p.ccStr {
		// The caller left out the "+" before the country code.
		if info := x.international(dialed, digits); info.Valid {
			return info, nil
		}
	}
	return x.fill(dialed, &r), nil
}

// splitServiceCode splits "*67 212 555 1234" into "*67" and the number
// after it. A code is '*' or '#' (one or two), then digits up to a closing
// '*' or '#' (GSM style, "#31#"), or exactly two digits (NANP style, "*67").
// ok is false when no number of at least three digits follows.
func splitServiceCode(dialed string) (code, rest string, ok bool) {
	s := strings.Map(serviceChar, dialed)
	i := 0
	for i < len(s) && i < 2 && (s[i] == '*' || s[i] == '#') {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	j := i
	for j < len(s) && j-i < 4 && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	switch {
	case j < len(s) && (s[j] == '*' || s[j] == '#') && j > i:
		j++ // GSM style: closed by '*' or '#'
	case j-i >= 2:
		j = i + 2 // NANP style: two digits
	default:
		return "", "", false
	}
	code, rest = s[:j], s[j:]
	if len(rest) < 3 || strings.ContainsAny(rest, "*#") {
		return "", "", false
	}
	return code, rest, true
}

// minNumberRun is the fewest digits a run inside a service string needs
// to be screened as a number: a local NANP number has seven, and an
// international number dialed with its prefix more; the codes' own
// fields (*#21#, ##002#, a 4-digit PIN) have fewer.
const minNumberRun = 7

// numberRun finds the runs of at least minNumberRun digits in s (digits,
// '*' and '#' only): the first one's bounds and how many there are.
func numberRun(s string) (at, end, n int) {
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i >= minNumberRun {
			if n == 0 {
				at, end = i, j
			}
			n++
		}
		if j == i {
			j++
		}
		i = j
	}
	return at, end, n
}

func serviceChar(r rune) rune {
	if r >= '0' && r <= '9' || r == '*' || r == '#' {
		return r
	}
	return -1
}

// stripIntl removes an international prefix from digits dialed in country.
// Like libphonenumber, it does not strip a prefix followed by '0'.
func (x *Intel) stripIntl(digits []byte, dp *DialPlan, country string) ([]byte, bool) {
	end := -1
	if len(dp.IntlPrefixes) > 0 {
		for _, p := range dp.IntlPrefixes {
			if len(p) > end && len(p) < len(digits) && string(digits[:len(p)]) == p {
				end = len(p)
			}
		}
	} else if m := x.intl[country]; m != nil {
		if ok, caps, _ := m.match(digits); ok {
			end = caps[1]
		}
	}
	if end <= 0 || end >= len(digits) || digits[end] == '0' {
		return nil, false
	}
	return digits[end:], true
}

// international reports on E.164 digits.
func (x *Intel) international(dialed string, digits []byte) Info {
	var r resolved
	if x.cls.resolve(string(digits), &r) {
		return x.fill(dialed, &r)
	}
	// The library cannot parse it; still say what the prefix tells.
	info := Info{Dialed: dialed, E164: "+" + string(digits)}
	if len(digits) >= 3 {
		k := int(digits[0]-'0')*100 + int(digits[1]-'0')*10 + int(digits[2]-'0')
		if pi := x.cls.ccPlan[k]; pi != 0 {
			p := &x.cls.plans[pi-1]
			info.CallingCode = p.cc
			info.Country = p.regions[0]
		}
	}
	x.annotate(&info, digits)
	return info
}

// fill builds the Info for a resolved number.
func (x *Intel) fill(dialed string, r *resolved) Info {
	var e [4 + maxInput + 24]byte
	e[0] = '+'
	n := 1 + copy(e[1:], r.plan.ccStr)
	n += copy(e[n:], r.nsn[:r.n])
	info := Info{Dialed: dialed}
	if string(e[:n]) == dialed {
		info.E164 = dialed // dialed in E.164 already: no copy
	} else {
		info.E164 = string(e[:n])
	}
	info.Country, info.CallingCode, info.Type, info.Valid = x.cls.answer(r)
	if info.Country == "" {
		// A shared calling code where no region's rules match: report the
		// main region, as the calling code alone suggests.
		info.Country = r.plan.regions[0]
	}
	x.annotate(&info, e[1:n])
	return info
}

// annotate adds carrier, risk and rate for E.164 digits.
func (x *Intel) annotate(info *Info, digits []byte) {
	info.Carrier = x.carrier.lookup(digits)
	info.Risk = x.risk.lookup(digits)
	info.Rate, info.RatePrefix = x.rates.lookup(digits)
}

// ccString is the decimal calling code, precomputed per plan.
func ccString(cc int) string { return strconv.Itoa(cc) }
