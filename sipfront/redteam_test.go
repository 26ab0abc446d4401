package sipfront

import (
	"strings"
	"testing"
)

// TestRedTeamServiceCodeDodge sends, over UDP to a live redirect
// listener, INVITEs whose Request-URI wraps a blocked number in a
// service-code shape a PBX still dials: a '#' that ends dialing, GSM
// call forwarding to the number (**21*N#), a NANP code with a '#'. Each
// must be refused like the bare number, never redirected upstream.
func TestRedTeamServiceCodeDodge(t *testing.T) {
	s := startServer(t, testPolicy)
	to := addr(s, "udp")
	for i, ruri := range []string{
		"sip:+252612345678@edge", // the bare number, for reference
		"sip:011252612345678%23@edge",
		"sip:011252612345678#@edge",
		"sip:011252612345678*@edge",
		"sip:**21*011252612345678%23@edge",
		"sip:*72011252612345678%23@edge",
		"sip:%2331%23011252612345678%23@edge",
		"sip:*1*2*011252612345678@edge",
		"sip:1-900-555-1234%23@edge;user=phone",
		"tel:011252612345678%23",
	} {
		resp := udpExchange(t, to, invite("svc"+strings.Repeat("x", i), ruri, ""))
		if code, _ := status(t, []byte(resp)); code != 403 {
			t.Errorf("%s: %d, want 403 (blocked destination)\n%s", ruri, code, resp)
		}
	}
	// Legitimate feature codes still go through.
	for _, ruri := range []string{"sip:*72@edge", "sip:*%2306%23@edge", "sip:%23%23002%23@edge"} {
		resp := udpExchange(t, to, invite("feat"+ruri, ruri, ""))
		if code, _ := status(t, []byte(resp)); code != 302 {
			t.Errorf("%s: %d, want 302 (a feature code)\n%s", ruri, code, resp)
		}
	}
}
