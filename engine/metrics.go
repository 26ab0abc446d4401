package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tollgate-voip/tollgate/screen"
)

// latencyBuckets are the upper bounds of the screening-latency histogram, in seconds.
var latencyBuckets = [...]float64{0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1}

// Metrics counts what the engine does, for Prometheus.
type Metrics struct {
	decisions [4][4]atomic.Int64 // [action][enforced]
	shadow    atomic.Int64
	failures  atomic.Int64
	events    atomic.Int64
	expired   atomic.Int64
	noEvent   atomic.Int64
	unknown   atomic.Int64
	buckets   [len(latencyBuckets) + 1]atomic.Int64
	sumNanos  atomic.Int64
	reasons   sync.Map // code → *atomic.Int64
}

func newMetrics() *Metrics { return &Metrics{} }

func (m *Metrics) observe(v *screen.Verdict, d time.Duration) {
	m.decisions[v.Action&3][v.Enforced&3].Add(1)
	if v.Shadow {
		m.shadow.Add(1)
	}
	s := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && s > latencyBuckets[i] {
		i++
	}
	m.buckets[i].Add(1)
	m.sumNanos.Add(int64(d))
	for _, r := range v.Reasons() {
		c, ok := m.reasons.Load(r.Code)
		if !ok {
			c, _ = m.reasons.LoadOrStore(r.Code, new(atomic.Int64))
		}
		c.(*atomic.Int64).Add(1)
	}
}

// Decisions returns how many calls got each action.
func (m *Metrics) Decisions() map[string]int64 {
	out := map[string]int64{}
	for a := range m.decisions {
		for en := range m.decisions[a] {
			out[screen.Action(a).String()] += m.decisions[a][en].Load()
		}
	}
	return out
}

var (
	decisionsDesc = prometheus.NewDesc("tollgate_engine_decisions_total", "Calls screened, by decided and enforced action.", []string{"action", "enforced"}, nil)
	reasonsDesc   = prometheus.NewDesc("tollgate_engine_reasons_total", "Reasons recorded on verdicts, by code.", []string{"code"}, nil)
	shadowDesc    = prometheus.NewDesc("tollgate_engine_shadow_total", "Decisions not enforced because the tenant runs in shadow mode.", nil, nil)
	undecidedDesc = prometheus.NewDesc("tollgate_engine_undecided_total", "Calls decided by on_error because tollgate could not decide.", nil, nil)
	callEndsDesc  = prometheus.NewDesc("tollgate_engine_call_ends_total", "End events applied.", nil, nil)
	expiredDesc   = prometheus.NewDesc("tollgate_engine_stale_calls_expired_total", "Calls expired because their end never came.", nil, nil)
	unknownDesc   = prometheus.NewDesc("tollgate_engine_events_unknown_call_total", "Call events refused because the engine does not know (or no longer knows) their call.", nil, nil)
	noEventDesc   = prometheus.NewDesc("tollgate_engine_calls_without_event_total", "Calls let through and forgotten because no answer or end event came within server.call_setup_s (their concurrency slots stay held until their lease).", nil, nil)
	screenDesc    = prometheus.NewDesc("tollgate_engine_screen_seconds", "Time to screen one call in the engine.", nil, nil)
)

var _ prometheus.Collector = (*Metrics)(nil)

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{decisionsDesc, reasonsDesc, shadowDesc, undecidedDesc, callEndsDesc, expiredDesc, noEventDesc, unknownDesc, screenDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the counters the
// screening path adds to, so a call costs no more than before.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for a := range m.decisions {
		for en := range m.decisions[a] {
			if n := m.decisions[a][en].Load(); n > 0 || a == en {
				ch <- prometheus.MustNewConstMetric(decisionsDesc, prometheus.CounterValue, float64(n), screen.Action(a).String(), screen.Action(en).String())
			}
		}
	}
	m.reasons.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(reasonsDesc, prometheus.CounterValue, float64(v.(*atomic.Int64).Load()), k.(string))
		return true
	})
	ch <- prometheus.MustNewConstMetric(shadowDesc, prometheus.CounterValue, float64(m.shadow.Load()))
	ch <- prometheus.MustNewConstMetric(undecidedDesc, prometheus.CounterValue, float64(m.failures.Load()))
	ch <- prometheus.MustNewConstMetric(callEndsDesc, prometheus.CounterValue, float64(m.events.Load()))
	ch <- prometheus.MustNewConstMetric(expiredDesc, prometheus.CounterValue, float64(m.expired.Load()))
	ch <- prometheus.MustNewConstMetric(noEventDesc, prometheus.CounterValue, float64(m.noEvent.Load()))
	ch <- prometheus.MustNewConstMetric(unknownDesc, prometheus.CounterValue, float64(m.unknown.Load()))
	buckets := make(map[float64]uint64, len(latencyBuckets))
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += uint64(m.buckets[i].Load())
		buckets[ub] = cum
	}
	cum += uint64(m.buckets[len(latencyBuckets)].Load())
	ch <- prometheus.MustNewConstHistogram(screenDesc, cum, time.Duration(m.sumNanos.Load()).Seconds(), buckets)
}
