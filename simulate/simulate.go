// Package simulate generates realistic call traffic for many tenants and
// extensions — business-hours rhythm, quiet weekends, mostly domestic
// calls, a few usual countries per tenant, log-normal durations — and
// injects labelled attacks: a weekend IRSF burst, slow-drip IRSF under
// the per-hour limits, premium-rate abuse, a Wangiri wave with callbacks,
// an off-hours PBX hack and call-forward abuse. Time is simulated: a
// fortnight is generated in well under a second.
package simulate

import (
	_ "embed"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/screen"
)

// Policy is a policy for simulated traffic: international destinations
// allowed (so the detectors, not the static rules, must catch the
// attacks) and the rate deck Rates in force.
//
//go:embed policy.yaml
var Policy []byte

// Rates is the rate deck the simulation's costs use (numbers.rate_deck).
//
//go:embed rates.csv
var Rates []byte

// Attack names.
const (
	WeekendIRSF   = "weekend_irsf_burst"
	SlowDrip      = "slow_drip_irsf"
	PremiumAbuse  = "premium_rate_abuse"
	WangiriWave   = "wangiri_wave"
	OffHoursHack  = "off_hours_pbx_hack"
	ForwardAbuse  = "call_forward_abuse"
	legitCountry  = "legit"
	homeTZ        = "America/New_York"
	domesticAreas = "212,312,415,617,713,206,305,404"
)

// Attacks lists every attack the simulator injects.
var Attacks = []string{WeekendIRSF, SlowDrip, PremiumAbuse, WangiriWave, OffHoursHack, ForwardAbuse}

// Call is a generated call with its label ("" for legitimate traffic).
type Call struct {
	cdr.Record
	Attack string
}

// Options configures Generate.
type Options struct {
	Seed    uint64
	Tenants int       // default 20
	Exts    int       // extensions per tenant; default 25
	Days    int       // default 14; attacks fall in the last 5 days
	Start   time.Time // a Monday, 00:00 in New York; default 2026-11-02
	Attacks bool
}

// usual are the countries tenants call: calling code, the leading
// national digits of a valid geographic range and how many random digits
// complete a number of the right length (London, Berlin, Paris, Mexico
// City, Madrid, Rome, Mumbai, Tokyo).
var usual = []struct {
	cc, lead string
	rest     int
}{{"44", "207", 7}, {"49", "30", 7}, {"33", "14", 7}, {"52", "55", 8}, {"34", "91", 7}, {"39", "06", 7}, {"91", "226", 7}, {"81", "35", 7}}

type gen struct {
	r     *rand.Rand
	o     Options
	loc   *time.Location
	out   []Call
	seq   int
	tname []string
}

func (g *gen) id() string {
	g.seq++
	return fmt.Sprintf("sim-%07d", g.seq)
}

// lognormal returns a duration with the given median (seconds).
func (g *gen) lognormal(median, sigma float64, cap int) int {
	d := median * math.Exp(sigma*g.r.NormFloat64())
	return max(1, min(cap, int(d)))
}

func (g *gen) add(tenant, ext, caller, callee string, dir screen.Direction, start time.Time, billsec int, attack string, fwd bool) {
	r := cdr.Record{CallID: g.id(), Tenant: tenant, Extension: ext, Caller: caller, Callee: callee, Direction: dir, Start: start.UTC(), Forwarded: fwd}
	if billsec > 0 {
		r.Answer = r.Start.Add(4 * time.Second)
		r.End = r.Answer.Add(time.Duration(billsec) * time.Second)
		r.Billsec, r.Duration, r.Disposition = billsec, billsec+4, cdr.Answered
	} else {
		ring := 2 + g.r.IntN(25)
		r.End = r.Start.Add(time.Duration(ring) * time.Second)
		r.Duration, r.Disposition = ring, cdr.NoAnswer
	}
	g.out = append(g.out, Call{Record: r, Attack: attack})
}

// Generate returns the calls in order of start time.
func Generate(o Options) []Call {
	if o.Tenants <= 0 {
		o.Tenants = 20
	}
	if o.Exts <= 0 {
		o.Exts = 25
	}
	if o.Days <= 0 {
		o.Days = 14
	}
	loc, _ := time.LoadLocation(homeTZ)
	if loc == nil {
		loc = time.UTC
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 11, 2, 0, 0, 0, 0, loc)
	}
	g := &gen{r: rand.New(rand.NewPCG(o.Seed, 42)), o: o, loc: loc}
	areas := []string{"212", "312", "415", "617", "713", "206", "305", "404"}
	for t := range o.Tenants {
		tenant := fmt.Sprintf("t%02d", t)
		g.tname = append(g.tname, tenant)
		// Two or three usual countries, ten contacts in each.
		nc := 2 + g.r.IntN(2)
		var contacts []string
		for _, k := range g.r.Perm(len(usual))[:nc] {
			for range 10 {
				u := usual[k]
				contacts = append(contacts, fmt.Sprintf("+%s%s%0*d", u.cc, u.lead, u.rest, g.r.IntN(int(math.Pow10(u.rest)))))
			}
		}
		for e := range o.Exts {
			ext := fmt.Sprintf("%d", 1000+e)
			perHour := 0.6 + g.r.Float64()*1.4
			for d := range o.Days {
				day := o.Start.AddDate(0, 0, d)
				wd := day.Weekday()
				weekend := wd == time.Saturday || wd == time.Sunday
				for h := 8; h < 18; h++ {
					rate := perHour
					if weekend {
						rate *= 0.03
					}
					if h == 12 {
						rate *= 0.5
					}
					n := poisson(g.r, rate)
					for range n {
						start := time.Date(day.Year(), day.Month(), day.Day(), h, g.r.IntN(60), g.r.IntN(60), 0, loc)
						bill := 0
						if g.r.Float64() > 0.15 {
							bill = g.lognormal(150, 0.9, 7200)
						}
						callee := fmt.Sprintf("+1%s555%04d", areas[g.r.IntN(len(areas))], g.r.IntN(10000))
						if g.r.Float64() < 0.08 {
							callee = contacts[g.r.IntN(len(contacts))]
						}
						g.add(tenant, ext, ext, callee, screen.Outbound, start, bill, "", false)
					}
				}
			}
		}
		// Inbound calls to the tenant's main number, some missed, a few international.
		for d := range o.Days {
			day := o.Start.AddDate(0, 0, d)
			for range poisson(g.r, 15) {
				start := time.Date(day.Year(), day.Month(), day.Day(), 8+g.r.IntN(10), g.r.IntN(60), g.r.IntN(60), 0, loc)
				caller := fmt.Sprintf("+1%s555%04d", areas[g.r.IntN(len(areas))], g.r.IntN(10000))
				if g.r.Float64() < 0.1 {
					caller = contacts[g.r.IntN(len(contacts))]
				}
				bill := 0
				if g.r.Float64() > 0.2 {
					bill = g.lognormal(120, 0.9, 3600)
				}
				g.add(tenant, "5550000", caller, "5550000", screen.Inbound, start, bill, "", false)
			}
		}
	}
	if o.Attacks {
		g.attacks()
	}
	sort.SliceStable(g.out, func(i, j int) bool { return g.out[i].Start.Before(g.out[j].Start) })
	return g.out
}

func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// at is a local time on day d of the simulation.
func (g *gen) at(d, h, m int) time.Time {
	day := g.o.Start.AddDate(0, 0, d)
	return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, g.loc)
}

// dayOf returns the first day ≥ from that is wd.
func (g *gen) dayOf(from int, wd time.Weekday) int {
	for d := from; ; d++ {
		if g.o.Start.AddDate(0, 0, d).Weekday() == wd {
			return d
		}
	}
}

func (g *gen) attacks() {
	tn := func(i int) string { return g.tname[i%len(g.tname)] }
	from := max(0, g.o.Days-7)
	// Weekend IRSF burst: Saturday 02:00, a compromised extension tests a
	// Latvian premium range with short calls, then floods it.
	d := g.dayOf(from, time.Saturday)
	t := g.at(d, 2, 0)
	for i := range 3 {
		g.add(tn(0), "1007", "1007", fmt.Sprintf("+37190%06d", g.r.IntN(1000000)), screen.Outbound, t.Add(time.Duration(i)*40*time.Second), 8, WeekendIRSF, false)
	}
	for i := range 40 {
		g.add(tn(0), "1007", "1007", fmt.Sprintf("+37190%06d", g.r.IntN(1000000)), screen.Outbound, t.Add(3*time.Minute+time.Duration(i)*45*time.Second), 900+g.r.IntN(600), WeekendIRSF, false)
	}
	// Slow drip: a weekday, one call every 20 minutes in business hours to
	// numbers of one satellite range: under any per-hour limit.
	d = g.dayOf(from, time.Tuesday)
	for i := range 21 {
		g.add(tn(1), "1011", "1011", fmt.Sprintf("+8821600%04d", 100+g.r.IntN(900)), screen.Outbound, g.at(d, 10, 0).Add(time.Duration(i)*20*time.Minute), 180+g.r.IntN(60), SlowDrip, false)
	}
	// Premium-rate abuse: one UK premium number called over and over.
	d = g.dayOf(from, time.Wednesday)
	for i := range 12 {
		g.add(tn(2), "1003", "1003", "+449098790123", screen.Outbound, g.at(d, 11, 0).Add(time.Duration(i)*2*time.Minute), 300+g.r.IntN(120), PremiumAbuse, false)
	}
	// Wangiri wave: one-ring calls from an Ivorian range, then callbacks.
	d = g.dayOf(from, time.Thursday)
	var wangiri []string
	for i := range 40 {
		n := fmt.Sprintf("+2250708%06d", g.r.IntN(1000000))
		wangiri = append(wangiri, n)
		did := fmt.Sprintf("555%04d", g.r.IntN(100))
		g.add(tn(3), did, n, did, screen.Inbound, g.at(d, 9, 30).Add(time.Duration(i)*25*time.Second), 0, WangiriWave, false)
		last := &g.out[len(g.out)-1] // one ring: cut after a second or two
		last.Duration = 1 + g.r.IntN(3)
		last.End = last.Start.Add(time.Duration(last.Duration) * time.Second)
	}
	for i := range 4 {
		ext := fmt.Sprintf("%d", 1000+i)
		g.add(tn(3), ext, ext, wangiri[i*7], screen.Outbound, g.at(d, 10, 15).Add(time.Duration(i)*17*time.Minute), 150+g.r.IntN(100), WangiriWave, false)
	}
	// Off-hours PBX hack: 03:00 on a weekday, calls all over the world.
	d = g.dayOf(from, time.Friday)
	dests := []string{"+5355512345", "+23276123456", "+96170123456", "+8613800138000", "+2348031234567", "+63917123456"}
	for i := range 30 {
		g.add(tn(4), "1015", "1015", dests[i%len(dests)][:len(dests[i%len(dests)])-2]+fmt.Sprintf("%02d", i), screen.Outbound, g.at(d, 3, 0).Add(time.Duration(i)*90*time.Second), 500+g.r.IntN(300), OffHoursHack, false)
	}
	// Call-forward abuse: inbound calls forwarded by a hacked voicemail
	// setting to a premium international number.
	d = g.dayOf(from, time.Monday)
	for i := range 10 {
		g.add(tn(5), "1020", fmt.Sprintf("+1212555%04d", g.r.IntN(10000)), "+37190123456", screen.Inbound, g.at(d, 14, 0).Add(time.Duration(i)*6*time.Minute), 600+g.r.IntN(300), ForwardAbuse, true)
	}
}

// WriteAsterisk writes calls as an Asterisk Master.csv (times in UTC; the
// tenant in accountcode, the call id in uniqueid; inbound calls in the
// from-trunk context; forwards as Dial to the trunk).
func WriteAsterisk(w io.Writer, calls []Call) error {
	const layout = "2006-01-02 15:04:05"
	buf := make([]byte, 0, 64<<10)
	for i := range calls {
		r := &calls[i].Record
		ctx, src, dst, app, data := "from-internal", r.Extension, dialed(r.Callee), "Dial", "PJSIP/"+dialed(r.Callee)+"@trunk,60"
		if r.Direction == screen.Inbound {
			ctx, src, dst = "from-trunk", r.Caller, r.Extension
			if r.Forwarded {
				data = "PJSIP/" + dialed(r.Callee) + "@trunk,60"
			} else {
				data = "PJSIP/" + r.Extension + ",30"
			}
		}
		ans := ""
		if !r.Answer.IsZero() {
			ans = r.Answer.Format(layout)
		}
		disp := "ANSWERED"
		if r.Disposition != cdr.Answered {
			disp = "NO ANSWER"
		}
		buf = fmt.Appendf(buf, "%q,%q,%q,%q,\"\",\"PJSIP/%s-%s\",\"\",%q,%q,%q,%q,%q,%d,%d,%q,\"DOCUMENTATION\",%q,\"\"\n",
			r.Tenant, src, dst, ctx, src, r.CallID, app, data, r.Start.Format(layout), ans, r.End.Format(layout), r.Duration, r.Billsec, disp, r.CallID)
		if len(buf) > 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

// dialed writes an E.164 number as a US user dials it (011 for
// international, 1 + ten digits at home).
func dialed(e164 string) string {
	if len(e164) > 2 && e164[:2] == "+1" {
		return e164[1:]
	}
	if len(e164) > 1 && e164[0] == '+' {
		return "011" + e164[1:]
	}
	return e164
}
