package number

import (
	"fmt"

	"github.com/nyaruka/phonenumbers"
)

// Flags of a short-number automaton state.
const (
	shortEmergency = 1 << iota // phonenumbers.IsEmergencyNumber
	shortCode                  // phonenumbers.IsValidShortNumberForRegion
)

// shortTable holds every region's short-number patterns compiled to
// automata, like the classifier's.
type shortTable struct {
	trans []int32
	flags []uint8
	start map[string]int32
}

func loadShort() (*shortTable, error) {
	coll, err := phonenumbers.ShortNumberMetadataCollection()
	if err != nil {
		return nil, fmt.Errorf("number: short number metadata: %w", err)
	}
	st := &shortTable{start: map[string]int32{}}
	for _, m := range coll.GetMetadata() {
		if err := st.add(m); err != nil {
			return nil, fmt.Errorf("number: %s short numbers: %w", m.GetId(), err)
		}
	}
	return st, nil
}

func (st *shortTable) add(m *phonenumbers.PhoneMetadata) error {
	ds := []*phonenumbers.PhoneNumberDesc{m.GetEmergency(), m.GetGeneralDesc(), m.GetShortCode()}
	var langs []lang
	idx := [3]int{-1, -1, -1}
	for i, d := range ds {
		if d == nil || d.GetNationalNumberPattern() == "" {
			continue
		}
		p, err := compileDigits(d.GetNationalNumberPattern())
		if err != nil {
			return err
		}
		idx[i] = len(langs)
		langs = append(langs, lang{p: p, sticky: -1})
	}
	b, err := newDFABuilder(langs)
	if err != nil {
		return err
	}
	trans := b.build()
	off := int32(len(st.flags))
	for _, t := range trans {
		if t >= 0 {
			t += off
		}
		st.trans = append(st.trans, t)
	}
	// matches mirrors matchesPossibleNumberAndNationalNumber.
	matches := func(acc langSet, i, depth int) bool {
		if !acc.has(idx[i]) {
			return false
		}
		if len(ds[i].PossibleLength) == 0 {
			return true
		}
		for _, l := range ds[i].PossibleLength {
			if int(l) == depth {
				return true
			}
		}
		return false
	}
	for s := range b.states {
		acc, _ := b.accepted(s)
		var f uint8
		if acc.has(idx[0]) { // IsEmergencyNumber checks the pattern only
			f |= shortEmergency
		}
		if matches(acc, 1, b.states[s].depth) && matches(acc, 2, b.states[s].depth) {
			f |= shortCode
		}
		st.flags = append(st.flags, f)
	}
	st.start[m.GetId()] = off
	return nil
}

// lookup returns the flags for digits dialed without "+" in region.
func (st *shortTable) lookup(region string, digits []byte) uint8 {
	s, ok := st.start[region]
	if !ok || len(digits) > maxNSN {
		return 0
	}
	for _, ch := range digits {
		d := ch - '0'
		if d > 9 || s < 0 {
			return 0
		}
		s = st.trans[int(s)*10+int(d)]
	}
	if s < 0 {
		return 0
	}
	return st.flags[s]
}
