// Package callerid judges whether an inbound call's caller ID can be
// trusted: the STIR/SHAKEN verification outcome (verstat and attestation)
// and, for callers without proof, spoofing heuristics. Each finding adds a
// reason with the action and risk the tenant's caller_id policy gives it.
package callerid

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/stir"
)

// Lookup is number intelligence: a dialed string in a dial plan.
type Lookup func(dialed string, dp *number.DialPlan) (number.Info, error)

// CallerID is the check.
type CallerID struct {
	t      *config.Tenant
	cfg    *config.CallerID
	plan   number.DialPlan
	lookup Lookup
	ver    *stir.Verifier
	live   *blocks.Live
	rules  map[string]string // rule path → "tenants.x.caller_id.<path>"
}

var _ screen.Check = (*CallerID)(nil)

// Name implements screen.Check.
func (*CallerID) Name() string { return Name }

// New returns the check for a tenant, or nil when the tenant's caller_id
// section is not enabled. lookup normalizes the caller (required); ver
// verifies Identity headers (nil: caller_id.verify cannot be honoured and
// is reported as absent verification); live holds the block list read as
// caller reputation (may be nil).
func New(t *config.Tenant, lookup Lookup, ver *stir.Verifier, live *blocks.Live) *CallerID {
	if !t.CallerID.Enabled || lookup == nil {
		return nil
	}
	c := &CallerID{t: t, cfg: &t.CallerID, lookup: lookup, ver: ver, live: live, rules: map[string]string{},
		plan: number.DialPlan{Country: t.Country, IntlPrefixes: t.IntlPrefixes, NationalPrefix: t.NationalPrefix}}
	for path := range t.CallerID.Rules {
		c.rules[path] = t.Rule("caller_id." + path)
	}
	return c
}

// Name is the check's name in the order table and in its reasons.
const Name = "callerid"

// Setup builds the check for env's tenant (check.Setup): a nil
// screen.Check when its caller_id section is not enabled.
func Setup(env *check.Env) (screen.Check, error) {
	if c := New(env.Tenant, env.Lookup, env.STIR, env.Blocks); c != nil {
		return c, nil
	}
	return nil, nil
}

// action maps a policy word to a screening action.
func action(word config.Treatment) screen.Action {
	switch word {
	case "block":
		return screen.Reject
	case "auth":
		return screen.Challenge
	case "honeypot":
		return screen.Honeypot
	}
	return screen.Allow
}

// Reason codes.
const (
	CodePassedA      = "stir_passed_a"
	CodePassedB      = "stir_passed_b"
	CodePassedC      = "stir_passed_c"
	CodeFailed       = "stir_failed"
	CodeAbsent       = "stir_absent"
	CodeUnverified   = "stir_unverified"
	CodeAnonymous    = "anonymous_caller"
	CodeInvalid      = "caller_invalid"
	CodeCallerCallee = "caller_is_callee"
	CodeOwnNumber    = "caller_own_number"
	CodeNeighbour    = "neighbour_spoofing"
	CodePremium      = "caller_premium"
	CodeTollFree     = "caller_toll_free"
	CodeCountry      = "caller_country_mismatch"
	CodeReputation   = "caller_reputation"
)

type adder struct {
	c     *CallerID
	v     *screen.Verdict
	worst screen.Action
}

func (a *adder) add(path, code, text string) {
	r := a.c.cfg.Rules[path]
	act := action(r.Action)
	if act > a.worst {
		a.worst = act
	}
	a.v.Add(screen.Reason{Check: "callerid", Code: code, Text: text, Rule: a.c.rules[path], Action: act, Risk: *r.Risk})
}

// Check implements screen.Check. Only inbound calls are judged.
func (c *CallerID) Check(ctx context.Context, call *screen.Call, v *screen.Verdict) screen.Flow {
	if call.Direction != screen.Inbound {
		return screen.Continue
	}
	a := adder{c: c, v: v}
	anon := Anonymous(call.Caller)
	var info number.Info
	var lookupErr error
	digits := ""
	if !anon {
		info, lookupErr = c.lookup(call.Caller, &c.plan)
		if lookupErr == nil && info.Kind == number.Subscriber && len(info.E164) > 1 {
			digits = info.E164[1:]
		}
	}
	attestedA := false
	if c.cfg.Verify {
		attestedA = c.verify(ctx, call, &a, info.E164, anon)
	}
	if anon {
		a.add("anonymous", CodeAnonymous, "anonymous or withheld caller ID")
		return a.flow()
	}
	if digits != "" && c.live != nil {
		set := c.live.Load()
		if b := set.Number(call.Tenant, digits, call.Time); b != nil {
			a.add("spoofing.reputation", CodeReputation, "caller "+info.E164+" is on the block list"+because(b.Reason))
		} else if b := set.Prefix(call.Tenant, digits, call.Time); b != nil {
			a.add("spoofing.reputation", CodeReputation, "caller "+info.E164+" is in blocked prefix +"+b.Value+because(b.Reason))
		}
	}
	switch {
	case lookupErr != nil || info.Kind == number.Subscriber && !info.Valid:
		a.add("spoofing.invalid", CodeInvalid, "caller ID "+quote(call.Caller)+" is not a valid, allocated number")
		return a.flow()
	case digits == "":
		return a.flow() // a short code or service code as caller: nothing more to say
	}
	switch info.Type {
	case number.PremiumRate, number.SharedCost:
		a.add("spoofing.premium", CodePremium, "caller ID "+info.E164+" is a "+info.Type.String()+" number")
	case number.TollFree:
		a.add("spoofing.toll_free", CodeTollFree, "caller ID "+info.E164+" is a toll-free number")
	}
	if ip := call.SourceIP; ip.IsValid() {
		for i := range c.cfg.Trunks {
			tr := &c.cfg.Trunks[i]
			if tr.Prefix.Contains(ip.Unmap()) && !contains(tr.Countries, info.Country) {
				a.add("spoofing.country_mismatch", CodeCountry, "caller ID country "+info.Country+" is not expected from trunk "+tr.Prefix.String())
				break
			}
		}
	}
	if attestedA {
		return a.flow() // the signer vouches for the number: no spoofing guesswork
	}
	callee := call.Digits
	switch {
	case callee != "" && digits == callee:
		a.add("spoofing.caller_is_callee", CodeCallerCallee, "caller ID equals the called number "+info.E164)
	case c.cfg.Attestation(digits) == "A":
		a.add("spoofing.own_number", CodeOwnNumber, "caller ID "+info.E164+" is one of the tenant's own numbers")
	case neighbour(digits, callee, c.cfg.Neighbour()):
		a.add("spoofing.neighbour", CodeNeighbour, "caller ID "+info.E164+" shares its first "+strconv.Itoa(c.cfg.Neighbour())+" digits with the called number (neighbour spoofing) and carries no attestation A")
	}
	return a.flow()
}

func (a *adder) flow() screen.Flow {
	if a.worst == screen.Reject {
		return screen.Stop
	}
	return screen.Continue
}

// verify runs STIR/SHAKEN verification and adds its outcome; it reports
// whether the caller was verified with attestation A.
func (c *CallerID) verify(ctx context.Context, call *screen.Call, a *adder, callerE164 string, anon bool) bool {
	if call.Identity == "" || c.ver == nil {
		if c.fromSigningTrunk(call.SourceIP) {
			a.add("outcomes.absent_signing_trunk", CodeAbsent, stir.NoValidation.String()+": no Identity header from a trunk that should sign (428 Use Identity Header)")
		} else {
			a.add("outcomes.absent", CodeAbsent, stir.NoValidation.String()+": no Identity header")
		}
		return false
	}
	orig := callerE164
	if orig == "" && !anon {
		orig = call.Caller
	}
	if orig == "" {
		orig = "anonymous" // a PASSporT can never match an anonymous caller
	}
	r := c.ver.Verify(ctx, &stir.Request{Identity: call.Identity, Orig: orig, Dest: call.Dest.E164, Time: call.Time})
	switch r.Verstat {
	case stir.Passed:
		text := stir.Passed.String() + ", attestation " + r.Attest
		if r.SPC != "" {
			text += " by SPC " + r.SPC
		}
		switch r.Attest {
		case "A":
			a.add("outcomes.a", CodePassedA, text)
			return true
		case "B":
			a.add("outcomes.b", CodePassedB, text)
		default:
			a.add("outcomes.c", CodePassedC, text)
		}
	case stir.Failed:
		a.add("outcomes.failed", CodeFailed, stir.Failed.String()+": "+strconv.Itoa(r.Code)+" "+stir.Phrase(r.Code)+": "+r.Reason)
	default:
		a.add("outcomes.unverified", CodeUnverified, stir.NoValidation.String()+": "+r.Reason)
	}
	return false
}

func (c *CallerID) fromSigningTrunk(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range c.cfg.Signing {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Anonymous reports whether a caller ID is absent or withheld: empty, or
// a user part such as anonymous, unknown, restricted, private, withheld
// or unavailable (RFC 3323 callers appear as "anonymous").
func Anonymous(caller string) bool {
	s := strings.ToLower(strings.TrimSpace(caller))
	switch s {
	case "", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable", "anonymous.invalid":
		return true
	}
	return strings.HasPrefix(s, "anonymous@")
}

func neighbour(caller, callee string, n int) bool {
	return n > 0 && len(caller) >= n && len(callee) >= n && caller != callee && caller[:n] == callee[:n]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func because(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// Verstat returns the verstat value the SIP front end puts in the
// forwarded request's P-Asserted-Identity (";verstat=…"), from the
// verdict of a screened call: "TN-Validation-Passed",
// "TN-Validation-Failed", "No-TN-Validation", or "" when no STIR
// verification ran for the call.
func Verstat(v *screen.Verdict) string {
	for _, r := range v.Reasons() {
		if r.Check != "callerid" {
			continue
		}
		switch r.Code {
		case CodePassedA, CodePassedB, CodePassedC:
			return stir.Passed.String()
		case CodeFailed:
			return stir.Failed.String()
		case CodeAbsent, CodeUnverified:
			return stir.NoValidation.String()
		}
	}
	return ""
}

// IdentityError returns the RFC 8224 response code (403, 428, 436, 437,
// 438) and reason phrase of a failed verification in the verdict, for a
// front end that answers or annotates with it; 0 when none failed.
func IdentityError(v *screen.Verdict) (code int, phrase string) {
	for _, r := range v.Reasons() {
		if r.Check == "callerid" && r.Code == CodeFailed {
			rest := strings.TrimPrefix(r.Text, stir.Failed.String()+": ")
			if len(rest) >= 3 {
				if n, err := strconv.Atoi(rest[:3]); err == nil {
					return n, stir.Phrase(n)
				}
			}
		}
	}
	return 0, ""
}

// SignCall returns the Identity header for an outbound call from the
// tenant: attestation A for the tenant's own numbers, B for its known
// customers' numbers, C otherwise (caller and callee in E.164).
func SignCall(s *stir.Signer, cid *config.CallerID, callerE164, calleeE164 string, at time.Time) (string, error) {
	return s.Sign(callerE164, calleeE164, cid.Attestation(callerE164), "", at)
}
