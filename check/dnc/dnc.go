// Package dnc scrubs outbound campaign calls: a callee on a do-not-call
// list or the internal opt-out list is refused unless a valid consent
// lifts the listing, and a campaign call must present a caller ID the
// tenant owns.
package dnc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

// Reason codes.
const (
	CodeListed      = "dnc_listed"          // on a DNC list, no valid consent
	CodeOptOut      = "dnc_opt_out"         // on the internal opt-out list
	CodeConsent     = "dnc_consent"         // listed, let through on a consent (recorded as proof)
	CodeCallerID    = "caller_id_not_owned" // campaign caller ID the tenant does not own
	CodeNotScrubbed = "dnc_not_scrubbed"    // callee not E.164: cannot be scrubbed
)

type list struct {
	name string
	set  *compliance.Set
}

// DNC is the check.
type DNC struct {
	t       *config.Tenant
	live    *compliance.Live
	lists   []list
	types   map[string]bool
	scrub   bool
	owned   map[string]bool // E.164 digits
	ranges  []string        // digit prefixes
	cidAct  screen.Action
	home    string // calling code digits
	natPfx  string
	alerter store.Alerter

	mu        sync.Mutex
	lastAlert map[string]time.Time // caller → last alert, to keep alerts few
}

var _ screen.Check = (*DNC)(nil)

// New returns the check, or nil when the tenant has no DNC or caller-ID
// rule. It loads the tenant's list files (shared through live).
func New(t *config.Tenant, live *compliance.Live, alerter store.Alerter) (screen.Check, error) {
	c := &t.Compliance
	if !c.Used() {
		return nil, nil
	}
	if live == nil {
		live = compliance.NewLive()
	}
	k := &DNC{t: t, live: live, scrub: c.DNC.On(), alerter: alerter, lastAlert: map[string]time.Time{}}
	cc := number.CallingCodeFor(t.Country)
	k.home = strconv.Itoa(cc)
	k.natPfx = t.NationalPrefix
	if k.natPfx == "" {
		k.natPfx = phonenumbers.GetNddPrefixForRegion(t.Country, true)
	}
	names := make([]string, 0, len(c.DNC.Lists))
	for n := range c.DNC.Lists {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		l := c.DNC.Lists[n]
		s, err := live.List(l.File, l.Format, cc)
		if err != nil {
			return nil, fmt.Errorf("dnc: %s: compliance.dnc.lists.%s: %w", t.Name, n, err)
		}
		k.lists = append(k.lists, list{n, s})
	}
	if len(c.DNC.ConsentTypes) > 0 {
		k.types = map[string]bool{}
		for _, ty := range c.DNC.ConsentTypes {
			k.types[ty] = true
		}
	}
	if len(c.CallerID.Owned) > 0 {
		k.owned = map[string]bool{}
		for _, o := range c.CallerID.Owned {
			if p, ok := strings.CutSuffix(o, "*"); ok {
				k.ranges = append(k.ranges, p[1:])
			} else {
				k.owned[o[1:]] = true
			}
		}
		k.cidAct = screen.Reject
		if c.CallerID.Action == "auth" {
			k.cidAct = screen.Challenge
		}
	}
	return k, nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Name is the check's name in the order table and in its reasons.
const Name = "dnc"

// Setup builds the check for env's tenant (check.Setup).
func Setup(env *check.Env) (screen.Check, error) { return New(env.Tenant, env.Compliance, env.Alerter) }

// Name implements screen.Check.
func (*DNC) Name() string { return Name }

// Check implements screen.Check.
func (k *DNC) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction != screen.Outbound || !k.t.Compliance.Campaign.Match(c.Extension, c.SourceIP) {
		return screen.Continue
	}
	if k.owned != nil && !k.owns(c.Caller) {
		v.Add(screen.Reason{Check: "dnc", Code: CodeCallerID, Text: "campaign call presents caller ID " + quote(c.Caller) + ", which the tenant does not own", Rule: k.t.Rule("compliance.caller_id.owned"), Action: k.cidAct, Risk: 40})
		k.alert(c)
	}
	if k.scrub {
		k.scrubCall(c, v)
	}
	return screen.StopIfRejected
}

func (k *DNC) scrubCall(c *screen.Call, v *screen.Verdict) {
	key, ok := compliance.Key(c.Dest.E164)
	if !ok {
		if c.Dest.E164 == "" && c.Callee != "" {
			v.Add(screen.Reason{Check: "dnc", Code: CodeNotScrubbed, Text: "callee " + quote(c.Callee) + " is not a number that can be scrubbed", Rule: k.t.Rule("compliance.dnc"), Action: screen.Reject, Risk: 10})
		}
		return
	}
	x := k.live.Index()
	consent := x.Consent(k.t.Name, key, c.Time, k.types)
	// The internal opt-out list: the latest word wins, so an opt-out
	// revokes earlier consent and a consent given after it lifts it.
	if o := x.OptOut(k.t.Name, key); o != nil && (consent == nil || !consent.Time.After(o.Time)) {
		v.Add(screen.Reason{Check: "dnc", Code: CodeOptOut, Text: "callee " + c.Dest.E164 + " opted out on " + o.Time.UTC().Format(time.RFC3339) + optOutSource(o) + "; no later consent", Rule: k.t.Rule("compliance.dnc"), Action: screen.Reject, Risk: 30})
		return
	}
	listed := ""
	for i := range k.lists {
		if k.lists[i].set.Contains(key) {
			listed = k.lists[i].name
			break
		}
	}
	switch {
	case listed != "" && consent == nil:
		v.Add(screen.Reason{Check: "dnc", Code: CodeListed, Text: "callee " + c.Dest.E164 + " is on do-not-call list " + listed + " and has no valid consent", Rule: k.t.Rule("compliance.dnc.lists." + listed), Action: screen.Reject, Risk: 30})
	case listed != "" || (consent != nil && x.OptOut(k.t.Name, key) != nil):
		if listed == "" {
			listed = "internal opt-out"
		}
		v.Add(screen.Reason{Check: "dnc", Code: CodeConsent, Text: "callee " + c.Dest.E164 + " is on " + listed + "; consent #" + strconv.FormatInt(consent.ID, 10) + " (" + consent.Type + ", " + consent.Source + ", given " + consent.Time.UTC().Format(time.RFC3339) + ") covers the call", Rule: k.t.Rule("compliance.dnc"), Action: screen.Allow})
	}
}

func optOutSource(o *compliance.OptOut) string {
	if o.Source == "" {
		return ""
	}
	return " via " + o.Source
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strconv.Quote(s)
}

// owns reports whether caller is a number of the tenant: as E.164, or in
// national form in the tenant's country.
func (k *DNC) owns(caller string) bool {
	var buf [24]byte
	d := buf[:0]
	plus := false
	for i := 0; i < len(caller); i++ {
		ch := caller[i]
		switch {
		case ch >= '0' && ch <= '9':
			if len(d) == len(buf) {
				return false
			}
			d = append(d, ch)
		case ch == '+' && len(d) == 0:
			plus = true
		case ch == ' ' || ch == '-' || ch == '(' || ch == ')' || ch == '.':
		default:
			return false
		}
	}
	if len(d) == 0 {
		return false
	}
	if plus && k.match(string(d)) {
		return true
	}
	if plus {
		return false
	}
	// National forms: with or without the national prefix, or already
	// starting with the home calling code.
	nat := string(d)
	if k.match(nat) && strings.HasPrefix(nat, k.home) {
		return true
	}
	if k.natPfx != "" && strings.HasPrefix(nat, k.natPfx) && k.match(k.home+nat[len(k.natPfx):]) {
		return true
	}
	return k.match(k.home + nat)
}

func (k *DNC) match(digits string) bool {
	if k.owned[digits] {
		return true
	}
	for _, r := range k.ranges {
		if strings.HasPrefix(digits, r) {
			return true
		}
	}
	return false
}

func (k *DNC) alert(c *screen.Call) {
	if k.alerter == nil {
		return
	}
	k.mu.Lock()
	key := c.Caller
	last, seen := k.lastAlert[key]
	if seen && c.Time.Sub(last) < time.Minute && c.Time.Sub(last) >= 0 {
		k.mu.Unlock()
		return
	}
	if len(k.lastAlert) > 10000 {
		clear(k.lastAlert)
	}
	k.lastAlert[key] = c.Time
	k.mu.Unlock()
	k.alerter.Alert(store.Alert{Time: c.Time.UTC(), Tenant: k.t.Name, Extension: c.Extension, Severity: "warning", Code: CodeCallerID,
		Text:   "campaign call " + c.ID + " to " + c.Dest.E164 + " presented caller ID " + quote(c.Caller) + ", which tenant " + k.t.Name + " does not own; refused",
		Status: "open"})
}
