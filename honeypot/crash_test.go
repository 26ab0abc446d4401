package honeypot_test

import (
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"net"
	"strings"
	"testing"
	"time"
)

// sendUDP sends msg from a fresh loopback socket to the decoy and returns
// the first answer whose status line starts with want ("" when none came
// within wait).
func sendUDP(t *testing.T, to, msg, want string, wait time.Duration) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dst, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	msg = strings.ReplaceAll(msg, "PORT", itoa(port))
	if _, err := c.WriteToUDP([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(wait)
	for {
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		if s := string(buf[:n]); strings.HasPrefix(s, want) {
			return s
		}
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

func sipInvite(callID, sdp string) string {
	return "INVITE sip:+12125550123@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-" + callID + ";rport\r\n" +
		"From: <sip:100@127.0.0.1>;tag=a" + callID + "\r\n" +
		"To: <sip:+12125550123@127.0.0.1>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:100@127.0.0.1:PORT>\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Type: application/sdp\r\n" +
		"Content-Length: " + itoa(len(sdp)) + "\r\n\r\n" + sdp
}

const sipOptions = "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-opt;rport\r\n" +
	"From: <sip:probe@127.0.0.1>;tag=o1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\n" +
	"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

// TestSDPCrasher is issue 16's reproducer: an INVITE whose SDP holds
// "c=IN IP4 <TAB>" (and its relatives) used to panic parseOffer and take
// the process down. Each goes over real UDP to a running decoy, which
// must still answer the next OPTIONS with 200.
func TestSDPCrasher(t *testing.T) {
	r := newRig(t)
	addr := r.hp.Addr().String()
	for i, sdp := range []string{
		"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 \t\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP6 \t \t\r\nm=audio 4000 RTP/AVP 0\r\n",
		"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap: telephone-event/8000\r\n",
		"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:\ttelephone-event\r\n",
		"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:telephone-event\r\n",
	} {
		id := "crash-" + itoa(i)
		// The decoy answers 100 Trying before it reads the SDP; the
		// final answer (200 with media, or 480) comes after.
		got := sendUDP(t, addr, sipInvite(id, sdp), "SIP/2.0 200", 2*time.Second)
		if got == "" {
			got = sendUDP(t, addr, sipInvite(id+"b", sdp), "SIP/2.0 4", time.Second)
		}
		if got == "" {
			t.Errorf("SDP %d %q: no final answer", i, sdp)
		}
		if ok := sendUDP(t, addr, sipOptions, "SIP/2.0 200", 2*time.Second); ok == "" {
			t.Fatalf("after SDP %d %q the decoy no longer answers OPTIONS", i, sdp)
		}
	}
}

// TestRecoverPanic injects a panic into the handling of one packet: the
// decoy drops that packet, counts the panic and answers the next request.
func TestRecoverPanic(t *testing.T) {
	r := newRigWith(t, func(o *honeypot.Options) {
		honeypot.SetTestHook(o, func(data []byte) {
			if strings.Contains(string(data), "X-Boom") {
				var xs []int
				_ = xs[len(data)] // index out of range
			}
		})
	})
	addr := r.hp.Addr().String()
	before := panics.Count(panics.Honeypot)
	boom := strings.Replace(sipOptions, "Max-Forwards", "X-Boom: 1\r\nMax-Forwards", 1)
	if got := sendUDP(t, addr, boom, "SIP/2.0", 300*time.Millisecond); got != "" {
		t.Fatalf("the panicking packet was answered: %q", got)
	}
	if ok := sendUDP(t, addr, sipOptions, "SIP/2.0 200", 2*time.Second); ok == "" {
		t.Fatal("after a recovered panic the decoy no longer answers OPTIONS")
	}
	if got := panics.Count(panics.Honeypot); got != before+1 {
		t.Fatalf("tollgate_panics_recovered_total{component=honeypot} moved by %d, want 1", got-before)
	}
}
