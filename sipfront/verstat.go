package sipfront

import "strings"

// withVerstat returns a P-Asserted-Identity or From header value whose URI
// carries verstat=vs (ATIS-1000074: the verification result travels to the
// PBX in the identity it will display). A verstat the caller sent is
// replaced: tollgate is the trust boundary, and an unverified caller could
// otherwise claim TN-Validation-Passed. For sip: URIs the parameter goes
// into the user part (sip:+1215…;verstat=…@host), for tel: URIs after the
// number.
func withVerstat(hdr, vs string) string {
	start := strings.IndexByte(hdr, '<')
	end := -1
	if start >= 0 {
		end = strings.IndexByte(hdr[start:], '>')
		if end >= 0 {
			end += start
		}
	}
	var uri string
	if start >= 0 && end > start {
		uri = hdr[start+1 : end]
	} else {
		// name-addr without brackets: the URI runs to the first ';' (header params follow).
		start, end = -1, strings.IndexByte(hdr, ';')
		if end < 0 {
			end = len(hdr)
		}
		uri = strings.TrimSpace(hdr[:end])
	}
	uri = stripParam(uri, "verstat")
	switch {
	case len(uri) >= 4 && asciiEqualFold(uri[:4], "tel:"):
		// tel:+12155551212;verstat=…[;other params]
		if i := strings.IndexByte(uri, ';'); i >= 0 {
			uri = uri[:i] + ";verstat=" + vs + uri[i:]
		} else {
			uri += ";verstat=" + vs
		}
	default:
		if at := strings.IndexByte(uri, '@'); at >= 0 {
			uri = uri[:at] + ";verstat=" + vs + uri[at:]
		} else {
			return hdr // no user part to carry it
		}
	}
	// A verstat among the header's own parameters goes too.
	tail := stripParam(hdr[end:], "verstat")
	if start >= 0 {
		// A verstat before the '<' (in a malformed display name) would
		// be a second, attacker-chosen one for a lax downstream parser.
		return stripParam(hdr[:start], "verstat") + "<" + uri + tail
	}
	return "<" + uri + ">" + tail
}

// withoutVerstat returns a P-Asserted-Identity or From header value with
// every verstat parameter removed (user part, URI and header parameters,
// in each comma-separated identity): no caller-ID check ran, so a
// verstat there is the caller's own claim and must not reach the PBX as
// if tollgate had verified it.
func withoutVerstat(hdr string) string {
	if indexParam(hdr, "verstat") < 0 {
		return hdr
	}
	return stripParamUntil(hdr, "verstat", ";@?>, \t")
}

// stripParam removes every ;name=… parameter from a URI (user part or
// URI parameters), case-insensitively.
func stripParam(uri, name string) string { return stripParamUntil(uri, name, ";@?>") }

// stripParamUntil is stripParam with the bytes that end a value.
func stripParamUntil(uri, name, ends string) string {
	var b strings.Builder
	for {
		i := indexParam(uri, name)
		if i < 0 {
			b.WriteString(uri)
			return b.String()
		}
		b.WriteString(uri[:i])
		rest := uri[i+1:]
		j := strings.IndexAny(rest, ends)
		if j < 0 {
			return b.String()
		}
		uri = rest[j:]
	}
}

// indexParam finds ";name=" in uri, ASCII case-insensitively, by byte
// offset (strings.ToLower would shift offsets on invalid UTF-8).
func indexParam(uri, name string) int {
	n := len(name) + 2
	for i := 0; i+n <= len(uri); i++ {
		if uri[i] == ';' && uri[i+n-1] == '=' && asciiEqualFold(uri[i+1:i+n-1], name) {
			return i
		}
	}
	return -1
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
