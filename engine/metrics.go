package engine

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

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

// WritePrometheus writes the metrics in the Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer) {
	fmt.Fprintln(w, "# HELP tollgate_engine_decisions_total Calls screened, by decided and enforced action.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_decisions_total counter")
	for a := range m.decisions {
		for en := range m.decisions[a] {
			if n := m.decisions[a][en].Load(); n > 0 || a == en {
				fmt.Fprintf(w, "tollgate_engine_decisions_total{action=%q,enforced=%q} %d\n", screen.Action(a), screen.Action(en), n)
			}
		}
	}
	fmt.Fprintln(w, "# HELP tollgate_engine_reasons_total Reasons recorded on verdicts, by code.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_reasons_total counter")
	var codes []string
	m.reasons.Range(func(k, _ any) bool { codes = append(codes, k.(string)); return true })
	sort.Strings(codes)
	for _, c := range codes {
		v, _ := m.reasons.Load(c)
		fmt.Fprintf(w, "tollgate_engine_reasons_total{code=%q} %d\n", c, v.(*atomic.Int64).Load())
	}
	fmt.Fprintln(w, "# HELP tollgate_engine_shadow_total Decisions not enforced because the tenant runs in shadow mode.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_shadow_total counter")
	fmt.Fprintf(w, "tollgate_engine_shadow_total %d\n", m.shadow.Load())
	fmt.Fprintln(w, "# HELP tollgate_engine_undecided_total Calls decided by on_error because tollgate could not decide.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_undecided_total counter")
	fmt.Fprintf(w, "tollgate_engine_undecided_total %d\n", m.failures.Load())
	fmt.Fprintln(w, "# HELP tollgate_engine_call_ends_total End events applied.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_call_ends_total counter")
	fmt.Fprintf(w, "tollgate_engine_call_ends_total %d\n", m.events.Load())
	fmt.Fprintln(w, "# HELP tollgate_engine_stale_calls_expired_total Calls expired because their end never came.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_stale_calls_expired_total counter")
	fmt.Fprintf(w, "tollgate_engine_stale_calls_expired_total %d\n", m.expired.Load())
	fmt.Fprintln(w, "# HELP tollgate_engine_screen_seconds Time to screen one call in the engine.")
	fmt.Fprintln(w, "# TYPE tollgate_engine_screen_seconds histogram")
	var cum int64
	for i, ub := range latencyBuckets {
		cum += m.buckets[i].Load()
		fmt.Fprintf(w, "tollgate_engine_screen_seconds_bucket{le=\"%g\"} %d\n", ub, cum)
	}
	cum += m.buckets[len(latencyBuckets)].Load()
	fmt.Fprintf(w, "tollgate_engine_screen_seconds_bucket{le=\"+Inf\"} %d\n", cum)
	fmt.Fprintf(w, "tollgate_engine_screen_seconds_sum %g\n", time.Duration(m.sumNanos.Load()).Seconds())
	fmt.Fprintf(w, "tollgate_engine_screen_seconds_count %d\n", cum)
}
