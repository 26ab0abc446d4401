package cdr

import "strconv"

// scanOwnJSON reads tollgate's own JSON CDR form (one flat object of the
// jsonRecord keys) without reflection, its strings sharing line's memory.
// It handles the common shape only and reports false for anything else —
// an escape or a non-ASCII byte in a string, a key it does not know
// exactly (case variants, FreeSWITCH's variables), null, a number that is
// not a plain integer where an integer is wanted, malformed JSON — and the
// caller then decodes line with encoding/json, so what is accepted and
// every error are encoding/json's (FuzzScanOwnJSON holds the two equal).
func scanOwnJSON(line string, j *jsonRecord) bool {
	s := jscan{s: line}
	if !s.skip('{') {
		return false
	}
	if s.skip('}') {
		return s.end()
	}
	for {
		k, ok := s.str()
		if !ok || !s.skip(':') {
			return false
		}
		s.ws()
		switch k {
		case "call_id":
			ok = s.into(&j.CallID)
		case "tenant":
			ok = s.into(&j.Tenant)
		case "extension":
			ok = s.into(&j.Extension)
		case "caller":
			ok = s.into(&j.Caller)
		case "callee":
			ok = s.into(&j.Callee)
		case "direction":
			ok = s.into(&j.Direction)
		case "source_ip":
			ok = s.into(&j.SourceIP)
		case "start":
			ok = s.into(&j.Start)
		case "answer":
			ok = s.into(&j.Answer)
		case "end":
			ok = s.into(&j.End)
		case "disposition":
			ok = s.into(&j.Disposition)
		case "duration_s":
			j.Duration, ok = &j.duration, s.int(&j.duration)
		case "billsec_s":
			j.Billsec, ok = &j.billsec, s.int(&j.billsec)
		case "forwarded":
			j.Forwarded, ok = s.bool()
		case "cost":
			j.Cost, ok = s.float()
		default:
			return false
		}
		if !ok {
			return false
		}
		if s.skip('}') {
			return s.end()
		}
		if !s.skip(',') {
			return false
		}
	}
}

type jscan struct {
	s string
	i int
}

// ws skips JSON white space.
func (s *jscan) ws() {
	for s.i < len(s.s) {
		switch s.s[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// skip consumes c after white space.
func (s *jscan) skip(c byte) bool {
	s.ws()
	if s.i < len(s.s) && s.s[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *jscan) end() bool {
	s.ws()
	return s.i == len(s.s)
}

// str reads a string of printable ASCII without escapes.
func (s *jscan) str() (string, bool) {
	s.ws()
	if s.i >= len(s.s) || s.s[s.i] != '"' {
		return "", false
	}
	i := s.i + 1
	for j := i; j < len(s.s); j++ {
		c := s.s[j]
		if c == '"' {
			s.i = j + 1
			return s.s[i:j], true
		}
		if c < 0x20 || c >= 0x80 || c == '\\' {
			return "", false
		}
	}
	return "", false
}

func (s *jscan) into(dst *string) bool {
	v, ok := s.str()
	*dst = v
	return ok
}

// number reads a JSON number literal and whether it is a plain integer.
func (s *jscan) number() (lit string, integer, ok bool) {
	i := s.i
	j := i
	if j < len(s.s) && s.s[j] == '-' {
		j++
	}
	d := j
	for j < len(s.s) && s.s[j] >= '0' && s.s[j] <= '9' {
		j++
	}
	if j == d || s.s[d] == '0' && j-d > 1 {
		return "", false, false
	}
	integer = true
	if j < len(s.s) && s.s[j] == '.' {
		integer = false
		j++
		f := j
		for j < len(s.s) && s.s[j] >= '0' && s.s[j] <= '9' {
			j++
		}
		if j == f {
			return "", false, false
		}
	}
	if j < len(s.s) && (s.s[j] == 'e' || s.s[j] == 'E') {
		integer = false
		j++
		if j < len(s.s) && (s.s[j] == '+' || s.s[j] == '-') {
			j++
		}
		f := j
		for j < len(s.s) && s.s[j] >= '0' && s.s[j] <= '9' {
			j++
		}
		if j == f {
			return "", false, false
		}
	}
	s.i = j
	return s.s[i:j], integer, true
}

// int reads an integer.
func (s *jscan) int(p *int) bool {
	lit, integer, ok := s.number()
	if !ok || !integer || len(lit) > 18 {
		return false
	}
	n, err := strconv.Atoi(lit)
	*p = n
	return err == nil
}

func (s *jscan) float() (float64, bool) {
	lit, _, ok := s.number()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	return f, err == nil
}

func (s *jscan) bool() (bool, bool) {
	switch {
	case len(s.s)-s.i >= 4 && s.s[s.i:s.i+4] == "true":
		s.i += 4
		return true, true
	case len(s.s)-s.i >= 5 && s.s[s.i:s.i+5] == "false":
		s.i += 5
		return false, true
	}
	return false, false
}
