package attack

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/reputation"
)

// Policy sets the thresholds. The zero value of a field takes the default
// from the operator guidance (fail2ban: 3 failures in 5 minutes → 24 h;
// account lockout 5 failures → 30 minutes; voicemail 3 wrong PINs → lock).
type Policy struct {
	MaxFailures int           // failures from one address within Window that ban it (3)
	Window      time.Duration // (5 min)
	// BanTimes is the escalation ladder: the first ban lasts BanTimes[0],
	// an address banned before gets the next step (24 h, 7 d, 30 d).
	BanTimes []time.Duration
	// ScannerUAs are User-Agent prefixes that ban on the first request.
	ScannerUAs []string
	// CountChallenges counts digest challenges as failures (fail2ban's
	// "ddos" mode); off by default since every phone is challenged.
	CountChallenges bool

	AccountMaxFailures   int           // (5)
	AccountWindow        time.Duration // (30 min)
	AccountLockTime      time.Duration // (30 min)
	VoicemailMaxFailures int           // (3)
	VoicemailLockTime    time.Duration // (30 min)
	// AccountKnownGood is how long a successful authentication makes its
	// source known-good for the account: a lockout allows the sources
	// that authenticated as the account within this time before it
	// (30 days). Sources reporting from the honeypot never count (its
	// accounts are decoys).
	AccountKnownGood time.Duration

	// MaxTracked bounds the addresses and accounts whose failures are
	// being counted (memory under a flood of spoofed sources).
	MaxTracked int // (100000)

	// IPv6Bits is the network an IPv6 source's failures count against and
	// its ban covers (64: one host or site is given a whole /64 and can
	// rotate through it). A network holding a trusted address falls back
	// to the single address. 128 counts and bans each address alone.
	IPv6Bits int // (64)
}

func (p Policy) withDefaults() Policy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = 3
	}
	if p.Window <= 0 {
		p.Window = 5 * time.Minute
	}
	if len(p.BanTimes) == 0 {
		p.BanTimes = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
	}
	if p.ScannerUAs == nil {
		p.ScannerUAs = DefaultScannerUAs
	}
	if p.AccountMaxFailures <= 0 {
		p.AccountMaxFailures = 5
	}
	if p.AccountWindow <= 0 {
		p.AccountWindow = 30 * time.Minute
	}
	if p.AccountLockTime <= 0 {
		p.AccountLockTime = 30 * time.Minute
	}
	if p.VoicemailMaxFailures <= 0 {
		p.VoicemailMaxFailures = 3
	}
	if p.VoicemailLockTime <= 0 {
		p.VoicemailLockTime = 30 * time.Minute
	}
	if p.AccountKnownGood <= 0 {
		p.AccountKnownGood = 30 * 24 * time.Hour
	}
	if p.MaxTracked <= 0 {
		p.MaxTracked = 100000
	}
	if p.IPv6Bits <= 0 || p.IPv6Bits > 128 {
		p.IPv6Bits = 64
	}
	return p
}

// BanTime is the length of a ban for an address with level earlier bans.
func (p Policy) BanTime(level int) time.Duration {
	p = p.withDefaults()
	if level >= len(p.BanTimes) {
		level = len(p.BanTimes) - 1
	}
	return p.BanTimes[max(level, 0)]
}

// Guard counts events and decides bans and lockouts. Failure windows are
// counted by a Failures: in this process by default (MemoryFailures), or,
// in cluster mode, in the shared counter store (SharedFailures) so every
// node's failures count towards one threshold. Bans and lockouts go to
// the shared reputation.Store so every node enforces them. Guard is safe
// for concurrent use.
type Guard struct {
	pol   Policy
	st    reputation.Store
	trust *Trust
	log   *slog.Logger
	fails Failures
	// OnBan, if set, is called after a ban is stored (refresh snapshots).
	OnBan func(reputation.Ban)
	// Banned, if set, reports a ban in force on an address (the node's
	// reputation snapshot, which holds the other nodes' bans too): its
	// failures are not counted, so a ban is not set again (escalated)
	// while one is in force.
	Banned func(a netip.Addr, t time.Time) bool
	// Locked, if set, returns the lockout of kind in force on subject at
	// t (the node's reputation snapshot, holding the other nodes'
	// lockouts and this node's own before the store has them): a
	// success from a source it does not allow teaches nothing, and a new
	// lockout keeps the sources the one in force allows.
	Locked func(kind, tenant, subject string, t time.Time) *reputation.Lockout
	// LockedAnyTenant, if set, returns a lockout of kind on subject in
	// force at t, in any tenant, that does not allow a: a success naming
	// no tenant from such a source teaches nothing (it may be a right
	// guess for the locked tenant's account).
	LockedAnyTenant func(kind, subject string, a netip.Addr, t time.Time) *reputation.Lockout

	// known, if set, keeps known-good sources where every node and the
	// next start read them (SetKnownGood); the guard's own memory of
	// them is the fallback while it fails.
	known reputation.KnownGoodStore

	mu     sync.Mutex
	banned map[netip.Prefix]time.Time // bans this guard knows are in force, until
	good   map[acct][]goodSource      // account → sources that authenticated as it
	// goodNets is when each source network last authenticated as any
	// account: a spoofable one-packet signal does not ban it.
	goodNets map[netip.Prefix]time.Time

	queue   chan Event
	dropped atomic.Int64
	events  atomic.Int64
	bans    atomic.Int64
}

// NewGuard returns a Guard storing bans and lockouts in st.
func NewGuard(p Policy, st reputation.Store, trust *Trust, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	return &Guard{
		pol: p.withDefaults(), st: st, trust: trust, log: log,
		fails:    NewMemoryFailures(p.withDefaults().MaxTracked),
		banned:   map[netip.Prefix]time.Time{},
		good:     map[acct][]goodSource{},
		goodNets: map[netip.Prefix]time.Time{},
		queue:    make(chan Event, 4096),
	}
}

// SetFailures makes the guard count failures in f (before it runs).
func (g *Guard) SetFailures(f Failures) {
	if f != nil {
		g.fails = f
	}
}

// SetKnownGood makes the guard keep known-good sources in st as well as
// in memory (before it runs): a success one node sees is allowed by a
// lockout another node sets, and by one set after a restart.
func (g *Guard) SetKnownGood(st reputation.KnownGoodStore) { g.known = st }

// Policy returns the guard's thresholds with defaults filled in.
func (g *Guard) Policy() Policy { return g.pol }

// Trust returns the trusted addresses.
func (g *Guard) Trust() *Trust { return g.trust }

// Stats are counters for metrics.
type Stats struct {
	Events  int64 `json:"events"`
	Dropped int64 `json:"dropped"`
	Bans    int64 `json:"bans"`
	Tracked int   `json:"tracked"`
}

// Stats returns the guard's counters.
func (g *Guard) Stats() Stats {
	n := g.fails.Tracked()
	return Stats{Events: g.events.Load(), Dropped: g.dropped.Load(), Bans: g.bans.Load(), Tracked: n}
}

// Report implements Reporter: it queues the event for Run.
func (g *Guard) Report(ev Event) {
	select {
	case g.queue <- ev:
	default:
		g.dropped.Add(1)
	}
}

// Run observes queued events until ctx ends.
func (g *Guard) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-g.queue:
			if _, err := g.Observe(ctx, ev); err != nil && ctx.Err() == nil {
				g.log.Error("attack: observing event", "err", err, "ip", ev.IP)
			}
		}
	}
}

// Outcome is what one event led to.
type Outcome struct {
	Ban     *reputation.Ban     // a new ban, or nil
	Lockout *reputation.Lockout // a new lockout, or nil
	Trusted bool                // the source is trusted: nothing counted against it
}

// Observe counts one event and stores the ban or lockout it triggers.
func (g *Guard) Observe(ctx context.Context, ev Event) (Outcome, error) {
	g.events.Add(1)
	var out Outcome
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if !ev.IP.IsValid() {
		return out, fmt.Errorf("attack: event without a source address")
	}
	ev.IP = ev.IP.Unmap()
	// Accounts are locked whoever guesses, trusted proxies included: a
	// proxy relays the attacker's guesses for the account.
	if ev.Username != "" {
		var err error
		if out.Lockout, err = g.account(ctx, ev); err != nil {
			return out, err
		}
	}
	if g.trust.Contains(ev.IP) {
		out.Trusted = true
		return out, nil
	}
	reason := ""
	net := g.network(ev.IP)
	g.mu.Lock()
	until, banned := g.banned[net]
	g.mu.Unlock()
	if (banned && ev.Time.Before(until)) || (g.Banned != nil && g.Banned(ev.IP, ev.Time)) {
		return out, nil
	}
	switch {
	case ev.Kind == KindScannerUA || ScannerUA(ev.UserAgent, g.pol.ScannerUAs):
		if g.spoofable(ev) && g.authenticated(net, ev.Time) {
			// One UDP packet with a forged source address would otherwise
			// ban a phone that really logs in from there (ban poisoning).
			g.log.Warn("attack: scanner User-Agent from a source that authenticated; not banned (UDP source addresses can be forged)", "ip", ev.IP, "user_agent", quote(ev.UserAgent))
			return out, nil
		}
		reason = "scanner User-Agent " + quote(ev.UserAgent)
	case counted(ev.Kind, g.pol.CountChallenges):
		if n, reached := g.fails.Fail(FailKey{Kind: FailIP, Subject: reputation.FormatPrefix(net)}, ev.Time, g.pol.Window, g.pol.MaxFailures); reached {
			reason = fmt.Sprintf("%d failures in %s (last: %s from %s)", n, g.pol.Window, ev.Kind, ev.Source)
			if !net.IsSingleIP() {
				reason += " in " + net.String() + ", last from " + ev.IP.String()
			}
		}
	}
	if reason == "" {
		return out, nil
	}
	b, err := g.BanPrefix(ctx, net, reason, ev.Source, ev.Time, 0)
	if err != nil {
		return out, err
	}
	out.Ban = &b
	return out, nil
}

// spoofable reports whether ev's source address may be forged: it came
// in one UDP datagram, with no handshake proving the sender owns it.
// Events from a PBX or proxy log name no transport and count as UDP.
func (g *Guard) spoofable(ev Event) bool {
	switch strings.ToLower(ev.Transport) {
	case "tcp", "tls", "ws", "wss":
		return false
	}
	return true
}

// authenticated reports whether a source in net authenticated as any
// account within Policy.AccountKnownGood before t (this guard's memory).
func (g *Guard) authenticated(net netip.Prefix, t time.Time) bool {
	g.mu.Lock()
	last, ok := g.goodNets[net]
	g.mu.Unlock()
	return ok && !last.After(t.Add(time.Minute)) && t.Sub(last) <= g.pol.AccountKnownGood
}

// network is what an address's failures count against and its ban
// covers: the address itself for IPv4, its Policy.IPv6Bits network for
// IPv6 unless that holds a trusted address.
func (g *Guard) network(a netip.Addr) netip.Prefix {
	if a.Is6() && g.pol.IPv6Bits < 128 {
		if p := netip.PrefixFrom(a, g.pol.IPv6Bits).Masked(); !g.trust.Overlaps(p) {
			return p
		}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return fmt.Sprintf("%q", s)
}

func counted(kind string, challenges bool) bool {
	switch kind {
	case KindAuthFailure, KindUnknownAccount, KindACL, KindNoRoute, KindScan:
		return true
	case KindChallenge:
		return challenges
	}
	return false
}

// Ban bans an address (or network) now, escalating by its earlier bans.
// Trusted addresses are refused.
func (g *Guard) Ban(ctx context.Context, a netip.Addr, reason, source string, now time.Time) (reputation.Ban, error) {
	return g.BanPrefix(ctx, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), reason, source, now, 0)
}

// ErrTrusted refuses a ban on a trusted address.
var ErrTrusted = fmt.Errorf("%w: address is trusted and is never banned", reputation.ErrInvalid)

// BanPrefix bans a network for d (0: the escalation ladder decides).
func (g *Guard) BanPrefix(ctx context.Context, p netip.Prefix, reason, source string, now time.Time, d time.Duration) (reputation.Ban, error) {
	if g.trust.Overlaps(p) {
		return reputation.Ban{}, ErrTrusted
	}
	ip := reputation.FormatPrefix(p.Masked())
	level, err := g.st.BanCount(ctx, ip)
	if err != nil {
		return reputation.Ban{}, err
	}
	if d <= 0 {
		d = g.pol.BanTime(level)
	}
	b, err := g.st.AddBan(ctx, reputation.Ban{IP: ip, Reason: reason, Source: source, Created: now, Expires: now.Add(d), Level: level})
	if err != nil {
		return b, err
	}
	p = p.Masked()
	g.mu.Lock()
	g.banned[p] = b.Expires
	if len(g.banned) > g.pol.MaxTracked {
		for k, until := range g.banned {
			if !now.Before(until) || k != p {
				delete(g.banned, k)
				break
			}
		}
	}
	g.mu.Unlock()
	g.bans.Add(1)
	g.log.Warn("attack: banned", "ip", ip, "until", b.Expires.Format(time.RFC3339), "level", level, "source", source, "reason", reason)
	if g.OnBan != nil {
		g.OnBan(b)
	}
	return b, nil
}

// Forget drops what the guard remembers about an address (after a ban is
// released), so its next failures count from zero.
func (g *Guard) Forget(a netip.Addr) {
	a = a.Unmap()
	g.ForgetPrefix(netip.PrefixFrom(a, a.BitLen()))
	g.ForgetPrefix(g.network(a))
}

// ForgetPrefix drops what the guard remembers about a network's ban and
// failures (after a ban on it is released).
func (g *Guard) ForgetPrefix(p netip.Prefix) {
	p = p.Masked()
	g.mu.Lock()
	delete(g.banned, p)
	g.mu.Unlock()
	g.fails.Clear(FailKey{Kind: FailIP, Subject: reputation.FormatPrefix(p)})
}

// acct is an account: a username in a tenant, or naming none.
type acct struct{ tenant, user string }

// goodSource is a source that authenticated as an account, and when it
// last did (stored: when the store was last told).
type goodSource struct {
	net    netip.Prefix
	last   time.Time
	stored time.Time
}

// maxGoodPerAccount bounds the known-good sources kept per account (the
// most recent win).
const maxGoodPerAccount = reputation.MaxKnownGood

// knownGoodEvery is how often a source's repeated successes are written
// to the store: the known-good window is days, so a phone that
// authenticates every call costs one write a minute at most.
const knownGoodEvery = time.Minute

// account counts failures per account and per voicemail box. The
// honeypot's accounts are decoys: what is tried there locks no real
// account and teaches nothing about one.
func (g *Guard) account(ctx context.Context, ev Event) (*reputation.Lockout, error) {
	if ev.Source == SourceHoneypot || len(ev.Username) > reputation.MaxSubject || len(ev.Tenant) > reputation.MaxTenant {
		return nil, nil // a name longer than any account is no account's
	}
	fk, kind, max, lock, win := FailAccount, reputation.LockAccount, g.pol.AccountMaxFailures, g.pol.AccountLockTime, g.pol.AccountWindow
	switch ev.Kind {
	case KindAuthFailure:
	case KindVoicemailPIN:
		fk, kind, max, lock = FailVoicemail, reputation.LockVoicemail, g.pol.VoicemailMaxFailures, g.pol.VoicemailLockTime
	case KindAuthSuccess:
		g.fails.Clear(FailKey{Kind: FailAccount, Tenant: ev.Tenant, Subject: ev.Username})
		return nil, g.learnGood(ctx, ev)
	default:
		return nil, nil
	}
	n, reached := g.fails.Fail(FailKey{Kind: fk, Tenant: ev.Tenant, Subject: ev.Username}, ev.Time, win, max)
	if !reached {
		return nil, nil
	}
	l := reputation.Lockout{Kind: kind, Tenant: ev.Tenant, Subject: ev.Username, Failures: n, Since: ev.Time.UTC(), Until: ev.Time.Add(lock).UTC(),
		Reason: fmt.Sprintf("%d failed attempts, last from %s (%s)", n, ev.IP, ev.Source)}
	// A voicemail box is the account's: the sources the account is known
	// to use keep reaching it.
	l.Allowed = g.allowed(ctx, kind, ev.Tenant, ev.Username, ev.Time)
	if g.Locked != nil {
		// Locked again while locked: the lock runs on from its start.
		if old := g.Locked(kind, ev.Tenant, ev.Username, ev.Time); old != nil && old.Since.Before(l.Since) {
			l.Since = old.Since
		}
	}
	if err := g.st.PutLockout(ctx, l); err != nil {
		return nil, err
	}
	g.log.Warn("attack: locked", "kind", kind, "tenant", ev.Tenant, "subject", ev.Username, "until", l.Until.Format(time.RFC3339), "allowed", l.Allowed)
	return &l, nil
}

// learnGood remembers a successful authentication's source as known-good
// for the account, unless the account is locked against it at the time:
// a source that succeeds while the account is locked (an attacker that
// guessed right) is not made good by it. The store is told at most once
// per knownGoodEvery per source; its error is returned, the memory kept.
func (g *Guard) learnGood(ctx context.Context, ev Event) error {
	if ev.Username == "" {
		return nil
	}
	if g.Locked != nil {
		if l := g.Locked(reputation.LockAccount, ev.Tenant, ev.Username, ev.Time); l != nil && !l.Allows(ev.IP) {
			return nil
		}
		if ev.Tenant != "" {
			if l := g.Locked(reputation.LockAccount, "", ev.Username, ev.Time); l != nil && !l.Allows(ev.IP) {
				return nil
			}
		}
	}
	if ev.Tenant == "" && g.LockedAnyTenant != nil && g.LockedAnyTenant(reputation.LockAccount, ev.Username, ev.IP, ev.Time) != nil {
		return nil
	}
	net := g.network(ev.IP)
	a := acct{ev.Tenant, ev.Username}
	write := g.remember(a, net, ev.Time)
	if !write || g.known == nil {
		return nil
	}
	err := g.known.PutKnownGood(ctx, reputation.KnownGood{Tenant: ev.Tenant, Account: ev.Username, Source: reputation.FormatPrefix(net), Last: ev.Time})
	if err != nil {
		g.mu.Lock()
		for i, s := range g.good[a] {
			if s.net == net {
				g.good[a][i].stored = time.Time{} // tell the store next time
			}
		}
		g.mu.Unlock()
	}
	return err
}

// remember records the success in memory and reports whether the store
// should be told (a new source, or one last told knownGoodEvery ago).
func (g *Guard) remember(a acct, net netip.Prefix, t time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if last, ok := g.goodNets[net]; !ok || t.After(last) {
		if !ok && len(g.goodNets) >= g.pol.MaxTracked {
			for k := range g.goodNets {
				delete(g.goodNets, k) // bounded like g.good
				break
			}
		}
		g.goodNets[net] = t
	}
	srcs := g.good[a]
	if srcs == nil && len(g.good) >= g.pol.MaxTracked {
		for k := range g.good {
			delete(g.good, k) // bounded under a flood of made-up usernames
			break
		}
	}
	for i := range srcs {
		if srcs[i].net == net {
			if t.After(srcs[i].last) {
				srcs[i].last = t
			}
			if srcs[i].stored.IsZero() || t.Sub(srcs[i].stored) >= knownGoodEvery {
				srcs[i].stored = t
				return true
			}
			return false
		}
	}
	if len(srcs) >= maxGoodPerAccount {
		oldest := 0
		for i := range srcs {
			if srcs[i].last.Before(srcs[oldest].last) {
				oldest = i
			}
		}
		srcs = slices.Delete(srcs, oldest, oldest+1)
	}
	g.good[a] = append(srcs, goodSource{net, t, t})
	return true
}

// allowed is what a new lockout of kind on the account allows at t: its
// sources that authenticated within Policy.AccountKnownGood before t
// (from the store, which holds every node's, and from this guard's
// memory), and those the lockout in force already allows. A tenant's
// lockout takes the tenant's sources and those of successes that named
// no tenant; one naming no tenant takes every tenant's.
func (g *Guard) allowed(ctx context.Context, kind, tenant, user string, t time.Time) []string {
	var out []string
	if g.Locked != nil {
		if l := g.Locked(kind, tenant, user, t); l != nil {
			out = append(out, l.Allowed...)
		}
	}
	since := t.Add(-g.pol.AccountKnownGood)
	if g.known != nil {
		ks, err := g.known.KnownGood(ctx, tenant, user, since)
		if err != nil {
			g.log.Error("attack: reading known-good sources (this node's own are used)", "err", err, "account", user)
		}
		for _, k := range ks {
			if !k.Last.After(t) {
				out = append(out, k.Source)
			}
		}
	}
	g.mu.Lock()
	var mine []goodSource
	for a, srcs := range g.good {
		if a.user == user && (tenant == "" || a.tenant == tenant || a.tenant == "") {
			mine = append(mine, srcs...)
		}
	}
	g.mu.Unlock()
	slices.SortFunc(mine, func(a, b goodSource) int { return b.last.Compare(a.last) })
	for _, s := range mine {
		if !s.last.After(t) && !s.last.Before(since) {
			out = append(out, reputation.FormatPrefix(s.net))
		}
	}
	// The lockout in force's first, then the most recent: what a full
	// list leaves out is the stalest.
	seen := map[string]bool{}
	out = slices.DeleteFunc(out, func(s string) bool {
		if seen[s] {
			return true
		}
		seen[s] = true
		return false
	})
	if len(out) > reputation.MaxAllowed {
		out = out[:reputation.MaxAllowed]
	}
	slices.Sort(out)
	return out
}

// Sweep forgets failure windows idle for longer than their window and
// bans known to have ended.
func (g *Guard) Sweep(now time.Time) {
	g.fails.Sweep(now)
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, srcs := range g.good {
		srcs = slices.DeleteFunc(srcs, func(s goodSource) bool { return now.Sub(s.last) > g.pol.AccountKnownGood })
		if len(srcs) == 0 {
			delete(g.good, k)
		} else {
			g.good[k] = srcs
		}
	}
	for k, last := range g.goodNets {
		if now.Sub(last) > g.pol.AccountKnownGood {
			delete(g.goodNets, k)
		}
	}
	for k, until := range g.banned {
		if !now.Before(until) {
			delete(g.banned, k)
		}
	}
}
