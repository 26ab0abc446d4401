package honeypot

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FuzzHandle feeds arbitrary datagrams to the decoy's request handler: it
// must never panic, and whatever it records names the source.
func FuzzHandle(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "rfc4475", "*.dat"))
	if len(files) != 50 {
		f.Fatalf("%d RFC 4475 messages in testdata/rfc4475, want 50", len(files))
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// issue 16's crasher: an INVITE whose SDP has "c=IN IP4 <TAB>".
	sdp := "v=0\r\nc=IN IP4 \t\r\nm=audio 4000 RTP/AVP 0\r\n"
	f.Add([]byte("INVITE sip:+12125550123@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-c\r\nFrom: <sip:a@b>;tag=1\r\n" +
		"To: <sip:+12125550123@127.0.0.1>\r\nCall-ID: crash\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: " +
		strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp))
	f.Add([]byte("OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\nContact: None\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nFrom: <sip:100@x>;tag=1\r\nTo: <sip:100@x>\r\nCall-ID: 2\r\nCSeq: 1 REGISTER\r\nAuthorization: Digest username=\"100\", realm=\"asterisk\", nonce=\"n\", uri=\"sip:x\", response=\"0123456789abcdef0123456789abcdef\"\r\n\r\n"))
	s, err := Start(Options{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), MaxCalls: 2, CallDuration: 50 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	from := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > s.o.MaxMessage+1 {
			b = b[:s.o.MaxMessage+1]
		}
		s.handle(packet{data: b, from: from, at: time.Now()})
	})
}
