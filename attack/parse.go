package attack

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ParseLine reads one Asterisk (chan_sip, PJSIP, res_security_log, IAX2,
// AMI) or FreeSWITCH (sofia) log line. It reports false for lines that
// are not attack evidence. The event's time is the line's own time where
// it has one (year taken from ref when the line has none), else zero.
func ParseLine(line string, ref time.Time) (Event, bool) {
	if len(line) > maxLine {
		line = line[:maxLine]
	}
	if strings.Contains(line, "sofia") || strings.Contains(line, "[SOFIA]") {
		ev, ok := parseFreeSWITCH(line)
		if ok {
			ev.Time = lineTime(line, ref)
		}
		return ev, ok
	}
	ev, ok := parseAsterisk(line)
	if ok {
		ev.Time = lineTime(line, ref)
	}
	return ev, ok
}

const maxLine = 16 << 10

// between returns the text after the first occurrence of open and before
// the next close.
func between(s, open, close string) (string, bool) {
	i := strings.Index(s, open)
	if i < 0 {
		return "", false
	}
	s = s[i+len(open):]
	j := strings.Index(s, close)
	if j < 0 {
		return "", false
	}
	return s[:j], true
}

// hostPort parses "1.2.3.4", "1.2.3.4:5060", "[2001:db8::1]:5060",
// "2001:db8::1", optionally after a "UDP:"/"TCP:"/"TLS:" transport.
func hostPort(s string) (netip.Addr, int, bool) {
	s = strings.TrimSpace(s)
	for _, tr := range []string{"UDP:", "TCP:", "TLS:", "WS:", "WSS:", "udp:", "tcp:", "tls:"} {
		if rest, ok := strings.CutPrefix(s, tr); ok {
			s = rest
			break
		}
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, 0, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil {
			return netip.Addr{}, 0, false
		}
		port := 0
		if rest := s[end+1:]; strings.HasPrefix(rest, ":") {
			port, _ = strconv.Atoi(rest[1:])
		}
		return a.Unmap(), port, true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), 0, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), int(ap.Port()), true
	}
	return netip.Addr{}, 0, false
}

// sipUser extracts the user part of the first sip: URI in s.
func sipUser(s string) string {
	i := strings.Index(s, "sip:")
	if i < 0 {
		return ""
	}
	s = s[i+4:]
	j := strings.IndexByte(s, '@')
	if j < 0 {
		return ""
	}
	return s[:j]
}

func parseAsterisk(line string) (Event, bool) {
	ev := Event{Source: SourceAsterisk, Service: "SIP"}
	switch {
	case strings.Contains(line, "SecurityEvent=\""):
		return parseSecurityEvent(line)

	case strings.Contains(line, "Registration from '") && strings.Contains(line, "' failed for '"):
		// chan_sip: Registration from '<sip:301@example.com>' failed for '1.2.3.4[:port]' - Reason
		addr, ok := between(line, "' failed for '", "'")
		if !ok {
			return ev, false
		}
		a, port, ok := hostPort(addr)
		if !ok {
			return ev, false
		}
		from, _ := between(line, "Registration from '", "' failed for")
		ev.IP, ev.Port, ev.Username = a, port, sipUser(from)
		ev.Kind = registerKind(line)
		ev.Text = afterDash(line)
		return ev, true

	case strings.Contains(line, "pjsip_distributor") && strings.Contains(line, "' failed for '"):
		// PJSIP: Request ['INVITE' ]from '"1000" <sip:1000@10.0.0.1>' failed for '1.2.3.4:48336' (callid: …) - Reason
		addr, ok := between(line, "' failed for '", "'")
		if !ok {
			return ev, false
		}
		a, port, ok := hostPort(addr)
		if !ok {
			return ev, false
		}
		from, _ := between(line, " from '", "' failed for")
		ev.Service = "PJSIP"
		ev.IP, ev.Port, ev.Username = a, port, sipUser(from)
		ev.Text = afterDash(line)
		switch {
		case strings.Contains(ev.Text, "No matching endpoint"):
			ev.Kind = KindUnknownAccount
		case strings.Contains(ev.Text, "ACL"):
			ev.Kind = KindACL
		default:
			ev.Kind = KindAuthFailure
		}
		return ev, true

	case strings.Contains(line, "to extension '") && strings.Contains(line, "rejected because extension not found"):
		return parseCallRejected(line)

	case strings.Contains(line, "hacking attempt detected '"):
		addr, _ := between(line, "hacking attempt detected '", "'")
		a, port, ok := hostPort(addr)
		if !ok {
			return ev, false
		}
		ev.IP, ev.Port, ev.Kind, ev.Text = a, port, KindScan, "hacking attempt detected"
		return ev, true

	case strings.Contains(line, "Rejecting unknown SIP connection from "):
		i := strings.Index(line, "Rejecting unknown SIP connection from ")
		rest := line[i+len("Rejecting unknown SIP connection from "):]
		rest = strings.TrimRight(strings.TrimSpace(rest), "\".")
		a, port, ok := hostPort(rest)
		if !ok {
			return ev, false
		}
		ev.IP, ev.Port, ev.Kind, ev.Text = a, port, KindACL, "unknown SIP connection rejected"
		return ev, true

	case strings.Contains(line, "chan_iax2.c"):
		ev.Service = "IAX2"
		switch {
		case strings.Contains(line, " failed to authenticate as '"), strings.Contains(line, " failed MD5 authentication for '"):
			h, ok := between(line, "Host ", " failed")
			if !ok {
				return ev, false
			}
			a, _, ok := hostPort(h)
			if !ok {
				return ev, false
			}
			ev.IP, ev.Kind = a, KindAuthFailure
			ev.Username, _ = between(line[strings.Index(line, " failed"):], "'", "'")
			return ev, true
		case strings.Contains(line, "No registration for peer '"):
			ev.Username, _ = between(line, "No registration for peer '", "'")
			h, ok := between(line, "(from ", ")")
			if !ok {
				return ev, false
			}
			a, _, ok := hostPort(h)
			if !ok {
				return ev, false
			}
			ev.IP, ev.Kind = a, KindUnknownAccount
			return ev, true
		}
		return ev, false

	case strings.Contains(line, "manager.c:"):
		// AMI: "<ip> failed to authenticate as 'admin'" / "<ip> tried to authenticate with nonexistent user 'x'"
		ev.Service = "AMI"
		i := strings.Index(line, "manager.c:")
		rest := strings.TrimSpace(line[i+len("manager.c:"):])
		sp := strings.IndexByte(rest, ' ')
		if sp < 0 {
			return ev, false
		}
		a, _, ok := hostPort(rest[:sp])
		if !ok {
			return ev, false
		}
		switch {
		case strings.Contains(rest, "failed to authenticate as '"):
			ev.Kind = KindAuthFailure
			ev.Username, _ = between(rest, "failed to authenticate as '", "'")
		case strings.Contains(rest, "nonexistent user '"):
			ev.Kind = KindUnknownAccount
			ev.Username, _ = between(rest, "nonexistent user '", "'")
		default:
			return ev, false
		}
		ev.IP = a
		return ev, true
	}
	return ev, false
}

func registerKind(line string) string {
	switch {
	case strings.Contains(line, "Wrong password"), strings.Contains(line, "Username/auth name mismatch"):
		return KindAuthFailure
	case strings.Contains(line, "No matching peer"), strings.Contains(line, "Not a local domain"), strings.Contains(line, "not supposed to register"):
		return KindUnknownAccount
	case strings.Contains(line, "ACL"):
		return KindACL
	}
	return KindAuthFailure
}

func afterDash(line string) string {
	if i := strings.LastIndex(line, " - "); i >= 0 {
		return strings.TrimSpace(line[i+3:])
	}
	return ""
}

// parseCallRejected reads chan_sip's and PJSIP's "Call from … to extension
// '…' rejected because extension not found" in their variations.
func parseCallRejected(line string) (Event, bool) {
	ev := Event{Source: SourceAsterisk, Service: "SIP", Kind: KindNoRoute, Text: "call to a missing extension"}
	ev.Dialed, _ = between(line, "to extension '", "'")
	var addr string
	var ok bool
	if strings.Contains(line, "Call from '") {
		// Call from '' (1.2.3.4:10836) to … / Call from 'anonymous' (TCP:[1.2.3.4]:61470) to …
		rest := line[strings.Index(line, "Call from '")+len("Call from '"):]
		addr, ok = between(rest, "' (", ") to extension")
	} else {
		// anonymous: Call (UDP:1.2.3.4:65049) to extension …
		addr, ok = between(line, "Call (", ") to extension")
	}
	if !ok {
		return ev, false
	}
	if strings.Contains(line, "res_pjsip") {
		ev.Service = "PJSIP"
	}
	a, port, ok := hostPort(addr)
	if !ok {
		return ev, false
	}
	ev.IP, ev.Port = a, port
	return ev, true
}

// parseSecurityEvent reads res_security_log. SessionID may hold anything,
// quotes and fake fields included, so the address is taken from the last
// RemoteAddress field, which the log writes after SessionID.
func parseSecurityEvent(line string) (Event, bool) {
	ev := Event{Source: SourceAsterisk}
	name, _ := between(line, "SecurityEvent=\"", "\"")
	switch name {
	case "InvalidPassword", "ChallengeResponseFailed":
		ev.Kind = KindAuthFailure
	case "InvalidAccountID":
		ev.Kind = KindUnknownAccount
	case "FailedACL":
		ev.Kind = KindACL
	case "ChallengeSent":
		ev.Kind = KindChallenge
	case "SuccessfulAuth":
		ev.Kind = KindAuthSuccess
	default:
		return ev, false
	}
	ev.Service, _ = between(line, "Service=\"", "\"")
	if acc, ok := between(line, "AccountID=\"", "\""); ok && acc != "<unknown>" {
		ev.Username = acc
	}
	i := strings.LastIndex(line, "RemoteAddress=\"")
	if i < 0 {
		return ev, false
	}
	ra := line[i+len("RemoteAddress=\""):]
	if j := strings.IndexByte(ra, '"'); j >= 0 {
		ra = ra[:j]
	}
	// IPV4/UDP/1.2.3.4/5060 or IPV6/UDP/2001:db8::1/5060
	parts := strings.SplitN(ra, "/", 3)
	if len(parts) != 3 {
		return ev, false
	}
	hp := parts[2]
	port := 0
	if k := strings.LastIndexByte(hp, '/'); k >= 0 {
		port, _ = strconv.Atoi(hp[k+1:])
		hp = hp[:k]
	}
	a, err := netip.ParseAddr(hp)
	if err != nil {
		return ev, false
	}
	ev.IP, ev.Port, ev.Transport, ev.Text = a.Unmap(), port, strings.ToLower(parts[1]), name
	return ev, true
}

func parseFreeSWITCH(line string) (Event, bool) {
	ev := Event{Source: SourceFreeSWITCH, Service: "sofia"}
	// Only warnings are evidence: the DEBUG "Rejected by acl … Falling back
	// to Digest auth" line is normal for every phone.
	if !strings.Contains(line, "[WARNING]") && !strings.Contains(line, "[WARN]") {
		return ev, false
	}
	var who string
	switch {
	case strings.Contains(line, "SIP auth failure ("):
		ev.Kind = KindAuthFailure
		who, _ = between(line, " for [", "]")
	case strings.Contains(line, "SIP auth challenge ("):
		ev.Kind = KindChallenge
		who, _ = between(line, " for [", "]")
	case strings.Contains(line, "Can't find user ["):
		ev.Kind = KindUnknownAccount
		who, _ = between(line, "Can't find user [", "]")
	default:
		return ev, false
	}
	if m, ok := between(line, "SIP auth ", ")"); ok {
		if k := strings.IndexByte(m, '('); k >= 0 {
			ev.Text = "auth " + m[:k] + m[k+1:]
		}
	}
	user, _, _ := strings.Cut(who, "@")
	if ev.Kind == KindUnknownAccount {
		ev.Username = user
	} else {
		// For INVITEs the bracket holds the dialed number.
		ev.Dialed = user
		ev.Username = user
	}
	var addr string
	if i := strings.LastIndex(line, " from ip "); i >= 0 {
		addr = line[i+len(" from ip "):]
	} else if i := strings.LastIndex(line, "] from "); i >= 0 {
		addr = line[i+len("] from "):]
	} else {
		return ev, false
	}
	addr = strings.TrimSpace(addr)
	if sp := strings.IndexAny(addr, " \t"); sp >= 0 {
		addr = addr[:sp]
	}
	a, port, ok := hostPort(addr)
	if !ok {
		return ev, false
	}
	ev.IP, ev.Port = a, port
	return ev, true
}

var months = map[string]time.Month{"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6, "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12}

// lineTime finds the line's timestamp in the common shapes:
// "[2012-02-13 17:21:54]", "[Jan 18 17:39:50]", "Nov 4 18:30:40 host …",
// "2013-12-31 17:39:54.767815", "2016-09-25T18:57:58.150982 host …",
// "08-03 07:56:53.026292". Times are read as UTC.
func lineTime(line string, ref time.Time) time.Time {
	s := strings.TrimPrefix(line, "[")
	if len(s) >= 19 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') {
		if t, err := time.Parse("2006-01-02 15:04:05", s[:10]+" "+s[11:19]); err == nil {
			return t
		}
	}
	if len(s) >= 14 && s[2] == '-' && s[5] == ' ' && s[8] == ':' {
		if t, err := time.Parse("01-02 15:04:05", s[:14]); err == nil {
			return t.AddDate(ref.Year(), 0, 0)
		}
	}
	if len(s) >= 3 {
		if m, ok := months[s[:3]]; ok {
			f := strings.Fields(s[3:])
			if len(f) >= 2 {
				d, err := strconv.Atoi(f[0])
				hms := strings.TrimSuffix(f[1], "]")
				if err == nil {
					if t, err := time.Parse("15:04:05", hms); err == nil {
						return time.Date(ref.Year(), m, d, t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
					}
				}
			}
		}
	}
	return time.Time{}
}
