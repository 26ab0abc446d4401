package honeypot

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/tollgate-voip/tollgate/attack"
)

const allowed = "OPTIONS, REGISTER, INVITE, ACK, BYE, CANCEL"

func (s *Server) handle(p packet) {
	raw := p.data
	ev := Event{Time: p.at.UTC(), SourceIP: p.from.Addr().Unmap().String(), SourcePort: int(p.from.Port()), Transport: p.transport()}
	if len(raw) > s.o.MaxMessage {
		ev.Kind, ev.Detail = EvMalformed, "datagram larger than "+strconv.Itoa(s.o.MaxMessage)+" bytes"
		ev.Message = append([]byte(nil), raw[:s.o.MaxMessage]...)
		s.stats.malformed.Add(1)
		s.record(ev, p.from.Addr(), "")
		return
	}
	if isKeepalive(raw) {
		return
	}
	msg, err := sip.ParseMessage(raw)
	if err != nil {
		// Scanners send junk Contacts ("Contact: None"); a PBX answers
		// anyway, so the decoy retries without them.
		if m2, err2 := sip.ParseMessage(withoutContact(raw)); err2 == nil {
			msg, err = m2, nil
			ev.Detail = "unparseable Contact ignored"
		}
	}
	if err != nil {
		s.stats.malformed.Add(1)
		ev.Kind, ev.Detail = EvMalformed, truncate(err.Error(), 200)
		ev.Message = raw
		s.record(ev, p.from.Addr(), "")
		return
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		// A response: the 200 to our BYE, say. Nothing to do.
		return
	}
	if req.Via() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		s.stats.malformed.Add(1)
		ev.Kind, ev.Detail = EvMalformed, "missing Via, From, To, Call-ID or CSeq"
		ev.Message = raw
		s.record(ev, p.from.Addr(), "")
		return
	}
	req.SetSource(p.from.String())
	s.stats.handled.Add(1)
	ev.Message = raw // the packet's own copy, kept by the event
	ev.Method = string(req.Method)
	ev.From = truncate(req.From().Address.String(), 256)
	ev.To = truncate(req.To().Address.String(), 256)
	ev.RequestURI = truncate(req.Recipient.String(), 256)
	ev.CallID = truncate(req.CallID().Value(), 256)
	if h := req.GetHeader("User-Agent"); h != nil {
		ev.UserAgent = truncate(h.Value(), 256)
	}
	switch req.Method {
	case sip.OPTIONS:
		ev.Kind = EvOptions
		res := s.response(req, 200, "OK")
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
		s.reply(&p, res)
	case sip.REGISTER:
		s.register(p, req, &ev)
	case sip.INVITE:
		s.invite(p, req, &ev)
	case sip.ACK:
		s.acked(p, req) // proof of the caller's address (learn.go)
		return
	case sip.BYE:
		ev.Kind = EvBye
		s.reply(&p, s.response(req, 200, "OK"))
		s.endCall(req.CallID().Value(), "caller hung up")
	case sip.CANCEL:
		ev.Kind = EvCancel
		s.reply(&p, s.response(req, 200, "OK"))
		s.endCall(req.CallID().Value(), "caller cancelled")
	default:
		ev.Kind = EvOther
		res := s.response(req, 405, "Method Not Allowed")
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		s.reply(&p, res)
	}
	s.record(ev, p.from.Addr(), ev.UserAgent)
}

// withoutContact returns the message with its Contact header lines removed.
func withoutContact(raw []byte) []byte {
	out := make([]byte, 0, len(raw))
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if len(bytes.TrimSpace(line)) == 0 {
			out = append(out, line...)
			out = append(out, rest...)
			break
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if bytes.EqualFold(name, []byte("Contact")) || bytes.EqualFold(name, []byte("m")) {
			continue
		}
		out = append(out, line...)
	}
	return out
}

func isKeepalive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != ' ' && c != 0 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// response builds a reply with the decoy's banner and a To tag derived
// from the Call-ID, so retransmissions get the same tag.
func (s *Server) response(req *sip.Request, code int, reason string) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	if to := res.To(); to != nil && code > 100 {
		if _, ok := to.Params.Get("tag"); !ok {
			to.Params.Add("tag", s.tag(req.CallID().Value()))
		}
	}
	res.AppendHeader(sip.NewHeader("Server", s.o.Banner))
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Supported", "replaces, timer"))
	return res
}

func (s *Server) reply(p *packet, res *sip.Response) {
	if res.ContentLength() == nil {
		res.SetBody(nil)
	}
	s.sendOn(p.conn, p.from, res.String())
}

func (s *Server) tag(callID string) string {
	sum := s.mac("tag", callID)
	return hex.EncodeToString(sum[:6])
}

// known says whether the decoy "has" this user: 3-to-5-digit extensions
// do, anything else gets 404, so extension scanners see a believable PBX.
func known(user string) bool {
	if len(user) < 3 || len(user) > 5 {
		return false
	}
	for i := 0; i < len(user); i++ {
		if user[i] < '0' || user[i] > '9' {
			return false
		}
	}
	return true
}

func (s *Server) register(p packet, req *sip.Request, ev *Event) {
	user := req.To().Address.User
	if user == "" {
		user = req.From().Address.User
	}
	ev.Username = truncate(user, 128)
	auth := req.GetHeader("Authorization")
	if auth == nil {
		if !known(user) {
			ev.Kind = EvUnknownUser
			s.reply(&p, s.response(req, 404, "Not Found"))
			return
		}
		ev.Kind = EvRegister
		res := s.response(req, 401, "Unauthorized")
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", s.challenge(p.from.Addr(), p.at)))
		s.reply(&p, res)
		return
	}
	d := parseDigest(auth.Value())
	if d.username != "" {
		ev.Username = truncate(d.username, 128)
	}
	ev.Password = s.crack(&d, string(req.Method))
	if ev.Password == "" && d.response != "" {
		ev.Detail = "digest response " + truncate(d.response, 64) + " (password not in the common list)"
	}
	k := attemptKey{p.from.Addr(), ev.Username}
	s.mu.Lock()
	if len(s.attempts) > 100000 {
		clear(s.attempts)
	}
	s.attempts[k]++
	n := s.attempts[k]
	s.mu.Unlock()
	if n > s.o.AcceptAfter {
		ev.Kind = EvRegisterOK
		res := s.response(req, 200, "OK")
		if c := req.Contact(); c != nil {
			res.AppendHeader(sip.NewHeader("Contact", c.Value()+";expires=3600"))
		}
		res.AppendHeader(sip.NewHeader("Expires", "3600"))
		s.reply(&p, res)
		return
	}
	ev.Kind = EvRegisterAuth
	res := s.response(req, 401, "Unauthorized")
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", s.challenge(p.from.Addr(), p.at)))
	s.reply(&p, res)
}

func (s *Server) invite(p packet, req *sip.Request, ev *Event) {
	ev.Kind = EvInvite
	ev.Dialed = truncate(req.Recipient.User, 64)
	if ev.Dialed == "" {
		ev.Dialed = truncate(req.To().Address.User, 64)
	}
	if s.o.Normalize != nil && ev.Dialed != "" {
		ev.E164 = s.o.Normalize(ev.Dialed)
	}
	callID := req.CallID().Value()
	s.mu.Lock()
	c := s.calls[callID]
	full := c == nil && len(s.calls) >= s.o.MaxCalls
	s.mu.Unlock()
	if c != nil {
		// A retransmitted INVITE: answer the same again.
		s.reply(&p, c.ok)
		ev.Detail = "retransmission"
		return
	}
	s.reply(&p, s.response(req, 100, "Trying"))
	if full {
		ev.Kind = EvBusy
		s.reply(&p, s.response(req, 486, "Busy Here"))
		return
	}
	s.reply(&p, s.response(req, 180, "Ringing"))
	c, err := s.startCall(p, req, ev)
	if err != nil {
		ev.Detail = "no media: " + err.Error()
		s.reply(&p, s.response(req, 480, "Temporarily Unavailable"))
		return
	}
	s.answered(c) // before the 200 leaves: its ACK may be handled next (learn.go)
	s.reply(&p, c.ok)
}

// report hands the attack guard what this event means.
func (s *Server) report(ev *Event, a netip.Addr) {
	if s.o.Reporter == nil {
		return
	}
	kind := attack.KindScan
	switch ev.Kind {
	case EvRegisterAuth, EvRegisterOK:
		kind = attack.KindAuthFailure
	case EvUnknownUser:
		kind = attack.KindUnknownAccount
	case EvHangup, EvDTMF, EvBye, EvCancel:
		return // the call was already counted
	}
	s.o.Reporter.Report(attack.Event{Time: ev.Time, IP: a, Port: ev.SourcePort, Transport: ev.Transport, Kind: kind,
		Source: attack.SourceHoneypot, Service: "SIP", Username: ev.Username, Dialed: ev.Dialed, UserAgent: ev.UserAgent,
		Text: "honeypot " + ev.Kind})
}

func (s *Server) record(ev Event, a netip.Addr, ua string) {
	s.report(&ev, a)
	s.rec.add(ev, ua)
}

// sdpAnswer is the decoy's SDP: PCMU and telephone-event.
func sdpAnswer(host netip.Addr, port int, sessID int64) []byte {
	ipv := "IP4"
	if host.Is6() {
		ipv = "IP6"
	}
	return fmt.Appendf(nil, "v=0\r\no=- %d %d IN %s %s\r\ns=Asterisk\r\nc=IN %s %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\n"+
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\n",
		sessID, sessID, ipv, host, ipv, host, port)
}

// offer is what the caller's SDP says about media.
type offer struct {
	addr   netip.Addr
	port   int
	dtmfPT int
}

func parseOffer(body []byte) (offer, bool) {
	o := offer{dtmfPT: 101}
	var sessionAddr netip.Addr
	inAudio := false
	for _, line := range strings.Split(string(body), "\n") {
		// Every field is taken from strings.Fields, so blanks of any kind
		// (tabs included) and missing values cannot index past the end.
		typ, value, ok := strings.Cut(strings.TrimRight(line, "\r \t"), "=")
		if !ok || len(typ) != 1 {
			continue
		}
		f := strings.Fields(value)
		switch typ {
		case "c":
			// c=<nettype> <addrtype> <connection-address>[/ttl[/n]]
			if len(f) < 3 || f[0] != "IN" || f[1] != "IP4" && f[1] != "IP6" {
				continue
			}
			host, _, _ := strings.Cut(f[2], "/")
			a, err := netip.ParseAddr(host)
			if err != nil {
				continue
			}
			if inAudio {
				o.addr = a
			} else {
				sessionAddr = a
			}
		case "m":
			inAudio = len(f) >= 2 && f[0] == "audio"
			if inAudio && o.port == 0 {
				o.port, _ = strconv.Atoi(f[1])
			}
		case "a":
			// a=rtpmap:<payload type> <encoding name>/<clock rate>
			pt, ok := strings.CutPrefix(value, "rtpmap:")
			if !inAudio || !ok || !strings.Contains(strings.ToLower(value), "telephone-event") {
				continue
			}
			if f := strings.Fields(pt); len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil && n >= 96 && n <= 127 {
					o.dtmfPT = n
				}
			}
		}
	}
	if !o.addr.IsValid() {
		o.addr = sessionAddr
	}
	return o, o.port > 0 && o.port < 65536
}
