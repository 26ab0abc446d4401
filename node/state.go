package node

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
	"github.com/tollgate-voip/tollgate/store/sqlite"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// openTimeout bounds opening one domain store (schema set-up included).
const openTimeout = 30 * time.Second

// State is a node's opened state: its Backend and each domain's store,
// opened at most once, on first use. Close closes them in the reverse
// order of opening, the backend last. A State is meant for one goroutine
// (start-up and sub-commands).
type State struct {
	Backend Backend

	records store.Store
	domains map[string]any // by Domain.Name
	closers []func() error
}

// Open returns the state cfg asks for (OpenBackend); nothing but the
// backend is opened yet.
func Open(ctx context.Context, cfg *config.Config, dataDir string, o Options) (*State, error) {
	b, err := OpenBackend(ctx, cfg, dataDir, o)
	if err != nil {
		return nil, err
	}
	return NewState(b), nil
}

// NewState returns the state of b, which it owns from here on.
func NewState(b Backend) *State { return &State{Backend: b, domains: map[string]any{}} }

// Cluster tells whether the state is shared by several nodes.
func (s *State) Cluster() bool { return s.Backend.Cluster() }

// Domain is how each backend opens one domain's store: SQLite from its
// own file in the data directory, PostgreSQL on the node's pool.
type Domain[T interface{ Close() error }] struct {
	Name     string // one store per name and State
	File     string // in the data directory
	SQLite   func(path string) (T, error)
	Postgres func(ctx context.Context, pool *pgxpool.Pool) (T, error)
}

// OpenDomain returns d's store in s, opening it through s's backend on
// first use (bounded by openTimeout, schema set-up included); s closes
// it.
func OpenDomain[T interface{ Close() error }](ctx context.Context, s *State, d Domain[T]) (T, error) {
	if v, ok := s.domains[d.Name]; ok {
		return v.(T), nil
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	var v T
	var err error
	if pool := s.Backend.Pool(); pool != nil {
		v, err = d.Postgres(ctx, pool)
	} else {
		v, err = d.SQLite(s.Backend.Path(d.File))
	}
	if err != nil {
		var zero T
		return zero, err
	}
	s.domains[d.Name] = v
	s.closers = append(s.closers, v.Close)
	return v, nil
}

// Records returns the records store: decisions, call events, blocks,
// alerts, tokens and the audit chain.
func (s *State) Records(ctx context.Context) (store.Store, error) {
	if s.records != nil {
		return s.records, nil
	}
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	st, err := s.Backend.Records(ctx)
	if err != nil {
		return nil, err
	}
	s.records = st
	s.closers = append(s.closers, st.Close)
	return st, nil
}

// Compliance returns the opt-out and consent store (compliance.db).
func (s *State) Compliance(ctx context.Context) (ComplianceStore, error) {
	return OpenDomain(ctx, s, Domain[ComplianceStore]{Name: "compliance", File: ComplianceFile,
		SQLite: func(p string) (ComplianceStore, error) { return sqlite.OpenCompliance(p) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (ComplianceStore, error) {
			return postgres.NewCompliance(ctx, pool)
		}})
}

// Users returns the console's users and sessions (console.db).
func (s *State) Users(ctx context.Context) (auth.Store, error) {
	return OpenDomain(ctx, s, Domain[auth.Store]{Name: "users", File: UsersFile,
		SQLite:   func(p string) (auth.Store, error) { return sqlite.OpenUsers(p) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (auth.Store, error) { return postgres.NewUsers(ctx, pool) }})
}

// Reputation returns the reputation database (its own tables in
// tollgate.db).
func (s *State) Reputation(ctx context.Context) (ReputationDB, error) {
	return OpenDomain(ctx, s, Domain[ReputationDB]{Name: "reputation", File: RecordsFile,
		SQLite: func(p string) (ReputationDB, error) { return sqlite.OpenReputation(p) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (ReputationDB, error) {
			return postgres.NewReputation(ctx, pool)
		}})
}

// Voice returns the voiceprint store (voice.db), sealed with keys (the
// keys of the first call stay).
func (s *State) Voice(ctx context.Context, keys *vstore.Keys) (VoiceStore, error) {
	return OpenDomain(ctx, s, Domain[VoiceStore]{Name: "voice", File: VoiceFile,
		SQLite: func(p string) (VoiceStore, error) { return sqlite.OpenVoice(p, keys) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (VoiceStore, error) {
			return postgres.NewVoice(ctx, pool, keys)
		}})
}

// Actions returns the detector action store (actions.db).
func (s *State) Actions(ctx context.Context) (ActionStore, error) {
	return OpenDomain(ctx, s, Domain[ActionStore]{Name: "actions", File: ActionsFile,
		SQLite: func(p string) (ActionStore, error) { return sqlite.OpenActions(p) },
		Postgres: func(ctx context.Context, pool *pgxpool.Pool) (ActionStore, error) {
			return postgres.NewActions(ctx, pool)
		}})
}

// Close closes every store opened, last opened first, then the backend.
func (s *State) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	errs = append(errs, s.Backend.Close())
	return errors.Join(errs...)
}
