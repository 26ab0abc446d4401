// Package attackgen generates labelled call streams for evaluating fraud
// detection: weeks of legitimate traffic of several call-center tenants in
// different countries and dial plans, then an attack week in which toll
// fraud of many kinds is mixed in. Every parameter is drawn from the seed
// (tenants, countries, dial plans, volumes, hours, attack timings, rates,
// destinations, extensions, prices); the same seed gives the same stream.
//
// The generator knows nothing of tollgate's detectors: its attacks follow
// how toll fraud is run (PBX compromise, stolen SIP credentials, IRSF
// number ranges, premium-rate pumping, Wangiri, call forwarding), and its
// prices come from a rate deck it draws itself.
package attackgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/tollgate-voip/tollgate/number"
)

// Directions of a call.
const (
	Outbound = "outbound"
	Inbound  = "inbound"
)

// Dispositions, as CDRs state them.
const (
	Answered = "answered"
	NoAnswer = "no_answer"
	Busy     = "busy"
	Failed   = "failed"
)

// Legit is the label of legitimate calls.
const Legit = "legit"

// Attack classes.
const (
	IRSFBurst        = "irsf_burst"
	SlowDrip         = "slow_drip"
	SpreadExtensions = "spread_extensions"
	DomesticPremium  = "domestic_premium"
	LongDuration     = "long_duration"
	ConcurrencyBurst = "concurrency_burst"
	Wangiri          = "wangiri"
	ForwardAbuse     = "forward_abuse"
	StolenCreds      = "stolen_credentials"
)

// Classes lists every attack class; each appears in every attack week.
var Classes = []string{IRSFBurst, SlowDrip, SpreadExtensions, DomesticPremium, LongDuration, ConcurrencyBurst, Wangiri, ForwardAbuse, StolenCreds}

// Call is one call of the stream.
type Call struct {
	ID        string `json:"call_id"`
	Tenant    string `json:"tenant"`
	Extension string `json:"extension"`
	Caller    string `json:"caller"`
	// Callee is the number as the PBX sends it (the tenant's dial plan);
	// CalleeE164 the same number in E.164. For a forwarded call it is the
	// off-net forwarding target.
	Callee     string `json:"callee"`
	CalleeE164 string `json:"callee_e164"`
	Direction  string `json:"direction"`
	Forwarded  bool   `json:"forwarded,omitempty"`
	SourceIP   string `json:"source_ip"`
	UserAgent  string `json:"user_agent,omitempty"`
	// Start is when the call is placed, Answer when it is answered (zero
	// if never), End when it ends; Billsec is End-Answer in seconds.
	Start       time.Time `json:"start"`
	Answer      time.Time `json:"answer,omitzero"`
	End         time.Time `json:"end"`
	Billsec     int       `json:"billsec_s"`
	Disposition string    `json:"disposition"`
	// DestCountry and DestType describe the chargeable destination
	// (the callee of outbound and forwarded calls).
	DestCountry string `json:"dest_country,omitempty"`
	DestType    string `json:"dest_type,omitempty"`
	// Rate is the deck's price per minute of the chargeable leg (0 for
	// inbound calls), Cost what the whole call costs when it runs as
	// planned (per-second billing).
	Rate float64 `json:"rate_per_min"`
	Cost float64 `json:"cost"`
	// Label is Legit or the attack's ID; Class is the attack class.
	Label string `json:"label"`
	Class string `json:"class,omitempty"`
}

// Chargeable reports whether the call has a leg the tenant pays for: an
// outbound call or the off-net leg of a forwarded one.
func (c *Call) Chargeable() bool { return c.Direction == Outbound || c.Forwarded }

// CostOf is what the call costs when billsec seconds of it are answered.
func (c *Call) CostOf(billsec int) float64 {
	if !c.Chargeable() || billsec <= 0 {
		return 0
	}
	return math.Round(c.Rate*float64(billsec)/60*1e4) / 1e4
}

// Tenant is one call center.
type Tenant struct {
	Name     string `json:"name"`
	Country  string `json:"country"`
	Timezone string `json:"timezone"`
	// IntlPrefix and NationalPrefix are the dial plan; DialStyle says how
	// the PBX sends numbers: "e164" (+CC…) or "national" (national prefix
	// for domestic numbers, IntlPrefix for foreign ones).
	IntlPrefix     string   `json:"international_prefix"`
	NationalPrefix string   `json:"national_prefix"`
	DialStyle      string   `json:"dial_style"`
	Extensions     []string `json:"extensions"`
	DIDs           []string `json:"dids"`
	OfficeIPs      []string `json:"office_ips"`
	// Usual are the foreign countries the tenant calls, with weights.
	Usual       []string  `json:"usual_countries"`
	UsualWeight []float64 `json:"usual_weights"`
	// Business hours (local), days open (0 = Sunday).
	OpenHour, CloseHour int    `json:"-"`
	Days                []int  `json:"days"`
	Hours               string `json:"hours"`
	// Volume: calls on an average business day.
	DailyCalls    float64 `json:"daily_calls"`
	OutboundShare float64 `json:"outbound_share"`
	IntlShare     float64 `json:"international_share"`
	AnswerRate    float64 `json:"answer_rate"`
	MedianHoldS   float64 `json:"median_hold_s"`
	UserAgent     string  `json:"user_agent"`

	loc      *time.Location
	shape    *tenantShape      // wide profile only
	extIP    map[string]string // per-extension source address
	book     []string          // customers' numbers (E.164 digits)
	extW     []float64         // extension weights (busier agents)
	onCall   []string          // extensions that forward to a mobile off hours
	onCallTo map[string]string
	home     home
}

// Attack is one fraud incident of the attack week.
type Attack struct {
	ID         string    `json:"id"`
	Class      string    `json:"class"`
	Tenant     string    `json:"tenant"`
	Extensions []string  `json:"extensions"`
	SourceIP   string    `json:"source_ip"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	// Destinations are the ranges (E.164 prefixes) the attack terminates on.
	Destinations []string `json:"destinations"`
	Countries    []string `json:"countries"`
	// Calls is every call of the attack, chargeable or not; Chargeable
	// those that cost money; Cost what they cost when all run as planned.
	Calls      int     `json:"calls"`
	Chargeable int     `json:"chargeable"`
	Cost       float64 `json:"cost"`
	// PolicyBlocked is true when the operator policy's block list covers
	// every destination (then detection is not what stops it).
	PolicyBlocked bool   `json:"policy_blocked"`
	Note          string `json:"note"`
}

// Rate is one rate-deck row.
type Rate struct {
	Prefix      string  `json:"prefix"`
	PricePerMin float64 `json:"price_per_min"`
	Description string  `json:"description"`
}

// Scenario is a generated stream and everything needed to judge it.
type Scenario struct {
	Seed        uint64    `json:"seed"`
	Start       time.Time `json:"start"`
	AttackStart time.Time `json:"attack_start"`
	End         time.Time `json:"end"`
	Tenants     []*Tenant `json:"tenants"`
	Attacks     []*Attack `json:"attacks"`
	Deck        []Rate    `json:"rate_deck"`
	// HighRisk are the calling codes (or E.164 prefixes for
	// non-geographic networks) the operator policy blocks.
	HighRisk []string `json:"high_risk"`
	Calls    []Call   `json:"-"`
}

// Options tunes Generate.
type Options struct {
	Seed uint64
	// HistoryDays of legitimate traffic precede AttackDays with attacks
	// (defaults 28 and 7).
	HistoryDays, AttackDays int
	// Scale multiplies the legitimate volume (default 1: 3–5 tenants of
	// roughly 150–500 calls on a business day each).
	Scale float64
	// Intel classifies numbers; nil builds one.
	Intel *number.Intel
	// Profile is ProfileDefault (also "") or ProfileWide.
	Profile string
}

type gen struct {
	o    Options
	r    *rand.Rand
	nums *numbers
	sc   *Scenario
	deck map[string]Rate
	seq  int
	// rangesFor caches ranges per region/type for legit traffic.
	legitRanges map[string][]*numberRange
	ipUsed      map[string]bool
	// wide is the wide profile; as scales the attack being drawn.
	wide bool
	as   attackShape
}

// Generate builds the scenario of o.Seed.
func Generate(o Options) (*Scenario, error) {
	if o.HistoryDays <= 0 {
		o.HistoryDays = 28
	}
	if o.AttackDays <= 0 {
		o.AttackDays = 7
	}
	if o.Scale <= 0 {
		o.Scale = 1
	}
	if o.Profile != "" && o.Profile != ProfileDefault && o.Profile != ProfileWide {
		return nil, fmt.Errorf("attackgen: unknown profile %q (want %s or %s)", o.Profile, ProfileDefault, ProfileWide)
	}
	if o.Intel == nil {
		x, err := number.New(number.Options{NoCarrier: true})
		if err != nil {
			return nil, err
		}
		o.Intel = x
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x746f6c6c67617465))
	g := &gen{o: o, r: r, deck: map[string]Rate{}, legitRanges: map[string][]*numberRange{}, ipUsed: map[string]bool{}, wide: o.Profile == ProfileWide}
	g.nums = &numbers{x: o.Intel, rng: rand.New(rand.NewPCG(o.Seed, 0x6e756d62657273)), ranges: map[string][]*numberRange{}}
	// A Monday in 2024–2025 (the server refuses event times far ahead of its clock).
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	start := base.AddDate(0, 0, 7*r.IntN(96))
	g.sc = &Scenario{Seed: o.Seed, Start: start, AttackStart: start.AddDate(0, 0, o.HistoryDays), End: start.AddDate(0, 0, o.HistoryDays+o.AttackDays)}
	if err := g.tenants(); err != nil {
		return nil, err
	}
	g.highRisk()
	for _, t := range g.sc.Tenants {
		g.legit(t)
	}
	if err := g.attacks(); err != nil {
		return nil, err
	}
	g.finish()
	return g.sc, nil
}

// ---- helpers ----

func (g *gen) uniform(a, b float64) float64 { return a + (b-a)*g.r.Float64() }
func (g *gen) intn(a, b int) int            { return a + g.r.IntN(b-a+1) }
func (g *gen) chance(p float64) bool        { return g.r.Float64() < p }

// lognormal with the given median and sigma.
func (g *gen) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*g.r.NormFloat64())
}

func (g *gen) poisson(l float64) int {
	if l <= 0 {
		return 0
	}
	if l > 30 {
		v := int(math.Round(l + math.Sqrt(l)*g.r.NormFloat64()))
		if v < 0 {
			return 0
		}
		return v
	}
	L, k, p := math.Exp(-l), 0, 1.0
	for {
		p *= g.r.Float64()
		if p <= L {
			return k
		}
		k++
	}
}

func (g *gen) pickW(w []float64) int {
	s := 0.0
	for _, v := range w {
		s += v
	}
	x := g.r.Float64() * s
	for i, v := range w {
		x -= v
		if x < 0 {
			return i
		}
	}
	return len(w) - 1
}

func pick[T any](g *gen, s []T) T { return s[g.r.IntN(len(s))] }

func (g *gen) id(prefix string) string {
	g.seq++
	return fmt.Sprintf("%s-%d-%07d", prefix, g.o.Seed, g.seq)
}

// publicIP draws an address outside private, loopback and documentation
// space, never the same twice in a scenario.
func (g *gen) publicIP() string {
	for {
		a := g.intn(11, 223)
		switch a {
		case 10, 100, 127, 169, 172, 192, 198, 203:
			continue
		}
		ip := fmt.Sprintf("%d.%d.%d.%d", a, g.r.IntN(256), g.r.IntN(256), g.intn(1, 254))
		if !g.ipUsed[ip] {
			g.ipUsed[ip] = true
			return ip
		}
	}
}

// price adds a rate-deck row for a range (once) and returns its price.
func (g *gen) price(rg *numberRange, base float64, desc string) float64 {
	if rt, ok := g.deck[rg.Prefix]; ok {
		rg.Rate = rt.PricePerMin
		return rt.PricePerMin
	}
	p := math.Round(base*g.uniform(0.75, 1.3)*1e4) / 1e4
	g.deck[rg.Prefix] = Rate{Prefix: rg.Prefix, PricePerMin: p, Description: desc}
	rg.Rate = p
	return p
}

// countryRate is the deck's price of a calling code (fixed line), added once.
func (g *gen) countryRate(cc int, region string, base float64) {
	k := strconv.Itoa(cc)
	if _, ok := g.deck[k]; ok {
		return
	}
	g.deck[k] = Rate{Prefix: k, PricePerMin: math.Round(base*g.uniform(0.8, 1.25)*1e4) / 1e4, Description: region}
}

// typeFactor is how much a line type costs over a fixed line.
func typeFactor(t number.Type, fixed float64) float64 {
	switch t {
	case number.Mobile:
		return fixed*1.6 + 0.01
	case number.TollFree:
		return 0
	case number.SharedCost, number.UAN:
		return fixed + 0.04
	case number.VoIP, number.PersonalNumber:
		return fixed + 0.03
	}
	return fixed
}

// legitRange returns a range for ordinary traffic to region/type, finding
// a few per pair and pricing them.
func (g *gen) legitRange(region string, t number.Type) *numberRange {
	key := region + "/" + t.String()
	rs := g.legitRanges[key]
	if len(rs) < 4 && (len(rs) == 0 || g.chance(0.3)) {
		tail := 4
		if t == number.Mobile || t == number.FixedLine || t == number.FixedLineOrMobile {
			tail = 5
		}
		if rg := g.nums.rangeOf(region, t, tail); rg != nil {
			base := partnerBase(region)
			if t == number.PremiumRate {
				base = premiumPrice[region]
				if base == 0 {
					base = 1.2
				}
			}
			g.countryRate(rg.CC, region, partnerBase(region))
			g.price(rg, typeFactor(rg.Type, base), region+" "+rg.Type.String())
			rs = append(rs, rg)
			g.legitRanges[key] = rs
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return pick(g, rs)
}

func partnerBase(region string) float64 {
	if v, ok := partners[region]; ok {
		return v
	}
	if v, ok := expensive[region]; ok {
		return v
	}
	return 0.05
}

// nsnOf splits E.164 digits into calling code and national number.
func nsnOf(d string) (cc, nsn string) {
	for l := 1; l <= 3 && l <= len(d); l++ {
		if number.KnownCallingCode(d[:l]) {
			return d[:l], d[l:]
		}
	}
	return "", d
}

// dial is how tenant t's PBX sends E.164 digits d, checked against the
// project's own reading of the dial plan (falls back to +E.164).
func (g *gen) dial(t *Tenant, d string) string {
	if t.DialStyle == "e164" {
		return "+" + d
	}
	cc, nsn := nsnOf(d)
	homeCC := strconv.Itoa(phonenumbers.GetCountryCodeForRegion(t.Country))
	var s string
	if cc == homeCC {
		reg, _, _, _ := g.o.Intel.Classify(d)
		if reg == t.Country || cc != "1" {
			s = t.NationalPrefix + nsn
			if cc == "1" {
				s = nsn // NANP PBXs send ten digits
			}
		}
	}
	if s == "" {
		s = t.IntlPrefix + d
	}
	info, err := g.o.Intel.Lookup(s, &number.DialPlan{Country: t.Country, IntlPrefixes: []string{t.IntlPrefix}})
	if err != nil || info.E164 != "+"+d {
		return "+" + d
	}
	return s
}

// ---- tenants ----

var tenantWords = []string{"acme", "bluebird", "northwind", "contoso", "globex", "initech", "umbrella", "vandelay", "wayne", "stark", "hooli", "pied", "zenith", "orbit", "harbor", "summit", "cobalt", "maple", "lumen", "atlas"}

func (g *gen) tenants() error {
	n := g.intn(3, 5)
	hl := g.homeList()
	hs := g.r.Perm(len(hl))
	used := map[string]bool{}
	for i := 0; i < n; i++ {
		h := hl[hs[i]]
		loc, err := time.LoadLocation(pick(g, h.Zones))
		if err != nil {
			return fmt.Errorf("attackgen: time zone: %w", err)
		}
		var name string
		for {
			name = pick(g, tenantWords) + "-" + lower(h.Region)
			if !used[name] {
				used[name] = true
				break
			}
		}
		t := &Tenant{Name: name, Country: h.Region, Timezone: loc.String(), loc: loc, home: h, IntlPrefix: h.IntlPrefix,
			NationalPrefix: phonenumbers.GetNddPrefixForRegion(h.Region, true), extIP: map[string]string{}, onCallTo: map[string]string{}}
		if g.chance(0.4) {
			t.DialStyle = "e164"
		} else {
			t.DialStyle = "national"
		}
		// Extension plan: 3 or 4 digits from a random base.
		nExt := g.intn(15, 70)
		bases := []int{100, 200, 1000, 2000, 3000, 4000, 5000, 7000}
		b := pick(g, bases)
		for k := 0; k < nExt; k++ {
			t.Extensions = append(t.Extensions, strconv.Itoa(b+k))
		}
		for range t.Extensions {
			t.extW = append(t.extW, g.lognormal(1, 0.6))
		}
		offices := g.intn(1, 3)
		for k := 0; k < offices; k++ {
			t.OfficeIPs = append(t.OfficeIPs, g.publicIP())
		}
		remote := g.uniform(0, 0.25)
		g.placeExtensions(t, remote)
		// Hours.
		t.OpenHour = g.intn(7, 9)
		t.CloseHour = g.intn(17, 21)
		switch g.intn(0, 3) {
		case 0:
			t.Days = []int{1, 2, 3, 4, 5, 6}
		case 1:
			t.Days = []int{0, 1, 2, 3, 4, 5, 6}
		default:
			t.Days = []int{1, 2, 3, 4, 5}
		}
		t.Hours = fmt.Sprintf("%02d:00-%02d:00 days %v", t.OpenHour, t.CloseHour, t.Days)
		t.DailyCalls = g.uniform(150, 500) * g.o.Scale
		t.OutboundShare = g.uniform(0.25, 0.85)
		t.AnswerRate = g.uniform(0.40, 0.75)
		t.MedianHoldS = g.uniform(60, 240)
		t.UserAgent = pick(g, []string{"Asterisk PBX 18.20.0", "Asterisk PBX 20.5.2", "FPBX-16.0.40(18.9.0)", "FreeSWITCH-mod_sofia/1.10.11", "3CX Phone System 18.0", "Yealink SIP-T46U 108.86.0.45"})
		// Foreign countries called: 1–5, ordinary ones; call centers
		// offshore (PH, IN, ZA) call mostly abroad.
		var pool []string
		for c := range partners {
			if c != h.Region {
				pool = append(pool, c)
			}
		}
		sort.Strings(pool)
		k := g.intn(1, 5)
		for _, j := range g.r.Perm(len(pool))[:k] {
			t.Usual = append(t.Usual, pool[j])
			t.UsualWeight = append(t.UsualWeight, g.lognormal(1, 0.8))
		}
		switch h.Region {
		case "PH", "IN", "ZA":
			t.IntlShare = g.uniform(0.5, 0.9)
			if !contains(t.Usual, "US") && !contains(t.Usual, "GB") && !contains(t.Usual, "AU") {
				t.Usual[0] = pick(g, []string{"US", "GB", "AU"})
			}
		default:
			t.IntlShare = g.uniform(0.02, 0.3)
		}
		if g.wide {
			g.widenTenant(t)
		}
		// DIDs: a few fixed numbers at home, maybe a toll-free one.
		for k := 0; k < g.intn(2, 5); k++ {
			if rg := g.legitRange(h.Region, number.FixedLine); rg != nil {
				t.DIDs = append(t.DIDs, g.nums.in(rg))
			}
		}
		if rg := g.legitRange(h.Region, number.TollFree); rg != nil && g.chance(0.6) {
			t.DIDs = append(t.DIDs, g.nums.in(rg))
		}
		if len(t.DIDs) == 0 {
			return fmt.Errorf("attackgen: no DID for %s", h.Region)
		}
		// Customers.
		for k := 0; k < int(300+t.DailyCalls*8); k++ {
			t.book = append(t.book, g.customer(t))
		}
		// On-call extensions forwarding to a mobile out of hours.
		// (The bound is drawn again on every pass, as it always was.)
		for k := 0; k < g.onCallBound(); k++ {
			x := pick(g, t.Extensions)
			if rg := g.legitRange(h.Region, mobileType(h.Region)); rg != nil {
				t.onCall = append(t.onCall, x)
				t.onCallTo[x] = g.nums.in(rg)
			}
		}
		g.sc.Tenants = append(g.sc.Tenants, t)
	}
	return nil
}

func mobileType(region string) number.Type {
	switch region {
	case "US", "CA":
		return number.FixedLineOrMobile
	}
	return number.Mobile
}

func fixedType(region string) number.Type {
	switch region {
	case "US", "CA":
		return number.FixedLineOrMobile
	}
	return number.FixedLine
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// customer draws a customer's number: at home mostly, abroad in the
// tenant's usual countries as its international share says.
func (g *gen) customer(t *Tenant) string {
	region := t.Country
	if g.chance(t.IntlShare) {
		region = t.Usual[g.pickW(t.UsualWeight)]
	}
	typ := fixedType(region)
	if g.chance(0.45) {
		typ = mobileType(region)
	}
	rg := g.legitRange(region, typ)
	if rg == nil {
		rg = g.legitRange(region, fixedType(region))
	}
	if rg == nil {
		rg = g.legitRange(t.Country, fixedType(t.Country))
	}
	return g.nums.in(rg)
}

// highRisk picks the seed's blocked destinations.
func (g *gen) highRisk() {
	k := g.intn(5, 10)
	for _, j := range g.r.Perm(len(classicHighRisk))[:k] {
		reg := classicHighRisk[j]
		if cc, ok := cutNonGeo(reg); ok {
			g.sc.HighRisk = append(g.sc.HighRisk, cc)
			continue
		}
		g.sc.HighRisk = append(g.sc.HighRisk, strconv.Itoa(phonenumbers.GetCountryCodeForRegion(reg)))
	}
	sort.Strings(g.sc.HighRisk)
}

func cutNonGeo(reg string) (string, bool) {
	if len(reg) > 4 && reg[:4] == "001:" {
		return reg[4:], true
	}
	return "", false
}

// blocked reports whether E.164 digits fall under the operator's block list.
func (g *gen) blocked(d string) bool {
	for _, p := range g.sc.HighRisk {
		if len(d) >= len(p) && d[:len(p)] == p {
			return true
		}
	}
	return false
}

// finish sorts the calls, prices them and fills the attacks' totals.
func (g *gen) finish() {
	sc := g.sc
	sort.SliceStable(sc.Calls, func(i, j int) bool {
		if !sc.Calls[i].Start.Equal(sc.Calls[j].Start) {
			return sc.Calls[i].Start.Before(sc.Calls[j].Start)
		}
		return sc.Calls[i].ID < sc.Calls[j].ID
	})
	byID := map[string]*Attack{}
	for _, a := range sc.Attacks {
		byID[a.ID] = a
		a.Start, a.End = time.Time{}, time.Time{}
	}
	for i := range sc.Calls {
		c := &sc.Calls[i]
		c.Cost = c.CostOf(c.Billsec)
		if a := byID[c.Label]; a != nil {
			a.Calls++
			if c.Chargeable() {
				a.Chargeable++
				a.Cost += c.Cost
			}
			if a.Start.IsZero() || c.Start.Before(a.Start) {
				a.Start = c.Start
			}
			if c.End.After(a.End) {
				a.End = c.End
			}
		}
	}
	for _, a := range sc.Attacks {
		a.Cost = math.Round(a.Cost*100) / 100
	}
	keys := make([]string, 0, len(g.deck))
	for k := range g.deck {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sc.Deck = append(sc.Deck, g.deck[k])
	}
}

// placeExtensions gives each extension its source address: a remote
// agent's own (share remote) or one of the offices'.
func (g *gen) placeExtensions(t *Tenant, remote float64) {
	for _, x := range t.Extensions {
		if g.chance(remote) {
			t.extIP[x] = g.publicIP()
		} else {
			t.extIP[x] = pick(g, t.OfficeIPs)
		}
	}
}
