// Package bench holds the detection benchmark: the simulator's labelled
// attacks replayed through the detection engine, scored per scenario, and
// the replay throughput against plain CSV parsing of the same file.
package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/simulate"
)

// setup writes the simulation's policy, rate deck and Master.csv into dir
// and returns the screening engine and the file.
func setup(tb testing.TB, dir string, o simulate.Options) (*engine.Engine, string, []simulate.Call) {
	tb.Helper()
	rates := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(rates, simulate.Rates, 0o644); err != nil {
		tb.Fatal(err)
	}
	pol := strings.Replace(string(simulate.Policy), "rate_deck: rates.csv", "rate_deck: "+rates, 1)
	cfg, err := config.Parse("simulate/policy.yaml", []byte(pol))
	if err != nil {
		tb.Fatal(err)
	}
	intel, err := number.New(number.Options{RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		tb.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		tb.Fatal(err)
	}
	calls := simulate.Generate(o)
	file := filepath.Join(dir, "Master.csv")
	f, err := os.Create(file)
	if err != nil {
		tb.Fatal(err)
	}
	if err := simulate.WriteAsterisk(f, calls); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return eng, file, calls
}

// Result is one scenario's score.
type Result struct {
	Attack       string
	Detected     bool
	TimeToDetect time.Duration
	Calls        int     // fraudulent calls that cost money
	Leaked       int     // of those, completed before an action stopped them
	LeakedCost   float64 // their cost
	TotalCost    float64 // what the whole attack would have cost
}

type alertDetails struct {
	CallIDs []string `json:"call_ids"`
}

// Evaluate scores a replay against the labels.
func Evaluate(eng *engine.Engine, calls []simulate.Call, rep *cli.Replay) (res []Result, falseAlerts, legit int) {
	label := map[string]string{}
	first := map[string]time.Time{}
	tenantOf := map[string]string{}
	for _, c := range calls {
		if c.Attack == "" {
			legit++
			continue
		}
		label[c.CallID] = c.Attack
		if t, ok := first[c.Attack]; !ok || c.Start.Before(t) {
			first[c.Attack] = c.Start
		}
		tenantOf[c.Attack] = c.Tenant
	}
	detectedAt := map[string]time.Time{}
	for _, a := range rep.Alerts {
		var d alertDetails
		_ = json.Unmarshal(a.Details, &d)
		attack := ""
		for _, id := range d.CallIDs {
			// A call refused at its start is observed as the attempt
			// "attempt:<call id>" (cli/replayer.go): it is the same call.
			id = strings.TrimPrefix(id, "attempt:")
			if label[id] != "" {
				attack = label[id]
			}
		}
		if attack == "" && strings.HasPrefix(a.Code, "wangiri") && a.Tenant == tenantOf[simulate.WangiriWave] && !a.Time.Before(first[simulate.WangiriWave]) {
			attack = simulate.WangiriWave
		}
		if attack == "" {
			falseAlerts++
			continue
		}
		if t, ok := detectedAt[attack]; !ok || a.Time.Before(t) {
			detectedAt[attack] = a.Time
		}
	}
	stopped := func(c *simulate.Call) bool {
		far := strings.TrimPrefix(c.Callee, "+")
		for _, d := range rep.Actions {
			if !d.Time.Before(c.Start) || d.Tenant != "" && d.Tenant != c.Tenant || !d.Expires.IsZero() && !c.Start.Before(d.Expires) {
				continue
			}
			switch d.Target.Kind {
			case "extension":
				if d.Target.Value == c.Extension {
					return true
				}
			case "number":
				if d.Target.Value == far {
					return true
				}
			case "prefix":
				if strings.HasPrefix(far, d.Target.Value) {
					return true
				}
			case "tenant":
				return true
			}
		}
		return false
	}
	by := map[string]*Result{}
	for _, a := range simulate.Attacks {
		by[a] = &Result{Attack: a}
	}
	for i := range calls {
		c := &calls[i]
		if c.Attack == "" || (c.Direction == screen.Inbound && !c.Forwarded) {
			continue
		}
		info, err := eng.Lookup(c.Callee, c.Tenant)
		if err != nil {
			continue
		}
		cost := float64(c.Billsec) / 60 * info.Rate
		r := by[c.Attack]
		r.Calls++
		r.TotalCost += cost
		if !stopped(c) {
			r.Leaked++
			r.LeakedCost += cost
		}
	}
	for _, a := range simulate.Attacks {
		r := by[a]
		if t, ok := detectedAt[a]; ok {
			r.Detected, r.TimeToDetect = true, t.Sub(first[a])
		}
		res = append(res, *r)
	}
	return res, falseAlerts, legit
}

// TestDetectionBenchmark replays a fortnight of simulated traffic for 20
// tenants with every attack and holds the detectors to the aims: every
// scenario caught, under $50 leaked per attack, fewer than 1 false alert
// per 10,000 legitimate calls.
func TestDetectionBenchmark(t *testing.T) {
	eng, file, calls := setup(t, t.TempDir(), simulate.Options{Seed: 1, Attacks: true})
	rep, err := cli.RunReplay(eng, []string{file}, cli.ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Read.Malformed != 0 || rep.Read.Records != len(calls) {
		t.Fatalf("read %d records, %d malformed; want %d, 0", rep.Read.Records, rep.Read.Malformed, len(calls))
	}
	res, falseAlerts, legit := Evaluate(eng, calls, rep)
	var b strings.Builder
	fmt.Fprintf(&b, "| scenario | detected | time to detect | fraudulent calls | completed before the block | cost leaked | cost of the whole attack |\n|---|---|---|---|---|---|---|\n")
	for _, r := range res {
		fmt.Fprintf(&b, "| %s | %v | %s | %d | %d | $%.2f | $%.2f |\n", r.Attack, r.Detected, r.TimeToDetect, r.Calls, r.Leaked, r.LeakedCost, r.TotalCost)
		if !r.Detected {
			t.Errorf("%s: not detected", r.Attack)
		}
		if r.LeakedCost >= 50 {
			t.Errorf("%s: $%.2f leaked; aim < $50", r.Attack, r.LeakedCost)
		}
	}
	per10k := float64(falseAlerts) / float64(legit) * 10000
	fmt.Fprintf(&b, "\nlegitimate calls %d, false alerts %d (%.2f per 10,000)\n", legit, falseAlerts, per10k)
	t.Log("\n" + b.String())
	if per10k >= 1 {
		var codes []string
		for _, a := range rep.Alerts {
			codes = append(codes, a.Code+" "+a.Text)
		}
		sort.Strings(codes)
		t.Errorf("%.2f false alerts per 10,000 legitimate calls; aim < 1\n%s", per10k, strings.Join(codes, "\n"))
	}
}

// BenchmarkReplay measures replay throughput (CDRs/s through parsing,
// number intelligence, baselines and every detector) with plain CSV
// parsing of the same file (encoding/csv) and tollgate's CDR parser alone
// as yardsticks, in one run.
func BenchmarkReplay(b *testing.B) {
	eng, file, calls := setup(b, b.TempDir(), simulate.Options{Seed: 2, Tenants: 40, Exts: 40, Attacks: true})
	n := float64(len(calls))
	b.Run("encoding-csv", func(b *testing.B) {
		for b.Loop() {
			f, _ := os.Open(file)
			r := csv.NewReader(f)
			r.ReuseRecord = true
			for {
				if _, err := r.Read(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
			f.Close()
		}
		b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "CDRs/s")
	})
	b.Run("cdr-parse", func(b *testing.B) {
		for b.Loop() {
			f, _ := os.Open(file)
			rd := cdr.NewReader(f, cdr.Options{})
			var rec cdr.Record
			for rd.Next(&rec) {
			}
			f.Close()
		}
		b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "CDRs/s")
	})
	b.Run("replay", func(b *testing.B) {
		b.ReportAllocs()
		c0 := cpuTime()
		for b.Loop() {
			if _, err := cli.RunReplay(eng, []string{file}, cli.ReplayOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, c0, n)
	})
	// The same records as JSON lines (tollgate's own CDR form).
	jfile := filepath.Join(b.TempDir(), "cdrs.jsonl")
	{
		f, _ := os.Open(file)
		rd := cdr.NewReader(f, cdr.Options{})
		out, err := os.Create(jfile)
		if err != nil {
			b.Fatal(err)
		}
		var rec cdr.Record
		enc := json.NewEncoder(out)
		for rd.Next(&rec) {
			if err := enc.Encode(map[string]any{"call_id": rec.CallID, "tenant": rec.Tenant, "extension": rec.Extension, "caller": rec.Caller,
				"callee": rec.Callee, "direction": rec.Direction.String(), "start": rec.Start.Format(time.RFC3339), "duration_s": rec.Duration,
				"billsec_s": rec.Billsec, "disposition": rec.Disposition, "forwarded": rec.Forwarded}); err != nil {
				b.Fatal(err)
			}
		}
		f.Close()
		out.Close()
	}
	b.Run("replay-json", func(b *testing.B) {
		b.ReportAllocs()
		c0 := cpuTime()
		for b.Loop() {
			rep, err := cli.RunReplay(eng, []string{jfile}, cli.ReplayOptions{Read: cdr.Options{Format: cdr.JSON}})
			if err != nil || rep.Read.Malformed > 0 || rep.Read.Records != len(calls) {
				b.Fatalf("replay of JSON: %v, %+v", err, rep.Read)
			}
		}
		reportCPU(b, c0, n)
	})
}

// cpuTime is the CPU time the process has used (user and system, all
// threads: both replay goroutines and the collector).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports wall-clock CDRs/s, the CPU time per CDR since c0 and
// what it makes on one core (CDRs/s per core), and allocations per CDR: on
// a machine shared with other work the wall clock says more about the
// others than about the replay.
func reportCPU(b *testing.B, c0 time.Duration, n float64) {
	cdrs := n * float64(b.N)
	b.ReportMetric(cdrs/b.Elapsed().Seconds(), "CDRs/s")
	if cpu := cpuTime() - c0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/cdrs, "cpu-ns/CDR")
		b.ReportMetric(cdrs/cpu.Seconds(), "CDRs/cpu-s")
	}
}
