// Command replayab times cli.RunReplay by CPU time (getrusage: every
// thread) with allocations, and prints a digest of its report (alerts,
// actions, leaked, stopped, cut) so two builds can be compared for speed
// and for identical results on the same 212,814 simulated CDRs:
//
//	go run ./bench/replayab -gen            # writes /tmp/rp/Master.csv, cdrs.jsonl
//	go build -o /tmp/a ./bench/replayab     # on each build, then run both
//	/tmp/a -n 2 [-json] [-cpuprofile f]     # alternately
package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/simulate"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is the CPU time of the calling thread (main locks its
// goroutine to one: RunReplay runs the detectors on its caller's goroutine,
// so this is the detectors' share, the replay's critical path on two
// cores).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	runtime.LockOSThread()
	dir := flag.String("dir", "/tmp/rp", "")
	gen := flag.Bool("gen", false, "")
	n := flag.Int("n", 3, "")
	js := flag.Bool("json", false, "")
	prof := flag.String("cpuprofile", "", "")
	dump := flag.String("dump", "", "")
	small := flag.Bool("small", false, "")
	memprof := flag.String("memprofile", "", "")
	flag.Parse()
	rates := filepath.Join(*dir, "rates.csv")
	if *gen {
		os.MkdirAll(*dir, 0o755)
		os.WriteFile(rates, simulate.Rates, 0o644)
		calls := simulate.Generate(simulate.Options{Seed: 2, Tenants: 40, Exts: 40, Attacks: true})
		f, _ := os.Create(filepath.Join(*dir, "Master.csv"))
		simulate.WriteAsterisk(f, calls)
		f.Close()
		rd := cdr.NewReader(must(os.Open(filepath.Join(*dir, "Master.csv"))), cdr.Options{})
		out, _ := os.Create(filepath.Join(*dir, "cdrs.jsonl"))
		enc := json.NewEncoder(out)
		var rec cdr.Record
		for rd.Next(&rec) {
			enc.Encode(map[string]any{"call_id": rec.CallID, "tenant": rec.Tenant, "extension": rec.Extension, "caller": rec.Caller,
				"callee": rec.Callee, "direction": rec.Direction.String(), "start": rec.Start.Format(time.RFC3339), "duration_s": rec.Duration,
				"billsec_s": rec.Billsec, "disposition": rec.Disposition, "forwarded": rec.Forwarded})
		}
		out.Close()
		return
	}
	pol := strings.Replace(string(simulate.Policy), "rate_deck: rates.csv", "rate_deck: "+rates, 1)
	cfg, err := config.Parse("simulate/policy.yaml", []byte(pol))
	if err != nil {
		panic(err)
	}
	intel, err := number.New(number.Options{RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		panic(err)
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		panic(err)
	}
	file := filepath.Join(*dir, "Master.csv")
	o := cli.ReplayOptions{}
	if *small {
		file = filepath.Join(*dir, "small.csv")
	}
	if *js {
		file = filepath.Join(*dir, "cdrs.jsonl")
		if *small {
			file = filepath.Join(*dir, "small.jsonl")
		}
		o.Read.Format = cdr.JSON
	}
	if *prof != "" {
		f, _ := os.Create(*prof)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	{
		c0 := cpu()
		f, _ := os.Open(filepath.Join(*dir, "Master.csv"))
		r := csv.NewReader(f)
		r.ReuseRecord = true
		r.FieldsPerRecord = -1
		n := 0
		for {
			if _, err := r.Read(); err != nil {
				break
			}
			n++
		}
		f.Close()
		fmt.Printf("yardstick encoding/csv: %.3f µs CPU/line\n", float64((cpu()-c0).Nanoseconds())/float64(n)/1000)
	}
	for i := 0; i < *n; i++ {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0, w0, d0 := cpu(), time.Now(), threadCPU()
		rep, err := cli.RunReplay(eng, []string{file}, o)
		if err != nil {
			panic(err)
		}
		c1, w1, d1 := cpu(), time.Now(), threadCPU()
		runtime.ReadMemStats(&m1)
		fmt.Printf("allocs/CDR %.2f bytes/CDR %.0f GCs %d\n", float64(m1.Mallocs-m0.Mallocs)/float64(rep.Read.Records), float64(m1.TotalAlloc-m0.TotalAlloc)/float64(rep.Read.Records), m1.NumGC-m0.NumGC)
		recs := rep.Read.Records
		per := float64((c1 - c0).Nanoseconds()) / float64(recs)
		if *memprof != "" {
			f, _ := os.Create(*memprof)
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
		dper := float64((d1 - d0).Nanoseconds()) / float64(recs)
		fmt.Printf("run %d: %d records, %d malformed, cpu %.2fs wall %.2fs: %.2f µs CPU/CDR → %.0f CDRs/s per core; detectors' thread %.2f µs/CDR → %.0f CDRs/s; wall %.0f CDRs/s; digest %s\n",
			i, recs, rep.Read.Malformed, (c1 - c0).Seconds(), w1.Sub(w0).Seconds(), per/1000, 1e9/per, dper/1000, 1e9/dper, float64(recs)/w1.Sub(w0).Seconds(), digest(rep, *dump))
	}
}

func digest(rep *cli.Replay, dump string) string {
	var lines []string
	for _, a := range rep.Alerts {
		lines = append(lines, fmt.Sprintf("A %s %s %s %s %s", a.Time.UTC().Format(time.RFC3339), a.Code, a.Tenant, a.Severity, a.Text))
	}
	for _, a := range rep.Actions {
		lines = append(lines, fmt.Sprintf("X %s %s %s %s:%s", a.Time.UTC().Format(time.RFC3339), a.Action, a.Tenant, a.Target.Kind, a.Target.Value))
	}
	sort.Strings(lines)
	lines = append(lines, fmt.Sprintf("S flagged=%d leaked=%.4f stopped=%d cut=%d total=%.4f det=%+v", rep.Flagged, rep.Leaked, rep.Stopped, rep.Cut, rep.TotalCost, rep.Detection))
	s := strings.Join(lines, "\n")
	if dump != "" {
		os.WriteFile(dump, []byte(s), 0o644)
	}
	return fmt.Sprintf("%x (alerts %d actions %d stopped %d cut %d leaked %.2f)", sha256.Sum256([]byte(s)), len(rep.Alerts), len(rep.Actions), rep.Stopped, rep.Cut, rep.Leaked)
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}
