package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tollgate-voip/tollgate/attackgen"
)

// traceCall is one call of a trace: the call as planned and what the
// server made of it.
type traceCall struct {
	*attackgen.Call
	Action   string  `json:"outcome"`
	Reason   string  `json:"reason,omitempty"`
	Happened bool    `json:"happened"`
	Cut      bool    `json:"cut,omitempty"`
	Paid     float64 `json:"paid"`
	Week     bool    `json:"attack_week"` // in the scored week
}

// writeTrace writes DIR/seed-N-policy.jsonl: every attack call, every
// legitimate call refused or challenged, then every alert (diagnosis; the
// scores never read it).
func writeTrace(dir string, sc *attackgen.Scenario, policy string, outs []Outcome, alerts []Alert) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("seed-%d-%s.jsonl", sc.Seed, policy)))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range sc.Calls {
		c, o := &sc.Calls[i], &outs[i]
		if c.Label == attackgen.Legit && o.Action != "reject" && o.Action != "honeypot" && o.Action != "challenge" {
			continue
		}
		if err := enc.Encode(traceCall{Call: c, Action: o.Action, Reason: o.Reason, Happened: o.Happened, Cut: o.Cut, Paid: round2(o.Cost), Week: !c.Start.Before(sc.AttackStart)}); err != nil {
			f.Close()
			return err
		}
	}
	for _, a := range alerts {
		if err := enc.Encode(map[string]any{"alert": a, "attack_week": !a.Time.Before(sc.AttackStart)}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
