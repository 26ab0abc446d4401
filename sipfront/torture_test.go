package sipfront

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata is a folder of the repository's testdata (the RFC 4475
// messages, see testdata/rfc4475/PROVENANCE.md).
func testdata(sub string) string { return filepath.Join("..", "testdata", sub) }

// TestRFC4475 sends each torture message of RFC 4475 through the redirect
// path. want is the status tollgate answers (0 = no answer), chosen from
// what each section of the RFC expects of an element in tollgate's role,
// a stateless redirect server that is not a registrar.
func TestRFC4475(t *testing.T) {
	dir := testdata("rfc4475")
	s, _ := newTestServer(t, testPolicy)
	for _, tc := range []struct {
		file string
		want int
		why  string
	}{
		// 3.1.1 valid messages: parsed, never a 400.
		{"wsinv.dat", 484, "valid; folded/LWS-laden headers parse; the user is no phone number"},
		{"intmeth.dat", 405, "valid unknown method"},
		{"esc01.dat", 484, "valid escapes; user 'sipuser' is no number"},
		{"escnull.dat", 405, "valid REGISTER; not a registrar"},
		{"esc02.dat", 405, "valid: RE%47IST%45R is an unknown method"},
		{"lwsdisp.dat", 200, "valid OPTIONS"},
		{"longreq.dat", 403, "valid; caller longer than the screenable 128 bytes is refused, not the syntax"},
		{"dblreq.dat", 405, "valid REGISTER; trailing octets ignored"},
		{"semiuri.dat", 200, "valid OPTIONS"},
		{"transports.dat", 200, "valid OPTIONS with odd transports"},
		{"mpart01.dat", 405, "valid MESSAGE"},
		{"unreason.dat", 0, "a response: nothing to match"},
		{"noreason.dat", 0, "a response: nothing to match"},
		// 3.1.2 invalid messages: 400 (or a more specific refusal).
		{"badinv01.dat", 400, "empty Via parameters"},
		{"clerr.dat", 400, "Content-Length beyond the datagram"},
		{"ncl.dat", 400, "negative Content-Length"},
		{"scalar02.dat", 400, "overlarge Max-Forwards/CSeq"},
		{"scalarlg.dat", 0, "a response"},
		{"quotbal.dat", 400, "unterminated quoted string"},
		{"ltgtruri.dat", 400, "<> around the Request-URI"},
		{"lwsruri.dat", 400, "LWS inside the Request-URI"},
		{"lwsstart.dat", 400, "several SP in the request line"},
		{"trws.dat", 400, "SP at the end of the request line"},
		{"escruri.dat", 400, "headers escaped into the Request-URI"},
		{"baddate.dat", 484, "liberal: a bad Date is not needed to screen"},
		{"regbadct.dat", 405, "REGISTER; not a registrar"},
		{"badaspec.dat", 200, "liberal: OPTIONS answered"},
		{"baddn.dat", 200, "liberal: OPTIONS answered"},
		{"badvers.dat", 505, "SIP/7.0"},
		{"mismatch01.dat", 400, "CSeq method differs from the request's"},
		{"mismatch02.dat", 400, "CSeq method differs from the request's"},
		{"bigcode.dat", 0, "a response"},
		// 3.2 transaction layer.
		{"badbranch.dat", 200, "no magic cookie: still answered"},
		// 3.3 application layer.
		{"insuf.dat", 400, "missing From, To, Call-ID"},
		{"unkscm.dat", 416, "unknown URI scheme"},
		{"novelsc.dat", 416, "a scheme tollgate does not route"},
		{"unksm2.dat", 405, "REGISTER; not a registrar"},
		{"bext01.dat", 420, "Require of an unknown extension"},
		{"invut.dat", 415, "unknown body type"},
		{"regaut01.dat", 405, "REGISTER; not a registrar"},
		{"multi01.dat", 400, "several single-valued headers"},
		{"mcl01.dat", 400, "several Content-Length values"},
		{"bcast.dat", 0, "a response"},
		{"zeromf.dat", 200, "Max-Forwards 0: the target answers, it does not forward"},
		{"cparam01.dat", 405, "REGISTER; not a registrar"},
		{"cparam02.dat", 405, "REGISTER; not a registrar"},
		{"regescrt.dat", 405, "REGISTER; not a registrar"},
		{"sdp01.dat", 484, "processed; the Accept does not matter to a bodiless 3xx/4xx"},
		// 3.4 backward compatibility.
		{"inv2543.dat", 484, "RFC 2543 syntax accepted; user is no number"},
		{"test.dat", 0, "no SIP version, no Via: cannot be answered"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		resp := handle(s, string(b))
		got := 0
		if len(resp) > 0 {
			got, _ = status(t, resp)
		}
		if got != tc.want {
			t.Errorf("%s (%s): status %d, want %d\n%s", tc.file, tc.why, got, tc.want, resp)
		}
		if got != 0 && !strings.HasSuffix(string(resp), "\r\n\r\n") {
			t.Errorf("%s: unterminated response %q", tc.file, resp)
		}
	}
}
