package cdr

import (
	"errors"
	"strings"
	"time"
)

var errQuote = errors.New("unterminated or misplaced quote")

// splitCSV splits one CSV line into fields, reusing dst. Quoted fields
// without doubled quotes are substrings of line (no allocation).
func splitCSV(line string, dst []string) ([]string, error) {
	dst = dst[:0]
	i := 0
	for {
		if i < len(line) && line[i] == '"' {
			j := i + 1
			var b *strings.Builder
			start := j
			for {
				k := strings.IndexByte(line[j:], '"')
				if k < 0 {
					return dst, errQuote
				}
				j += k
				if j+1 < len(line) && line[j+1] == '"' {
					if b == nil {
						b = &strings.Builder{}
					}
					b.WriteString(line[start : j+1])
					j += 2
					start = j
					continue
				}
				break
			}
			f := line[start:j]
			if b != nil {
				b.WriteString(f)
				f = b.String()
			}
			dst = append(dst, f)
			j++
			if j == len(line) {
				return dst, nil
			}
			if line[j] != ',' {
				return dst, errQuote
			}
			i = j + 1
			continue
		}
		k := strings.IndexByte(line[i:], ',')
		if k < 0 {
			f := line[i:]
			if strings.IndexByte(f, '"') >= 0 {
				return dst, errQuote
			}
			return append(dst, f), nil
		}
		f := line[i : i+k]
		if strings.IndexByte(f, '"') >= 0 {
			return dst, errQuote
		}
		dst = append(dst, f)
		i += k + 1
	}
}

// atoi parses a non-negative decimal of at most 9 digits.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// dayCache remembers the last date a parser read in UTC and its midnight
// in Unix seconds: a record's stamps, and the records around it, mostly
// fall on one day, and time.Date was most of a stamp's cost.
type dayCache struct {
	date string // "YYYY-MM-DD" as read
	mid  int64
}

// parseStamp reads "YYYY-MM-DD HH:MM:SS" (a 'T' may stand for the space;
// fractional seconds and a trailing zone offset or Z are accepted) in loc.
// An empty string is the zero time. A stamp in UTC on dc's date (dc may be
// nil) is its midnight plus the time of day: the same Time time.Date
// makes.
func parseStamp(s string, loc *time.Location, dc *dayCache) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	// The date of the cache was read and found good before.
	cached := dc != nil && dc.date != "" && s[:10] == dc.date
	y, mo, d := 0, 0, 0
	if !cached {
		var ok1, ok2, ok3 bool
		y, ok1 = atoi(s[0:4])
		mo, ok2 = atoi(s[5:7])
		d, ok3 = atoi(s[8:10])
		if !(ok1 && ok2 && ok3) || mo < 1 || mo > 12 || d < 1 || d > 31 {
			return time.Time{}, false
		}
	}
	h, ok4 := atoi(s[11:13])
	mi, ok5 := atoi(s[14:16])
	se, ok6 := atoi(s[17:19])
	if !(ok4 && ok5 && ok6) || h > 23 || mi > 59 || se > 60 {
		return time.Time{}, false
	}
	rest := s[19:]
	ns := 0
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		frac := rest[1:j]
		if len(frac) > 9 {
			frac = frac[:9]
		}
		v, ok := atoi(frac)
		if !ok && frac != "" {
			return time.Time{}, false
		}
		for k := len(frac); k < 9; k++ {
			v *= 10
		}
		ns = v
		rest = rest[j:]
	}
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
		loc = time.UTC
	default:
		t, err := time.Parse("-07:00", rest)
		if err != nil {
			t, err = time.Parse("-0700", rest)
		}
		if err != nil {
			return time.Time{}, false
		}
		loc = t.Location()
	}
	if loc != time.UTC || dc == nil {
		if cached {
			y, _ = atoi(s[0:4])
			mo, _ = atoi(s[5:7])
			d, _ = atoi(s[8:10])
		}
		return time.Date(y, time.Month(mo), d, h, mi, se, ns, loc), true
	}
	if !cached {
		// Out-of-range days (02-30) are normalized by time.Date, as they
		// are without the cache.
		dc.date, dc.mid = s[:10], time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Unix()
	}
	return time.Unix(dc.mid+int64(h*3600+mi*60+se), int64(ns)).UTC(), true
}
