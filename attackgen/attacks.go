package attackgen

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/number"
)

var attackerAgents = []string{"MicroSIP/3.21.3", "Zoiper rv2.10.20.3", "Linphone-Desktop/5.2.4", "sipcli/v1.8", "PortSIP VoIP SDK 19.2", "eyeBeam release 1102q"}

// localAt is hour h (fractional) of attack-week day k in the tenant's zone.
func (g *gen) localAt(t *Tenant, k int, h float64) time.Time {
	s := g.sc.Start.In(t.loc)
	d := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, t.loc).AddDate(0, 0, g.o.HistoryDays+k)
	at := d.Add(time.Duration(h * float64(time.Hour)))
	if at.Before(g.sc.AttackStart) {
		// East of UTC the local week starts before the UTC one.
		at = at.AddDate(0, 0, 1)
	}
	return at
}

// nightOrWeekend is when most toll fraud runs: a night, an evening, or a
// weekend day of the attack week.
func (g *gen) nightOrWeekend(t *Tenant, lastDay int) time.Time {
	if g.wide && g.chance(g.as.biz) {
		return g.localAt(t, g.intn(0, lastDay), g.uniform(float64(t.OpenHour), float64(t.CloseHour)-0.5))
	}
	k := g.intn(0, lastDay)
	switch g.intn(0, 9) {
	case 0, 1, 2, 3, 4:
		return g.localAt(t, k, g.uniform(0.2, 5))
	case 5, 6:
		return g.localAt(t, k, g.uniform(float64(t.CloseHour)+0.5, 23.5))
	case 7:
		// A weekend afternoon.
		for i := 0; i < 7; i++ {
			if wd := g.localAt(t, k, 12).Weekday(); wd == time.Saturday || wd == time.Sunday {
				break
			}
			k = (k + 1) % (lastDay + 1)
		}
		return g.localAt(t, k, g.uniform(10, 18))
	default:
		// Business hours: hiding in the crowd.
		return g.localAt(t, k, g.uniform(float64(t.OpenHour)+1, float64(t.CloseHour)-1))
	}
}

// fraudRange is a revenue-share range: a small block of numbers in an
// expensive destination, priced in the deck. notBlocked keeps it out of
// the operator's block list.
func (g *gen) fraudRange(notBlocked bool) *numberRange {
	if g.chance(g.midShare()) {
		// Cheaper revenue-share numbers in ordinary countries (personal
		// numbers re-routed anywhere), priced below most price caps.
		m := pick(g, midFraud)
		if rg := g.nums.rangeOf(m.region, m.typ, g.intn(3, 4)); rg != nil {
			g.countryRate(rg.CC, m.region, partnerBase(m.region))
			g.price(rg, m.price, m.region+" "+rg.Type.String()+" (revenue share)")
			return rg
		}
	}
	keys := sortedKeys(expensive)
	for try := 0; try < 200; try++ {
		reg := pick(g, keys)
		t := number.Mobile
		if g.chance(0.35) {
			t = number.FixedLine
		}
		if strings.HasPrefix(reg, "001:") {
			t = number.Unknown
		}
		var rg *numberRange
		if t == number.Unknown {
			rg = g.nums.rangeOf(reg, number.Mobile, g.intn(3, 4))
		} else {
			if reg == "DO" || reg == "JM" || reg == "GD" || reg == "AG" || reg == "LC" {
				t = number.FixedLineOrMobile
			}
			rg = g.nums.rangeOf(reg, t, g.intn(3, 4))
		}
		if rg == nil {
			continue
		}
		if notBlocked && g.blocked(rg.Prefix) {
			continue
		}
		base := expensive[reg]
		if rg.Type == number.Mobile {
			base *= 1.3
		}
		g.countryRate(rg.CC, reg, expensive[reg])
		g.price(rg, base, reg+" "+rg.Type.String()+" (high cost)")
		return rg
	}
	panic("attackgen: no fraud range found")
}

// aCall adds one call of attack a.
func (g *gen) aCall(a *Attack, t *Tenant, x, ip, ua string, at time.Time, d string, dir string, fwd bool, caller string, billsec int, ring time.Duration) {
	c := Call{ID: g.id("c"), Tenant: t.Name, Extension: x, SourceIP: ip, UserAgent: ua, Start: at.UTC(), Direction: dir, Forwarded: fwd, Label: a.ID, Class: a.Class}
	if dir == Outbound || fwd {
		c.CalleeE164 = "+" + d
		c.Callee = g.dial(t, d)
		c.Rate = g.rateOf(d)
		c.DestCountry, c.DestType = g.classify(d)
		c.Caller = caller
		if c.Caller == "" {
			c.Caller = "+" + pick(g, t.DIDs)
		}
	} else {
		c.Caller = "+" + d
		c.CalleeE164 = caller
		c.Callee = caller
	}
	if billsec > 0 {
		c.Answer = c.Start.Add(ring)
		c.Billsec = billsec
		c.End = c.Answer.Add(time.Duration(billsec) * time.Second)
		c.Disposition = Answered
	} else {
		c.End = c.Start.Add(ring)
		c.Disposition = NoAnswer
	}
	g.sc.Calls = append(g.sc.Calls, c)
}

func (g *gen) ring() time.Duration {
	return time.Duration(g.lognormal(6, 0.4) * float64(time.Second))
}

// attacks adds the attack week's incidents: each class at least once,
// then a few more of random classes.
func (g *gen) attacks() error {
	classes := append([]string(nil), Classes...)
	for k := g.intn(1, 5); k > 0; k-- {
		classes = append(classes, pick(g, Classes))
	}
	g.r.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
	last := g.o.AttackDays - 1
	for i, cl := range classes {
		t := pick(g, g.sc.Tenants)
		if cl == DomesticPremium {
			var ok []*Tenant
			for _, x := range g.sc.Tenants {
				if _, has := premiumPrice[x.Country]; has {
					if rg := g.legitRange(x.Country, number.PremiumRate); rg != nil {
						ok = append(ok, x)
					}
				}
			}
			if len(ok) == 0 {
				// No tenant's country has premium-rate numbers: pump a
				// foreign premium service instead.
				ok = g.sc.Tenants
			}
			t = pick(g, ok)
		}
		a := &Attack{ID: fmt.Sprintf("A%02d-%s", i+1, cl), Class: cl, Tenant: t.Name}
		g.newAttack()
		g.sc.Attacks = append(g.sc.Attacks, a)
		switch cl {
		case IRSFBurst:
			g.irsfBurst(a, t, last)
		case SlowDrip:
			g.slowDrip(a, t, last)
		case SpreadExtensions:
			g.spread(a, t, last)
		case DomesticPremium:
			g.premium(a, t, last)
		case LongDuration:
			g.longDuration(a, t, last)
		case ConcurrencyBurst:
			g.concurrency(a, t, last)
		case Wangiri:
			g.wangiri(a, t, last)
		case ForwardAbuse:
			g.forward(a, t, last)
		case StolenCreds:
			g.stolen(a, t, last)
		}
		sort.Strings(a.Extensions)
		a.PolicyBlocked = true
		for _, d := range a.Destinations {
			if !g.blocked(d) {
				a.PolicyBlocked = false
			}
		}
	}
	return nil
}

func (a *Attack) addRange(g *gen, rg *numberRange) {
	a.Destinations = append(a.Destinations, rg.Prefix)
	reg := rg.Region
	if !contains(a.Countries, reg) {
		a.Countries = append(a.Countries, reg)
	}
}

func (a *Attack) addExt(x string) {
	if !contains(a.Extensions, x) {
		a.Extensions = append(a.Extensions, x)
	}
}

// ranges draws n fraud ranges, mostly outside the block list.
func (g *gen) ranges(a *Attack, n int) []*numberRange {
	var out []*numberRange
	for k := 0; k < n; k++ {
		rg := g.fraudRange(g.chance(0.85))
		out = append(out, rg)
		a.addRange(g, rg)
	}
	return out
}

// compromised picks how calls of a hacked extension arrive: through the
// tenant's own PBX (its address) or from the attacker's host.
func (g *gen) compromised(t *Tenant, x string) (ip, ua string) {
	if g.chance(0.6) {
		return t.extIP[x], t.UserAgent
	}
	return g.publicIP(), pick(g, attackerAgents)
}

func (g *gen) irsfBurst(a *Attack, t *Tenant, last int) {
	x := pick(g, t.Extensions)
	a.addExt(x)
	ip, ua := g.compromised(t, x)
	a.SourceIP = ip
	rs := g.ranges(a, g.intn(1, 3))
	start := g.nightOrWeekend(t, last)
	// Test calls first: short, to check the route works.
	for k := g.intn(1, 3); k > 0; k-- {
		at := start.Add(-time.Duration(g.uniform(0.5, 30) * float64(time.Hour)))
		rg := pick(g, rs)
		g.aCall(a, t, x, ip, ua, at, g.nums.in(rg), Outbound, false, "", g.intn(5, 40), g.ring())
	}
	n := g.counted(g.intn(20, 120))
	gap := g.paced(g.uniform(5, 60))
	base := g.r.IntN(1000)
	at := start
	for k := 0; k < n; k++ {
		rg := rs[k%len(rs)]
		d, ok := g.nums.seq(rg, base, k)
		if !ok {
			d = g.nums.in(rg)
		}
		bill := 0
		if g.chance(0.9) {
			bill = g.billed(int(g.lognormal(g.uniform(900, 2400), 0.5)))
		}
		g.aCall(a, t, x, ip, ua, at, d, Outbound, false, "", bill, g.ring())
		at = at.Add(time.Duration(g.r.ExpFloat64() * gap * float64(time.Second)))
	}
	a.Note = fmt.Sprintf("%d calls from one extension, gaps ~%.0fs, after test calls", n, gap)
}

func (g *gen) slowDrip(a *Attack, t *Tenant, last int) {
	xs := []string{pick(g, t.Extensions)}
	if g.chance(0.5) {
		xs = append(xs, pick(g, t.Extensions))
	}
	rg := g.fraudRange(g.chance(0.9))
	a.addRange(g, rg)
	nights := g.intn(3, 6)
	first := g.intn(0, max(0, last-nights+1))
	total := 0
	for k := 0; k < nights && first+k <= last; k++ {
		for j := g.intn(1, 4); j > 0; j-- {
			x := pick(g, xs)
			a.addExt(x)
			ip, ua := t.extIP[x], t.UserAgent
			at := g.localAt(t, first+k, g.uniform(0.5, 5))
			g.aCall(a, t, x, ip, ua, at, g.nums.in(rg), Outbound, false, "", g.billed(g.intn(300, 2700)), g.ring())
			total++
		}
	}
	a.SourceIP = t.extIP[xs[0]]
	a.Note = fmt.Sprintf("%d calls over %d nights", total, nights)
}

func (g *gen) spread(a *Attack, t *Tenant, last int) {
	var m int
	if g.wide {
		m = g.intn(min(3, len(t.Extensions)), min(150, len(t.Extensions)))
	} else {
		m = g.intn(10, min(40, len(t.Extensions)))
	}
	perm := g.r.Perm(len(t.Extensions))[:m]
	rs := g.ranges(a, g.intn(2, 5))
	start := g.nightOrWeekend(t, last)
	window := g.paced(g.uniform(1, 6)) * float64(time.Hour)
	attackerIP, ua0 := "", ""
	if g.chance(0.5) {
		attackerIP, ua0 = g.publicIP(), pick(g, attackerAgents)
	}
	n := 0
	for _, j := range perm {
		x := t.Extensions[j]
		a.addExt(x)
		ip, ua := t.extIP[x], t.UserAgent
		if attackerIP != "" {
			ip, ua = attackerIP, ua0
		}
		for k := g.intn(1, 3); k > 0; k-- {
			at := start.Add(time.Duration(g.r.Float64() * window))
			g.aCall(a, t, x, ip, ua, at, g.nums.in(pick(g, rs)), Outbound, false, "", g.billed(g.intn(300, 1800)), g.ring())
			n++
		}
	}
	a.SourceIP = attackerIP
	a.Note = fmt.Sprintf("%d calls over %d extensions in %.1f h", n, m, window/float64(time.Hour))
}

func (g *gen) premium(a *Attack, t *Tenant, last int) {
	region := t.Country
	var rs []*numberRange
	for k := g.intn(1, 3); k > 0; k-- {
		rg := g.nums.rangeOf(region, number.PremiumRate, 3)
		if rg == nil {
			break
		}
		g.price(rg, premiumPrice[region], region+" premium rate")
		rs = append(rs, rg)
		a.addRange(g, rg)
	}
	if len(rs) == 0 {
		// No home premium numbers: a foreign premium service.
		for _, reg := range []string{"AT", "LV", "LT", "GB", "DE"} {
			if rg := g.nums.rangeOf(reg, number.PremiumRate, 3); rg != nil {
				g.countryRate(rg.CC, reg, partnerBase(reg))
				g.price(rg, premiumPrice[reg], reg+" premium rate")
				rs = append(rs, rg)
				a.addRange(g, rg)
				break
			}
		}
	}
	xs := []string{}
	for k := g.intn(1, 4); k > 0; k-- {
		xs = append(xs, pick(g, t.Extensions))
	}
	start := g.nightOrWeekend(t, last)
	window := g.paced(g.uniform(1, 10)) * float64(time.Hour)
	n := g.counted(g.intn(15, 80))
	for k := 0; k < n; k++ {
		x := pick(g, xs)
		a.addExt(x)
		at := start.Add(time.Duration(g.r.Float64() * window))
		bill := 0
		if g.chance(0.92) {
			bill = g.billed(g.intn(300, 3600))
		}
		g.aCall(a, t, x, t.extIP[x], t.UserAgent, at, g.nums.in(pick(g, rs)), Outbound, false, "", bill, g.ring())
	}
	a.SourceIP = t.extIP[xs[0]]
	a.Note = fmt.Sprintf("%d calls to %s premium-rate numbers in %.1f h", n, region, window/float64(time.Hour))
}

func (g *gen) longDuration(a *Attack, t *Tenant, last int) {
	x := pick(g, t.Extensions)
	a.addExt(x)
	ip, ua := g.compromised(t, x)
	a.SourceIP = ip
	rg := g.fraudRange(true)
	a.addRange(g, rg)
	start := g.localAt(t, g.intn(0, last), g.uniform(0, 3))
	if g.wide && g.chance(g.as.biz) {
		start = g.localAt(t, g.intn(0, last), g.uniform(float64(t.OpenHour), float64(t.CloseHour)-1))
	}
	n := g.intn(1, 4)
	for k := 0; k < n; k++ {
		at := start.Add(time.Duration(g.uniform(0, 40) * float64(time.Minute)))
		g.aCall(a, t, x, ip, ua, at, g.nums.in(rg), Outbound, false, "", g.longBill(g.intn(2*3600, 8*3600)), g.ring())
	}
	a.Note = fmt.Sprintf("%d calls of 2–8 h", n)
}

func (g *gen) concurrency(a *Attack, t *Tenant, last int) {
	var xs []string
	for k := g.intn(1, 3); k > 0; k-- {
		x := pick(g, t.Extensions)
		xs = append(xs, x)
		a.addExt(x)
	}
	ip, ua := g.compromised(t, xs[0])
	a.SourceIP = ip
	rs := g.ranges(a, g.intn(1, 2))
	start := g.nightOrWeekend(t, last)
	n := g.counted(g.intn(20, 60))
	spread := g.paced(g.uniform(60, 180))
	for k := 0; k < n; k++ {
		at := start.Add(time.Duration(g.r.Float64() * spread * float64(time.Second)))
		bill := 0
		if g.chance(0.9) {
			bill = g.billed(g.intn(600, 3600))
		}
		g.aCall(a, t, pick(g, xs), ip, ua, at, g.nums.in(pick(g, rs)), Outbound, false, "", bill, g.ring())
	}
	a.Note = fmt.Sprintf("%d simultaneous calls within %.0f s", n, spread)
}

// nextOpen is the first business-hours moment at or after at, plus a
// random delay into the day.
func (g *gen) nextOpen(t *Tenant, at time.Time) time.Time {
	l := at.In(t.loc)
	for i := 0; i < 10; i++ {
		h := float64(l.Hour()) + float64(l.Minute())/60
		if t.openOn(l.Weekday()) && h >= float64(t.OpenHour) && h < float64(t.CloseHour)-0.5 {
			return l
		}
		if t.openOn(l.Weekday()) && h < float64(t.OpenHour) {
			return time.Date(l.Year(), l.Month(), l.Day(), t.OpenHour, 0, 0, 0, t.loc).Add(time.Duration(g.uniform(0, 2) * float64(time.Hour)))
		}
		n := l.AddDate(0, 0, 1)
		l = time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, t.loc)
	}
	return l
}

func (g *gen) wangiri(a *Attack, t *Tenant, last int) {
	rs := g.ranges(a, g.intn(1, 2))
	var from []string
	for k := g.intn(5, 30); k > 0; k-- {
		from = append(from, g.nums.in(pick(g, rs)))
	}
	k := g.intn(0, max(0, last-1))
	start := g.localAt(t, k, g.uniform(float64(t.OpenHour)-1, float64(t.CloseHour)+2))
	window := g.paced(g.uniform(1, 3)) * float64(time.Hour)
	n := g.counted(g.intn(20, 200))
	pinged := map[string]time.Time{}
	for j := 0; j < n; j++ {
		at := start.Add(time.Duration(g.r.Float64() * window))
		num := pick(g, from)
		x := pick(g, t.Extensions)
		// One ring: the caller hangs up before anyone answers.
		g.aCall(a, t, x, pick(g, t.OfficeIPs), "", at, num, Inbound, false, "+"+pick(g, t.DIDs), 0, time.Duration(g.uniform(1, 3.5)*float64(time.Second)))
		if p, ok := pinged[num]; !ok || at.Before(p) {
			pinged[num] = at
		}
	}
	keys := make([]string, 0, len(pinged))
	for num := range pinged {
		keys = append(keys, num)
	}
	sort.Strings(keys)
	share := g.uniform(0.15, 0.45)
	backs := 0
	for i, num := range keys {
		if !g.chance(share) && !(i == len(keys)-1 && backs == 0) {
			continue
		}
		for r := g.intn(1, 2); r > 0; r-- {
			at := g.nextOpen(t, pinged[num].Add(time.Duration(g.uniform(0.02, 30)*float64(time.Hour))))
			x := pick(g, t.Extensions)
			a.addExt(x)
			bill := 0
			if g.chance(0.95) {
				bill = g.intn(30, 360)
			}
			g.aCall(a, t, x, t.extIP[x], t.UserAgent, at, num, Outbound, false, "", bill, g.ring())
			backs++
		}
	}
	a.Note = fmt.Sprintf("%d one-ring calls from %d numbers, %d callbacks", n, len(from), backs)
}

func (g *gen) forward(a *Attack, t *Tenant, last int) {
	// Either call forwarding set on hacked extensions (one target each)
	// or a transfer out of the voicemail/IVR (DISA): one extension, a new
	// target on every call.
	transfer := g.chance(0.5)
	var xs []string
	for k := g.intn(1, 3); k > 0; k-- {
		x := pick(g, t.Extensions)
		xs = append(xs, x)
		a.addExt(x)
		if transfer {
			break
		}
	}
	rs := g.ranges(a, g.intn(1, 2))
	targets := map[string]string{}
	for _, x := range xs {
		targets[x] = g.nums.in(pick(g, rs))
	}
	start := g.nightOrWeekend(t, last)
	window := g.paced(g.uniform(1, 6)) * float64(time.Hour)
	n := g.counted(g.intn(10, 60))
	// The attacker calls in from a few numbers of its own.
	var callers []string
	for k := g.intn(1, 5); k > 0; k-- {
		reg := pick(g, sortedKeys(partners))
		if rg := g.legitRange(reg, mobileType(reg)); rg != nil {
			callers = append(callers, "+"+g.nums.in(rg))
		}
	}
	if len(callers) == 0 {
		callers = []string{"+" + pick(g, t.book)}
	}
	for k := 0; k < n; k++ {
		x := pick(g, xs)
		at := start.Add(time.Duration(g.r.Float64() * window))
		bill := 0
		if g.chance(0.9) {
			bill = g.billed(g.intn(600, 3600))
		}
		to := targets[x]
		if transfer {
			to = g.nums.in(pick(g, rs))
		}
		// Inbound, forwarded (or transferred) off-net to the target.
		g.aCall(a, t, x, t.extIP[x], t.UserAgent, at, to, Inbound, true, pick(g, callers), bill, g.ring())
	}
	a.SourceIP = t.extIP[xs[0]]
	if transfer {
		a.Note = fmt.Sprintf("%d inbound calls transferred off-net through extension %s (DISA)", n, xs[0])
	} else {
		a.Note = fmt.Sprintf("%d inbound calls forwarded off-net from %d extensions", n, len(xs))
	}
}

func (g *gen) stolen(a *Attack, t *Tenant, last int) {
	// A quiet extension: the owner does not notice.
	best := 0
	for i := range t.Extensions {
		if t.extW[i] < t.extW[best] {
			best = i
		}
	}
	x := t.Extensions[best]
	a.addExt(x)
	ip, ua := g.publicIP(), pick(g, attackerAgents)
	a.SourceIP = ip
	var start time.Time
	if g.chance(0.5) {
		start = g.localAt(t, g.intn(0, last), g.uniform(float64(t.OpenHour), float64(t.CloseHour)-1))
	} else {
		start = g.nightOrWeekend(t, last)
	}
	span := g.paced(g.uniform(2, 30)) * float64(time.Hour)
	span = min(span, 72*float64(time.Hour)) // wide profile: inside the attack week
	n := g.counted(g.intn(30, 200))
	rs := g.ranges(a, g.intn(1, 3))
	// Part resale of ordinary minutes to the tenant's usual countries,
	// part revenue share.
	resale := g.uniform(0.2, 0.6)
	for k := 0; k < n; k++ {
		at := start.Add(time.Duration(g.r.Float64() * span))
		var d string
		if g.chance(resale) {
			reg := t.Usual[g.pickW(t.UsualWeight)]
			d = g.nums.in(g.legitRange(reg, mobileType(reg)))
			if !contains(a.Countries, reg) {
				a.Countries = append(a.Countries, reg)
			}
		} else {
			d = g.nums.in(pick(g, rs))
		}
		bill := 0
		if g.chance(0.8) {
			bill = g.billed(int(g.lognormal(300, 0.8)))
		}
		g.aCall(a, t, x, ip, ua, at, d, Outbound, false, "", bill, g.ring())
	}
	a.Note = fmt.Sprintf("%d calls from new address %s over %.1f h (%.0f%% resale)", n, ip, span/float64(time.Hour), resale*100)
}
