package pipeline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

type nopRecorder struct{}

func (nopRecorder) Decision(store.Decision) bool { return true }
func (nopRecorder) Event(store.CallEvent) bool   { return true }

// testPipeline is a pipeline over a detection engine with every detector,
// archiving its CDRs in dir ("" none).
func testPipeline(t testing.TB, dir string) (*Pipeline, *detect.Engine) {
	t.Helper()
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
	return New(Options{Engine: det, ArchiveDir: dir}), det
}

// TestTeeForgets: calls the screening engine stops waiting for leave the
// detectors' running calls (the only record detection keeps of a call let
// through), so detection holds them no longer than the engine; a call
// still running is kept and its end still reaches the detectors as a CDR.
// The engine's chain of recorders (console, SIEM wrappers) passes Forget
// on: see ForgetNext.
func TestTeeForgets(t *testing.T) {
	p, det := testPipeline(t, "")
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
	// SubmitWait's barrier also waits for the forgets. They may overtake
	// the starts still queued: either way neither a nor b is left running.
	st := p.Stats()
	if det.Running() != 0 || st.Observed != 1 {
		t.Errorf("running %d, observed %d; want 0, 1 (c's end only)", det.Running(), st.Observed)
	}
}

// TestTeeEndCDR: the CDR an end event makes of a call let through has
// everything its decision said (tenant, extension, both numbers,
// direction, source address, start to the nanosecond) though only the
// detectors' running call kept it; it meets only the end-time detectors
// (judged at its start already); an end for a call never let through, or
// one whose CDR was posted, makes none.
func TestTeeEndCDR(t *testing.T) {
	dir := t.TempDir()
	p, det := testPipeline(t, dir)
	rec := p.Tee(nopRecorder{})
	t0 := time.Date(2026, 11, 23, 15, 4, 5, 123456789, time.UTC)
	rec.Decision(store.Decision{CallID: "in", Tenant: "acme", Extension: "1002", Caller: "+12125550199", Callee: "1002", Direction: "inbound",
		SourceIP: "192.0.2.7", Time: t0, Enforced: "allow"})
	rec.Decision(store.Decision{CallID: "posted", Tenant: "acme", Extension: "1001", Callee: "+12125550100", Direction: "outbound", Time: t0, Enforced: "allow"})
	if _, _, err := p.SubmitWait(context.Background(), []cdr.Record{{CallID: "posted", Tenant: "acme", Extension: "1001", Callee: "+12125550100",
		Direction: screen.Outbound, Start: t0, Duration: 30, Billsec: 30}}); err != nil {
		t.Fatal(err)
	}
	rec.Event(store.CallEvent{CallID: "in", Type: "end", Time: t0.Add(90 * time.Second), Tenant: "acme", Duration: 90, Cost: 0.25})
	rec.Event(store.CallEvent{CallID: "posted", Type: "end", Time: t0.Add(time.Minute), Tenant: "acme", Duration: 60})
	rec.Event(store.CallEvent{CallID: "never", Type: "end", Time: t0.Add(time.Minute), Tenant: "acme", Duration: 60})
	if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	p.Close()
	if det.Running() != 0 || st.Observed != 2 || st.Duplicates != 0 || st.Started != 2 {
		t.Errorf("running %d, observed %d, duplicates %d, started %d; want 0, 2 (in's end, posted's CDR), 0, 2", det.Running(), st.Observed, st.Duplicates, st.Started)
	}
	b, err := os.ReadFile(filepath.Join(dir, "2026-11-23.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var got Line
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var x Line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatal(err)
		}
		if x.CallID == "in" {
			got = x
			got.Record.Direction, _ = screen.ParseDirection(x.Direction)
		}
	}
	want := cdr.Record{CallID: "in", Tenant: "acme", Extension: "1002", Caller: "+12125550199", Callee: "1002", Direction: screen.Inbound,
		SourceIP: "192.0.2.7", Start: t0, End: t0.Add(90 * time.Second), Duration: 90, Billsec: 90, Cost: 0.25, Disposition: cdr.Answered}
	if !reflect.DeepEqual(got.Record, want) {
		t.Errorf("CDR from the end event:\n got %+v\nwant %+v", got.Record, want)
	}
}

// TestTeeFloodHeldOnce (attack: a flood of calls let through that never
// get an event): detection holds each in one record, the detectors'
// running call, and nothing once the engine forgets them; their late end
// events make no CDR.
func TestTeeFloodHeldOnce(t *testing.T) {
	p, det := testPipeline(t, "")
	defer p.Close()
	rec := p.Tee(nopRecorder{})
	t0 := time.Now().UTC().Truncate(time.Second)
	const n = 20000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "flood-" + strconv.Itoa(i)
		rec.Decision(store.Decision{CallID: ids[i], Tenant: "acme", Extension: "1001", Callee: "+12125550100", Direction: "outbound", Time: t0, Enforced: "allow"})
		if i%5000 == 4999 { // the queue holds 65,536: let it drain
			if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if det.Running() != n || p.Stats().Dropped != 0 {
		t.Fatalf("running %d, dropped %d; want %d, 0", det.Running(), p.Stats().Dropped, n)
	}
	rec.(engine.Forgetter).Forget(ids)
	for _, id := range ids[:100] {
		rec.Event(store.CallEvent{CallID: id, Type: "end", Time: t0.Add(time.Hour), Tenant: "acme", Duration: 60})
	}
	if _, _, err := p.SubmitWait(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); det.Running() != 0 || st.Observed != 0 || st.Forgotten != n {
		t.Errorf("running %d, observed %d, forgotten %d; want 0, 0, %d", det.Running(), st.Observed, st.Forgotten, n)
	}
}
