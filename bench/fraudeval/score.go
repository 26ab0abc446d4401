package main

import (
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/attackgen"
)

// AttackResult is what one attack achieved against live screening.
type AttackResult struct {
	ID            string  `json:"id"`
	Class         string  `json:"class"`
	Tenant        string  `json:"tenant"`
	PolicyBlocked bool    `json:"policy_blocked"`
	Attempts      int     `json:"attempts"` // chargeable calls tried
	Connected     int     `json:"connected"`
	Refused       int     `json:"refused"`    // rejected or sent to the honeypot
	Challenged    int     `json:"challenged"` // PIN asked: the fraudster fails it
	Cut           int     `json:"cut"`        // ended early by max_duration
	Planned       float64 `json:"planned_usd"`
	Leaked        float64 `json:"leaked_usd"`
	LeakAfterStop float64 `json:"leaked_after_first_stop_usd"`
	// FirstStopS is seconds from the attack's first chargeable call to
	// its first refused or challenged one (-1: never).
	FirstStopS float64 `json:"first_stop_s"`
	// Stopped: at least one call refused or ended by the server while it
	// ran, at least 90% of the chargeable calls after the first such stop
	// stopped too, and the last one stopped.
	Stopped bool `json:"stopped"`
	// StoppedStrict is Stopped counting only calls refused at screening
	// (a call ended while it ran is not a stop): the earlier definition,
	// under which a single call can never be stopped once let through.
	StoppedStrict bool     `json:"stopped_strict"`
	Alerts        int      `json:"alerts"`
	FirstAlertS   float64  `json:"first_alert_s"` // -1: no alert
	Reasons       []string `json:"stop_reasons,omitempty"`
}

// LegitResult counts what screening did to legitimate calls.
type LegitResult struct {
	Calls             int            `json:"calls"` // whole stream
	WeekCalls         int            `json:"attack_week_calls"`
	Rejects           int            `json:"rejects"`    // whole stream (reject, honeypot, 503)
	Challenges        int            `json:"challenges"` // whole stream
	WeekRejects       int            `json:"attack_week_rejects"`
	WeekChallenges    int            `json:"attack_week_challenges"`
	Cut               int            `json:"attack_week_cut"` // legitimate calls ended early by max_duration
	FalseAlerts       int            `json:"false_alerts"`    // whole stream
	WeekFalseAlert    int            `json:"attack_week_false_alerts"`
	RejectPer10k      float64        `json:"attack_week_rejects_per_10k"`
	ChallengePer10k   float64        `json:"attack_week_challenges_per_10k"`
	FalseAlertPer10k  float64        `json:"attack_week_false_alerts_per_10k"`
	HistRefusalPer10k float64        `json:"history_refusals_per_10k"`
	RefusalReasons    map[string]int `json:"attack_week_refusal_reasons"`
	FalseAlertCodes   map[string]int `json:"attack_week_false_alert_codes"`
}

// RunResult is one seed under one policy.
type RunResult struct {
	Seed      uint64         `json:"seed"`
	Policy    string         `json:"policy"`
	Calls     int            `json:"calls"`
	Tenants   int            `json:"tenants"`
	Attacks   []AttackResult `json:"attacks"`
	Legit     LegitResult    `json:"legit"`
	Alerts    int            `json:"alerts"`
	WallS     float64        `json:"wall_s"`
	Requests  int            `json:"requests"`
	Forgotten int            `json:"forgotten_call_events"`
	// EndedByServer counts live calls the server ended (end-call stream
	// or disconnect list); EndStream whether it has the stream.
	EndedByServer int  `json:"calls_ended_by_server"`
	EndStream     bool `json:"end_call_stream"`
	Replay        any  `json:"replay,omitempty"`
}

var callIDRE = regexp.MustCompile(`c-\d+-\d{7}`)
var digitsRE = regexp.MustCompile(`\+?\d{6,}`)

// Score judges one run.
func Score(sc *attackgen.Scenario, out []Outcome, alerts []Alert) RunResult {
	res := RunResult{Seed: sc.Seed, Calls: len(sc.Calls), Tenants: len(sc.Tenants)}
	byID := map[string]int{}
	for i, a := range sc.Attacks {
		byID[a.ID] = i
		res.Attacks = append(res.Attacks, AttackResult{ID: a.ID, Class: a.Class, Tenant: a.Tenant, PolicyBlocked: a.PolicyBlocked, Planned: a.Cost, FirstStopS: -1, FirstAlertS: -1})
	}
	first := make([]time.Time, len(sc.Attacks))
	stopAt := make([]time.Time, len(sc.Attacks))
	after := make([]int, len(sc.Attacks))
	afterRefused := make([]int, len(sc.Attacks))
	lastRefused := make([]bool, len(sc.Attacks))
	// The same under the strict definition (refusals only).
	stopAtS := make([]time.Time, len(sc.Attacks))
	afterS := make([]int, len(sc.Attacks))
	afterRefusedS := make([]int, len(sc.Attacks))
	lastRefusedS := make([]bool, len(sc.Attacks))
	callAttack := map[string]int{}
	lr := &res.Legit
	lr.RefusalReasons = map[string]int{}
	lr.FalseAlertCodes = map[string]int{}
	histCalls, histRef := 0, 0
	for i := range sc.Calls {
		c, o := &sc.Calls[i], &out[i]
		week := !c.Start.Before(sc.AttackStart)
		if c.Label == attackgen.Legit {
			lr.Calls++
			refused := o.Action == "reject" || o.Action == "honeypot"
			if refused {
				lr.Rejects++
			}
			if o.Action == "challenge" {
				lr.Challenges++
			}
			if week {
				lr.WeekCalls++
				if refused {
					lr.WeekRejects++
				}
				if o.Action == "challenge" {
					lr.WeekChallenges++
				}
				if refused || o.Action == "challenge" {
					lr.RefusalReasons[o.Action+": "+reasonKey(o.Reason)]++
				}
				if o.Cut {
					lr.Cut++
				}
			} else {
				histCalls++
				if refused || o.Action == "challenge" {
					histRef++
				}
			}
			continue
		}
		k, ok := byID[c.Label]
		if !ok {
			continue
		}
		callAttack[c.ID] = k
		if !c.Chargeable() {
			continue
		}
		ar := &res.Attacks[k]
		ar.Attempts++
		if first[k].IsZero() {
			first[k] = c.Start
		}
		refused := !o.Happened
		stopped := refused || o.Ended
		if !stopAtS[k].IsZero() {
			afterS[k]++
			if refused {
				afterRefusedS[k]++
			}
		}
		if refused && stopAtS[k].IsZero() {
			stopAtS[k] = c.Start
		}
		lastRefusedS[k] = refused
		switch {
		case o.Happened:
			ar.Connected++
			ar.Leaked += o.Cost
			if o.Cut {
				ar.Cut++
			}
		case o.Action == "challenge":
			ar.Challenged++
		default:
			ar.Refused++
		}
		why := reasonKey(o.Reason)
		if !refused {
			why = "ended by the server while it ran"
		}
		if stopped && len(ar.Reasons) < 3 && !contains(ar.Reasons, why) {
			ar.Reasons = append(ar.Reasons, why)
		}
		if !stopAt[k].IsZero() {
			after[k]++
			if stopped {
				afterRefused[k]++
			}
			if o.Happened {
				ar.LeakAfterStop += o.Cost
			}
		}
		if stopped && stopAt[k].IsZero() {
			stopAt[k] = c.Start
			ar.FirstStopS = c.Start.Sub(first[k]).Seconds()
		}
		lastRefused[k] = stopped
	}
	for k := range res.Attacks {
		ar := &res.Attacks[k]
		ar.Leaked = round2(ar.Leaked)
		ar.LeakAfterStop = round2(ar.LeakAfterStop)
		ar.Stopped = !stopAt[k].IsZero() && lastRefused[k] && (after[k] == 0 || float64(afterRefused[k]) >= 0.9*float64(after[k]))
		ar.StoppedStrict = !stopAtS[k].IsZero() && lastRefusedS[k] && (afterS[k] == 0 || float64(afterRefusedS[k]) >= 0.9*float64(afterS[k]))
		ar.Stopped = ar.Stopped || ar.StoppedStrict
	}
	// Alerts: an alert belongs to an attack when it names one of its
	// calls or numbers, or its tenant and one of its extensions (or the
	// tenant alone) while the attack runs (up to two hours after).
	for i := range alerts {
		al := &alerts[i]
		k := -1
		raw := string(al.Details) + " " + al.Text
		for _, id := range callIDRE.FindAllString(raw, -1) {
			if a, ok := callAttack[id]; ok {
				k = a
				break
			}
		}
		if k < 0 {
			for _, d := range digitsRE.FindAllString(raw, -1) {
				d = strings.TrimPrefix(d, "+")
				for j, a := range sc.Attacks {
					if a.Tenant != al.Tenant && al.Tenant != "" {
						continue
					}
					for _, p := range a.Destinations {
						if strings.HasPrefix(d, p) {
							k = j
						}
					}
				}
				if k >= 0 {
					break
				}
			}
		}
		if k < 0 {
			for j, a := range sc.Attacks {
				if a.Tenant != al.Tenant {
					continue
				}
				if al.Time.Before(a.Start.Add(-5*time.Minute)) || al.Time.After(a.End.Add(2*time.Hour)) {
					continue
				}
				if al.Extension == "" || contains(a.Extensions, al.Extension) {
					k = j
					break
				}
			}
		}
		if k >= 0 {
			ar := &res.Attacks[k]
			ar.Alerts++
			if s := al.Time.Sub(first[k]).Seconds(); ar.FirstAlertS < 0 || s < ar.FirstAlertS {
				ar.FirstAlertS = math.Max(s, 0)
			}
			continue
		}
		lr.FalseAlerts++
		al.False = true
		if !al.Time.Before(sc.AttackStart) {
			lr.WeekFalseAlert++
			lr.FalseAlertCodes[al.Code]++
		}
	}
	res.Alerts = len(alerts)
	if lr.WeekCalls > 0 {
		n := float64(lr.WeekCalls)
		lr.RejectPer10k = round2(float64(lr.WeekRejects) / n * 1e4)
		lr.ChallengePer10k = round2(float64(lr.WeekChallenges) / n * 1e4)
		lr.FalseAlertPer10k = round2(float64(lr.WeekFalseAlert) / n * 1e4)
	}
	if histCalls > 0 {
		lr.HistRefusalPer10k = round2(float64(histRef) / float64(histCalls) * 1e4)
	}
	return res
}

// reasonKey shortens a verdict reason to its rule.
func reasonKey(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.TrimSpace(s)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ReplayResult is what `tollgate replay` of the same stream (every call
// as planned, nothing refused) made of it: its alerts judged like live
// ones, and per attack what it had cost before its first alert.
type ReplayResult struct {
	CDRsPerSecond    float64              `json:"cdrs_per_second"`
	Alerts           int                  `json:"alerts"`
	Actions          int                  `json:"actions"`
	FlaggedCalls     int                  `json:"flagged_calls"`
	EstimatedCost    float64              `json:"estimated_fraud_cost"`
	WeekFalseAlerts  int                  `json:"attack_week_false_alerts"`
	FalseAlertPer10k float64              `json:"attack_week_false_alerts_per_10k"`
	Attacks          []ReplayAttackResult `json:"attacks"`
}

// ReplayAttackResult is one attack as replay saw it.
type ReplayAttackResult struct {
	ID          string  `json:"id"`
	Alerts      int     `json:"alerts"`
	FirstAlertS float64 `json:"first_alert_s"` // -1: none
	// CostBeforeAlert is what the attack's calls placed before its first
	// alert cost (all of it when there was none).
	CostBeforeAlert float64 `json:"cost_before_first_alert_usd"`
}

// ScoreReplay judges replay's alerts with the live attribution rules.
func ScoreReplay(sc *attackgen.Scenario, alerts []Alert, rate, est float64, flagged, actions int) ReplayResult {
	all := make([]Outcome, len(sc.Calls))
	for i := range sc.Calls {
		c := &sc.Calls[i]
		all[i] = Outcome{Action: "allow", Happened: true, Billsec: c.Billsec, Cost: c.Cost}
	}
	r := Score(sc, all, alerts)
	out := ReplayResult{CDRsPerSecond: round2(rate), Alerts: len(alerts), Actions: actions, FlaggedCalls: flagged, EstimatedCost: round2(est),
		WeekFalseAlerts: r.Legit.WeekFalseAlert, FalseAlertPer10k: r.Legit.FalseAlertPer10k}
	for k, a := range r.Attacks {
		ra := ReplayAttackResult{ID: a.ID, Alerts: a.Alerts, FirstAlertS: a.FirstAlertS}
		var first time.Time
		for i := range sc.Calls {
			c := &sc.Calls[i]
			if c.Label != sc.Attacks[k].ID || !c.Chargeable() {
				continue
			}
			if first.IsZero() {
				first = c.Start
			}
			if a.FirstAlertS < 0 || c.Start.Sub(first).Seconds() < a.FirstAlertS {
				ra.CostBeforeAlert += c.Cost
			}
		}
		ra.CostBeforeAlert = round2(ra.CostBeforeAlert)
		out.Attacks = append(out.Attacks, ra)
	}
	return out
}
