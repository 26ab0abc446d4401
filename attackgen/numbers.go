package attackgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/tollgate-voip/tollgate/number"
)

// numberRange is a block of real numbers: E.164 digits that start with
// Prefix and have Len digits in all, every one of which libphonenumber
// classifies as Region/Type and valid (checked when drawn).
type numberRange struct {
	Region string
	CC     int
	Type   number.Type
	Prefix string // E.164 digits, calling code included
	Len    int    // total E.164 digits
	Rate   float64
}

// numbers draws valid numbers of a given region and type. Ranges are found
// from libphonenumber's example number of that type by re-drawing all but
// the leading digits until the classifier agrees; numbers inside a range
// by re-drawing the tail the same way.
type numbers struct {
	x   *number.Intel
	rng *rand.Rand
	// ranges already found, by region and type.
	ranges map[string][]*numberRange
}

var ptypes = map[number.Type]phonenumbers.PhoneNumberType{
	number.FixedLine:         phonenumbers.FIXED_LINE,
	number.Mobile:            phonenumbers.MOBILE,
	number.FixedLineOrMobile: phonenumbers.FIXED_LINE_OR_MOBILE,
	number.TollFree:          phonenumbers.TOLL_FREE,
	number.PremiumRate:       phonenumbers.PREMIUM_RATE,
	number.SharedCost:        phonenumbers.SHARED_COST,
	number.VoIP:              phonenumbers.VOIP,
	number.PersonalNumber:    phonenumbers.PERSONAL_NUMBER,
	number.UAN:               phonenumbers.UAN,
}

// example returns libphonenumber's example of the region's type (a
// non-geographic calling code such as "881" for region "001:881"), as E.164
// digits, and the type the classifier gives it.
func (n *numbers) example(region string, t number.Type) (digits string, got number.Type, ok bool) {
	var ex *phonenumbers.PhoneNumber
	if cc, found := strings.CutPrefix(region, "001:"); found {
		c, _ := strconv.Atoi(cc)
		ex = phonenumbers.GetExampleNumberForNonGeoEntity(c)
	} else {
		pt, known := ptypes[t]
		if !known {
			return "", 0, false
		}
		ex = phonenumbers.GetExampleNumberForType(region, pt)
		if ex == nil && t == number.FixedLine {
			// NANP and a few others only know fixed-or-mobile.
			ex = phonenumbers.GetExampleNumberForType(region, phonenumbers.FIXED_LINE_OR_MOBILE)
		}
	}
	if ex == nil {
		return "", 0, false
	}
	d := strconv.Itoa(int(ex.GetCountryCode())) + phonenumbers.GetNationalSignificantNumber(ex)
	_, _, got, valid := n.x.Classify(d)
	if !valid {
		return "", 0, false
	}
	return d, got, true
}

func (n *numbers) classifyOK(d string, r *numberRange) bool {
	reg, _, t, valid := n.x.Classify(d)
	if !valid || t != r.Type {
		return false
	}
	return reg == r.Region || (strings.HasPrefix(r.Region, "001") && reg == "001")
}

// rangeOf finds a new number range of the region and type, or nil when
// libphonenumber has no such numbers there. tail is how many trailing
// digits vary inside the range.
func (n *numbers) rangeOf(region string, t number.Type, tail int) *numberRange {
	ex, got, ok := n.example(region, t)
	if !ok {
		return nil
	}
	ccLen := 1
	for l := 1; l <= 3 && l <= len(ex); l++ {
		if number.KnownCallingCode(ex[:l]) {
			ccLen = l
			break
		}
	}
	nsn := len(ex) - ccLen
	if tail > nsn-2 {
		tail = nsn - 2
	}
	if tail < 1 {
		tail = 1
	}
	keep := ccLen + 1 // calling code and the first national digit
	if nsn <= 6 {
		keep = ccLen + 2
	}
	if keep > len(ex)-tail {
		keep = len(ex) - tail
	}
	r := &numberRange{Region: region, CC: 0, Type: got, Len: len(ex)}
	r.CC, _ = strconv.Atoi(ex[:ccLen])
	buf := []byte(ex)
	for try := 0; try < 400; try++ {
		copy(buf, ex)
		// Re-draw the middle (between the kept head and the tail); the
		// later tries keep more of the example.
		from := keep + try/100
		if from > len(ex)-tail {
			from = len(ex) - tail
		}
		for i := from; i < len(ex)-tail; i++ {
			buf[i] = byte('0' + n.rng.IntN(10))
		}
		r.Prefix = string(buf[:len(ex)-tail])
		good := 0
		for k := 0; k < 6; k++ {
			if n.classifyOK(n.draw(r), r) {
				good++
			}
		}
		if good >= 5 {
			key := region + "/" + got.String()
			n.ranges[key] = append(n.ranges[key], r)
			return r
		}
	}
	// The example's own block.
	r.Prefix = ex[:len(ex)-tail]
	if !n.classifyOK(ex, r) {
		return nil
	}
	key := region + "/" + got.String()
	n.ranges[key] = append(n.ranges[key], r)
	return r
}

// draw is a random number of the range, not checked.
func (n *numbers) draw(r *numberRange) string {
	b := make([]byte, r.Len)
	copy(b, r.Prefix)
	for i := len(r.Prefix); i < r.Len; i++ {
		b[i] = byte('0' + n.rng.IntN(10))
	}
	return string(b)
}

// in is a random valid number of the range (the range's classification
// was checked when it was found; a number that fails is re-drawn).
func (n *numbers) in(r *numberRange) string {
	for try := 0; try < 50; try++ {
		d := n.draw(r)
		if n.classifyOK(d, r) {
			return d
		}
	}
	panic(fmt.Sprintf("attackgen: range %s (%s %s) yields no valid number", r.Prefix, r.Region, r.Type))
}

// seq is the i-th number of a range counted from a start: IRSF ranges are
// dialled in sequence.
func (n *numbers) seq(r *numberRange, start, i int) (string, bool) {
	tail := r.Len - len(r.Prefix)
	mod := 1
	for k := 0; k < tail; k++ {
		mod *= 10
	}
	v := (start + i) % mod
	d := r.Prefix + fmt.Sprintf("%0*d", tail, v)
	return d, n.classifyOK(d, r)
}
