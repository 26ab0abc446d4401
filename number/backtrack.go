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

// match reports whether the pattern matches a prefix of in, and fills
// caps (pairs of start/end; -1 when a group did not take part). ok is
// false when the budget ran out and the answer is unknown.
func (m *prefixMatcher) match(in []byte) (matched bool, caps [2 * maxCaps]int, ok bool) {
	for i := range caps {
		caps[i] = -1
	}
	caps[0] = 0
	steps := 0
	matched = try(m.p, in, &caps, &steps, uint32(m.p.prog.Start), 0)
	return matched, caps, steps <= backtrackBudget
}

// try explores the program from pc at pos, alternatives in priority order.
func try(p *digitProg, in []byte, caps *[2 * maxCaps]int, steps *int, pc uint32, pos int) bool {
	insts := p.prog.Inst
	for {
		*steps++
		if *steps > backtrackBudget {
			return false
		}
		inst := &insts[pc]
		switch inst.Op {
		case syntax.InstMatch:
			caps[1] = pos
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			if try(p, in, caps, steps, inst.Out, pos) {
				return true
			}
			pc = inst.Arg
		case syntax.InstCapture:
			if int(inst.Arg) < len(caps) {
				old := caps[inst.Arg]
				caps[inst.Arg] = pos
				if try(p, in, caps, steps, inst.Out, pos) {
					return true
				}
				caps[inst.Arg] = old
				return false
			}
			pc = inst.Out
		case syntax.InstNop:
			pc = inst.Out
		case syntax.InstEmptyWidth:
			r1, r2 := rune(-1), rune(-1)
			if pos > 0 {
				r1 = rune(in[pos-1])
			}
			if pos < len(in) {
				r2 = rune(in[pos])
			}
			if syntax.EmptyOp(inst.Arg)&^syntax.EmptyOpContext(r1, r2) != 0 {
				return false
			}
			pc = inst.Out
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if pos >= len(in) {
				return false
			}
			c := in[pos] - '0'
			if c > 9 || p.mask[pc]&(1<<c) == 0 {
				return false
			}
			pos++
			pc = inst.Out
		default:
			return false
		}
	}
}
