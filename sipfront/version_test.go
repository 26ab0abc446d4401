package sipfront

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestVersionNotSupportedPort is issue 16 item 9: the 505 for a SIP/7.0
// request must go, over UDP without rport, to the top Via's sent-by port
// (RFC 3261 18.2.2), whatever version the Via itself names, and not to
// 5060. The client listens on an ephemeral port and names it only in Via.
func TestVersionNotSupportedPort(t *testing.T) {
	s := startServer(t, testPolicy)
	for _, viaVersion := range []string{"SIP/7.0", "SIP/2.0", "SIP / 7.0"} {
		uac := newPeer(t)
		req := fmt.Sprintf("INVITE sip:+12125550100@edge SIP/7.0\r\n"+
			"Via: %s/UDP 127.0.0.1:%d;branch=z9hG4bK-v7\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:1001@pbx.example>;tag=a1\r\nTo: <sip:+12125550100@edge>\r\n"+
			"Call-ID: v7-%d\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", viaVersion, uac.port(), uac.port())
		uac.send(addr(s, "udp"), req)
		m, _ := uac.recv(2 * time.Second)
		if !strings.HasPrefix(m, "SIP/2.0 505 ") {
			t.Errorf("Via %s: got %q on the Via's port, want 505", viaVersion, firstLine(m))
		}
	}
}
