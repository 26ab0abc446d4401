package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/cluster"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	credis "github.com/tollgate-voip/tollgate/counter/redis"
	"github.com/tollgate-voip/tollgate/detect/pipeline"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// clusterNode is what cluster mode adds to a server: Redis counters and
// change notices, the PostgreSQL store and its spool. A nil *clusterNode
// is the embedded mode (in-process counters, SQLite).
type clusterNode struct {
	cfg      *config.Cluster
	redis    goredis.UniversalClient
	counters *credis.Store
	changes  *cluster.Changes
	pg       *postgres.Store
	spool    *cluster.Spool
	alert    store.Alerter
	log      *slog.Logger
	stop     context.CancelFunc
	done     chan struct{}
}

// openStores opens the node's state (node.Open: SQLite in the data
// directory, or the cluster's PostgreSQL) and its records store and, in
// cluster mode, what a serving node adds: Redis counters and change
// notices, and the spool in front of the records store (returned
// wrapped). A nil *clusterNode is the embedded mode. The caller closes
// the clusterNode, then the state.
func openStores(ctx context.Context, cfg *config.Config, dataDir string, log *slog.Logger) (*node.State, store.Store, *clusterNode, error) {
	state, err := node.Open(ctx, cfg, dataDir, node.Options{Node: cfg.NodeName(), Serving: true, Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := state.Records(ctx)
	if err != nil || !state.Cluster() {
		return state, st, nil, errors.Join(err, closeOnError(err, state))
	}
	n, err := joinCluster(ctx, cfg, dataDir, state.Backend.(*node.Cluster).Postgres(), log)
	if err != nil {
		state.Close()
		return nil, nil, nil, err
	}
	return state, &cluster.Store{Store: st, Changes: n.changes, Spool: n.spool}, n, nil
}

// closeOnError closes state when err is not nil.
func closeOnError(err error, state *node.State) error {
	if err == nil {
		return nil
	}
	return state.Close()
}

// joinCluster connects Redis and opens the records spool of a cluster
// node on the state's PostgreSQL store pg.
func joinCluster(ctx context.Context, cfg *config.Config, dataDir string, pg *postgres.Store, log *slog.Logger) (*clusterNode, error) {
	cc := &cfg.Cluster
	opts, err := redisOptions(cfg) // the PostgreSQL DSN was read when the state opened pg
	if err != nil {
		return nil, err
	}
	name := cfg.NodeName()
	n := &clusterNode{cfg: cc, log: log, done: make(chan struct{}), pg: pg}
	r := cc.Redis
	n.redis = goredis.NewUniversalClient(opts)
	n.counters, err = credis.New(credis.Options{Client: n.redis, Prefix: r.Prefix, Timeout: r.TimeoutMS.Duration(),
		Logger: log, OnState: n.redisState})
	if err != nil {
		n.close()
		return nil, err
	}
	n.changes = cluster.NewChanges(ctx, n.redis, r.Prefix, name, log)
	spoolDir := cc.Postgres.SpoolDir
	if spoolDir == "" {
		spoolDir = filepath.Join(dataDir, "spool")
	}
	if n.spool, err = cluster.OpenSpool(pg, spoolDir, int64(cc.Postgres.SpoolMaxMB)<<20, log); err != nil {
		n.close()
		return nil, err
	}
	// Records a killed node left in its spool go first.
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.spool.Drain(pctx); err != nil {
		log.Warn("cluster: spooled records not yet written", "err", err, "bytes", n.spool.Pending())
	}
	lctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	go n.loop(lctx)
	log.Info("cluster mode", "node", name, "redis", opts.Addrs, "redis_up", n.counters.Up())
	return n, nil
}

// pool is the node's one PostgreSQL connection pool (nil in embedded
// mode), owned by the node's state and borrowed by every domain store.
func (n *clusterNode) pool() *pgxpool.Pool {
	if n == nil {
		return nil
	}
	return n.pg.Pool()
}

// redisOptions says how to reach the configured Redis as the node
// cfg.NodeName().
func redisOptions(cfg *config.Config) (*goredis.UniversalOptions, error) {
	r, node := &cfg.Cluster.Redis, cfg.NodeName()
	password, err := redisPassword(cfg)
	if err != nil {
		return nil, err
	}
	opts := &goredis.UniversalOptions{Addrs: []string{r.Addr}, DB: r.DB, MasterName: r.MasterName,
		DialTimeout: r.TimeoutMS.Duration(), ReadTimeout: r.TimeoutMS.Duration(),
		WriteTimeout: r.TimeoutMS.Duration(), MaxRetries: 1, ClientName: "tollgate-" + node}
	switch {
	case len(r.Sentinels) > 0:
		opts.Addrs = r.Sentinels
	case len(r.ClusterAddrs) > 0:
		opts.Addrs, opts.IsClusterMode = r.ClusterAddrs, true
	}
	opts.Password = password
	return opts, nil
}

// detectorStream is the shared CDR stream of cluster mode: records this
// node sees are published, and the partitions this node owns are fed to
// its detectors. nil in embedded mode.
type detectorStream struct {
	s *cluster.Stream
	c goredis.UniversalClient
}

// openDetectorStream connects the stream (its own connections: blocking
// reads must not hold the counters' pool); the node is cfg.NodeName().
func openDetectorStream(cfg *config.Config, log *slog.Logger) (*detectorStream, error) {
	if !cfg.Cluster.Enabled {
		return nil, nil
	}
	cc := &cfg.Cluster
	opts, err := redisOptions(cfg)
	if err != nil {
		return nil, err
	}
	opts.ReadTimeout = max(opts.ReadTimeout, 2*time.Second)
	opts.ClientName += "-cdr"
	c := goredis.NewUniversalClient(opts)
	d := cc.Detectors
	s, err := cluster.NewStream(cluster.StreamOptions{Client: c, Prefix: cc.Redis.Prefix, Node: cfg.NodeName(), Partitions: d.Partitions,
		Lease: d.LeaseMS.Duration(), ClaimIdle: d.ClaimIdleMS.Duration(),
		Retain: d.RetainS.Duration(), Queue: d.Queue, Logger: log})
	if err != nil {
		c.Close()
		return nil, err
	}
	log.Info("cluster: detectors fed through the shared stream", "stream", s.String())
	return &detectorStream{s: s, c: c}, nil
}

// feed is what the pipeline publishes to (nil in embedded mode).
func (d *detectorStream) feed() pipeline.Feed {
	if d == nil {
		return nil
	}
	return d.s
}

// start feeds the owned partitions to p.
func (d *detectorStream) start(p *pipeline.Pipeline) {
	if d != nil {
		d.s.Start(streamProc{p})
	}
}

// stop stops consuming (before the pipeline closes); close publishes what
// is left (after it).
func (d *detectorStream) stop() {
	if d != nil {
		d.s.Stop()
	}
}

func (d *detectorStream) close() {
	if d != nil {
		d.s.Close()
		d.c.Close()
	}
}

// streamProc hands stream entries to the pipeline.
type streamProc struct{ p *pipeline.Pipeline }

func (sp streamProc) Process(es []cluster.Entry) { sp.p.Apply(items(es), false) }
func (sp streamProc) Warm(es []cluster.Entry)    { sp.p.Apply(items(es), true) }

func items(es []cluster.Entry) []pipeline.Item {
	out := make([]pipeline.Item, len(es))
	for i := range es {
		out[i] = pipeline.Item{Rec: es[i].Rec, Attempt: es[i].Attempt}
	}
	return out
}

// redisState raises an alert when Redis goes away and when it is back.
func (n *clusterNode) redisState(err error) {
	a := n.alert
	if a == nil {
		return
	}
	if err != nil {
		a.Alert(store.Alert{Time: time.Now(), Severity: "critical", Code: "redis_unreachable", Status: "open",
			Text: "shared counters (Redis) unreachable on node " + n.cfg.Node + ": counting locally, tenants' on_error applies"})
		return
	}
	a.Alert(store.Alert{Time: time.Now(), Severity: "info", Code: "redis_recovered", Status: "open",
		Text: "shared counters (Redis) reachable again on node " + n.cfg.Node + "; local counts written back"})
}

// loop drains the spool every second and applies retention daily.
func (n *clusterNode) loop(ctx context.Context) {
	defer close(n.done)
	drain := time.NewTicker(time.Second)
	defer drain.Stop()
	var lastRetention time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-drain.C:
			if n.spool.Pending() > 0 {
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				if err := n.spool.Drain(dctx); err != nil && ctx.Err() == nil {
					n.log.Warn("cluster: spool not drained yet", "err", err, "bytes", n.spool.Pending())
				}
				cancel()
			}
			if now.Sub(lastRetention) > 24*time.Hour {
				lastRetention = now
				p := n.cfg.Postgres
				rctx, cancel := context.WithTimeout(ctx, time.Minute)
				dropped, err := n.pg.Retention(rctx, now, p.RetentionDays.Duration(), time.Duration(p.AuditRetentionYears)*365*24*time.Hour)
				cancel()
				if err != nil {
					lastRetention = now.Add(-23 * time.Hour) // try again in an hour
				} else if len(dropped) > 0 {
					n.log.Info("cluster: retention dropped partitions", "partitions", dropped)
				}
			}
		}
	}
}

// counterStore is the counter store of this mode.
func (n *clusterNode) counterStore() counter.Store {
	if n == nil {
		return counter.NewMemory(0)
	}
	return n.counters
}

// sharedCounters is the counter store shared by the nodes (nil in
// embedded mode): the attack guard counts its failure windows there.
func (n *clusterNode) sharedCounters() counter.Store {
	if n == nil {
		return nil
	}
	return n.counters
}

// changesC delivers notices that blocks or kill switches changed (nil in
// embedded mode: never). Notices about other lists go to noticesC.
func (n *clusterNode) changesC() <-chan struct{} {
	return n.noticesC("blocks", "killswitch")
}

// noticesC delivers notices that one of the lists named changed on some
// node (this one too), coalesced: one value pending at most. nil in
// embedded mode: never.
func (n *clusterNode) noticesC(what ...string) <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.changes.On(what...)
}

// notifier returns what a write path calls after changing the list what:
// it publishes a notice without waiting for Redis (cluster.Changes.Notify).
// nil in embedded mode.
func (n *clusterNode) notifier(what string) func() {
	if n == nil {
		return nil
	}
	c := n.changes
	return func() { c.Notify(what) }
}

func (n *clusterNode) setAlerter(a store.Alerter) {
	if n != nil {
		n.alert = a
	}
}

// close stops the loop, drains the spool one last time and closes the
// Redis connections. The PostgreSQL store belongs to the node's state.
func (n *clusterNode) close() error {
	if n == nil {
		return nil
	}
	var errs []error
	if n.stop != nil {
		n.stop()
		<-n.done
	}
	if n.spool != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.spool.Drain(ctx); err != nil {
			errs = append(errs, fmt.Errorf("spool kept %d bytes for the next start: %w", n.spool.Pending(), err))
		}
		cancel()
		errs = append(errs, n.spool.Close())
	}
	if n.changes != nil {
		errs = append(errs, n.changes.Close())
	}
	if n.counters != nil {
		n.counters.Close()
	}
	if n.redis != nil {
		errs = append(errs, n.redis.Close())
	}
	return errors.Join(errs...)
}

// metrics returns the cluster-mode metrics (nil in embedded mode).
func (n *clusterNode) metrics() prometheus.Collector {
	if n == nil {
		return nil
	}
	return metrics.Set{
		metrics.Gauge("tollgate_cluster_redis_up", "Whether Redis answered the last call.", nil, metrics.Value(func() float64 {
			if n.counters.Stats().Up {
				return 1
			}
			return 0
		})),
		metrics.Counter("tollgate_cluster_redis_round_trips_total", "Round trips to Redis.", nil, metrics.Value(func() float64 { return float64(n.counters.Stats().RoundTrips) })),
		metrics.Counter("tollgate_cluster_counter_fallbacks_total", "Counter writes made locally while Redis was away.", nil, metrics.Value(func() float64 { return float64(n.counters.Stats().Fallbacks) })),
		metrics.Gauge("tollgate_cluster_spool_bytes", "Records waiting on local disk for PostgreSQL.", nil, metrics.Value(func() float64 { return float64(n.spool.Pending()) })),
	}
}

// readiness is what /readyz checks besides the store (nil in embedded
// mode): Redis, without which the shared counters are unreachable and
// tenants' on_error decides every call.
func (n *clusterNode) readiness() []api.Dependency {
	if n == nil {
		return nil
	}
	return []api.Dependency{{Name: "redis", Check: func(ctx context.Context) error {
		return n.redis.Ping(ctx).Err()
	}}}
}

// clusterSecrets checks the cluster's secrets in the environment
// variables the policy names: the PostgreSQL connection string and the
// Redis password ('config check', preflight.go). serve reads each once,
// where it connects: node.DSN when the state opens, redisPassword in
// redisOptions.
func clusterSecrets(cfg *config.Config) error {
	if _, err := node.DSN(cfg); err != nil {
		return err
	}
	_, err := redisPassword(cfg)
	return err
}

// redisPassword is the Redis password from the environment variable
// cluster.redis.password_env names, read at load ("" when it names
// none); a variable named but empty or unset is an error.
func redisPassword(cfg *config.Config) (string, error) {
	r := &cfg.Cluster.Redis
	if r.PasswordEnv != "" && !r.Password.IsSet() {
		return "", cfg.MissingSecret("cluster.redis.password_env", r.PasswordEnv)
	}
	return r.Password.Reveal(), nil
}
