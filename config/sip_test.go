package config

import (
	"strings"
	"testing"
)

// tail completes a policy; the SIP section comes first so its lines are stable.
const tail = "defaults:\n  country: US\n  on_error: fail_closed\n"

func TestSIPSection(t *testing.T) {
	for i, tc := range []struct {
		src     string
		wantErr string // substring; "" = valid
	}{
		{"sip:\n  listen: [udp:127.0.0.1:5060, tcp:127.0.0.1:5060]\n", ""},
		{"sip:\n  mode: proxy\n  listen: [udp:127.0.0.1:5060]\n  upstream: sip:pbx.example:5060\n", ""},
		{"sip:\n  mode: bridge\n", "p.yaml:2: sip.mode: want redirect or proxy"},
		{"sip:\n  listen: [sctp:127.0.0.1:5060]\n", "p.yaml:2: sip.listen[0]"},
		{"sip:\n  listen: [udp:localhost:5060]\n", "sip.listen[0]: want an IP address and port"},
		{"sip:\n  listen: [tls:127.0.0.1:5061]\n", "sip.tls_cert"},
		{"sip:\n  mode: proxy\n  listen: [udp:127.0.0.1:5060]\n", "sip.upstream: proxy mode needs an upstream"},
		{"sip:\n  upstream: http://x\n", "p.yaml:2: sip.upstream"},
		{"sip:\n  reject_code: 404\n", "p.yaml:2: sip.reject_code: want 403 or 603"},
		{"sip:\n  map:\n    caller: to\n", "p.yaml:3: sip.map.caller"},
		{"sip:\n  map:\n    source_ip_header: X-Source-IP\n", "sip.map.trusted_proxies"},
		{"sip:\n  map:\n    source_ip_header: X-Source-IP\n    trusted_proxies: [10.0.0.0/8, 127.0.0.1]\n", ""},
		{"sip:\n  map:\n    trusted_proxies: [nope]\n", "sip.map.trusted_proxies[0]"},
		{"sip:\n  map:\n    tenant_header: \"X Tenant\"\n", "sip.map.tenant_header"},
		{"sip:\n  limits:\n    requests_per_s: -1\n", "p.yaml:3: sip.limits.requests_per_s"},
		{"sip:\n  limits:\n    max_message_bytes: 100\n", "sip.limits.max_message_bytes: want at least 1024"},
		{"sip:\n  limits:\n    max_connections_per_source: -2\n", "p.yaml:3: sip.limits.max_connections_per_source: want 0 to"},
		{"sip:\n  limits:\n    max_connections_per_source: 0\n    handshake_timeout_s: 5\n", ""},
		{"sip:\n  limits:\n    handshake_timeout_s: 7200\n", "p.yaml:3: sip.limits.handshake_timeout_s: want 0 to 3600"},
		{"sip:\n  limits:\n    max_transactions: 0\n", "p.yaml:3: sip.limits.max_transactions: want at least 1"},
		{"sip:\n  bogus: 1\n", "bogus"},
		{"sip:\n  mode: proxy\n  listen: [udp:0.0.0.0:5060]\n  upstream: sip:10.0.0.5\n", "sip.listen[0]: proxy mode writes its address into Via and Record-Route"},
		{"sip:\n  mode: proxy\n  listen: [udp:127.0.0.1:5060]\n  upstream: sip:10.0.0.5;transport=tcp\n", "sip.upstream: sip:10.0.0.5;transport=tcp is reached over tcp: add a tcp listener"},
		{"sip:\n  mode: proxy\n  listen: [udp:127.0.0.1:5060, tcp:127.0.0.1:5060]\n  upstream: sip:10.0.0.5;transport=tcp\n  honeypot: sip:hp@10.0.0.9;transport=sctp\n", "sip.honeypot: proxy mode forwards over udp or tcp"},
		{"sip:\n  mode: proxy\n  listen: [udp:127.0.0.1:5060]\n  upstream: sips:pbx.example\n", "sip.upstream: proxy mode forwards over udp or tcp: want a sip: URI"},
		{"sip:\n  mode: proxy\n  listen: [udp:127.0.0.1:5060, tcp:127.0.0.1:5060]\n  upstream: sip:10.0.0.5;transport=tcp\n  challenge: sip:pin@10.0.0.6\n", ""},
	} {
		_, err := Parse("p.yaml", []byte(tc.src+tail))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%d: Parse = %v, want no error", i, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%d: Parse error = %v, want one containing %q", i, err, tc.wantErr)
		}
	}
}

func TestSIPDefaults(t *testing.T) {
	c, err := Parse("p.yaml", []byte("sip:\n  listen: [udp:127.0.0.1:5060]\n  limits:\n    requests_per_s: 0\n"+tail))
	if err != nil {
		t.Fatal(err)
	}
	s := c.SIP
	if s.Mode != "redirect" || s.RejectCode != 403 || s.RetryAfter != DefaultSIPRetryAfter || s.Map.Caller != "pai" || s.Map.ExtensionFrom != "from_user" {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s.Limit.RequestsPerSecond != 0 {
		t.Errorf("explicit requests_per_s 0 = %d, want 0 (off)", s.Limit.RequestsPerSecond)
	}
	if s.Limit.MaxConnectionsPerSource != DefaultSIPMaxConnectionsPerSource || s.Limit.HandshakeTimeout != DefaultSIPHandshakeTimeout ||
		s.Limit.MaxTransactions != DefaultSIPMaxTransactions {
		t.Errorf("connection and transaction limits = %+v", s.Limit)
	}
	if s.Limit.MaxMessageBytes != DefaultSIPMaxMessageBytes || s.Limit.MaxHeaders != DefaultSIPMaxHeaders {
		t.Errorf("limits = %+v", s.Limit)
	}
}
