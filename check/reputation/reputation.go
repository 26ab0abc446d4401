// Package reputation screens calls against the reputation database: a
// banned source address is refused; a source address or User-Agent seen
// attacking (the honeypot, feeds, detectors) is refused or sent to the
// honeypot; a confirmed number or range attackers dialed is refused,
// challenged or scored for every tenant, while a suspected one (learned
// from evidence a forger could have sent) only adds risk. A call for a
// locked SIP account (its extension or the username of its credentials)
// is refused unless it comes from a source the lockout allows. Calls from
// trusted networks are never blocked by bans, lockouts or address
// entries.
package reputation

import (
	"context"
	"net/netip"
	"slices"
	"strconv"

	"github.com/tollgate-voip/tollgate/check"
	rep "github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
)

// Reputation is the check.
type Reputation struct {
	live      *rep.Live
	ipAction  screen.Action
	numAction screen.Action
	numRisk   int
	minScore  int
	trusted   []netip.Prefix
	vmNumbers []string
}

// SuspectRisk is the risk a suspected number or range adds. It changes
// no verdict by itself: one forged datagram can make a number suspected,
// and a refusal or a PIN prompt for every caller of it would hand the
// forger the number's callers.
const SuspectRisk = 25

var _ screen.Check = (*Reputation)(nil)

// New returns the check reading live, or nil when there is no reputation
// database (the check is then left out of the chain).
func New(live *rep.Live) *Reputation {
	if live == nil {
		return nil
	}
	p := live.Policy()
	r := &Reputation{live: live, ipAction: screen.Honeypot, numAction: screen.Reject, numRisk: 100, minScore: p.MinScore,
		vmNumbers: p.VoicemailNumbers}
	for _, t := range p.Trusted {
		if t.IsValid() {
			r.trusted = append(r.trusted, t.Masked())
		}
	}
	if p.IPAction == "reject" {
		r.ipAction = screen.Reject
	}
	switch p.NumberAction {
	case "challenge":
		r.numAction, r.numRisk = screen.Challenge, 50
	case "score":
		r.numAction, r.numRisk = screen.Allow, 50
	}
	return r
}

// Name is the check's name in the order table and in its reasons.
const Name = "reputation"

// Setup builds the check from env.Reputation (check.Setup); none without
// a reputation database (a nil *Reputation must become a nil interface).
func Setup(env *check.Env) (screen.Check, error) {
	if r := New(env.Reputation); r != nil {
		return r, nil
	}
	return nil, nil
}

// Name implements screen.Check.
func (*Reputation) Name() string { return Name }

func (r *Reputation) trust(a netip.Addr) bool {
	if len(r.trusted) == 0 || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lockedAccount returns the account lockout the call falls under: its
// credentials' username or its extension locked at the call's time, and
// its source not one the lockout allows.
func lockedAccount(set *rep.Set, c *screen.Call) *rep.Lockout {
	if c.AuthUser != "" {
		if l := set.Locked(rep.LockAccount, c.Tenant, c.AuthUser, c.SourceIP, c.Time); l != nil {
			return l
		}
	}
	return set.Locked(rep.LockAccount, c.Tenant, c.Extension, c.SourceIP, c.Time)
}

// lockedVoicemail returns the voicemail lockout a call to the caller's
// own voicemail falls under: a call to one of the voicemail numbers from
// an account whose box is locked at the call's time, its source not one
// the lockout allows.
func (r *Reputation) lockedVoicemail(set *rep.Set, c *screen.Call) *rep.Lockout {
	if len(r.vmNumbers) == 0 || !slices.Contains(r.vmNumbers, c.Callee) {
		return nil
	}
	if c.AuthUser != "" {
		if l := set.Locked(rep.LockVoicemail, c.Tenant, c.AuthUser, c.SourceIP, c.Time); l != nil {
			return l
		}
	}
	return set.Locked(rep.LockVoicemail, c.Tenant, c.Extension, c.SourceIP, c.Time)
}

// Check implements screen.Check.
func (r *Reputation) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	set := r.live.Load()
	// Bans and address entries never block a trusted source: they can
	// only come from forged or relayed traffic.
	if !r.trust(c.SourceIP) {
		if b := set.Banned(c.SourceIP, c.Time); b != nil {
			v.Add(screen.Reason{Check: "reputation", Code: "banned_ip",
				Text:   "source address " + c.SourceIP.String() + " is banned until " + b.Expires.UTC().Format("2006-01-02 15:04 MST") + ": " + b.Reason,
				Rule:   "bans." + strconv.FormatInt(b.ID, 10),
				Action: screen.Reject, Risk: 100})
			return screen.Stop
		}
		if l := lockedAccount(set, c); l != nil {
			v.Add(screen.Reason{Check: "reputation", Code: "account_locked",
				Text: "account " + strconv.Quote(l.Subject) + " is locked until " + l.Until.UTC().Format("2006-01-02 15:04 MST") +
					" after failed logins, and " + c.SourceIP.String() + " is not one of its known sources",
				Rule:   "lockouts.account." + l.Subject,
				Action: screen.Reject, Risk: 100})
			return screen.Stop
		}
		if l := r.lockedVoicemail(set, c); l != nil {
			v.Add(screen.Reason{Check: "reputation", Code: "voicemail_locked",
				Text: "voicemail box " + strconv.Quote(l.Subject) + " is locked until " + l.Until.UTC().Format("2006-01-02 15:04 MST") +
					" after wrong PINs, and " + c.SourceIP.String() + " is not one of its account's known sources",
				Rule:   "lockouts.voicemail." + l.Subject,
				Action: screen.Reject, Risk: 100})
			return screen.Stop
		}
		if e := set.Addr(c.SourceIP, c.Time); e != nil && e.Score >= r.minScore {
			v.Add(screen.Reason{Check: "reputation", Code: "bad_source_ip",
				Text:   "source address " + c.SourceIP.String() + " has a bad reputation (" + e.Source + "): " + e.Reason,
				Rule:   "reputation.ip." + e.Value,
				Action: r.ipAction, Risk: e.Score})
			return screen.Stop
		}
	}
	if e := set.UserAgent(c.UserAgent, c.Time); e != nil && e.Score >= r.minScore {
		v.Add(screen.Reason{Check: "reputation", Code: "scanner_user_agent",
			Text:   "User-Agent matches the attack-tool fingerprint \"" + e.Value + "\"",
			Rule:   "reputation.ua." + e.Value,
			Action: r.ipAction, Risk: e.Score})
		return screen.Stop
	}
	if c.Digits == "" {
		return screen.Continue
	}
	e := set.Number(c.Digits, c.Time)
	code, suspect := "attacker_dialed_number", "suspected_dialed_number"
	if e == nil {
		e, code, suspect = set.Range(c.Digits, c.Time), "attacker_dialed_range", "suspected_dialed_range"
	}
	if e != nil && e.Score >= r.minScore && e.Suspected() {
		v.Add(screen.Reason{Check: "reputation", Code: suspect,
			Text:   "destination " + c.Dest.E164 + " was dialed at the honeypot but is not confirmed (" + e.Source + "): " + e.Reason,
			Rule:   "reputation." + e.Kind + "." + e.Value,
			Action: screen.Allow, Risk: SuspectRisk})
		return screen.Continue
	}
	if e != nil && e.Score >= r.minScore {
		v.Add(screen.Reason{Check: "reputation", Code: code,
			Text:   "destination " + c.Dest.E164 + " is suspect (" + e.Source + "): " + e.Reason,
			Rule:   "reputation." + e.Kind + "." + e.Value,
			Action: r.numAction, Risk: min(r.numRisk, max(e.Score, 50))})
		if r.numAction == screen.Reject {
			return screen.Stop
		}
	}
	return screen.Continue
}
