package sipfront

import (
	"context"
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/check/callerid"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/screen"
)

// worker holds the per-goroutine state of the hot path, reused for every
// message so screening a call allocates little.
type worker struct {
	s   *Server
	m   message
	c   screen.Call
	v   screen.Verdict
	out []byte
	src netip.AddrPort
	tr  string
	// Where the message came from, for the proxy: the UDP socket it was
	// read from, or the stream connection.
	udp  *net.UDPConn
	conn net.Conn
	// scannerUA: the current request came from a known attack tool and
	// was reported as such (report.go).
	scannerUA bool
}

func (s *Server) newWorker() *worker {
	return &worker{s: s, out: make([]byte, 0, 2048), m: message{fields: make([]field, 0, 32)}}
}

// handle processes one message received from src and returns the
// response to send back and where (for UDP); nil means no response.
func (w *worker) handle(ctx context.Context, raw []byte, src netip.AddrPort, transport string) ([]byte, netip.AddrPort) {
	w.src, w.tr = src, transport
	st := &w.s.stats
	st.Messages.Add(1)
	m := &w.m
	if err := m.scan(string(raw), w.s.cfg.Limit.MaxHeaders); err != nil {
		st.Malformed.Add(1)
		if m.response {
			return nil, src
		}
		return w.rescue(err)
	}
	if p := w.s.proxy; p != nil && !p.ready.Load() {
		return nil, src // the proxy is still learning its addresses
	}
	if m.response {
		st.Responses.Add(1)
		if w.s.proxy != nil {
			w.s.proxy.response(w)
		}
		// A stateless element has no transaction a response could match.
		return nil, src
	}
	if m.count[hVia] == 0 {
		st.Malformed.Add(1)
		return nil, src // nowhere to send a response
	}
	if m.version != "SIP/2.0" {
		return w.simple(505, "Version Not Supported", "")
	}
	for _, h := range [...]struct {
		id   int
		name string
	}{{hFrom, "From"}, {hTo, "To"}, {hCallID, "Call-ID"}, {hCSeq, "CSeq"}} {
		switch m.count[h.id] {
		case 0:
			st.Malformed.Add(1)
			return w.simple(400, "Missing "+h.name, "")
		case 1:
		default:
			st.Malformed.Add(1)
			return w.simple(400, "Multiple "+h.name, "")
		}
	}
	if m.count[hMaxForwards] > 1 {
		return w.simple(400, "Multiple Max-Forwards", "")
	}
	if mf := m.get(hMaxForwards); mf != "" {
		if _, ok := atoiBounded(mf, 255); !ok {
			return w.simple(400, "Bad Max-Forwards", "")
		}
	}
	if !balanced(m.get(hFrom)) || !balanced(m.get(hTo)) {
		return w.simple(400, "Unterminated Quoted String", "")
	}
	if !viaWellFormed(m) {
		return w.simple(400, "Bad Via", "")
	}
	num, meth, ok := strings.Cut(m.get(hCSeq), " ")
	if _, nok := atoiBounded(num, 1<<31-1); !ok || !nok || trimLWS(meth) != m.method {
		return w.simple(400, "Bad CSeq", "")
	}
	if w.scannerUA = w.scanner(); !w.scannerUA && m.count[hTo] == 1 && tagOf(m.get(hTo)) == "" {
		w.probe()
	}
	if p := w.s.proxy; p != nil {
		if done := p.request(ctx, w); done {
			return nil, src
		}
	}
	switch m.method {
	case "ACK":
		return nil, src
	case "INVITE", "OPTIONS":
	case "CANCEL":
		// Every INVITE got its final response at once: nothing to cancel.
		return w.simple(481, "Call/Transaction Does Not Exist", "")
	default:
		return w.simple(405, "Method Not Allowed", "Allow: INVITE, ACK, CANCEL, OPTIONS\r\n")
	}
	if req := m.get(hRequire); req != "" && (w.s.proxy == nil || m.method != "INVITE") {
		// tollgate supports no extension a request could require.
		return w.simple(420, "Bad Extension", "Unsupported: "+strings.Join(strings.Fields(strings.ReplaceAll(req, ",", " ")), ", ")+"\r\n")
	}
	if m.method == "OPTIONS" {
		if _, err := uriUser(m.ruri); err != nil && isStatus(err, 416) {
			return w.simple(416, "Unsupported URI Scheme", "")
		}
		return w.simple(200, "OK", "Allow: INVITE, ACK, CANCEL, OPTIONS\r\nAccept: application/sdp\r\n")
	}
	if w.s.proxy != nil {
		w.s.proxy.invite(ctx, w)
		return nil, src
	}
	return w.invite(ctx)
}

// balanced reports whether quotes (with \-escapes) are closed.
func balanced(v string) bool {
	in := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if in {
				i++
			}
		case '"':
			in = !in
		}
	}
	return !in
}

// viaWellFormed checks every via-parm: SIP/2.0/transport, a sent-by and
// no empty parameters (RFC 4475 3.1.2.1).
func viaWellFormed(m *message) bool {
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != hVia {
			continue
		}
		for v := f.value; v != ""; {
			var one string
			one, v = splitComma(v)
			one = trimLWS(one)
			if host, _ := viaSentBy(one); host == "" {
				return false
			}
			_, params, _ := strings.Cut(one, ";")
			for params != "" {
				var p string
				p, params, _ = strings.Cut(params, ";")
				if trimLWS(p) == "" {
					return false
				}
			}
		}
	}
	return true
}

func isStatus(err error, code int) bool {
	var me *MapError
	return errors.As(err, &me) && me.Status == code
}

// invite screens an initial INVITE and answers with the verdict.
func (w *worker) invite(ctx context.Context) ([]byte, netip.AddrPort) {
	if strings.Contains(w.m.get(hTo), ";tag=") {
		// A re-INVITE: a redirect server is never in a dialog.
		return w.simple(481, "Call/Transaction Does Not Exist", "")
	}
	if resp, dst := w.screenInvite(ctx); resp != nil {
		return resp, dst
	}
	return w.verdict()
}

// screenInvite maps and screens an initial INVITE into w.c and w.v. It
// returns the response when the call could not be screened (nil when
// w.v holds a verdict).
func (w *worker) screenInvite(ctx context.Context) ([]byte, netip.AddrPort) {
	m := &w.m
	st := &w.s.stats
	st.Invites.Add(1)
	if ct := m.get(hContentType); m.body != "" && ct != "" && !acceptedType(ct) {
		return w.simple(415, "Unsupported Media Type", "Accept: application/sdp\r\n")
	}
	if err := w.s.mapper.mapMessage(m, w.src.Addr().Unmap(), w.tr, &w.c); err != nil {
		st.Malformed.Add(1)
		var me *MapError
		if errors.As(err, &me) && me.Status != 0 {
			return w.simple(me.Status, phrase(me.Status), "")
		}
		return w.simple(400, "Bad Request", "")
	}
	if err := w.s.eng.Screen(ctx, &w.c, &w.v); err != nil {
		st.Refused.Add(1)
		switch {
		case errors.Is(err, engine.ErrUnknownTenant):
			if !w.scannerUA {
				w.report(attack.KindUnknownAccount, w.c.Tenant, "INVITE for unknown tenant "+quoteClip(w.c.Tenant))
			}
			return w.reject(w.s.cfg.RejectCode, "unknown_tenant", "unknown tenant")
		case errors.Is(err, engine.ErrInvalid):
			return w.reject(484, "invalid_request", trimErr(err.Error()))
		}
		return w.unavailable("screening failed")
	}
	if w.c.AuthUser != "" && !w.scannerUA && w.v.Has("account_locked") {
		// A guess for a locked account, refused before any PBX checked
		// it: counted against the address (the account is locked already).
		w.report(attack.KindAuthFailure, "", "credentials for locked account "+quoteClip(w.c.AuthUser))
	}
	return nil, w.src
}

func trimErr(s string) string {
	s = strings.TrimPrefix(s, "invalid: ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// acceptedType reports whether an INVITE body type is one tollgate lets
// pass (it never reads the body; the callee will).
func acceptedType(ct string) bool {
	ct = strings.ToLower(ct)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = trimLWS(ct)
	return ct == "application/sdp" || strings.HasPrefix(ct, "multipart/")
}

// verdict writes the response for a screened call.
func (w *worker) verdict() ([]byte, netip.AddrPort) {
	v := &w.v
	cfg := w.s.cfg
	if v.Unavailable {
		return w.unavailable(engine.ReasonText(v))
	}
	var target string
	switch v.Enforced {
	case screen.Allow:
		target = cfg.Upstream
	case screen.Challenge:
		target = cfg.Challenge
		if target == "" {
			return w.rejectVerdict()
		}
	case screen.Honeypot:
		target = cfg.Honeypot
		if target == "" {
			return w.rejectVerdict()
		}
	default:
		return w.rejectVerdict()
	}
	w.s.stats.Redirected.Add(1)
	b := w.begin(302, "Moved Temporarily")
	b = append(b, "Contact: <"...)
	b = appendTarget(b, target, w.m.ruri)
	b = append(b, ">\r\n"...)
	b = w.appendVerdict(b, "")
	w.out = b
	return w.end()
}

// appendTarget appends the Contact URI: the original Request-URI when no
// target is configured, the target itself when it names a user, else the
// target with the dialed user put in (a tel: Request-URI's number, with
// its parameters, becomes the user: RFC 3261 19.1.6).
func appendTarget(b []byte, target, ruri string) []byte {
	if target == "" {
		return append(b, ruri...)
	}
	scheme, rest, _ := strings.Cut(target, ":")
	if strings.IndexByte(rest, '@') >= 0 {
		return append(b, target...)
	}
	rs, rr, _ := strings.Cut(ruri, ":")
	user, _, ok := strings.Cut(rr, "@")
	if !ok && strings.EqualFold(rs, "tel") {
		user, ok = rr, rr != ""
	}
	if !ok || strings.IndexByte(user, '@') >= 0 || strings.ContainsAny(user, "<>\" \t") {
		return append(b, target...)
	}
	b = append(b, scheme...)
	b = append(b, ':')
	b = append(b, user...)
	b = append(b, '@')
	return append(b, rest...)
}

func (w *worker) rejectVerdict() ([]byte, netip.AddrPort) {
	w.s.stats.Rejected.Add(1)
	code, ph := w.s.cfg.RejectCode, ""
	// A call refused because its Identity header failed verification is
	// answered with the RFC 8224 code of the failure (403 Stale Date, 428,
	// 436, 437, 438), so the caller's side learns what to fix; with
	// 428 Use Identity Header when policy refuses calls without one.
	if p, ok := w.v.Primary(); ok && p.Check == "callerid" {
		switch p.Code {
		case callerid.CodeFailed:
			if c, s := callerid.IdentityError(&w.v); c != 0 {
				code, ph = c, s
			}
		case callerid.CodeAbsent:
			code, ph = 428, "Use Identity Header"
		}
	}
	if ph == "" {
		ph = phrase(code)
	}
	b := w.begin(code, ph)
	b = appendReason(b, code, engine.ReasonText(&w.v))
	b = w.appendVerdict(b, "")
	w.out = b
	return w.end()
}

// reject answers a call the engine refused to screen.
func (w *worker) reject(code int, reason, text string) ([]byte, netip.AddrPort) {
	w.s.stats.Rejected.Add(1)
	b := w.begin(code, phrase(code))
	b = appendReason(b, code, text)
	b = append(b, "X-Tollgate-Verdict: reject;risk=0;reasons=\""...)
	b = append(b, reason...)
	b = append(b, "\"\r\n"...)
	w.out = b
	return w.end()
}

func (w *worker) unavailable(text string) ([]byte, netip.AddrPort) {
	w.s.stats.Unavailable.Add(1)
	b := w.begin(503, "Service Unavailable")
	b = append(b, "Retry-After: "...)
	b = strconv.AppendInt(b, int64(w.s.cfg.RetryAfter), 10)
	b = append(b, "\r\n"...)
	b = appendReason(b, 503, text)
	b = w.appendVerdict(b, "")
	w.out = b
	return w.end()
}

// appendVerdict writes X-Tollgate-Verdict: the enforced action, the risk,
// the reason codes and the maximum duration; in shadow mode also what
// would have been done.
func (w *worker) appendVerdict(b []byte, _ string) []byte {
	v := &w.v
	b = append(b, "X-Tollgate-Verdict: "...)
	b = append(b, v.Enforced.String()...)
	b = append(b, ";risk="...)
	b = strconv.AppendInt(b, int64(v.Risk), 10)
	b = append(b, ";reasons=\""...)
	for i, r := range v.Reasons() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSafe(b, r.Code, false)
	}
	b = append(b, "\";max_duration="...)
	b = strconv.AppendInt(b, int64(v.MaxDuration), 10)
	if v.Shadow {
		b = append(b, ";decided="...)
		b = append(b, v.Action.String()...)
		b = append(b, ";shadow"...)
	}
	return append(b, "\r\n"...)
}

// appendReason writes an RFC 3326 Reason header.
func appendReason(b []byte, code int, text string) []byte {
	b = append(b, "Reason: SIP;cause="...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ";text=\""...)
	b = appendSafe(b, text, true)
	return append(b, "\"\r\n"...)
}

// appendSafe appends s for a quoted string: no controls, quotes or
// backslashes escaped (when quote), at most 256 bytes.
func appendSafe(b []byte, s string, quote bool) []byte {
	if len(s) > 256 {
		s = s[:256]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < ' ' || c == 0x7f:
			b = append(b, ' ')
		case c == '"' || c == '\\':
			if quote {
				b = append(b, '\\', c)
			}
		default:
			b = append(b, c)
		}
	}
	return b
}

// simple answers with a status line, the copied headers and extra lines.
func (w *worker) simple(code int, reason, extra string) ([]byte, netip.AddrPort) {
	b := w.begin(code, reason)
	b = append(b, extra...)
	w.out = b
	return w.end()
}

// begin starts a response to the scanned request: status line, Via (with
// received and rport filled in, RFC 3261 18.2.1 and RFC 3581), From, To
// with a tag, Call-ID and CSeq.
func (w *worker) begin(code int, reason string) []byte {
	b := w.out[:0]
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	b = append(b, "\r\n"...)
	m := &w.m
	firstVia := true
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != hVia {
			continue
		}
		b = append(b, "Via: "...)
		if firstVia {
			b = w.appendTopVia(b, f.value)
			firstVia = false
		} else {
			b = append(b, f.value...)
		}
		b = append(b, "\r\n"...)
	}
	b = append(b, "From: "...)
	b = append(b, m.get(hFrom)...)
	b = append(b, "\r\nTo: "...)
	to := m.get(hTo)
	b = append(b, to...)
	if code > 100 && !strings.Contains(to, ";tag=") {
		b = append(b, ";tag="...)
		b = w.appendTag(b)
	}
	b = append(b, "\r\nCall-ID: "...)
	b = append(b, m.get(hCallID)...)
	b = append(b, "\r\nCSeq: "...)
	b = append(b, m.get(hCSeq)...)
	return append(b, "\r\n"...)
}

// end finishes the response and picks where a UDP response goes: the
// source address, at the source port when the top Via asks for rport,
// else at its sent-by port.
func (w *worker) end() ([]byte, netip.AddrPort) {
	w.out = append(w.out, "Content-Length: 0\r\n\r\n"...)
	dst := w.src
	if w.tr == "udp" {
		top, _ := splitComma(w.m.get(hVia))
		if _, has := viaParam(top, "rport"); !has {
			port := uint16(5060)
			if _, p := viaAddress(top); p > 0 {
				port = uint16(p)
			}
			dst = netip.AddrPortFrom(w.src.Addr(), port)
		}
	}
	return w.out, dst
}

// appendTopVia copies the top Via adding received= and rport=.
func (w *worker) appendTopVia(b []byte, value string) []byte {
	top, rest := splitComma(value)
	top = trimLWS(top)
	host, _ := viaAddress(top)
	src := w.src.Addr().Unmap()
	for len(top) > 0 {
		var p string
		p, top, _ = strings.Cut(top, ";")
		p = trimLWS(p)
		if strings.EqualFold(p, "rport") {
			b = append(b, ";rport="...)
			b = strconv.AppendUint(b, uint64(w.src.Port()), 10)
			continue
		}
		if len(b) > 0 && b[len(b)-1] != ' ' {
			b = append(b, ';')
		}
		b = append(b, p...)
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err != nil || a.Unmap() != src {
		b = append(b, ";received="...)
		b = src.AppendTo(b)
	}
	if rest != "" {
		b = append(b, ',')
		b = append(b, rest...)
	}
	return b
}

// viaSentBy returns the host and port (0 when absent) of one via-parm,
// "SIP / 2.0 / UDP host:port;params", LWS allowed around the slashes.
func viaSentBy(via string) (string, int) { return sentBy(via, true) }

// viaAddress is viaSentBy for addressing a response: any SIP version is
// read, so the 505 to a "SIP/7.0/UDP host:port" Via reaches that port.
func viaAddress(via string) (string, int) { return sentBy(via, false) }

func sentBy(via string, only20 bool) (string, int) {
	if i := strings.IndexByte(via, ';'); i >= 0 {
		via = via[:i]
	}
	name, rest, ok1 := strings.Cut(via, "/")
	version, rest, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || !strings.EqualFold(trimLWS(name), "SIP") || only20 && trimLWS(version) != "2.0" || trimLWS(version) == "" {
		return "", 0
	}
	rest = strings.TrimLeft(rest, " \t")
	i := strings.IndexAny(rest, " \t")
	if i <= 0 {
		return "", 0
	}
	sb := trimLWS(rest[i:])
	host, port := sb, ""
	if strings.HasPrefix(sb, "[") {
		if i := strings.IndexByte(sb, ']'); i > 0 {
			host, port = sb[:i+1], strings.TrimPrefix(sb[i+1:], ":")
		}
	} else if i := strings.LastIndexByte(sb, ':'); i >= 0 {
		host, port = sb[:i], sb[i+1:]
	}
	if strings.ContainsAny(trimLWS(host), " \t") {
		return "", 0
	}
	p, _ := atoiBounded(trimLWS(port), 65535)
	return trimLWS(host), p
}

// viaParam finds a parameter of one via-parm.
func viaParam(via, name string) (string, bool) {
	_, params, _ := strings.Cut(via, ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(trimLWS(k), name) {
			return trimLWS(v), true
		}
	}
	return "", false
}

var tagSeed = maphash.MakeSeed()

// appendTag appends a To tag that is the same for retransmissions of one
// request, as a stateless element must give (RFC 3261 16.11).
func (w *worker) appendTag(b []byte) []byte {
	var h maphash.Hash
	h.SetSeed(tagSeed)
	h.WriteString(w.m.get(hCallID))
	h.WriteString(w.m.get(hFrom))
	top, _ := splitComma(w.m.get(hVia))
	br, _ := viaParam(top, "branch")
	h.WriteString(br)
	b = append(b, "tg"...)
	return strconv.AppendUint(b, h.Sum64(), 36)
}

// rescue answers 400 to a request the scanner refused when enough of it
// can be read to address a response; otherwise it drops it.
func (w *worker) rescue(cause error) ([]byte, netip.AddrPort) {
	raw := w.m.raw
	m := &w.m
	m.fields = m.fields[:0]
	m.first, m.count = [nHeaderIDs]int16{}, [nHeaderIDs]uint8{}
	_, rest, _ := cutLine(raw)
	for n := 0; n < w.s.cfg.Limit.MaxHeaders; n++ {
		line, r, ok := cutLine(rest)
		if !ok || line == "" {
			break
		}
		rest = r
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		id := headerID(trimLWS(name))
		if id == hOther || m.count[id] > 0 && id != hVia {
			continue
		}
		m.fields = append(m.fields, field{id: id, name: name, value: trimLWS(value)})
		if m.first[id] == 0 {
			m.first[id] = int16(len(m.fields))
		}
		m.count[id]++
	}
	for _, id := range [...]int{hVia, hFrom, hTo, hCallID, hCSeq} {
		if m.count[id] == 0 {
			return nil, w.src
		}
	}
	if _, meth, _ := strings.Cut(m.get(hCSeq), " "); trimLWS(meth) == "ACK" {
		return nil, w.src
	}
	reason := "Bad Request"
	switch cause {
	case errTooMany:
		reason = "Too Many Header Fields"
	case errCLen, errCLenTooLong:
		reason = "Bad Content-Length"
	case errStartLine:
		reason = "Malformed Request-Line"
	}
	return w.simple(400, reason, "")
}

func phrase(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 416:
		return "Unsupported URI Scheme"
	case 415:
		return "Unsupported Media Type"
	case 484:
		return "Address Incomplete"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	return "Error"
}
