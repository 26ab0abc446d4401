package number

import (
	"fmt"
	"regexp"

	"github.com/nyaruka/phonenumbers"
)

// shortRules are one region's short-number patterns.
type shortRules struct {
	emergency *regexp.Regexp // nil when the region lists none
	general   desc
	shortCode desc
}

type desc struct {
	re      *regexp.Regexp
	lengths []int32
}

func newDesc(d *phonenumbers.PhoneNumberDesc) (desc, error) {
	if d == nil {
		return desc{}, nil
	}
	re, err := regexp.Compile("^(?:" + d.GetNationalNumberPattern() + ")$")
	return desc{re: re, lengths: d.PossibleLength}, err
}

// matches mirrors the library's matchesPossibleNumberAndNationalNumber.
func (d *desc) matches(s []byte) bool {
	if d.re == nil {
		return false
	}
	if len(d.lengths) > 0 {
		ok := false
		for _, l := range d.lengths {
			ok = ok || int(l) == len(s)
		}
		if !ok {
			return false
		}
	}
	return d.re.Match(s)
}

func loadShort() (map[string]*shortRules, error) {
	coll, err := phonenumbers.ShortNumberMetadataCollection()
	if err != nil {
		return nil, fmt.Errorf("number: short number metadata: %w", err)
	}
	out := map[string]*shortRules{}
	for _, m := range coll.GetMetadata() {
		sr := &shortRules{}
		if e := m.GetEmergency(); e != nil && e.GetNationalNumberPattern() != "" {
			if sr.emergency, err = regexp.Compile("^(?:" + e.GetNationalNumberPattern() + ")$"); err != nil {
				return nil, fmt.Errorf("number: %s emergency pattern: %w", m.GetId(), err)
			}
		}
		if sr.general, err = newDesc(m.GetGeneralDesc()); err != nil {
			return nil, fmt.Errorf("number: %s short pattern: %w", m.GetId(), err)
		}
		if sr.shortCode, err = newDesc(m.GetShortCode()); err != nil {
			return nil, fmt.Errorf("number: %s short code pattern: %w", m.GetId(), err)
		}
		out[m.GetId()] = sr
	}
	return out, nil
}

// isEmergency mirrors phonenumbers.IsEmergencyNumber for digits dialed
// without a "+".
func (sr *shortRules) isEmergency(digits []byte) bool {
	return sr != nil && sr.emergency != nil && sr.emergency.Match(digits)
}

// isShortCode mirrors phonenumbers.IsValidShortNumberForRegion.
func (sr *shortRules) isShortCode(digits []byte) bool {
	return sr != nil && sr.general.matches(digits) && sr.shortCode.matches(digits)
}
