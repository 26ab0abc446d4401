package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Compliance is a tenant's outbound-campaign compliance policy: which of
// its traffic is campaign traffic, the dates without campaign calls,
// do-not-call scrubbing and the caller IDs it owns. The calling window
// itself is the tenant's calling_window.
type Compliance struct {
	// Campaign marks the tenant's campaign traffic. Left empty, every
	// outbound call of the tenant is campaign traffic.
	Campaign Campaign `yaml:"campaign"`
	// Holidays are dates (YYYY-MM-DD, in the callee's zone) on which the
	// calling window stays closed all day.
	Holidays []string  `yaml:"holidays"`
	DNC      DNC       `yaml:"dnc"`
	CallerID CallerIDs `yaml:"caller_id"`
}

// Campaign selects campaign traffic by extension class or by trunk.
type Campaign struct {
	// Extensions are extension names, or classes ending in "*" ("5*" is
	// every extension starting with 5).
	Extensions []string `yaml:"extensions"`
	// Trunks are the source addresses (IP or CIDR) of the dialer trunks.
	Trunks []string `yaml:"trunks"`

	exact    map[string]bool
	prefixes []string
	nets     []netip.Prefix
}

// DNC configures do-not-call scrubbing of campaign calls.
type DNC struct {
	// Enabled scrubs campaign calls against the lists below and the
	// internal opt-out list; it defaults to true when lists are given.
	Enabled *bool `yaml:"enabled"`
	// Lists maps a list name (e.g. "national") to its file.
	Lists map[string]DNCList `yaml:"lists"`
	// ConsentTypes are the consent types that lift a listing
	// (e.g. express_written); empty accepts every type.
	ConsentTypes []string `yaml:"consent_types"`
}

// DNCList is one do-not-call list file.
type DNCList struct {
	File string `yaml:"file"`
	// Format is "e164" (one number per line) or "registry" (the national
	// registry's "area code,number" CSV; the tenant's country code is
	// put in front).
	Format string `yaml:"format"`
}

// On reports whether DNC scrubbing is enabled.
func (d *DNC) On() bool {
	if d.Enabled != nil {
		return *d.Enabled
	}
	return len(d.Lists) > 0
}

// CallerIDs is the table of numbers a tenant owns, for truthful caller ID
// on campaign calls.
type CallerIDs struct {
	// Owned are E.164 numbers ("+12125550100") or ranges ending in "*"
	// ("+1212555*"). Empty switches the check off.
	Owned []string `yaml:"owned"`
	// Action on a campaign call presenting a number the tenant does not
	// own: block (default) or auth.
	Action Treatment `yaml:"action"`
}

// Used reports whether any compliance rule is configured.
func (c *Compliance) Used() bool {
	return c.DNC.On() || len(c.CallerID.Owned) > 0
}

// Match reports whether a call from extension ext and source address ip
// is campaign traffic.
func (c *Campaign) Match(ext string, ip netip.Addr) bool {
	if len(c.Extensions) == 0 && len(c.Trunks) == 0 {
		return true
	}
	if c.exact[ext] {
		return true
	}
	for _, p := range c.prefixes {
		if strings.HasPrefix(ext, p) {
			return true
		}
	}
	if ip.IsValid() {
		ip = ip.Unmap()
		for _, n := range c.nets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// IsHoliday reports whether local time t falls on a compliance holiday.
func (c *Compliance) IsHoliday(t time.Time) bool {
	if len(c.Holidays) == 0 {
		return false
	}
	d := t.Format("2006-01-02")
	for _, h := range c.Holidays {
		if h == d {
			return true
		}
	}
	return false
}

// compliance validates a tenant's compliance section.
func (p *parser) compliance(t *Tenant, path string, at func(string) int) {
	c := &t.Compliance
	bad := func(field, format string, args ...any) {
		p.errorf(at(field), join(path, field), format, args...)
	}
	cp := &c.Campaign
	cp.exact = map[string]bool{}
	for i, e := range cp.Extensions {
		switch {
		case e == "" || len(e) > 64:
			bad("compliance.campaign.extensions", "entry %d: want 1–64 characters", i)
		case strings.HasSuffix(e, "*"):
			if strings.Contains(e[:len(e)-1], "*") {
				bad("compliance.campaign.extensions", "entry %d: \"*\" only at the end, got %q", i, e)
			}
			cp.prefixes = append(cp.prefixes, e[:len(e)-1])
		default:
			cp.exact[e] = true
		}
	}
	for i, s := range cp.Trunks {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				bad("compliance.campaign.trunks", "entry %d: want an IP address or CIDR, got %q", i, s)
				continue
			}
			a = a.Unmap()
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		cp.nets = append(cp.nets, pfx.Masked())
	}
	for i, d := range c.Holidays {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			bad("compliance.holidays", "entry %d: want YYYY-MM-DD, got %q", i, d)
		}
	}
	for name, l := range c.DNC.Lists {
		f := "compliance.dnc.lists." + name
		if !validName(name) {
			bad(f, "list names are letters, digits, '-', '_' and '.'")
		}
		if l.File == "" {
			bad(f+".file", "required: the list's file")
		}
		switch l.Format {
		case "":
			l.Format = "e164"
			c.DNC.Lists[name] = l
		case "e164", "registry":
		default:
			bad(f+".format", "want e164 or registry, got %q", l.Format)
		}
	}
	for i, ty := range c.DNC.ConsentTypes {
		if !validName(ty) {
			bad("compliance.dnc.consent_types", "entry %d: want a word like express_written, got %q", i, ty)
		}
	}
	for i, o := range c.CallerID.Owned {
		s := strings.TrimSuffix(o, "*")
		if len(s) < 3 || s[0] != '+' || !digits(s[1:], 2, 15) {
			bad("compliance.caller_id.owned", "entry %d: want an E.164 number or a range ending in *, like +12125550100 or +1212555*, got %q", i, o)
		}
	}
	switch c.CallerID.Action {
	case "":
		c.CallerID.Action = "block"
	case "block", "auth":
	default:
		bad("compliance.caller_id.action", "want block or auth, got %q", c.CallerID.Action)
	}
	if !t.CallingWindow.Enabled && len(c.Holidays) > 0 {
		bad("compliance.holidays", "needs calling_window.enabled: true")
	}
}

// Quality configures the call-quality watch: where quality reports come
// in, the alert thresholds and the synthetic test calls.
type Quality struct {
	// HEPListen is the UDP address of the HEPv3 listener ("" = off).
	HEPListen  string            `yaml:"hep_listen"`
	Thresholds QualityThresholds `yaml:"thresholds"`
	// WindowS is the span of the per-route aggregates (seconds).
	WindowS Seconds `yaml:"window_s"`
	// MinReports is how many reports a route needs in the window before
	// its aggregate can raise an alert.
	MinReports int `yaml:"min_reports"`
	// CollapseMOSDrop is how far a route's MOS must fall below its own
	// longer-term level at once to be reported as a quality collapse
	// (an attack or misrouting signal); 0 switches it off.
	CollapseMOSDrop float64 `yaml:"collapse_mos_drop"`
	// AlertEveryS is the least time between two alerts of one kind for
	// one route (seconds).
	AlertEveryS Seconds `yaml:"alert_every_s"`
	Probe       Probe   `yaml:"probe"`
}

// QualityThresholds are the alert thresholds.
type QualityThresholds struct {
	LossPct  float64 `yaml:"loss_pct"`
	JitterMS float64 `yaml:"jitter_ms"`
	RTTMS    float64 `yaml:"latency_ms"`
	MOS      float64 `yaml:"mos"`
}

// Probe configures synthetic test calls.
type Probe struct {
	// Target is the SIP URI or host:port of the answering peer ("" = off).
	Target string `yaml:"target"`
	// Route names the route the probe's results are recorded under.
	Route     string  `yaml:"route"`
	IntervalS Seconds `yaml:"interval_s"`
	// DurationS is how long each test call's media runs.
	DurationS Seconds `yaml:"duration_s"`
	// Sipp is the SIPp binary (default sipp).
	Sipp string `yaml:"sipp"`
}

func (p *parser) quality(cfg *Config, n *yaml.Node) {
	q := &cfg.Quality
	p.decodeStrict(n, "quality", q)
	ln := map[string]int{}
	lines(n, "quality", ln)
	bad := func(field, format string, args ...any) {
		line := ln["quality."+field]
		if line == 0 {
			line = n.Line
		}
		p.errorf(line, "quality."+field, format, args...)
	}
	if q.HEPListen != "" {
		if _, err := netip.ParseAddrPort(q.HEPListen); err != nil {
			bad("hep_listen", "want IP:port, got %q", q.HEPListen)
		}
	}
	th := &q.Thresholds
	def := func(v *float64, d float64, field string, hi float64) {
		if *v == 0 {
			*v = d
		}
		if *v < 0 || *v > hi {
			bad(field, "want a number between 0 and %g, got %g", hi, *v)
		}
	}
	def(&th.LossPct, 2, "thresholds.loss_pct", 100)
	def(&th.JitterMS, 30, "thresholds.jitter_ms", 10000)
	def(&th.RTTMS, 150, "thresholds.latency_ms", 60000)
	def(&th.MOS, 3.6, "thresholds.mos", 4.5)
	if th.MOS != 0 && th.MOS < 1 {
		bad("thresholds.mos", "want 1–4.5, got %g", th.MOS)
	}
	if q.WindowS == 0 {
		q.WindowS = 300
	}
	if q.WindowS < 1 || q.WindowS > 86400 {
		bad("window_s", "want 1–86400 seconds, got %d", q.WindowS)
	}
	if q.MinReports == 0 {
		q.MinReports = 1
	}
	if q.MinReports < 1 || q.MinReports > 100000 {
		bad("min_reports", "want 1–100000, got %d", q.MinReports)
	}
	if q.CollapseMOSDrop == 0 {
		q.CollapseMOSDrop = 1.0
	}
	if q.CollapseMOSDrop < 0 || q.CollapseMOSDrop > 4 {
		bad("collapse_mos_drop", "want 0–4, got %g", q.CollapseMOSDrop)
	}
	if q.AlertEveryS == 0 {
		q.AlertEveryS = 300
	}
	if q.AlertEveryS < 0 {
		bad("alert_every_s", "must be ≥ 0")
	}
	pr := &q.Probe
	if pr.Target != "" {
		host := strings.TrimPrefix(pr.Target, "sip:")
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		if _, err := netip.ParseAddrPort(host); err != nil {
			bad("probe.target", "want sip:[user@]IP:port or IP:port, got %q", pr.Target)
		}
	}
	if pr.Route == "" {
		pr.Route = "probe"
	}
	if pr.IntervalS == 0 {
		pr.IntervalS = 300
	}
	if pr.IntervalS < 1 {
		bad("probe.interval_s", "want ≥ 1 second, got %d", pr.IntervalS)
	}
	if pr.DurationS == 0 {
		pr.DurationS = 5
	}
	if pr.DurationS < 1 || pr.DurationS > 600 {
		bad("probe.duration_s", "want 1–600 seconds, got %d", pr.DurationS)
	}
	if pr.Sipp == "" {
		pr.Sipp = "sipp"
	}
}

// String describes the thresholds, for alerts.
func (t QualityThresholds) String() string {
	return fmt.Sprintf("loss > %g %%, jitter > %g ms, latency > %g ms, MOS < %g", t.LossPct, t.JitterMS, t.RTTMS, t.MOS)
}
