package honeypot

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Prompt is the decoy's IVR prompt: 8 kHz G.711 µ-law, generated once —
// a two-note chime, a short rising "please enter" tone sequence and
// silence, the pattern a menu plays before it waits for digits.
var Prompt = makePrompt()

func makePrompt() []byte {
	const rate = 8000
	var pcm []int16
	tone := func(freqs []float64, ms int, amp float64) {
		n := rate * ms / 1000
		for i := range n {
			t := float64(i) / rate
			v := 0.0
			for _, f := range freqs {
				v += math.Sin(2 * math.Pi * f * t)
			}
			v /= float64(len(freqs))
			// 10 ms fade in and out to avoid clicks.
			fade := math.Min(1, math.Min(float64(i), float64(n-1-i))/80)
			pcm = append(pcm, int16(v*amp*fade*32767))
		}
	}
	silence := func(ms int) { pcm = append(pcm, make([]int16, rate*ms/1000)...) }
	tone([]float64{659.25}, 250, 0.4)
	tone([]float64{880}, 350, 0.4)
	silence(300)
	for _, f := range []float64{523.25, 587.33, 659.25} {
		tone([]float64{f, f * 1.5}, 180, 0.3)
		silence(70)
	}
	silence(2000)
	out := make([]byte, len(pcm))
	for i, s := range pcm {
		out[i] = MuLaw(s)
	}
	return out
}

// MuLaw encodes one 16-bit linear sample as G.711 µ-law.
func MuLaw(s int16) byte {
	const bias, clip = 0x84, 32635
	x := int(s)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// MuLawDecode is the inverse of MuLaw (to within quantization).
func MuLawDecode(u byte) int16 {
	u = ^u
	sign := u & 0x80
	exp := int(u>>4) & 7
	mant := int(u & 0x0f)
	x := ((mant<<3)+0x84)<<exp - 0x84
	if sign != 0 {
		return int16(-x)
	}
	return int16(x)
}

// call is one decoy call: an RTP socket playing the prompt to the
// caller's address and listening for DTMF.
type call struct {
	id      string
	ok      *sip.Response
	conn    *net.UDPConn
	peer    netip.AddrPort // RTP goes here: the SIP source address, the SDP port
	sipPeer netip.AddrPort
	sipConn net.Conn // the INVITE's TCP connection; nil for UDP
	dtmfPT  int
	bye     string
	base    Event

	mu     sync.Mutex
	digits []byte
	reason string
	done   chan struct{}
	once   sync.Once
}

func (c *call) stop() { c.once.Do(func() { close(c.done) }) }

var errNoSDP = errors.New("no usable SDP offer")

func (s *Server) startCall(p packet, req *sip.Request, ev *Event) (*call, error) {
	off, ok := parseOffer(req.Body())
	if !ok {
		return nil, errNoSDP
	}
	host := s.addr.Addr()
	if host.IsUnspecified() {
		if a, err := netip.ParseAddr(req.Recipient.Host); err == nil {
			host = a
		} else {
			host = netip.MustParseAddr("127.0.0.1")
		}
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(host, 0)))
	if err != nil {
		return nil, err
	}
	lport := conn.LocalAddr().(*net.UDPAddr).Port
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	sess := int64(binary.BigEndian.Uint32(rnd[:4]))
	res := s.response(req, 200, "OK")
	contact := "<sip:" + ev.Dialed + "@" + netip.AddrPortFrom(host, s.addr.Port()).String() + ">"
	if p.conn != nil {
		contact = "<sip:" + ev.Dialed + "@" + netip.AddrPortFrom(host, s.tcpAddr.Port()).String() + ";transport=tcp>"
	}
	res.AppendHeader(sip.NewHeader("Contact", contact))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.SetBody(sdpAnswer(host, lport, sess))
	c := &call{
		id: req.CallID().Value(), ok: res, conn: conn, sipPeer: p.from, sipConn: p.conn, dtmfPT: off.dtmfPT,
		// Media only ever goes back to the address the INVITE came from:
		// an SDP pointing elsewhere cannot turn the decoy into a reflector.
		peer: netip.AddrPortFrom(p.from.Addr(), uint16(off.port)),
		base: Event{SourceIP: ev.SourceIP, SourcePort: ev.SourcePort, Transport: ev.Transport, CallID: ev.CallID,
			From: ev.From, To: ev.To, RequestURI: ev.RequestURI, Dialed: ev.Dialed, E164: ev.E164, UserAgent: ev.UserAgent},
		done: make(chan struct{}),
	}
	if off.addr.IsValid() && off.addr.Unmap() != p.from.Addr().Unmap() {
		ev.Detail = "SDP address " + off.addr.String() + " ignored: media goes to the source address only"
	}
	c.bye = s.buildBye(req, res, hex.EncodeToString(rnd[:]), p.conn != nil)
	s.mu.Lock()
	if len(s.calls) >= s.o.MaxCalls {
		s.mu.Unlock()
		conn.Close()
		return nil, errors.New("too many calls")
	}
	s.calls[c.id] = c
	s.mu.Unlock()
	s.stats.calls.Add(1)
	s.stats.active.Add(1)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.listenDTMF(c) }()
	go func() { defer s.wg.Done(); s.play(c) }()
	return c, nil
}

// buildBye prepares the BYE the decoy sends when it hangs up.
func (s *Server) buildBye(req *sip.Request, ok *sip.Response, branch string, tcp bool) string {
	target := req.From().Address.String()
	if ct := req.Contact(); ct != nil {
		target = ct.Address.String()
	}
	via := "SIP/2.0/UDP " + s.addr.String()
	if tcp {
		via = "SIP/2.0/TCP " + s.tcpAddr.String()
	}
	return "BYE " + target + " SIP/2.0\r\n" +
		"Via: " + via + ";branch=z9hG4bK" + branch + ";rport\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: " + ok.To().Value() + "\r\n" +
		"To: " + req.From().Value() + "\r\n" +
		"Call-ID: " + req.CallID().Value() + "\r\n" +
		"CSeq: 1 BYE\r\n" +
		"User-Agent: " + s.o.Banner + "\r\n" +
		"Content-Length: 0\r\n\r\n"
}

func (s *Server) endCall(id, reason string) {
	s.mu.Lock()
	c := s.calls[id]
	s.mu.Unlock()
	if c != nil {
		c.mu.Lock()
		if c.reason == "" {
			c.reason = reason
		}
		c.mu.Unlock()
		c.stop()
	}
}

// play sends the prompt in 20 ms packets until the call ends or lasts
// CallDuration, then hangs up with a BYE.
func (s *Server) play(c *call) {
	defer func() {
		c.conn.Close()
		s.mu.Lock()
		delete(s.calls, c.id)
		s.mu.Unlock()
		s.stats.active.Add(-1)
		c.mu.Lock()
		ev := c.base
		ev.Time = time.Now().UTC()
		ev.Kind = EvHangup
		ev.Digits = string(c.digits)
		ev.Detail = c.reason
		c.mu.Unlock()
		s.rec.add(ev, "")
	}()
	var hdr [12]byte
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	hdr[0] = 0x80
	hdr[1] = 0x80 // marker on the first packet, PCMU
	seq := binary.BigEndian.Uint16(rnd[:2])
	ts := uint32(0)
	copy(hdr[8:12], rnd[2:6])
	pkt := make([]byte, 12+160)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(s.o.CallDuration)
	defer limit.Stop()
	off := 0
	for {
		select {
		case <-c.done:
			return
		case <-limit.C:
			c.mu.Lock()
			c.reason = "decoy hung up after " + s.o.CallDuration.String()
			c.mu.Unlock()
			s.sendOn(c.sipConn, c.sipPeer, c.bye)
			return
		case <-tick.C:
			binary.BigEndian.PutUint16(hdr[2:4], seq)
			binary.BigEndian.PutUint32(hdr[4:8], ts)
			copy(pkt, hdr[:])
			for i := range 160 {
				pkt[12+i] = Prompt[(off+i)%len(Prompt)]
			}
			off = (off + 160) % len(Prompt)
			_, _ = c.conn.WriteToUDPAddrPort(pkt, c.peer)
			hdr[1] = 0x00 // PCMU, no marker
			seq++
			ts += 160
		}
	}
}

// listenDTMF collects RFC 4733 telephone-events from the caller.
func (s *Server) listenDTMF(c *call) {
	buf := make([]byte, 1500)
	var lastTS uint32
	seen := false
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from.Addr().Unmap() != c.peer.Addr().Unmap() {
			continue
		}
		d, ts, ok := s.parseDTMFSafe(buf[:n], c.dtmfPT)
		if !ok || (seen && ts == lastTS) {
			continue
		}
		seen, lastTS = true, ts
		c.mu.Lock()
		if len(c.digits) < 64 {
			c.digits = append(c.digits, d)
		}
		c.mu.Unlock()
	}
}

// ParseDTMF reads an RTP packet carrying an RFC 4733 telephone-event with
// payload type pt and returns the digit when the packet ends the event
// (E bit), with the event's RTP timestamp (end packets are sent three
// times; the timestamp tells them apart from the next press).
func ParseDTMF(b []byte, pt int) (digit byte, ts uint32, ok bool) {
	if len(b) < 12 || b[0]>>6 != 2 || int(b[1]&0x7f) != pt {
		return 0, 0, false
	}
	off := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return 0, 0, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:off+4]))
	}
	if len(b) < off+4 || b[off+1]&0x80 == 0 {
		return 0, 0, false
	}
	ev := b[off]
	const digits = "0123456789*#ABCD"
	if int(ev) >= len(digits) {
		return 0, 0, false
	}
	return digits[ev], binary.BigEndian.Uint32(b[4:8]), true
}
