package sipfront

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
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
	fs, _ := filepath.Glob(filepath.Join(testdata("rfc4475"), "*.dat"))
	if len(fs) != 50 {
		f.Fatalf("%d RFC 4475 messages in testdata/rfc4475, want 50", len(fs))
	}
	for _, p := range fs {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
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

// FuzzProxy feeds arbitrary messages, requests and responses, to the
// proxy (its sends captured, not put on the wire), then runs its timers
// far ahead: nothing may panic, every message it sends must be framed
// (start line, blank line, body of Content-Length octets) and the state
// must drain once every timer has run out.
func FuzzProxy(f *testing.F) {
	f.Add([]byte(invite("p1", "sip:+12125550100@edge", "")), []byte("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtgx.y\r\nFrom: <sip:a@b>;tag=a1\r\nTo: <sip:c@d>;tag=u\r\nCall-ID: p1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte(invite("p2", "sip:+25261234567@edge", "Proxy-Require: x\r\n")), []byte("garbage"))
	f.Add([]byte("BYE sip:pbx@127.0.0.1:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-b\r\nRoute: <sip:127.0.0.1:5070;lr>\r\nFrom: <sip:a@b>;tag=a1\r\nTo: <sip:c@d>;tag=u\r\nCall-ID: p1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"),
		[]byte(invite("p1", "sip:+12125550100@edge", "")))
	eng, cfg := newEngine(f, fmt.Sprintf(proxyPolicy, 5070, "sip:127.0.0.1:5080"))
	s, err := New(Options{Config: &cfg.SIP, Engine: eng})
	if err != nil {
		f.Fatal(err)
	}
	p := s.proxy
	self := netip.MustParseAddrPort("127.0.0.1:5070")
	p.self["udp"], p.ours[self] = self, true
	p.ready.Store(true)
	var sent [][]byte
	p.sendFn = func(_ flow, b []byte) error { sent = append(sent, append([]byte(nil), b...)); return nil }
	w := s.newWorker()
	clock := time.Now()
	p.now = func() time.Time { return clock }
	f.Fuzz(func(t *testing.T, a, b []byte) {
		sent = sent[:0]
		w.handle(t.Context(), a, src, "udp")
		w.handle(t.Context(), b, netip.MustParseAddrPort("127.0.0.1:5080"), "udp")
		for _, m := range sent {
			var msg message
			if err := msg.scan(string(m), 1000); err != nil {
				t.Fatalf("proxy sent a message its own scanner refuses (%v): %q", err, m)
			}
			if msg.clen != len(msg.body) {
				t.Fatalf("Content-Length %d, body %d octets: %q", msg.clen, len(msg.body), m)
			}
		}
		for _, d := range []time.Duration{time.Hour, 2 * time.Hour, 25 * time.Hour, 26 * time.Hour} {
			p.onTick(clock.Add(d))
		}
		clock = clock.Add(27 * time.Hour)
		if sv, cl, rl, dl, tm := p.stateSize(); sv+cl+rl+dl+tm != 0 || p.txCount.Load() != 0 || p.dlgCount.Load() != 0 {
			t.Fatalf("state left after every timer ran out: %d server, %d client, %d relays, %d dialogs, %d timers; counts %d/%d",
				sv, cl, rl, dl, tm, p.txCount.Load(), p.dlgCount.Load())
		}
	})
}

// FuzzParseAddressURI checks that parseAddressURI reads every header
// value as sip.ParseAddressValue does: an error for the same inputs and
// the same URI otherwise.
func FuzzParseAddressURI(f *testing.F) {
	for _, s := range []string{
		`<sip:1001@pbx.example>;tag=a1`, `"Alice" <sip:1001@pbx.example>;tag=a1`, `Alice <sip:a@b>`,
		`sip:1001@pbx.example;tag=x`, `sip:1001@pbx.example`, `"A\"l;<ice" <sip:a@b;user=phone>`,
		`"A\` + "\r" + `" <sip:a@b>`, `"unterminated <sip:a@b>`, `<sip:a@b`, `<`, `"x";sip:a@b`, `"x"`,
		`;tag=1`, `<>`, `tel:+12125550100`, `<sips:[::1]:5061;transport=tls>`, `"é" <sip:ü@b>`, "\xff<sip:a@b>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var got, want sip.Uri
		err := parseAddressURI(v, &got)
		_, werr := sip.ParseAddressValue(v, &want, nil)
		if (err == nil) != (werr == nil) {
			t.Fatalf("%q: parseAddressURI error %v, ParseAddressValue error %v", v, err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseAddressURI %+v, ParseAddressValue %+v", v, got, want)
		}
	})
}
