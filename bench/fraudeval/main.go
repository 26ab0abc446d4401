// Command fraudeval measures tollgate's fraud prevention on streams it was
// not tuned on: for each seed it generates a labelled stream with
// attackgen (four weeks of legitimate call-center traffic, then an attack
// week), starts a real tollgate server on a loopback port with the chosen
// policy, drives every call through the live API in event time, and
// reports per attack whether it was stopped, how fast and what leaked, and
// for legitimate traffic the false refusals and false alerts per 10k
// calls.
//
//	go run ./bench/fraudeval -seeds 1-10                 # tuning seeds
//	go run ./bench/fraudeval -seeds 101-120 -json out.json   # held out
//	go run ./bench/fraudeval -seeds 3 -export /tmp/s3    # stream, CDRs, policies
//
// Seeds 1–10 are for tuning; seeds 101–120 are held out for reporting.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/attackgen"
	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/number"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type opts struct {
	seeds    []uint64
	policies []string
	scale    float64
	history  int
	jsonOut  string
	export   string
	parallel int
	replay   bool
	repFmt   string
	quiet    bool
	trace    string
	url      string
	token    string
	profile  string
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fraudeval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seeds := fs.String("seeds", "1-10", "seeds: N, A-B or a comma list (1–10 tune, 101–120 held out)")
	policies := fs.String("policy", "operator,default", "policies to run: operator (allow by default, the seed's high-risk destinations blocked), default (built-in)")
	var o opts
	fs.Float64Var(&o.scale, "scale", 1, "legitimate volume multiplier")
	fs.StringVar(&o.profile, "profile", attackgen.ProfileDefault, "generator profile: default (the reported seeds' streams) or wide (broader legitimate traffic and attack variants, see attackgen.ProfileWide)")
	fs.IntVar(&o.history, "history", 28, "days of history before the attack week")
	fs.StringVar(&o.jsonOut, "json", "", "write every run's result as JSON here")
	fs.StringVar(&o.export, "export", "", "write each seed's stream (calls.jsonl, calls.csv, cdrs.jsonl, Master.csv), scenario.json, rate deck and policies under DIR/seed-N, and do not drive")
	fs.IntVar(&o.parallel, "parallel", 1, "runs at once")
	fs.BoolVar(&o.replay, "replay", false, "also feed the stream's CDRs to `tollgate replay` with the same policy and keep its report")
	fs.StringVar(&o.repFmt, "replay-format", "json", "CDR form given to replay: json (tollgate JSON lines) or asterisk (Master.csv)")
	fs.BoolVar(&o.quiet, "q", false, "no progress")
	fs.StringVar(&o.trace, "trace", "", "write, per run, every attack call and every refused legitimate call with its outcome, and every alert, as JSON lines under DIR (diagnosis)")
	fs.StringVar(&o.url, "url", "", "drive a running server instead of starting one (its policy is its own; one policy label)")
	fs.StringVar(&o.token, "token", os.Getenv("TOLLGATE_TOKEN"), "API token for -url")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	if o.seeds, err = parseSeeds(*seeds); err != nil {
		fmt.Fprintln(stderr, "fraudeval:", err)
		return 2
	}
	for _, p := range strings.Split(*policies, ",") {
		p = strings.TrimSpace(p)
		if p != attackgen.PolicyOperator && p != attackgen.PolicyDefault {
			fmt.Fprintf(stderr, "fraudeval: unknown policy %q\n", p)
			return 2
		}
		o.policies = append(o.policies, p)
	}
	if o.profile != attackgen.ProfileDefault && o.profile != attackgen.ProfileWide {
		fmt.Fprintf(stderr, "fraudeval: unknown profile %q (want default or wide)\n", o.profile)
		return 2
	}
	if o.repFmt != "json" && o.repFmt != "asterisk" {
		fmt.Fprintln(stderr, "fraudeval: -replay-format wants json or asterisk")
		return 2
	}
	if o.parallel < 1 || o.scale <= 0 || o.history < 1 {
		fmt.Fprintln(stderr, "fraudeval: want -parallel ≥ 1, -scale > 0, -history ≥ 1")
		return 2
	}
	x, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		fmt.Fprintln(stderr, "fraudeval:", err)
		return 1
	}
	if o.export != "" {
		for _, s := range o.seeds {
			if err := export(o, s, x, stdout); err != nil {
				fmt.Fprintln(stderr, "fraudeval:", err)
				return 1
			}
		}
		return 0
	}
	var progress io.Writer = stderr
	if o.quiet {
		progress = nil
	}
	type job struct {
		seed   uint64
		policy string
	}
	var jobs []job
	for _, s := range o.seeds {
		for _, p := range o.policies {
			jobs = append(jobs, job{s, p})
		}
	}
	results := make([]RunResult, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, o.parallel)
	var mu sync.Mutex
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := runOne(o, j.seed, j.policy, x, progress)
			results[i], errs[i] = r, err
			if err == nil && progress != nil {
				mu.Lock()
				fmt.Fprintf(progress, "seed %d %s: %s\n", j.seed, j.policy, oneLine(&r))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(stderr, "fraudeval: seed %d %s: %v\n", jobs[i].seed, jobs[i].policy, err)
			return 1
		}
	}
	summary(stdout, o, results)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"seeds": o.seeds, "scale": o.scale, "history_days": o.history, "runs": results, "summary": summarize(results)}, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(stderr, "fraudeval:", err)
			return 1
		}
	}
	return 0
}

func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if a, b, ok := strings.Cut(part, "-"); ok {
			x, err1 := strconv.ParseUint(a, 10, 64)
			y, err2 := strconv.ParseUint(b, 10, 64)
			if err1 != nil || err2 != nil || y < x || y-x > 10000 {
				return nil, fmt.Errorf("bad seed range %q", part)
			}
			for v := x; v <= y; v++ {
				out = append(out, v)
			}
			continue
		}
		v, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q", part)
		}
		out = append(out, v)
	}
	return out, nil
}

func generate(o opts, seed uint64, x *number.Intel) (*attackgen.Scenario, error) {
	return attackgen.Generate(attackgen.Options{Seed: seed, HistoryDays: o.history, Scale: o.scale, Intel: x, Profile: o.profile})
}

// writePolicy writes the deck and the policy into dir and returns the
// policy's path.
func writePolicy(sc *attackgen.Scenario, dir, policy string) (string, error) {
	deck := filepath.Join(dir, "rates.csv")
	f, err := os.Create(deck)
	if err != nil {
		return "", err
	}
	if err := sc.WriteDeck(f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	y, err := sc.Policy(policy, deck)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "policy-"+policy+".yaml")
	return p, os.WriteFile(p, y, 0o644)
}

var tokenRE = regexp.MustCompile(`TOLLGATE_TOKEN=(tg_[A-Za-z0-9_-]+)`)

func runOne(o opts, seed uint64, policy string, x *number.Intel, progress io.Writer) (RunResult, error) {
	sc, err := generate(o, seed, x)
	if err != nil {
		return RunResult{}, err
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("fraudeval-%d-%s-", seed, policy))
	if err != nil {
		return RunResult{}, err
	}
	defer os.RemoveAll(dir)
	path, err := writePolicy(sc, dir, policy)
	if err != nil {
		return RunResult{}, err
	}
	ctx := context.Background()
	d := &Driver{Base: strings.TrimRight(o.url, "/"), Token: o.token, Progress: progress}
	if o.url == "" {
		cfg, err := config.Load(path)
		if err != nil {
			return RunResult{}, err
		}
		// The evaluation drives the server in the stream's own (past)
		// time: the live clock-skew bound of the shipped policy is off.
		cfg.Server.MaxClockSkew = 0
		var out bytes.Buffer
		// EventTime: the server's clock moves with the stream only, so
		// the drive is reproducible (Driver).
		srv, err := cli.Start(ctx, cli.Options{Config: cfg, DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", EventTime: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: &out})
		if err != nil {
			return RunResult{}, fmt.Errorf("start tollgate: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		m := tokenRE.FindStringSubmatch(out.String())
		if m == nil {
			return RunResult{}, errors.New("no admin token printed at first start")
		}
		d.Base, d.Token = "http://"+srv.Addr.String(), m[1]
	}
	t0 := time.Now()
	outs, err := d.Run(ctx, sc)
	if err != nil {
		return RunResult{}, err
	}
	alerts, err := d.Alerts(ctx)
	if err != nil {
		return RunResult{}, err
	}
	r := Score(sc, outs, alerts)
	if o.trace != "" {
		if err := writeTrace(o.trace, sc, policy, outs, alerts); err != nil {
			return r, err
		}
	}
	r.Policy, r.WallS, r.Requests, r.Forgotten = policy, round2(time.Since(t0).Seconds()), d.Requests, d.Forgotten
	r.EndedByServer, r.EndStream = d.Ended, !d.NoEndStream
	if o.replay {
		rep, err := replay(sc, dir, path, o.repFmt)
		if err != nil {
			return r, fmt.Errorf("replay: %w", err)
		}
		r.Replay = rep
	}
	return r, nil
}

// replay feeds the stream's CDRs (as written, nothing refused) to
// `tollgate replay` with the same policy and returns its JSON report.
func replay(sc *attackgen.Scenario, dir, policy, format string) (any, error) {
	p := filepath.Join(dir, "cdrs.jsonl")
	write := attackgen.WriteCDRs
	if format == "asterisk" {
		p, write = filepath.Join(dir, "Master.csv"), attackgen.WriteAsterisk
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	if err := write(f, sc.Calls); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	if rc := cli.Main([]string{"replay", "-config", policy, "-format", format, "-json", "-q", p}, nil, &out, &errb); rc != 0 {
		return nil, fmt.Errorf("exit %d: %s", rc, strings.TrimSpace(errb.String()))
	}
	var rep struct {
		Alerts        []Alert `json:"alerts"`
		CDRsPerSecond float64 `json:"cdrs_per_second"`
		Seconds       float64 `json:"seconds"`
		Estimated     float64 `json:"estimated_fraud_cost"`
		Flagged       int     `json:"flagged_calls"`
		Actions       []any   `json:"actions"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return nil, err
	}
	return ScoreReplay(sc, rep.Alerts, rep.CDRsPerSecond, rep.Estimated, rep.Flagged, len(rep.Actions)), nil
}

func export(o opts, seed uint64, x *number.Intel, stdout io.Writer) error {
	sc, err := generate(o, seed, x)
	if err != nil {
		return err
	}
	dir := filepath.Join(o.export, fmt.Sprintf("seed-%d", seed))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	for _, p := range []string{attackgen.PolicyOperator, attackgen.PolicyDefault} {
		if _, err := writePolicy(sc, dir, p); err != nil {
			return err
		}
	}
	files := []struct {
		name string
		w    func(io.Writer) error
	}{
		{"calls.jsonl", func(w io.Writer) error { return attackgen.WriteCalls(w, sc.Calls) }},
		{"calls.csv", func(w io.Writer) error { return attackgen.WriteCSV(w, sc.Calls) }},
		{"cdrs.jsonl", func(w io.Writer) error { return attackgen.WriteCDRs(w, sc.Calls) }},
		{"Master.csv", func(w io.Writer) error { return attackgen.WriteAsterisk(w, sc.Calls) }},
		{"scenario.json", func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(sc)
		}},
	}
	for _, fl := range files {
		f, err := os.Create(filepath.Join(dir, fl.name))
		if err != nil {
			return err
		}
		if err := fl.w(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "seed %d: %d calls, %d attacks → %s\n", seed, len(sc.Calls), len(sc.Attacks), dir)
	return nil
}

func oneLine(r *RunResult) string {
	stopped, leaked := 0, 0.0
	for _, a := range r.Attacks {
		if a.Stopped {
			stopped++
		}
		leaked += a.Leaked
	}
	return fmt.Sprintf("%d calls, %d/%d attacks stopped, $%.2f leaked, rejects %.1f + challenges %.1f per 10k legit, false alerts %.1f per 10k (%.0fs)",
		r.Calls, stopped, len(r.Attacks), leaked, r.Legit.RejectPer10k, r.Legit.ChallengePer10k, r.Legit.FalseAlertPer10k, r.WallS)
}

// PolicySummary aggregates runs of one policy.
type PolicySummary struct {
	Policy           string                   `json:"policy"`
	Runs             int                      `json:"runs"`
	Attacks          int                      `json:"attacks"`
	Stopped          int                      `json:"stopped"`
	StoppedStrict    int                      `json:"stopped_strict"`
	LeakedMedian     float64                  `json:"leaked_per_attack_median_usd"`
	LeakedWorst      float64                  `json:"leaked_per_attack_worst_usd"`
	WorstAttack      string                   `json:"worst_attack"`
	LeakedTotal      float64                  `json:"leaked_total_usd"`
	PlannedTotal     float64                  `json:"planned_total_usd"`
	FirstStopMedianS float64                  `json:"first_stop_median_s"`
	LegitWeekCalls   int                      `json:"legit_attack_week_calls"`
	RejectPer10k     float64                  `json:"rejects_per_10k"`
	ChallengePer10k  float64                  `json:"challenges_per_10k"`
	FalseAlertPer10k float64                  `json:"false_alerts_per_10k"`
	Classes          map[string]*ClassSummary `json:"classes"`
	RefusalReasons   map[string]int           `json:"refusal_reasons"`
	FalseAlertCodes  map[string]int           `json:"false_alert_codes"`
}

// ClassSummary aggregates the attacks of one class.
type ClassSummary struct {
	Attacks      int     `json:"attacks"`
	Stopped      int     `json:"stopped"`
	LeakedMedian float64 `json:"leaked_median_usd"`
	LeakedWorst  float64 `json:"leaked_worst_usd"`
	Planned      float64 `json:"planned_median_usd"`
	leaks, plans []float64
}

func summarize(rs []RunResult) []*PolicySummary {
	by := map[string]*PolicySummary{}
	var order []string
	leaks := map[string][]float64{}
	stops := map[string][]float64{}
	rej, chal, fa := map[string]int{}, map[string]int{}, map[string]int{}
	for _, r := range rs {
		s := by[r.Policy]
		if s == nil {
			s = &PolicySummary{Policy: r.Policy, Classes: map[string]*ClassSummary{}, RefusalReasons: map[string]int{}, FalseAlertCodes: map[string]int{}}
			by[r.Policy] = s
			order = append(order, r.Policy)
		}
		s.Runs++
		for _, a := range r.Attacks {
			s.Attacks++
			if a.Stopped {
				s.Stopped++
			}
			if a.StoppedStrict {
				s.StoppedStrict++
			}
			leaks[r.Policy] = append(leaks[r.Policy], a.Leaked)
			if a.Leaked > s.LeakedWorst || s.WorstAttack == "" {
				s.LeakedWorst, s.WorstAttack = a.Leaked, fmt.Sprintf("seed %d %s", r.Seed, a.ID)
			}
			s.LeakedTotal += a.Leaked
			s.PlannedTotal += a.Planned
			if a.FirstStopS >= 0 {
				stops[r.Policy] = append(stops[r.Policy], a.FirstStopS)
			}
			c := s.Classes[a.Class]
			if c == nil {
				c = &ClassSummary{}
				s.Classes[a.Class] = c
			}
			c.Attacks++
			if a.Stopped {
				c.Stopped++
			}
			c.leaks = append(c.leaks, a.Leaked)
			c.plans = append(c.plans, a.Planned)
		}
		s.LegitWeekCalls += r.Legit.WeekCalls
		rej[r.Policy] += r.Legit.WeekRejects
		chal[r.Policy] += r.Legit.WeekChallenges
		fa[r.Policy] += r.Legit.WeekFalseAlert
		for k, v := range r.Legit.RefusalReasons {
			s.RefusalReasons[k] += v
		}
		for k, v := range r.Legit.FalseAlertCodes {
			s.FalseAlertCodes[k] += v
		}
	}
	var out []*PolicySummary
	for _, p := range order {
		s := by[p]
		s.LeakedMedian = round2(median(leaks[p]))
		s.LeakedTotal = round2(s.LeakedTotal)
		s.PlannedTotal = round2(s.PlannedTotal)
		s.FirstStopMedianS = round2(median(stops[p]))
		if s.LegitWeekCalls > 0 {
			n := float64(s.LegitWeekCalls)
			s.RejectPer10k = round2(float64(rej[p]) / n * 1e4)
			s.ChallengePer10k = round2(float64(chal[p]) / n * 1e4)
			s.FalseAlertPer10k = round2(float64(fa[p]) / n * 1e4)
		}
		for _, c := range s.Classes {
			c.LeakedMedian = round2(median(c.leaks))
			c.Planned = round2(median(c.plans))
			for _, v := range c.leaks {
				if v > c.LeakedWorst {
					c.LeakedWorst = v
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func summary(w io.Writer, o opts, rs []RunResult) {
	fmt.Fprintf(w, "%-6s %-9s %7s %8s %10s %9s %9s %9s %6s\n", "seed", "policy", "calls", "stopped", "leaked $", "rej/10k", "pin/10k", "alrt/10k", "ended")
	for i := range rs {
		r := &rs[i]
		stopped, leaked := 0, 0.0
		for _, a := range r.Attacks {
			if a.Stopped {
				stopped++
			}
			leaked += a.Leaked
		}
		fmt.Fprintf(w, "%-6d %-9s %7d %4d/%-3d %10.2f %9.2f %9.2f %9.2f %6d\n", r.Seed, r.Policy, r.Calls, stopped, len(r.Attacks), leaked, r.Legit.RejectPer10k, r.Legit.ChallengePer10k, r.Legit.FalseAlertPer10k, r.EndedByServer)
	}
	for _, s := range summarize(rs) {
		fmt.Fprintf(w, "\npolicy %s — %d seeds, attack week only for legitimate-call rates\n", s.Policy, s.Runs)
		fmt.Fprintf(w, "  attacks stopped      %d / %d (%d counting refusals at screening only)\n", s.Stopped, s.Attacks, s.StoppedStrict)
		fmt.Fprintf(w, "  leaked per attack    median $%.2f, worst $%.2f (%s)\n", s.LeakedMedian, s.LeakedWorst, s.WorstAttack)
		fmt.Fprintf(w, "  leaked in all        $%.2f of $%.2f attempted\n", s.LeakedTotal, s.PlannedTotal)
		fmt.Fprintf(w, "  time to first stop   median %.0f s\n", s.FirstStopMedianS)
		fmt.Fprintf(w, "  legitimate calls     %d: rejects %.2f, PIN challenges %.2f, false alerts %.2f per 10k\n", s.LegitWeekCalls, s.RejectPer10k, s.ChallengePer10k, s.FalseAlertPer10k)
		fmt.Fprintf(w, "  %-20s %7s %8s %12s %12s %12s\n", "class", "attacks", "stopped", "leak median", "leak worst", "attempted")
		names := make([]string, 0, len(s.Classes))
		for n := range s.Classes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := s.Classes[n]
			fmt.Fprintf(w, "  %-20s %7d %8d %12.2f %12.2f %12.2f\n", n, c.Attacks, c.Stopped, c.LeakedMedian, c.LeakedWorst, c.Planned)
		}
		var worst []string
		type wa struct {
			name string
			a    AttackResult
		}
		var all []wa
		for _, r := range rs {
			if r.Policy != s.Policy {
				continue
			}
			for _, a := range r.Attacks {
				all = append(all, wa{fmt.Sprintf("seed %d %s", r.Seed, a.ID), a})
			}
		}
		sort.SliceStable(all, func(i, j int) bool { return all[i].a.Leaked > all[j].a.Leaked })
		for i := 0; i < len(all) && i < 5 && all[i].a.Leaked > 0; i++ {
			a := all[i].a
			worst = append(worst, fmt.Sprintf("    $%8.2f of $%8.2f  %-32s %d/%d connected, first stop %s, %s", a.Leaked, a.Planned, all[i].name, a.Connected, a.Attempts, dur(a.FirstStopS), strings.Join(a.Reasons, ", ")))
		}
		if len(worst) > 0 {
			fmt.Fprintln(w, "  costliest attacks")
			for _, l := range worst {
				fmt.Fprintln(w, l)
			}
		}
		printTop(w, "  refusals of legitimate calls by reason", s.RefusalReasons)
		printTop(w, "  false alerts by code", s.FalseAlertCodes)
	}
}

func dur(s float64) string {
	if s < 0 {
		return "never"
	}
	return (time.Duration(s) * time.Second).String()
}

func printTop(w io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v || (s[i].v == s[j].v && s[i].k < s[j].k) })
	for i, x := range s {
		if i == 8 {
			break
		}
		fmt.Fprintf(w, "    %6d  %s\n", x.v, x.k)
	}
}
