package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/alert"
	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/eventclock"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/store"
)

// Replay is what a replay found.
type Replay struct {
	Files     []string      `json:"files"`
	Read      cdr.Stats     `json:"read"`
	Detection detect.Stats  `json:"detection"`
	Alerts    []store.Alert `json:"alerts"`
	Actions   []action.Done `json:"actions"`
	Flagged   int           `json:"flagged_calls"`
	FraudCost float64       `json:"estimated_fraud_cost"`
	// Leaked is what the flagged calls cost as played: let through by
	// screening with the actions in force at their start, ended early by
	// the in-call watch or the per-call cost cap.
	Leaked    float64        `json:"leaked"`
	Stopped   int            `json:"stopped_calls"` // refused at their start by a block or action in force
	Cut       int            `json:"cut_calls"`     // ended early (in-call finding or cost cap)
	TotalCost float64        `json:"total_cost"`
	TopExt    []Top          `json:"top_extensions"`
	TopDest   []Top          `json:"top_destinations"`
	Seconds   float64        `json:"seconds"`
	PerSecond float64        `json:"cdrs_per_second"`
	Severity  map[string]int `json:"alerts_by_severity"`

	verdicts []replayVerdict // with ReplayOptions.keepVerdicts
}

// Top is one line of a top list.
type Top struct {
	Name  string  `json:"name"`
	Calls int     `json:"calls"`
	Cost  float64 `json:"cost"`
}

// tally is a detector that only counts: cost by extension and by country.
// Observe only notes each call (buf); the sums are made by add, on the
// parsing goroutine when a batch comes back (off the detectors' path), in
// the order the calls ended.
type tally struct {
	buf   []tallied // the detectors' goroutine's
	ext   map[*baseline.Handle]*Top
	dest  map[string]*Top
	total float64
}

// tallied is one call as the tally counts it.
type tallied struct {
	h                    *baseline.Handle // its extension (a key only)
	tenant, ext, country string
	cost                 float64
	intl                 bool
}

func (*tally) Name() string { return "tally" }

// EndOnly implements detect.EndOnly: the tally counts a call's cost.
func (*tally) EndOnly() bool { return true }

func (t *tally) Observe(c *detect.Call, _ time.Time, _ detect.Emit) {
	if !c.Outbound() || c.Attempt {
		return
	}
	t.buf = append(t.buf, tallied{h: c.Handle, tenant: c.Rec.Tenant, ext: c.Rec.Extension, country: c.Dest.Country, cost: c.Cost, intl: c.International})
}

// add counts calls noted by Observe.
func (t *tally) add(cs []tallied) {
	for i := range cs {
		c := &cs[i]
		x := t.ext[c.h]
		if x == nil {
			x = &Top{Name: c.tenant + "/" + c.ext}
			t.ext[c.h] = x
		}
		x.Calls++
		x.Cost += c.cost
		if c.intl {
			y := t.dest[c.country]
			if y == nil {
				y = &Top{Name: c.country}
				t.dest[c.country] = y
			}
			y.Calls++
			y.Cost += c.cost
		}
		t.total += c.cost
	}
}

func tops[K comparable](m map[K]*Top, n int) []Top {
	out := make([]Top, 0, len(m))
	for _, x := range m {
		out = append(out, *x)
	}
	return top(out, n)
}

func top(out []Top, n int) []Top {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Cost != out[j].Cost {
			return out[i].Cost > out[j].Cost
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// ReplayOptions configures RunReplay.
type ReplayOptions struct {
	Read     cdr.Options
	Progress io.Writer // nil: no progress bar

	keepVerdicts bool // tests: keep each call's verdict at its start
}

// RunReplay runs CDR files through the detection engine as if live, in
// event time, with the policy of eng.
func RunReplay(eng *engine.Engine, files []string, o ReplayOptions) (*Replay, error) {
	cfg := eng.Config()
	am := alert.New(alert.Options{Dedup: cfg.Alerts.DedupS.Duration()})
	clock := eventclock.New(nil) // event time only
	blk := blocks.NewLiveWith(clock)
	acts := action.NewLive()
	act := &action.Manager{Blocks: action.NewMemoryBlocks(), Actions: action.NewMemory(), BlockLive: blk, ActionLive: acts, Alerts: am, Clock: clock,
		Remember: cfg.Detect.Wangiri.RememberS.Duration()}
	ctx := context.Background()
	var det *detect.Engine
	rp := &replayer{act: act, blk: blk, acts: acts, clock: clock, ic: &cfg.Detect.InCall, on: cfg.Detect.Enabled && cfg.Detect.InCall.On(), ctx: ctx,
		nums: detect.NewNumbers(eng), running: map[uint64]*rcall{}, flagged: map[string]bool{}, keep: o.keepVerdicts}
	sink := rp.finding
	t := &tally{ext: map[*baseline.Handle]*Top{}, dest: map[string]*Top{}}
	rp.tally = t
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		total += st.Size()
	}
	rep := &Replay{Files: files, Severity: map[string]int{}}
	var done atomic.Int64
	stop := make(chan struct{})
	finished := make(chan struct{})
	if o.Progress != nil {
		go progress(o.Progress, &done, total, stop, finished)
	} else {
		close(finished)
	}
	start := time.Now()
	var err error
	base := baseline.New()
	det = detect.NewEngine(&cfg.Detect, eng, base, append(all.Build(&cfg.Detect, base), t), sink)
	rp.det = det
	for _, name := range files {
		if err = replayFile(name, rp, o.Read, &rep.Read, &done); err != nil {
			break
		}
	}
	rp.finish()
	t.add(t.buf)
	close(stop)
	<-finished
	if err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(start).Seconds()
	rep.Detection = det.Stats()
	if rep.Seconds > 0 {
		rep.PerSecond = float64(rep.Read.Records) / rep.Seconds
	}
	rep.Alerts = am.Alerts()
	for _, a := range rep.Alerts {
		rep.Severity[a.Severity]++
	}
	rep.Actions = act.Done()
	rep.Flagged, rep.FraudCost, rep.Leaked = len(rp.flagged), rp.leaked, rp.leaked
	rep.Stopped, rep.Cut = rp.stopped, rp.cut
	rep.verdicts = rp.verdicts
	rep.TotalCost = t.total
	rep.TopExt, rep.TopDest = tops(t.ext, 10), tops(t.dest, 10)
	return rep, nil
}

type countReader struct {
	r    io.Reader
	done *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done.Add(int64(n))
	return n, err
}

// replayBatch is how many records the parser hands the detectors at once.
const replayBatch = 512

// replayFile parses on its own goroutine and runs the detectors on this
// one, handing records over in batches (two cores: parsing and detection
// overlap instead of adding up).
func replayFile(name string, rp *replayer, o cdr.Options, st *cdr.Stats, done *atomic.Int64) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := cdr.NewReader(&countReader{r: f, done: done}, o)
	full := make(chan *startBatch, 4)
	free := make(chan *startBatch, 4)
	for range 4 {
		free <- &startBatch{starts: make([]*pstart, 0, replayBatch), slots: make([]int32, 0, replayBatch), marks: make([]smark, 0, replayBatch)}
	}
	go func() {
		defer close(full)
		q := &rp.sq
		last := int64(math.MinInt64)
		for b := range free {
			q.unheld(b) // played
			rp.tally.add(b.tallied)
			b.tallied = b.tallied[:0]
			more := true
			for len(b.starts) < replayBatch-64 && len(b.marks) < replayBatch {
				i := q.slot()
				s := q.at(i)
				if !rd.Next(&s.rec) {
					q.unhold(i)
					more = false
					break
				}
				// The far end's look-up too: the detectors' goroutine is
				// the busier one.
				s.num = rp.nums.Resolve(&s.rec)
				s.idh = rp.det.HashID(s.rec.CallID)
				t := q.hold(i)
				n := len(b.starts)
				q.release(t, b)
				if t > last || len(b.starts) > n {
					b.marks = append(b.marks, smark{n: len(b.starts), t: t})
					last = t
				}
			}
			if len(b.marks) > 0 {
				full <- b
			} else {
				free <- b
			}
			if !more {
				return
			}
		}
	}()
	for b := range full {
		rp.playBatch(b)
		// The calls the tally noted go back with the batch, to be added
		// up there.
		b.tallied, rp.tally.buf = rp.tally.buf, b.tallied
		free <- b
	}
	for range len(free) { // the parsing goroutine has ended: its queue and tally are this one's
		b := <-free
		rp.sq.unheld(b)
		rp.tally.add(b.tallied)
		b.tallied = b.tallied[:0]
	}
	s := rd.Stats()
	st.Lines += s.Lines
	st.Records += s.Records
	st.Malformed += s.Malformed
	for _, e := range s.Errors {
		if len(st.Errors) < cdr.MaxReported {
			e.File = name
			st.Errors = append(st.Errors, e)
		}
	}
	return rd.Err()
}

func progress(w io.Writer, done *atomic.Int64, total int64, stop <-chan struct{}, finished chan<- struct{}) {
	defer close(finished)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	draw := func() {
		d := done.Load()
		frac := 1.0
		if total > 0 {
			frac = min(1, float64(d)/float64(total))
		}
		n := int(frac * 30)
		fmt.Fprintf(w, "\r[%s%s] %3.0f%% %s / %s", strings.Repeat("#", n), strings.Repeat(".", 30-n), 100*frac, size(d), size(total))
	}
	for {
		select {
		case <-t.C:
			draw()
		case <-stop:
			draw()
			fmt.Fprintln(w)
			return
		}
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (e *env) replay(args []string) error {
	fs := newFlags("replay", e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (default: the built-in policy)")
	format := fs.String("format", "auto", "auto, asterisk, freeswitch or json (JSON lines)")
	tz := fs.String("tz", "UTC", "zone of time stamps without an offset (Asterisk writes local time)")
	tenant := fs.String("tenant", "", "tenant of records that name none")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	quiet := fs.Bool("q", false, "no progress bar (it is drawn only when stderr is a terminal)")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("replay: name at least one CDR file")
	}
	f, ok := cdr.ParseFormat(*format)
	if !ok {
		return usagef("replay: -format %q: want auto, asterisk, freeswitch or json", *format)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usagef("replay: -tz %q: %v", *tz, err)
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	intel, err := number.New(number.Options{RiskFiles: cfg.Numbers.RiskFiles, RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel})
	if err != nil {
		return err
	}
	o := ReplayOptions{Read: cdr.Options{Format: f, Location: loc, Tenant: *tenant}}
	if !*quiet && isTerminal(e.stderr) {
		o.Progress = e.stderr
	}
	rep, err := RunReplay(eng, files, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReplay(e.stdout, rep)
	}
	// Nothing read is a failure, not an empty success: a wrong -format,
	// a wrong file or a file that is all garbage must not exit 0.
	if rep.Read.Records == 0 {
		return fmt.Errorf("replay: no CDR could be read: %d of %d lines malformed in %d file(s) (wrong -format?)", rep.Read.Malformed, rep.Read.Lines, len(files))
	}
	return nil
}

// countBy lists how many of n items have each key, as "a 2, b 1", by key.
func countBy(n int, key func(int) string) string {
	m := map[string]int{}
	for i := range n {
		m[key(i)]++
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func printReplay(w io.Writer, r *Replay) {
	fmt.Fprintf(w, "replayed   %d CDRs from %d file(s) in %.2fs (%.0f CDRs/s)\n", r.Read.Records, len(r.Files), r.Seconds, r.PerSecond)
	fmt.Fprintf(w, "malformed  %d of %d lines\n", r.Read.Malformed, r.Read.Lines)
	for i, e := range r.Read.Errors {
		if i == 10 {
			fmt.Fprintf(w, "           … %d more\n", r.Read.Malformed-10)
			break
		}
		fmt.Fprintf(w, "           %s\n", e.Error())
	}
	d := r.Detection
	fmt.Fprintf(w, "detection  %d observed, %d duplicate, %d rejected (unknown tenant or number), %d late\n", d.Observed, d.Duplicates, d.Rejected, d.Late)
	fmt.Fprintf(w, "alerts     %d (critical %d, warning %d, info %d)\n", len(r.Alerts), r.Severity["critical"], r.Severity["warning"], r.Severity["info"])
	if len(r.Alerts) > 0 {
		fmt.Fprintf(w, "  by code  %s\n", countBy(len(r.Alerts), func(i int) string { return r.Alerts[i].Code }))
	}
	shown := 0
	for _, a := range r.Alerts { // the serious ones; -json has them all
		if a.Severity == "info" {
			continue
		}
		if shown == 25 {
			fmt.Fprintf(w, "           … more warning and critical alerts (use -json)\n")
			break
		}
		shown++
		fmt.Fprintf(w, "  %s %-8s %-24s %s\n", a.Time.UTC().Format("2006-01-02 15:04:05"), a.Severity, a.Code, a.Text)
	}
	fmt.Fprintf(w, "actions    %d", len(r.Actions))
	if len(r.Actions) > 0 {
		fmt.Fprintf(w, " (%s)", countBy(len(r.Actions), func(i int) string { return r.Actions[i].Action }))
	}
	fmt.Fprintln(w)
	shown = 0
	for _, a := range r.Actions { // remembered Wangiri callers are only counted above
		if a.Action == "wangiri_callback" {
			continue
		}
		if shown == 20 {
			fmt.Fprintf(w, "           … more (use -json)\n")
			break
		}
		shown++
		fmt.Fprintf(w, "  %s %-16s %s %s:%s\n", a.Time.UTC().Format("2006-01-02 15:04:05"), a.Action, a.Tenant, a.Target.Kind, a.Target.Value)
	}
	fmt.Fprintf(w, "cost       %.2f in total; %.2f leaked over %d flagged calls (what screening with the detectors' actions would have let through)\n", r.TotalCost, r.Leaked, r.Flagged)
	fmt.Fprintf(w, "enforced   %d calls refused at their start by a block or action in force, %d ended early (in-call watch, cost cap)\n", r.Stopped, r.Cut)
	fmt.Fprintln(w, "top extensions (by cost)")
	for _, t := range r.TopExt {
		fmt.Fprintf(w, "  %-28s %6d calls %10.2f\n", t.Name, t.Calls, t.Cost)
	}
	fmt.Fprintln(w, "top international destinations (by cost)")
	for _, t := range r.TopDest {
		fmt.Fprintf(w, "  %-28s %6d calls %10.2f\n", t.Name, t.Calls, t.Cost)
	}
}
