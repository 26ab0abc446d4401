package number

import "regexp/syntax"

// maxCaps is the number of capture groups (plus the whole match) a
// prefix matcher records.
const maxCaps = 4

// backtrackBudget bounds the work of one anchored prefix match; the
// patterns involved are small, so hitting it means a pathological
// pattern, and the caller falls back to the regexp package.
const backtrackBudget = 4096

// prefixMatcher finds the leftmost-first match of a pattern anchored at
// the start of a digit string, with captures, without allocating. It
// explores alternatives in the same priority order as Go's regexp, so
// match end and captures agree with regexp.FindSubmatchIndex.
type prefixMatcher struct {
	p *digitProg
}

type btState struct {
	p     *digitProg
	in    []byte
	caps  [2 * maxCaps]int
	steps int
}

// match reports whether the pattern matches a prefix of in, and fills
// caps (pairs of start/end; -1 when a group did not take part). ok is
// false when the budget ran out and the answer is unknown.
func (m *prefixMatcher) match(in []byte) (matched bool, caps [2 * maxCaps]int, ok bool) {
	st := btState{p: m.p, in: in}
	for i := range st.caps {
		st.caps[i] = -1
	}
	st.caps[0] = 0
	matched = st.try(uint32(m.p.prog.Start), 0)
	return matched, st.caps, st.steps <= backtrackBudget
}

func (st *btState) try(pc uint32, pos int) bool {
	insts := st.p.prog.Inst
	for {
		st.steps++
		if st.steps > backtrackBudget {
			return false
		}
		in := &insts[pc]
		switch in.Op {
		case syntax.InstMatch:
			st.caps[1] = pos
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			if st.try(in.Out, pos) {
				return true
			}
			pc = in.Arg
		case syntax.InstCapture:
			if int(in.Arg) < len(st.caps) {
				old := st.caps[in.Arg]
				st.caps[in.Arg] = pos
				if st.try(in.Out, pos) {
					return true
				}
				st.caps[in.Arg] = old
				return false
			}
			pc = in.Out
		case syntax.InstNop:
			pc = in.Out
		case syntax.InstEmptyWidth:
			r1, r2 := rune(-1), rune(-1)
			if pos > 0 {
				r1 = rune(st.in[pos-1])
			}
			if pos < len(st.in) {
				r2 = rune(st.in[pos])
			}
			if syntax.EmptyOp(in.Arg)&^syntax.EmptyOpContext(r1, r2) != 0 {
				return false
			}
			pc = in.Out
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if pos >= len(st.in) {
				return false
			}
			c := st.in[pos] - '0'
			if c > 9 || st.p.mask[pc]&(1<<c) == 0 {
				return false
			}
			pos++
			pc = in.Out
		default:
			return false
		}
	}
}
