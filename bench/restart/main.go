// Command restart measures how long a tollgate node takes to come back,
// and how much memory it needs, after a busy day: it builds the data
// directory that a day at -rate calls/s leaves behind (the state snapshot
// and the decision log's tail since it), then starts a real 'tollgate
// serve' on it and times it from exec until /healthz answers, reading the
// peak RSS (VmHWM) once it serves.
//
// What is simulated. Generating 86.4 million decisions is out of reach
// here, and most of them leave nothing behind: every window the policy
// keeps is an hour long or shorter, except the distinct-callee window (a
// day), whose contents are bounded by each extension's pool of callees
// and fill within the first hours. So the tool drives the real engine,
// in event time ending now, through the last -drive of the day at the
// full rate (screenings, answers and ends, sweeps every 30 s as serve
// does), which leaves exactly the windows, slots, live calls and recent
// sum ids of the day's end. From the snapshot's time-based tail start
// (snapshot time - max_clock_skew_s - 1 s) on, it writes the decisions
// and call events into the node's segment log (records/) once a simulated
// second, as the node's decision writer would; it writes the snapshot
// -interval before the end, as the periodic snapshot would have, with
// the log's write position (unless -no-mark: then a restart reads the
// tail by time, as before the position was recorded), and goes on to the
// end. What differs from a real day: the spend sums' values (an hour's,
// not a day's; the same bytes) and the decision log's older rows, which a
// restart from a snapshot never reads.
//
//	go build -o /tmp/tollgate ./cmd/tollgate
//	go run ./bench/restart -bin /tmp/tollgate -rate 1000 -drive 1h
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/counter"
	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store"
)

func main() {
	bin := flag.String("bin", "", "tollgate binary (go build -o /tmp/tollgate ./cmd/tollgate)")
	rate := flag.Int("rate", 1000, "calls per second")
	drive := flag.Duration("drive", time.Hour, "how much of the day's end to drive through the engine")
	tenants := flag.Int("tenants", 200, "tenants")
	exts := flag.Int("exts", 250, "extensions per tenant")
	callees := flag.Int("callees", 20, "numbers each extension calls (its pool)")
	intl := flag.Float64("intl", 0.10, "share of international calls")
	interval := flag.Duration("interval", 10*time.Second, "snapshot interval (serve's)")
	skew := flag.Int("skew", 60, "server.max_clock_skew_s")
	dir := flag.String("dir", "", "data directory to build (default: a temporary one)")
	runs := flag.Int("runs", 3, "restarts to time")
	noSnap := flag.Bool("no-snapshot", false, "also time a restart without the snapshot (the log's tail only: what the old path would read for that much log)")
	noMark := flag.Bool("no-mark", false, "write the snapshot without the decision log's write position (the tail is then read by time)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "restart: -bin is required")
		os.Exit(2)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "tollgate-restart-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	data := filepath.Join(*dir, "data")
	os.MkdirAll(data, 0o750)
	pol := policy(*tenants, *skew)
	polFile := filepath.Join(*dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte(pol), 0o600); err != nil {
		fail(err)
	}
	g := &gen{rate: *rate, tenants: *tenants, exts: *exts, callees: *callees, intl: *intl, rng: rand.New(rand.NewPCG(7, 11))}
	st, err := g.build(pol, data, *drive, *interval, time.Duration(*skew)*time.Second, !*noMark)
	if err != nil {
		fail(err)
	}
	fmt.Printf("simulated: %d calls/s, %d tenants x %d extensions, %d callees each, %.0f%% international; drove the last %s of the day (%d screenings, %d call events)\n",
		*rate, *tenants, *exts, *callees, *intl*100, *drive, st.screens, st.events)
	fmt.Printf("state at the day's end: %d live calls, %d counters; snapshot %.1f MB written in %s; tail %d decisions + %d call events stored\n",
		st.live, st.counters, float64(st.snapBytes)/1e6, st.snapTook.Round(time.Millisecond), st.tailD, st.tailE)
	for i := range *runs {
		r := start(*bin, polFile, data)
		fmt.Printf("restart %d (snapshot + tail): serving after %s (CPU %s), peak RSS %.0f MB; %s\n", i+1, r.took.Round(time.Millisecond), r.cpu, float64(r.hwm)/1024, r.line)
		// The stopped node wrote a fresh snapshot at its drain; put the
		// day's back so every run restores the same state.
		if err := os.WriteFile(filepath.Join(data, "state.snap"), st.snap, 0o600); err != nil {
			fail(err)
		}
	}
	if *noSnap {
		os.Remove(filepath.Join(data, "state.snap"))
		r := start(*bin, polFile, data)
		fmt.Printf("restart without the snapshot (same %d-decision log): serving after %s (CPU %s), peak RSS %.0f MB; %s\n", st.tailD, r.took.Round(time.Millisecond), r.cpu, float64(r.hwm)/1024, r.line)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "restart:", err)
	os.Exit(1)
}

func policy(tenants, skew int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  max_clock_skew_s: %d
  tokens:
    - {name: pbx, role: screen, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
detectors:
  enabled: false
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow, "49": allow, "33": allow}
  limits:
    extension:
      international_calls_per_hour: 10
      international_burst: {calls: 10, window_s: 300}
      concurrent_international: 4
      distinct_callees_per_day: 100
    account:
      international_spend_daily: 1000000
      international_calls_daily: off
      concurrent_calls: 5000
tenants:
`, skew)
	for i := range tenants {
		fmt.Fprintf(&b, "  t%03d: {}\n", i)
	}
	return b.String()
}

type gen struct {
	rate, tenants, exts, callees int
	intl                         float64
	rng                          *rand.Rand
}

type stats struct {
	screens, events, live, counters, tailD, tailE int
	snap                                          []byte
	snapBytes                                     int
	snapTook                                      time.Duration
}

// tail records the decisions and events at or after from, and writes
// them to the log at flush.
type tail struct {
	mu     sync.Mutex
	from   time.Time
	ds     []store.Decision
	es     []store.CallEvent
	nd, ne int
}

func (t *tail) flush(ctx context.Context, l *seglog.Log) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.ds) > 0 {
		if err := l.AppendDecisions(ctx, t.ds); err != nil {
			return err
		}
	}
	if len(t.es) > 0 {
		if err := l.AppendCallEvents(ctx, t.es); err != nil {
			return err
		}
	}
	t.nd, t.ne = t.nd+len(t.ds), t.ne+len(t.es)
	t.ds, t.es = t.ds[:0], t.es[:0]
	return nil
}

func (t *tail) Decision(d store.Decision) bool {
	if !d.Time.Before(t.from) {
		t.mu.Lock()
		t.ds = append(t.ds, d)
		t.mu.Unlock()
	}
	return true
}

func (t *tail) Event(e store.CallEvent) bool {
	if !e.Time.Before(t.from) {
		t.mu.Lock()
		t.es = append(t.es, e)
		t.mu.Unlock()
	}
	return true
}

type pending struct {
	id  string
	typ string
	dur int
}

var callees = []string{"+1212555", "+1312555", "+1415555", "+1617555", "+44207946", "+4930123", "+3314567"}

func (g *gen) callee(tn, ext, k int) string {
	// A stable pool per extension: the first ones domestic, the last
	// ones international, so the international share holds.
	intlPool := max(1, int(float64(g.callees)*g.intl*2))
	if k < g.callees-intlPool {
		return fmt.Sprintf("%s%04d", callees[k%4], (tn*31+ext*7+k)%10000)
	}
	return fmt.Sprintf("%s%04d", callees[4+k%3], (tn*17+ext*13+k)%10000)
}

func (g *gen) build(pol, data string, drive, interval, skew time.Duration, withMark bool) (stats, error) {
	var st stats
	cfg, err := config.Parse("policy.yaml", []byte(pol))
	if err != nil {
		return st, err
	}
	intel, err := number.New(number.Options{})
	if err != nil {
		return st, err
	}
	end := time.Now().UTC().Truncate(time.Second)
	snapAt := end.Add(-interval)
	now := end.Add(-drive)
	tl := &tail{from: snapAt.Add(-skew - time.Second)}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Recorder: tl, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return st, err
	}
	log, err := seglog.Open(node.RecordsDir(data), seglog.Options{DeferSync: true})
	if err != nil {
		return st, err
	}
	defer log.Close()
	ring := make([][]pending, 600) // seconds ahead
	ctx := context.Background()
	var v screen.Verdict
	var c screen.Call
	seq := 0
	snapped := false
	for t := now; t.Before(end); t = t.Add(time.Second) {
		now = t
		sec := int(t.Unix())
		// Events due this second.
		slot := &ring[sec%len(ring)]
		for _, p := range *slot {
			ev := engine.Event{CallID: p.id, Type: p.typ, Time: t}
			if p.typ == "end" {
				d := p.dur
				ev.Duration = &d
			}
			eng.Event(ctx, ev)
			st.events++
		}
		*slot = (*slot)[:0]
		for i := range g.rate {
			tn, ext := g.rng.IntN(g.tenants), g.rng.IntN(g.exts)
			k := g.rng.IntN(g.callees)
			if g.rng.Float64() < g.intl {
				k = g.callees - 1 - g.rng.IntN(max(1, int(float64(g.callees)*g.intl*2)))
			}
			seq++
			id := "c" + strconv.Itoa(seq)
			at := t.Add(time.Duration(i) * time.Second / time.Duration(g.rate))
			c = screen.Call{ID: id, Tenant: fmt.Sprintf("t%03d", tn), Extension: strconv.Itoa(1000 + ext), Caller: strconv.Itoa(1000 + ext),
				Callee: g.callee(tn, ext, k), Direction: screen.Outbound, Time: at}
			if err := eng.Screen(ctx, &c, &v); err != nil {
				return st, err
			}
			st.screens++
			if v.Enforced == screen.Reject {
				continue
			}
			// 80 % answered after 2-8 s, lasting 10-230 s; the rest end
			// unanswered after 5-30 s.
			if g.rng.Float64() < 0.8 {
				ans := 2 + g.rng.IntN(7)
				dur := 10 + g.rng.IntN(221)
				ring[(sec+ans)%len(ring)] = append(ring[(sec+ans)%len(ring)], pending{id: id, typ: "answer"})
				ring[(sec+ans+dur)%len(ring)] = append(ring[(sec+ans+dur)%len(ring)], pending{id: id, typ: "end", dur: dur})
			} else {
				at := (sec + 5 + g.rng.IntN(26)) % len(ring)
				ring[at] = append(ring[at], pending{id: id, typ: "end"})
			}
		}
		if sec%30 == 0 {
			eng.Sweep(t)
		}
		if !snapped && !t.Before(snapAt) {
			snapped = true
			t0 := time.Now()
			path := filepath.Join(data, "state.snap")
			var mark func() []byte
			if withMark {
				// This second's records are not written yet: they lie
				// after the mark, as a node's queued decisions would.
				mark = func() []byte { b, _ := log.Mark().AppendBinary(nil); return b }
			}
			if _, err := eng.WriteSnapshot(path, t, t.Add(-skew-2*time.Second), mark); err != nil {
				return st, err
			}
			st.snapTook = time.Since(t0)
			if st.snap, err = os.ReadFile(path); err != nil {
				return st, err
			}
			st.snapBytes = len(st.snap)
			st.live = eng.LiveCalls()
			st.counters = countersOf(eng, t)
		}
		if err := tl.flush(ctx, log); err != nil {
			return st, err
		}
	}
	st.tailD, st.tailE = tl.nd, tl.ne
	return st, log.Sync()
}

func countersOf(eng *engine.Engine, t time.Time) int {
	if m, ok := eng.Counters().(*counter.Memory); ok {
		return len(m.List(0, "", "", t))
	}
	return 0
}

type result struct {
	took time.Duration
	cpu  time.Duration // user + system CPU until serving
	hwm  int64         // kB
	line string
}

// cpuOf reads a process's user + system CPU time (Linux clock ticks of
// 10 ms).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

var restoredRe = regexp.MustCompile(`(state restored|counters restored|rebuilding)[^\n]*`)

// start runs serve on data until /healthz answers, reads its peak RSS,
// and stops it with SIGTERM.
func start(bin, pol, data string) result {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.CreateTemp("", "restart-serve-*.log")
	if err != nil {
		fail(err)
	}
	defer os.Remove(logf.Name())
	cmd := exec.Command(bin, "serve", "-config", pol, "-data", data, "-listen", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	var r result
	for {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			r.took = time.Since(t0)
			r.cpu = cpuOf(cmd.Process.Pid)
			break
		}
		if time.Since(t0) > 10*time.Minute {
			cmd.Process.Kill()
			fail(fmt.Errorf("serve did not answer within 10 min"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
		if m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b); m != nil {
			r.hwm, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	logf.Close()
	b, _ := os.ReadFile(logf.Name())
	r.line = strings.Join(restoredRe.FindAllString(string(b), -1), " | ")
	return r
}
