package sipfront

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
)

// FuzzMapRequest feeds arbitrary bytes to the SIP → call mapping and to
// the whole redirect path: neither may panic, a mapped call must respect
// the API's field limits, and every answer must be a well-formed status
// line with a Call-ID.
func FuzzMapRequest(f *testing.F) {
	f.Add([]byte(invite("f1", "sip:+12125550100@edge", "X-Extension: 1001\r\nP-Asserted-Identity: <tel:+12125550199>\r\n")))
	f.Add([]byte(invite("f2", "tel:+44-20-7946-0000;phone-context=+44", "X-Source-IP: 192.0.2.1:5060\r\n")))
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n"))
	if fs, _ := filepath.Glob("/work/shared/testdata/rfc4475/*.dat"); len(fs) > 0 {
		for _, p := range fs[:min(len(fs), 20)] {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	mp := NewMapper(config.SIPMap{ExtensionHeader: "X-Extension", ExtensionFrom: "from_user", Caller: "pai",
		SourceIPHeader: "X-Source-IP", Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	s, _ := newTestServer(f, testPolicy)
	w := s.newWorker()
	f.Fuzz(func(t *testing.T, b []byte) {
		var c screen.Call
		if err := mp.MapRequest(b, src.Addr(), "udp", &c); err == nil {
			if c.ID == "" || c.Callee == "" || len(c.ID) > maxCallID || len(c.Callee) > maxCallee || len(c.Caller) > maxCaller {
				t.Fatalf("mapped call breaks the field limits: %+v", c)
			}
		}
		resp, _ := w.handle(t.Context(), b, src, "udp")
		if resp == nil {
			return
		}
		r := string(resp)
		if !strings.HasPrefix(r, "SIP/2.0 ") || !strings.HasSuffix(r, "\r\n\r\n") || !strings.Contains(r, "\r\nCall-ID: ") {
			t.Fatalf("malformed response %q", r)
		}
		if strings.Count(r, "\r\n\r\n") != 1 {
			t.Fatalf("response has a blank line inside: %q", r)
		}
	})
}
