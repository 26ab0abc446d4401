package quality

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/store"
)

// Report is one quality measurement of one call's media.
type Report struct {
	CallID      string    `json:"call_id"`
	Time        time.Time `json:"time"`
	Source      string    `json:"source"` // hep-rtcp, hep-vq, api, probe
	Tenant      string    `json:"tenant,omitempty"`
	Route       string    `json:"route,omitempty"`
	Trunk       string    `json:"trunk,omitempty"`
	Destination string    `json:"destination,omitempty"`
	LossPct     float64   `json:"loss_pct"`
	JitterMS    float64   `json:"jitter_ms"`
	RTTMS       float64   `json:"rtt_ms"` // -1 when unknown
	MOS         float64   `json:"mos"`
	RFactor     float64   `json:"r_factor"`
	// Estimated is true when MOS comes from the E-model rather than the
	// reporter.
	Estimated bool `json:"mos_estimated"`
}

// Validate checks a report from outside (the API).
func (r *Report) Validate() (field string, err error) {
	bad := func(f string, v, lo, hi float64) (string, error) {
		if math.IsNaN(v) || v < lo || v > hi {
			return f, fmt.Errorf("%s: want %g–%g, got %g", f, lo, hi, v)
		}
		return "", nil
	}
	if f, err := bad("loss_pct", r.LossPct, 0, 100); err != nil {
		return f, err
	}
	if f, err := bad("jitter_ms", r.JitterMS, 0, 10000); err != nil {
		return f, err
	}
	if f, err := bad("rtt_ms", r.RTTMS, -1, 60000); err != nil {
		return f, err
	}
	if r.MOS != 0 {
		if f, err := bad("mos", r.MOS, 1, 5); err != nil {
			return f, err
		}
	}
	for f, s := range map[string]string{"tenant": r.Tenant, "route": r.Route, "trunk": r.Trunk, "destination": r.Destination} {
		if len(s) > 64 || strings.ContainsAny(s, "\"\\\n\r") {
			return f, fmt.Errorf("%s: at most 64 characters, no quotes, backslashes or line breaks", f)
		}
	}
	return "", nil
}

// complete fills MOS and R from the E-model when the reporter gave none.
func (r *Report) complete() {
	if r.MOS <= 0 {
		r.RFactor, r.MOS = EModel(r.LossPct, r.JitterMS, r.RTTMS)
		r.Estimated = true
	} else if r.RFactor <= 0 {
		r.RFactor, _ = EModel(r.LossPct, r.JitterMS, r.RTTMS)
	}
}

// Dimensions reports are aggregated by.
var Dimensions = []string{"route", "trunk", "tenant", "destination"}

// Aggregate is a group's quality over the watcher's window.
type Aggregate struct {
	Dimension string    `json:"dimension"`
	Key       string    `json:"key"`
	Reports   int       `json:"reports"`
	LossPct   float64   `json:"loss_pct"`
	JitterMS  float64   `json:"jitter_ms"`
	RTTMS     float64   `json:"rtt_ms"` // mean of known values; -1 if none
	MOS       float64   `json:"mos"`
	Baseline  float64   `json:"baseline_mos"` // long-term MOS, for collapse detection
	Last      time.Time `json:"last"`
}

type sample struct {
	t                   time.Time
	loss, jit, rtt, mos float64
}

type group struct {
	samples  []sample
	baseline float64
	n        int // reports seen over the group's life
}

const (
	maxGroups      = 10000
	maxSamples     = 4096
	maxCalls       = 50000
	maxPromLabels  = 200
	baselineAlpha  = 0.05
	baselineWarmup = 10
)

// Watcher aggregates reports and raises alerts. It is safe for concurrent use.
type Watcher struct {
	cfg     config.Quality
	alerter store.Alerter
	log     *slog.Logger

	mu        sync.Mutex
	groups    map[string]*group // dimension + "\x00" + key
	calls     map[string]Report // latest report per call
	labels    map[string]Report // call id → labels given by the API
	lastAlert map[string]time.Time
	hist      *histograms

	hepPackets, hepErrors, reports atomic.Int64

	testHook func(b []byte) // called before each HEP packet is handled (tests)
}

// New returns a watcher with cfg's thresholds; alerter may be nil.
func New(cfg config.Quality, alerter store.Alerter, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{cfg: cfg, alerter: alerter, log: log, groups: map[string]*group{}, calls: map[string]Report{}, labels: map[string]Report{}, lastAlert: map[string]time.Time{}, hist: newHistograms()}
}

// Label records the tenant, route, trunk and destination of a call, for
// reports (HEP) that do not carry them.
func (w *Watcher) Label(callID string, l Report) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.labels) >= maxCalls {
		clear(w.labels)
	}
	w.labels[callID] = l
}

// Add records one report and raises the alerts it calls for.
func (w *Watcher) Add(r Report) Report {
	r.complete()
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	w.reports.Add(1)
	w.mu.Lock()
	if l, ok := w.labels[r.CallID]; ok && r.CallID != "" {
		r.Tenant = or(r.Tenant, l.Tenant)
		r.Route = or(r.Route, l.Route)
		r.Trunk = or(r.Trunk, l.Trunk)
		r.Destination = or(r.Destination, l.Destination)
	}
	if r.Route == "" {
		r.Route = r.Trunk
	}
	if r.CallID != "" {
		if len(w.calls) >= maxCalls {
			clear(w.calls)
		}
		w.calls[r.CallID] = r
	}
	w.hist.observe(r)
	var alerts []store.Alert
	for _, dim := range Dimensions {
		key := r.dim(dim)
		if key == "" {
			continue
		}
		alerts = append(alerts, w.addTo(dim, key, r)...)
	}
	w.mu.Unlock()
	if w.alerter != nil {
		for _, a := range alerts {
			w.alerter.Alert(a)
		}
	}
	return r
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (r *Report) dim(d string) string {
	switch d {
	case "route":
		return r.Route
	case "trunk":
		return r.Trunk
	case "tenant":
		return r.Tenant
	case "destination":
		return r.Destination
	}
	return ""
}

// addTo adds r to one group and returns the alerts due; w.mu is held.
func (w *Watcher) addTo(dim, key string, r Report) []store.Alert {
	gk := dim + "\x00" + key
	g := w.groups[gk]
	if g == nil {
		if len(w.groups) >= maxGroups {
			w.evict(r.Time)
		}
		g = &group{baseline: r.MOS}
		w.groups[gk] = g
	}
	g.trim(r.Time, w.cfg.WindowS.Duration())
	if len(g.samples) >= maxSamples {
		g.samples = g.samples[1:]
	}
	g.samples = append(g.samples, sample{r.Time, r.LossPct, r.JitterMS, r.RTTMS, r.MOS})
	prevBaseline, prevN := g.baseline, g.n
	g.n++
	g.baseline += baselineAlpha * (r.MOS - g.baseline)
	a := g.aggregate(dim, key)

	var out []store.Alert
	th := w.cfg.Thresholds
	if a.Reports >= w.cfg.MinReports {
		var breaches []string
		if a.LossPct > th.LossPct {
			breaches = append(breaches, fmt.Sprintf("packet loss %.1f %% > %g %%", a.LossPct, th.LossPct))
		}
		if a.JitterMS > th.JitterMS {
			breaches = append(breaches, fmt.Sprintf("jitter %.1f ms > %g ms", a.JitterMS, th.JitterMS))
		}
		if a.RTTMS > th.RTTMS {
			breaches = append(breaches, fmt.Sprintf("latency %.0f ms > %g ms", a.RTTMS, th.RTTMS))
		}
		if a.MOS < th.MOS {
			breaches = append(breaches, fmt.Sprintf("MOS %.2f < %g", a.MOS, th.MOS))
		}
		if len(breaches) > 0 && w.due("threshold\x00"+gk, r.Time) {
			out = append(out, w.alert("quality_threshold", "warning", r, a,
				fmt.Sprintf("call quality on %s %s: %s (%d reports in %ds; last call %s)", dim, key, strings.Join(breaches, ", "), a.Reports, w.cfg.WindowS, r.CallID)))
		}
	}
	// A sudden collapse: the last few reports far below the group's own
	// long-term level. Misrouting to a grey route and traffic pumping
	// through a hijacked trunk both look like this.
	if drop := w.cfg.CollapseMOSDrop; drop > 0 && prevN >= baselineWarmup {
		recent := g.recentMOS(3)
		if prevBaseline-recent >= drop && w.due("collapse\x00"+gk, r.Time) {
			out = append(out, w.alert("quality_collapse", "critical", r, a,
				fmt.Sprintf("sudden quality collapse on %s %s: MOS %.2f over the last reports against %.2f before — check for misrouting or an attack", dim, key, recent, prevBaseline)))
		}
	}
	return out
}

func (w *Watcher) due(key string, t time.Time) bool {
	last, ok := w.lastAlert[key]
	every := w.cfg.AlertEveryS.Duration()
	if ok && t.Sub(last) < every && t.Sub(last) > -every {
		return false
	}
	if len(w.lastAlert) >= maxGroups {
		clear(w.lastAlert)
	}
	w.lastAlert[key] = t
	return true
}

func (w *Watcher) alert(code, sev string, r Report, a Aggregate, text string) store.Alert {
	details, _ := json.Marshal(map[string]any{"aggregate": a, "report": r, "thresholds": w.cfg.Thresholds})
	return store.Alert{Time: r.Time.UTC(), Tenant: r.Tenant, Severity: sev, Code: code, Text: text, Status: "open", Details: details}
}

func (w *Watcher) evict(now time.Time) {
	window := w.cfg.WindowS.Duration()
	for k, g := range w.groups {
		g.trim(now, window)
		if len(g.samples) == 0 {
			delete(w.groups, k)
		}
	}
	if len(w.groups) >= maxGroups {
		clear(w.groups)
	}
}

func (g *group) trim(now time.Time, window time.Duration) {
	i := 0
	for i < len(g.samples) && now.Sub(g.samples[i].t) > window {
		i++
	}
	if i > 0 {
		g.samples = append(g.samples[:0], g.samples[i:]...)
	}
}

func (g *group) recentMOS(n int) float64 {
	s := g.samples[max(0, len(g.samples)-n):]
	var sum float64
	for _, x := range s {
		sum += x.mos
	}
	return sum / float64(len(s))
}

func (g *group) aggregate(dim, key string) Aggregate {
	a := Aggregate{Dimension: dim, Key: key, Reports: len(g.samples), RTTMS: -1, Baseline: round2(g.baseline)}
	var rtt float64
	var nrtt int
	for _, s := range g.samples {
		a.LossPct += s.loss
		a.JitterMS += s.jit
		a.MOS += s.mos
		if s.rtt >= 0 {
			rtt += s.rtt
			nrtt++
		}
		a.Last = s.t
	}
	if n := float64(len(g.samples)); n > 0 {
		a.LossPct, a.JitterMS, a.MOS = round2(a.LossPct/n), round2(a.JitterMS/n), round2(a.MOS/n)
	}
	if nrtt > 0 {
		a.RTTMS = round2(rtt / float64(nrtt))
	}
	return a
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// Aggregates returns the current aggregates of one dimension ("" = all),
// worst MOS first.
func (w *Watcher) Aggregates(dim string, now time.Time) []Aggregate {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []Aggregate{}
	window := w.cfg.WindowS.Duration()
	for gk, g := range w.groups {
		d, k, _ := strings.Cut(gk, "\x00")
		if dim != "" && d != dim {
			continue
		}
		g.trim(now, window)
		if len(g.samples) == 0 {
			continue
		}
		out = append(out, g.aggregate(d, k))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MOS != out[j].MOS {
			return out[i].MOS < out[j].MOS
		}
		return out[i].Dimension+out[i].Key < out[j].Dimension+out[j].Key
	})
	return out
}

// Call returns the latest report of a call.
func (w *Watcher) Call(id string) (Report, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.calls[id]
	return r, ok
}

// HandleHEP decodes one HEP packet and adds the reports it carries. It
// returns how many reports it added.
func (w *Watcher) HandleHEP(b []byte, from net.Addr) (int, error) {
	w.hepPackets.Add(1)
	n, err := w.handleHEP(b)
	if err != nil {
		w.hepErrors.Add(1)
	}
	return n, err
}

func (w *Watcher) handleHEP(b []byte) (int, error) {
	h, err := DecodeHEP(b)
	if err != nil {
		return 0, err
	}
	at := h.Time
	if at.IsZero() {
		at = time.Now().UTC()
	}
	switch h.Type {
	case HEPProtoRTCP:
		blocks, err := ParseRTCP(h.Payload, at)
		n := 0
		for _, bl := range blocks {
			r := Report{CallID: h.CallID, Time: at, Source: "hep-rtcp", Trunk: h.Src.Addr().Unmap().String(), LossPct: bl.LossPct, JitterMS: bl.JitterMS, RTTMS: bl.RTTMS}
			if bl.JitterMS < 0 {
				r.JitterMS = 0
			}
			if bl.MOS > 0 {
				r.MOS = bl.MOS
			}
			w.Add(r)
			n++
		}
		return n, err
	case HEPProtoSIP:
		body, ok := sipVQ(h.Payload)
		if !ok {
			return 0, nil
		}
		callID, bl, err := ParseVQ(body)
		if err != nil {
			return 0, err
		}
		if callID == "" {
			callID = h.CallID
		}
		r := Report{CallID: callID, Time: at, Source: "hep-vq", Trunk: h.Src.Addr().Unmap().String(), LossPct: max(bl.LossPct, 0), JitterMS: max(bl.JitterMS, 0), RTTMS: bl.RTTMS}
		if bl.MOS > 0 {
			r.MOS = bl.MOS
		}
		w.Add(r)
		return 1, nil
	}
	return 0, nil
}

// ListenHEP receives HEP over UDP on addr until ctx ends. It returns the
// bound address once listening.
func (w *Watcher) ListenHEP(ctx context.Context, addr string) (net.Addr, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quality: hep listen: %w", err)
	}
	go func() {
		<-ctx.Done()
		pc.Close()
	}()
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
					return
				}
				continue
			}
			w.handleSafe(buf[:n], from)
		}
	}()
	return pc.LocalAddr(), nil
}

// handleSafe handles one HEP datagram under a recover: a packet that
// makes the decoder panic is dropped, logged (source only) and counted in
// tollgate_panics_recovered_total{component="quality"}, and the listener
// reads the next one.
func (w *Watcher) handleSafe(b []byte, from net.Addr) {
	defer func() { panics.Recovered(panics.Quality, w.log, recover(), "source", fmt.Sprint(from)) }()
	if w.testHook != nil {
		w.testHook(b)
	}
	if _, err := w.HandleHEP(b, from); err != nil {
		w.log.Debug("quality: bad HEP packet", "from", from, "err", err)
	}
}

// Stats counts what the watcher has seen.
type Stats struct {
	HEPPackets int64 `json:"hep_packets"`
	HEPErrors  int64 `json:"hep_errors"`
	Reports    int64 `json:"reports"`
}

// Stats returns the counters.
func (w *Watcher) Stats() Stats {
	return Stats{HEPPackets: w.hepPackets.Load(), HEPErrors: w.hepErrors.Load(), Reports: w.reports.Load()}
}

// Thresholds returns the configured thresholds.
func (w *Watcher) Thresholds() config.QualityThresholds { return w.cfg.Thresholds }

var (
	hepPacketsDesc = prometheus.NewDesc("tollgate_quality_hep_packets_total", "HEP packets received, and those that failed to decode.", []string{"outcome"}, nil)
	reportsDesc    = prometheus.NewDesc("tollgate_quality_reports_total", "Quality reports aggregated.", nil, nil)
)

var _ prometheus.Collector = (*Watcher)(nil)

// Describe implements prometheus.Collector.
func (w *Watcher) Describe(ch chan<- *prometheus.Desc) {
	ch <- hepPacketsDesc
	ch <- reportsDesc
	for _, m := range histDescs {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector: the watcher's counters and
// its per-route histograms.
func (w *Watcher) Collect(ch chan<- prometheus.Metric) {
	s := w.Stats()
	ch <- prometheus.MustNewConstMetric(hepPacketsDesc, prometheus.CounterValue, float64(s.HEPPackets-s.HEPErrors), "ok")
	ch <- prometheus.MustNewConstMetric(hepPacketsDesc, prometheus.CounterValue, float64(s.HEPErrors), "error")
	ch <- prometheus.MustNewConstMetric(reportsDesc, prometheus.CounterValue, float64(s.Reports))
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hist.collect(ch)
}

func alertProbe(route string, p ProbeResult) store.Alert {
	details, _ := json.Marshal(p)
	return store.Alert{Time: p.Time, Severity: "critical", Code: "probe_failed", Text: "synthetic test call on route " + route + " to " + p.Target + " failed: " + p.Error, Status: "open", Details: details}
}
