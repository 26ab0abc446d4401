// Package all builds every detector from the configuration, in a fixed
// order (the order findings of one call are reported in).
package all

import (
	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/burst"
	"github.com/tollgate-voip/tollgate/detect/concurrency"
	"github.com/tollgate-voip/tollgate/detect/duration"
	"github.com/tollgate-voip/tollgate/detect/highrisk"
	"github.com/tollgate-voip/tollgate/detect/irsf"
	"github.com/tollgate-voip/tollgate/detect/newdest"
	"github.com/tollgate-voip/tollgate/detect/newsource"
	"github.com/tollgate-voip/tollgate/detect/offhours"
	"github.com/tollgate-voip/tollgate/detect/pumping"
	"github.com/tollgate-voip/tollgate/detect/spend"
	"github.com/tollgate-voip/tollgate/detect/unusualhour"
	"github.com/tollgate-voip/tollgate/detect/wangiri"
)

// Build returns the enabled detectors.
func Build(d *config.Detect, base *baseline.Learner) []detect.Detector {
	var out []detect.Detector
	add := func(x detect.Detector, on bool) {
		if on {
			out = append(out, x)
		}
	}
	b := &d.Baseline
	x1 := highrisk.New(&d.HighRiskCountry)
	add(x1, x1 != nil)
	x2 := offhours.New(&d.OffHours, b, base)
	add(x2, x2 != nil)
	x3 := burst.New(&d.InternationalBurst)
	add(x3, x3 != nil)
	x4 := irsf.NewForward(&d.Forwarding)
	add(x4, x4 != nil)
	x5 := irsf.NewTest(&d.TestCalls)
	add(x5, x5 != nil)
	x6 := irsf.NewRange(&d.RangeDialing)
	add(x6, x6 != nil)
	for k, t := range []*config.Trigger{&d.Pumping.Targeted, &d.Pumping.Fast, &d.Pumping.Slow, &d.Pumping.Theft} {
		x := pumping.New(pumping.Kind(k), t)
		add(x, x != nil)
	}
	x7 := wangiri.New(&d.Wangiri)
	add(x7, x7 != nil)
	x8 := newdest.New(&d.NewDestination, b, base)
	add(x8, x8 != nil)
	x9 := unusualhour.New(&d.UnusualHour, b, base)
	add(x9, x9 != nil)
	x10 := concurrency.New(&d.Concurrency, b, base)
	add(x10, x10 != nil)
	x11 := spend.New(&d.Spend)
	add(x11, x11 != nil)
	x12 := duration.New(&d.ExtendedDuration)
	add(x12, x12 != nil)
	x13 := newsource.New(&d.NewSource, b, base)
	add(x13, x13 != nil)
	return out
}
