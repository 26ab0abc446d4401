package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/store"
)

type nopRecorder struct{}

func (nopRecorder) Decision(store.Decision) bool { return true }
func (nopRecorder) Event(store.CallEvent) bool   { return true }

// TestTeeForgets: calls the screening engine stops waiting for leave the
// tee's awaited decisions and the detectors' running calls, so neither
// holds them longer than the engine; a call still awaited is kept and its
// end still reaches the detectors as a CDR. The engine's chain of
// recorders (console, SIEM wrappers) passes Forget on: see ForgetNext.
func TestTeeForgets(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("defaults: {country: US, timezone: America/New_York, on_error: fail_closed}\ntenants: {acme: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := number.New(number.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: in})
	if err != nil {
		t.Fatal(err)
	}
	base := baseline.New()
	det := detect.NewEngine(&cfg.Detect, eng, base, all.Build(&cfg.Detect, base), func(detect.Finding) {})
	p := New(Options{Engine: det})
	defer p.Close()
	rec := p.Tee(nopRecorder{})
	t0 := time.Now().UTC().Truncate(time.Second)
	for _, id := range []string{"a", "b", "c"} {
		rec.Decision(store.Decision{CallID: id, Tenant: "acme", Extension: "1001", Callee: "+12125550100", Direction: "outbound", Time: t0, Enforced: "allow"})
	}
	rec.(engine.Forgetter).Forget([]string{"a", "b", "unknown"})
	rec.Event(store.CallEvent{CallID: "c", Type: "end", Time: t0.Add(time.Minute), Tenant: "acme", Duration: 60})
	rec.Event(store.CallEvent{CallID: "a", Type: "end", Time: t0.Add(time.Minute), Tenant: "acme", Duration: 60})
	if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	pending := len(p.pending)
	p.mu.Unlock()
	// SubmitWait's barrier also waits for the forgets. They may overtake
	// the starts still queued: either way neither a nor b is left running.
	st := p.Stats()
	if pending != 0 || det.Running() != 0 || st.Observed != 1 {
		t.Errorf("awaited %d, running %d, observed %d; want 0, 0, 1 (c's end only)", pending, det.Running(), st.Observed)
	}
}
