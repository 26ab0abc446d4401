package config

import (
	"strings"
	"testing"
)

const retentionBase = "defaults:\n  country: US\n  on_error: fail_closed\n"

func TestRetention(t *testing.T) {
	c, err := Parse("p.yaml", []byte(retentionBase+"server:\n  listen: 127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Server.Retention; r.DecisionsDays != 400 || r.CallEventsDays != 400 || r.AlertsDays != 400 {
		t.Errorf("default retention = %+v, want 400 days each", r)
	}
	c, err = Parse("p.yaml", []byte(retentionBase+"server:\n  retention:\n    decisions_days: 0\n    call_events_days: 60\n    alerts_days: 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Server.Retention; r.DecisionsDays != 0 || r.CallEventsDays != 60 || r.AlertsDays != 7 {
		t.Errorf("retention = %+v", r)
	}
	_, err = Parse("p.yaml", []byte(retentionBase+"server:\n  retention:\n    decisions_days: 3\n"))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:6") || !strings.Contains(err.Error(), "server.retention.decisions_days") {
		t.Errorf("3 days: %v, want an error at p.yaml:3 naming the key", err)
	}
}
