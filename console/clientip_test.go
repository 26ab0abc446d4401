package console

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
)

// TestClientIPBehindProxy: a login's source is the peer unless the peer
// is a trusted proxy; then the right-most forwarded address that is not a
// proxy, so a client cannot pick its own address by prepending one.
func TestClientIPBehindProxy(t *testing.T) {
	c := &Console{o: Options{Config: config.Console{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}}
	cases := []struct{ peer, xff, want string }{
		{"198.51.100.7:5555", "", "198.51.100.7"},
		{"198.51.100.7:5555", "203.0.113.1", "198.51.100.7"}, // untrusted peer: its header is ignored
		{"10.0.0.2:443", "203.0.113.1", "203.0.113.1"},
		{"10.0.0.2:443", "1.2.3.4, 203.0.113.1, 10.0.0.9", "203.0.113.1"}, // forged left entry ignored
		{"10.0.0.2:443", "", "10.0.0.2"},
		{"10.0.0.2:443", "not-an-ip", "10.0.0.2"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/ui/login", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := c.clientIP(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}
