package quality

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Impair degrades the probe's own RTP stream on purpose, for tests where
// no network namespace with netem is available: LossPct of the packets
// are not sent (evenly spread, from a phase drawn from Seed) and each
// packet is held back by a random 0–JitterMS extra delay.
type Impair struct {
	LossPct  float64
	JitterMS float64
	Seed     uint64
}

// ProbeResult is one synthetic test call.
type ProbeResult struct {
	Target   string    `json:"target"`
	Time     time.Time `json:"time"`
	SetupMS  float64   `json:"setup_ms"` // INVITE → 200 OK
	Sent     int       `json:"rtp_sent"`
	Received int       `json:"rtp_received"`
	LossPct  float64   `json:"loss_pct"`
	JitterMS float64   `json:"jitter_ms"`
	RTTMS    float64   `json:"rtt_ms"`
	MOS      float64   `json:"mos"`
	RFactor  float64   `json:"r_factor"`
	Error    string    `json:"error,omitempty"`
}

// Probe places one test call to target (host:port of a SIP UAS that
// answers with SDP and echoes RTP, e.g. SIPp's uas scenario with
// -rtp_echo): INVITE, wait for 200 OK, ACK, send a PCMU-sized RTP stream
// of known sequence numbers and send times for d, measure what comes back,
// BYE. Loss counts packets sent and not echoed (both directions), jitter
// is RFC 3550 interarrival jitter of the echoed stream, RTT the mean echo
// time.
func Probe(ctx context.Context, target string, d time.Duration, imp Impair) (res ProbeResult) {
	res = ProbeResult{Target: target, Time: time.Now().UTC(), RTTMS: -1}
	fail := func(err error) ProbeResult {
		res.Error = err.Error()
		res.MOS, res.RFactor = 1, 0
		return res
	}
	host := strings.TrimPrefix(target, "sip:")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	dst, err := netip.ParseAddrPort(host)
	if err != nil {
		return fail(fmt.Errorf("probe: target %q: %w", target, err))
	}
	sip, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fail(err)
	}
	defer sip.Close()
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return fail(err)
	}
	defer rtp.Close()
	local := sip.LocalAddr().(*net.UDPAddr)
	rport := rtp.LocalAddr().(*net.UDPAddr).Port
	callID, tag, branch := token(), token(), "z9hG4bK"+token()
	peer := net.UDPAddrFromAddrPort(dst)
	uri := "sip:probe@" + dst.String()
	sdp := fmt.Sprintf("v=0\r\no=tollgate 1 1 IN IP4 127.0.0.1\r\ns=probe\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", rport)
	msg := func(method, branch string, cseq int, to, body string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\nMax-Forwards: 70\r\n", method, uri, local, branch)
		fmt.Fprintf(&b, "From: <sip:tollgate-probe@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:tollgate-probe@%s>\r\n", local, tag, to, callID, cseq, method, local)
		if body != "" {
			b.WriteString("Content-Type: application/sdp\r\n")
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
		return []byte(b.String())
	}
	start := time.Now()
	invite := msg("INVITE", branch, 1, "<"+uri+">", sdp)
	var ok200 []byte
	buf := make([]byte, 65535)
	deadline := start.Add(5 * time.Second)
	resend := start
	for ok200 == nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		if time.Now().After(deadline) {
			return fail(errors.New("probe: no 200 OK to INVITE within 5 s"))
		}
		if !time.Now().Before(resend) {
			if _, err := sip.WriteToUDP(invite, peer); err != nil {
				return fail(err)
			}
			resend = time.Now().Add(500 * time.Millisecond)
		}
		sip.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := sip.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		m := buf[:n]
		code := statusCode(m)
		switch {
		case code == 200 && bytes.Contains(m, []byte("INVITE")):
			ok200 = append([]byte(nil), m...)
		case code >= 300:
			return fail(fmt.Errorf("probe: INVITE answered %d", code))
		}
	}
	res.SetupMS = float64(time.Since(start).Microseconds()) / 1000
	to := header(ok200, "To")
	media, err := sdpMedia(ok200)
	if err != nil {
		return fail(err)
	}
	sip.WriteToUDP(msg("ACK", "z9hG4bK"+token(), 1, to, ""), peer)
	defer func() {
		sip.WriteToUDP(msg("BYE", "z9hG4bK"+token(), 2, to, ""), peer)
		sip.SetReadDeadline(time.Now().Add(time.Second))
		sip.ReadFromUDP(buf)
	}()

	// Receive the echo while sending.
	type rx struct {
		seq           uint16
		sent, arrived int64
	}
	got := make(chan rx, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 2048)
		for {
			rtp.SetReadDeadline(time.Now().Add(d + 2*time.Second))
			n, err := rtp.Read(b)
			if err != nil {
				return
			}
			if n < 20 || b[0]>>6 != 2 {
				continue
			}
			select {
			case got <- rx{binary.BigEndian.Uint16(b[2:]), int64(binary.BigEndian.Uint64(b[12:])), time.Now().UnixNano()}:
			default:
			}
		}
	}()
	r := mrand.New(mrand.NewPCG(imp.Seed, 7))
	pkt := make([]byte, 12+160)
	pkt[0], pkt[1] = 0x80, 0
	ssrc := uint32(r.Uint64())
	binary.BigEndian.PutUint32(pkt[8:], ssrc)
	frames := int(d / (20 * time.Millisecond))
	t0 := time.Now()
	lossAcc := r.Float64()
	for i := 0; i < frames; i++ {
		due := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		if imp.JitterMS > 0 {
			due = due.Add(time.Duration(r.Float64() * imp.JitterMS * float64(time.Millisecond)))
		}
		if w := time.Until(due); w > 0 {
			select {
			case <-ctx.Done():
				return fail(ctx.Err())
			case <-time.After(w):
			}
		}
		res.Sent++
		if imp.LossPct > 0 {
			// Exactly LossPct of the packets, spread evenly from a random
			// phase: a drawn loss rate would stray (5 % of 150 packets is
			// 3 or fewer one time in seventeen).
			lossAcc += imp.LossPct / 100
			if lossAcc >= 1 {
				lossAcc--
				continue
			}
		}
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		binary.BigEndian.PutUint64(pkt[12:], uint64(time.Now().UnixNano()))
		rtp.WriteToUDP(pkt, media)
	}
	// Let the last echoes arrive.
	time.Sleep(300 * time.Millisecond)
	rtp.SetReadDeadline(time.Now())
	<-done
	close(got)
	seen := map[uint16]bool{}
	var jitter, jitterSum, prevTransit float64
	var jitterN int
	var rttSum float64
	first := true
	for x := range got {
		if seen[x.seq] {
			continue
		}
		seen[x.seq] = true
		rttSum += float64(x.arrived-x.sent) / 1e6
		// Transit relative to the packet's schedule (its RTP timestamp).
		sched := t0.UnixNano() + int64(x.seq)*int64(20*time.Millisecond)
		transit := float64(x.arrived-sched) / 1e6
		if !first {
			jitter += (math.Abs(transit-prevTransit) - jitter) / 16
			jitterSum += jitter
			jitterN++
		}
		prevTransit, first = transit, false
	}
	res.Received = len(seen)
	if res.Sent > 0 {
		res.LossPct = math.Round(float64(res.Sent-res.Received)*10000/float64(res.Sent)) / 100
	}
	// The call's jitter is the RFC 3550 estimate averaged over the call:
	// its last value alone follows the last few dozen packets and strays
	// by a third from one call to the next.
	if jitterN > 0 {
		res.JitterMS = math.Round(jitterSum/float64(jitterN)*100) / 100
	}
	if res.Received > 0 {
		res.RTTMS = math.Round(rttSum/float64(res.Received)*100) / 100
	}
	res.RFactor, res.MOS = EModel(res.LossPct, res.JitterMS, res.RTTMS)
	res.MOS = math.Round(res.MOS*100) / 100
	if res.Received == 0 {
		res.Error = "probe: no RTP came back"
	}
	return res
}

func token() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func statusCode(m []byte) int {
	if !bytes.HasPrefix(m, []byte("SIP/2.0 ")) || len(m) < 11 {
		return 0
	}
	c, _ := strconv.Atoi(string(m[8:11]))
	return c
}

func header(m []byte, name string) string {
	head, _, _ := bytes.Cut(m, []byte("\r\n\r\n"))
	for _, ln := range strings.Split(string(head), "\r\n") {
		k, v, ok := strings.Cut(ln, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sdpMedia returns the audio address of the SDP in a SIP message.
func sdpMedia(m []byte) (*net.UDPAddr, error) {
	_, body, _ := bytes.Cut(m, []byte("\r\n\r\n"))
	var ip netip.Addr
	port := 0
	for _, ln := range strings.Split(string(body), "\n") {
		ln = strings.TrimSpace(ln)
		if c, ok := strings.CutPrefix(ln, "c=IN IP4 "); ok {
			ip, _ = netip.ParseAddr(strings.TrimSpace(c))
		}
		if a, ok := strings.CutPrefix(ln, "m=audio "); ok {
			f := strings.Fields(a)
			if len(f) > 0 {
				port, _ = strconv.Atoi(f[0])
			}
		}
	}
	if !ip.IsValid() || port <= 0 || port > 65535 {
		return nil, errors.New("probe: 200 OK carries no usable SDP audio address")
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
}

// AddProbe records a probe result as a quality report on route and
// raises an alert when the call failed.
func (w *Watcher) AddProbe(route string, p ProbeResult) {
	if p.Error != "" && w.alerter != nil {
		w.alerter.Alert(alertProbe(route, p))
	}
	if p.Received == 0 {
		return
	}
	w.Add(Report{CallID: "probe-" + p.Time.Format("20060102T150405"), Time: p.Time, Source: "probe", Route: route, Trunk: p.Target, LossPct: p.LossPct, JitterMS: p.JitterMS, RTTMS: p.RTTMS})
}
