package cli

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/simulate"
)

func (e *env) simulate(args []string) error {
	fs := newFlags("simulate", e)
	days := fs.Int("days", 14, "days of traffic (the attacks fall in the last week)")
	tenants := fs.Int("tenants", 20, "tenants")
	exts := fs.Int("extensions", 25, "extensions per tenant")
	seed := fs.Uint64("seed", 1, "random seed")
	noAttacks := fs.Bool("no-attacks", false, "legitimate traffic only")
	out := fs.String("out", "", "write an Asterisk Master.csv here (labels in FILE.labels.json)")
	policy := fs.String("write-policy", "", "write the simulation's policy and rate deck into this directory and exit")
	url := fs.String("url", "", "drive a running server: screen each call, then post its CDR (e.g. http://127.0.0.1:7080)")
	// Not the flag's default: -h would print it.
	token := fs.String("token", "", "API token for -url (default: env TOLLGATE_TOKEN)")
	start := fs.String("start", "", "first day of the simulation, a Monday (YYYY-MM-DD, New York time; default 2026-11-02)")
	asJSON := fs.Bool("json", false, "with -url: print the tally as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("simulate: unexpected argument %q", pos[0])
	}
	if *token == "" {
		*token = config.SecretFromEnv("TOLLGATE_TOKEN").Reveal()
	}
	if *policy != "" {
		if err := os.MkdirAll(*policy, 0o750); err != nil {
			return err
		}
		abs, _ := filepath.Abs(filepath.Join(*policy, "rates.csv"))
		if err := os.WriteFile(abs, simulate.Rates, 0o644); err != nil {
			return err
		}
		p := strings.Replace(string(simulate.Policy), "rate_deck: rates.csv", "rate_deck: "+abs, 1)
		path := filepath.Join(*policy, "policy.yaml")
		if err := os.WriteFile(path, []byte(p), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s and %s\nrun: tollgate serve -config %s\n", path, abs, path)
		return nil
	}
	if (*out == "") == (*url == "") {
		return usagef("simulate: give -out FILE or -url URL (or -write-policy DIR)")
	}
	o := simulate.Options{Seed: *seed, Tenants: *tenants, Exts: *exts, Days: *days, Attacks: !*noAttacks}
	if *start != "" {
		loc, err := time.LoadLocation("America/New_York")
		if err != nil {
			return err
		}
		t, err := time.ParseInLocation("2006-01-02", *start, loc)
		if err != nil || t.Weekday() != time.Monday {
			return usagef("simulate: -start %q: want a Monday as YYYY-MM-DD", *start)
		}
		o.Start = t
	}
	if *tenants < 1 || *tenants > 1000 || *exts < 1 || *exts > 1000 || *days < 1 || *days > 366 {
		return usagef("simulate: want 1–1000 tenants, 1–1000 extensions, 1–366 days")
	}
	calls := simulate.Generate(o)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if err := simulate.WriteAsterisk(w, calls); err != nil {
			f.Close()
			return err
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		labels := map[string]string{}
		for _, c := range calls {
			if c.Attack != "" {
				labels[c.CallID] = c.Attack
			}
		}
		b, _ := json.MarshalIndent(labels, "", " ")
		if err := os.WriteFile(*out+".labels.json", b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %d CDRs (%d in attacks) to %s\n", len(calls), len(labels), *out)
		return nil
	}
	if *token == "" {
		return usagef("simulate: -url needs -token (or TOLLGATE_TOKEN)")
	}
	d := &Driver{Base: strings.TrimRight(*url, "/"), Token: *token}
	if isTerminal(e.stderr) {
		d.Progress = e.stderr // \r frames only where a terminal redraws them
	}
	tally, err := d.Run(context.Background(), calls)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tally)
	}
	names := make([]string, 0, len(tally))
	for n := range tally {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(e.stdout, "%-22s %10s %10s %10s\n", "traffic", "through", "stopped", "challenged")
	for _, n := range names {
		t := tally[n]
		fmt.Fprintf(e.stdout, "%-22s %10d %10d %10d\n", n, t.Through, t.Stopped, t.Challenged)
	}
	return nil
}

// Tally counts what became of one kind of simulated traffic.
type Tally struct {
	Through    int `json:"through"`    // connected (legitimate users pass a challenge)
	Stopped    int `json:"stopped"`    // refused or sent to the honeypot
	Challenged int `json:"challenged"` // attack calls asked for a PIN the fraudster lacks
}

// Legitimate is the Tally key of unlabelled traffic.
const Legitimate = "(legitimate)"

// Driver plays simulated calls against a running server over HTTP, in
// simulated time and in time order:
//
//   - at a call's start, an outbound call (and the off-net leg of a
//     forwarded one) is screened with POST /v1/screen;
//   - at its end, the call's CDR is posted with POST /v1/cdrs?wait=true
//     — the server answers once the detectors have judged it and their
//     actions are in force — and, for a screened call, its answer and end
//     events free the call's slots.
//
// So every call is screened against what the calls that ended before it
// triggered, as it would be live; the detectors see a call when its CDR
// would be written, at its end.
type Driver struct {
	Base, Token string
	Client      *http.Client
	Progress    io.Writer // nil: quiet
	// Forgotten counts call events the server answered 404 (a call it
	// had already expired).
	Forgotten int
}

type ending struct {
	c        *simulate.Call
	screened bool
}

type endHeap []ending

func (h endHeap) Len() int { return len(h) }
func (h endHeap) Less(i, j int) bool {
	if !h[i].c.End.Equal(h[j].c.End) {
		return h[i].c.End.Before(h[j].c.End)
	}
	return h[i].c.CallID < h[j].c.CallID
}
func (h endHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *endHeap) Push(x any)   { *h = append(*h, x.(ending)) }
func (h *endHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (d *Driver) post(ctx context.Context, path string, body any) (map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", d.Base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.StatusCode >= 300 {
		return m, &httpError{code: resp.StatusCode, msg: fmt.Sprintf("simulate: %s: %s: %s", path, resp.Status, strings.TrimSpace(string(raw)))}
	}
	return m, nil
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// event posts a call event. An unknown call (404) is not an error: the
// server forgets calls whose lease ran out, and it counts leases on the
// wall clock while the simulation runs in the past.
func (d *Driver) event(ctx context.Context, path string, body any) error {
	_, err := d.post(ctx, path, body)
	var he *httpError
	if errors.As(err, &he) && he.code == http.StatusNotFound {
		d.Forgotten++
		return nil
	}
	return err
}

// Run plays calls (in start order, as simulate.Generate returns them) and
// returns the tally by attack label (Legitimate for the rest).
func (d *Driver) Run(ctx context.Context, calls []simulate.Call) (map[string]*Tally, error) {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 60 * time.Second}
	}
	per := map[string]*Tally{}
	var ends endHeap
	var batch []map[string]any
	var events []ending
	// release posts the CDRs of every call ended by t, then their events.
	release := func(t time.Time, all bool) error {
		batch, events = batch[:0], events[:0]
		for len(ends) > 0 && (all || !ends[0].c.End.After(t)) {
			x := heap.Pop(&ends).(ending)
			c := x.c
			batch = append(batch, map[string]any{"call_id": c.CallID, "tenant": c.Tenant, "extension": c.Extension, "caller": c.Caller, "callee": c.Callee,
				"direction": c.Direction.String(), "start": c.Start.Format(time.RFC3339), "duration_s": c.Duration, "billsec_s": c.Billsec,
				"disposition": c.Disposition, "forwarded": c.Forwarded})
			if x.screened {
				events = append(events, x)
			}
			if len(batch) == 2000 {
				if _, err := d.post(ctx, "/v1/cdrs?wait=true", batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			out, err := d.post(ctx, "/v1/cdrs?wait=true", batch)
			if err != nil {
				return err
			}
			if out["processed"] != true {
				return fmt.Errorf("simulate: the server did not process the CDRs in time: %v", out)
			}
		}
		for _, x := range events {
			c := x.c
			path := "/v1/calls/" + neturl.PathEscape(c.CallID) + "/events"
			if c.Billsec > 0 {
				if err := d.event(ctx, path, map[string]any{"type": "answer", "time": c.Answer.Format(time.RFC3339)}); err != nil {
					return err
				}
				if err := d.event(ctx, path, map[string]any{"type": "end", "time": c.End.Format(time.RFC3339), "duration_s": c.Billsec}); err != nil {
					return err
				}
			} else if err := d.event(ctx, path, map[string]any{"type": "noanswer", "time": c.End.Format(time.RFC3339)}); err != nil {
				return err
			}
		}
		return nil
	}
	t0 := time.Now()
	for i := range calls {
		c := &calls[i]
		label := c.Attack
		if label == "" {
			label = Legitimate
		}
		t := per[label]
		if t == nil {
			t = &Tally{}
			per[label] = t
		}
		screened := c.Direction == screen.Outbound || c.Forwarded
		if screened {
			if err := release(c.Start, false); err != nil {
				return nil, err
			}
			// A forwarded call's off-net leg leaves the PBX as an outbound
			// call of the forwarding extension.
			v, err := d.post(ctx, "/v1/screen", map[string]any{"call_id": c.CallID, "tenant": c.Tenant, "extension": c.Extension, "caller": c.Caller,
				"callee": c.Callee, "direction": "outbound", "time": c.Start.Format(time.RFC3339)})
			if err != nil {
				return nil, err
			}
			switch v["action"] {
			case "reject", "honeypot":
				t.Stopped++
				continue
			case "challenge":
				if c.Attack != "" { // a fraudster does not know the PIN
					t.Challenged++
					continue
				}
			}
		}
		t.Through++
		heap.Push(&ends, ending{c: c, screened: screened})
		if d.Progress != nil && i%2000 == 0 {
			fmt.Fprintf(d.Progress, "\r%d/%d calls (simulated time %s)", i, len(calls), c.Start.Format("2006-01-02 15:04"))
		}
	}
	if err := release(time.Time{}, true); err != nil {
		return nil, err
	}
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, "\r%d/%d calls in %s (%d call events for calls the server had expired)\n", len(calls), len(calls), time.Since(t0).Round(time.Millisecond), d.Forgotten)
	}
	return per, nil
}
