package all_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// Every step's name is the Name of the detector it builds; a detector
// that is off is left out.
func TestOrderNames(t *testing.T) {
	d := config.DefaultDetect()
	on := true
	d.UnusualHour.Enabled = &on // the one detector off by default
	got := all.Build(&d, nil)
	if len(got) != len(all.Order) {
		t.Fatalf("built %d detectors; want all %d", len(got), len(all.Order))
	}
	for i, x := range got {
		if x.Name() != all.Order[i].Name {
			t.Errorf("detector %d is %q; want %q", i, x.Name(), all.Order[i].Name)
		}
	}
	off := false
	d.Wangiri.Enabled = &off
	if names := names(all.Build(&d, nil)); slices.Contains(names, "wangiri") || len(names) != len(all.Order)-1 {
		t.Errorf("with wangiri off: %q", names)
	}
}

func names(ds []detect.Detector) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name())
	}
	return out
}

// The recipe "add a detector" of docs/architecture.md, followed once:
//  1. config/detect.go: the rule type, embedding config.Rule inline, a
//     field of config.Detect and its default (here longRingRule, decoded
//     from YAML below);
//  2. detect/<name>/<name>.go: New (nil when off), Name, Observe (here
//     the longRing type);
//  3. its line in detect/all/all.go (here appended to a copy of
//     all.Order).
type longRingRule struct {
	config.Rule `yaml:",inline"`
	// MinS is the shortest ring that raises it (seconds).
	MinS int `yaml:"min_s"`
}

type longRing struct{ cfg *longRingRule }

func newLongRing(cfg *longRingRule) *longRing {
	if !cfg.On() {
		return nil
	}
	return &longRing{cfg: cfg}
}

func (*longRing) Name() string { return "long_ring" }

func (l *longRing) Observe(c *detect.Call, ts time.Time, emit detect.Emit) {
	if ring := c.Rec.Duration - c.Rec.Billsec; ring >= l.cfg.MinS {
		f := detect.Finding{Detector: l.Name(), Code: "long_ring", Subject: c.Dest.E164, Text: "rang long", Time: ts}
		detect.Apply(&f, &l.cfg.Rule, c, detect.Target{Kind: "number", Value: c.Far()})
		emit(f)
	}
}

func TestRecipeAddADetector(t *testing.T) {
	var rule longRingRule
	src := "action: block_and_alert\nblock: destination\nexpires_s: 600\nseverity: critical\nmin_s: 40\n"
	if err := yaml.Unmarshal([]byte(src), &rule); err != nil {
		t.Fatal(err)
	}
	if rule.Action != "block_and_alert" || rule.ExpiresS != 600 || rule.MinS != 40 || !rule.On() {
		t.Fatalf("decoded %+v; the inline Rule and the own key both from one mapping", rule)
	}
	order := append(slices.Clone(all.Order), all.Step{Name: "long_ring", Setup: func(*detect.Env) detect.Detector {
		if x := newLongRing(&rule); x != nil {
			return x
		}
		return nil
	}})
	d := config.DefaultDetect()
	dets := all.BuildFrom(order, &d, nil)
	if last := dets[len(dets)-1]; last.Name() != "long_ring" {
		t.Fatalf("last detector %q; want the added long_ring", last.Name())
	}
	ts := time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC)
	c := &detect.Call{Rec: &cdr.Record{CallID: "r1", Tenant: "acme", Extension: "1001", Callee: "+37120000000", Direction: screen.Outbound, Duration: 70, Billsec: 20},
		Dest: &number.Info{E164: "+37120000000"}}
	var got []detect.Finding
	dets[len(dets)-1].Observe(c, ts, func(f detect.Finding) { got = append(got, f) })
	if len(got) != 1 || got[0].Action != "block_and_alert" || got[0].Severity != "critical" || got[0].Expires != 10*time.Minute || got[0].Tenant != "acme" {
		t.Errorf("findings %+v; want one block_and_alert, critical, 10 min, for acme", got)
	}
	off := false
	rule.Enabled = &off
	if n := names(all.BuildFrom(order, &d, nil)); slices.Contains(n, "long_ring") || !strings.Contains(strings.Join(n, ","), "wangiri") {
		t.Errorf("with long_ring off: %q", n)
	}
}
