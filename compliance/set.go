// Package compliance keeps what outbound campaign calls are scrubbed
// against: do-not-call lists loaded from files, the internal opt-out list
// and consent records, with lookups cheap enough for the screening path.
package compliance

import (
	"errors"
	"slices"
)

// A number is held as the integer value of its E.164 digits. E.164
// numbers never start with 0, so different digit strings give different
// integers.

// Key returns the integer key of an E.164 number ("+12125550100" or
// "12125550100"); ok is false for anything that is not 2–15 digits.
func Key(e164 string) (k uint64, ok bool) {
	s := e164
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if len(s) < 2 || len(s) > 15 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + uint64(c-'0')
	}
	return k, true
}

// Set is an immutable set of numbers packed for size: the keys are split
// into a high part (key >> 16) and a 16-bit low part. Each distinct high
// part is stored once with the offset of its run of low parts, and the low
// parts are stored as sorted uint16s. A national registry's numbers are
// dense within their area codes, so a number costs little more than two
// bytes; a lookup is two binary searches and never allocates.
type Set struct {
	his  []uint64 // distinct high parts, ascending
	offs []uint32 // offs[i]..offs[i+1] index los for his[i]; len(his)+1
	los  []uint16 // low parts, ascending within each high part
}

// Len returns how many numbers the set holds.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.los)
}

// Bytes returns the memory the set's arrays take.
func (s *Set) Bytes() int {
	if s == nil {
		return 0
	}
	return 8*cap(s.his) + 4*cap(s.offs) + 2*cap(s.los)
}

// Contains reports whether key k is in the set.
func (s *Set) Contains(k uint64) bool {
	if s == nil || len(s.his) == 0 {
		return false
	}
	hi, lo := k>>16, uint16(k)
	i, ok := slices.BinarySearch(s.his, hi)
	if !ok {
		return false
	}
	_, ok = slices.BinarySearch(s.los[s.offs[i]:s.offs[i+1]], lo)
	return ok
}

// ContainsE164 reports whether an E.164 number is in the set.
func (s *Set) ContainsE164(e164 string) bool {
	k, ok := Key(e164)
	return ok && s.Contains(k)
}

// ErrTooLarge is returned when a set would exceed what its offsets hold.
var ErrTooLarge = errors.New("compliance: more than 4 billion numbers in one list")

// Builder makes a Set from keys added in ascending order (duplicates are
// dropped). Use NewSet for keys in any order.
type Builder struct {
	s    Set
	last uint64
	any  bool
	err  error
}

// NewBuilder returns a builder with room for about n numbers.
func NewBuilder(n int) *Builder {
	b := &Builder{}
	b.s.los = make([]uint16, 0, n)
	return b
}

// Add appends key k, which must not be smaller than the previous one.
func (b *Builder) Add(k uint64) error {
	if b.err != nil {
		return b.err
	}
	if b.any {
		if k == b.last {
			return nil
		}
		if k < b.last {
			b.err = errors.New("compliance: keys out of order")
			return b.err
		}
	}
	if len(b.s.los) == 1<<32-1 {
		b.err = ErrTooLarge
		return b.err
	}
	hi := k >> 16
	if !b.any || hi != b.last>>16 {
		b.s.his = append(b.s.his, hi)
		b.s.offs = append(b.s.offs, uint32(len(b.s.los)))
	}
	b.s.los = append(b.s.los, uint16(k))
	b.last, b.any = k, true
	return nil
}

// Set finishes the set. The builder must not be used afterwards.
func (b *Builder) Set() (*Set, error) {
	if b.err != nil {
		return nil, b.err
	}
	s := b.s
	s.offs = append(s.offs, uint32(len(s.los)))
	// Trim spare capacity so Bytes reports what the set really holds.
	s.his = slices.Clip(s.his)
	s.offs = slices.Clip(s.offs)
	if cap(s.los)-len(s.los) > len(s.los)/16 {
		s.los = slices.Clone(s.los)
	}
	return &s, nil
}

// NewSet builds a set from keys in any order; it sorts keys in place.
func NewSet(keys []uint64) (*Set, error) {
	slices.Sort(keys)
	b := NewBuilder(len(keys))
	for _, k := range keys {
		if err := b.Add(k); err != nil {
			return nil, err
		}
	}
	return b.Set()
}
