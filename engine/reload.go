package engine

import (
	"github.com/tollgate-voip/tollgate/config"
)

// policy is one configuration and the per-tenant chains built from it.
type policy struct {
	cfg      *config.Config
	tenants  map[string]*tenant
	defaults *tenant
}

// compile builds the chains of every tenant of cfg.
func (e *Engine) compile(cfg *config.Config) (*policy, error) {
	p := &policy{cfg: cfg, tenants: make(map[string]*tenant, len(cfg.Tenants))}
	var err error
	if p.defaults, err = e.build(cfg, cfg.Defaults); err != nil {
		return nil, err
	}
	for name, t := range cfg.Tenants {
		if p.tenants[name], err = e.build(cfg, t); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Reload replaces the policy the engine screens with: tenants, their
// limits and checks, and the system section. The new chains are built
// before anything changes, so an error leaves the running policy whole;
// a screening in progress finishes under the policy it started with.
// Counters, live calls and blocks are kept. The engine's server settings
// (max_in_flight, stale_call_after_s, call_setup_s, state_max_age_s) keep
// the values read at New.
func (e *Engine) Reload(cfg *config.Config) error {
	p, err := e.compile(cfg)
	if err != nil {
		return err
	}
	e.pol.Store(p)
	return nil
}
