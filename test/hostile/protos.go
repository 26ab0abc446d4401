// Package hostile is tollgate's hostile-traffic harness: a generator of
// PROTOS-style malformed INVITEs (the anomaly classes of the PROTOS
// c07-sip suite, written afresh), a seeded mutator, the RFC 4475 torture
// messages from the repository's testdata, and a flooder that sends them
// at a SIP listener over UDP or TCP while probing that it still answers.
// The tests in this directory aim it at the redirect listener, the proxy
// (with a SIPp UAS behind it) and the honeypot; see README.md.
package hostile

import (
	"strconv"
	"strings"
)

// Params fills in the addresses of generated messages.
type Params struct {
	Target    string // host:port of the listener (Request-URI, To)
	Local     string // host:port of the sender (Via, Contact): answers come back there
	Transport string // "UDP" or "TCP"
	Callee    string // the number dialled, e.g. +12125550100
	Caller    string // the calling user, e.g. 1001
}

// Case is one generated test case: an INVITE carrying one anomaly, and
// the CANCEL that tears it down (as PROTOS sends after each case).
type Case struct {
	Group    string // element/anomaly, e.g. "Via-Host/overflow-1024"
	Invite   []byte
	Teardown []byte
}

// slot names, in the order the template uses them.
var slots = []string{
	"Request-Method", "Request-URI", "SIP-Version",
	"Via-Protocol", "Via-Host", "Via-Port", "Via-Branch",
	"From-Displayname", "From-URI", "From-Tag",
	"To-Displayname", "To-URI",
	"Call-ID", "CSeq-Integer", "CSeq-Method",
	"Contact-Displayname", "Contact-URI", "Max-Forwards", "Expires", "Content-Type", "User-Agent",
	"SDP-Version", "SDP-Origin-Username", "SDP-Origin-Sessionid", "SDP-Origin-Networktype", "SDP-Origin-IP",
	"SDP-Session", "SDP-Connection-Networktype", "SDP-Connection-Addrtype", "SDP-Connection-IP",
	"SDP-Time-Start", "SDP-Time-Stop", "SDP-Media-Media", "SDP-Media-Port", "SDP-Media-Transport",
	"SDP-Media-Format", "SDP-Attribute-Rtpmap-PT", "SDP-Attribute-Rtpmap-Name",
}

// anomaly is one hostile value put in a slot.
type anomaly struct{ name, value string }

func anomalies() []anomaly {
	var as []anomaly
	for _, n := range []int{128, 256, 1024, 2048, 16384, 60000} {
		as = append(as, anomaly{"overflow-a-" + strconv.Itoa(n), strings.Repeat("a", n)})
	}
	for _, c := range []string{"%", "\"", "<", ">", ":", ";", "@", ",", "=", " ", "\t", "\\", "[", "/", "?", "&"} {
		as = append(as, anomaly{"overflow-" + strconv.Quote(c), strings.Repeat(c, 1024)})
	}
	for i, s := range []string{"%s%s%s%s%s%s%s%s%s%s", "%n%n%n%n%n%n%n%n", strings.Repeat("%x", 64), "%99999999999s", "%.1024d", "%@%p%c%u%ld"} {
		as = append(as, anomaly{"format-" + strconv.Itoa(i), s})
	}
	for _, s := range []string{"-1", "0", "-0", "+1", "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
		"18446744073709551616", "99999999999999999999999999", "0x7fffffff", "1e309", "NaN", "00000000000000000000001", "1.5"} {
		as = append(as, anomaly{"integer-" + s, s})
	}
	for i, s := range []string{"", "\x00", "a\x00b", "\x00\x00\x00\x00", "\r", "\n", "\r\n", "x\r\nVia: SIP/2.0/UDP 192.0.2.66;branch=z9hG4bKinj",
		"x\r\n\r\n", "\x1b[2J\x1b[0;0H", "\xff\xfe\xfd", "\xc3\x28\xa0\xa1", "\xef\xbb\xbf", "%00", "%zz", "%",
		"256.256.256.256", "[::1", "::1]", "[fe80::1%eth0]", "999.0.0.1:99999", "a b c", "<>", "\"\"", ";;;;"} {
		as = append(as, anomaly{"special-" + strconv.Itoa(i), s})
	}
	return as
}

// render builds the INVITE from slot values; a missing slot takes its
// default. skip names header lines left out, dup lists header lines sent
// twice, cl overrides the Content-Length line ("" computes it, "-"
// leaves it out).
func render(p Params, i int, v map[string]string, skip, dup map[string]bool, cl string) []byte {
	d := func(k, def string) string {
		if s, ok := v[k]; ok {
			return s
		}
		return def
	}
	host, port, _ := strings.Cut(p.Local, ":")
	id := strconv.Itoa(i)
	sdp := "v=" + d("SDP-Version", "0") + "\r\n" +
		"o=" + d("SDP-Origin-Username", "user1") + " " + d("SDP-Origin-Sessionid", "53655765") + " 2353687637 " +
		d("SDP-Origin-Networktype", "IN") + " IP4 " + d("SDP-Origin-IP", host) + "\r\n" +
		"s=" + d("SDP-Session", "-") + "\r\n" +
		"c=" + d("SDP-Connection-Networktype", "IN") + " " + d("SDP-Connection-Addrtype", "IP4") + " " + d("SDP-Connection-IP", host) + "\r\n" +
		"t=" + d("SDP-Time-Start", "0") + " " + d("SDP-Time-Stop", "0") + "\r\n" +
		"m=" + d("SDP-Media-Media", "audio") + " " + d("SDP-Media-Port", "49170") + " " + d("SDP-Media-Transport", "RTP/AVP") + " " + d("SDP-Media-Format", "0 101") + "\r\n" +
		"a=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:" + d("SDP-Attribute-Rtpmap-PT", "101") + " " + d("SDP-Attribute-Rtpmap-Name", "telephone-event/8000") + "\r\n"
	type line struct{ name, text string }
	lines := []line{
		{"Via", "Via: " + d("Via-Protocol", "SIP/2.0/"+p.Transport) + " " + d("Via-Host", host) + ":" + d("Via-Port", port) + ";branch=" + d("Via-Branch", "z9hG4bK-p"+id) + ";rport"},
		{"From", "From: \"" + d("From-Displayname", "Alice") + "\" <" + d("From-URI", "sip:"+p.Caller+"@"+host) + ">;tag=" + d("From-Tag", "p"+id)},
		{"To", "To: \"" + d("To-Displayname", "Bob") + "\" <" + d("To-URI", "sip:"+p.Callee+"@"+p.Target) + ">"},
		{"Call-ID", "Call-ID: " + d("Call-ID", "protos-"+id+"@"+host)},
		{"CSeq", "CSeq: " + d("CSeq-Integer", "1") + " " + d("CSeq-Method", "INVITE")},
		{"Contact", "Contact: \"" + d("Contact-Displayname", "Alice") + "\" <" + d("Contact-URI", "sip:"+p.Caller+"@"+p.Local) + ">"},
		{"Max-Forwards", "Max-Forwards: " + d("Max-Forwards", "70")},
		{"Expires", "Expires: " + d("Expires", "60")},
		{"User-Agent", "User-Agent: " + d("User-Agent", "hostile-protos")},
		{"Content-Type", "Content-Type: " + d("Content-Type", "application/sdp")},
	}
	var b strings.Builder
	b.WriteString(d("Request-Method", "INVITE") + " " + d("Request-URI", "sip:"+p.Callee+"@"+p.Target) + " " + d("SIP-Version", "SIP/2.0") + "\r\n")
	for _, l := range lines {
		if skip[l.name] {
			continue
		}
		b.WriteString(l.text + "\r\n")
		if dup[l.name] {
			b.WriteString(l.text + "\r\n")
		}
	}
	switch cl {
	case "":
		b.WriteString("Content-Length: " + strconv.Itoa(len(sdp)) + "\r\n")
	case "-":
	default:
		b.WriteString(cl)
	}
	b.WriteString("\r\n")
	b.WriteString(sdp)
	return []byte(b.String())
}

// cancel is the teardown of case i: a well-formed CANCEL for its branch.
func cancel(p Params, i int) []byte {
	host, _, _ := strings.Cut(p.Local, ":")
	id := strconv.Itoa(i)
	return []byte("CANCEL sip:" + p.Callee + "@" + p.Target + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + p.Transport + " " + p.Local + ";branch=z9hG4bK-p" + id + ";rport\r\n" +
		"From: \"Alice\" <sip:" + p.Caller + "@" + host + ">;tag=p" + id + "\r\n" +
		"To: \"Bob\" <sip:" + p.Callee + "@" + p.Target + ">\r\n" +
		"Call-ID: protos-" + id + "@" + host + "\r\n" +
		"CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
}

// Valid is the suite's valid case: a well-formed INVITE with SDP.
func Valid(p Params, i int) []byte { return render(p, i, nil, nil, nil, "") }

// PROTOS returns the PROTOS-style suite for p: the valid case, then every
// element of the INVITE (request line, Via, From, To, Call-ID, CSeq,
// Contact, Max-Forwards, Expires, Content-Type, User-Agent and each SDP
// field) replaced in turn by each anomaly (overflowing strings, format
// strings, bad integers, NULs and control octets, CRLF injection, bad
// escapes and addresses), then structural anomalies: each header missing
// or duplicated, Content-Length absent, negative, short, long, huge,
// not a number or given twice, and broken line ends and bodies.
func PROTOS(p Params) []Case {
	var cs []Case
	add := func(group string, inv []byte) {
		i := len(cs)
		cs = append(cs, Case{Group: group, Invite: inv, Teardown: cancel(p, i)})
	}
	add("valid", Valid(p, 0))
	as := anomalies()
	for _, s := range slots {
		for _, a := range as {
			add(s+"/"+a.name, render(p, len(cs), map[string]string{s: a.value}, nil, nil, ""))
		}
	}
	for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Content-Type"} {
		add(h+"/missing", render(p, len(cs), nil, map[string]bool{h: true}, nil, ""))
		add(h+"/duplicated", render(p, len(cs), nil, nil, map[string]bool{h: true}, ""))
	}
	for _, cl := range []string{"-", "Content-Length: -1\r\n", "Content-Length: 0\r\n", "Content-Length: 1\r\n", "Content-Length: 99999999\r\n",
		"Content-Length: 4294967296\r\n", "Content-Length: abc\r\n", "Content-Length: \r\n", "Content-Length: 10\r\nContent-Length: 20\r\n",
		"Content-Length: +5\r\n", "Content-Length: 0x10\r\n", "Content-Length: 5000\r\n", "l: 3\r\n", "Content-Length:" + strings.Repeat(" ", 2000) + "5\r\n"} {
		add("Content-Length/"+strconv.Quote(cl), render(p, len(cs), nil, nil, nil, cl))
	}
	v := Valid(p, len(cs))
	s := string(v)
	head, sdp, _ := strings.Cut(s, "\r\n\r\n")
	for _, c := range [][2]string{
		{"lf-only", strings.ReplaceAll(s, "\r\n", "\n")},
		{"cr-only", strings.ReplaceAll(s, "\r\n", "\r")},
		{"no-blank-line", head + "\r\n" + sdp},
		{"no-body", head + "\r\n\r\n"},
		{"request-line-only", strings.SplitN(s, "\r\n", 2)[0] + "\r\n\r\n"},
		{"empty", ""},
		{"crlf-only", "\r\n\r\n\r\n\r\n"},
		{"leading-crlf", "\r\n\r\n" + s},
		{"header-no-colon", strings.Replace(s, "Max-Forwards: 70", "Max-Forwards 70", 1)},
		{"header-name-huge", strings.Replace(s, "Expires: 60", strings.Repeat("X", 4000)+": 60", 1)},
		{"folded-everywhere", strings.ReplaceAll(head, ": ", ":\r\n \t ") + "\r\n\r\n" + sdp},
		{"many-headers", strings.Replace(s, "Expires: 60\r\n", strings.Repeat("X-Junk: 1\r\n", 500), 1)},
		{"sdp-binary", head + "\r\n\r\n" + strings.Repeat("\x00\xff\x80\x7f", 40)},
		{"sdp-many-m", head + "\r\n\r\n" + strings.Repeat("m=audio 1 RTP/AVP 0\r\n", 300)},
		{"sdp-empty-lines", head + "\r\n\r\n" + strings.Repeat("=\r\n", 100)},
		{"sdp-tab-c", head + "\r\n\r\nv=0\r\nc=IN IP4 \t\r\nm=audio 4000 RTP/AVP 0\r\n"},
		{"sdp-only-types", head + "\r\n\r\nv\r\no\r\ns\r\nc\r\nt\r\nm\r\na\r\n"},
		{"nul-in-header", strings.Replace(s, "Max-Forwards: 70", "Max-\x00Forwards: 70", 1)},
		{"two-messages", s + s},
	} {
		add("Request/"+c[0], []byte(c[1]))
	}
	return cs
}
