// Package reputation keeps what tollgate knows about bad actors: source
// addresses and networks, dialed numbers and number ranges, and User-Agent
// fingerprints, each with where it came from (honeypot, detector, manual,
// feed), when it was first and last seen, how often, a score and an
// expiry; and the bans and account lockouts that SIP attack blocking
// imposes. A Store keeps them (store/sqlite.Reputation, or
// store/postgres.Reputation in cluster mode); the screening hot path
// reads an immutable snapshot (Set) through Live.
package reputation

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// Entry kinds.
const (
	KindIP     = "ip"     // an address or a CIDR network
	KindNumber = "number" // an exact E.164 number, "+" and digits
	KindRange  = "range"  // an E.164 prefix, "+" and digits
	KindUA     = "ua"     // a User-Agent fingerprint: a case-insensitive prefix
)

// Entry sources.
const (
	SourceHoneypot = "honeypot"
	SourceDetector = "detector"
	SourceManual   = "manual"
	SourceFeed     = "feed"
)

// Errors.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "reputation: not found")
	ErrInvalid  = errkind.New(errkind.Invalid, "reputation: invalid")
)

// FieldError is an invalid entry, naming the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "reputation: " + e.Field + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Entry is one bad actor. Hits count sightings; Score (0–100) is how sure
// we are; Expires zero means never.
type Entry struct {
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Source    string    `json:"source"`
	Reason    string    `json:"reason,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Hits      int64     `json:"hits"`
	Score     int       `json:"score"`
	Expires   time.Time `json:"expires,omitzero"`
	// Status is confirmed (enforced) or suspected (learned, waiting for
	// evidence; it adds risk only). Empty means confirmed.
	Status string `json:"status,omitempty"`
	// Evidence is why a learned entry is listed (nil for entries from
	// operators and feeds).
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Suspected reports whether the entry is learned and not yet confirmed.
func (e *Entry) Suspected() bool { return e.Status == StatusSuspected }

// Live reports whether the entry is in force at t.
func (e *Entry) Live(t time.Time) bool { return e.Expires.IsZero() || t.Before(e.Expires) }

// Normalize checks an entry and puts its value in canonical form: an IP as
// its address or masked CIDR, numbers and ranges as "+digits", a
// User-Agent lower-cased and trimmed. Zero times become now, zero hits 1.
func Normalize(e *Entry, now time.Time) error {
	e.Kind = strings.ToLower(strings.TrimSpace(e.Kind))
	v := strings.TrimSpace(e.Value)
	switch e.Kind {
	case KindIP:
		p, err := ParsePrefix(v)
		if err != nil {
			return &FieldError{"value", err.Error()}
		}
		e.Value = FormatPrefix(p)
	case KindNumber, KindRange:
		d := digitsOf(v)
		if d == "" || len(d) > 15 {
			return &FieldError{"value", fmt.Sprintf("want an E.164 number (1 to 15 digits), got %q", v)}
		}
		e.Value = "+" + d
	case KindUA:
		if v == "" || len(v) > 256 {
			return &FieldError{"value", "want a User-Agent of 1 to 256 bytes"}
		}
		for i := 0; i < len(v); i++ {
			if v[i] < ' ' || v[i] == 0x7f {
				return &FieldError{"value", "control character in User-Agent"}
			}
		}
		e.Value = strings.ToLower(v)
	default:
		return &FieldError{"kind", fmt.Sprintf("want ip, number, range or ua, got %q", e.Kind)}
	}
	switch e.Source {
	case "":
		e.Source = SourceManual
	case SourceHoneypot, SourceDetector, SourceManual, SourceFeed:
	default:
		return &FieldError{"source", fmt.Sprintf("want honeypot, detector, manual or feed, got %q", e.Source)}
	}
	if len(e.Reason) > 512 {
		return &FieldError{"reason", "longer than 512 bytes"}
	}
	if e.Score < 0 || e.Score > 100 {
		return &FieldError{"score", fmt.Sprintf("want 0 to 100, got %d", e.Score)}
	}
	if e.Hits < 0 {
		return &FieldError{"hits", "negative"}
	}
	switch e.Status {
	case "":
		e.Status = StatusConfirmed
	case StatusConfirmed, StatusSuspected:
	default:
		return &FieldError{"status", fmt.Sprintf("want confirmed or suspected, got %q", e.Status)}
	}
	if err := checkEvidence(e.Evidence); err != nil {
		return err
	}
	settle(e)
	if e.Hits == 0 {
		e.Hits = 1
	}
	if e.LastSeen.IsZero() {
		e.LastSeen = now
	}
	if e.FirstSeen.IsZero() || e.FirstSeen.After(e.LastSeen) {
		e.FirstSeen = e.LastSeen
	}
	e.FirstSeen, e.LastSeen = e.FirstSeen.UTC(), e.LastSeen.UTC()
	if !e.Expires.IsZero() {
		e.Expires = e.Expires.UTC()
	}
	return nil
}

// Canonical checks kind and value as Normalize does and returns them in
// canonical form, as a store looks an entry up.
func Canonical(kind, value string) (string, string, error) {
	e := Entry{Kind: kind, Value: value}
	if err := Normalize(&e, time.Now()); err != nil {
		return "", "", err
	}
	return e.Kind, e.Value, nil
}

// CanonicalIP is ip (an address or CIDR) as bans store it, or a
// FieldError.
func CanonicalIP(ip string) (string, error) {
	p, err := ParsePrefix(ip)
	if err != nil {
		return "", &FieldError{"ip", err.Error()}
	}
	return FormatPrefix(p), nil
}

// NormalizeBatch normalizes a copy of es and sorts it by (kind, value),
// stably so that repeated sightings of one entry are merged in their
// order; a store locking rows in that order cannot deadlock with another
// node folding an overlapping batch.
func NormalizeBatch(es []Entry, now time.Time) ([]Entry, error) {
	norm := make([]Entry, len(es))
	for i, e := range es {
		if err := Normalize(&e, now); err != nil {
			return nil, err
		}
		norm[i] = e
	}
	slices.SortStableFunc(norm, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Value, b.Value))
	})
	return norm, nil
}

// Merge folds a new sighting n into the stored entry old (same kind and
// value): hits add up, first/last seen widen, the score and the expiry
// take the larger value (a never-expiring entry stays so), and the newer
// reason and source win. Evidence is merged (see Evidence); the result is
// confirmed when either side is or when the merged evidence meets its
// rule, else suspected. The reason of a confirmed entry is not replaced
// by a suspected sighting's.
func Merge(old, n Entry) Entry {
	out := old
	out.Hits += n.Hits
	if n.FirstSeen.Before(out.FirstSeen) {
		out.FirstSeen = n.FirstSeen
	}
	if n.LastSeen.After(out.LastSeen) {
		out.LastSeen = n.LastSeen
	}
	out.Score = max(out.Score, n.Score)
	switch {
	case old.Expires.IsZero() || n.Expires.IsZero():
		out.Expires = time.Time{}
	case n.Expires.After(old.Expires):
		out.Expires = n.Expires
	}
	confirmed := old.Status != StatusSuspected
	if n.Reason != "" && !(confirmed && n.Status == StatusSuspected) {
		out.Reason = n.Reason
	}
	// A manual entry is not downgraded by automatic sightings, nor a
	// confirmed one by a suspected sighting.
	if old.Source != SourceManual && !(confirmed && n.Status == StatusSuspected) {
		out.Source = n.Source
	}
	out.Evidence = mergeEvidence(old.Evidence, n.Evidence)
	out.Status = StatusSuspected
	if confirmed || n.Status != StatusSuspected {
		out.Status = StatusConfirmed
	}
	settle(&out)
	return out
}

// ParsePrefix parses an address or a CIDR; an address becomes a /32 or
// /128. IPv4-mapped IPv6 addresses are unmapped.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("want an IP address or CIDR, got %q", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("want an IP address or CIDR, got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// FormatPrefix prints a single address without its length.
func FormatPrefix(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == '+' && i == 0, c == ' ', c == '-', c == '(', c == ')', c == '.':
		default:
			return ""
		}
	}
	return b.String()
}

// Ban keeps a source address (or network) away: the SIP front end and the
// screening chain refuse it, and exports hand it to Kamailio and nftables.
// Level counts the bans this address had before, for escalation.
type Ban struct {
	ID       int64     `json:"id"`
	IP       string    `json:"ip"`
	Reason   string    `json:"reason"`
	Source   string    `json:"source"` // asterisk, freeswitch, kamailio, honeypot, sipfront, manual, feed
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	Level    int       `json:"level"`
	Released bool      `json:"released,omitempty"`
	// Freed names the learned entry released with the ban ("ip/…"):
	// what the honeypot or a detector learned about the same address.
	// Set only by ReleaseBan.
	Freed string `json:"freed,omitempty"`
}

// NormalizeBan checks a new ban and puts it in canonical form: the
// address or masked network, times in UTC (a zero Created becomes now),
// not released. The expiry must come after the start.
func NormalizeBan(b *Ban, now time.Time) error {
	ip, err := CanonicalIP(b.IP)
	if err != nil {
		return err
	}
	b.IP = ip
	if b.Created.IsZero() {
		b.Created = now
	}
	if !b.Expires.After(b.Created) {
		return &FieldError{"expires", "must be after the ban's start"}
	}
	b.Created, b.Expires = b.Created.UTC(), b.Expires.UTC()
	b.Released = false
	return nil
}

// Learned reports whether an entry's source is automatic learning (the
// honeypot, a detector), which releasing a ban on its address releases.
func Learned(source string) bool { return source == SourceHoneypot || source == SourceDetector }

// Active reports whether the ban is in force at t.
func (b *Ban) Active(t time.Time) bool { return !b.Released && t.Before(b.Expires) }

// Lockout kinds.
const (
	LockAccount   = "account"   // a SIP account (username)
	LockVoicemail = "voicemail" // a voicemail box (PIN guessing)
)

// Lockout stops a SIP account or voicemail box from authenticating until
// Until, after too many failures, from every address but the ones it
// allows.
type Lockout struct {
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	// Tenant, when set, is the tenant whose account or box is locked:
	// the same username in another tenant is not. Empty locks the
	// username in every tenant (the events that led to it named none).
	Tenant   string    `json:"tenant,omitempty"`
	Reason   string    `json:"reason"`
	Failures int       `json:"failures"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	// Allowed are the addresses (or networks) known to be the account's
	// own when it was locked: sources that had authenticated as it before
	// the attack. They keep working while the lock holds, so guesses from
	// elsewhere cannot lock the real user out.
	Allowed []string `json:"allowed,omitempty"`
}

// Active reports whether the lockout is in force at t (event time).
func (l *Lockout) Active(t time.Time) bool { return !t.Before(l.Since) && t.Before(l.Until) }

// Allows reports whether a is one of the lockout's allowed sources.
func (l *Lockout) Allows(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, s := range l.Allowed {
		if p, err := ParsePrefix(s); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// MaxAllowed bounds a lockout's allowed sources.
const MaxAllowed = 16

// MaxSubject bounds a lockout's subject (an account or voicemail box).
const MaxSubject = 128

// MaxTenant bounds a lockout's or known-good source's tenant.
const MaxTenant = 64

// NormalizeLockout checks a lockout and puts its allowed sources in
// canonical form (addresses or masked networks, sorted, each once, at
// most MaxAllowed), times in UTC.
func NormalizeLockout(l *Lockout) error {
	if l.Kind != LockAccount && l.Kind != LockVoicemail {
		return &FieldError{"kind", fmt.Sprintf("want account or voicemail, got %q", l.Kind)}
	}
	if l.Subject == "" || len(l.Subject) > MaxSubject {
		return &FieldError{"subject", fmt.Sprintf("want 1 to %d bytes", MaxSubject)}
	}
	if len(l.Tenant) > MaxTenant {
		return &FieldError{"tenant", fmt.Sprintf("at most %d bytes", MaxTenant)}
	}
	if !l.Until.After(l.Since) {
		return &FieldError{"until", "must be after since"}
	}
	if len(l.Allowed) > MaxAllowed {
		return &FieldError{"allowed", fmt.Sprintf("at most %d sources", MaxAllowed)}
	}
	out := make([]string, 0, len(l.Allowed))
	for _, s := range l.Allowed {
		c, err := CanonicalIP(s)
		if err != nil {
			return &FieldError{"allowed", err.Error()}
		}
		out = append(out, c)
	}
	slices.Sort(out)
	l.Allowed = slices.Compact(out)
	if len(l.Allowed) == 0 {
		l.Allowed = nil
	}
	l.Since, l.Until = l.Since.UTC(), l.Until.UTC()
	return nil
}

// Query filters List. Zero fields match everything.
type Query struct {
	Kind   string
	Source string
	Status string    // confirmed or suspected
	Now    time.Time // entries expired at Now are left out (zero: keep all)
	Limit  int       // 0 = no limit
}

// Store keeps reputation entries, bans and lockouts. Implementations are
// safe for concurrent use and may be shared by several tollgate nodes.
type Store interface {
	// Upsert adds the entry or merges it into the one with the same kind
	// and value (see Merge), returning the stored result.
	Upsert(ctx context.Context, e Entry) (Entry, error)
	Remove(ctx context.Context, kind, value string) error
	Get(ctx context.Context, kind, value string) (Entry, error)
	List(ctx context.Context, q Query) ([]Entry, error)

	// AddBan stores a ban and returns it with its id.
	AddBan(ctx context.Context, b Ban) (Ban, error)
	// Bans lists bans in force at now (all bans, released and expired
	// included, when all is true), newest first.
	Bans(ctx context.Context, now time.Time, all bool) ([]Ban, error)
	// BanCount is how many bans the address ever had, for escalation.
	BanCount(ctx context.Context, ip string) (int, error)
	// ReleaseBan ends a ban early and, in the same transaction, removes
	// the learned (honeypot or detector) IP entry for the banned address,
	// naming it in Ban.Freed; entries from operators and feeds stay. It
	// returns ErrNotFound for unknown ids.
	ReleaseBan(ctx context.Context, id int64) (Ban, error)

	PutLockout(ctx context.Context, l Lockout) error
	Lockouts(ctx context.Context, now time.Time) ([]Lockout, error)
	// ReleaseLockout lifts the lockout of kind on subject in tenant
	// ("" : the one naming no tenant).
	ReleaseLockout(ctx context.Context, kind, tenant, subject string) error
}

// KnownGood is a source that authenticated as an account (in a tenant,
// or naming none), and when it last did: the sources a lockout of the
// account allows.
type KnownGood struct {
	Tenant  string    `json:"tenant,omitempty"`
	Account string    `json:"account"`
	Source  string    `json:"source"` // an address or a masked network
	Last    time.Time `json:"last"`
}

// MaxKnownGood bounds the known-good sources a store keeps per account
// and tenant: the most recent successes win. A thief who knows the
// password and logs in from many addresses cannot grow the list (it can
// crowd the owner's source out of it, as it can use the account anyway).
const MaxKnownGood = 8

// NormalizeKnownGood checks k and puts its source in canonical form,
// its time in UTC.
func NormalizeKnownGood(k *KnownGood) error {
	if k.Account == "" || len(k.Account) > MaxSubject {
		return &FieldError{"account", fmt.Sprintf("want 1 to %d bytes", MaxSubject)}
	}
	if len(k.Tenant) > MaxTenant {
		return &FieldError{"tenant", fmt.Sprintf("at most %d bytes", MaxTenant)}
	}
	src, err := CanonicalIP(k.Source)
	if err != nil {
		return &FieldError{"source", err.Error()}
	}
	if k.Last.IsZero() {
		return &FieldError{"last", "missing"}
	}
	k.Source, k.Last = src, k.Last.UTC()
	return nil
}

// KnownGoodStore keeps the known-good sources of accounts where every
// node (and the next start) reads them: store/sqlite.Reputation,
// store/postgres.Reputation in cluster mode.
type KnownGoodStore interface {
	// PutKnownGood records a success: the source's last time becomes the
	// later of the stored one and k.Last, and of the account's sources
	// in k.Tenant only the MaxKnownGood most recent are kept.
	PutKnownGood(ctx context.Context, k KnownGood) error
	// KnownGood lists the account's sources whose last success is at or
	// after since, most recent first: those of tenant and those naming
	// no tenant; with tenant "" those of every tenant.
	KnownGood(ctx context.Context, tenant, account string, since time.Time) ([]KnownGood, error)
	// PurgeKnownGood deletes sources whose last success is before
	// before, returning how many.
	PurgeKnownGood(ctx context.Context, before time.Time) (int64, error)
}

// Versioned is a Store that keeps a version raised in every transaction
// that changes entries, bans or lockouts (never by a refused write), so a
// reader can tell with one cheap read whether to re-read the lists.
// Honeypot events do not move it.
type Versioned interface {
	Version(ctx context.Context) (int64, error)
}

// BatchUpserter is a Store that can upsert many entries in one
// transaction (the honeypot folds its sightings that way under load).
type BatchUpserter interface {
	UpsertBatch(ctx context.Context, es []Entry) error
}
