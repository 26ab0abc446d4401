package quality

import "github.com/prometheus/client_golang/prometheus"

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

var histDescs = []struct {
	desc *prometheus.Desc
	get  func(*routeHist) *hist
}{
	{prometheus.NewDesc("tollgate_quality_packet_loss_percent", "Packet loss per quality report, by route.", []string{"route"}, nil), func(r *routeHist) *hist { return &r.loss }},
	{prometheus.NewDesc("tollgate_quality_jitter_ms", "Interarrival jitter per quality report (ms), by route.", []string{"route"}, nil), func(r *routeHist) *hist { return &r.jitter }},
	{prometheus.NewDesc("tollgate_quality_rtt_ms", "Round-trip time per quality report (ms), by route.", []string{"route"}, nil), func(r *routeHist) *hist { return &r.rtt }},
	{prometheus.NewDesc("tollgate_quality_mos", "MOS per quality report (reported, else E-model estimate), by route.", []string{"route"}, nil), func(r *routeHist) *hist { return &r.mos }},
}

// collect sends one histogram per metric and route; the caller holds the
// watcher's lock.
func (hs *histograms) collect(ch chan<- prometheus.Metric) {
	for _, m := range histDescs {
		for route, rh := range hs.byRoute {
			h := m.get(rh)
			buckets := make(map[float64]uint64, len(h.bounds))
			var cum uint64
			for i, b := range h.bounds {
				cum += h.counts[i]
				buckets[b] = cum
			}
			ch <- prometheus.MustNewConstHistogram(m.desc, h.n, h.sum, buckets, route)
		}
	}
}
