package sipfront

import (
	"net/netip"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
)

// What the front end tells the attack guard (Options.Reporter). Every
// signal is attributed to the caller: the packet's source, or the
// address a trusted edge proxy put in sip.map.source_ip_header. The guard
// counts them with the honeypot's and the PBX logs' in the same windows
// and bans by the same thresholds; trusted addresses are never banned
// (the guard checks attack.trusted and sip.map.trusted_proxies).
//
// tollgate holds no accounts and is no registrar, so "unknown user" means:
//
//   - REGISTER, in either mode: nobody registers with tollgate (proxy mode
//     does not forward REGISTER either), so every REGISTER is for a user
//     unknown here (unknown_account). One carrying credentials is a
//     failed digest authentication (auth_failure), counted against the
//     address only: tollgate cannot verify a password, so it never locks
//     the account named in the credentials.
//   - OPTIONS whose Request-URI names a user (sip:100@host): keep-alives
//     from proxies and trunks address the host, so this is a probe for a
//     user (scan). An OPTIONS to the host alone is not counted.
//   - INVITE for a tenant the policy does not know (unknown_account).
//   - proxy mode only: the next hop (the PBX, which knows its users)
//     answers the forwarded INVITE 404, 484 or 604 (no_route); it answers
//     401 or 407 to an INVITE that carried credentials (auth_failure, with
//     the credentials' username, since the PBX did verify them), or to one
//     without (auth_challenge, counted only when attack.count_challenges);
//     it answers 2xx to an INVITE with credentials (auth_success: the
//     source becomes known-good for the account, which a lockout allows).
//   - an INVITE carrying credentials for an account that is locked,
//     refused by screening (account_locked) before any PBX checked them:
//     auth_failure against the address only (the account is locked
//     already).
//
// Any request whose User-Agent starts with one of the scanner prefixes
// (attack.scanner_user_agents, else attack.DefaultScannerUAs: the same
// list the honeypot and the guard use) is reported as scanner_ua, which
// bans on the first request, and nothing else is reported for it.

// reportSource is the address a request is attributed to.
func (w *worker) reportSource() netip.Addr {
	src := w.src.Addr().Unmap()
	mp := w.s.cfg.Map
	if mp.SourceIPHeader != "" && trusted(mp.Trusted, src) {
		if v := w.m.lookup(mp.SourceIPHeader); v != "" {
			if a, err := parseHostIP(v); err == nil {
				return a
			}
		}
	}
	return src
}

// reportTenant is the tenant an account event names: the tenant header's
// value when a trusted proxy sent the request (it authenticated the
// caller and named the tenant). Otherwise none, and the event counts
// against the username in every tenant: a tenant the caller names itself
// (its From domain, a header it set) would let a guesser spread its
// guesses over the tenants and never reach one account's threshold.
func (w *worker) reportTenant() string {
	mp := w.s.cfg.Map
	if mp.TenantHeader == "" || !trusted(mp.Trusted, w.src.Addr().Unmap()) {
		return ""
	}
	return clip(w.m.lookup(mp.TenantHeader), 64)
}

// report sends one event about the current request to the guard.
func (w *worker) report(kind, user, text string) {
	if w.s.reporter == nil {
		return
	}
	w.s.send(attack.Event{IP: w.reportSource(), Port: int(w.src.Port()), Transport: w.tr, Kind: kind,
		Username: user, UserAgent: w.m.get(hUserAgent), Dialed: w.m.ruri, Text: text})
}

// send hands an event to the reporter (which never blocks).
func (s *Server) send(ev attack.Event) {
	if s.reporter == nil || !ev.IP.IsValid() {
		return
	}
	s.stats.Reported.Add(1)
	ev.Time, ev.Source, ev.Service = time.Now(), attack.SourceSIPFront, "SIP"
	ev.Username, ev.UserAgent, ev.Dialed, ev.Text = clip(ev.Username, 128), clip(ev.UserAgent, 256), clip(ev.Dialed, 256), clip(ev.Text, 256)
	if ev.Username == "" {
		ev.Tenant = ""
	}
	s.reporter.Report(ev)
}

// scanner reports a request from a known attack tool; true when it did
// (nothing else is reported for the request then).
func (w *worker) scanner() bool {
	if w.s.reporter == nil {
		return false
	}
	ua := w.m.get(hUserAgent)
	if !attack.ScannerUA(ua, w.s.scannerUAs) {
		return false
	}
	w.report(attack.KindScannerUA, "", w.m.method+" from a scanner")
	return true
}

// probe reports what an out-of-dialog request tells about its sender:
// REGISTER and OPTIONS to a user (see above). INVITEs are reported after
// screening or by the proxy when the next hop answers.
func (w *worker) probe() {
	if w.s.reporter == nil {
		return
	}
	m := &w.m
	switch m.method {
	case "REGISTER":
		user := toUser(m.get(hTo))
		if m.get(hAuthorization) != "" || m.get(hProxyAuthorization) != "" {
			// Counted against the address, never locking an account
			// tollgate cannot verify (user is left out of the event).
			w.report(attack.KindAuthFailure, "", "REGISTER with credentials for "+quoteClip(user)+": tollgate holds no accounts")
			return
		}
		w.report(attack.KindUnknownAccount, user, "REGISTER for "+quoteClip(user)+": tollgate is no registrar")
	case "OPTIONS":
		if u, err := uriUser(m.ruri); err == nil && u != "" {
			w.report(attack.KindScan, u, "OPTIONS probing user "+quoteClip(u))
		}
	}
}

// authUser returns the username of the request's digest credentials and
// whether it carries any.
func (m *message) authUser() (string, bool) {
	v := m.get(hProxyAuthorization)
	if v == "" {
		v = m.get(hAuthorization)
	}
	if v == "" {
		return "", false
	}
	for _, p := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = trimLWS(k)
		if i := strings.LastIndexAny(k, " \t"); i >= 0 {
			k = k[i+1:] // "Digest username"
		}
		if strings.EqualFold(k, "username") {
			return strings.Trim(trimLWS(val), `"`), true
		}
	}
	return "", true
}

// toUser is the user part of a To (or From) value's URI.
func toUser(v string) string {
	u := contactURI(v)
	_, rest, ok := strings.Cut(u, ":")
	if !ok {
		return ""
	}
	user, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(user, ';'); i >= 0 {
		user = user[:i]
	}
	return user
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func quoteClip(s string) string { return `"` + clip(s, 64) + `"` }
