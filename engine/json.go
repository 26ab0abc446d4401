package engine

import (
	"strconv"
	"unicode/utf8"

	"github.com/tollgate-voip/tollgate/screen"
)

// AppendReasonsJSON appends reasons as a JSON array, the shape the API and
// the decision log use, without reflection.
func AppendReasonsJSON(b []byte, rs []screen.Reason) []byte {
	b = append(b, '[')
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"check":`...)
		b = AppendString(b, r.Check)
		b = append(b, `,"code":`...)
		b = AppendString(b, r.Code)
		b = append(b, `,"text":`...)
		b = AppendString(b, r.Text)
		b = append(b, `,"rule":`...)
		b = AppendString(b, r.Rule)
		b = append(b, `,"action":"`...)
		b = append(b, r.Action.String()...)
		b = append(b, `","risk":`...)
		b = strconv.AppendInt(b, int64(r.Risk), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			case c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&15])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
