package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// SIP configures the SIP front end (package sipfront). It is validated by
// (*parser).sip, which also fills the defaults; an empty listen list means
// no SIP listeners.
type SIP struct {
	// Mode is redirect (answer 302/403/503) or proxy (be the hop).
	Mode SIPMode `yaml:"mode"`
	// Listen lists listeners as transport:host:port, e.g. udp:127.0.0.1:5060;
	// transports are udp, tcp and tls.
	Listen []string `yaml:"listen"`
	// TLSCert and TLSKey are PEM files, required by a tls listener.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`

	// Upstream is where allowed calls go: the Contact of the 302 in
	// redirect mode (empty = the original Request-URI), the next hop in
	// proxy mode (required there).
	Upstream string `yaml:"upstream"`
	// Honeypot and Challenge (a PIN IVR) receive calls with those verdicts;
	// when empty such calls are rejected.
	Honeypot  string `yaml:"honeypot"`
	Challenge string `yaml:"challenge"`
	// RejectCode is 403 (Forbidden) or 603 (Decline).
	RejectCode int `yaml:"reject_code"`
	// RetryAfter is the Retry-After of a 503 (seconds).
	RetryAfter Seconds `yaml:"retry_after_s"`

	Map   SIPMap   `yaml:"map"`
	Limit SIPLimit `yaml:"limits"`
}

// SIPMap says how a SIP request becomes a call to screen.
type SIPMap struct {
	// TenantHeader names the header holding the tenant (e.g. X-Tenant).
	TenantHeader string `yaml:"tenant_header"`
	// TenantFrom is the fallback when the header is absent: none (the
	// default policy) or from_domain.
	TenantFrom string `yaml:"tenant_from"`
	// ExtensionHeader names the header holding the extension (X-Extension).
	ExtensionHeader string `yaml:"extension_header"`
	// ExtensionFrom is the fallback: from_user (default) or none.
	ExtensionFrom string `yaml:"extension_from"`
	// Caller is pai (P-Asserted-Identity, else From; the default) or from.
	Caller string `yaml:"caller"`
	// SourceIPHeader names a header an edge proxy sets to the caller's
	// address (e.g. X-Source-IP); it is believed only from TrustedProxies.
	SourceIPHeader string   `yaml:"source_ip_header"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DirectionHeader names a header holding outbound, inbound or internal.
	// It, TenantHeader, ExtensionHeader and P-Asserted-Identity are
	// believed only from TrustedProxies when that list is set.
	DirectionHeader string `yaml:"direction_header"`

	// Trusted is TrustedProxies parsed.
	Trusted []netip.Prefix `yaml:"-"`
}

// SIPLimit bounds what one peer can make the front end do.
type SIPLimit struct {
	// RequestsPerSecond and Burst rate-limit requests per source address
	// (an IPv6 source: per /64; trusted proxies are exempt); 0 turns the
	// limit off.
	RequestsPerSecond int `yaml:"requests_per_s"`
	Burst             int `yaml:"burst"`
	// MaxMessageBytes bounds one message (UDP datagram or TCP frame).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxHeaders bounds the header fields of one message.
	MaxHeaders int `yaml:"max_headers"`
	// MaxConnections bounds open TCP/TLS connections per listener.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a TCP/TLS connection silent this long (seconds).
	IdleTimeout Seconds `yaml:"idle_timeout_s"`
	// MaxConnectionsPerSource bounds the open TCP/TLS connections of one
	// source address (an IPv6 source: its /64) per listener, so one
	// address cannot take every slot (trusted proxies and next hops are
	// exempt); 0 turns it off.
	MaxConnectionsPerSource int `yaml:"max_connections_per_source"`
	// HandshakeTimeout is how long a new TCP/TLS connection has for its
	// TLS handshake and first complete message (seconds); 0: IdleTimeout.
	HandshakeTimeout Seconds `yaml:"handshake_timeout_s"`
	// MaxTransactions bounds the proxy's transactions and dialogs: beyond
	// it new calls are answered 503 with Retry-After.
	MaxTransactions int `yaml:"max_transactions"`
}

// SIP defaults.
const (
	DefaultSIPRejectCode      = 403
	DefaultSIPRetryAfter      = 30
	DefaultSIPRequestsPerSec  = 500
	DefaultSIPMaxMessageBytes = 16 << 10
	DefaultSIPMaxHeaders      = 96
	DefaultSIPMaxConnections  = 1024
	DefaultSIPIdleTimeout     = 120
	// DefaultSIPMaxConnectionsPerSource lets 32 sources fill a default
	// listener; an edge proxy or trunk needs a handful.
	DefaultSIPMaxConnectionsPerSource = 32
	DefaultSIPHandshakeTimeout        = 10
	DefaultSIPMaxTransactions         = 100000
)

func (p *parser) sip(s *SIP, ln map[string]int) {
	at := func(f string) int {
		if l, ok := ln[f]; ok {
			return l
		}
		return ln["sip"]
	}
	if s.Mode == "" { // other words fail as they are decoded
		s.Mode = SIPRedirect
	}
	hasTLS := false
	seen := map[string]bool{}
	for i, l := range s.Listen {
		f := "sip.listen[" + strconv.Itoa(i) + "]"
		tr, addr, ok := strings.Cut(l, ":")
		switch {
		case !ok || (tr != "udp" && tr != "tcp" && tr != "tls"):
			p.errorf(at("sip.listen"), f, "want udp:, tcp: or tls: then host:port, got %q", l)
			continue
		case seen[l]:
			p.errorf(at("sip.listen"), f, "duplicate listener %q", l)
		}
		seen[l] = true
		if _, err := netip.ParseAddrPort(addr); err != nil {
			p.errorf(at("sip.listen"), f, "want an IP address and port, got %q", addr)
		}
		hasTLS = hasTLS || tr == "tls"
	}
	if hasTLS && (s.TLSCert == "" || s.TLSKey == "") {
		p.errorf(at("sip.listen"), "sip.tls_cert", "a tls listener needs tls_cert and tls_key")
	}
	for _, u := range []struct{ f, v string }{{"upstream", s.Upstream}, {"honeypot", s.Honeypot}, {"challenge", s.Challenge}} {
		if u.v != "" && !validSIPURI(u.v) {
			p.errorf(at("sip."+u.f), "sip."+u.f, "want a sip: or sips: URI without spaces or <>, got %q", u.v)
		}
	}
	if s.Mode == SIPProxy && s.Upstream == "" && len(s.Listen) > 0 {
		p.errorf(at("sip.mode"), "sip.upstream", "proxy mode needs an upstream")
	}
	if s.Mode == SIPProxy {
		p.sipProxy(s, at)
	}
	switch s.RejectCode {
	case 0:
		s.RejectCode = DefaultSIPRejectCode
	case 403, 603:
	default:
		p.errorf(at("sip.reject_code"), "sip.reject_code", "want 403 or 603, got %d", s.RejectCode)
	}
	if s.RetryAfter == 0 {
		s.RetryAfter = DefaultSIPRetryAfter
	} else if s.RetryAfter < 0 || s.RetryAfter > 86400 {
		p.errorf(at("sip.retry_after_s"), "sip.retry_after_s", "want 1 to 86400 seconds")
	}

	m := &s.Map
	switch m.TenantFrom {
	case "", "none", "from_domain":
	default:
		p.errorf(at("sip.map.tenant_from"), "sip.map.tenant_from", "want none or from_domain, got %q", m.TenantFrom)
	}
	switch m.ExtensionFrom {
	case "":
		m.ExtensionFrom = "from_user"
	case "none", "from_user":
	default:
		p.errorf(at("sip.map.extension_from"), "sip.map.extension_from", "want from_user or none, got %q", m.ExtensionFrom)
	}
	switch m.Caller {
	case "":
		m.Caller = "pai"
	case "pai", "from":
	default:
		p.errorf(at("sip.map.caller"), "sip.map.caller", "want pai or from, got %q", m.Caller)
	}
	for _, h := range []struct{ f, v string }{{"tenant_header", m.TenantHeader}, {"extension_header", m.ExtensionHeader},
		{"source_ip_header", m.SourceIPHeader}, {"direction_header", m.DirectionHeader}} {
		if h.v != "" && !isToken(h.v) {
			p.errorf(at("sip.map."+h.f), "sip.map."+h.f, "want a header name, got %q", h.v)
		}
	}
	m.Trusted = m.Trusted[:0]
	for i, c := range m.TrustedProxies {
		pf, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				p.errorf(at("sip.map.trusted_proxies"), "sip.map.trusted_proxies["+strconv.Itoa(i)+"]", "want an address or CIDR, got %q", c)
				continue
			}
			pf = netip.PrefixFrom(a, a.BitLen())
		}
		m.Trusted = append(m.Trusted, pf.Masked())
	}
	if m.SourceIPHeader != "" && len(m.Trusted) == 0 {
		p.errorf(at("sip.map.source_ip_header"), "sip.map.trusted_proxies", "source_ip_header needs trusted_proxies (who may set it)")
	}

	l := &s.Limit
	for _, v := range []struct {
		f   string
		p   *int
		def int
		max int
	}{
		{"requests_per_s", &l.RequestsPerSecond, DefaultSIPRequestsPerSec, 1e6},
		{"burst", &l.Burst, 0, 1e7},
		{"max_message_bytes", &l.MaxMessageBytes, DefaultSIPMaxMessageBytes, 1 << 20},
		{"max_headers", &l.MaxHeaders, DefaultSIPMaxHeaders, 1000},
		{"max_connections", &l.MaxConnections, DefaultSIPMaxConnections, 1e6},
		{"idle_timeout_s", (*int)(&l.IdleTimeout), DefaultSIPIdleTimeout, 86400},
		{"max_connections_per_source", &l.MaxConnectionsPerSource, DefaultSIPMaxConnectionsPerSource, 1e6},
		{"handshake_timeout_s", (*int)(&l.HandshakeTimeout), DefaultSIPHandshakeTimeout, 3600},
		{"max_transactions", &l.MaxTransactions, DefaultSIPMaxTransactions, 1e7},
	} {
		f := "sip.limits." + v.f
		_, set := ln[f]
		switch {
		case *v.p < 0 || *v.p > v.max:
			p.errorf(at(f), f, "want 0 to %d, got %d", v.max, *v.p)
		case !set && *v.p == 0:
			*v.p = v.def
		}
	}
	if l.Burst == 0 {
		l.Burst = 2 * l.RequestsPerSecond
	}
	if l.MaxTransactions == 0 {
		p.errorf(at("sip.limits.max_transactions"), "sip.limits.max_transactions", "want at least 1")
	}
	if l.MaxMessageBytes > 0 && l.MaxMessageBytes < 1024 {
		p.errorf(at("sip.limits.max_message_bytes"), "sip.limits.max_message_bytes", "want at least 1024")
	}
}

// sipProxy checks what proxy mode writes into messages: its listener
// addresses (Via, Record-Route) must be specific, and every next hop must
// be reachable over udp or tcp through a listener of that transport.
func (p *parser) sipProxy(s *SIP, at func(string) int) {
	have := map[string]bool{}
	for i, l := range s.Listen {
		tr, addr, _ := strings.Cut(l, ":")
		have[tr] = true
		if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().IsUnspecified() {
			p.errorf(at("sip.listen"), "sip.listen["+strconv.Itoa(i)+"]", "proxy mode writes its address into Via and Record-Route: want a specific address, not %s", ap.Addr())
		}
	}
	for _, u := range []struct{ f, v string }{{"upstream", s.Upstream}, {"honeypot", s.Honeypot}, {"challenge", s.Challenge}} {
		if u.v == "" || !validSIPURI(u.v) {
			continue
		}
		if strings.HasPrefix(u.v, "sips:") {
			p.errorf(at("sip."+u.f), "sip."+u.f, "proxy mode forwards over udp or tcp: want a sip: URI, got %q", u.v)
			continue
		}
		tr := "udp"
		if i := strings.Index(strings.ToLower(u.v), ";transport="); i >= 0 {
			tr = strings.ToLower(u.v[i+len(";transport="):])
			if j := strings.IndexAny(tr, ";?"); j >= 0 {
				tr = tr[:j]
			}
		}
		switch {
		case tr != "udp" && tr != "tcp":
			p.errorf(at("sip."+u.f), "sip."+u.f, "proxy mode forwards over udp or tcp, not %q", tr)
		case len(s.Listen) > 0 && !have[tr]:
			p.errorf(at("sip."+u.f), "sip."+u.f, "%s is reached over %s: add a %s listener to sip.listen", u.v, tr, tr)
		}
	}
}

// validSIPURI is a light check: scheme, no whitespace or angle brackets.
func validSIPURI(u string) bool {
	if !strings.HasPrefix(u, "sip:") && !strings.HasPrefix(u, "sips:") {
		return false
	}
	if len(u) > 256 || len(u) < 5 {
		return false
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c == '<' || c == '>' || c == '"' || c >= 0x7f {
			return false
		}
	}
	return true
}

// isToken reports whether s is a header name (RFC 3261 token).
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return false
		}
	}
	return true
}
