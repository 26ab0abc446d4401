package sipfront

import (
	"strings"
	"testing"
)

func TestRedirect(t *testing.T) {
	s, _ := newTestServer(t, testPolicy)
	for _, tc := range []struct {
		name    string
		req     string
		code    int
		headers map[string]string // header → substring of its value
	}{
		{"domestic allowed", invite("c1", "sip:+12125550100@edge.example", ""), 302, map[string]string{
			"Contact": "<sip:+12125550100@edge.example>", "X-Tollgate-Verdict": "allow;risk=", "To": ";tag=tg"}},
		{"somalia rejected", invite("c2", "sip:+25261234567@edge.example", ""), 403, map[string]string{
			"Reason": `SIP;cause=403;text="`, "X-Tollgate-Verdict": "reject;"}},
		{"tel uri", invite("c3", "tel:+1-212-555-0100", ""), 302, nil},
		{"unsupported scheme", invite("c4", "mailto:x@example.com", ""), 416, nil},
		{"in-dialog re-INVITE", strings.Replace(invite("c5", "sip:+12125550100@e", ""), "To: <sip:+12125550100@e>", "To: <sip:+12125550100@e>;tag=x", 1), 481, nil},
		{"options", strings.NewReplacer("INVITE sip", "OPTIONS sip", "1 INVITE", "1 OPTIONS").Replace(invite("c6", "sip:ping@e", "")), 200, map[string]string{"Allow": "INVITE"}},
		{"bye", strings.NewReplacer("INVITE sip", "BYE sip", "1 INVITE", "1 BYE").Replace(invite("c7", "sip:x@e", "")), 405, map[string]string{"Allow": "OPTIONS"}},
		{"cancel", strings.NewReplacer("INVITE sip", "CANCEL sip", "1 INVITE", "1 CANCEL").Replace(invite("c8", "sip:x@e", "")), 481, nil},
		{"require", invite("c9", "sip:+12125550100@e", "Require: 100rel\r\n"), 420, map[string]string{"Unsupported": "100rel"}},
		{"cseq mismatch", strings.Replace(invite("c10", "sip:+12125550100@e", ""), "1 INVITE", "1 OPTIONS", 1), 400, nil},
		{"bad version", strings.Replace(invite("c11", "sip:+12125550100@e", ""), "SIP/2.0\r\n", "SIP/7.0\r\n", 1), 505, nil},
		{"no number", invite("c12", "sip:edge.example", ""), 484, nil},
	} {
		resp := handle(s, tc.req)
		code, text := status(t, resp)
		if code != tc.code {
			t.Errorf("%s: status %d, want %d\n%s", tc.name, code, tc.code, text)
			continue
		}
		for h, want := range tc.headers {
			if got := header(text, h); !strings.Contains(got, want) {
				t.Errorf("%s: %s = %q, want it to contain %q", tc.name, h, got, want)
			}
		}
		if code >= 300 && !strings.Contains(text, "\r\nCall-ID: ") {
			t.Errorf("%s: no Call-ID in\n%s", tc.name, text)
		}
	}
}

func TestAckAbsorbed(t *testing.T) {
	s, _ := newTestServer(t, testPolicy)
	ack := strings.NewReplacer("INVITE sip", "ACK sip", "1 INVITE", "1 ACK").Replace(invite("a1", "sip:+12125550100@e", ""))
	if resp := handle(s, ack); len(resp) != 0 {
		t.Errorf("ACK answered with %q", resp)
	}
}

func TestViaReceivedRport(t *testing.T) {
	s, _ := newTestServer(t, testPolicy)
	req := strings.Replace(invite("v1", "sip:+12125550100@e", ""), "127.0.0.1:5099;branch", "192.0.2.9:5070;branch", 1)
	w := s.newWorker()
	resp, dst := w.handle(t.Context(), []byte(req), src, "udp")
	via := header(string(resp), "Via")
	if !strings.Contains(via, ";rport=5099") || !strings.Contains(via, ";received=127.0.0.1") {
		t.Errorf("Via = %q, want rport=5099 and received=127.0.0.1", via)
	}
	if dst != src {
		t.Errorf("sent to %v, want the source %v (rport)", dst, src)
	}
	// Without rport the response goes to the sent-by port at the source IP.
	req = strings.Replace(req, ";rport", "", 1)
	if _, dst = w.handle(t.Context(), []byte(req), src, "udp"); dst.Port() != 5070 {
		t.Errorf("without rport sent to %v, want port 5070", dst)
	}
}

func TestSameTagForRetransmission(t *testing.T) {
	s, _ := newTestServer(t, testPolicy)
	req := invite("r1", "sip:+12125550100@e", "")
	a, b := header(string(handle(s, req)), "To"), header(string(handle(s, req)), "To")
	if a != b || !strings.Contains(a, "tag=") {
		t.Errorf("To tags differ for a retransmission: %q vs %q", a, b)
	}
}

func TestContactTarget(t *testing.T) {
	for _, tc := range []struct{ target, ruri, want string }{
		{"", "sip:+1212@edge", "sip:+1212@edge"},
		{"sip:pbx.example:5080", "sip:+1212@edge;user=phone", "sip:+1212@pbx.example:5080"},
		{"sip:decoy@192.0.2.66", "sip:+1212@edge", "sip:decoy@192.0.2.66"},
		// A tel: Request-URI's number is the user (it was dropped).
		{"sip:pbx.example:5080", "tel:+12125550100", "sip:+12125550100@pbx.example:5080"},
		{"sip:pbx.example", "TEL:5550100;phone-context=+1212", "sip:5550100;phone-context=+1212@pbx.example"},
		{"sip:pbx.example", "tel:", "sip:pbx.example"},
		{"sip:pbx.example", "tel:+1<sip:x@y>", "sip:pbx.example"},
	} {
		if got := string(appendTarget(nil, tc.target, tc.ruri)); got != tc.want {
			t.Errorf("appendTarget(%q, %q) = %q, want %q", tc.target, tc.ruri, got, tc.want)
		}
	}
}
