package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/cluster"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/internal/refresh"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// repDB is the reputation database (node.ReputationDB).
type repDB = node.ReputationDB

var (
	_ repDB = (*sqlite.Reputation)(nil)
	_ repDB = (*postgres.Reputation)(nil)
	_ repDB = (*spooledRepDB)(nil)
)

// spooledRepDB is a running node's reputation database in cluster mode:
// PostgreSQL behind a local disk buffer (cluster.RepSpool) that keeps
// bans, entries, lockouts and honeypot events while PostgreSQL is away.
type spooledRepDB struct {
	*cluster.RepSpool
	pg *postgres.Reputation
}

// openSpooledRepDB wraps pg with the buffer file name in the cluster's
// spool directory and replays what an earlier run left there.
func openSpooledRepDB(cfg *config.Config, dataDir, name string, pg *postgres.Reputation, log *slog.Logger) (*spooledRepDB, error) {
	dir := cfg.Cluster.Postgres.SpoolDir
	if dir == "" {
		dir = filepath.Join(dataDir, "spool")
	}
	sp, err := cluster.OpenRepSpool(pg, dir, name, int64(cfg.Cluster.Postgres.SpoolMaxMB)<<20, log)
	if err != nil {
		return nil, err
	}
	d := &spooledRepDB{RepSpool: sp, pg: pg}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sp.Drain(ctx); err != nil {
		log.Warn("cluster: buffered reputation writes not yet written", "err", err, "bytes", sp.Pending())
	}
	return d, nil
}

// Version implements reputation.Versioned: PostgreSQL's version. What the
// buffer holds is laid over every refresh until it is written (which moves
// the version), so the buffer needs no version of its own.
func (d *spooledRepDB) Version(ctx context.Context) (int64, error) { return d.pg.Version(ctx) }

// Purge implements repDB on PostgreSQL.
func (d *spooledRepDB) Purge(ctx context.Context, now time.Time, keepBans time.Duration) (int64, error) {
	return d.pg.Purge(ctx, now, keepBans)
}

// Close writes what is buffered if PostgreSQL answers (else it stays on
// disk for the next start) and closes the buffer; the database belongs to
// the node's state.
func (d *spooledRepDB) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if err := d.Drain(ctx); err != nil {
		errs = append(errs, fmt.Errorf("reputation spool kept %d bytes for the next start: %w", d.Pending(), err))
	}
	return errors.Join(append(errs, d.RepSpool.Close())...)
}

// metrics returns the buffer's metrics.
func (d *spooledRepDB) metrics() prometheus.Collector {
	return metrics.Set{
		metrics.Gauge("tollgate_cluster_reputation_spool_bytes", "Reputation writes (bans, entries, lockouts, honeypot events) waiting on local disk for PostgreSQL.", nil, metrics.Value(func() float64 { return float64(d.Stats().Bytes) })),
		metrics.Gauge("tollgate_cluster_reputation_spool_records", "Reputation writes waiting on local disk for PostgreSQL.", nil, metrics.Value(func() float64 { return float64(d.Stats().Records) })),
		metrics.Counter("tollgate_cluster_reputation_spool_writes_total", "Reputation writes by outcome of the local buffer: spooled, drained (written to PostgreSQL later), dropped (buffer full: lost), invalid (refused on replay: lost).", []string{"outcome"}, func(emit metrics.Emit) {
			st := d.Stats()
			emit(float64(st.Spooled), "spooled")
			emit(float64(st.Drained), "drained")
			emit(float64(st.Full), "dropped")
			emit(float64(st.Invalid), "invalid")
		}),
	}
}

// decidingRepDB is the reputation database as the API, the attack guard
// and the honeypot write it: every write to entries or bans is a decision
// this node enforces at once (reputation.Live.AddBan: a ban before the
// store commits it), and in cluster mode every change that succeeded
// (written, or buffered while PostgreSQL is away) is announced to the
// nodes, which re-read at once instead of at their next periodic
// refresh. Lockouts too: screening refuses a locked account from this
// node's reputation.Live (a lockout before the store commits it).
type decidingRepDB struct {
	repDB
	live   *reputation.Live
	notify func() // nil: embedded mode
}

func (d decidingRepDB) notified(err error) error {
	if err == nil && d.notify != nil {
		d.notify()
	}
	return err
}

func (d decidingRepDB) Upsert(ctx context.Context, e reputation.Entry) (reputation.Entry, error) {
	e, err := d.live.Upsert(ctx, d.repDB, e)
	return e, d.notified(err)
}

func (d decidingRepDB) UpsertBatch(ctx context.Context, es []reputation.Entry) error {
	err := d.live.UpsertBatch(ctx, d.repDB, es)
	if len(es) == 0 {
		return err
	}
	return d.notified(err)
}

func (d decidingRepDB) Remove(ctx context.Context, kind, value string) error {
	return d.notified(d.live.Remove(ctx, d.repDB, kind, value))
}

func (d decidingRepDB) AddBan(ctx context.Context, b reputation.Ban) (reputation.Ban, error) {
	b, err := d.live.AddBan(ctx, d.repDB, b)
	return b, d.notified(err)
}

func (d decidingRepDB) ReleaseBan(ctx context.Context, id int64) (reputation.Ban, error) {
	b, err := d.live.ReleaseBan(ctx, d.repDB, id)
	return b, d.notified(err)
}

func (d decidingRepDB) PutLockout(ctx context.Context, l reputation.Lockout) error {
	return d.notified(d.live.PutLockout(ctx, d.repDB, l))
}

func (d decidingRepDB) ReleaseLockout(ctx context.Context, kind, tenant, subject string) error {
	return d.notified(d.live.ReleaseLockout(ctx, d.repDB, kind, tenant, subject))
}

// Overlay implements reputation.Overlayer when the database does (the
// local buffer of cluster mode), so a refresh through the wrapper still
// lays buffered writes over what PostgreSQL lists.
func (d decidingRepDB) Overlay() ([]reputation.Entry, []reputation.Ban) {
	if ov, ok := d.repDB.(reputation.Overlayer); ok {
		return ov.Overlay()
	}
	return nil, nil
}

// OverlayLockouts implements reputation.LockOverlayer when the database
// does (cluster mode's local buffer).
func (d decidingRepDB) OverlayLockouts() []reputation.Lockout {
	if ov, ok := d.repDB.(reputation.LockOverlayer); ok {
		return ov.OverlayLockouts()
	}
	return nil
}

// security is the reputation database, the attack guard, the PBX log
// followers and (optionally) the honeypot, as serve and 'tollgate
// honeypot' run them.
type security struct {
	cfg   *config.Config
	log   *slog.Logger
	db    repDB
	w     repDB // what the API, guard and honeypot write: db through live (and announcing changes in cluster mode)
	live  *reputation.Live
	ref   *reputation.Refresher // re-reads db into live when its version moved
	trust *attack.Trust
	guard *attack.Guard
	hp    *honeypot.Server

	// Cluster mode: notify announces a change made here (nil in embedded
	// mode); notices (set before start) says a node changed entries or
	// bans, and triggers a refresh at once.
	notify  func()
	notices <-chan struct{}
	// every is the periodic refresh, the safety net for missed notices
	// (0: a second).
	every time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openSecurity reads the reputation database of the node's state (in
// cluster mode behind the local buffer named spool, one per process) and
// builds the guard. The guard counts failures in shared (the cluster's
// Redis counters, so a threshold holds across the nodes behind a proxy)
// or, when shared is nil, in this process. notify, when not nil, is
// called after every change to entries or bans made through this process
// (cluster mode: it publishes a notice). Nothing runs until start. The
// database belongs to state; close closes only the buffer.
func openSecurity(ctx context.Context, cfg *config.Config, state *node.State, dataDir, spool string, shared counter.Store, notify func(), log *slog.Logger) (*security, error) {
	var db repDB
	db, err := state.Reputation(ctx)
	if err != nil {
		return nil, err
	}
	if pg, ok := db.(*postgres.Reputation); ok {
		if db, err = openSpooledRepDB(cfg, dataDir, spool, pg, log); err != nil {
			return nil, err
		}
	}
	s := &security{cfg: cfg, log: log, db: db, notify: notify}
	a := &cfg.Attack
	// The SIP front end's trusted proxies are trusted here too; learned
	// data (bans, the honeypot's address entries) never blocks them.
	s.trust = attack.NewTrust(append(append([]netip.Prefix(nil), a.TrustedPrefixes...), cfg.SIP.Map.Trusted...)...)
	s.live = reputation.NewLive(reputation.Policy{IPAction: a.IPAction, NumberAction: a.NumberAction, MinScore: a.MinScore,
		Trusted: s.trust.Prefixes(), VoicemailNumbers: a.VoicemailNumbers})
	// A ban this node decides is enforced here before the store commits
	// it, and laid over every refresh until one has read it back.
	s.w = decidingRepDB{repDB: db, live: s.live, notify: notify}
	s.guard = attack.NewGuard(attackPolicy(a), s.w, s.trust, log)
	// No refresh after each ban: the ban is laid over the snapshot as it
	// is decided, and the refresh loop reads it back within a second. A
	// refresh per ban re-read every entry and ban from the store and
	// rebuilt the snapshot a second time (BenchmarkBanWrite: 10x the CPU
	// of the ban itself), per ban, on the guard's goroutine.
	// Addresses any node banned are not counted again while banned.
	s.guard.Banned = func(a netip.Addr, t time.Time) bool { return s.live.Load().Banned(a, t) != nil }
	// Lockouts any node set (and this node's own before the store has
	// them) decide what a success teaches and what a new lockout keeps.
	s.guard.Locked = func(kind, tenant, subject string, t time.Time) *reputation.Lockout {
		return s.live.Load().Lockout(kind, tenant, subject, t)
	}
	s.guard.LockedAnyTenant = func(kind, subject string, a netip.Addr, t time.Time) *reputation.Lockout {
		return s.live.Load().LockedAnyTenant(kind, subject, a, t)
	}
	// Known-good sources in the shared store (PostgreSQL directly in
	// cluster mode: a success is not worth the spool; while PostgreSQL
	// is away the guard's memory serves).
	if kg := knownGoodStore(db); kg != nil {
		s.guard.SetKnownGood(kg)
	}
	if shared != nil {
		s.guard.SetFailures(attack.NewSharedFailures(shared, cfg.NodeName()))
	}
	s.ref = &reputation.Refresher{Store: db, Live: s.live, Full: reputation.DefaultFullRefresh}
	if err := s.ref.Reload(ctx, time.Now()); startsWithout(err, log, "the reputation database") {
		s.closeSpool()
		return nil, fmt.Errorf("reading the reputation database: %w", err)
	}
	return s, nil
}

// knownGoodStore is where db keeps known-good sources (PostgreSQL behind
// cluster mode's buffer), or nil.
func knownGoodStore(db repDB) reputation.KnownGoodStore {
	if sp, ok := db.(*spooledRepDB); ok {
		return sp.pg
	}
	if kg, ok := db.(reputation.KnownGoodStore); ok {
		return kg
	}
	return nil
}

// protectedTypes parses honeypot.learning.protected_types (validated by
// config).
func protectedTypes(names []string) []number.Type {
	var out []number.Type
	for _, n := range names {
		if t, ok := number.ParseType(n); ok {
			out = append(out, t)
		}
	}
	return out
}

// protectedNumbers are the E.164 prefixes the honeypot never learns:
// honeypot.learning.protected_numbers and every tenant's caller_id
// own_numbers and customer_numbers (the operator's DIDs).
func protectedNumbers(cfg *config.Config) []string {
	out := append([]string(nil), cfg.Honeypot.Learning.Protected...)
	add := func(t *config.Tenant) {
		if t != nil {
			out = append(append(out, t.CallerID.Own...), t.CallerID.Custom...)
		}
	}
	add(cfg.Defaults)
	for _, t := range cfg.Tenants {
		add(t)
	}
	return out
}

func attackPolicy(a *config.Attack) attack.Policy {
	p := attack.Policy{
		MaxFailures: a.MaxFailures, Window: a.WindowS.Duration(),
		ScannerUAs: a.ScannerUserAgents, CountChallenges: a.CountChallenges,
		AccountMaxFailures: a.AccountMaxFailures, AccountLockTime: a.AccountLockS.Duration(),
		VoicemailMaxFailures: a.VoicemailMaxFailures, VoicemailLockTime: a.VoicemailLockS.Duration(),
		AccountKnownGood: a.AccountKnownGoodS.Duration(), IPv6Bits: a.IPv6Bits,
	}
	for _, s := range a.BanTimesS {
		p.BanTimes = append(p.BanTimes, s.Duration())
	}
	return p
}

// start runs the guard, the refresh loop, the PBX log followers and, when
// listen is set, the honeypot. The refresh reads the version row, and
// entries and bans only when it moved: at once on a notice that a node
// changed them (cluster mode), and every second as the safety net.
func (s *security) start(intel *number.Intel, listen string) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if listen != "" {
		h := &s.cfg.Honeypot
		country := h.Country
		if country == "" {
			country = s.cfg.Defaults.Country
		}
		var norm func(string) string
		l := &h.Learning
		learning := honeypot.Learning{
			Need:     reputation.Need{Networks: l.Networks, SpanS: int64(l.SpanS)},
			HighCost: reputation.Need{Networks: l.HighCostNetworks, SpanS: int64(l.HighCostSpanS)},
		}
		if intel != nil {
			norm = honeypot.Normalizer(intel.Lookup, number.DialPlan{Country: country})
			learning.Classify = honeypot.NumberClassifier(intel.Lookup, number.DialPlan{Country: country}, protectedTypes(l.ProtectedTypes), protectedNumbers(s.cfg))
		}
		hp, err := honeypot.Start(honeypot.Options{
			Listen: listen, ListenTCP: h.ListenTCP, Banner: h.Banner, Realm: h.Realm, AcceptAfter: h.AcceptAfter,
			CallDuration: h.CallDuration.Duration(), MaxCalls: h.MaxCalls,
			RatePerSource: float64(h.RequestsPerSecond), BurstPerSource: h.Burst, Rate: float64(h.TotalRequestsPerSecond),
			IPTTL: h.IPTTLDays.Duration(), NumberTTL: h.NumberTTLDays.Duration(),
			ScannerUAs: s.cfg.Attack.ScannerUserAgents, Normalize: norm, Learning: learning, Trusted: s.trust.Contains,
			Events: s.db, Reputation: s.w, Reporter: s.guard, Logger: s.log,
		})
		if err != nil {
			cancel()
			return err
		}
		s.hp = hp
	}
	s.wg.Add(3)
	go func() { defer s.wg.Done(); s.guard.Run(ctx) }()
	go func() {
		defer s.wg.Done()
		// One refresh at a time: notices arriving meanwhile leave one
		// value pending on s.notices (nil in embedded mode: never).
		refresh.Loop{Name: "reputation", Every: s.every, Notices: s.notices, Timeout: 5 * time.Second, Logger: s.log,
			Run: func(ctx context.Context, now time.Time) error { _, err := s.ref.Refresh(ctx, now); return err }}.Start(ctx)
	}()
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		purge := time.NewTicker(time.Hour)
		defer purge.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if sp, ok := s.db.(*spooledRepDB); ok && sp.Pending() > 0 {
					drained := sp.Stats().Drained
					dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					if err := sp.Drain(dctx); err != nil && ctx.Err() == nil {
						s.log.Warn("cluster: buffered reputation writes not drained yet", "err", err, "bytes", sp.Pending())
					}
					cancel()
					if sp.Stats().Drained > drained && s.notify != nil {
						// Buffered writes reached PostgreSQL: the other
						// nodes can read them now.
						s.notify() // this node's refresh follows on the notice too
					}
				}
				s.guard.Sweep(now)
			case now := <-purge.C:
				if _, err := s.db.Purge(ctx, now, 90*24*time.Hour); err != nil && ctx.Err() == nil {
					s.log.Error("purging expired reputation", "err", err)
				}
				if kg := knownGoodStore(s.db); kg != nil {
					if _, err := kg.PurgeKnownGood(ctx, now.Add(-s.guard.Policy().AccountKnownGood)); err != nil && ctx.Err() == nil {
						s.log.Error("purging old known-good sources", "err", err)
					}
				}
			}
		}
	}()
	for _, l := range s.cfg.Attack.Logs {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.log.Info("following PBX log", "path", l.Path, "format", l.Format)
			_ = attack.Tail(ctx, l.Path, false, 0, func(line string) {
				if ev, ok := attack.ParseLine(line, time.Now()); ok {
					if ev.Time.IsZero() || time.Since(ev.Time) > time.Hour || time.Until(ev.Time) > time.Hour {
						ev.Time = time.Now() // a line's clock may be local time: count it now
					}
					s.guard.Report(ev)
				}
			})
		}()
	}
	return nil
}

// enableAPI adds the reputation routes to the API.
func (s *security) enableAPI(a *api.Server) {
	ttl := s.cfg.Attack.FeedTTLDays.Duration()
	a.EnableReputation(api.ReputationOptions{Store: s.w, Live: s.live, Decides: true, Guard: s.guard, Events: s.db, Trust: s.trust,
		TTL: func() time.Duration {
			if ttl > 0 {
				return ttl
			}
			return reputation.DefaultFeedTTL
		}})
}

// metrics returns the reputation buffer's metrics (cluster mode; else nil).
func (s *security) metrics() prometheus.Collector {
	if sp, ok := s.db.(*spooledRepDB); ok {
		return sp.metrics()
	}
	return nil
}

func (s *security) close() error {
	var err error
	if s.hp != nil {
		err = s.hp.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return errors.Join(err, s.closeSpool())
}

// closeSpool closes the cluster's local buffer (nil in embedded mode).
func (s *security) closeSpool() error {
	if sp, ok := s.db.(*spooledRepDB); ok {
		return sp.Close()
	}
	return nil
}

// honeypotCmd runs the decoy PBX on its own: 'tollgate honeypot'.
func (e *env) honeypotCmd(args []string) error {
	fs := newFlags("honeypot", e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (honeypot: and attack: sections)")
	dataDir := fs.String("data", "", "data directory (default: server.data_dir, else ./tollgate-data)")
	listen := fs.String("listen", "", "UDP address (default: honeypot.listen, else 0.0.0.0:5060)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("honeypot: unexpected argument %q", pos[0])
	}
	cfg, err := loadConfigData(*cfgPath, dataDir)
	if err != nil {
		return err
	}
	if *listen == "" {
		*listen = cfg.Honeypot.Addr
	}
	if *listen == "" {
		*listen = "0.0.0.0:5060"
	}
	*listen = strings.TrimPrefix(*listen, "udp:")
	if _, err := netip.ParseAddrPort(*listen); err != nil {
		return usagef("-listen: want an IP address and port, got %q", *listen)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	intel, err := number.New(number.Options{RiskFiles: cfg.Numbers.RiskFiles, RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	state, err := node.Open(ctx, cfg, *dataDir, node.Options{Node: cfg.Server.Node})
	if err != nil {
		return err
	}
	defer state.Close()
	// The decoy on its own keeps its failure counts in this process.
	sec, err := openSecurity(ctx, cfg, state, *dataDir, "reputation-honeypot.jsonl", nil, nil, log)
	if err != nil {
		return err
	}
	if err := sec.start(intel, *listen); err != nil {
		sec.close()
		return err
	}
	tcp := ""
	if a := sec.hp.TCPAddr(); a.IsValid() {
		tcp = " and tcp " + a.String()
	}
	fmt.Fprintf(e.stdout, "honeypot listening on udp %s%s (data %s); Ctrl-C stops it\n", sec.hp.Addr(), tcp, *dataDir)
	<-ctx.Done()
	st := sec.hp.Stats()
	err = sec.close()
	fmt.Fprintf(e.stdout, "received %d, handled %d, dropped %d (rate) %d (queue), calls %d, events recorded %d, lost %d; not learned: %d calls to protected numbers, %d events from trusted sources\n",
		st.Received, st.Handled, st.DroppedRate, st.DroppedQueue, st.Calls, st.EventsRecorded, st.EventsDropped, st.Protected, st.Trusted)
	return err
}

// reputationCmd: tollgate reputation list|add|remove|import|export.
func (e *env) reputationCmd(args []string) error {
	const use = "reputation: want list, show KIND VALUE, add KIND VALUE, remove|release KIND VALUE, import FILE or export"
	if len(args) == 0 {
		return usagef(use)
	}
	sub := args[0]
	fs := newFlags("reputation "+sub, e)
	dataDir := fs.String("data", "tollgate-data", "data directory")
	kind := fs.String("kind", "", "list/export: only this kind (ip, number, range, ua)")
	status := fs.String("status", "", "list: only confirmed or suspected entries")
	reason := fs.String("reason", "", "add: why")
	score := fs.Int("score", 100, "add: 0-100")
	expires := fs.Duration("expires", 0, "add: lifetime (0 = never)")
	format := fs.String("format", "", "import/export: csv or json (default: from the file name, else csv)")
	ttl := fs.Duration("ttl", reputation.DefaultFeedTTL, "import: entries expire after this unless imported again")
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file: cluster mode uses its PostgreSQL; import/add protect its attack.trusted addresses")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	state, db, err := openState(ctx, cfg, *dataDir, false, (*node.State).Reputation)
	if err != nil {
		return err
	}
	defer state.Close()
	now := time.Now()
	trust := func() (*attack.Trust, error) {
		return attack.NewTrust(append(append([]netip.Prefix(nil), cfg.Attack.TrustedPrefixes...), cfg.SIP.Map.Trusted...)...), nil
	}
	switch sub {
	case "list":
		switch *status {
		case "", reputation.StatusConfirmed, reputation.StatusSuspected:
		default:
			return usagef("reputation list: -status: want confirmed or suspected, got %q", *status)
		}
		es, err := db.List(ctx, reputation.Query{Kind: *kind, Status: *status, Now: now})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tVALUE\tSOURCE\tSTATUS\tEVIDENCE\tSCORE\tHITS\tLAST SEEN\tEXPIRES\tREASON")
		for _, x := range es {
			exp := "never"
			if !x.Expires.IsZero() {
				exp = x.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", x.Kind, x.Value, x.Source, x.Status, evidenceSummary(x.Evidence),
				x.Score, x.Hits, x.LastSeen.Format(time.RFC3339), exp, x.Reason)
		}
		return tw.Flush()
	case "show":
		if len(pos) != 2 {
			return usagef("reputation show: want KIND VALUE")
		}
		x, err := db.Get(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		showEntry(e.stdout, x)
		return nil
	case "add":
		if len(pos) != 2 {
			return usagef("reputation add: want KIND VALUE")
		}
		x := reputation.Entry{Kind: pos[0], Value: pos[1], Reason: *reason, Score: *score, Source: reputation.SourceManual}
		if *expires > 0 {
			x.Expires = now.Add(*expires)
		}
		if err := reputation.Normalize(&x, now); err != nil {
			return usagef("%v", err)
		}
		if x.Kind == reputation.KindIP {
			t, err := trust()
			if err != nil {
				return err
			}
			if p, _ := reputation.ParsePrefix(x.Value); t.Overlaps(p) {
				return usagef("reputation add: %s covers a trusted address (attack.trusted)", x.Value)
			}
		}
		x, err = db.Upsert(ctx, x)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s: score %d, %d hits\n", x.Kind, x.Value, x.Score, x.Hits)
		return nil
	case "remove", "release":
		if len(pos) != 2 {
			return usagef("reputation %s: want KIND VALUE", sub)
		}
		if err := db.Remove(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "released %s %s (a running server drops it within a second)\n", pos[0], pos[1])
		return nil
	case "import":
		if len(pos) != 1 {
			return usagef("reputation import: want FILE (- for standard input)")
		}
		t, err := trust()
		if err != nil {
			return err
		}
		var r io.Reader = e.stdin
		if pos[0] != "-" {
			f, err := os.Open(pos[0])
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		f := *format
		if f == "" {
			f = reputation.FormatCSV
			if strings.HasSuffix(pos[0], ".json") {
				f = reputation.FormatJSON
			}
		}
		es, skipped, err := reputation.ReadFeed(r, f, reputation.ImportOptions{Now: now, TTL: *ttl, Trusted: t.Overlaps})
		if err != nil {
			return usagef("%s: %v", pos[0], err)
		}
		for _, x := range es {
			if _, err := db.Upsert(ctx, x); err != nil {
				return err
			}
		}
		for _, s := range skipped {
			fmt.Fprintf(e.stderr, "%s:%d: %s skipped: %s\n", pos[0], s.Line, s.Value, s.Reason)
		}
		fmt.Fprintf(e.stdout, "imported %d entries, skipped %d\n", len(es), len(skipped))
		return nil
	case "export":
		es, err := db.List(ctx, reputation.Query{Kind: *kind, Now: now})
		if err != nil {
			return err
		}
		f := *format
		if f == "" {
			f = reputation.FormatCSV
		}
		return reputation.WriteFeed(e.stdout, f, es, now)
	}
	return usagef(use)
}

// evidenceSummary is one column of a learned entry's evidence: proven
// networks against the rule, and all networks seen.
func evidenceSummary(ev *reputation.Evidence) string {
	if ev == nil {
		return "-"
	}
	n, _, _ := ev.Proven()
	return fmt.Sprintf("%d/%d proven, %d networks", n, ev.Need.Networks, int64(len(ev.Sightings))+ev.MoreNetworks)
}

// showEntry prints one entry with its evidence.
func showEntry(w io.Writer, x reputation.Entry) {
	fmt.Fprintf(w, "%s %s\nsource    %s\nstatus    %s\nscore     %d\nhits      %d\nseen      %s .. %s\n", x.Kind, x.Value, x.Source, x.Status,
		x.Score, x.Hits, x.FirstSeen.Format(time.RFC3339), x.LastSeen.Format(time.RFC3339))
	if !x.Expires.IsZero() {
		fmt.Fprintf(w, "expires   %s\n", x.Expires.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "reason    %s\n", x.Reason)
	ev := x.Evidence
	if ev == nil {
		fmt.Fprintln(w, "evidence  none (an operator's or a feed's entry)")
		return
	}
	class := ""
	if ev.Class != "" {
		class = " (" + ev.Class + " number)"
	}
	fmt.Fprintf(w, "rule      %d proven networks, proofs %s apart%s\n", ev.Need.Networks, time.Duration(ev.Need.SpanS)*time.Second, class)
	if !ev.Confirmed.IsZero() {
		fmt.Fprintf(w, "confirmed %s: %s\n", ev.Confirmed.Format(time.RFC3339), ev.Why)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tFIRST ADDRESS\tHITS\tFIRST\tLAST\tPROVEN")
	for _, sg := range ev.Sightings {
		proven := "no (the address may be forged)"
		if !sg.Proven.IsZero() {
			proven = sg.Proven.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", sg.Network, sg.Addr, sg.Hits, sg.First.Format(time.RFC3339), sg.Last.Format(time.RFC3339), proven)
	}
	tw.Flush()
	if ev.MoreNetworks > 0 {
		fmt.Fprintf(w, "and %d more networks\n", ev.MoreNetworks)
	}
}

// bansCmd: tollgate bans list|release ID|export.
func (e *env) bansCmd(args []string) error {
	const use = "bans: want list [-all], release ID or export [-format nft|kamcmd|jsonrpc]"
	if len(args) == 0 {
		return usagef(use)
	}
	sub := args[0]
	fs := newFlags("bans "+sub, e)
	dataDir := fs.String("data", "tollgate-data", "data directory")
	all := fs.Bool("all", false, "list: include released and expired bans")
	format := fs.String("format", attack.ExportNFT, "export: nft, kamcmd or jsonrpc")
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (cluster mode: the bans are in its PostgreSQL)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	state, db, err := openState(ctx, cfg, *dataDir, false, (*node.State).Reputation)
	if err != nil {
		return err
	}
	defer state.Close()
	now := time.Now()
	switch sub {
	case "list":
		bs, err := db.Bans(ctx, now, *all)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tIP\tSOURCE\tLEVEL\tCREATED\tEXPIRES\tSTATE\tREASON")
		for _, b := range bs {
			state := "active"
			switch {
			case b.Released:
				state = "released"
			case !b.Active(now):
				state = "expired"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", b.ID, b.IP, b.Source, b.Level, b.Created.Format(time.RFC3339), b.Expires.Format(time.RFC3339), state, b.Reason)
		}
		return tw.Flush()
	case "release":
		if len(pos) != 1 {
			return usagef("bans release: want ID")
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil {
			return usagef("bans release: want a numeric ID, got %q", pos[0])
		}
		b, err := db.ReleaseBan(ctx, id)
		if err != nil {
			return err
		}
		freed := ""
		if b.Freed != "" {
			freed = " and the learned entry " + b.Freed
		}
		fmt.Fprintf(e.stdout, "released ban %d on %s%s (a running server drops it within a second)\n", b.ID, b.IP, freed)
		return nil
	case "export":
		bs, err := db.Bans(ctx, now, false)
		if err != nil {
			return err
		}
		if err := attack.WriteBans(e.stdout, *format, bs, now); err != nil {
			return usagef("%v", err)
		}
		return nil
	}
	return usagef(use)
}
