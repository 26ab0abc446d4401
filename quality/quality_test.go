package quality

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/store"
)

// rr builds an RTCP receiver report (RFC 3550 §6.4.2) with one block.
func rr(reporter, source uint32, fracLost uint8, cum int32, jitterTS, lsr, dlsr uint32) []byte {
	b := []byte{0x81, 201, 0, 7}
	b = binary.BigEndian.AppendUint32(b, reporter)
	b = binary.BigEndian.AppendUint32(b, source)
	c := uint32(cum) & 0xffffff
	b = append(b, fracLost, byte(c>>16), byte(c>>8), byte(c))
	b = binary.BigEndian.AppendUint32(b, 70000) // extended highest sequence
	b = binary.BigEndian.AppendUint32(b, jitterTS)
	b = binary.BigEndian.AppendUint32(b, lsr)
	b = binary.BigEndian.AppendUint32(b, dlsr)
	return b
}

// xr builds an RTCP XR packet with one VoIP Metrics block (RFC 3611 §4.7).
func xr(reporter, source uint32, lossRate uint8, rtd uint16, r, mosCQ uint8) []byte {
	b := []byte{0x80, 207, 0, 10}
	b = binary.BigEndian.AppendUint32(b, reporter)
	blk := make([]byte, 36)
	blk[0], blk[3] = 7, 8
	binary.BigEndian.PutUint32(blk[4:], source)
	blk[8] = lossRate
	binary.BigEndian.PutUint16(blk[16:], rtd)
	blk[26], blk[27] = r, 127
	blk[28], blk[29] = 127, mosCQ
	return append(b, blk...)
}

func TestParseRTCPFixtures(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	lsr := CompactNTP(at.Add(-1500 * time.Millisecond))
	dlsr := uint32(13 * 65536 / 10) // 1.3 s held by the reporter → RTT 200 ms
	// A compound packet: SR with one block, then XR. Written out as bytes
	// from RFC 3550 §6.4.1: V=2, RC=1, PT=200, length 12 words.
	sr := "81c8000c" + "11111111" + // header, sender SSRC
		"e8f3d6c0" + "00000000" + "0000a000" + "00000064" + "00003e80" + // NTP, RTP ts, packets, octets
		"22222222" + "0d000010" + "00011170" + "000000a0" // block: source, 5.08 % / 16 lost, ext seq, jitter 160 ts = 20 ms
	raw, err := hex.DecodeString(sr)
	if err != nil {
		t.Fatal(err)
	}
	raw = binary.BigEndian.AppendUint32(raw, lsr)
	raw = binary.BigEndian.AppendUint32(raw, dlsr)
	raw = append(raw, xr(0x33333333, 0x22222222, 26, 180, 80, 39)...)
	bs, err := ParseRTCP(raw, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 {
		t.Fatalf("%d blocks, want 2: %+v", len(bs), bs)
	}
	b := bs[0]
	if b.Kind != "sr" || b.Source != 0x22222222 || b.CumLost != 16 || math.Abs(b.LossPct-5.08) > 0.01 || b.JitterMS != 20 || math.Abs(b.RTTMS-200) > 1 {
		t.Errorf("SR block %+v", b)
	}
	x := bs[1]
	if x.Kind != "xr" || math.Abs(x.LossPct-10.16) > 0.01 || x.RTTMS != 180 || x.RFactor != 80 || x.MOS != 3.9 {
		t.Errorf("XR block %+v", x)
	}
	// Negative cumulative loss (duplicates) is sign-extended.
	bs, err = ParseRTCP(rr(1, 2, 0, -3, 0, 0, 0), at)
	if err != nil || len(bs) != 1 || bs[0].CumLost != -3 || bs[0].RTTMS != -1 {
		t.Errorf("RR with negative loss: %+v %v", bs, err)
	}
	for name, bad := range map[string][]byte{
		"not v2":         {0x41, 201, 0, 1, 0, 0, 0, 0},
		"length overrun": {0x81, 201, 0, 9, 0, 0, 0, 1},
		"block overrun":  {0x82, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, err := ParseRTCP(bad, at); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeHEPFixture(t *testing.T) {
	// HEPv3 written out chunk by chunk: family, proto, IPv4 src/dst,
	// ports, seconds, microseconds, type RTCP, agent, correlation id, payload.
	fix := "48455033" + "0000" +
		"0000" + "0001" + "0007" + "02" +
		"0000" + "0002" + "0007" + "11" +
		"0000" + "0003" + "000a" + "c0000201" +
		"0000" + "0004" + "000a" + "7f000001" +
		"0000" + "0007" + "0008" + "2710" +
		"0000" + "0008" + "0008" + "2711" +
		"0000" + "0009" + "000a" + "69234a60" +
		"0000" + "000a" + "000a" + "0007a120" +
		"0000" + "000b" + "0007" + "05" +
		"0000" + "000c" + "000a" + "000007d0" +
		"1234" + "0099" + "0008" + "abcd" + // vendor chunk, skipped
		"0000" + "0011" + "000a" + "63616c6c" +
		"0000" + "000f" + "0006"
	raw, err := hex.DecodeString(fix)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(raw[4:], uint16(len(raw)))
	h, err := DecodeHEP(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.Family != 2 || h.Proto != 17 || h.Src != netip.MustParseAddrPort("192.0.2.1:10000") || h.Dst != netip.MustParseAddrPort("127.0.0.1:10001") ||
		h.Type != HEPProtoRTCP || h.AgentID != 2000 || h.CallID != "call" || !h.Time.Equal(time.Unix(0x69234a60, 500000000)) {
		t.Errorf("decoded %+v", h)
	}
	// Round trip through the encoder, IPv6 too.
	h2 := &HEP{Src: netip.MustParseAddrPort("[2001:db8::1]:5060"), Dst: netip.MustParseAddrPort("[::1]:9060"), Time: time.Unix(1700000000, 0), Type: 1, CallID: "x", Payload: []byte("hi")}
	d, err := DecodeHEP(EncodeHEP(h2))
	if err != nil || d.Src != h2.Src || d.Dst != h2.Dst || string(d.Payload) != "hi" || d.Family != 10 {
		t.Errorf("round trip %+v %v", d, err)
	}
	for name, bad := range map[string][]byte{
		"magic":      []byte("HEP2\x00\x06"),
		"short":      []byte("HEP3\x00\x40"),
		"chunk len":  append([]byte("HEP3\x00\x0c"), 0, 0, 0, 1, 0, 2),
		"ipv4 len":   append([]byte("HEP3\x00\x0d"), 0, 0, 0, 3, 0, 7, 1),
		"usec range": append([]byte("HEP3\x00\x10"), 0, 0, 0, 10, 0, 10, 0x00, 0x0f, 0x42, 0x40),
	} {
		if _, err := DecodeHEP(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEModel(t *testing.T) {
	cases := []struct {
		loss, jit, rtt float64
		mosLo, mosHi   float64
	}{
		{0, 0, 0, 4.38, 4.42},    // best narrow-band call
		{5, 0, 0, 3.85, 4.0},     // 5 % random loss with PLC
		{2, 10, 100, 4.1, 4.25},  // within every threshold
		{0, 0, 600, 3.5, 3.8},    // 300 ms one way: delay alone costs half a point
		{20, 30, 300, 1.9, 2.3},  // a bad call
		{100, 0, 0, 1.0, 1.3},    // nothing arrives
		{-5, -1, -1, 4.38, 4.42}, // out-of-range input is clamped
	}
	for _, c := range cases {
		_, mos := EModel(c.loss, c.jit, c.rtt)
		if mos < c.mosLo || mos > c.mosHi {
			t.Errorf("EModel(%g, %g, %g) MOS = %.2f, want %.2f–%.2f", c.loss, c.jit, c.rtt, mos, c.mosLo, c.mosHi)
		}
	}
}

func TestParseVQ(t *testing.T) {
	body := "VQSessionReport: CallTerm\r\nCallID: 6dg37f1890463\r\nLocalID: <sip:alice@192.0.2.1>\r\n" +
		"PacketLoss: NLR=5.0 JDR=2.0\r\nDelay: RTD=200 ESD=140 SOWD=100 IAJ=35\r\nQualityEst: RLQ=70 RCQ=72 MOSLQ=3.5 MOSCQ=3.6\r\n"
	id, b, err := ParseVQ([]byte(body))
	if err != nil || id != "6dg37f1890463" || b.LossPct != 5 || b.RTTMS != 200 || b.JitterMS != 35 || b.MOS != 3.6 || b.RFactor != 72 {
		t.Errorf("ParseVQ = %q %+v %v", id, b, err)
	}
	if _, _, err := ParseVQ([]byte("CallID: x\r\n")); err == nil {
		t.Error("report without a VQ report line accepted")
	}
	if _, _, err := ParseVQ([]byte("VQSessionReport: x\r\nPacketLoss: NLR=NaN\r\n")); err != nil {
		t.Errorf("NaN value should be ignored, got %v", err)
	}
}

type alerts struct {
	mu sync.Mutex
	as []store.Alert
}

func (a *alerts) Alert(x store.Alert) { a.mu.Lock(); a.as = append(a.as, x); a.mu.Unlock() }

func (a *alerts) wait(t *testing.T, code string) store.Alert {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		for _, x := range a.as {
			if x.Code == code {
				a.mu.Unlock()
				return x
			}
		}
		a.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s alert", code)
	return store.Alert{}
}

func testConfig(t *testing.T, extra string) config.Quality {
	t.Helper()
	c, err := config.Parse("q.yaml", []byte("defaults: {country: US, on_error: fail_open}\nquality:\n  hep_listen: 127.0.0.1:0\n"+extra))
	if err != nil {
		t.Fatal(err)
	}
	return c.Quality
}

// TestHEPOverUDP sends real HEPv3 datagrams over loopback, as Kamailio's
// siptrace and rtpengine would, and checks the alert carries the figure.
func TestHEPOverUDP(t *testing.T) {
	al := &alerts{}
	w := New(testConfig(t, ""), al, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := w.ListenHEP(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := time.Now().UTC()
	w.Label("call-5pct", Report{Tenant: "acme", Route: "trunk-a", Destination: "GB"})
	// 13/256 = 5.08 % loss, jitter 80 ts units = 10 ms.
	pkt := EncodeHEP(&HEP{Src: netip.MustParseAddrPort("192.0.2.10:30001"), Dst: netip.MustParseAddrPort("127.0.0.1:30001"), Time: now, Type: HEPProtoRTCP, CallID: "call-5pct", Payload: rr(1, 2, 13, 40, 80, 0, 0)})
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	a := al.wait(t, "quality_threshold")
	if !strings.Contains(a.Text, "packet loss 5.1 %") || a.Tenant != "acme" {
		t.Errorf("alert %+v lacks the measured loss or tenant", a)
	}
	r, ok := w.Call("call-5pct")
	if !ok || r.Route != "trunk-a" || r.Trunk != "192.0.2.10" || math.Abs(r.LossPct-5.08) > 0.01 || !r.Estimated {
		t.Errorf("call report %+v", r)
	}
	// A vq-rtcpxr PUBLISH captured by siptrace (HEP type SIP).
	pub := "PUBLISH sip:collector@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK1\r\nContent-Type: application/vq-rtcpxr\r\nContent-Length: 99\r\n\r\n" +
		"VQSessionReport: CallTerm\r\nCallID: vq-1\r\nPacketLoss: NLR=0.5\r\nDelay: RTD=400 IAJ=12\r\nQualityEst: MOSCQ=3.9\r\n"
	pkt = EncodeHEP(&HEP{Src: netip.MustParseAddrPort("192.0.2.20:5060"), Dst: netip.MustParseAddrPort("127.0.0.1:5060"), Time: now, Type: HEPProtoSIP, Payload: []byte(pub)})
	conn.Write(pkt)
	conn.Write([]byte("garbage that is not HEP"))
	al.wait(t, "quality_threshold")
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats().HEPPackets < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if r, ok := w.Call("vq-1"); !ok || r.RTTMS != 400 || r.MOS != 3.9 || r.Estimated {
		t.Errorf("vq report %+v", r)
	}
	if s := w.Stats(); s.HEPPackets != 3 || s.HEPErrors != 1 {
		t.Errorf("stats %+v", s)
	}
	txt, err := metrics.Text(w)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt, `tollgate_quality_packet_loss_percent_bucket{route="trunk-a",le="10"} 1`) {
		t.Errorf("metrics lack the loss histogram:\n%s", txt)
	}
}

func TestCollapse(t *testing.T) {
	al := &alerts{}
	w := New(testConfig(t, "  thresholds: {mos: 1.5, loss_pct: 50, jitter_ms: 500, latency_ms: 5000}\n"), al, nil)
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		w.Add(Report{CallID: "good", Time: t0.Add(time.Duration(i) * time.Second), Route: "r1", LossPct: 0.2, JitterMS: 5, RTTMS: 40})
	}
	if len(al.as) != 0 {
		t.Fatalf("alerts on a healthy route: %+v", al.as)
	}
	for i := 0; i < 3; i++ {
		w.Add(Report{CallID: "bad", Time: t0.Add(time.Duration(30+i) * time.Second), Route: "r1", LossPct: 25, JitterMS: 40, RTTMS: 400})
	}
	a := al.wait(t, "quality_collapse")
	if a.Severity != "critical" || !strings.Contains(a.Text, "route r1") {
		t.Errorf("collapse alert %+v", a)
	}
	ag := w.Aggregates("route", t0.Add(40*time.Second))
	if len(ag) != 1 || ag[0].Reports != 23 {
		t.Errorf("aggregates %+v", ag)
	}
}

func TestReportValidate(t *testing.T) {
	for _, r := range []Report{{LossPct: 101}, {JitterMS: -1}, {RTTMS: -2}, {MOS: 6}, {Route: "a\"b"}, {LossPct: math.NaN()}} {
		if f, err := r.Validate(); err == nil || f == "" {
			t.Errorf("%+v accepted", r)
		}
	}
	if _, err := (&Report{LossPct: 5, RTTMS: -1}).Validate(); err != nil {
		t.Error(err)
	}
}
