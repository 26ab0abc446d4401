// Package all holds the detector table: every detector, in a fixed order
// (the order findings of one call are reported in), built from the
// configuration. It is the only place detectors are listed, as
// check/all.Order is for the screening checks.
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

// Step is one entry of the table: a detector's name (its Name()) and how
// it is built from env; Setup returns nil when the detector is off.
type Step struct {
	Name  string
	Setup func(env *detect.Env) detect.Detector
}

// Order is every detector, first reported first.
var Order = []Step{
	{"high_risk_country", func(e *detect.Env) detect.Detector { return on(highrisk.New(&e.Config.HighRiskCountry)) }},
	{"off_hours_international", func(e *detect.Env) detect.Detector {
		return on(offhours.New(&e.Config.OffHours, &e.Config.Baseline, e.Baseline))
	}},
	{"international_burst", func(e *detect.Env) detect.Detector { return on(burst.New(&e.Config.InternationalBurst)) }},
	{"call_forwarding", func(e *detect.Env) detect.Detector { return on(irsf.NewForward(&e.Config.Forwarding)) }},
	{"test_calls", func(e *detect.Env) detect.Detector { return on(irsf.NewTest(&e.Config.TestCalls)) }},
	{"range_dialing", func(e *detect.Env) detect.Detector { return on(irsf.NewRange(&e.Config.RangeDialing)) }},
	{"targeted_pumping", func(e *detect.Env) detect.Detector {
		return on(pumping.New(pumping.Targeted, &e.Config.Pumping.Targeted))
	}},
	{"fast_pumping", func(e *detect.Env) detect.Detector { return on(pumping.New(pumping.Fast, &e.Config.Pumping.Fast)) }},
	{"slow_pumping", func(e *detect.Env) detect.Detector { return on(pumping.New(pumping.Slow, &e.Config.Pumping.Slow)) }},
	{"theft_of_service", func(e *detect.Env) detect.Detector { return on(pumping.New(pumping.Theft, &e.Config.Pumping.Theft)) }},
	{"wangiri", func(e *detect.Env) detect.Detector { return on(wangiri.New(&e.Config.Wangiri)) }},
	{"new_destination", func(e *detect.Env) detect.Detector {
		return on(newdest.New(&e.Config.NewDestination, &e.Config.Baseline, e.Baseline))
	}},
	{"unusual_hour", func(e *detect.Env) detect.Detector {
		return on(unusualhour.New(&e.Config.UnusualHour, &e.Config.Baseline, e.Baseline))
	}},
	{"concurrency", func(e *detect.Env) detect.Detector {
		return on(concurrency.New(&e.Config.Concurrency, &e.Config.Baseline, e.Baseline))
	}},
	{"spend", func(e *detect.Env) detect.Detector { return on(spend.New(&e.Config.Spend)) }},
	{"extended_duration", func(e *detect.Env) detect.Detector { return on(duration.New(&e.Config.ExtendedDuration)) }},
	{"new_source", func(e *detect.Env) detect.Detector {
		return on(newsource.New(&e.Config.NewSource, &e.Config.Baseline, e.Baseline))
	}},
}

// Build returns the enabled detectors in the order of the table.
func Build(d *config.Detect, base *baseline.Learner) []detect.Detector {
	return BuildFrom(Order, d, base)
}

// BuildFrom is Build over any table (a test adds a step to a copy of Order).
func BuildFrom(steps []Step, d *config.Detect, base *baseline.Learner) []detect.Detector {
	env := &detect.Env{Config: d, Baseline: base}
	var out []detect.Detector
	for _, s := range steps {
		if x := s.Setup(env); x != nil {
			out = append(out, x)
		}
	}
	return out
}

// on turns a detector's nil pointer (it is off) into a nil Detector.
func on[P interface {
	*T
	detect.Detector
}, T any](x P) detect.Detector {
	if x == nil {
		return nil
	}
	return x
}
