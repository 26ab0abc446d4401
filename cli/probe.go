package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/quality"
)

// probe places synthetic test calls to an answering target and prints
// setup time, loss, jitter, round trip and MOS for each; it exits 1 when
// a call failed or broke a threshold.
func (e *env) probe(args []string) error {
	fs := newFlags("probe", e)
	dur := fs.Duration("duration", 5*time.Second, "RTP stream length of each call")
	count := fs.Int("count", 1, "calls to place")
	loss := fs.Float64("impair-loss", 0, "drop this percentage of sent RTP (test the alerting)")
	jitter := fs.Float64("impair-jitter", 0, "delay sent RTP by up to this many ms")
	maxLoss := fs.Float64("max-loss", 2, "loss threshold, %")
	maxJitter := fs.Float64("max-jitter", 30, "jitter threshold, ms")
	maxRTT := fs.Float64("max-latency", 150, "round-trip threshold, ms")
	minMOS := fs.Float64("min-mos", 3.6, "MOS threshold")
	asJSON := fs.Bool("json", false, "print each result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("probe: want exactly one TARGET (host:port of a SIP UAS that answers and echoes RTP)")
	}
	if *count < 1 || *count > 1000 {
		return usagef("-count: want 1–1000")
	}
	if *dur < 200*time.Millisecond || *dur > 10*time.Minute {
		return usagef("-duration: want 200ms–10m")
	}
	if *loss < 0 || *loss > 100 || *jitter < 0 || *jitter > 1000 {
		return usagef("-impair-loss: 0–100 %%, -impair-jitter: 0–1000 ms")
	}
	bad := 0
	for i := 0; i < *count; i++ {
		r := quality.Probe(context.Background(), pos[0], *dur, quality.Impair{LossPct: *loss, JitterMS: *jitter, Seed: uint64(time.Now().UnixNano())})
		var breaches []string
		switch {
		case r.Error != "":
			breaches = append(breaches, "failed: "+r.Error)
		default:
			if r.LossPct > *maxLoss {
				breaches = append(breaches, fmt.Sprintf("loss %.1f %% > %.1f %%", r.LossPct, *maxLoss))
			}
			if r.JitterMS > *maxJitter {
				breaches = append(breaches, fmt.Sprintf("jitter %.1f ms > %.1f ms", r.JitterMS, *maxJitter))
			}
			if r.RTTMS > *maxRTT {
				breaches = append(breaches, fmt.Sprintf("latency %.1f ms > %.1f ms", r.RTTMS, *maxRTT))
			}
			if r.MOS < *minMOS {
				breaches = append(breaches, fmt.Sprintf("MOS %.2f < %.2f", r.MOS, *minMOS))
			}
		}
		if len(breaches) > 0 {
			bad++
		}
		if *asJSON {
			out := struct {
				quality.ProbeResult
				Alerts []string `json:"alerts,omitempty"`
			}{r, breaches}
			b, _ := json.Marshal(out)
			fmt.Fprintln(e.stdout, string(b))
			continue
		}
		if r.Error != "" {
			fmt.Fprintf(e.stdout, "probe %s: FAILED: %s\n", r.Target, r.Error)
			continue
		}
		fmt.Fprintf(e.stdout, "probe %s: setup %.1f ms, loss %.1f %% (%d/%d RTP back), jitter %.1f ms, latency %.1f ms, MOS %.2f (R %.0f)\n",
			r.Target, r.SetupMS, r.LossPct, r.Received, r.Sent, r.JitterMS, r.RTTMS, r.MOS, r.RFactor)
		for _, b := range breaches {
			fmt.Fprintf(e.stdout, "  ALERT %s\n", b)
		}
	}
	if bad > 0 {
		return fmt.Errorf("probe: %d of %d calls failed or broke a threshold", bad, *count)
	}
	return nil
}
