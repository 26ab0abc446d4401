package config

import (
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-voip/tollgate/number"
)

// STIR is the global stir section: how the STIR/SHAKEN verification
// service trusts and fetches certificates, and the key the authentication
// service signs with. It is validated by (*parser).callerID.
type STIR struct {
	// TrustAnchors is a PEM file or a directory of PEM files holding the
	// STI-CA certificates (roots, and intermediates you trust directly).
	TrustAnchors string `yaml:"trust_anchors"`
	// CRLs is a CRL file or directory (PEM or DER); empty = none.
	CRLs string `yaml:"crls"`
	// X5UAllowHosts, when set, lists the only hosts x5u may name
	// ("*.example.net" allows subdomains).
	X5UAllowHosts []string `yaml:"x5u_allow_hosts"`
	// FetchTimeoutMS bounds one certificate download (default 2000).
	FetchTimeoutMS Millis `yaml:"fetch_timeout_ms"`
	// FetchWaitMS is how long a screening waits for a certificate not yet
	// cached (default 250); 0 never waits: the call is No-TN-Validation
	// while the fetch fills the cache.
	FetchWaitMS *Millis `yaml:"fetch_wait_ms"`
	// MaxCertBytes bounds the certificate file (default 65536).
	MaxCertBytes int `yaml:"max_cert_bytes"`
	// CacheTTLS is kept when the server sends no Cache-Control (default
	// 3600); its max-age is clamped to 300…86400. NegativeTTLS keeps a
	// failed fetch (default 60). CacheMaxEntries bounds the cache (10000).
	CacheTTLS       Seconds `yaml:"cache_ttl_s"`
	NegativeTTLS    Seconds `yaml:"negative_ttl_s"`
	CacheMaxEntries int     `yaml:"cache_max_entries"`
	// IATMaxAgeS is how far iat may be from the call's time either way
	// (default 60).
	IATMaxAgeS Seconds `yaml:"iat_max_age_s"`
	// RequireTNAuthList refuses signing certificates without TNAuthList
	// (default true).
	RequireTNAuthList *bool `yaml:"require_tn_auth_list"`
	// SignKey (PEM, P-256) and SignX5U (https URL of its certificate) are
	// the authentication service's credentials.
	SignKey string `yaml:"sign_key"`
	SignX5U string `yaml:"sign_x5u"`
}

// STIR defaults.
const (
	DefaultSTIRFetchTimeoutMS = 2000
	DefaultSTIRFetchWaitMS    = 250
	DefaultSTIRMaxCertBytes   = 64 << 10
	DefaultSTIRCacheTTLS      = 3600
	DefaultSTIRNegativeTTLS   = 60
	DefaultSTIRCacheEntries   = 10000
	DefaultSTIRIATMaxAgeS     = 60
)

// CallerID is one tenant's caller-ID trust policy (caller_id:): what the
// STIR/SHAKEN outcome of an inbound call counts for, and the spoofing
// checks for calls without proof. Each outcome is an action and a risk.
type CallerID struct {
	// Enabled turns the callerid check on for inbound calls.
	Enabled bool `yaml:"enabled"`
	// Verify checks the Identity header (needs the global stir section).
	Verify bool `yaml:"verify"`
	// SigningTrunks are source CIDRs whose calls should carry a PASSporT:
	// an absent one is outcomes.absent_signing_trunk, not outcomes.absent.
	SigningTrunks []string `yaml:"signing_trunks"`
	// OwnNumbers are the tenant's own DIDs (E.164 digit prefixes): an
	// inbound caller among them is spoofed; outbound callers among them
	// are signed with attestation A. CustomerNumbers get B; others C.
	OwnNumbers      []string `yaml:"own_numbers"`
	CustomerNumbers []string `yaml:"customer_numbers"`
	// NeighbourDigits is how many leading E.164 digits caller and callee
	// share to count as neighbour spoofing (default 7: +1 NPA NXX); 0 off.
	NeighbourDigits *int `yaml:"neighbour_digits"`
	// TrunkCountries maps a source CIDR to the countries (ISO codes) its
	// callers may have; another country is spoofing.country_mismatch.
	TrunkCountries map[string][]string `yaml:"trunk_countries"`

	Outcomes  CallerIDOutcomes `yaml:"outcomes"`
	Anonymous CallerIDRule     `yaml:"anonymous"`
	Spoofing  CallerIDSpoofing `yaml:"spoofing"`

	// Parsed forms.
	Signing []netip.Prefix           `yaml:"-"`
	Trunks  []TrunkCountries         `yaml:"-"`
	Own     []string                 `yaml:"-"`
	Custom  []string                 `yaml:"-"`
	Rules   map[string]*CallerIDRule `yaml:"-"`
}

// TrunkCountries is one parsed trunk_countries entry.
type TrunkCountries struct {
	Prefix    netip.Prefix
	Countries []string
}

// CallerIDRule is what one finding does: an action (allow, auth, block,
// honeypot) and a risk (0–100).
type CallerIDRule struct {
	Action Treatment `yaml:"action"`
	Risk   *int      `yaml:"risk"`
}

// CallerIDOutcomes are the STIR/SHAKEN outcomes.
type CallerIDOutcomes struct {
	A                  CallerIDRule `yaml:"a"`
	B                  CallerIDRule `yaml:"b"`
	C                  CallerIDRule `yaml:"c"`
	Failed             CallerIDRule `yaml:"failed"`
	Absent             CallerIDRule `yaml:"absent"`
	AbsentSigningTrunk CallerIDRule `yaml:"absent_signing_trunk"`
	Unverified         CallerIDRule `yaml:"unverified"` // certificate still being fetched
}

// CallerIDSpoofing are the checks for calls without proof of the caller.
type CallerIDSpoofing struct {
	Invalid         CallerIDRule `yaml:"invalid"`          // not a possible or allocated number
	CallerIsCallee  CallerIDRule `yaml:"caller_is_callee"` // the callee's own number as caller
	OwnNumber       CallerIDRule `yaml:"own_number"`       // one of the tenant's DIDs as caller
	Neighbour       CallerIDRule `yaml:"neighbour"`        // same leading digits as the callee
	Premium         CallerIDRule `yaml:"premium"`          // premium-rate or shared-cost caller ID
	TollFree        CallerIDRule `yaml:"toll_free"`        // toll-free caller ID
	CountryMismatch CallerIDRule `yaml:"country_mismatch"` // country not expected from the trunk
	Reputation      CallerIDRule `yaml:"reputation"`       // caller number on the block list
}

// callerIDDefaults are the built-in actions and risks, by rule path.
var callerIDDefaults = []struct {
	path   string
	action Treatment
	risk   int
}{
	{"outcomes.a", "allow", 0},
	{"outcomes.b", "allow", 10},
	{"outcomes.c", "allow", 25},
	{"outcomes.failed", "honeypot", 60},
	{"outcomes.absent", "allow", 10},
	{"outcomes.absent_signing_trunk", "auth", 40},
	{"outcomes.unverified", "allow", 10},
	{"anonymous", "auth", 30},
	{"spoofing.invalid", "auth", 40},
	{"spoofing.caller_is_callee", "auth", 50},
	{"spoofing.own_number", "auth", 40},
	{"spoofing.neighbour", "auth", 30},
	{"spoofing.premium", "auth", 40},
	{"spoofing.toll_free", "allow", 20},
	{"spoofing.country_mismatch", "allow", 25},
	{"spoofing.reputation", "block", 80},
}

func (c *CallerID) rule(path string) *CallerIDRule {
	o, s := &c.Outcomes, &c.Spoofing
	switch path {
	case "outcomes.a":
		return &o.A
	case "outcomes.b":
		return &o.B
	case "outcomes.c":
		return &o.C
	case "outcomes.failed":
		return &o.Failed
	case "outcomes.absent":
		return &o.Absent
	case "outcomes.absent_signing_trunk":
		return &o.AbsentSigningTrunk
	case "outcomes.unverified":
		return &o.Unverified
	case "anonymous":
		return &c.Anonymous
	case "spoofing.invalid":
		return &s.Invalid
	case "spoofing.caller_is_callee":
		return &s.CallerIsCallee
	case "spoofing.own_number":
		return &s.OwnNumber
	case "spoofing.neighbour":
		return &s.Neighbour
	case "spoofing.premium":
		return &s.Premium
	case "spoofing.toll_free":
		return &s.TollFree
	case "spoofing.country_mismatch":
		return &s.CountryMismatch
	case "spoofing.reputation":
		return &s.Reputation
	}
	return nil
}

// Neighbour returns the number of leading digits for neighbour spoofing.
func (c *CallerID) Neighbour() int {
	if c.NeighbourDigits == nil {
		return 7
	}
	return *c.NeighbourDigits
}

// Attestation is the SHAKEN attestation the tenant can give a caller
// number (E.164, "+" optional): A for its own numbers, B for its known
// customers' numbers, C otherwise.
func (c *CallerID) Attestation(e164 string) string {
	d := strings.TrimPrefix(e164, "+")
	for _, p := range c.Own {
		if strings.HasPrefix(d, p) {
			return "A"
		}
	}
	for _, p := range c.Custom {
		if strings.HasPrefix(d, p) {
			return "B"
		}
	}
	return "C"
}

// callerID decodes the global stir section and validates every tenant's
// caller_id section, filling defaults.
func (p *parser) callerID(cfg *Config, stirNode *yaml.Node) {
	if cfg == nil {
		return
	}
	p.decodeStrict(stirNode, "stir", &cfg.STIR)
	ln := map[string]int{}
	lines(stirNode, "stir", ln)
	at := func(f string) int {
		if l, ok := ln[f]; ok {
			return l
		}
		return stirNode.Line
	}
	s := &cfg.STIR
	for _, f := range []struct {
		name string
		v    *int
		def  int
		max  int
	}{
		{"fetch_timeout_ms", (*int)(&s.FetchTimeoutMS), DefaultSTIRFetchTimeoutMS, 30000},
		{"max_cert_bytes", &s.MaxCertBytes, DefaultSTIRMaxCertBytes, 1 << 20},
		{"cache_ttl_s", (*int)(&s.CacheTTLS), DefaultSTIRCacheTTLS, 7 * 86400},
		{"negative_ttl_s", (*int)(&s.NegativeTTLS), DefaultSTIRNegativeTTLS, 86400},
		{"cache_max_entries", &s.CacheMaxEntries, DefaultSTIRCacheEntries, 10_000_000},
		{"iat_max_age_s", (*int)(&s.IATMaxAgeS), DefaultSTIRIATMaxAgeS, 3600},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0 || *f.v > f.max:
			p.errorf(at("stir."+f.name), "stir."+f.name, "want 1–%d", f.max)
		}
	}
	if s.FetchWaitMS == nil {
		w := Millis(DefaultSTIRFetchWaitMS)
		s.FetchWaitMS = &w
	} else if *s.FetchWaitMS < 0 || *s.FetchWaitMS > s.FetchTimeoutMS {
		p.errorf(at("stir.fetch_wait_ms"), "stir.fetch_wait_ms", "want 0–fetch_timeout_ms (%d)", s.FetchTimeoutMS)
	}
	if s.RequireTNAuthList == nil {
		v := true
		s.RequireTNAuthList = &v
	}
	for i, h := range s.X5UAllowHosts {
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			p.errorf(at("stir.x5u_allow_hosts"), "stir.x5u_allow_hosts["+strconv.Itoa(i)+"]", "want a host name, got %q", h)
		}
	}
	if (s.SignKey == "") != (s.SignX5U == "") {
		p.errorf(at("stir"), "stir", "set both sign_key and sign_x5u, or neither")
	}
	if s.SignX5U != "" && !strings.HasPrefix(s.SignX5U, "https://") {
		p.errorf(at("stir.sign_x5u"), "stir.sign_x5u", "want an https URL")
	}
	tenants := []*Tenant{cfg.Defaults}
	for _, t := range cfg.Tenants {
		tenants = append(tenants, t)
	}
	for _, t := range tenants {
		if t != nil {
			p.tenantCallerID(t, s, at("stir"))
		}
	}
}

func (p *parser) tenantCallerID(t *Tenant, s *STIR, stirLine int) {
	c := &t.CallerID
	path := "defaults"
	if t.Name != "defaults" {
		path = "tenants." + t.Name
	}
	at := func(f string) int {
		if l, ok := t.Lines["caller_id."+f]; ok {
			return l
		}
		if l, ok := t.Lines["caller_id"]; ok {
			return l
		}
		return 0
	}
	bad := func(f, format string, args ...any) {
		p.errorf(at(f), path+".caller_id."+f, format, args...)
	}
	if c.Enabled && c.Verify && s.TrustAnchors == "" {
		bad("verify", "needs stir.trust_anchors (the STI-CA certificates)")
	}
	c.Rules = map[string]*CallerIDRule{}
	for _, d := range callerIDDefaults {
		r := c.rule(d.path)
		switch r.Action {
		case "":
			r.Action = d.action
		case "allow", "auth", "block", "honeypot":
		default:
			bad(d.path+".action", "want allow, auth, block or honeypot, got %q", r.Action)
		}
		if r.Risk == nil {
			v := d.risk
			r.Risk = &v
		} else if *r.Risk < 0 || *r.Risk > 100 {
			bad(d.path+".risk", "want 0–100")
		}
		c.Rules[d.path] = r
	}
	if n := c.Neighbour(); n < 0 || n > 15 {
		bad("neighbour_digits", "want 0–15")
	}
	c.Signing = nil
	for i, s := range c.SigningTrunks {
		pf, err := parsePrefix(s)
		if err != nil {
			bad("signing_trunks", "entry %d: want an IP address or CIDR, got %q", i, s)
			continue
		}
		c.Signing = append(c.Signing, pf)
	}
	c.Own, c.Custom = nil, nil
	for _, l := range []struct {
		name string
		in   []string
		out  *[]string
	}{{"own_numbers", c.OwnNumbers, &c.Own}, {"customer_numbers", c.CustomerNumbers, &c.Custom}} {
		for i, n := range l.in {
			d := strings.TrimPrefix(strings.NewReplacer(" ", "", "-", "").Replace(n), "+")
			if !digits(d, 1, 15) {
				bad(l.name, "entry %d: want an E.164 number or prefix, got %q", i, n)
				continue
			}
			*l.out = append(*l.out, d)
		}
	}
	c.Trunks = nil
	for k, cs := range c.TrunkCountries {
		pf, err := parsePrefix(k)
		if err != nil {
			bad("trunk_countries."+k, "want an IP address or CIDR")
			continue
		}
		tc := TrunkCountries{Prefix: pf}
		for _, cc := range cs {
			up := strings.ToUpper(cc)
			if number.CallingCodeFor(up) == 0 {
				bad("trunk_countries."+k, "unknown country %q", cc)
				continue
			}
			tc.Countries = append(tc.Countries, up)
		}
		c.Trunks = append(c.Trunks, tc)
	}
	_ = stirLine
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		return pf.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
