// Package config reads tollgate's YAML policy into typed values and
// validates it; every error names the file, the line and the field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MaxSize is the largest policy file accepted.
const MaxSize = 4 << 20

// Config is a whole policy file: the server settings, the system-wide
// limits, and one resolved Tenant per tenant (defaults already merged in).
type Config struct {
	File    string
	Server  Server
	SIP     SIP
	Numbers Numbers
	System  System
	// Honeypot and Attack configure the decoy PBX and SIP attack
	// blocking (config/honeypot.go).
	Honeypot Honeypot
	Attack   Attack
	// STIR is the STIR/SHAKEN trust and signing setup (config/callerid.go).
	STIR STIR
	// Defaults is the policy of a tenant that has no section of its own.
	Defaults *Tenant
	Tenants  map[string]*Tenant
	// Detect and Alerts configure call-pattern analysis (config/detect.go).
	Detect Detect
	Alerts Alerts
	// Quality configures the call-quality watch (config/compliance.go).
	Quality Quality
	// AllowUnknownTenants lets calls of tenants without a section use
	// Defaults; when false they get a 400.
	AllowUnknownTenants bool
	// Console configures the operator console (config/console.go).
	Console Console
	// Cluster configures cluster mode (config/cluster.go).
	Cluster Cluster
	// Voice configures voice biometrics (config/voice.go).
	Voice Voice
	// Asterisk configures the FastAGI server for Asterisk dialplans
	// (config/asterisk.go).
	Asterisk Asterisk
}

// Server holds listener and storage settings.
type Server struct {
	Listen  string  `yaml:"listen"`
	DataDir string  `yaml:"data_dir"`
	Node    string  `yaml:"node"`
	Tokens  []Token `yaml:"tokens"`
	// MaxInFlight bounds concurrent screenings; beyond it the engine is
	// overloaded and applies the tenant's on_error choice.
	MaxInFlight int `yaml:"max_in_flight"`
	// StaleCallAfter expires a call that never ended (seconds).
	StaleCallAfter Seconds `yaml:"stale_call_after_s"`
	// CallSetup is how long, in seconds, the engine waits for the first
	// event (answer or end) of a call it let through before it forgets
	// the call: a redirect deployment whose proxy posts no events, or an
	// answer that was lost. The call's concurrency slots are not freed
	// then: they stay held until their lease runs out (the call's maximum
	// duration + 2 min, else stale_call_after_s), so a caller who never
	// sends events gains nothing. An event arriving later is refused as
	// for an unknown call (404). Both are counted
	// (tollgate_engine_calls_without_event_total,
	// tollgate_engine_events_unknown_call_total). Keep it above the
	// longest time a call may ring (SIP Timer C is 3 min); tollgate's own
	// proxy mode gives up ringing calls at 4/5 of it. 0 means 300; at
	// most stale_call_after_s.
	CallSetup Seconds `yaml:"call_setup_s"`
	// StateMaxAge is how old the block/kill-switch snapshot may get when
	// the store cannot be read before on_error applies (seconds).
	StateMaxAge Seconds `yaml:"state_max_age_s"`
	// MaxClockSkew is how far, in seconds, the time a client stamps on a
	// screening or call event may lie from this node's clock: further is
	// refused with a 400 (history goes through 'tollgate replay', not a
	// live server). It also bounds the decision-log tail a restart
	// replays after loading its state snapshot, which is what makes a
	// restart take seconds whatever the traffic: with it off (0) the
	// restart rebuilds the counters from the whole last day of the
	// decision log, as a server driven in its own time (a simulator, an
	// evaluation) needs. The built-in and example policies set 60. At
	// most 600.
	MaxClockSkew Seconds `yaml:"max_clock_skew_s"`
	// TLSCert and TLSKey are PEM files: when both are set the API and the
	// console are served over HTTPS only, and a renewed pair written over
	// them is picked up within ten seconds, without a restart.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// SIEM streams screening decisions and audit entries to a collector
	// (docs/alerts.md); off without an addr.
	SIEM SIEM `yaml:"siem"`
	// Retention is how long an embedded node keeps decisions, call
	// events and alerts (config/retention.go).
	Retention Retention `yaml:"retention"`
	// MemoryLimitMB is a soft limit, in MiB, on the memory the Go
	// runtime holds (heap, stacks, runtime structures; not the binary's
	// own pages): the garbage collector runs as often as it must to stay
	// under it, instead of letting the heap grow to twice what is live.
	// 0, the default, is automatic unless the GOMEMLIMIT environment
	// variable is set (which then applies): from call_setup_s plus a
	// minute after start, the limit follows the heap marked live at each
	// collection, at 1.75× the lowest of the last nine and never below
	// 1.3× the last one, logged when it moves by a tenth; this keeps RSS
	// flat at steady traffic (docs/benchmarks.md, issue 17 fourth pass).
	// -1 is no limit (the heap may reach twice the live heap at its
	// highest). A fixed value should be 1.5× the live heap at steady
	// traffic or more (go_gc_heap_live_bytes once call_setup_s plus a
	// minute has passed); with less headroom, or on starved cores, the
	// collector runs almost continuously (issue 17 third pass); at or
	// below the live heap memory goes past the limit anyway. Read at
	// start.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
}

// ClockSkew is the live server's bound on call times: 0 when off.
func (s *Server) ClockSkew() time.Duration {
	return s.MaxClockSkew.Duration()
}

// SIEM is a syslog or JSON-lines collector that receives decisions and
// audit entries, off the screening path (a bounded queue; drops counted).
type SIEM struct {
	// Addr is the collector's host:port; empty = no stream.
	Addr string `yaml:"addr"`
	// Network is udp or tcp (empty: udp).
	Network string `yaml:"network"`
	// Format is rfc5424 (syslog; octet counting over TCP) or json (one
	// object per line or datagram); empty: rfc5424.
	Format string `yaml:"format"`
	// Facility is the syslog facility, 1–23 (empty: 13, log audit).
	Facility int `yaml:"facility"`
	// Records is what is streamed: all, decisions or audit (empty: all).
	Records string `yaml:"records"`
}

// Token is a bearer token configured in the file. The secret itself never
// sits in the file: either its SHA-256 or the name of an environment
// variable holding it.
type Token struct {
	Name      string `yaml:"name"`
	Role      Role   `yaml:"role"` // admin, operator, screen, read
	SHA256    string `yaml:"sha256"`
	SecretEnv string `yaml:"secret_env"`
	// Secret is the token read from SecretEnv (config/secret.go).
	Secret Secret `yaml:"-"`
}

// Numbers points at the user's number-intelligence data.
type Numbers struct {
	RiskFiles []string `yaml:"risk_files"`
	RateDeck  string   `yaml:"rate_deck"`
}

// System holds limits that span every tenant.
type System struct {
	InternationalCallsPerMinute Limit  `yaml:"international_calls_per_minute"`
	AlertThresholdSpend         Amount `yaml:"alert_threshold_spend"`
}

// Tenant is one tenant's resolved policy.
type Tenant struct {
	Name           string                   `yaml:"-"`
	Country        string                   `yaml:"country"`
	Timezone       string                   `yaml:"timezone"`
	IntlPrefixes   []string                 `yaml:"international_prefixes"`
	NationalPrefix string                   `yaml:"national_prefix"`
	Mode           Mode                     `yaml:"mode"`     // enforce, shadow
	OnError        OnError                  `yaml:"on_error"` // fail_open, fail_closed
	Destinations   Destinations             `yaml:"destinations"`
	Extensions     map[string]ExtensionPerm `yaml:"extensions"`
	Hours          Hours                    `yaml:"hours"`
	CallingWindow  CallingWindow            `yaml:"calling_window"`
	CallerID       CallerID                 `yaml:"caller_id"`  // config/callerid.go
	Compliance     Compliance               `yaml:"compliance"` // config/compliance.go
	SourceIPs      SourceIPs                `yaml:"source_ips"` // config/sourceips.go
	Limits         Limits                   `yaml:"limits"`
	Cost           Cost                     `yaml:"cost"`

	Location *time.Location `yaml:"-"`
	// Lines maps a dotted field path to its line, for reasons and errors.
	Lines map[string]int `yaml:"-"`
}

// Destinations is the destination policy.
type Destinations struct {
	Default         Treatment            `yaml:"default"`          // deny, allow: international calls matching no rule
	Countries       map[string]Treatment `yaml:"countries"`        // calling code → allow, auth, block
	PremiumPrefixes map[string]Treatment `yaml:"premium_prefixes"` // E.164 prefix → block, limit, auth, allow
	Types           map[string]Treatment `yaml:"types"`            // number type → allow, auth, block
	RiskCategories  map[string]Treatment `yaml:"risk_categories"`  // risk-layer category → allow, auth, limit, block
	Invalid         Treatment            `yaml:"invalid"`          // what to do with invalid numbers: allow, auth, block
}

// ExtensionPerm is what one extension may dial.
type ExtensionPerm struct {
	International *bool `yaml:"international"`
	Premium       *bool `yaml:"premium"`
}

// Hours holds the time-of-day rules, in the tenant's time zone.
type Hours struct {
	Business                Window    `yaml:"business"`
	AfterHoursInternational Treatment `yaml:"after_hours_international"` // allow, auth, block
	Night                   Window    `yaml:"night"`
	NightInternational      Treatment `yaml:"night_international"` // allow, auth, block
	Holidays                []string  `yaml:"holidays"`            // YYYY-MM-DD, treated as after hours
}

// Window is a daily time range on some weekdays. To before From wraps
// past midnight.
type Window struct {
	Days []string `yaml:"days"` // mon … sun; empty = every day
	From string   `yaml:"from"` // HH:MM
	To   string   `yaml:"to"`   // HH:MM

	from, to int // minutes after midnight
	days     uint8
	set      bool
}

// CallingWindow restricts outbound campaign calls to the callee's local hours.
type CallingWindow struct {
	Enabled bool   `yaml:"enabled"`
	From    string `yaml:"from"`
	To      string `yaml:"to"`

	from, to int
}

// Limits are the per-extension and per-account limits.
type Limits struct {
	Extension ExtensionLimits `yaml:"extension"`
	Account   AccountLimits   `yaml:"account"`
}

// ExtensionLimits apply to each extension separately.
type ExtensionLimits struct {
	InternationalCallsPerHour Limit `yaml:"international_calls_per_hour"`
	PremiumCallsPerDay        Limit `yaml:"premium_calls_per_day"`
	ConcurrentInternational   Limit `yaml:"concurrent_international"`
	LimitedCallsPerHour       Limit `yaml:"limited_calls_per_hour"`
	DistinctCalleesPerDay     Limit `yaml:"distinct_callees_per_day"`
	DistinctCalleesPerMonth   Limit `yaml:"distinct_callees_per_month"`
	// InternationalBurst is FRAUD_INDICATORS.international_burst: at most
	// Calls international calls in any WindowS seconds.
	InternationalBurst Burst `yaml:"international_burst"`
}

// Burst is a count limit over a window of the operator's choosing.
type Burst struct {
	Calls   Limit   `yaml:"calls"`
	WindowS Seconds `yaml:"window_s"`
}

// AccountLimits apply to the tenant as a whole.
type AccountLimits struct {
	InternationalSpendDaily Amount `yaml:"international_spend_daily"`
	InternationalCallsDaily Limit  `yaml:"international_calls_daily"`
	MaxCallDurationIntl     Limit  `yaml:"max_call_duration_intl"`
	LimitedMaxDuration      Limit  `yaml:"limited_max_duration"`
	ConcurrentCalls         Limit  `yaml:"concurrent_calls"`
}

// Cost holds the cost-aware rules.
type Cost struct {
	MaxPricePerMin     Amount    `yaml:"max_price_per_min"`      // above → challenge
	AbovePriceAction   Treatment `yaml:"above_price_action"`     // auth (default) or block
	RiskPerPricePerMin float64   `yaml:"risk_per_price_per_min"` // risk points per currency unit per minute
	MaxRateRisk        int       `yaml:"max_rate_risk"`          // cap on that contribution
}

// Limit is a count limit that can be switched off: an integer or "off".
type Limit struct {
	N  int
	On bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (l *Limit) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n, "want a whole number or off")
	}
	if n.Value == "off" || n.Value == "false" {
		*l = Limit{}
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 0 || v > 1e9 {
		return typeErr(n, "want a whole number ≥ 0 or off, got %q", n.Value)
	}
	*l = Limit{N: v, On: true}
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (l Limit) MarshalYAML() (any, error) {
	if !l.On {
		return "off", nil
	}
	return l.N, nil
}

// Amount is a money amount that can be switched off: a number or "off".
type Amount struct {
	V  float64
	On bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *Amount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeErr(n, "want an amount or off")
	}
	if n.Value == "off" || n.Value == "false" {
		*a = Amount{}
		return nil
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || v < 0 || v != v || v > 1e12 {
		return typeErr(n, "want an amount ≥ 0 or off, got %q", n.Value)
	}
	*a = Amount{V: v, On: true}
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (a Amount) MarshalYAML() (any, error) {
	if !a.On {
		return "off", nil
	}
	return a.V, nil
}

// typeErr makes an error yaml.v3 collects with the node's line and
// column; the column lets yamlError name the field even when several
// share a line ({a: 1, b: 2}).
func typeErr(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d, column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))}}
}

// Error is a configuration error at one place in one file.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every error found in one file.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and validates the policy file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file larger than %d bytes", MaxSize)}
	}
	c, err := Parse(path, b)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	c.resolvePaths(dir)
	return c, nil
}

// resolvePaths makes the data files a policy names relative to the policy
// file's own folder, not to the working directory of whoever runs
// tollgate: the rate deck, the risk files and the DNC lists.
func (c *Config) resolvePaths(dir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.Numbers.RateDeck = abs(c.Numbers.RateDeck)
	for i, p := range c.Numbers.RiskFiles {
		c.Numbers.RiskFiles[i] = abs(p)
	}
	for _, t := range append([]*Tenant{c.Defaults}, mapValues(c.Tenants)...) {
		if t == nil {
			continue
		}
		for name, l := range t.Compliance.DNC.Lists {
			l.File = abs(l.File)
			t.Compliance.DNC.Lists[name] = l
		}
	}
}

func mapValues(m map[string]*Tenant) []*Tenant {
	out := make([]*Tenant, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	return out
}

// Parse validates a policy held in memory; name is used in errors.
func Parse(name string, src []byte) (*Config, error) {
	p := &parser{file: name}
	cfg := p.parse(src)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	cfg.secrets()
	return cfg, nil
}

type parser struct {
	file string
	errs Errors
	// geoip is set once attack.geoip_db names a country database, which
	// tenants' source_ips.countries rules need.
	geoip bool
}

func (p *parser) errorf(line int, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// reported reports whether an error about field was already recorded
// (a word that failed to decode leaves its field empty).
func (p *parser) reported(field string) bool {
	for _, e := range p.errs {
		if e.Field == field {
			return true
		}
	}
	return false
}

// top is the file's top level, tenants kept as nodes so defaults can be
// merged into them before decoding.
type top struct {
	Server              yaml.Node            `yaml:"server"`
	SIP                 yaml.Node            `yaml:"sip"`
	Numbers             yaml.Node            `yaml:"numbers"`
	System              yaml.Node            `yaml:"system"`
	Defaults            yaml.Node            `yaml:"defaults"`
	Tenants             map[string]yaml.Node `yaml:"tenants"`
	Honeypot            yaml.Node            `yaml:"honeypot"`
	Attack              yaml.Node            `yaml:"attack"`
	STIR                yaml.Node            `yaml:"stir"`
	Detectors           yaml.Node            `yaml:"detectors"`
	Alerts              yaml.Node            `yaml:"alerts"`
	Quality             yaml.Node            `yaml:"quality"`
	AllowUnknownTenants *bool                `yaml:"allow_unknown_tenants"`
	Console             yaml.Node            `yaml:"console"`
	Cluster             yaml.Node            `yaml:"cluster"`
	Voice               yaml.Node            `yaml:"voice"`
	Asterisk            yaml.Node            `yaml:"asterisk"`
}

func (p *parser) parse(src []byte) *Config {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(0, "", "empty policy file")
			return nil
		}
		p.yamlError(err, "", nil)
		return nil
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		p.errorf(doc.Line, "", "want a mapping at the top level")
		return nil
	}
	root := doc.Content[0]
	p.checkKeys(root, "", reflectKeys(top{}))
	var t top
	if err := root.Decode(&t); err != nil {
		p.yamlError(err, "", root)
		return nil
	}
	cfg := &Config{File: p.file, Tenants: make(map[string]*Tenant), AllowUnknownTenants: true}
	if t.AllowUnknownTenants != nil {
		cfg.AllowUnknownTenants = *t.AllowUnknownTenants
	}
	p.decodeStrict(&t.Server, "server", &cfg.Server)
	p.decodeStrict(&t.Numbers, "numbers", &cfg.Numbers)
	p.decodeStrict(&t.System, "system", &cfg.System)
	p.server(&cfg.Server, &t.Server)
	p.decodeStrict(&t.SIP, "sip", &cfg.SIP)
	sipLines := map[string]int{}
	lines(&t.SIP, "sip", sipLines)
	p.sip(&cfg.SIP, sipLines)
	p.security(cfg, &t.Honeypot, &t.Attack)
	p.detect(cfg, &t.Detectors, &t.Alerts)
	p.console(&cfg.Console, &t.Console)
	p.quality(cfg, &t.Quality)
	p.cluster(&cfg.Cluster, &t.Cluster)
	p.voice(&cfg.Voice, &t.Voice)
	p.asterisk(&cfg.Asterisk, &t.Asterisk)

	defaults := &t.Defaults
	if defaults.Kind == 0 {
		defaults = &yaml.Node{Kind: yaml.MappingNode}
	}
	cfg.Defaults = p.tenant("defaults", "defaults", defaults)
	names := make([]string, 0, len(t.Tenants))
	for n := range t.Tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		node := t.Tenants[name]
		path := "tenants." + name
		if !validName(name) {
			p.errorf(node.Line, path, "tenant names are letters, digits, '-', '_' and '.' (at most 64)")
			continue
		}
		merged := merge(defaults, &node)
		if tn := p.tenant(name, path, merged); tn != nil {
			cfg.Tenants[name] = tn
		}
	}
	p.callerID(cfg, &t.STIR)
	return cfg
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// merge returns base with over laid on top: mappings merge key by key,
// everything else is replaced. Nodes keep their own line numbers, so an
// error points at the file position the value came from.
func merge(base, over *yaml.Node) *yaml.Node {
	if base == nil || base.Kind == 0 {
		return over
	}
	if over == nil || over.Kind == 0 {
		return base
	}
	if base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: over.Tag, Line: over.Line, Column: over.Column}
	idx := map[string]int{}
	for i := 0; i+1 < len(base.Content); i += 2 {
		idx[base.Content[i].Value] = len(out.Content)
		out.Content = append(out.Content, base.Content[i], base.Content[i+1])
	}
	for i := 0; i+1 < len(over.Content); i += 2 {
		k := over.Content[i]
		if j, ok := idx[k.Value]; ok {
			out.Content[j+1] = merge(out.Content[j+1], over.Content[i+1])
			continue
		}
		out.Content = append(out.Content, k, over.Content[i+1])
	}
	return out
}

// decodeStrict decodes node into v, reporting unknown fields with their line.
func (p *parser) decodeStrict(node *yaml.Node, path string, v any) {
	if node.Kind == 0 {
		return
	}
	p.checkKeys(node, path, reflectKeys(v))
	if err := node.Decode(v); err != nil {
		p.yamlError(err, path, node)
	}
}

// fieldAt is the most specific field in ln declared on line.
func fieldAt(ln map[string]int, line int, def string) string {
	best := def
	for f, l := range ln {
		if l == line && len(f) > len(best) {
			best = f
		}
	}
	return best
}

// valuePath is the path of the value node at line:col below n, whose
// own path is path; "" when there is none.
func valuePath(n *yaml.Node, path string, line, col int) string {
	if n.Line == line && n.Column == col {
		return path
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if f := valuePath(n.Content[i+1], join(path, n.Content[i].Value), line, col); f != "" {
				return f
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if f := valuePath(c, path+"["+strconv.Itoa(i)+"]", line, col); f != "" {
				return f
			}
		}
	}
	return ""
}

// yamlError turns a yaml.v3 error met decoding node (nil: the whole
// file), whose path is path, into located errors.
func (p *parser) yamlError(err error, path string, node *yaml.Node) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		ln := map[string]int{}
		lines(node, path, ln)
		for _, msg := range te.Errors {
			line, col := 0, 0
			if strings.HasPrefix(msg, "line ") {
				rest := msg[5:]
				if i := strings.IndexByte(rest, ':'); i > 0 {
					pos := rest[:i]
					if l, c, ok := strings.Cut(pos, ", column "); ok {
						pos = l
						col, _ = strconv.Atoi(c)
					}
					line, _ = strconv.Atoi(pos)
					msg = strings.TrimSpace(rest[i+1:])
				}
			}
			field := ""
			if node != nil && col > 0 {
				field = valuePath(node, path, line, col)
			}
			if field == "" {
				field = fieldAt(ln, line, path)
			}
			p.errorf(line, field, "%s", msg)
		}
		return
	}
	msg := err.Error()
	line := 0
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		j := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		line, _ = strconv.Atoi(rest[:j])
	}
	p.errorf(line, path, "%s", strings.TrimPrefix(msg, "yaml: "))
}

// Seconds is a duration written in the policy as a whole number of
// seconds: the keys ending in _s, which read an integer as they always
// have. Code reads it as a time.Duration through Duration.
type Seconds int

// Duration returns s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

// Days is a duration written in the policy as a whole number of days:
// the keys ending in _days that say how long something is kept. Code
// reads it as a time.Duration through Duration.
type Days int

// Duration returns d as a time.Duration (d × 24 h).
func (d Days) Duration() time.Duration { return time.Duration(d) * 24 * time.Hour }

// Millis is a duration written in the policy as a whole number of
// milliseconds: the keys ending in _ms. Code reads it as a time.Duration
// through Duration.
type Millis int

// Duration returns m as a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }
