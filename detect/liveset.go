package detect

// liveSet holds the started calls (Engine.live) by their id's hash
// (idSet.hash, which Start and Observe have at hand anyway): a look-up
// hashes one word and compares ids only within the hash's chain, not a
// string hash of the id per look-up. Calls of one hash are chained by
// started.next.
type liveSet struct {
	m map[uint64]*started
	n int
}

// get returns the started call with id, whose hash is h, or nil.
func (l *liveSet) get(h uint64, id string) *started {
	for s := l.m[h]; s != nil; s = s.next {
		if s.id == id {
			return s
		}
	}
	return nil
}

// add adds s (s.id and s.idh set; no call of that id in the set).
func (l *liveSet) add(s *started) {
	if l.m == nil {
		l.m = map[uint64]*started{}
	}
	s.next = l.m[s.idh]
	l.m[s.idh] = s
	l.n++
}

// remove removes s, which is in the set.
func (l *liveSet) remove(s *started) {
	head := l.m[s.idh]
	switch {
	case head == s && s.next == nil:
		delete(l.m, s.idh)
	case head == s:
		l.m[s.idh] = s.next
	default:
		for x := head; x != nil; x = x.next {
			if x.next == s {
				x.next = s.next
				break
			}
		}
	}
	s.next = nil
	l.n--
}

// len is how many calls are in the set.
func (l *liveSet) len() int { return l.n }

// each calls f for every call in the set, in no particular order; f may
// remove the call it is given.
func (l *liveSet) each(f func(*started)) {
	for _, head := range l.m {
		for s := head; s != nil; {
			next := s.next
			f(s)
			s = next
		}
	}
}

// liveCall is the started call with id, or nil.
func (e *Engine) liveCall(id string) *started { return e.live.get(e.seen.hash(id), id) }
