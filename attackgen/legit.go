package attackgen

import (
	"math"
	"sort"
	"time"

	"github.com/tollgate-voip/tollgate/number"
)

// rateOf is the deck's price for E.164 digits (longest prefix).
func (g *gen) rateOf(d string) float64 {
	for l := len(d); l > 0; l-- {
		if rt, ok := g.deck[d[:l]]; ok {
			return rt.PricePerMin
		}
	}
	return 0.05
}

func (g *gen) classify(d string) (string, string) {
	reg, _, t, _ := g.o.Intel.Classify(d)
	return reg, t.String()
}

// hourWeight is the intraday shape of a call center: a ramp after
// opening, a late-morning peak, a lunch dip, an afternoon peak and a
// quieter last hour.
func hourWeight(t *Tenant, h float64) float64 {
	if t.shape != nil {
		return wideHour(t, h)
	}
	open, close := float64(t.OpenHour), float64(t.CloseHour)
	if h < open || h >= close {
		return 0
	}
	w := 1.0
	switch {
	case h < open+1:
		w = 0.55
	case h >= 10 && h < 12:
		w = 1.3
	case h >= 12 && h < 13.5:
		w = 0.75
	case h >= 14 && h < 16.5:
		w = 1.15
	case h >= close-1:
		w = 0.6
	}
	return w
}

func (t *Tenant) openOn(wd time.Weekday) bool {
	for _, d := range t.Days {
		if time.Weekday(d) == wd {
			return true
		}
	}
	return false
}

var dayFactor = [7]float64{0.45, 1.12, 1.0, 1.0, 0.98, 0.88, 0.55}

// legit generates the tenant's legitimate traffic over the whole scenario.
func (g *gen) legit(t *Tenant) {
	sc := g.sc
	days := g.o.HistoryDays + g.o.AttackDays
	// A new hire or two start part-way (extensions unseen in history).
	newHires := map[string]int{}
	for k := 0; k < g.intn(0, 2); k++ {
		newHires[pick(g, t.Extensions)] = g.intn(7, days-1)
	}
	// A remote agent's home address may change once (new lease).
	ipChange := map[string]int{}
	for _, x := range t.Extensions {
		if !contains(t.OfficeIPs, t.extIP[x]) && g.chance(0.3) {
			ipChange[x] = g.intn(3, days-1)
		}
	}
	newIP := map[string]string{}
	for _, x := range t.Extensions {
		if _, ok := ipChange[x]; ok {
			newIP[x] = g.publicIP()
		}
	}
	startLocal := sc.Start.In(t.loc)
	d0 := time.Date(startLocal.Year(), startLocal.Month(), startLocal.Day(), 0, 0, 0, 0, t.loc)
	for day := 0; day < days; day++ {
		if t.shape != nil && day < t.shape.firstDay {
			continue // a new tenant: no traffic yet
		}
		date := d0.AddDate(0, 0, day)
		wd := date.Weekday()
		extOK := func(x string) bool {
			if d, ok := newHires[x]; ok && day < d {
				return false
			}
			return true
		}
		ipOf := func(x string) string {
			if d, ok := ipChange[x]; ok && day >= d {
				return newIP[x]
			}
			return t.extIP[x]
		}
		mood := g.lognormal(1, 0.12)
		if t.openOn(wd) {
			total := t.DailyCalls * dayFactor[wd] * mood
			if wd == time.Saturday || wd == time.Sunday {
				total *= 0.6
			}
			// Weight per minute.
			var sum float64
			for m := t.OpenHour * 60; m < t.CloseHour*60; m++ {
				sum += hourWeight(t, float64(m)/60)
			}
			for m := t.OpenHour * 60; m < t.CloseHour*60; m++ {
				l := total * hourWeight(t, float64(m)/60) / sum
				for k := g.poisson(l); k > 0; k-- {
					at := date.Add(time.Duration(m)*time.Minute + time.Duration(g.r.IntN(60000))*time.Millisecond)
					g.legitCall(t, at, extOK, ipOf, "")
				}
			}
			// A campaign: a dialer run over part of the agents.
			if g.chance(campaignP(t)) {
				g.campaign(t, date, total, extOK, ipOf)
			}
			if t.shape != nil {
				for k := 1; k < t.shape.campaigns; k++ {
					if g.chance(t.shape.campaignP) {
						g.campaign(t, date, total, extOK, ipOf)
					}
				}
				if t.shape.nightShare > 0 {
					g.nightShift(t, date, total, extOK, ipOf)
				}
			}
		}
		// Off-hours: a few late or early calls, rare nights, on-call
		// forwarding.
		off := g.poisson(t.DailyCalls * g.uniform(0.004, 0.02))
		for k := 0; k < off; k++ {
			var h float64
			switch g.intn(0, 9) {
			case 0:
				h = g.uniform(0, 6) // night
			case 1, 2, 3:
				h = g.uniform(float64(t.OpenHour)-2, float64(t.OpenHour))
			default:
				h = g.uniform(float64(t.CloseHour), math.Min(23.9, float64(t.CloseHour)+3))
			}
			at := date.Add(time.Duration(h * float64(time.Hour)))
			g.legitCall(t, at, extOK, ipOf, "")
		}
		for _, x := range t.onCall {
			if g.chance(onCallP(t)) {
				h := pick(g, []float64{g.uniform(0, 7), g.uniform(float64(t.CloseHour), 23.9)})
				at := date.Add(time.Duration(h * float64(time.Hour)))
				g.forwarded(t, at, x, ipOf(x))
			}
		}
	}
}

// legitCall adds one legitimate call at `at`.
func (g *gen) legitCall(t *Tenant, at time.Time, extOK func(string) bool, ipOf func(string) string, campaignRegion string) {
	x := t.Extensions[g.pickW(t.extW)]
	for try := 0; !extOK(x) && try < 10; try++ {
		x = t.Extensions[g.pickW(t.extW)]
	}
	if !extOK(x) {
		return
	}
	c := Call{ID: g.id("c"), Tenant: t.Name, Extension: x, SourceIP: ipOf(x), UserAgent: t.UserAgent, Start: at.UTC(), Label: Legit}
	if campaignRegion != "" || g.chance(t.OutboundShare) {
		c.Direction = Outbound
		c.Caller = "+" + pick(g, t.DIDs)
		var d string
		switch {
		case campaignRegion != "":
			typ := mobileType(campaignRegion)
			if g.chance(0.4) {
				typ = fixedType(campaignRegion)
			}
			d = g.nums.in(g.legitRange(campaignRegion, typ))
		case g.chance(premiumP(t)):
			// A premium-rate service (directory, supplier hotline).
			if rg := g.legitRange(t.Country, number.PremiumRate); rg != nil {
				d = g.nums.in(rg)
			}
		case g.chance(0.03):
			if rg := g.legitRange(t.Country, number.TollFree); rg != nil {
				d = g.nums.in(rg)
			}
		case g.chance(0.01):
			if rg := g.legitRange(t.Country, number.SharedCost); rg != nil {
				d = g.nums.in(rg)
			}
		case g.chance(0.0008):
			// A genuine call to a costly country (a customer abroad).
			reg := pick(g, sortedKeys(expensive))
			if _, nonGeo := cutNonGeo(reg); !nonGeo {
				if rg := g.legitRange(reg, fixedType(reg)); rg != nil && !g.blocked(rg.Prefix) {
					d = g.nums.in(rg)
				}
			}
		case g.chance(0.002):
			// A destination never called before (new customer abroad).
			reg := pick(g, sortedKeys(partners))
			if rg := g.legitRange(reg, fixedType(reg)); rg != nil {
				d = g.nums.in(rg)
			}
		}
		if d == "" {
			if g.chance(0.55) {
				d = t.book[int(float64(len(t.book))*math.Pow(g.r.Float64(), 2))]
			} else {
				d = g.customer(t)
			}
		}
		c.CalleeE164 = "+" + d
		c.Callee = g.dial(t, d)
		c.Rate = g.rateOf(d)
		c.DestCountry, c.DestType = g.classify(d)
		ans := t.AnswerRate
		if campaignRegion != "" {
			ans *= 0.6
		}
		g.outcome(&c, ans, t.MedianHoldS, c.DestType == "premium_rate")
	} else {
		c.Direction = Inbound
		d := t.book[int(float64(len(t.book))*math.Pow(g.r.Float64(), 1.5))]
		if g.chance(0.3) {
			d = g.customer(t)
		}
		c.Caller = "+" + d
		did := pick(g, t.DIDs)
		c.CalleeE164 = "+" + did
		c.Callee = "+" + did
		g.outcome(&c, g.uniform(0.85, 0.97), t.MedianHoldS*1.3, false)
	}
	g.sc.Calls = append(g.sc.Calls, c)
}

// outcome sets ringing, answer, duration and disposition.
func (g *gen) outcome(c *Call, answer, median float64, short bool) {
	ring := time.Duration(g.lognormal(9, 0.5) * float64(time.Second))
	if g.chance(answer) {
		c.Answer = c.Start.Add(ring)
		var s float64
		switch {
		case short:
			s = g.lognormal(100, 0.6)
		case g.chance(0.004):
			s = g.uniform(2400, 9000) // a long support or conference call
		default:
			s = g.lognormal(median, 1.05)
		}
		if s < 3 {
			s = 3
		}
		if s > 4*3600 {
			s = 4 * 3600
		}
		c.Billsec = int(s)
		c.End = c.Answer.Add(time.Duration(c.Billsec) * time.Second)
		c.Disposition = Answered
		return
	}
	switch g.intn(0, 9) {
	case 0, 1:
		c.Disposition = Busy
		c.End = c.Start.Add(time.Duration(g.intn(1, 5)) * time.Second)
	case 2:
		c.Disposition = Failed
		c.End = c.Start.Add(time.Duration(g.intn(0, 3)) * time.Second)
	default:
		c.Disposition = NoAnswer
		c.End = c.Start.Add(time.Duration(g.intn(15, 45)) * time.Second)
	}
}

// campaign is a predictive-dialer run: for 30–120 minutes a share of the
// agents dial customers of one region, many short unanswered calls.
func (g *gen) campaign(t *Tenant, date time.Time, daily float64, extOK func(string) bool, ipOf func(string) string) {
	region := t.Country
	if g.chance(t.IntlShare * 1.5) {
		region = t.Usual[g.pickW(t.UsualWeight)]
	}
	h := g.uniform(float64(t.OpenHour)+0.5, float64(t.CloseHour)-1.5)
	dur := g.uniform(30, 120)
	perMin := daily / float64((t.CloseHour-t.OpenHour)*60) * g.uniform(1, 3)
	if t.shape != nil {
		dur = g.uniform(15, t.shape.campaignMin)
		perMin *= t.shape.burst
	}
	start := date.Add(time.Duration(h * float64(time.Hour)))
	for m := 0; m < int(dur); m++ {
		for k := g.poisson(perMin); k > 0; k-- {
			at := start.Add(time.Duration(m)*time.Minute + time.Duration(g.r.IntN(60000))*time.Millisecond)
			g.legitCall(t, at, extOK, ipOf, region)
		}
	}
}

// forwarded is a legitimate inbound call the PBX forwards to an on-call
// agent's mobile.
func (g *gen) forwarded(t *Tenant, at time.Time, x, ip string) {
	d := t.onCallTo[x][0:]
	c := Call{ID: g.id("c"), Tenant: t.Name, Extension: x, Direction: Inbound, Forwarded: true, SourceIP: ip, UserAgent: t.UserAgent,
		Caller: "+" + pick(g, t.book), CalleeE164: "+" + d, Start: at.UTC(), Label: Legit}
	c.Callee = g.dial(t, d)
	c.Rate = g.rateOf(d)
	c.DestCountry, c.DestType = g.classify(d)
	g.outcome(&c, 0.8, t.MedianHoldS, false)
	g.sc.Calls = append(g.sc.Calls, c)
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
