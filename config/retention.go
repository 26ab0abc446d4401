package config

// Retention is how long an embedded node keeps its records (a cluster
// keeps its own: cluster.postgres.retention_days). The audit log is kept
// whole in embedded mode, which honours console.audit_retention_days
// (seven years by default) at any age.
type Retention struct {
	// DecisionsDays keeps the decision log this many days (default 400;
	// 0 keeps all; at least 32, so a monthly limit can be rebuilt).
	// Whole hour-long segment files are dropped, so up to an hour more is
	// kept.
	DecisionsDays Days `yaml:"decisions_days"`
	// CallEventsDays keeps answer and end events (default 400; 0 keeps
	// all; at least 32).
	CallEventsDays Days `yaml:"call_events_days"`
	// AlertsDays keeps alerts that are acknowledged or resolved (default
	// 400; 0 keeps all); an open alert is kept until someone handles it.
	AlertsDays Days `yaml:"alerts_days"`
}

func (p *parser) retention(r *Retention, ln map[string]int) {
	for _, f := range []struct {
		key  string
		v    *Days
		min_ int
	}{
		{"decisions_days", &r.DecisionsDays, 32},
		{"call_events_days", &r.CallEventsDays, 32},
		{"alerts_days", &r.AlertsDays, 1},
	} {
		key := "server.retention." + f.key
		line, set := ln[key]
		if !set {
			*f.v = 400
			continue
		}
		if *f.v != 0 && (*f.v < Days(f.min_) || *f.v > 36500) {
			p.errorf(line, key, "want 0 (keep all) or %d to 36500 days", f.min_)
		}
	}
}
