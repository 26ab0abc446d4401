package node

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// openTimeout bounds opening one domain store (schema set-up included).
const openTimeout = 30 * time.Second

// State is a node's opened state: its Backend and each domain's store,
// opened at most once, on first use. Close
// closes them in the reverse order of opening, the backend last. A State
// is meant for one goroutine (start-up and sub-commands).
type State struct {
	Backend Backend

	records    store.Store
	compliance ComplianceStore
	users      auth.Store
	reputation ReputationDB
	voice      VoiceStore
	actions    ActionStore
	closers    []func() error
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
func NewState(b Backend) *State { return &State{Backend: b} }

// Cluster tells whether the state is shared by several nodes.
func (s *State) Cluster() bool { return s.Backend.Cluster() }

// opened registers what a domain store's Close does.
func opened[T interface{ Close() error }](s *State, slot *T, open func(context.Context) (T, error), ctx context.Context) (T, error) {
	var zero T
	if any(*slot) != nil {
		return *slot, nil
	}
	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	v, err := open(octx)
	if err != nil {
		return zero, err
	}
	*slot = v
	s.closers = append(s.closers, v.Close)
	return v, nil
}

// Records returns the records store: decisions, call events, blocks,
// alerts, tokens and the audit chain.
func (s *State) Records(ctx context.Context) (store.Store, error) {
	return opened(s, &s.records, s.Backend.Records, ctx)
}

// Compliance returns the opt-out and consent store.
func (s *State) Compliance(ctx context.Context) (ComplianceStore, error) {
	return opened(s, &s.compliance, s.Backend.Compliance, ctx)
}

// Users returns the console's users and sessions.
func (s *State) Users(ctx context.Context) (auth.Store, error) {
	return opened(s, &s.users, s.Backend.Users, ctx)
}

// Reputation returns the reputation database.
func (s *State) Reputation(ctx context.Context) (ReputationDB, error) {
	return opened(s, &s.reputation, s.Backend.Reputation, ctx)
}

// Voice returns the voiceprint store, sealed with keys (the keys of the
// first call stay).
func (s *State) Voice(ctx context.Context, keys *vstore.Keys) (VoiceStore, error) {
	return opened(s, &s.voice, func(ctx context.Context) (VoiceStore, error) { return s.Backend.Voice(ctx, keys) }, ctx)
}

// Actions returns the detector action store.
func (s *State) Actions(ctx context.Context) (ActionStore, error) {
	return opened(s, &s.actions, s.Backend.Actions, ctx)
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
