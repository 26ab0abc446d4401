package main

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/attackgen"
)

// Outcome is what became of one call under live screening.
type Outcome struct {
	Action    string // allow, challenge, reject, honeypot (a 503 counts as reject)
	Reason    string
	Happened  bool // the call went ahead (allowed, or a legitimate caller passed the PIN)
	Billsec   int  // answered seconds as it ran (after any cut)
	Cut       bool // max_duration (or a teardown) ended it early
	Ended     bool // the server ended it while it ran (a teardown)
	Cost      float64
	MaxDurS   int
	EndEvent  int // HTTP status of the end event (404: the server had forgotten the call)
	Screened  bool
	Screening time.Duration
	endAt     time.Time // when the call ends as driven (a teardown moves it)
}

// Driver drives a labelled stream through a tollgate server in event
// time: each call is screened at its start (POST /v1/screen), and if it
// goes ahead its answer and end are reported when they happen (POST
// /v1/calls/{id}/events) and its CDR is posted (POST /v1/cdrs) before the
// next call is screened. Every request asks the server to wait for its
// detectors (?wait=true) before it answers: live, a detector's finding is
// in force within milliseconds, long before the next call seconds later;
// the drive runs far faster than real time, and without the wait whether
// a finding landed before the next request depended on the machine's load
// (the same seed gave different results from run to run). With it, and a
// server on event time only (cli.Options.EventTime), a seed gives the
// same result on every run.
type Driver struct {
	Base, Token string
	Client      *http.Client
	Progress    io.Writer
	// Forgotten counts call events answered 404.
	Forgotten int
	Requests  int
	// Ended counts live calls ended because the server asked (the
	// end-call event stream, or a disconnect list).
	Ended int
	// NoEndStream is set when the server has no GET /v1/calls/events.
	NoEndStream bool
	// Unsettled counts screenings and call events the server answered
	// without saying its detectors had settled (a server without
	// ?wait=true on them: the drive is then not reproducible).
	Unsettled int
	settled   string // Tollgate-Settled of the last response
}

// endEvent is one event of GET /v1/calls/events?poll=true.
type endEvent struct {
	Seq    int64     `json:"seq"`
	Type   string    `json:"type"`
	CallID string    `json:"call_id"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

type pending struct {
	t    time.Time
	kind int // 0 answer, 1 end
	i    int
	seq  int
}

type evHeap []pending

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(a, b int) bool {
	if !h[a].t.Equal(h[b].t) {
		return h[a].t.Before(h[b].t)
	}
	return h[a].seq < h[b].seq
}
func (h evHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *evHeap) Push(x any)   { *h = append(*h, x.(pending)) }
func (h *evHeap) Pop() any {
	o := *h
	x := o[len(o)-1]
	*h = o[:len(o)-1]
	return x
}

type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func (d *Driver) do(ctx context.Context, method, path string, body any, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.Base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	d.Requests++
	resp, err := d.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	d.settled = resp.Header.Get("Tollgate-Settled")
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return &httpError{code: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))}
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

type verdict struct {
	Action      string `json:"action"`
	Reason      string `json:"reason"`
	SIPCode     int    `json:"sip_code"`
	MaxDuration int    `json:"max_duration_s"`
	Reasons     []struct {
		Check  string `json:"check"`
		Code   string `json:"code"`
		Action string `json:"action"`
	} `json:"reasons"`
}

// why names the rules behind a refusal: check/code of every reason that
// did not allow, else the verdict's reason.
func (v *verdict) why() string {
	var parts []string
	for _, r := range v.Reasons {
		if r.Action == "" || r.Action == "allow" {
			continue
		}
		k := r.Check + "/" + r.Code
		if !contains(parts, k) {
			parts = append(parts, k)
		}
	}
	if len(parts) == 0 {
		return v.Reason
	}
	return strings.Join(parts, "+")
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Run drives the scenario's calls and returns one Outcome per call.
func (d *Driver) Run(ctx context.Context, sc *attackgen.Scenario) ([]Outcome, error) {
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	}
	calls := sc.Calls
	out := make([]Outcome, len(calls))
	var h evHeap
	seq := 0
	live := map[string]int{} // answered calls not yet ended, by call id
	// cut ends call i at t (a teardown): it is billed up to t and its end
	// event and CDR move to t.
	cut := func(i int, t time.Time) {
		c, o := &calls[i], &out[i]
		if c.Answer.IsZero() || !t.Before(o.endAt) {
			return
		}
		if t.Before(c.Answer) {
			t = c.Answer
		}
		o.Billsec = int(t.Sub(c.Answer) / time.Second)
		o.Cut, o.Ended, o.Cost, o.endAt = true, true, c.CostOf(o.Billsec), t
		d.Ended++
		seq++
		heap.Push(&h, pending{t: t, kind: 1, i: i, seq: seq})
	}
	// teardown applies what a response asks of live calls: a
	// "disconnect" list of call ids ends them now; an answer event's
	// max_duration_s bounds that call.
	teardown := func(resp map[string]any, i int, now time.Time) {
		if ids, ok := resp["disconnect"].([]any); ok {
			for _, v := range ids {
				if id, ok := v.(string); ok {
					if j, ok := live[id]; ok {
						cut(j, now)
					}
				}
			}
		}
		if i >= 0 {
			if m, ok := resp["max_duration_s"].(float64); ok && m > 0 {
				cut(i, calls[i].Answer.Add(time.Duration(m)*time.Second))
			}
		}
	}
	// pollEnds follows the end-call event stream (as a redirect-mode PBX
	// would): a live call it names ends at the event's time.
	var endSeq int64
	var lastPoll time.Time
	pollEnds := func(now time.Time, force bool) error {
		if d.NoEndStream || (!force && now.Sub(lastPoll) < 5*time.Second) {
			return nil
		}
		lastPoll = now
		var r struct {
			Events []endEvent `json:"events"`
		}
		err := d.do(ctx, "GET", fmt.Sprintf("/v1/calls/events?poll=true&after=%d", endSeq), nil, &r)
		var he *httpError
		if errors.As(err, &he) && he.code == http.StatusNotFound {
			d.NoEndStream = true
			return nil
		}
		if err != nil {
			return err
		}
		for _, ev := range r.Events {
			if ev.Seq > endSeq {
				endSeq = ev.Seq
			}
			if j, ok := live[ev.CallID]; ok {
				at := ev.Time
				if at.IsZero() || at.After(now) {
					at = now
				}
				cut(j, at)
			}
		}
		return nil
	}
	var batch []any
	var flushAt time.Time
	// settled checks that the last response came once the server's
	// detectors had caught up; a timed-out wait is an error.
	settled := func(what string) error {
		switch d.settled {
		case "true":
		case "":
			d.Unsettled++
		default:
			return fmt.Errorf("fraudeval: %s: the server's detectors did not settle within its wait bound", what)
		}
		return nil
	}
	flush := func() error {
		for len(batch) > 0 {
			n := min(len(batch), 2000)
			var resp map[string]any
			if err := d.do(ctx, "POST", "/v1/cdrs?wait=true", batch[:n], &resp); err != nil {
				return err
			}
			if p, ok := resp["processed"].(bool); ok && !p {
				return errors.New("fraudeval: the server did not judge the CDRs within its wait bound")
			}
			teardown(resp, -1, flushAt)
			batch = batch[n:]
		}
		batch = batch[:0]
		return nil
	}
	event := func(i int, body map[string]any, now time.Time) error {
		var resp map[string]any
		err := d.do(ctx, "POST", "/v1/calls/"+neturl.PathEscape(calls[i].ID)+"/events?wait=true", body, &resp)
		if err == nil {
			err = settled("call event")
		}
		if err == nil && body["type"] == "answer" {
			teardown(resp, i, now)
		} else if err == nil {
			teardown(resp, -1, now)
		}
		var he *httpError
		if errors.As(err, &he) && he.code == http.StatusNotFound {
			d.Forgotten++
			out[i].EndEvent = http.StatusNotFound
			return nil
		}
		return err
	}
	// advance reports every answer and end up to t, then posts the CDRs.
	advance := func(t time.Time, all bool) error {
		for len(h) > 0 && (all || !h[0].t.After(t)) {
			if h[0].kind == 1 && len(live) > 0 {
				// Before a call ends on its own, the teardowns the server
				// asked for by then apply (a live PBX ends a call when
				// told, not at the next call's start): polled only at
				// call starts, a teardown raised between two starts was
				// lost whenever the call's own end came first.
				n := len(h)
				if err := pollEnds(h[0].t, false); err != nil {
					return err
				}
				if len(h) != n {
					continue // a teardown moved an end earlier
				}
			}
			p := heap.Pop(&h).(pending)
			c, o := &calls[p.i], &out[p.i]
			flushAt = p.t
			if p.kind == 0 {
				live[c.ID] = p.i
				if err := event(p.i, map[string]any{"type": "answer", "time": ts(p.t)}, p.t); err != nil {
					return err
				}
				continue
			}
			if !p.t.Equal(o.endAt) {
				continue // superseded by a teardown
			}
			delete(live, c.ID)
			typ := "end"
			switch {
			case o.Billsec > 0:
			case c.Disposition == attackgen.Busy:
				typ = "busy"
			case c.Disposition == attackgen.Failed:
				typ = "failed"
			default:
				typ = "noanswer"
			}
			body := map[string]any{"type": typ, "time": ts(p.t)}
			if typ == "end" {
				body["duration_s"] = o.Billsec
			}
			if err := event(p.i, body, p.t); err != nil {
				return err
			}
			batch = append(batch, attackgen.CDR(c, o.Billsec, p.t))
		}
		return flush()
	}
	t0 := time.Now()
	for i := range calls {
		c := &calls[i]
		if err := advance(c.Start, false); err != nil {
			return nil, err
		}
		if err := pollEnds(c.Start, false); err != nil {
			return nil, err
		}
		dir := c.Direction
		if c.Forwarded {
			// The off-net leg leaves the PBX as an outbound call of the
			// forwarding extension.
			dir = attackgen.Outbound
		}
		req := map[string]any{"call_id": c.ID, "tenant": c.Tenant, "extension": c.Extension, "caller": c.Caller, "callee": c.Callee,
			"direction": dir, "source_ip": c.SourceIP, "time": ts(c.Start)}
		if c.UserAgent != "" {
			req["user_agent"] = c.UserAgent
		}
		var v verdict
		s0 := time.Now()
		if err := d.do(ctx, "POST", "/v1/screen?wait=true", req, &v); err != nil {
			return nil, fmt.Errorf("call %s: %w", c.ID, err)
		}
		if err := settled("screening"); err != nil {
			return nil, err
		}
		o := &out[i]
		o.Screened, o.Screening = true, time.Since(s0)
		o.Action, o.Reason, o.MaxDurS = v.Action, v.why(), v.MaxDuration
		if o.Action == "" || v.SIPCode == 503 {
			o.Action = "reject"
		}
		switch o.Action {
		case "allow":
			o.Happened = true
		case "challenge":
			// A legitimate caller knows the PIN; a fraudster does not.
			o.Happened = c.Label == attackgen.Legit
		}
		if !o.Happened {
			continue
		}
		o.Billsec = c.Billsec
		end := c.End
		if o.MaxDurS > 0 && o.Billsec > o.MaxDurS {
			o.Billsec, o.Cut = o.MaxDurS, true
			end = c.Answer.Add(time.Duration(o.MaxDurS) * time.Second)
		}
		o.Cost = c.CostOf(o.Billsec)
		if o.Billsec > 0 {
			seq++
			heap.Push(&h, pending{t: c.Answer, kind: 0, i: i, seq: seq})
		}
		seq++
		heap.Push(&h, pending{t: end, kind: 1, i: i, seq: seq})
		o.endAt = end
		if d.Progress != nil && i%5000 == 0 {
			fmt.Fprintf(d.Progress, "\rseed %d: %d/%d calls (event time %s, %s)", sc.Seed, i, len(calls), c.Start.Format("2006-01-02 15:04"), time.Since(t0).Round(time.Second))
		}
	}
	// After the last screening: report the rest in time order, following
	// the end-call stream as time passes.
	for len(h) > 0 {
		t := h[0].t
		if err := advance(t, false); err != nil {
			return nil, err
		}
		if err := pollEnds(t, false); err != nil {
			return nil, err
		}
	}
	if d.Progress != nil {
		fmt.Fprintf(d.Progress, "\rseed %d: %d calls in %s, %d requests, %d events for forgotten calls, %d calls ended by the server\n", sc.Seed, len(calls), time.Since(t0).Round(time.Millisecond), d.Requests, d.Forgotten, d.Ended)
	}
	return out, nil
}

// Alert is an alert as GET /v1/alerts lists it.
type Alert struct {
	ID        int64           `json:"id"`
	Time      time.Time       `json:"time"`
	Tenant    string          `json:"tenant"`
	Extension string          `json:"extension"`
	Severity  string          `json:"severity"`
	Code      string          `json:"code"`
	Text      string          `json:"text"`
	Details   json.RawMessage `json:"details"`
	// False is set by Score when the alert belongs to no attack (a false
	// alert); the trace shows it, the server never sends it.
	False bool `json:"false,omitempty"`
}

// Alerts fetches every alert.
func (d *Driver) Alerts(ctx context.Context) ([]Alert, error) {
	var r struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := d.do(ctx, "GET", "/v1/alerts?limit=10000", nil, &r); err != nil {
		return nil, err
	}
	return r.Alerts, nil
}
