package number

import (
	"encoding/binary"
	"fmt"
	"regexp/syntax"
	"slices"
)

// maxNSN is the longest national significant number libphonenumber
// accepts (MAX_LENGTH_FOR_NSN); the automata are layered up to this depth.
const maxNSN = 17

// digitProg is a regular expression compiled to a program whose
// consuming instructions are reduced to sets of ASCII digits.
type digitProg struct {
	prog  *syntax.Prog
	mask  []uint16 // per instruction: digits a consuming instruction accepts
	ncap  int      // number of capture groups
	empty bool     // the program uses empty-width assertions (^, $, \b)
}

// compileDigits parses pattern with the same flags Go's regexp package
// uses, so that semantics match the library's regexp.MustCompile.
func compileDigits(pattern string) (*digitProg, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("number: pattern %q: %w", pattern, err)
	}
	ncap := re.MaxCap()
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, fmt.Errorf("number: pattern %q: %w", pattern, err)
	}
	p := &digitProg{prog: prog, mask: make([]uint16, len(prog.Inst)), ncap: ncap}
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			var m uint16
			for d := range 10 {
				if in.MatchRune(rune('0' + d)) {
					m |= 1 << d
				}
			}
			p.mask[pc] = m
		case syntax.InstEmptyWidth:
			p.empty = true
		}
	}
	return p, nil
}

// lang is one regular language tracked by a product automaton.
type lang struct {
	p      *digitProg
	sticky int // >= 0: a prefix language (leadingDigits), matched once any prefix matches; the bit in dstate.sticky
}

// dfaBuilder determinizes a set of languages into a layered DFA: a state
// is the set of live NFA instructions plus the prefix languages already
// matched plus the depth, so that length checks are exact.
type dfaBuilder struct {
	langs   []lang
	base    []int // global NFA id of each language's instruction 0
	closure [][]int32
	owner   []int32 // language of each global NFA id
	local   []uint32

	states []dstate
	index  map[string]int32
	key    []byte
	mark   []uint32
	gen    uint32
}

type dstate struct {
	core   []int32 // consuming or matching NFA ids, sorted
	sticky uint64  // prefix languages matched so far (by index in langs)
	depth  int
}

func newDFABuilder(langs []lang) (*dfaBuilder, error) {
	if len(langs) > maxLangs {
		return nil, fmt.Errorf("number: %d languages in one automaton (max %d)", len(langs), maxLangs)
	}
	for _, l := range langs {
		if l.sticky >= 64 {
			return nil, fmt.Errorf("number: too many prefix languages in one automaton")
		}
	}
	b := &dfaBuilder{langs: langs, index: map[string]int32{}}
	n := 0
	for _, l := range langs {
		if l.p.empty {
			return nil, fmt.Errorf("number: empty-width assertion in classification pattern")
		}
		b.base = append(b.base, n)
		n += len(l.p.prog.Inst)
	}
	b.closure = make([][]int32, n)
	b.owner = make([]int32, n)
	b.local = make([]uint32, n)
	b.mark = make([]uint32, n)
	for li, l := range langs {
		for pc := range l.p.prog.Inst {
			g := b.base[li] + pc
			b.owner[g] = int32(li)
			b.local[g] = uint32(pc)
		}
	}
	for g := range n {
		b.closure[g] = b.eps(g)
	}
	return b, nil
}

// eps returns the consuming and matching instructions reachable from g
// without consuming input.
func (b *dfaBuilder) eps(g int) []int32 {
	li := int(b.owner[g])
	prog := b.langs[li].p.prog
	base := b.base[li]
	seen := map[uint32]bool{}
	var out []int32
	var walk func(pc uint32)
	walk = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(in.Out)
			walk(in.Arg)
		case syntax.InstNop, syntax.InstCapture:
			walk(in.Out)
		case syntax.InstFail:
		default: // consuming instructions and InstMatch
			out = append(out, int32(base+int(pc)))
		}
	}
	walk(b.local[g])
	slices.Sort(out)
	return out
}

func (b *dfaBuilder) isMatch(g int32) bool {
	li := b.owner[g]
	return b.langs[li].p.prog.Inst[b.local[g]].Op == syntax.InstMatch
}

// intern returns the DFA state for the given core set, folding prefix
// languages that have matched into the sticky set.
func (b *dfaBuilder) intern(core []int32, sticky uint64, depth int) int32 {
	// Prefix languages that reached a match become sticky and stop
	// contributing NFA states.
	for _, g := range core {
		if l := b.langs[b.owner[g]]; l.sticky >= 0 && b.isMatch(g) {
			sticky |= 1 << uint(l.sticky)
		}
	}
	kept := core[:0:0]
	for _, g := range core {
		if l := b.langs[b.owner[g]]; l.sticky >= 0 && sticky&(1<<uint(l.sticky)) != 0 {
			continue
		}
		kept = append(kept, g)
	}
	b.key = b.key[:0]
	b.key = append(b.key, byte(depth))
	b.key = binary.LittleEndian.AppendUint64(b.key, sticky)
	for _, g := range kept {
		b.key = binary.LittleEndian.AppendUint32(b.key, uint32(g))
	}
	if id, ok := b.index[string(b.key)]; ok {
		return id
	}
	id := int32(len(b.states))
	b.index[string(b.key)] = id
	b.states = append(b.states, dstate{core: kept, sticky: sticky, depth: depth})
	return id
}

// build runs the subset construction. trans holds 10 entries per state
// (-1 past maxNSN).
func (b *dfaBuilder) build() (trans []int32) {
	var start []int32
	for li, l := range b.langs {
		start = append(start, b.closure[b.base[li]+int(l.p.prog.Start)]...)
	}
	slices.Sort(start)
	b.intern(start, 0, 0)
	var next []int32
	for s := 0; s < len(b.states); s++ {
		st := b.states[s]
		for d := range 10 {
			if st.depth == maxNSN {
				trans = append(trans, -1)
				continue
			}
			b.gen++
			next = next[:0]
			for _, g := range st.core {
				li := b.owner[g]
				in := &b.langs[li].p.prog.Inst[b.local[g]]
				if in.Op == syntax.InstMatch || b.langs[li].p.mask[b.local[g]]&(1<<d) == 0 {
					continue
				}
				for _, h := range b.closure[b.base[li]+int(in.Out)] {
					if b.mark[h] != b.gen {
						b.mark[h] = b.gen
						next = append(next, h)
					}
				}
			}
			slices.Sort(next)
			trans = append(trans, b.intern(slices.Clone(next), st.sticky, st.depth+1))
		}
	}
	return trans
}

// maxLangs bounds the languages of one automaton (the size of langSet).
const maxLangs = 512

// langSet is a set of language indexes.
type langSet [maxLangs / 64]uint64

func (s *langSet) add(i int)      { s[i>>6] |= 1 << uint(i&63) }
func (s *langSet) has(i int) bool { return i >= 0 && s[i>>6]&(1<<uint(i&63)) != 0 }

// accepted reports which full-match languages accept at state s, and
// which prefix languages have matched.
func (b *dfaBuilder) accepted(s int) (full langSet, sticky uint64) {
	st := b.states[s]
	for _, g := range st.core {
		if b.isMatch(g) {
			full.add(int(b.owner[g]))
		}
	}
	return full, st.sticky
}
