package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-voip/tollgate/agi"
	"github.com/tollgate-voip/tollgate/metrics"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/decisionlog"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/geoip"
	"github.com/tollgate-voip/tollgate/internal/certfile"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/internal/pgschema"
	"github.com/tollgate-voip/tollgate/internal/procs"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/sipfront"
	"github.com/tollgate-voip/tollgate/stir"
	"github.com/tollgate-voip/tollgate/store"
)

func (e *env) serve(args []string) error {
	fs := newFlags("serve", e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (default: the built-in policy; env TOLLGATE_CONFIG)")
	dataDir := fs.String("data", "", "data directory (default: server.data_dir, else ./tollgate-data)")
	listen := fs.String("listen", "", "HTTP API address (default: server.listen, else 127.0.0.1:7080)")
	logJSON := fs.Bool("log-json", false, "log as JSON lines")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve: unexpected argument %q", pos[0])
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(e.stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(e.stderr, nil)
	}
	log := slog.New(h)
	_, autoLimit := applyMemoryLimit(cfg.Server, log)
	*dataDir = dataDirOf(cfg, *dataDir)
	if *listen == "" {
		*listen = cfg.Server.Listen
	}
	if *listen == "" {
		*listen = "127.0.0.1:7080"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if autoLimit {
		go autoMemoryLimit(ctx, autoLimitWarm(cfg.Server), time.Second, log)
	}
	// One P while the process needs little CPU, every P under load or a
	// backlog (internal/procs); not when GOMAXPROCS is set.
	go procs.Run(ctx, procs.Options{Logger: log})
	// SIGHUP reloads the policy (cli/reload.go); caught from here on, it
	// can no longer end the process without the drain below.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	srv, err := Start(ctx, Options{Config: cfg, DataDir: *dataDir, Listen: *listen, Logger: log, Stdout: e.stdout})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			if restart, err := srv.Reload(*cfgPath); err != nil {
				log.Error("config reload refused; the running policy stays", "err", err)
			} else {
				log.Info("config reloaded", "file", *cfgPath, "restart_needed_for", restart)
			}
		}
	}
	log.Info("shutting down: draining the decision log and closing the stores")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// Options configures Start.
type Options struct {
	Config  *config.Config
	DataDir string
	Listen  string
	Logger  *slog.Logger
	// Stdout receives the first-start admin token, once.
	Stdout io.Writer
	// STIR, when set, replaces the verifier built from the stir section
	// (tests use it to relax the x5u SSRF guard for a loopback server).
	STIR *stir.Verifier

	// refreshEvery, when set, replaces the one-second periodic refresh of
	// API tokens, opt-outs, consents and reputation (tests set it long, so
	// a change made on another node can only arrive through its notice).
	refreshEvery time.Duration
	// EventTime runs the node on event time only: its clock is moved by
	// the calls, call events and CDRs it is given and stands still between
	// them, and the work that follows that clock (the call-table sweep,
	// the detectors' watch of running calls, kill-switch expiry) runs as
	// event time passes, not on wall-clock tickers. A drive of recorded or
	// generated traffic in fast event time (bench/fraudeval) sets it to get
	// the same verdicts on every run; a live server leaves it off.
	EventTime bool
	// certCheckEvery, when set, replaces the ten seconds between looks at
	// server.tls_cert/tls_key for a renewed pair (tests).
	certCheckEvery time.Duration
}

// Server is a running tollgate: store, engine, API and background loops.
type Server struct {
	Addr   net.Addr
	Engine *engine.Engine
	Store  store.Store
	// SIP is the SIP front end, nil without sip.listen.
	SIP *sipfront.Server
	// AGI is the FastAGI server for Asterisk dialplans, nil without
	// asterisk.agi_listen.
	AGI *agi.Server
	// geo is the source-country database (nil without attack.geoip_db).
	geo *geoip.DB

	log      *slog.Logger
	cfg      *config.Config
	api      *api.Server
	writer   *decisionlog.Writer
	loopDone chan struct{}
	det      *detection
	sec      *security
	cl       *clusterNode
	anchor   *anchorer // audit anchors (cli/anchor.go); nil when off
	// tokenEvery is how often API tokens are re-read from the store
	// (a second, unless Options.refreshEvery says more; cli/refresh.go);
	// cluster notices reload them at once.
	tokenEvery time.Duration
	ui         *uiParts
	comp       *complianceParts
	siem       *siemParts   // decisions and audit to a SIEM (cli/siem.go); nil when off
	snap       *snapshotter // state snapshots (cli/snapshot.go); nil when off
	// parts are what Start built, closed in reverse by Shutdown.
	parts *node.Parts
}

// Start opens the data directory, builds the engine and starts serving.
// It is the node's composition root: every part is added to one
// node.Parts list as it is built, the list is started in order, and
// Shutdown (or a failed start) closes it in reverse.
func Start(ctx context.Context, o Options) (*Server, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg := o.Config
	if cfg.Cluster.Enabled {
		ctx = pgschema.WhenDown(ctx, log) // start without PostgreSQL (cli/pgdown.go)
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	intel, err := number.New(number.Options{RiskFiles: cfg.Numbers.RiskFiles, RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		return nil, err
	}
	log.Info("number intelligence ready", "build", intel.BuildTime.Round(time.Millisecond))
	var parts node.Parts
	ok := false
	defer func() {
		if !ok {
			parts.Close(context.Background())
		}
	}()
	state, st, cl, err := openStores(ctx, cfg, o.DataDir, log) // SQLite, or PostgreSQL + Redis in cluster mode (cli/cluster.go)
	if err != nil {
		return nil, err
	}
	// The state closes last: every store (and the cluster's one pool)
	// outlives the parts that use it.
	parts.Add("state", node.Closer(state.Close))
	parts.Add("cluster", node.Closer(cl.close))
	var anc *anchorer
	if cfg.Console.AuditAnchorFile != "" {
		key, err := auditKey(cfg.Console.AuditKey, cfg.Console.AuditKeyEnv)
		if err != nil {
			return nil, &config.Error{File: cfg.File, Field: "console.audit_key_env", Msg: err.Error()}
		}
		if anc, err = newAnchorer(st, key, cfg.Console.AuditAnchorFile, o.DataDir, log); err != nil {
			return nil, &config.Error{File: cfg.File, Field: "console.audit_anchor_file", Msg: err.Error()}
		}
	}
	tokens, err := setupTokens(ctx, cfg, st, o.Stdout, log)
	if err != nil {
		return nil, err
	}
	writer := decisionlog.New(st, decisionlog.Options{Logger: log})
	parts.Add("decision log", node.Funcs{CloseFunc: writer.Close})
	live := blocks.NewLive()
	if o.EventTime {
		live = blocks.NewLiveWith(eventclock.New(nil))
	}
	if err := blocks.Refresh(ctx, st, live, time.Now()); startsWithout(err, log, "blocks and kill switches") {
		return nil, fmt.Errorf("reading blocks: %w", err)
	} else if err != nil {
		live.Confirm(time.Unix(0, 0)) // never read: stale, so screening answers per on_error
	}
	// The node's one alert sink (cli/alerts.go): every alert is stored,
	// spooled in the data directory while the store refuses it, and sent
	// to the notifiers; closed after every part that raises alerts.
	alerts, err := openAlerts(cfg, st, filepath.Join(o.DataDir, "alerts.spool"), live.Clock().Now, log)
	if err != nil {
		return nil, err
	}
	parts.Add("alerts", node.Closer(func() error { alerts.close(); return nil }))
	cl.setAlerter(alerts)
	det, err := startDetection(ctx, cfg, state, st, live, alerts, o.DataDir, log) // cli/detect.go
	if err != nil {
		return nil, err
	}
	parts.Add("detection", node.Closer(func() error { det.close(); return nil }))
	ui, err := setupConsole(ctx, cfg, o.DataDir, state, st, log) // cli/console.go
	if err != nil {
		return nil, err
	}
	parts.Add("console", node.Closer(func() error { ui.close(); return nil }))
	ver := o.STIR
	if ver == nil {
		if ver, err = newVerifier(&cfg.STIR); err != nil {
			return nil, err
		}
	}
	sec, err := openSecurity(ctx, cfg, state, o.DataDir, "reputation.jsonl", cl.sharedCounters(), cl.notifier("reputation"), log) // reputation, bans, honeypot: cli/honeypot.go
	if err != nil {
		return nil, err
	}
	sec.notices, sec.every = cl.noticesC("reputation"), o.refreshEvery
	parts.Add("security", node.Funcs{
		StartFunc: func(context.Context) error { return sec.start(intel, cfg.Honeypot.Addr) },
		CloseFunc: func(context.Context) error { return sec.close() }})
	comp, err := setupCompliance(ctx, cfg, state, alerts, log)
	if err != nil {
		return nil, err
	}
	comp.joinCluster(cl)
	comp.every = o.refreshEvery
	// lctx ends the background loops (compliance refresh, s.loops); the
	// "loops" part below cancels it, and closes before compliance.
	lctx, cancel := context.WithCancel(context.Background())
	parts.Add("compliance", node.Funcs{
		StartFunc: func(context.Context) error { return comp.start(lctx, log) },
		CloseFunc: func(context.Context) error { cancel(); comp.close(); return nil }})
	var geo *geoip.DB
	if cfg.Attack.GeoIPDB != "" {
		if geo, err = geoip.Open(cfg.Attack.GeoIPDB); err != nil {
			return nil, &config.Error{File: cfg.File, Field: "attack.geoip_db", Msg: err.Error()}
		}
		parts.Add("geoip", node.Closer(func() error { geo.Close(); return nil }))
	}
	sie, err := startSIEM(cfg, st, log) // cli/siem.go
	if err != nil {
		return nil, err
	}
	parts.Add("siem", node.Closer(func() error { sie.close(); return nil }))
	eng, err := engine.New(engine.Options{
		Config: cfg, Numbers: intel, Recorder: sie.recorder(ui.recorder(det.tee(writer))), Logger: log,
		Env: check.Env{STIR: ver, Counters: cl.counterStore(), Blocks: live, Actions: det.actions(), Limits: det.limits(),
			Alerter: alerts, Timezones: number.Timezones, Compliance: comp.live, Reputation: sec.live, GeoIP: geo},
		MaxClockSkew: cfg.Server.ClockSkew(),
	})
	if err != nil {
		return nil, err
	}
	det.bind(eng)
	snap, err := restoreState(ctx, eng, st, o.DataDir, log) // snapshot + the log's tail (cli/snapshot.go)
	if err != nil {
		return nil, err
	}
	// Closed after the loops and front ends, before the decision log: a
	// last snapshot, so the next start replays almost nothing.
	parts.Add("state snapshots", node.Funcs{
		StartFunc: func(context.Context) error { snap.start(); return nil },
		CloseFunc: func(context.Context) error { snap.close(); return nil }})
	acks := newDurableAcks(writer, log) // a screening is answered once its decision is stored (cli/durable.go)
	a := api.New(api.Options{Engine: eng, Store: st, Logger: log, Detection: det.apiOptions(), Compliance: comp.api(), Dependencies: cl.readiness(), TokensChanged: cl.notifier("tokens"), Durable: acks.wait, Health: func() map[string]any {
		ws := writer.Stats()
		dl := map[string]any{"queued": ws.Queued, "written": ws.Written, "dropped": ws.Dropped, "failed_batches": ws.FailedBatches}
		out := map[string]any{"decision_log": dl}
		if ss := sie.stats(); ss != nil {
			out["siem"] = ss
		}
		if ws.LastError != nil {
			dl["last_error"] = ws.LastError.Error()
			dl["last_error_time"] = ws.LastErrorTime
			if ws.Queued > 0 && time.Since(ws.LastErrorTime) < time.Minute {
				out["status"] = "degraded"
			}
		}
		return out
	}, Metrics: metrics.Set{
		metrics.Counter("tollgate_decisionlog_records_total", "Decision-log records by outcome.", []string{"outcome"}, func(emit metrics.Emit) {
			ws := writer.Stats()
			emit(float64(ws.Written), "written")
			emit(float64(ws.Dropped), "dropped")
		}),
		metrics.Gauge("tollgate_decisionlog_queued", "Records waiting to be written.", nil, metrics.Value(func() float64 { return float64(writer.Stats().Queued) })),
		acks.metrics(), cl.metrics(), sec.metrics(), comp.metrics(), ui.metrics(), sie.metrics(), snap.metrics(), panics.Collector,
	}})
	a.SetTokens(tokens)
	sec.enableAPI(a)
	voiceStop, err := startVoice(ctx, cfg, o.DataDir, state, st, alerts, a, log)
	if err != nil {
		return nil, err
	}
	parts.Add("voice", node.Closer(func() error { voiceStop(); return nil }))
	s := &Server{Addr: nil, Engine: eng, Store: st, log: log, cfg: cfg, api: a, writer: writer, loopDone: make(chan struct{}), det: det, cl: cl, ui: ui, geo: geo}
	s.anchor = anc
	s.tokenEvery = o.refreshEvery
	s.sec = sec
	s.comp = comp
	s.siem = sie
	s.snap = snap
	loopsStarted := false
	parts.Add("loops", node.Funcs{
		StartFunc: func(context.Context) error { loopsStarted = true; go s.loops(lctx, live); return nil },
		CloseFunc: func(context.Context) error {
			cancel()
			if loopsStarted {
				<-s.loopDone
			}
			return nil
		}})
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if cfg.Server.TLSCert != "" {
		pair, err := certfile.Load(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			ln.Close()
			return nil, &config.Error{File: cfg.File, Field: "server.tls_cert", Msg: err.Error()}
		}
		if o.certCheckEvery > 0 {
			pair.CheckEvery = o.certCheckEvery
		}
		ln, scheme = tls.NewListener(ln, pair.Config()), "https"
	}
	s.Addr = ln.Addr()
	// panics.Handler catches what the API's and console's own recovers
	// cannot (the dispatch in front of them); each is counted by component.
	hs := &http.Server{Handler: panics.Handler(panics.HTTP, log, ui.mount(a, eng, st)), ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	hs.RegisterOnShutdown(ui.stop)
	parts.Add("http", node.Funcs{
		StartFunc: func(context.Context) error {
			go func() {
				if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server", "err", err)
				}
			}()
			return nil
		},
		CloseFunc: func(ctx context.Context) error {
			err := hs.Shutdown(ctx)
			ln.Close() // when Serve never ran
			return err
		}})
	if cfg.Asterisk.AGIListen != "" {
		s.AGI = agi.New(agi.Options{Engine: eng, Tenant: cfg.Asterisk.Tenant, Allow: cfg.Asterisk.Allow, PINs: cfg.Asterisk.PINs,
			PINMaxFailures: cfg.Asterisk.PINMaxFailures, PINLock: cfg.Asterisk.PINLockS.Duration(), Logger: log})
		agiStarted := false
		parts.Add("fastagi", node.Funcs{
			StartFunc: func(context.Context) error {
				if err := s.AGI.Listen(cfg.Asterisk.AGIListen); err != nil {
					return fmt.Errorf("asterisk.agi_listen: %w", err)
				}
				agiStarted = true
				log.Info("fastagi server serving", "listen", s.AGI.Addr().String())
				return nil
			},
			CloseFunc: func(context.Context) error {
				if !agiStarted {
					return nil
				}
				return s.AGI.Close()
			}})
	}
	if len(cfg.SIP.Listen) > 0 {
		if s.SIP, err = sipfront.New(sipfront.Options{Config: &cfg.SIP, Engine: eng, Logger: log,
			// The front end reports to the honeypot's guard: same windows, thresholds and trust.
			Reporter: sec.guard, ScannerUAs: sec.guard.Policy().ScannerUAs,
			ScreeningWaits: cl != nil}); err != nil { // cluster mode: screening waits on the shared counters
			return nil, err
		}
		parts.Add("sip", node.Funcs{
			StartFunc: func(context.Context) error {
				if err := s.SIP.Start(context.Background()); err != nil {
					return err
				}
				log.Info("sip front end serving", "mode", cfg.SIP.Mode, "listen", cfg.SIP.Listen)
				if s.SIP.Proxying() {
					a.EnableCallControl(s.SIP) // live-call routes (api/calls.go)
					if det != nil {
						det.act.AddEnder(proxyEnder{s.SIP}) // in-call findings tear calls down (BYE both legs)
					}
				}
				return nil
			},
			CloseFunc: func(context.Context) error { return s.SIP.Close() }})
	}
	if err := parts.Start(ctx); err != nil {
		return nil, err
	}
	s.parts = &parts
	log.Info("tollgate serving", "api", scheme+"://"+ln.Addr().String(), "data", o.DataDir, "tenants", len(cfg.Tenants), "version", Version)
	ui.announce(scheme, ln.Addr(), o.Stdout)
	ok = true
	return s, nil
}

// restore rebuilds counters and live calls from the last day of the
// decision log (30 days when a monthly distinct-callee limit is on).
func restore(ctx context.Context, eng *engine.Engine, st store.Store, log *slog.Logger) error {
	since := time.Now().Add(-restoreWindow(eng))
	ds, err := st.DecisionsSince(ctx, since)
	if err != nil {
		if !startsWithout(err, log, "the decision log's last day (calls screened then are not in the call table)") {
			return nil
		}
		return fmt.Errorf("reading the decision log: %w", err)
	}
	es, err := st.CallEventsSince(ctx, since)
	if err != nil {
		return fmt.Errorf("reading call events: %w", err)
	}
	t0 := time.Now()
	calls, events := eng.Restore(ctx, ds, es)
	eng.Sweep(time.Now())
	if calls > 0 || events > 0 {
		log.Info("counters restored from the decision log", "calls", calls, "events", events, "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

func tenantsOf(c *config.Config) []*config.Tenant {
	out := make([]*config.Tenant, 0, len(c.Tenants))
	for _, t := range c.Tenants {
		out = append(out, t)
	}
	return out
}

// ReloadTokens re-reads API tokens from the configuration and the store,
// so tokens added with 'tollgate token add' (or by another node) work
// without a restart.
func (s *Server) ReloadTokens(ctx context.Context) error {
	ts, err := tokens(ctx, s.cfg, s.Store)
	if err != nil {
		return err
	}
	s.api.SetTokens(ts)
	return nil
}

func tokens(ctx context.Context, cfg *config.Config, st store.Tokens) (map[string]api.Principal, error) {
	ts := map[string]api.Principal{}
	for _, t := range cfg.Server.Tokens {
		hash := t.SHA256
		if t.SecretEnv != "" {
			if !t.Secret.IsSet() {
				return nil, cfg.MissingSecret("server.tokens."+t.Name+".secret_env", t.SecretEnv)
			}
			hash = api.HashToken(t.Secret.Reveal())
		}
		ts[hash] = api.Principal{Name: t.Name, Role: api.Role(t.Role), Config: true}
	}
	if st == nil {
		return ts, nil
	}
	stored, err := st.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range stored {
		if !t.Revoked.IsZero() {
			continue
		}
		ts[t.Hash] = api.Principal{Name: t.Name, Role: api.Role(t.Role), Expires: t.Expires}
	}
	return ts, nil
}

// setupTokens merges config and stored tokens; on the very first start,
// with none anywhere, it makes an admin token, prints it once and keeps
// only its hash.
func setupTokens(ctx context.Context, cfg *config.Config, st store.Store, out io.Writer, log *slog.Logger) (map[string]api.Principal, error) {
	ts, err := tokens(ctx, cfg, st)
	if err != nil && !startsWithout(err, log, "stored API tokens (the configured ones work)") {
		return tokens(ctx, cfg, nil) // the refresh loop reads the stored ones once PostgreSQL answers
	}
	if err != nil || len(ts) > 0 {
		return ts, err
	}
	// Only a store that never had a token gets the first-start admin
	// token: revoking every token must not mint a new one on restart.
	if all, err := st.ListTokens(ctx); err != nil || len(all) > 0 {
		return ts, err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	t := store.Token{Name: "admin", Role: "admin", Hash: api.HashToken(secret), Created: time.Now().UTC()}
	if err := st.PutToken(ctx, t); err != nil {
		return nil, err
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: "tollgate", Action: "token.create", Object: "token/admin", Details: []byte(`{"role":"admin","first_start":true}`)}); err != nil {
		return nil, err
	}
	if out != nil {
		fmt.Fprintf(out, "\nFirst start: created an admin API token. It is shown only this once; tollgate keeps only its hash.\n\n    TOLLGATE_TOKEN=%s\n\n", secret)
	}
	log.Warn("first start: created the admin API token (printed once on stdout, not logged)")
	ts[t.Hash] = api.Principal{Name: t.Name, Role: api.Role(t.Role)}
	return ts, nil
}

// tokenUseEvery is how often the last use of API tokens goes to the
// store: one batched write, never one per request.
const tokenUseEvery = 10 * time.Second

// FlushTokenUse writes the last use of the tokens used since the last
// flush to the store (serve does it every tokenUseEvery and at shutdown).
func (s *Server) FlushTokenUse(ctx context.Context) error {
	return s.Store.TouchTokens(ctx, s.api.TokenUse())
}

// NewSecret returns a fresh random token secret.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "tg_" + base64.RawURLEncoding.EncodeToString(b), nil
}

func (s *Server) loops(ctx context.Context, live *blocks.Live) {
	defer close(s.loopDone)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, l := range s.refreshLoops(live) { // cli/refresh.go
		wg.Add(1)
		go func() { defer wg.Done(); l.Start(ctx) }()
	}
	tick := time.NewTicker(time.Second)
	sweep := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	defer sweep.Stop()
	lastFlush := time.Now()
	for {
		select {
		case <-ctx.Done():
			if err := s.FlushTokenUse(context.Background()); err != nil {
				s.log.Error("recording token use", "err", err)
			}
			s.anchorAudit(context.Background())
			return
		case now := <-tick.C:
			if now.Sub(lastFlush) >= tokenUseEvery {
				lastFlush = now
				if err := s.FlushTokenUse(ctx); err != nil && ctx.Err() == nil {
					s.log.Error("recording token use", "err", err)
				}
			}
			s.anchorAudit(ctx)
		case now := <-sweep.C:
			s.ui.prune(now)
			// Calls expire in event time (eventclock): a drive of history
			// must not lose its calls to the wall clock.
			if s.Engine.Clock().EventOnly() {
				continue // the engine sweeps as event time passes (Options.EventTime)
			}
			if n := s.Engine.SweepDue(); n > 0 {
				s.log.Warn("expired calls that never ended", "calls", n)
			}
		}
	}
}

// anchorAudit writes an audit anchor if the log has grown.
func (s *Server) anchorAudit(ctx context.Context) {
	if s.anchor == nil {
		return
	}
	if err := s.anchor.tick(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("writing the audit anchor", "err", err, "file", s.anchor.file)
	}
}

// Shutdown stops serving, writes every pending decision and closes the
// stores: the parts Start built, in reverse order (front ends, the HTTP
// server, the background loops, the domain parts, the decision log, the
// cluster's Redis side, and last the node's state with its stores).
func (s *Server) Shutdown(ctx context.Context) error {
	return s.parts.Close(ctx)
}
