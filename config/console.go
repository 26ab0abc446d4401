package config

import (
	"net/netip"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Console configures the operator console (the web dashboard served by
// tollgate serve), its logins and the audit log's retention.
type Console struct {
	// Enabled serves the console at / and /ui/ (default true).
	Enabled bool `yaml:"enabled"`
	// RequireMFA refuses logins of users without a TOTP second factor (default true).
	RequireMFA bool `yaml:"require_mfa"`
	// SessionIdleS ends a session unused this long (default 1800).
	SessionIdleS Seconds `yaml:"session_idle_s"`
	// SessionMaxS ends a session this long after login whatever (default 43200).
	SessionMaxS Seconds `yaml:"session_max_s"`
	// LockoutFailures failed logins in a row lock the user (default 5) …
	LockoutFailures int `yaml:"lockout_failures"`
	// … for LockoutS seconds (default 900), doubled for each further lock
	// before a good login …
	LockoutS Seconds `yaml:"lockout_s"`
	// … up to LockoutMaxS seconds (default 86400).
	LockoutMaxS Seconds `yaml:"lockout_max_s"`
	// SourceFailures failed logins from one address (IPv6: one /64) within
	// SourceWindowS seconds refuse every further login from it until the
	// window ends (defaults 10 and 900), so one address cannot lock many
	// accounts.
	SourceFailures int     `yaml:"source_failures"`
	SourceWindowS  Seconds `yaml:"source_window_s"`
	// CookieSecure: auto (Secure when the request came over HTTPS, said so
	// by X-Forwarded-Proto, or is on loopback), always or never.
	CookieSecure string `yaml:"cookie_secure"`
	// AuditRetentionDays is how long audit entries must be kept (default
	// 2557, seven years). tollgate never deletes younger entries; 'tollgate
	// audit export -before' hands older ones to an archive.
	AuditRetentionDays int `yaml:"audit_retention_days"`
	// AuditAnchorFile, when set, receives a keyed anchor (id, hash, HMAC)
	// each time the audit log grows; it must be outside the data
	// directory, ideally off the box. 'tollgate audit verify -anchors'
	// then detects rewritten and truncated logs (cli/anchor.go).
	AuditAnchorFile string `yaml:"audit_anchor_file"`
	// AuditKeyEnv names the environment variable holding the anchor key,
	// hex (default TOLLGATE_AUDIT_KEY).
	AuditKeyEnv string `yaml:"audit_key_env"`
	// AuditKey is read from AuditKeyEnv.
	AuditKey Secret `yaml:"-"`
	// TrustedProxies are the reverse proxies (addresses or CIDRs) in front
	// of the console: from them, the client address for the per-source
	// login limit is the right-most X-Forwarded-For entry that is not a
	// trusted proxy. Without it every login behind a proxy would share
	// the proxy's allowance.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Trusted is TrustedProxies parsed.
	Trusted []netip.Prefix `yaml:"-"`
}

// DefaultConsole returns the console defaults.
func DefaultConsole() Console {
	return Console{Enabled: true, RequireMFA: true, SessionIdleS: 1800, SessionMaxS: 43200, LockoutFailures: 5, LockoutS: 900, LockoutMaxS: 86400, SourceFailures: 10, SourceWindowS: 900, CookieSecure: "auto", AuditRetentionDays: 2557, AuditKeyEnv: "TOLLGATE_AUDIT_KEY"}
}

// console decodes and checks the console section.
func (p *parser) console(c *Console, n *yaml.Node) {
	*c = DefaultConsole()
	p.decodeStrict(n, "console", c)
	ln := map[string]int{}
	lines(n, "console", ln)
	at := func(f string) int {
		if l, ok := ln[f]; ok {
			return l
		}
		return n.Line
	}
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		{"console.session_idle_s", int(c.SessionIdleS), 60},
		{"console.session_max_s", int(c.SessionMaxS), 60},
		{"console.lockout_failures", c.LockoutFailures, 1},
		{"console.lockout_s", int(c.LockoutS), 1},
		{"console.lockout_max_s", int(c.LockoutMaxS), 1},
		{"console.source_failures", c.SourceFailures, 1},
		{"console.source_window_s", int(c.SourceWindowS), 1},
		{"console.audit_retention_days", c.AuditRetentionDays, 1},
	} {
		if f.v < f.min {
			p.errorf(at(f.name), f.name, "must be ≥ %d", f.min)
		}
	}
	if c.SessionMaxS < c.SessionIdleS && c.SessionMaxS >= 60 {
		p.errorf(at("console.session_max_s"), "console.session_max_s", "shorter than session_idle_s")
	}
	c.Trusted = nil
	for i, v := range c.TrustedProxies {
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				p.errorf(at("console.trusted_proxies"), "console.trusted_proxies["+strconv.Itoa(i)+"]", "want an address or CIDR, got %q", v)
				continue
			}
			pf = netip.PrefixFrom(a, a.BitLen())
		}
		c.Trusted = append(c.Trusted, pf.Masked())
	}
	switch c.CookieSecure {
	case "auto", "always", "never":
	default:
		p.errorf(at("console.cookie_secure"), "console.cookie_secure", "want auto, always or never, got %q", c.CookieSecure)
	}
}
