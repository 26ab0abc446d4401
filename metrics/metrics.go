// Package metrics exposes the counters tollgate keeps itself as Prometheus
// collectors, and writes a registry in the text exposition format.
//
// A part keeps its own atomic counters (the screening path stays one
// atomic add per counter) and hands the API a collector that reads them
// when /metrics is scraped: Counter and Gauge for plain values, Set to
// bundle a part's collectors, and prometheus.MustNewConstHistogram inside
// a custom collector for histograms.
package metrics

import (
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Emit reports one sample: its value and its label values, in the order
// the collector's labels were declared.
type Emit func(value float64, labelValues ...string)

// Func is a collector whose samples are read when it is scraped.
type Func struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	read func(Emit)
}

var _ prometheus.Collector = (*Func)(nil)

// Counter returns a collector of the counter name; read emits its current
// samples, one for each combination of labels it has.
func Counter(name, help string, labels []string, read func(Emit)) *Func {
	return &Func{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.CounterValue, read: read}
}

// Gauge returns a collector of the gauge name, like Counter.
func Gauge(name, help string, labels []string, read func(Emit)) *Func {
	return &Func{desc: prometheus.NewDesc(name, help, labels, nil), typ: prometheus.GaugeValue, read: read}
}

// Value returns a read function for a metric without labels.
func Value(v func() float64) func(Emit) { return func(e Emit) { e(v()) } }

// Describe implements prometheus.Collector.
func (f *Func) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

// Collect implements prometheus.Collector.
func (f *Func) Collect(ch chan<- prometheus.Metric) {
	f.read(func(v float64, lv ...string) {
		m, err := prometheus.NewConstMetric(f.desc, f.typ, v, lv...)
		if err != nil {
			m = prometheus.NewInvalidMetric(f.desc, err) // the gather reports it
		}
		ch <- m
	})
}

// Set is a collector made of others; nil members are skipped, so a part
// that is off can hand in a nil collector.
type Set []prometheus.Collector

var _ prometheus.Collector = Set(nil)

// Describe implements prometheus.Collector.
func (s Set) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s {
		if c != nil {
			c.Describe(ch)
		}
	}
}

// Collect implements prometheus.Collector.
func (s Set) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s {
		if c != nil {
			c.Collect(ch)
		}
	}
}

// Later is a collector for a part made after the registry: it asks for
// the part's collector at each scrape and collects nothing while there is
// none. It describes nothing, so the registry takes it unchecked.
type Later func() prometheus.Collector

var _ prometheus.Collector = Later(nil)

// Describe implements prometheus.Collector.
func (Later) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (l Later) Collect(ch chan<- prometheus.Metric) {
	if c := l(); c != nil {
		c.Collect(ch)
	}
}

// ContentType is the media type of what WriteText writes.
const ContentType = "text/plain; version=0.0.4"

// WriteText gathers g and writes it in the Prometheus text format. A
// gather that fails part-way still writes what it has, then returns the
// error.
func WriteText(w io.Writer, g prometheus.Gatherer) error {
	mfs, gerr := g.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return gerr
}

// Text registers cs in a fresh registry and returns its text exposition:
// for tests and tools that want one part's metrics.
func Text(cs ...prometheus.Collector) (string, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(Set(cs)); err != nil {
		return "", err
	}
	var sb strings.Builder
	err := WriteText(&sb, reg)
	return sb.String(), err
}
