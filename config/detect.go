package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Detect configures call-pattern analysis: the detectors that watch the
// CDR stream (top-level detectors:) and where their alerts go (alerts:).
// Every detector is on by default with the operator-guidance values;
// "enabled: false" switches one off.
type Detect struct {
	Enabled bool `yaml:"enabled"`

	Baseline Baseline `yaml:"baseline"`
	// The FRAUD_INDICATORS table.
	InternationalBurst BurstRule    `yaml:"international_burst"`
	OffHours           OffHoursRule `yaml:"off_hours_international"`
	HighRiskCountry    HighRiskRule `yaml:"high_risk_country"`
	ExtendedDuration   DurationRule `yaml:"extended_duration"`
	// Baseline deviations.
	NewDestination NewDestRule     `yaml:"new_destination"`
	UnusualHour    UnusualHourRule `yaml:"unusual_hour"`
	Concurrency    ConcurrencyRule `yaml:"concurrency"`
	Spend          SpendRule       `yaml:"spend"`
	// Traffic pumping triggers, scored by summed per-minute rates.
	Pumping Pumping `yaml:"pumping"`
	// IRSF shapes.
	RangeDialing RangeRule   `yaml:"range_dialing"`
	TestCalls    TestRule    `yaml:"test_calls"`
	Forwarding   Rule        `yaml:"call_forwarding"`
	Wangiri      WangiriRule `yaml:"wangiri"`
	// NewSource: chargeable calls from a source address the tenant never
	// used before.
	NewSource NewSourceRule `yaml:"new_source"`
	// InCall watches answered chargeable calls while they run.
	InCall InCallRule `yaml:"in_call"`
	// Lateness is how late a CDR may arrive (seconds) and still be placed
	// at its own time in the detectors' windows and judged: its call's end
	// against the latest call end seen (a CDR is written when the call
	// ends, so a long call is never late for being long).
	LatenessS Seconds `yaml:"lateness_s"`
	// Follow lists CDR logs that tollgate serve reads as they grow.
	Follow []Follow `yaml:"follow"`
}

// Follow is one CDR log followed like tail -F (it survives rotation).
type Follow struct {
	Path   string `yaml:"path"`
	Format string `yaml:"format"` // auto (default), asterisk, freeswitch, json
	// Tenant is used for records that name none (empty accountcode).
	Tenant string `yaml:"tenant"`
	// Timezone of time stamps without an offset (Asterisk writes local
	// time unless usegmtime is set); default UTC.
	Timezone string `yaml:"timezone"`
	// FromStart reads what the file already holds when serve starts
	// (duplicates by call id are ignored); default: only what is appended.
	FromStart bool   `yaml:"from_start"`
	PollMS    Millis `yaml:"poll_ms"` // default 250
}

// Rule is what every detector has: on/off, the action and how long it lasts.
type Rule struct {
	Enabled  *bool      `yaml:"enabled"`
	Action   Action     `yaml:"action"`    // alert, require_pin, block_and_alert, honeypot, kill_switch
	Block    BlockScope `yaml:"block"`     // for block_and_alert: extension (international calling, and the number), destination (and the extension), source_ip (and the extension), tenant (every extension's international calling)
	ExpiresS Seconds    `yaml:"expires_s"` // how long the action stays (0 = until released)
	Severity Severity   `yaml:"severity"`  // info, warning, critical
}

// On reports whether the rule is enabled.
func (r *Rule) On() bool { return r.Enabled == nil || *r.Enabled }

// BurstRule: at least Calls international calls of one extension in WindowS.
type BurstRule struct {
	Rule    `yaml:",inline"`
	Calls   int     `yaml:"calls"`
	WindowS Seconds `yaml:"window_s"`
}

// OffHoursRule: international calls between From and To, local time.
type OffHoursRule struct {
	Rule           `yaml:",inline"`
	From           string `yaml:"from"`
	To             string `yaml:"to"`
	FromMin, ToMin int    `yaml:"-"` // minutes after midnight
	// UnusualHours also judges direct outbound chargeable calls outside
	// the tenant's business hours (hours.business) in an hour of the week
	// its warm baseline has no call in — a weekend afternoon of a weekday
	// call center (default true).
	UnusualHours *bool `yaml:"unusual_hours"`
	// TenantWide puts the PIN on every extension of the tenant, not only
	// the one that called: the hour is evidence about the tenant's
	// traffic, and an intruder dialing from several extensions gets no
	// free call per extension (default true).
	TenantWide *bool `yaml:"tenant_wide"`
	// EndRate: the call that raised the finding is ended too when priced
	// at this much per minute or more (0: never).
	EndRate float64 `yaml:"end_rate"`
	// RangeExpiresS: after a call in the night window (From–To), or one
	// priced at EndRate or more at an unusual hour, to a destination
	// class the tenant does not call as a matter of course,
	// the called number's range also needs a PIN for the tenant's calls,
	// at any hour, for this long (seconds; 0: no range PIN) — a slow drip
	// comes back night after night to one range, and the hour PIN lapses
	// by day. Recorded as an event, not a second alert.
	RangeExpiresS Seconds `yaml:"range_expires_s"`
}

// HighRiskRule: Attempts calls to the listed calling codes in WindowS.
type HighRiskRule struct {
	Rule         `yaml:",inline"`
	CountryCodes []string `yaml:"country_codes"`
	Attempts     int      `yaml:"attempts"`
	WindowS      Seconds  `yaml:"window_s"`
}

// DurationRule: an international call longer than ThresholdS.
type DurationRule struct {
	Rule       `yaml:",inline"`
	ThresholdS Seconds `yaml:"threshold_s"`
	// EventBelow: a long call that cost less than this, to a destination
	// class the tenant calls as a matter of course, is recorded as an
	// info-level event, not an alert (an hour with a customer abroad is
	// business; the in-call cost limits still watch costly calls). 0: every
	// long call alerts.
	EventBelow float64 `yaml:"event_below"`
}

// NewDestRule: a chargeable destination class (country, or country/type at
// home) the tenant's warm baseline has never called. Destinations priced
// below MinRate per minute (and not premium) are no evidence; from
// BlockRate up the finding blocks the destination (the country for the
// tenant, a domestic range) for BlockExpiresS whatever Action says — a
// never-called, costly destination is where slow drips go (0: off).
type NewDestRule struct {
	Rule `yaml:",inline"`
	// MinRate: destinations priced below this per minute (and not
	// premium) are no evidence and raise nothing.
	MinRate float64 `yaml:"min_rate"`
	// BlockRate: from this price per minute a never-called destination is
	// blocked for the tenant (0: alert only).
	BlockRate float64 `yaml:"block_rate"`
	// ChallengeRate: from this price per minute (below BlockRate) a
	// never-called destination needs a PIN for the tenant's calls there
	// for BlockExpiresS, when Action is alert (0: alert only).
	ChallengeRate float64 `yaml:"challenge_rate"`
	// BlockExpiresS is how long that block or PIN stays (seconds).
	BlockExpiresS Seconds `yaml:"block_expires_s"`
	// EndCalls: the call that found a never-called destination priced at
	// block_rate or more is ended too, not only the later ones refused
	// (default true).
	EndCalls *bool `yaml:"end_calls"`
	// QuietInHours: a never-called foreign destination first called in
	// the tenant's business hours (hours.business, holidays excepted) is
	// recorded as an info-level event, not an alert, whatever its price:
	// the tenant's later calls there need a PIN for BlockExpiresS and the
	// call itself runs on under the in-call cost limits (default true).
	// Agents do open new countries at work; intruders mostly call at night
	// and at weekends, where the block and alert stay. A never-called
	// premium or costly class at home keeps them at any hour.
	QuietInHours *bool `yaml:"quiet_in_hours"`
}

// NewSourceRule: Calls chargeable calls within WindowS from a source
// address the tenant's warm baseline has not seen on an earlier day.
type NewSourceRule struct {
	Rule `yaml:",inline"`
	// Calls is how many chargeable calls from the new address make the
	// finding.
	Calls int `yaml:"calls"`
	// WindowS is the window those calls fall in (seconds).
	WindowS Seconds `yaml:"window_s"`
}

// InCallRule: answered chargeable calls watched while they run (event
// time): one call whose accrued cost (rate deck × time since answer)
// reaches CallCost, or Concurrent calls up at once to one number range of a
// tenant whose accrued cost together reaches GroupCost. The finding ends
// those calls (the SIP proxy tears them down; in redirect mode the
// end-call event stream tells the proxy/PBX) and applies the rule's action.
type InCallRule struct {
	Rule `yaml:",inline"`
	// CallCost: one answered chargeable call ends once its accrued cost
	// reaches this; screening's max_duration_s is capped at it too.
	CallCost float64 `yaml:"call_cost"`
	// Concurrent: this many answered calls up at once to one range of a
	// tenant…
	Concurrent int `yaml:"concurrent"`
	// GroupCost: …whose accrued cost together reaches this are ended.
	GroupCost float64 `yaml:"group_cost"`
	// EndCalls: end the calls the finding names (default true).
	EndCalls *bool `yaml:"end_calls"`
	// ClassCost: what a tenant may spend on one premium destination class
	// (a premium-rate number type at home, a premium or IRSF risk range
	// abroad) within ClassWindowS, over two calls or more — ended calls
	// and the accrued cost of those still running, whatever the
	// extension, range or overlap. The tenant's learned normal raises it
	// (three times its usual daily spend on that class). Reaching it ends
	// the class's running calls, blocks their ranges for the tenant, and
	// ends the tenant's later calls to the class for ClassWindowS. Any
	// call priced at 0.50/min or more counts as premium here. 0 turns it
	// off.
	ClassCost float64 `yaml:"class_cost"`
	// ClassWindowS is how far back ClassCost adds up ended calls.
	ClassWindowS Seconds `yaml:"class_window_s"`
}

// UnusualHourRule: a call in an hour of the week in which the extension's
// baseline has less than MaxShare of its calls.
type UnusualHourRule struct {
	Rule     `yaml:",inline"`
	MaxShare float64 `yaml:"max_share"`
}

// ConcurrencyRule: more calls at once than Factor × the extension's usual
// peak, and at least Min.
type ConcurrencyRule struct {
	Rule   `yaml:",inline"`
	Factor float64 `yaml:"factor"`
	Min    int     `yaml:"min"`
}

// SpendRule: the tenant's international spend today reaching WarnRatio of
// limits.account.international_spend_daily (warning) and the cap (Over).
type SpendRule struct {
	Rule      `yaml:",inline"`
	WarnRatio float64 `yaml:"warn_ratio"`
	Over      Rule    `yaml:"over"`
}

// Pumping holds the four traffic-pumping triggers.
type Pumping struct {
	Targeted Trigger `yaml:"targeted"` // one number
	Fast     Trigger `yaml:"fast"`     // one destination country
	Slow     Trigger `yaml:"slow"`     // one destination country
	Theft    Trigger `yaml:"theft"`    // all destinations (theft of service)
}

// Trigger fires when the summed per-minute termination rates of a
// tenant's calls matching it in WindowS reach Score (and at least
// MinCalls calls). Its action stays active for ActiveS.
type Trigger struct {
	Rule     `yaml:",inline"`
	WindowS  Seconds `yaml:"window_s"`
	Score    float64 `yaml:"score"`
	MinCalls int     `yaml:"min_calls"`
}

// RangeRule: Numbers distinct numbers dialed in one range (the E.164
// number less its last Digits digits) in WindowS.
type RangeRule struct {
	Rule    `yaml:",inline"`
	Numbers int     `yaml:"numbers"`
	Digits  int     `yaml:"digits"`
	WindowS Seconds `yaml:"window_s"`
}

// TestRule: Calls calls of at most MaxS seconds to one range in WindowS.
type TestRule struct {
	Rule    `yaml:",inline"`
	Calls   int     `yaml:"calls"`
	MaxS    Seconds `yaml:"max_s"`
	Digits  int     `yaml:"digits"`
	WindowS Seconds `yaml:"window_s"`
}

// WangiriRule: Callers distinct international callers whose inbound
// calls lasted at most MaxRingS (unanswered) in WindowS make a wave; its
// callers are remembered for RememberS and outbound calls to them get
// Callback (block or auth).
type WangiriRule struct {
	Rule      `yaml:",inline"`
	MaxRingS  Seconds   `yaml:"max_ring_s"`
	Callers   int       `yaml:"callers"`
	WindowS   Seconds   `yaml:"window_s"`
	RememberS Seconds   `yaml:"remember_s"`
	Callback  Treatment `yaml:"callback"`
	// CallerRate: a single one-ring international caller (or domestic one
	// chargeable to call back: personal, premium-rate, shared-cost), wave
	// or not, is remembered when calling it back costs this much per
	// minute or more and the tenant does not usually call its country or
	// number type (0: waves only).
	CallerRate float64 `yaml:"caller_rate"`
}

// Baseline configures learning each extension's and tenant's normal.
type Baseline struct {
	WarmupDays int    `yaml:"warmup_days"` // judge nothing against a baseline younger than this
	MinCalls   int    `yaml:"min_calls"`   // nor one with fewer calls
	File       string `yaml:"file"`        // where it is persisted (default: DATA/baseline.json)
}

// Alerts configures alert grouping and notifiers.
type Alerts struct {
	DedupS   Seconds   `yaml:"dedup_s"` // same code, tenant, extension and subject within this → counted, not re-sent
	Webhooks []Webhook `yaml:"webhooks"`
	Slack    []Webhook `yaml:"slack"`
	Email    Email     `yaml:"email"`
	// Alertmanager lists Prometheus Alertmanagers (API v2) that receive
	// incidents: one alert per attack, updated as it grows, resolved
	// when it ends (docs/alerts.md).
	Alertmanager []AlertmanagerTarget `yaml:"alertmanager"`
	// PagerDuty lists PagerDuty services (Events API v2) that receive
	// incidents: trigger, acknowledge and resolve with one dedup_key per
	// attack (docs/alerts.md).
	PagerDuty []PagerDutyTarget `yaml:"pagerduty"`
	// Incidents sets how alerts group into incidents for alertmanager
	// and pagerduty.
	Incidents IncidentGrouping `yaml:"incidents"`
}

// IncidentGrouping sets how alerts group into incidents (one per tenant,
// code and scope) for the Alertmanager and PagerDuty notifiers.
type IncidentGrouping struct {
	// QuietS resolves an incident after this many seconds (event time)
	// without a new alert of it.
	QuietS Seconds `yaml:"quiet_s"`
	// UpdateS is the least time between two updates of one incident
	// (seconds); alerts meanwhile go out together with the next. Must
	// be below quiet_s; 0 updates on every alert.
	UpdateS Seconds `yaml:"update_s"`
	// ExternalURL is tollgate's API address as the NOC reaches it; it
	// becomes the Alertmanager generatorURL and the PagerDuty client_url.
	ExternalURL string `yaml:"external_url"`
}

// AlertmanagerTarget is a Prometheus Alertmanager.
type AlertmanagerTarget struct {
	// URL is the Alertmanager's base URL (http://host:9093); alerts go to
	// URL/api/v2/alerts.
	URL string `yaml:"url"`
	// Retries are delivery attempts after the first (on network errors,
	// 5xx and 429).
	Retries int `yaml:"retries"`
	// MinSeverity is the least incident severity sent: info, warning or
	// critical.
	MinSeverity Severity `yaml:"min_severity"`
}

// PagerDutyTarget is a PagerDuty service integration (Events API v2).
type PagerDutyTarget struct {
	// RoutingKeyEnv names the environment variable holding the
	// integration's routing key (a secret: never in the file, never
	// logged).
	RoutingKeyEnv string `yaml:"routing_key_env"`
	// RoutingKey is read from RoutingKeyEnv.
	RoutingKey Secret `yaml:"-"`
	// URL is the Events API v2 endpoint; empty = PagerDuty's own.
	URL string `yaml:"url"`
	// Retries are delivery attempts after the first (on network errors,
	// 5xx and 429).
	Retries int `yaml:"retries"`
	// MinSeverity is the least incident severity sent: info, warning or
	// critical.
	MinSeverity Severity `yaml:"min_severity"`
}

// Webhook is an HTTP endpoint that receives alerts as JSON.
type Webhook struct {
	URL         string   `yaml:"url"`
	SecretEnv   string   `yaml:"secret_env"` // HMAC-SHA256 key, from the environment (generic webhooks)
	Retries     int      `yaml:"retries"`
	MinSeverity Severity `yaml:"min_severity"`
	// Secret is the key read from SecretEnv.
	Secret Secret `yaml:"-"`
}

// Email sends alerts over SMTP.
type Email struct {
	Addr        string   `yaml:"addr"` // host:port; empty = no email
	From        string   `yaml:"from"`
	To          []string `yaml:"to"`
	Username    string   `yaml:"username"`
	PasswordEnv string   `yaml:"password_env"`
	MinSeverity Severity `yaml:"min_severity"`
	// Password is read from PasswordEnv.
	Password Secret `yaml:"-"`
}

func on(b bool) *bool { return &b }

// DefaultDetect returns the detectors' defaults: FRAUD_INDICATORS and the
// operator triggers.
func DefaultDetect() Detect {
	return Detect{
		Enabled:            true,
		Baseline:           Baseline{WarmupDays: 7, MinCalls: 30},
		InternationalBurst: BurstRule{Rule: Rule{Action: "block_and_alert", Block: "extension", ExpiresS: 3600, Severity: "critical"}, Calls: 10, WindowS: 300},
		OffHours:           OffHoursRule{Rule: Rule{Action: "require_pin", ExpiresS: 3600, Severity: "warning"}, From: "00:00", To: "06:00", EndRate: 0.50, RangeExpiresS: 7 * 86400},
		HighRiskCountry:    HighRiskRule{Rule: Rule{Action: "block_and_alert", Block: "extension", ExpiresS: 3600, Severity: "critical"}, CountryCodes: []string{"53", "252", "371", "224", "232"}, Attempts: 3, WindowS: 3600},
		ExtendedDuration:   DurationRule{Rule: Rule{Action: "alert", Severity: "warning"}, ThresholdS: 3600, EventBelow: 5},
		NewDestination:     NewDestRule{Rule: Rule{Action: "alert", Severity: "info"}, MinRate: 0.10, ChallengeRate: 0.10, BlockRate: 0.50, BlockExpiresS: 7 * 86400},
		UnusualHour:        UnusualHourRule{Rule: Rule{Enabled: on(false), Action: "alert", Severity: "info"}, MaxShare: 0.001},
		Concurrency:        ConcurrencyRule{Rule: Rule{Action: "alert", Severity: "warning"}, Factor: 3, Min: 6},
		Spend:              SpendRule{Rule: Rule{Action: "alert", Severity: "warning"}, WarnRatio: 0.8, Over: Rule{Action: "block_and_alert", Block: "extension", ExpiresS: 6 * 3600, Severity: "critical"}},
		Pumping: Pumping{
			Targeted: Trigger{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 24 * 3600, Severity: "critical"}, WindowS: 900, Score: 5, MinCalls: 3},
			// Fast and slow pumping block what was pumped (the country for
			// the tenant, a domestic chargeable range) and the extension.
			Fast: Trigger{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 6 * 3600, Severity: "critical"}, WindowS: 300, Score: 3, MinCalls: 6},
			Slow: Trigger{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 24 * 3600, Severity: "critical"}, WindowS: 3600, Score: 8, MinCalls: 12},
			// Theft of service spans the tenant's extensions: blocking the one
			// that placed the triggering call would leave the rest open, so
			// the destination it blocks is the tenant (its kill switch).
			Theft: Trigger{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 6 * 3600, Severity: "critical"}, WindowS: 3600, Score: 25, MinCalls: 40},
		},
		RangeDialing: RangeRule{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 24 * 3600, Severity: "critical"}, Numbers: 4, Digits: 3, WindowS: 86400},
		TestCalls:    TestRule{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 24 * 3600, Severity: "critical"}, Calls: 5, MaxS: 10, Digits: 3, WindowS: 3600},
		Forwarding:   Rule{Action: "block_and_alert", Block: "extension", ExpiresS: 24 * 3600, Severity: "critical"},
		Wangiri:      WangiriRule{Rule: Rule{Action: "alert", Severity: "warning"}, MaxRingS: 5, Callers: 8, WindowS: 900, RememberS: 7 * 86400, Callback: "block", CallerRate: 0.10},
		NewSource:    NewSourceRule{Rule: Rule{Action: "block_and_alert", Block: "source_ip", ExpiresS: 24 * 3600, Severity: "critical"}, Calls: 2, WindowS: 3600},
		InCall:       InCallRule{Rule: Rule{Action: "block_and_alert", Block: "destination", ExpiresS: 24 * 3600, Severity: "critical"}, CallCost: 15, Concurrent: 3, GroupCost: 10, ClassCost: 20, ClassWindowS: 12 * 3600},
		LatenessS:    3600,
	}
}

// DefaultAlerts returns the alert defaults.
func DefaultAlerts() Alerts {
	return Alerts{DedupS: 900, Incidents: IncidentGrouping{QuietS: 900, UpdateS: 60}}
}

// detect decodes and validates the detectors: and alerts: sections over
// their defaults.
func (p *parser) detect(cfg *Config, dn, an *yaml.Node) {
	cfg.Detect, cfg.Alerts = DefaultDetect(), DefaultAlerts()
	p.decodeStrict(dn, "detectors", &cfg.Detect)
	p.decodeStrict(an, "alerts", &cfg.Alerts)
	ln := map[string]int{}
	lines(dn, "detectors", ln)
	lines(an, "alerts", ln)
	at := func(f string) int {
		for f != "" {
			if l, ok := ln[f]; ok {
				return l
			}
			i := strings.LastIndexByte(f, '.')
			if i < 0 {
				break
			}
			f = f[:i]
		}
		return dn.Line
	}
	d := &cfg.Detect
	pos := func(f string, v int) {
		if v <= 0 {
			p.errorf(at(f), f, "must be > 0")
		}
	}
	// rule checks what the words' own decoding cannot: which actions the
	// rule takes (the pumping aliases only in pumping triggers).
	rule := func(f string, r *Rule, actions ...Action) {
		if !slices.Contains(actions, r.Action) {
			p.errorf(at(f+".action"), f+".action", "want %s, got %q", orList(actions), r.Action)
		}
		if r.ExpiresS < 0 {
			p.errorf(at(f+".expires_s"), f+".expires_s", "must be ≥ 0")
		}
	}
	all := actions
	rule("detectors.international_burst", &d.InternationalBurst.Rule, all...)
	pos("detectors.international_burst.calls", d.InternationalBurst.Calls)
	pos("detectors.international_burst.window_s", int(d.InternationalBurst.WindowS))
	rule("detectors.off_hours_international", &d.OffHours.Rule, all...)
	var ok bool
	if d.OffHours.FromMin, ok = clock(d.OffHours.From); !ok {
		p.errorf(at("detectors.off_hours_international.from"), "detectors.off_hours_international.from", "want HH:MM, got %q", d.OffHours.From)
	}
	if d.OffHours.ToMin, ok = clock(d.OffHours.To); !ok {
		p.errorf(at("detectors.off_hours_international.to"), "detectors.off_hours_international.to", "want HH:MM, got %q", d.OffHours.To)
	}
	rule("detectors.high_risk_country", &d.HighRiskCountry.Rule, all...)
	for i, c := range d.HighRiskCountry.CountryCodes {
		if !digits(c, 1, 3) {
			f := fmt.Sprintf("detectors.high_risk_country.country_codes[%d]", i)
			p.errorf(at("detectors.high_risk_country.country_codes"), f, "want a calling code of 1–3 digits, got %q", c)
		}
	}
	pos("detectors.high_risk_country.attempts", d.HighRiskCountry.Attempts)
	pos("detectors.high_risk_country.window_s", int(d.HighRiskCountry.WindowS))
	rule("detectors.new_source", &d.NewSource.Rule, all...)
	pos("detectors.new_source.calls", d.NewSource.Calls)
	pos("detectors.new_source.window_s", int(d.NewSource.WindowS))
	rule("detectors.in_call", &d.InCall.Rule, all...)
	if d.InCall.CallCost <= 0 || d.InCall.GroupCost <= 0 {
		p.errorf(at("detectors.in_call"), "detectors.in_call", "call_cost and group_cost must be > 0")
	}
	if d.InCall.Concurrent < 2 {
		p.errorf(at("detectors.in_call.concurrent"), "detectors.in_call.concurrent", "must be ≥ 2")
	}
	if d.InCall.ClassCost < 0 {
		p.errorf(at("detectors.in_call.class_cost"), "detectors.in_call.class_cost", "must be ≥ 0 (0: off)")
	}
	if d.InCall.ClassCost > 0 {
		pos("detectors.in_call.class_window_s", int(d.InCall.ClassWindowS))
	}
	rule("detectors.extended_duration", &d.ExtendedDuration.Rule, all...)
	pos("detectors.extended_duration.threshold_s", int(d.ExtendedDuration.ThresholdS))
	rule("detectors.new_destination", &d.NewDestination.Rule, all...)
	if d.NewDestination.MinRate < 0 || d.NewDestination.ChallengeRate < 0 || d.NewDestination.BlockRate < 0 || d.NewDestination.BlockExpiresS < 0 {
		p.errorf(at("detectors.new_destination"), "detectors.new_destination", "min_rate, challenge_rate, block_rate and block_expires_s must be ≥ 0")
	}
	rule("detectors.unusual_hour", &d.UnusualHour.Rule, all...)
	if d.UnusualHour.MaxShare < 0 || d.UnusualHour.MaxShare >= 1 {
		p.errorf(at("detectors.unusual_hour.max_share"), "detectors.unusual_hour.max_share", "want 0 ≤ share < 1")
	}
	rule("detectors.concurrency", &d.Concurrency.Rule, all...)
	if d.Concurrency.Factor < 1 {
		p.errorf(at("detectors.concurrency.factor"), "detectors.concurrency.factor", "must be ≥ 1")
	}
	pos("detectors.concurrency.min", d.Concurrency.Min)
	rule("detectors.spend", &d.Spend.Rule, all...)
	rule("detectors.spend.over", &d.Spend.Over, all...)
	if d.Spend.WarnRatio <= 0 || d.Spend.WarnRatio >= 1 {
		p.errorf(at("detectors.spend.warn_ratio"), "detectors.spend.warn_ratio", "want 0 < ratio < 1")
	}
	for name, t := range map[string]*Trigger{"targeted": &d.Pumping.Targeted, "fast": &d.Pumping.Fast, "slow": &d.Pumping.Slow, "theft": &d.Pumping.Theft} {
		f := "detectors.pumping." + name
		rule(f, &t.Rule, ActionAlert, ActionReport, ActionBlockAndAlert, ActionBlock, ActionHoneypot, ActionRequirePIN, ActionKillSwitch)
		switch t.Action {
		case ActionReport:
			t.Action = ActionAlert
		case ActionBlock:
			t.Action = ActionBlockAndAlert
		}
		pos(f+".window_s", int(t.WindowS))
		if t.Score <= 0 {
			p.errorf(at(f+".score"), f+".score", "must be > 0")
		}
		if t.MinCalls < 0 {
			p.errorf(at(f+".min_calls"), f+".min_calls", "must be ≥ 0")
		}
	}
	rule("detectors.range_dialing", &d.RangeDialing.Rule, all...)
	pos("detectors.range_dialing.numbers", d.RangeDialing.Numbers)
	pos("detectors.range_dialing.window_s", int(d.RangeDialing.WindowS))
	if d.RangeDialing.Digits < 1 || d.RangeDialing.Digits > 8 {
		p.errorf(at("detectors.range_dialing.digits"), "detectors.range_dialing.digits", "want 1–8")
	}
	rule("detectors.test_calls", &d.TestCalls.Rule, all...)
	pos("detectors.test_calls.calls", d.TestCalls.Calls)
	pos("detectors.test_calls.max_s", int(d.TestCalls.MaxS))
	pos("detectors.test_calls.window_s", int(d.TestCalls.WindowS))
	if d.TestCalls.Digits < 1 || d.TestCalls.Digits > 8 {
		p.errorf(at("detectors.test_calls.digits"), "detectors.test_calls.digits", "want 1–8")
	}
	rule("detectors.call_forwarding", &d.Forwarding, all...)
	rule("detectors.wangiri", &d.Wangiri.Rule, all...)
	pos("detectors.wangiri.max_ring_s", int(d.Wangiri.MaxRingS))
	pos("detectors.wangiri.callers", d.Wangiri.Callers)
	pos("detectors.wangiri.window_s", int(d.Wangiri.WindowS))
	pos("detectors.wangiri.remember_s", int(d.Wangiri.RememberS))
	if d.Wangiri.CallerRate < 0 {
		p.errorf(at("detectors.wangiri.caller_rate"), "detectors.wangiri.caller_rate", "must be ≥ 0")
	}
	if d.Wangiri.Callback != "block" && d.Wangiri.Callback != "auth" {
		p.errorf(at("detectors.wangiri.callback"), "detectors.wangiri.callback", "want block or auth, got %q", d.Wangiri.Callback)
	}
	if d.Baseline.WarmupDays < 0 || d.Baseline.MinCalls < 0 {
		p.errorf(at("detectors.baseline"), "detectors.baseline", "warmup_days and min_calls must be ≥ 0")
	}
	if d.LatenessS < 0 || d.LatenessS > 7*86400 {
		p.errorf(at("detectors.lateness_s"), "detectors.lateness_s", "want 0–604800")
	}
	// The line of follow item i (lines() does not walk sequences).
	itemLine := func(i int) int {
		for k := 0; dn != nil && dn.Kind == yaml.MappingNode && k+1 < len(dn.Content); k += 2 {
			if v := dn.Content[k+1]; dn.Content[k].Value == "follow" && v.Kind == yaml.SequenceNode && i < len(v.Content) {
				return v.Content[i].Line
			}
		}
		return at("detectors.follow")
	}
	for i, fl := range d.Follow {
		f := fmt.Sprintf("detectors.follow[%d]", i)
		if fl.Path == "" {
			p.errorf(itemLine(i), f+".path", "required")
		}
		switch fl.Format {
		case "", "auto", "asterisk", "freeswitch", "json":
		default:
			p.errorf(itemLine(i), f+".format", "want auto, asterisk, freeswitch or json, got %q", fl.Format)
		}
		if fl.Timezone != "" {
			if _, err := time.LoadLocation(fl.Timezone); err != nil {
				p.errorf(itemLine(i), f+".timezone", "unknown time zone %q", fl.Timezone)
			}
		}
		if fl.PollMS < 0 || fl.PollMS > 60000 {
			p.errorf(itemLine(i), f+".poll_ms", "want 0–60000")
		}
		if len(fl.Tenant) > 64 {
			p.errorf(itemLine(i), f+".tenant", "at most 64 bytes")
		}
	}
	a := &cfg.Alerts
	if a.DedupS < 0 {
		p.errorf(at("alerts.dedup_s"), "alerts.dedup_s", "must be ≥ 0")
	}
	hooks := func(f string, hs []Webhook) {
		for i, h := range hs {
			g := fmt.Sprintf("%s[%d]", f, i)
			u, err := url.Parse(h.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.errorf(at(f), g+".url", "want an http or https URL, got %q", h.URL)
			}
			if h.Retries < 0 || h.Retries > 20 {
				p.errorf(at(f), g+".retries", "want 0–20")
			}
		}
	}
	hooks("alerts.webhooks", a.Webhooks)
	hooks("alerts.slack", a.Slack)
	if a.Email.Addr != "" {
		if !strings.Contains(a.Email.Addr, ":") {
			p.errorf(at("alerts.email.addr"), "alerts.email.addr", "want host:port, got %q", a.Email.Addr)
		}
		if a.Email.From == "" || len(a.Email.To) == 0 {
			p.errorf(at("alerts.email"), "alerts.email", "from and to are required with addr")
		}
	}
	httpURL := func(f, s string) {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.errorf(at(f), f, "want an http or https URL, got %q", s)
		}
	}
	for i, t := range a.Alertmanager {
		g := fmt.Sprintf("alerts.alertmanager[%d]", i)
		httpURL(g+".url", t.URL)
		if t.Retries < 0 || t.Retries > 20 {
			p.errorf(at("alerts.alertmanager"), g+".retries", "want 0–20")
		}
	}
	for i, t := range a.PagerDuty {
		g := fmt.Sprintf("alerts.pagerduty[%d]", i)
		if t.URL != "" {
			httpURL(g+".url", t.URL)
		}
		if t.RoutingKeyEnv == "" {
			p.errorf(at("alerts.pagerduty"), g+".routing_key_env", "required: the name of the environment variable holding the routing key")
		}
		if t.Retries < 0 || t.Retries > 20 {
			p.errorf(at("alerts.pagerduty"), g+".retries", "want 0–20")
		}
	}
	ig := a.Incidents
	if ig.QuietS < 60 || ig.QuietS > 7*86400 {
		p.errorf(at("alerts.incidents.quiet_s"), "alerts.incidents.quiet_s", "want 60–604800")
	}
	if ig.UpdateS < 0 || ig.UpdateS >= ig.QuietS {
		p.errorf(at("alerts.incidents.update_s"), "alerts.incidents.update_s", "want 0 up to below quiet_s (%d)", int(ig.QuietS))
	}
	if ig.ExternalURL != "" {
		httpURL("alerts.incidents.external_url", ig.ExternalURL)
	}
}
