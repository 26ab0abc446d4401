package config

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tollgate-voip/tollgate/number"
)

// reflectKeys lists the yaml keys of a struct (or pointer to one).
func reflectKeys(v any) map[string]reflect.Type {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	keys := map[string]reflect.Type{}
	addKeys(t, keys)
	return keys
}

// addKeys adds the yaml keys of struct type t, those of its inline
// (`yaml:",inline"`) fields included.
func addKeys(t reflect.Type, keys map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if inline(f) {
			addKeys(f.Type, keys)
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		keys[tag] = f.Type
	}
}

// inline reports whether a struct field's keys stand in its parent's
// mapping (`yaml:",inline"`).
func inline(f reflect.StructField) bool {
	return f.Type.Kind() == reflect.Struct && slices.Contains(strings.Split(f.Tag.Get("yaml"), ",")[1:], "inline")
}

var (
	limitType  = reflect.TypeOf(Limit{})
	amountType = reflect.TypeOf(Amount{})
	nodeType   = reflect.TypeOf(yaml.Node{})
)

// checkKeys reports keys of a mapping that the target struct does not
// have, recursing into nested structs so a typo anywhere is named.
func (p *parser) checkKeys(n *yaml.Node, path string, keys map[string]reflect.Type) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		t, ok := keys[k.Value]
		if !ok {
			p.errorf(k.Line, field, "unknown field%s", suggest(k.Value, keys))
			continue
		}
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nodeType || t.Kind() == reflect.Map && t.Elem() == nodeType {
			continue // checked when the node is decoded
		}
		if t.Kind() == reflect.Struct && t != limitType && t != amountType && t.NumField() > 0 {
			if v.Kind != yaml.MappingNode && v.Kind != 0 && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
				p.errorf(v.Line, field, "want a mapping")
				continue
			}
			p.checkKeys(v, field, reflectKeys(reflect.New(t).Interface()))
		}
		if t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Struct && v.Kind == yaml.MappingNode {
			sub := reflectKeys(reflect.New(t.Elem()).Interface())
			for j := 0; j+1 < len(v.Content); j += 2 {
				p.checkKeys(v.Content[j+1], join(field, v.Content[j].Value), sub)
			}
		}
	}
}

func suggest(k string, keys map[string]reflect.Type) string {
	best, bestD := "", 4
	for cand := range keys {
		if d := distance(k, cand); d < bestD {
			best, bestD = cand, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// distance is the Levenshtein distance, for "did you mean".
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// lines records the line of every field below n, keyed by dotted path;
// list items are path[i].
func lines(n *yaml.Node, path string, out map[string]int) {
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			f := join(path, n.Content[i].Value)
			out[f] = n.Content[i].Line
			lines(n.Content[i+1], f, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			f := path + "[" + strconv.Itoa(i) + "]"
			out[f] = c.Line
			lines(c, f, out)
		}
	}
}

func (p *parser) server(s *Server, n *yaml.Node) {
	ln := map[string]int{}
	lines(n, "server", ln)
	if s.MaxInFlight < 0 {
		p.errorf(ln["server.max_in_flight"], "server.max_in_flight", "must be ≥ 0")
	}
	if s.StaleCallAfter < 0 {
		p.errorf(ln["server.stale_call_after_s"], "server.stale_call_after_s", "must be ≥ 0")
	}
	if s.CallSetup < 0 || s.StaleCallAfter > 0 && s.CallSetup > s.StaleCallAfter {
		p.errorf(ln["server.call_setup_s"], "server.call_setup_s", "must be ≥ 0 and at most stale_call_after_s")
	}
	if s.StateMaxAge < 0 {
		p.errorf(ln["server.state_max_age_s"], "server.state_max_age_s", "must be ≥ 0")
	}
	p.retention(&s.Retention, ln)
	if s.MemoryLimitMB < -1 || s.MemoryLimitMB > 0 && s.MemoryLimitMB < 64 || s.MemoryLimitMB > 1<<20 {
		p.errorf(ln["server.memory_limit_mb"], "server.memory_limit_mb", "must be 0 (automatic), -1 (none) or 64–1048576 MiB")
	}
	if s.MaxClockSkew < 0 || s.MaxClockSkew > 600 {
		p.errorf(ln["server.max_clock_skew_s"], "server.max_clock_skew_s", "must be 0 (off) or 1–600 seconds")
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		f := "server.tls_key"
		if s.TLSCert == "" {
			f = "server.tls_cert"
		}
		p.errorf(n.Line, f, "required with the other one: tls_cert and tls_key go together")
	}
	if x := s.SIEM; x.Addr != "" || x.Network != "" || x.Format != "" || x.Facility != 0 || x.Records != "" {
		at := func(f string) int {
			if l := ln["server.siem."+f]; l > 0 {
				return l
			}
			return ln["server.siem"]
		}
		if _, _, err := net.SplitHostPort(x.Addr); err != nil {
			p.errorf(at("addr"), "server.siem.addr", "want host:port, got %q", x.Addr)
		}
		if x.Network != "" && x.Network != "udp" && x.Network != "tcp" {
			p.errorf(at("network"), "server.siem.network", "want udp or tcp, got %q", x.Network)
		}
		if x.Format != "" && x.Format != "rfc5424" && x.Format != "json" {
			p.errorf(at("format"), "server.siem.format", "want rfc5424 or json, got %q", x.Format)
		}
		if x.Facility < 0 || x.Facility > 23 {
			p.errorf(at("facility"), "server.siem.facility", "want 1–23")
		}
		if x.Records != "" && x.Records != "all" && x.Records != "decisions" && x.Records != "audit" {
			p.errorf(at("records"), "server.siem.records", "want all, decisions or audit, got %q", x.Records)
		}
	}
	seen := map[string]bool{}
	for i, t := range s.Tokens {
		f := fmt.Sprintf("server.tokens[%d]", i)
		line := n.Line
		if tn := findSeq(n, "tokens", i); tn != nil {
			line = tn.Line
		}
		switch {
		case t.Name == "":
			p.errorf(line, f+".name", "required")
		case seen[t.Name]:
			p.errorf(line, f+".name", "duplicate token name %q", t.Name)
		}
		seen[t.Name] = true
		if t.Role == "" && !p.reported(f+".role") { // other words fail as they are decoded
			p.errorf(line, f+".role", "want admin, operator, screen or read, got %q", t.Role)
		}
		if (t.SHA256 == "") == (t.SecretEnv == "") {
			p.errorf(line, f, "set exactly one of sha256 and secret_env")
		}
		if t.SHA256 != "" && !isHex(t.SHA256, 64) {
			p.errorf(line, f+".sha256", "want 64 hex digits")
		}
	}
}

func findSeq(n *yaml.Node, key string, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key && n.Content[j+1].Kind == yaml.SequenceNode && i < len(n.Content[j+1].Content) {
			return n.Content[j+1].Content[i]
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// tenant decodes and validates one tenant's merged policy node.
func (p *parser) tenant(name, path string, n *yaml.Node) *Tenant {
	before := len(p.errs)
	t := &Tenant{Name: name, Lines: map[string]int{}}
	p.decodeStrict(n, path, t)
	if len(p.errs) > before {
		return nil
	}
	ln := map[string]int{}
	lines(n, "", ln)
	t.Lines = ln
	at := func(field string) int {
		if l, ok := ln[field]; ok {
			return l
		}
		return n.Line
	}
	bad := func(field, format string, args ...any) {
		p.errorf(at(field), join(path, field), format, args...)
	}
	if t.Country == "" {
		bad("country", "required: the tenant's home country (ISO 3166 code, e.g. US)")
	} else if cc := number.CallingCodeFor(strings.ToUpper(t.Country)); cc == 0 {
		bad("country", "unknown country %q", t.Country)
	} else {
		t.Country = strings.ToUpper(t.Country)
	}
	if t.Timezone == "" {
		t.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(t.Timezone)
	if err != nil {
		bad("timezone", "unknown time zone %q", t.Timezone)
	}
	t.Location = loc
	for i, pfx := range t.IntlPrefixes {
		if !digits(pfx, 1, 5) {
			bad("international_prefixes", "entry %d: want 1–5 digits, got %q", i, pfx)
		}
	}
	if t.NationalPrefix != "" && !digits(t.NationalPrefix, 1, 4) {
		bad("national_prefix", "want 1–4 digits, got %q", t.NationalPrefix)
	}
	// Mode and OnError words were checked as they were decoded.
	if t.Mode == "" {
		t.Mode = ModeEnforce
	}
	if t.OnError == "" {
		bad("on_error", "required: say fail_open or fail_closed — what happens to calls when tollgate cannot decide")
	}

	d := &t.Destinations
	switch d.Default {
	case "":
		d.Default = "deny"
	case "deny", "allow", "auth":
	default:
		bad("destinations.default", "want deny, allow or auth, got %q", d.Default)
	}
	switch d.Invalid {
	case "":
		d.Invalid = "block"
	case "allow", "auth", "block":
	default:
		bad("destinations.invalid", "want allow, auth or block, got %q", d.Invalid)
	}
	for k, v := range d.Countries {
		f := "destinations.countries." + k
		if !digits(k, 1, 3) || !number.KnownCallingCode(k) {
			bad(f, "not a country calling code")
		}
		if v != "allow" && v != "auth" && v != "block" {
			bad(f, "want allow, auth or block, got %q", v)
		}
	}
	for k, v := range d.PremiumPrefixes {
		f := "destinations.premium_prefixes." + k
		if !digits(k, 1, 15) {
			bad(f, "want an E.164 prefix of digits without +")
		}
		if v != "allow" && v != "auth" && v != "block" && v != "limit" {
			bad(f, "want block, limit, auth or allow, got %q", v)
		}
	}
	for k, v := range d.Types {
		f := "destinations.types." + k
		if _, ok := number.ParseType(k); !ok {
			bad(f, "unknown number type (want one of %s)", strings.Join(typeNames(), ", "))
		}
		if v != "allow" && v != "auth" && v != "block" {
			bad(f, "want allow, auth or block, got %q", v)
		}
	}
	for k, v := range d.RiskCategories {
		f := "destinations.risk_categories." + k
		if v != "allow" && v != "auth" && v != "block" && v != "limit" && v != "score" {
			bad(f, "want block, limit, auth, score or allow, got %q", v)
		}
	}
	for k, e := range t.Extensions {
		_ = e
		if k == "" || len(k) > 64 {
			bad("extensions", "extension names are 1–64 characters")
		}
	}

	if b := t.Limits.Extension.InternationalBurst; b.Calls.On && (b.WindowS <= 0 || b.WindowS > 86400) {
		bad("limits.extension.international_burst.window_s", "want 1–86400 seconds when calls is set")
	}
	h := &t.Hours
	p.window(&h.Business, path, "hours.business", at)
	p.window(&h.Night, path, "hours.night", at)
	for _, f := range []struct {
		name string
		v    *Treatment
	}{{"hours.after_hours_international", &h.AfterHoursInternational}, {"hours.night_international", &h.NightInternational}} {
		switch *f.v {
		case "", "allow", "auth", "block":
		default:
			bad(f.name, "want allow, auth or block, got %q", *f.v)
		}
	}
	if h.AfterHoursInternational != "" && h.AfterHoursInternational != "allow" && !h.Business.set {
		bad("hours.after_hours_international", "needs hours.business to say when business hours are")
	}
	if h.NightInternational != "" && h.NightInternational != "allow" && !h.Night.set {
		bad("hours.night_international", "needs hours.night")
	}
	for i, day := range h.Holidays {
		if _, err := time.Parse("2006-01-02", day); err != nil {
			bad("hours.holidays", "entry %d: want YYYY-MM-DD, got %q", i, day)
		}
	}
	cw := &t.CallingWindow
	if cw.Enabled {
		if cw.From == "" {
			cw.From = "08:00"
		}
		if cw.To == "" {
			cw.To = "21:00"
		}
		var ok1, ok2 bool
		cw.from, ok1 = clock(cw.From)
		cw.to, ok2 = clock(cw.To)
		if !ok1 {
			bad("calling_window.from", "want HH:MM, got %q", cw.From)
		}
		if !ok2 {
			bad("calling_window.to", "want HH:MM, got %q", cw.To)
		}
	}
	p.compliance(t, path, at)
	p.sourceIPs(t, bad)
	c := &t.Cost
	switch c.AbovePriceAction {
	case "":
		c.AbovePriceAction = "auth"
	case "auth", "block":
	default:
		bad("cost.above_price_action", "want auth or block, got %q", c.AbovePriceAction)
	}
	if c.RiskPerPricePerMin < 0 {
		bad("cost.risk_per_price_per_min", "must be ≥ 0")
	}
	if c.MaxRateRisk < 0 || c.MaxRateRisk > 100 {
		bad("cost.max_rate_risk", "want 0–100")
	}
	return t
}

func (p *parser) window(w *Window, path, field string, at func(string) int) {
	if w.From == "" && w.To == "" && len(w.Days) == 0 {
		return
	}
	var ok bool
	if w.from, ok = clock(w.From); !ok {
		p.errorf(at(field+".from"), join(path, field+".from"), "want HH:MM, got %q", w.From)
	}
	if w.to, ok = clock(w.To); !ok {
		p.errorf(at(field+".to"), join(path, field+".to"), "want HH:MM, got %q", w.To)
	}
	for _, d := range w.Days {
		m, ok := dayMask(d)
		if !ok {
			p.errorf(at(field+".days"), join(path, field+".days"), "want mon … sun or ranges like mon-fri, got %q", d)
		}
		w.days |= m
	}
	if len(w.Days) == 0 {
		w.days = 0x7f
	}
	w.set = true
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func dayIndex(s string) int {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 3 {
		s = s[:3]
	}
	for i, d := range dayNames {
		if d == s {
			return i
		}
	}
	return -1
}

// dayMask turns "mon", "mon-fri" or "sat-sun" into a bit per weekday
// (bit 0 = Sunday, as time.Weekday).
func dayMask(s string) (uint8, bool) {
	a, b, isRange := strings.Cut(s, "-")
	i := dayIndex(a)
	if i < 0 {
		return 0, false
	}
	if !isRange {
		return 1 << i, true
	}
	j := dayIndex(b)
	if j < 0 {
		return 0, false
	}
	var m uint8
	for k := i; ; k = (k + 1) % 7 {
		m |= 1 << k
		if k == j {
			break
		}
	}
	return m, true
}

func clock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

func digits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func typeNames() []string {
	var out []string
	for t := number.Unknown; ; t++ {
		s := t.String()
		if strings.HasPrefix(s, "type(") {
			return out
		}
		out = append(out, s)
	}
}

// Contains reports whether local time t falls in the window.
func (w *Window) Contains(t time.Time) bool {
	if !w.set {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	if w.from <= w.to {
		return w.days&(1<<day) != 0 && m >= w.from && m < w.to
	}
	// Wraps past midnight: the part after midnight belongs to the day before.
	if m >= w.from {
		return w.days&(1<<day) != 0
	}
	if m < w.to {
		return w.days&(1<<((day+6)%7)) != 0
	}
	return false
}

// Set reports whether the window was configured.
func (w *Window) Set() bool { return w.set }

// Contains reports whether local time t is inside the calling window.
func (c *CallingWindow) Contains(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	if c.from <= c.to {
		return m >= c.from && m < c.to
	}
	return m >= c.from || m < c.to
}

// Next returns the next time at or after t (in t's location) that is
// inside the calling window.
func (c *CallingWindow) Next(t time.Time) time.Time {
	if c.Contains(t) {
		return t
	}
	y, mo, d := t.Date()
	start := time.Date(y, mo, d, c.from/60, c.from%60, 0, 0, t.Location())
	if !start.After(t) {
		start = start.AddDate(0, 0, 1)
	}
	return start
}

// IsHoliday reports whether local time t falls on a configured holiday.
func (h *Hours) IsHoliday(t time.Time) bool {
	if len(h.Holidays) == 0 {
		return false
	}
	d := t.Format("2006-01-02")
	for _, x := range h.Holidays {
		if x == d {
			return true
		}
	}
	return false
}

// Rule names the config field path of a rule in this tenant, for reasons.
func (t *Tenant) Rule(field string) string {
	if t.Name == "defaults" {
		return "defaults." + field
	}
	return "tenants." + t.Name + "." + field
}
