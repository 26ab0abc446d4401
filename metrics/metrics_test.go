package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestFuncAndSet(t *testing.T) {
	n := 0.0
	c := Counter("t_things_total", "Things by kind.", []string{"kind"}, func(e Emit) {
		e(n, "a")
		e(2*n, "b")
	})
	g := Gauge("t_level", "A level.", nil, Value(func() float64 { return 7 }))
	n = 3
	txt, err := Text(Set{c, nil, g})
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(txt))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, txt)
	}
	things := fams["t_things_total"]
	if things == nil || things.GetType().String() != "COUNTER" || len(things.Metric) != 2 {
		t.Fatalf("t_things_total = %v", things)
	}
	if v := things.Metric[1].GetCounter().GetValue(); v != 6 {
		t.Errorf("t_things_total{kind=b} = %v, want 6", v)
	}
	if l := fams["t_level"]; l == nil || l.Metric[0].GetGauge().GetValue() != 7 {
		t.Errorf("t_level = %v, want 7", l)
	}
}

func TestWrongLabelsFail(t *testing.T) {
	c := Counter("t_bad_total", "Bad.", []string{"kind"}, func(e Emit) { e(1) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if err := WriteText(&strings.Builder{}, reg); err == nil {
		t.Error("a sample without its label gathered without error")
	}
}
