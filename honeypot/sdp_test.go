package honeypot

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestParseOffer(t *testing.T) {
	for _, c := range []struct {
		sdp  string
		addr string
		port int
		pt   int
		ok   bool
	}{
		{"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n", "192.0.2.1", 4000, 96, true},
		{"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.9\r\n", "192.0.2.9", 4000, 101, true},
		{"v=0\nc=IN\tIP6\t2001:db8::1\nm=audio\t5004 RTP/AVP 0\n", "2001:db8::1", 5004, 101, true},
		{"v=0\r\nc=IN IP4 233.252.0.1/127\r\nm=audio 4000 RTP/AVP 0\r\n", "233.252.0.1", 4000, 101, true},
		{"v=0\r\nc=IN IP4 \t\r\nm=audio 4000 RTP/AVP 0\r\n", "", 4000, 101, true},
		{"v=0\r\nc=IN IP4\r\nc=\r\nc=IN\r\nm=\r\nm=audio\r\na=rtpmap:\r\na=rtpmap:telephone-event\r\n", "", 0, 101, false},
		{"m=audio 4000 RTP/AVP 0\r\na=rtpmap:300 telephone-event/8000\r\n", "", 4000, 101, true},
		{"m=audio 70000 RTP/AVP 0\r\n", "", 70000, 101, false},
		{"m=video 4000 RTP/AVP 0\r\n", "", 0, 101, false},
	} {
		o, ok := parseOffer([]byte(c.sdp))
		want := netip.Addr{}
		if c.addr != "" {
			want = netip.MustParseAddr(c.addr)
		}
		if ok != c.ok || o.addr != want || o.port != c.port || o.dtmfPT != c.pt {
			t.Errorf("parseOffer(%q) = %+v, %v; want addr %s port %d pt %d ok %v", c.sdp, o, ok, c.addr, c.port, c.pt, c.ok)
		}
	}
}

// FuzzParseOffer: the caller's SDP is read from the network; any body
// must parse without panicking, and a usable offer has a valid port.
func FuzzParseOffer(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("c=IN IP4 \t\r\n"))
	f.Add([]byte("c=IN IP6 ::1\nm=audio 1 RTP/AVP 0\na=rtpmap:\t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, ok := parseOffer(b)
		if ok && (o.port <= 0 || o.port > 65535) {
			t.Fatalf("usable offer with port %d", o.port)
		}
		if o.dtmfPT != 101 && (o.dtmfPT < 96 || o.dtmfPT > 127) {
			t.Fatalf("DTMF payload type %d outside the dynamic range", o.dtmfPT)
		}
	})
}

// FuzzParseDTMF: RTP from the caller's address reaches ParseDTMF; any
// packet parses without panicking and a digit is one of RFC 4733's 16.
func FuzzParseDTMF(f *testing.F) {
	f.Add([]byte{0x80, 101, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 5, 0x80, 0, 160}, 101)
	f.Add([]byte{0x90, 101, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0, 0, 0xff, 0xff, 5, 0x80, 0, 160}, 101)
	f.Add([]byte{0x8f, 101}, 101)
	f.Fuzz(func(t *testing.T, b []byte, pt int) {
		d, _, ok := ParseDTMF(b, pt)
		if ok && !bytes.ContainsRune([]byte("0123456789*#ABCD"), rune(d)) {
			t.Fatalf("digit %q", d)
		}
	})
}

// FuzzParseDigest: the Authorization header of a REGISTER is read from
// the network; any value parses without panicking.
func FuzzParseDigest(f *testing.F) {
	f.Add(`Digest username="100", realm="asterisk", nonce="n", uri="sip:x", response="0123456789abcdef0123456789abcdef", algorithm=MD5`)
	f.Add(`Digest username="\"", realm=`)
	f.Add(`Digest ,,,="=,"`)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseDigest(v)
		_ = d.matches("1234", "REGISTER")
	})
}
