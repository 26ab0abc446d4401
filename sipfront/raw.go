package sipfront

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// header ids for the fields the front end reads.
const (
	hOther = iota
	hVia
	hFrom
	hTo
	hCallID
	hCSeq
	hMaxForwards
	hContentLength
	hContentType
	hRequire
	hPAI
	hUserAgent
	hIdentity
	hContact
	hRoute
	hRecordRoute
	hProxyRequire
	hAuthorization
	hProxyAuthorization
	nHeaderIDs
)

// field is one header line as received (name as written, value trimmed).
type field struct {
	id    uint8
	name  string
	value string
}

// message is one SIP message scanned without copying: every string
// slices raw. The grammar-heavy parts (URIs, name-addr) are left to
// sipgo's parsers; the scanner only frames, splits and checks counts.
type message struct {
	raw      string
	response bool
	method   string
	ruri     string
	version  string
	fields   []field
	first    [nHeaderIDs]int16 // index+1 of the first field with each id
	count    [nHeaderIDs]uint8
	body     string
	clen     int // -1 when absent
	// uris is where the mapping parses the From and Request-URIs, kept
	// with the worker's message so that parsing does not allocate them.
	uris *[2]sip.Uri
}

var (
	errEmpty       = errors.New("sipfront: empty message")
	errStartLine   = errors.New("sipfront: malformed start line")
	errHeader      = errors.New("sipfront: malformed header line")
	errTooMany     = errors.New("sipfront: too many header fields")
	errNoEnd       = errors.New("sipfront: header section not terminated")
	errCLen        = errors.New("sipfront: bad Content-Length")
	errCLenTooLong = errors.New("sipfront: Content-Length beyond the message")
)

// scan splits a whole message (a datagram or a framed stream message)
// into m. maxFields bounds the header lines. A datagram may carry
// octets after the body; they are ignored (RFC 3261 18.3).
func (m *message) scan(raw string, maxFields int) error {
	*m = message{raw: raw, fields: m.fields[:0], clen: -1, uris: m.uris}
	// Leading CRLFs are keep-alives or stream padding (RFC 3261 7.5).
	for strings.HasPrefix(raw, "\r\n") {
		raw = raw[2:]
	}
	if raw == "" {
		return errEmpty
	}
	line, rest, ok := cutLine(raw)
	if !ok {
		return errNoEnd
	}
	if err := m.startLine(line); err != nil {
		return err
	}
	for {
		// Find the end of this header, folded continuation lines
		// (RFC 3261 7.3.1) included: a line end followed by SP or HT.
		end := 0
		for {
			i := strings.IndexByte(rest[end:], '\n')
			if i < 0 {
				return errNoEnd
			}
			end += i + 1
			if end >= len(rest) || (rest[end] != ' ' && rest[end] != '\t') || end == 1 || end == 2 && rest[0] == '\r' {
				break
			}
		}
		line, rest = rest[:end], rest[end:]
		line = trimRightSet(line, '\r', '\n')
		if line == "" {
			break
		}
		if len(m.fields) >= maxFields {
			return errTooMany
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return errHeader
		}
		name := trimRightSet(line[:colon], ' ', '\t')
		if !isToken(name) {
			return errHeader
		}
		value := trimLWS(line[colon+1:])
		if strings.IndexByte(value, '\n') >= 0 || strings.IndexByte(value, '\r') >= 0 {
			value = unfold(value)
		}
		id := headerID(name)
		m.fields = append(m.fields, field{id: id, name: name, value: value})
		if m.first[id] == 0 {
			m.first[id] = int16(len(m.fields))
		}
		if m.count[id] < 255 {
			m.count[id]++
		}
	}
	if m.count[hContentLength] > 0 {
		if m.count[hContentLength] > 1 {
			return errCLen
		}
		n, ok := atoiBounded(m.get(hContentLength), 1<<24)
		if !ok {
			return errCLen
		}
		m.clen = n
		if n > len(rest) {
			return errCLenTooLong
		}
		m.body = rest[:n]
	} else {
		m.body = rest
	}
	return nil
}

func (m *message) startLine(line string) error {
	if strings.HasPrefix(line, "SIP/") {
		m.response = true
		return nil
	}
	// Method SP Request-URI SP SIP-Version, single spaces (RFC 3261 7.1).
	sp1 := strings.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errStartLine
	}
	sp2 := strings.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 || sp2 == len(line)-1 {
		return errStartLine
	}
	m.method, m.ruri, m.version = line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !isToken(m.method) || strings.ContainsAny(m.ruri, " \t<>") {
		return errStartLine
	}
	if !strings.HasPrefix(m.version, "SIP/") {
		return errStartLine
	}
	return nil
}

// get returns the value of the first field with id, or "".
func (m *message) get(id int) string {
	if i := m.first[id]; i > 0 {
		return m.fields[i-1].value
	}
	return ""
}

// lookup returns the first field named name (case-insensitive), or "".
func (m *message) lookup(name string) string {
	for i := range m.fields {
		if strings.EqualFold(m.fields[i].name, name) {
			return m.fields[i].value
		}
	}
	return ""
}

// cutLine returns the text before the next CRLF (or bare LF) and the rest;
// ok is false when no line end is left.
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return "", s, false
	}
	return strings.TrimSuffix(s[:i], "\r"), s[i+1:], true
}

// unfold replaces the line breaks of a folded value with spaces.
func unfold(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, v)
}

func trimLWS(s string) string {
	i, j := 0, len(s)
	for i < j && isLWS(s[i]) {
		i++
	}
	for j > i && isLWS(s[j-1]) {
		j--
	}
	return s[i:j]
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// trimRightSet drops trailing a and b bytes: strings.TrimRight with a
// two-byte cutset, without building the cutset's table on every call.
func trimRightSet(s string, a, b byte) string {
	j := len(s)
	for j > 0 && (s[j-1] == a || s[j-1] == b) {
		j--
	}
	return s[:j]
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}

// atoiBounded parses a non-negative decimal number no larger than max.
func atoiBounded(s string, max int) (int, bool) {
	if s == "" || len(s) > 10 {
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
	return n, n <= max
}

// headerID maps a header name, long or compact form, to its id.
func headerID(name string) uint8 {
	if len(name) == 1 {
		switch name[0] | 0x20 {
		case 'v':
			return hVia
		case 'f':
			return hFrom
		case 't':
			return hTo
		case 'i':
			return hCallID
		case 'l':
			return hContentLength
		case 'c':
			return hContentType
		case 'm':
			return hContact
		}
		return hOther
	}
	for _, h := range headerNames {
		if len(h.name) == len(name) && strings.EqualFold(h.name, name) {
			return h.id
		}
	}
	return hOther
}

var headerNames = [...]struct {
	name string
	id   uint8
}{
	{"Via", hVia}, {"From", hFrom}, {"To", hTo}, {"Call-ID", hCallID}, {"CSeq", hCSeq},
	{"Max-Forwards", hMaxForwards}, {"Content-Length", hContentLength}, {"Content-Type", hContentType},
	{"Require", hRequire}, {"P-Asserted-Identity", hPAI}, {"User-Agent", hUserAgent},
	{"Identity", hIdentity}, {"Contact", hContact}, {"Route", hRoute}, {"Record-Route", hRecordRoute},
	{"Proxy-Require", hProxyRequire}, {"Authorization", hAuthorization}, {"Proxy-Authorization", hProxyAuthorization},
}
