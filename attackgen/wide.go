package attackgen

import (
	"fmt"
	"math"
	"time"
)

// Profiles of Generate.
const (
	// ProfileDefault is the generator the seeds were first reported with;
	// its output for a seed never changes.
	ProfileDefault = "default"
	// ProfileWide draws every parameter from broader ranges: more home
	// countries (with their own premium-rate classes), tenants from a few
	// dozen to some thousand calls a day, mostly-international tenants,
	// night shifts, tenants onboarded days before the attack week,
	// outbound campaigns with heavy bursts, other busy-hour shapes and
	// hold times; and attacks paced slower or faster, cheaper per call,
	// over more extensions, and more often in business hours.
	ProfileWide = "wide"
)

// wideHomes are home countries only the wide profile draws (dial prefix
// as their PBXs send it; the dial-plan check falls back to +E.164 where
// the project reads it otherwise).
var wideHomes = []home{
	{"AT", []string{"Europe/Vienna"}, "00"},
	{"BE", []string{"Europe/Brussels"}, "00"},
	{"CH", []string{"Europe/Zurich"}, "00"},
	{"SE", []string{"Europe/Stockholm"}, "00"},
	{"NZ", []string{"Pacific/Auckland"}, "00"},
	{"MX", []string{"America/Mexico_City"}, "00"},
	{"SG", []string{"Asia/Singapore"}, "000"},
	{"JP", []string{"Asia/Tokyo"}, "010"},
	{"BR", []string{"America/Sao_Paulo"}, "0021"},
}

// tenantShape is what the wide profile adds to a tenant.
type tenantShape struct {
	// firstDay is the first day of traffic (a new tenant has little
	// history before the attack week).
	firstDay int
	// hourW is the weight of each local hour inside business hours.
	hourW [24]float64
	// nightShare is the night shift's volume as a share of the day's.
	nightShare float64
	// campaignP is the chance of a dialer campaign on an open day,
	// campaigns the most per day, burst how much faster than the day's
	// average a campaign dials, campaignMin its longest run in minutes.
	campaignP   float64
	campaigns   int
	burst       float64
	campaignMin float64
	// premiumP is the share of outbound calls to home premium-rate
	// numbers; onCallP the chance an on-call extension forwards a night.
	premiumP float64
	onCallP  float64
}

// attackShape scales one attack of the wide profile.
type attackShape struct {
	pace  float64 // multiplies gaps and windows
	bill  float64 // multiplies answered seconds
	count float64 // multiplies the number of calls
	biz   float64 // chance the attack starts in business hours
	mid   float64 // chance a fraud range is a cheap one in an ordinary country
}

func (g *gen) logUniform(a, b float64) float64 {
	return math.Exp(g.uniform(math.Log(a), math.Log(b)))
}

// homeList is the pool of home countries of the profile.
func (g *gen) homeList() []home {
	if !g.wide {
		return homes
	}
	return append(append([]home(nil), homes...), wideHomes...)
}

// widenTenant redraws tenant t's parameters from the wide ranges; called
// after the default draws and before the DIDs and customers are made.
func (g *gen) widenTenant(t *Tenant) {
	s := &tenantShape{}
	t.shape = s
	// Size: a few dozen to some thousand calls a day, a few to some
	// hundred extensions.
	t.DailyCalls = g.logUniform(30, 1000) * g.o.Scale
	// At most ~120 calls a day per extension (a dialer agent's day).
	nExt := max(int(math.Round(g.logUniform(4, 250))), int(t.DailyCalls/120)+1)
	b := pick(g, []int{100, 200, 1000, 2000, 3000, 4000, 5000, 7000})
	t.Extensions, t.extW = nil, nil
	for k := 0; k < nExt; k++ {
		t.Extensions = append(t.Extensions, fmt.Sprint(b+k))
		t.extW = append(t.extW, g.lognormal(1, g.uniform(0.3, 1.2)))
	}
	remote := g.uniform(0, 0.6)
	t.extIP = map[string]string{}
	g.placeExtensions(t, remote)
	t.OpenHour = g.intn(5, 10)
	t.CloseHour = g.intn(max(t.OpenHour+6, 15), 23)
	t.Hours = fmt.Sprintf("%02d:00-%02d:00 days %v", t.OpenHour, t.CloseHour, t.Days)
	// Busy-hour shape: one or two peaks anywhere in the day, of any height.
	peaks := g.intn(1, 2)
	var at, hi [2]float64
	for p := 0; p < peaks; p++ {
		at[p] = g.uniform(float64(t.OpenHour), float64(t.CloseHour))
		hi[p] = g.uniform(0.3, 3)
	}
	for h := 0; h < 24; h++ {
		w := 0.6
		for p := 0; p < peaks; p++ {
			d := (float64(h) + 0.5 - at[p]) / 1.5
			w += hi[p] * math.Exp(-d*d/2)
		}
		s.hourW[h] = w
	}
	t.OutboundShare = g.uniform(0.05, 0.98)
	t.AnswerRate = g.uniform(0.2, 0.9)
	t.MedianHoldS = g.logUniform(20, 900)
	// International share: some tenants call mostly abroad wherever they
	// sit; more usual countries.
	if g.chance(0.3) {
		t.IntlShare = g.uniform(0.6, 0.97)
	} else {
		t.IntlShare = g.uniform(0, 0.5)
	}
	for extra := g.intn(0, 5); extra > 0; extra-- {
		c := pick(g, sortedKeys(partners))
		if c != t.Country && !contains(t.Usual, c) {
			t.Usual = append(t.Usual, c)
			t.UsualWeight = append(t.UsualWeight, g.lognormal(1, 1))
		}
	}
	if g.chance(0.25) {
		s.firstDay = g.o.HistoryDays - g.intn(1, min(10, g.o.HistoryDays))
	}
	if g.chance(0.3) {
		s.nightShare = g.uniform(0.05, 0.4)
	}
	s.campaignP = g.uniform(0, 0.8)
	s.campaigns = g.intn(1, 4)
	s.burst = g.logUniform(1, 10)
	s.campaignMin = g.uniform(20, 240)
	s.premiumP = g.logUniform(0.0005, 0.03)
	s.onCallP = g.uniform(0.1, 0.9)
}

// wideHour is tenant t's weight of local hour h inside business hours.
func wideHour(t *Tenant, h float64) float64 {
	if h < float64(t.OpenHour) || h >= float64(t.CloseHour) {
		return 0
	}
	return t.shape.hourW[int(h)]
}

// nightShift adds the calls of a tenant's night shift on one day: a share
// of the day's volume spread over the hours outside business hours.
func (g *gen) nightShift(t *Tenant, date time.Time, total float64, extOK func(string) bool, ipOf func(string) string) {
	open, close := float64(t.OpenHour), float64(t.CloseHour)
	span := open + 24 - close
	for k := g.poisson(total * t.shape.nightShare); k > 0; k-- {
		h := close + g.r.Float64()*span
		if h >= 24 {
			h -= 24
		}
		g.legitCall(t, date.Add(time.Duration(h*float64(time.Hour))), extOK, ipOf, "")
	}
}

// newAttack draws the scaling of one attack (wide profile).
func (g *gen) newAttack() {
	if !g.wide {
		return
	}
	g.as = attackShape{
		pace:  g.logUniform(0.2, 5),
		bill:  g.logUniform(0.1, 1.5),
		count: g.logUniform(0.4, 3),
		biz:   g.uniform(0.1, 0.7),
		mid:   g.uniform(0.2, 0.7),
	}
}

// paced scales a gap or a window of the attack.
func (g *gen) paced(v float64) float64 {
	if !g.wide {
		return v
	}
	return v * g.as.pace
}

// billed scales answered seconds of the attack (at least 20 s).
func (g *gen) billed(s int) int {
	if !g.wide || s <= 0 {
		return s
	}
	return max(20, int(float64(s)*g.as.bill))
}

// counted scales a number of attack calls (at least 3).
func (g *gen) counted(n int) int {
	if !g.wide {
		return n
	}
	return max(3, int(math.Round(float64(n)*g.as.count)))
}

// midShare is the chance a fraud range is a cheap one.
func (g *gen) midShare() float64 {
	if !g.wide {
		return 0.2
	}
	return g.as.mid
}

// onCallBound is the loop bound of on-call extensions (see tenants).
func (g *gen) onCallBound() int {
	if g.wide {
		return g.intn(0, 8)
	}
	return g.intn(0, 3)
}

// campaignP is the chance of a campaign on an open day.
func campaignP(t *Tenant) float64 {
	if t.shape != nil {
		return t.shape.campaignP
	}
	return 0.22
}

// premiumP is the share of a tenant's outbound calls to premium-rate
// services at home.
func premiumP(t *Tenant) float64 {
	if t.shape != nil {
		return t.shape.premiumP
	}
	return 0.004
}

// onCallP is the chance an on-call extension forwards on a given day.
func onCallP(t *Tenant) float64 {
	if t.shape != nil {
		return t.shape.onCallP
	}
	return 0.35
}

// longBill scales the seconds of a long-duration call: 0.3–1.5 times,
// never under 30 minutes.
func (g *gen) longBill(s int) int {
	if !g.wide {
		return s
	}
	return max(1800, int(float64(s)*g.uniform(0.3, 1.5)))
}
