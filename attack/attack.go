// Package attack counts SIP attack signals — authentication failures,
// unknown accounts, ACL refusals, calls to missing extensions, scans and
// known scanner User-Agents — per source address and per account, from
// PBX logs (Asterisk chan_sip, PJSIP, res_security_log; FreeSWITCH), the
// honeypot and the SIP front end, and turns them into bans that escalate
// for repeat offenders and into account and voicemail lockouts. Trusted
// addresses (the operator's PBXs, trunks, proxies and allowlist) are
// never banned, whatever the source.
package attack

import (
	"net/netip"
	"strings"
	"time"
)

// Event kinds.
const (
	KindAuthFailure    = "auth_failure"    // wrong password, failed digest
	KindUnknownAccount = "unknown_account" // no such peer, user or endpoint
	KindACL            = "acl"             // refused by an ACL
	KindNoRoute        = "no_route"        // call to an extension that does not exist
	KindScan           = "scan"            // a probe (OPTIONS, REGISTER without credentials) or a honeypot hit
	KindScannerUA      = "scanner_ua"      // a known attack tool's User-Agent
	KindChallenge      = "auth_challenge"  // a digest challenge sent: normal for phones, not counted by default
	KindAuthSuccess    = "auth_success"    // clears the account's failures
	KindVoicemailPIN   = "voicemail_pin"   // a wrong voicemail PIN
)

// Event sources.
const (
	SourceAsterisk   = "asterisk"
	SourceFreeSWITCH = "freeswitch"
	SourceKamailio   = "kamailio"
	SourceHoneypot   = "honeypot"
	SourceSIPFront   = "sipfront"
	SourceAPI        = "api"
)

// Event is one attack signal.
type Event struct {
	Time      time.Time  `json:"time"`
	IP        netip.Addr `json:"ip"`
	Port      int        `json:"port,omitempty"`
	Transport string     `json:"transport,omitempty"`
	Kind      string     `json:"kind"`
	Source    string     `json:"source"`
	Service   string     `json:"service,omitempty"` // SIP, PJSIP, IAX2, AMI, sofia
	Username  string     `json:"username,omitempty"`
	// Tenant is the account's tenant when the reporter knows it: failures
	// of 1001 in one tenant then lock neither 1001 of another, nor the
	// address's other accounts. Empty counts and locks the username in
	// every tenant (a PBX log names no tenant).
	Tenant    string `json:"tenant,omitempty"`
	Dialed    string `json:"dialed,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Text      string `json:"text,omitempty"`
}

// Reporter takes attack events from a component that sees SIP traffic
// (the SIP front end, the honeypot). Report must not block: a full queue
// drops the event and counts it.
type Reporter interface {
	Report(ev Event)
}

// DefaultScannerUAs are User-Agent prefixes of SIP attack tools (matched
// case-insensitively): SIPVicious and its forks, sipcli, VaxSIP, SIPp-based
// and other scanners seen in the wild.
var DefaultScannerUAs = []string{
	"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "vaxuseragent", "sivus", "nsauditor",
	"sipreg", "custom sip", "nmap nse", "sipscan", "sipsorcery", "pplsip", "sip-scan", "iWar", "smap",
	"sundayddr", "cseq-scanner",
}

// ScannerUA reports whether ua starts with one of the prefixes.
func ScannerUA(ua string, prefixes []string) bool {
	if ua == "" {
		return false
	}
	for _, p := range prefixes {
		if len(ua) >= len(p) && strings.EqualFold(ua[:len(p)], p) {
			return true
		}
	}
	return false
}

// Trust is the set of addresses never banned: configured PBXs, trunks and
// proxies and the operator's allowlist.
type Trust struct {
	prefixes []netip.Prefix
}

// NewTrust returns a Trust of the given networks (masked).
func NewTrust(ps ...netip.Prefix) *Trust {
	t := &Trust{}
	for _, p := range ps {
		if p.IsValid() {
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
			}
			t.prefixes = append(t.prefixes, p.Masked())
		}
	}
	return t
}

// Contains reports whether a is trusted.
func (t *Trust) Contains(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Overlaps reports whether the network p covers or lies in a trusted
// network: banning it would hit a trusted address.
func (t *Trust) Overlaps(p netip.Prefix) bool {
	if t == nil || !p.IsValid() {
		return false
	}
	for _, q := range t.prefixes {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}

// Prefixes returns the trusted networks.
func (t *Trust) Prefixes() []netip.Prefix {
	if t == nil {
		return nil
	}
	return append([]netip.Prefix(nil), t.prefixes...)
}
