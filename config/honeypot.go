package config

import (
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-voip/tollgate/number"
)

// Honeypot configures the decoy PBX (package honeypot). With an empty
// listen, serve starts no decoy; 'tollgate honeypot' runs one standalone.
type Honeypot struct {
	// Listen is the decoy's UDP address, host:port (or udp:host:port).
	Listen string `yaml:"listen"`
	// ListenTCP is an optional TCP address the decoy also answers on.
	ListenTCP string `yaml:"listen_tcp"`
	// Banner is the Server header the decoy shows.
	Banner string `yaml:"banner"`
	Realm  string `yaml:"realm"`
	// AcceptAfter is how many password guesses per user and address are
	// refused before one is accepted.
	AcceptAfter int `yaml:"accept_after"`
	// CallDuration is when the decoy hangs up a call (seconds).
	CallDuration Seconds `yaml:"call_duration_s"`
	MaxCalls     int     `yaml:"max_calls"`
	// RequestsPerSecond and Burst bound what one source address gets
	// answered; TotalRequestsPerSecond bounds everything.
	RequestsPerSecond      int `yaml:"requests_per_s"`
	Burst                  int `yaml:"burst"`
	TotalRequestsPerSecond int `yaml:"total_requests_per_s"`
	// Country is the dial plan dialed numbers are read in (default: the
	// policy's country).
	Country string `yaml:"country"`
	// IPTTLDays and NumberTTLDays are how long honeypot sightings stay in
	// the reputation database unless seen again.
	IPTTLDays     Days `yaml:"ip_ttl_days"`
	NumberTTLDays Days `yaml:"number_ttl_days"`
	// Learning says when a number dialed at the decoy is enforced.
	Learning Learning `yaml:"learning"`

	// Addr is Listen without a udp: prefix.
	Addr string `yaml:"-"`
}

// Learning configures what the decoy learns from dialed numbers. A
// dialed number is first suspected (it adds risk only); it is confirmed,
// and attack.number_action applies to it, when sources in Networks
// distinct networks (IPv4 /24, IPv6 /48) each completed a call to it (so
// their addresses were not forged) with the proofs at least SpanS
// seconds apart. High-cost numbers (premium rate, or in a premium,
// satellite or IRSF risk range) need HighCostNetworks over HighCostSpanS.
// Protected numbers are never learned: every tenant's caller_id
// own_numbers and customer_numbers, emergency numbers, ProtectedNumbers
// (E.164 numbers or prefixes) and numbers of ProtectedTypes.
type Learning struct {
	Networks         int      `yaml:"networks"`           // default 3
	SpanS            Seconds  `yaml:"span_s"`             // default 600
	HighCostNetworks int      `yaml:"high_cost_networks"` // default 2
	HighCostSpanS    Seconds  `yaml:"high_cost_span_s"`   // default 600
	ProtectedNumbers []string `yaml:"protected_numbers"`
	// ProtectedTypes are number types (toll_free, shared_cost, uan,
	// personal, …) never learned; default toll_free, shared_cost and uan
	// (customer-service numbers). An empty list [] protects no type.
	ProtectedTypes []string `yaml:"protected_types"`

	// Protected is ProtectedNumbers as digits without "+".
	Protected []string `yaml:"-"`
}

// DefaultProtectedTypes are the number types the decoy never learns
// unless honeypot.learning.protected_types says otherwise.
var DefaultProtectedTypes = []string{"toll_free", "shared_cost", "uan"}

// Attack configures SIP attack blocking (package attack) and how the
// screening chain uses the reputation database (check/reputation).
type Attack struct {
	// Trusted lists addresses and networks never banned by any source
	// (feeds included): the PBXs, trunks and proxies, and the operator's
	// allowlist. sip.map.trusted_proxies are trusted too.
	Trusted []string `yaml:"trusted"`
	// MaxFailures within WindowS ban an address for BanTimesS[0]; an
	// address banned before gets the next step of the ladder.
	MaxFailures int       `yaml:"max_failures"`
	WindowS     Seconds   `yaml:"window_s"`
	BanTimesS   []Seconds `yaml:"ban_times_s"`
	// ScannerUserAgents are User-Agent prefixes that ban at once
	// (default: SIPVicious, sipcli, VaxSIP and other tools).
	ScannerUserAgents []string `yaml:"scanner_user_agents"`
	// CountChallenges counts digest challenges as failures.
	CountChallenges    bool    `yaml:"count_challenges"`
	AccountMaxFailures int     `yaml:"account_max_failures"`
	AccountLockS       Seconds `yaml:"account_lock_s"`
	// AccountKnownGoodS is how long a successful authentication (a PBX
	// log's, a POST /v1/auth-events auth_success, or the next hop
	// accepting credentials in proxy mode) makes its source known-good
	// for the account (seconds; 0 = 2592000, 30 days). While an account
	// is locked, calls and guesses for it are refused (403
	// account_locked) except from the sources known-good when it was
	// locked, so guesses from elsewhere cannot lock the real user out.
	AccountKnownGoodS    Seconds `yaml:"account_known_good_s"`
	VoicemailMaxFailures int     `yaml:"voicemail_max_failures"`
	VoicemailLockS       Seconds `yaml:"voicemail_lock_s"`
	// VoicemailNumbers are the numbers, as dialed, that reach the
	// caller's own voicemail box (say "*97"). While a box is locked after
	// wrong PINs, screening refuses a call to one of them (403
	// voicemail_locked) from the box's account (its credentials'
	// username or its extension) unless the source was known-good for
	// the account when the box was locked. A mailbox named at the
	// voicemail prompt is the PBX's to check: GET
	// /v1/lockouts/voicemail/{box}?ip= before the PIN (see
	// docs/architecture.md). Empty: screening does not check voicemail
	// lockouts.
	VoicemailNumbers []string `yaml:"voicemail_numbers"`
	// IPv6Bits is the network an IPv6 source's failures count against,
	// its ban covers and its known-good standing holds for (0 = 64: one
	// host or site is handed a whole /64 and can rotate through it; 48 to
	// 128). A network holding an attack.trusted address falls back to the
	// single address; 128 counts and bans each address alone.
	IPv6Bits int `yaml:"ipv6_bits"`
	// Logs are PBX logs to follow: {path, format: asterisk|freeswitch}.
	Logs []AttackLog `yaml:"logs"`
	// IPAction is what the screening chain does with calls from an
	// address (or User-Agent) in the reputation database: honeypot
	// (default) or reject. Banned addresses are always rejected.
	IPAction string `yaml:"ip_action"`
	// NumberAction is what it does with calls to numbers attackers
	// dialed: reject (default), challenge or score (risk only).
	NumberAction string `yaml:"number_action"`
	// MinScore ignores reputation entries scoring below it.
	MinScore int `yaml:"min_score"`
	// GeoIPDB is a country database in MaxMind's MMDB format (GeoLite2 or
	// GeoIP2 Country/City) that tenants' source_ips.countries rules read.
	GeoIPDB string `yaml:"geoip_db"`
	// FeedTTLDays is how long imported feed entries live unless the feed
	// is imported again.
	FeedTTLDays Days `yaml:"feed_ttl_days"`

	// TrustedPrefixes is Trusted parsed.
	TrustedPrefixes []netip.Prefix `yaml:"-"`
}

// AttackLog is one log file the attack guard follows.
type AttackLog struct {
	Path   string `yaml:"path"`
	Format string `yaml:"format"`
}

func (p *parser) security(cfg *Config, hn, an *yaml.Node) {
	p.decodeStrict(hn, "honeypot", &cfg.Honeypot)
	p.decodeStrict(an, "attack", &cfg.Attack)
	ln := map[string]int{}
	lines(hn, "honeypot", ln)
	lines(an, "attack", ln)
	at := func(f string) int {
		for f != "" {
			if l, ok := ln[f]; ok {
				return l
			}
			i := strings.LastIndexByte(f, '.')
			if i < 0 {
				break
			}
			f = f[:i]
		}
		return 0
	}
	if strings.ContainsAny(cfg.Attack.GeoIPDB, "\x00\r\n") {
		p.errorf(at("attack.geoip_db"), "attack.geoip_db", "want a file path")
	}
	p.geoip = cfg.Attack.GeoIPDB != ""
	h := &cfg.Honeypot
	if h.Listen != "" {
		addr := strings.TrimPrefix(h.Listen, "udp:")
		if _, err := netip.ParseAddrPort(addr); err != nil {
			p.errorf(at("honeypot.listen"), "honeypot.listen", "want an IP address and port (udp only), got %q", h.Listen)
		}
		h.Addr = addr
	}
	if h.ListenTCP != "" {
		if h.Listen == "" {
			p.errorf(at("honeypot.listen_tcp"), "honeypot.listen_tcp", "needs honeypot.listen (the decoy always answers on UDP)")
		}
		if _, err := netip.ParseAddrPort(strings.TrimPrefix(h.ListenTCP, "tcp:")); err != nil {
			p.errorf(at("honeypot.listen_tcp"), "honeypot.listen_tcp", "want an IP address and port, got %q", h.ListenTCP)
		}
		h.ListenTCP = strings.TrimPrefix(h.ListenTCP, "tcp:")
	}
	if len(h.Banner) > 128 || strings.ContainsAny(h.Banner, "\r\n") {
		p.errorf(at("honeypot.banner"), "honeypot.banner", "want one line of at most 128 bytes")
	}
	if strings.ContainsAny(h.Realm, "\"\r\n") || len(h.Realm) > 64 {
		p.errorf(at("honeypot.realm"), "honeypot.realm", "want at most 64 bytes without quotes")
	}
	if h.Country != "" && (len(h.Country) != 2 || strings.ToUpper(h.Country) != h.Country) {
		p.errorf(at("honeypot.country"), "honeypot.country", "want a two-letter upper-case country code, got %q", h.Country)
	}
	for _, v := range []struct {
		f   string
		v   int
		max int
	}{
		{"accept_after", h.AcceptAfter, 1000}, {"call_duration_s", int(h.CallDuration), 3600}, {"max_calls", h.MaxCalls, 10000},
		{"requests_per_s", h.RequestsPerSecond, 1e6}, {"burst", h.Burst, 1e6}, {"total_requests_per_s", h.TotalRequestsPerSecond, 1e7},
		{"ip_ttl_days", int(h.IPTTLDays), 3650}, {"number_ttl_days", int(h.NumberTTLDays), 3650},
		{"learning.networks", h.Learning.Networks, 32}, {"learning.high_cost_networks", h.Learning.HighCostNetworks, 32},
		{"learning.span_s", int(h.Learning.SpanS), 86400 * 30}, {"learning.high_cost_span_s", int(h.Learning.HighCostSpanS), 86400 * 30},
	} {
		if v.v < 0 || v.v > v.max {
			p.errorf(at("honeypot."+v.f), "honeypot."+v.f, "want 0 (default) to %d, got %d", v.max, v.v)
		}
	}
	l := &h.Learning
	if l.Networks == 0 {
		l.Networks = 3
	}
	if l.SpanS == 0 {
		l.SpanS = 600
	}
	if l.HighCostNetworks == 0 {
		l.HighCostNetworks = 2
	}
	if l.HighCostSpanS == 0 {
		l.HighCostSpanS = 600
	}
	if l.ProtectedTypes == nil {
		l.ProtectedTypes = DefaultProtectedTypes
	}
	for i, t := range l.ProtectedTypes {
		if _, ok := number.ParseType(t); !ok || t == "unknown" {
			p.errorf(at("honeypot.learning.protected_types"), "honeypot.learning.protected_types["+strconv.Itoa(i)+"]",
				"want a number type (toll_free, shared_cost, uan, premium_rate, personal, voip, mobile, fixed, …), got %q", t)
		}
	}
	l.Protected = nil
	for i, n := range l.ProtectedNumbers {
		d := strings.TrimPrefix(strings.NewReplacer(" ", "", "-", "").Replace(n), "+")
		if !digits(d, 1, 15) {
			p.errorf(at("honeypot.learning.protected_numbers"), "honeypot.learning.protected_numbers["+strconv.Itoa(i)+"]", "want an E.164 number or prefix, got %q", n)
			continue
		}
		l.Protected = append(l.Protected, d)
	}

	a := &cfg.Attack
	a.TrustedPrefixes = nil
	for i, s := range a.Trusted {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			ad, aerr := netip.ParseAddr(s)
			if aerr != nil {
				p.errorf(at("attack.trusted"), "attack.trusted["+strconv.Itoa(i)+"]", "want an address or CIDR, got %q", s)
				continue
			}
			pf = netip.PrefixFrom(ad, ad.BitLen())
		}
		a.TrustedPrefixes = append(a.TrustedPrefixes, pf.Masked())
	}
	for _, v := range []struct {
		f   string
		v   int
		max int
	}{
		{"max_failures", a.MaxFailures, 1000}, {"window_s", int(a.WindowS), 86400 * 7},
		{"account_max_failures", a.AccountMaxFailures, 1000}, {"account_lock_s", int(a.AccountLockS), 86400 * 30},
		{"account_known_good_s", int(a.AccountKnownGoodS), 86400 * 365},
		{"voicemail_max_failures", a.VoicemailMaxFailures, 1000}, {"voicemail_lock_s", int(a.VoicemailLockS), 86400 * 30},
		{"min_score", a.MinScore, 100}, {"feed_ttl_days", int(a.FeedTTLDays), 3650},
	} {
		if v.v < 0 || v.v > v.max {
			p.errorf(at("attack."+v.f), "attack."+v.f, "want 0 (default) to %d, got %d", v.max, v.v)
		}
	}
	if a.IPv6Bits != 0 && (a.IPv6Bits < 48 || a.IPv6Bits > 128) {
		p.errorf(at("attack.ipv6_bits"), "attack.ipv6_bits", "want 0 (default 64) or 48 to 128, got %d", a.IPv6Bits)
	}
	for i, s := range a.BanTimesS {
		if s < 60 || s > 86400*3650 {
			p.errorf(at("attack.ban_times_s"), "attack.ban_times_s["+strconv.Itoa(i)+"]", "want 60 to %d seconds, got %d", 86400*3650, s)
		}
	}
	for i, ua := range a.ScannerUserAgents {
		if strings.TrimSpace(ua) == "" || len(ua) > 128 {
			p.errorf(at("attack.scanner_user_agents"), "attack.scanner_user_agents["+strconv.Itoa(i)+"]", "want 1 to 128 bytes")
		}
	}
	for i, n := range a.VoicemailNumbers {
		if n == "" || len(n) > 64 || strings.TrimSpace(n) != n {
			p.errorf(at("attack.voicemail_numbers"), "attack.voicemail_numbers["+strconv.Itoa(i)+"]", "want a number as dialed, 1 to 64 bytes without spaces")
		}
	}
	for i, l := range a.Logs {
		f := "attack.logs[" + strconv.Itoa(i) + "]"
		if l.Path == "" {
			p.errorf(at("attack.logs"), f+".path", "required")
		}
		switch l.Format {
		case "", "asterisk", "freeswitch":
		default:
			p.errorf(at("attack.logs"), f+".format", "want asterisk or freeswitch, got %q", l.Format)
		}
	}
	switch a.IPAction {
	case "":
		a.IPAction = "honeypot"
	case "honeypot", "reject":
	default:
		p.errorf(at("attack.ip_action"), "attack.ip_action", "want honeypot or reject, got %q", a.IPAction)
	}
	switch a.NumberAction {
	case "":
		a.NumberAction = "reject"
	case "reject", "challenge", "score":
	default:
		p.errorf(at("attack.number_action"), "attack.number_action", "want reject, challenge or score, got %q", a.NumberAction)
	}
}
