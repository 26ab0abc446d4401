package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
)

// TestReplayParity (issue 15, item 6): the same stream through a live
// server — each call screened at its start, answered and ended by call
// events, its CDR posted at its end, in event time — and through
// `tollgate replay` of its CDRs gives identical verdicts call by call: the
// replay runs the same detectors at the same moments (start, in-call
// watch, end) and enforces the same actions through the same block and
// action lookups. The stream: ordinary calls, then a premium-rate range
// pumped from many extensions (stopped once fast pumping fires at the
// calls' starts), then calls of the pumping extensions elsewhere.
func TestReplayParity(t *testing.T) {
	dir := t.TempDir()
	deck := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(deck, []byte("prefix,price_per_min,description\n1,0.01,US\n49,0.02,DE\n49900,2.50,DE premium\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := `
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: allow
  limits:
    extension:
      international_calls_per_hour: off
      international_burst: {calls: off, window_s: 300}
      concurrent_international: off
    account:
      international_calls_daily: off
  cost:
    max_rate_risk: 100
numbers:
  rate_deck: ` + deck + `
tenants:
  acme: {}
`
	type call struct {
		id, ext, callee string
		start           time.Time
		billsec         int
	}
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	var calls []call
	for i := range 6 {
		calls = append(calls, call{fmt.Sprintf("ok%d", i), fmt.Sprintf("10%02d", i), fmt.Sprintf("+1212555%04d", i), t0.Add(time.Duration(i) * time.Minute), 120})
	}
	for i := range 12 { // pumping: a call every 20 s from a different extension
		calls = append(calls, call{fmt.Sprintf("p%02d", i), fmt.Sprintf("20%02d", i), fmt.Sprintf("+4990012345%02d", i), t0.Add(10*time.Minute + time.Duration(i*20)*time.Second), 240})
	}
	for i := range 4 { // afterwards: ordinary and premium calls of those extensions
		calls = append(calls, call{fmt.Sprintf("after%d", i), fmt.Sprintf("20%02d", i), []string{"+1212555010", "+4990012399"}[i%2] + fmt.Sprint(i), t0.Add(20*time.Minute + time.Duration(i)*time.Minute), 60})
	}
	// Live.
	s, tok := start(t, dir, policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	live := map[string]bool{}
	var csv strings.Builder
	ctx := context.Background()
	// Events are posted in event-time order, as a live PBX would send
	// them: a call's answer and end come when they happen, interleaved
	// with the later calls' screenings (an end posted before a later
	// call's start would tell the detectors about cost not yet run up).
	// At one second, answers and ends go before starts, as in the replay.
	type event struct {
		at   time.Time
		kind int // 0 answer, 1 end, 2 screen
		x    call
	}
	var queue []event
	for _, x := range calls {
		queue = append(queue, event{x.start, 2, x})
	}
	for len(queue) > 0 {
		sort.SliceStable(queue, func(i, j int) bool {
			if !queue[i].at.Equal(queue[j].at) {
				return queue[i].at.Before(queue[j].at)
			}
			return queue[i].kind < queue[j].kind
		})
		ev := queue[0]
		queue = queue[1:]
		x := ev.x
		switch ev.kind {
		case 0:
			c.call("POST", "/v1/calls/"+x.id+"/events", map[string]any{"type": "answer", "time": ev.at.Format(time.RFC3339)})
		case 1:
			c.call("POST", "/v1/calls/"+x.id+"/events", map[string]any{"type": "end", "time": ev.at.Format(time.RFC3339), "duration_s": x.billsec})
		case 2:
			_, v := c.call("POST", "/v1/screen", map[string]any{"call_id": x.id, "tenant": "acme", "extension": x.ext, "callee": x.callee, "time": x.start.Format(time.RFC3339)})
			stopped := v["action"] != "allow"
			live[x.id] = stopped
			if !stopped {
				ans := x.start.Add(5 * time.Second)
				queue = append(queue, event{ans, 0, x}, event{ans.Add(time.Duration(x.billsec) * time.Second), 1, x})
			}
		}
		// Wait until the detectors have judged what the engine sent them.
		if _, _, err := s.det.pipe.SubmitWait(ctx, []cdr.Record{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range calls {
		// The replay reads the stream as it was dialed (every call answered
		// and run to its length) and decides itself what would be stopped.
		fa, fe := x.start.Add(5*time.Second), x.start.Add(5*time.Second+time.Duration(x.billsec)*time.Second)
		fmt.Fprintf(&csv, "\"acme\",\"%s\",\"%s\",\"from-internal\",\"\",\"PJSIP/%s-1\",\"\",\"Dial\",\"\",\"%s\",\"%s\",\"%s\",%d,%d,\"ANSWERED\",\"DOCUMENTATION\",\"%s\",\"\"\n",
			x.ext, x.callee, x.ext, x.start.Format("2006-01-02 15:04:05"), fa.Format("2006-01-02 15:04:05"), fe.Format("2006-01-02 15:04:05"),
			x.billsec+5, x.billsec, x.id)
	}
	stoppedLive := 0
	for _, st := range live {
		if st {
			stoppedLive++
		}
	}
	if stoppedLive == 0 || stoppedLive == len(calls) {
		t.Fatalf("live stopped %d of %d calls; the stream must exercise both verdicts", stoppedLive, len(calls))
	}
	file := filepath.Join(dir, "Master.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := RunReplay(s.Engine, []string{file}, ReplayOptions{Read: cdr.Options{Location: time.UTC}, keepVerdicts: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read.Malformed > 0 {
		t.Fatalf("malformed: %+v", rep.Read.Errors)
	}
	got := map[string]bool{}
	for _, v := range rep.verdicts {
		got[v.CallID] = v.Stopped
	}
	for _, x := range calls {
		r, ok := got[x.id]
		if !ok {
			t.Errorf("%s: no replay verdict", x.id)
			continue
		}
		if r != live[x.id] {
			t.Errorf("%s (%s → %s at %s): live stopped=%v, replay stopped=%v", x.id, x.ext, x.callee, x.start.Format("15:04:05"), live[x.id], r)
		}
	}
	if rep.Stopped != stoppedLive {
		t.Errorf("replay stopped %d calls, live %d", rep.Stopped, stoppedLive)
	}
}
