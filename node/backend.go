// Package node builds a tollgate node: it opens the node's state once
// through one Backend (Embedded: SQLite files in the data directory;
// Cluster: one PostgreSQL pool shared by every domain) and runs the
// node's parts as Components, started in order and closed in reverse.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/sqlite"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// The files of an embedded node's data directory.
const (
	RecordsFile    = "tollgate.db" // records, and the reputation tables
	ComplianceFile = "compliance.db"
	UsersFile      = "console.db"
	VoiceFile      = "voice.db"
	ActionsFile    = "actions.db"
)

// ComplianceStore is where opt-outs and consents are kept.
type ComplianceStore interface {
	compliance.Store
	Close() error
}

// ReputationDB is the reputation database: entries, bans, lockouts and
// honeypot events.
type ReputationDB interface {
	reputation.Store
	reputation.BatchUpserter
	reputation.Versioned
	honeypot.EventStore
	Purge(ctx context.Context, now time.Time, keepBans time.Duration) (int64, error)
	Close() error
}

// VoiceStore is where voiceprints live; both backends can re-seal them
// with the current key.
type VoiceStore interface {
	vstore.Store
	Rekey(ctx context.Context) (int, error)
}

// ActionStore is where detector actions live.
type ActionStore interface {
	action.Store
	Close() error
}

// A Backend is where one node's state lives. Records opens the records
// store (a new handle the caller closes); every other domain's store is
// opened through a Domain (OpenDomain): from its file at Path in the
// data directory, or on Pool when the state is a cluster's. Close
// releases what the backend itself holds (the cluster's pool), after the
// handles.
type Backend interface {
	// Cluster tells whether the state is shared by several nodes.
	Cluster() bool
	Records(ctx context.Context) (store.Store, error)
	// Path is where an embedded node keeps the file name ("" in a cluster).
	Path(name string) string
	// Pool is a cluster's PostgreSQL pool (nil when embedded).
	Pool() *pgxpool.Pool
	Close() error
}

var (
	_ Backend = Embedded{}
	_ Backend = (*Cluster)(nil)
)

// ErrNoState is returned by Open with Options.MustExist when the data
// directory holds no records database.
var ErrNoState = errors.New("no tollgate database")

// Embedded is the state of a single node: SQLite files in Dir, and the
// decision and call-event log in segment files under Dir/records
// (decisionlog/seglog).
type Embedded struct {
	Dir string
	// Retention prunes the decision log, call events and alerts.
	Retention config.Retention
	// Serving opens the decision log for writing (the serving process);
	// otherwise it is opened read-only, for queries beside a running
	// server (sub-commands).
	Serving bool
	Logger  *slog.Logger
}

// Cluster reports false.
func (Embedded) Cluster() bool { return false }

// Path is name in the data directory.
func (e Embedded) Path(name string) string { return filepath.Join(e.Dir, name) }

// Pool is nil: an embedded node has no PostgreSQL.
func (Embedded) Pool() *pgxpool.Pool { return nil }

// RecordsDir is where an embedded node's decision and call-event log
// lives, beside tollgate.db.
func RecordsDir(dataDir string) string { return filepath.Join(dataDir, "records") }

// Records opens tollgate.db (blocks, kill switches, alerts, the audit log,
// tokens) with the decision and call-event log in segment files, pruned
// per Retention.
func (e Embedded) Records(ctx context.Context) (store.Store, error) {
	db, err := sqlite.Open(e.Path(RecordsFile))
	if err != nil {
		return nil, err
	}
	l, err := seglog.Open(RecordsDir(e.Dir), seglog.Options{ReadOnly: !e.Serving, DeferSync: e.Serving, Logger: e.Logger}) // decisionlog.Writer syncs
	if err != nil {
		db.Close()
		return nil, err
	}
	r := e.Retention
	st, err := seglog.Wrap(ctx, db, l, seglog.Policy{Decisions: r.DecisionsDays.Duration(),
		Events: r.CallEventsDays.Duration(), Alerts: r.AlertsDays.Duration()}, e.Logger)
	if err != nil {
		return nil, errors.Join(err, l.Close(), db.Close())
	}
	return st, nil
}

// Close does nothing: every file belongs to its handle.
func (Embedded) Close() error { return nil }

// Cluster is the state shared by the nodes of a cluster: one PostgreSQL
// database reached through one pool, owned by the records store and
// borrowed by every other domain's store.
type Cluster struct {
	pg *postgres.Store
}

// OpenCluster connects to the database named by dsn, with the pool tuned
// by o, and brings the records schema up to date.
func OpenCluster(ctx context.Context, dsn string, o postgres.Options) (*Cluster, error) {
	pg, err := postgres.OpenWith(ctx, dsn, o)
	if err != nil {
		return nil, err
	}
	return &Cluster{pg: pg}, nil
}

// Cluster reports true.
func (*Cluster) Cluster() bool { return true }

// Pool is the node's one PostgreSQL pool.
func (c *Cluster) Pool() *pgxpool.Pool { return c.pg.Pool() }

// Postgres is the records store that owns the pool.
func (c *Cluster) Postgres() *postgres.Store { return c.pg }

// Records returns the records store. Its Close does nothing: the pool is
// closed by the backend's Close.
func (c *Cluster) Records(context.Context) (store.Store, error) {
	return borrowed{c.pg}, nil
}

// borrowed is the cluster's records store handed out without its Close.
type borrowed struct{ *postgres.Store }

func (borrowed) Close() error { return nil }

// Path is "": a cluster keeps no files.
func (*Cluster) Path(string) string { return "" }

// Close closes the pool.
func (c *Cluster) Close() error { return c.pg.Close() }

// Options says how Open reaches the state.
type Options struct {
	// Node names this node to PostgreSQL (application_name tollgate-Node).
	Node string
	// Serving opens the embedded decision log for writing: the serving
	// process, not a sub-command.
	Serving bool
	// Logger receives the embedded decision log's notices; may be nil.
	Logger *slog.Logger
	// MustExist refuses (ErrNoState) an embedded data directory without
	// tollgate.db instead of creating one: a mistyped -data must not pass
	// for an empty store.
	MustExist bool
}

// DSN is the PostgreSQL connection string of cluster mode, read (when
// the policy was loaded) from the environment variable
// cluster.postgres.dsn_env names.
func DSN(cfg *config.Config) (string, error) {
	g := &cfg.Cluster.Postgres
	if !g.DSN.IsSet() {
		return "", cfg.MissingSecret("cluster.postgres.dsn_env", g.DSNEnv)
	}
	return g.DSN.Reveal(), nil
}

// OpenBackend returns the backend cfg asks for: Cluster when
// cluster.enabled, else Embedded in dataDir. It is the one place that
// makes that choice.
func OpenBackend(ctx context.Context, cfg *config.Config, dataDir string, o Options) (Backend, error) {
	if !cfg.Cluster.Enabled {
		if o.MustExist {
			db := filepath.Join(dataDir, RecordsFile)
			if _, err := os.Stat(db); err != nil {
				return nil, fmt.Errorf("%w at %s (is -data right?): %w", ErrNoState, db, err)
			}
		}
		return Embedded{Dir: dataDir, Retention: cfg.Server.Retention, Serving: o.Serving, Logger: o.Logger}, nil
	}
	dsn, err := DSN(cfg)
	if err != nil {
		return nil, err
	}
	po := postgres.Options{MaxConns: int32(cfg.Cluster.Postgres.MaxConns)}
	if o.Node != "" {
		po.ApplicationName = "tollgate-" + o.Node
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return OpenCluster(pctx, dsn, po)
}
