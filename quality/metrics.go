package quality

import (
	"fmt"
	"io"
	"sort"
	"strconv"
)

// histograms holds one Prometheus histogram per metric and route. The
// number of routes is capped; further routes share the label "other".
type histograms struct {
	byRoute map[string]*routeHist
}

type hist struct {
	bounds []float64
	counts []uint64 // cumulative is computed on write
	sum    float64
	n      uint64
}

type routeHist struct{ loss, jitter, rtt, mos hist }

var (
	lossBounds   = []float64{0.5, 1, 2, 5, 10, 20}
	jitterBounds = []float64{5, 10, 20, 30, 50, 100, 200}
	rttBounds    = []float64{50, 100, 150, 250, 400, 800}
	mosBounds    = []float64{2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.4}
)

func newHist(b []float64) hist { return hist{bounds: b, counts: make([]uint64, len(b))} }

func newHistograms() *histograms { return &histograms{byRoute: map[string]*routeHist{}} }

func (h *hist) observe(v float64) {
	for i, b := range h.bounds {
		if v <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += v
	h.n++
}

func (hs *histograms) observe(r Report) {
	route := r.Route
	if route == "" {
		route = "unknown"
	}
	rh := hs.byRoute[route]
	if rh == nil {
		if len(hs.byRoute) >= maxPromLabels {
			route = "other"
			rh = hs.byRoute[route]
		}
		if rh == nil {
			rh = &routeHist{newHist(lossBounds), newHist(jitterBounds), newHist(rttBounds), newHist(mosBounds)}
			hs.byRoute[route] = rh
		}
	}
	rh.loss.observe(r.LossPct)
	rh.jitter.observe(r.JitterMS)
	if r.RTTMS >= 0 {
		rh.rtt.observe(r.RTTMS)
	}
	rh.mos.observe(r.MOS)
}

func (hs *histograms) write(w io.Writer) {
	routes := make([]string, 0, len(hs.byRoute))
	for r := range hs.byRoute {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, m := range []struct {
		name, help string
		get        func(*routeHist) *hist
	}{
		{"tollgate_quality_packet_loss_percent", "Packet loss per quality report, by route.", func(r *routeHist) *hist { return &r.loss }},
		{"tollgate_quality_jitter_ms", "Interarrival jitter per quality report (ms), by route.", func(r *routeHist) *hist { return &r.jitter }},
		{"tollgate_quality_rtt_ms", "Round-trip time per quality report (ms), by route.", func(r *routeHist) *hist { return &r.rtt }},
		{"tollgate_quality_mos", "MOS per quality report (reported, else E-model estimate), by route.", func(r *routeHist) *hist { return &r.mos }},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", m.name, m.help, m.name)
		for _, route := range routes {
			h := m.get(hs.byRoute[route])
			lbl := strconv.Quote(route)
			var cum uint64
			for i, b := range h.bounds {
				cum += h.counts[i]
				fmt.Fprintf(w, "%s_bucket{route=%s,le=\"%g\"} %d\n", m.name, lbl, b, cum)
			}
			fmt.Fprintf(w, "%s_bucket{route=%s,le=\"+Inf\"} %d\n%s_sum{route=%s} %g\n%s_count{route=%s} %d\n", m.name, lbl, h.n, m.name, lbl, h.sum, m.name, lbl, h.n)
		}
	}
}
