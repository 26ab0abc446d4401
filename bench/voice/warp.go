package main

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/tollgate-voip/tollgate/voice"
)

// warpOpts are scoring-side settings of a -heldout variant that are not
// training options: enrolment heard at several speeds, and tests scored
// at several speeds (the highest normalised score wins, for targets and
// impostors alike).
type warpOpts struct {
	enrol []float64 // extra speed factors added to every enrolment call
	test  []float64 // speed factors each test is scored at (1 included)
	both  []float64 // extra speed factors averaged into every call's statistics, enrolment and test
	hand  int       // Handset copies of every enrolment call added to its statistics (voice.Model.EnrolStats)
}

// splitWarpModifiers removes the scoring-side modifiers from a variant:
// eh<n> (every enrolment call also heard through n Handset copies,
// statistics added), ew<pct> (enrolment calls also heard at speeds 1 ± pct %, statistics
// added), bw<pct> (every enrolment and test call's statistics averaged
// with its copies at 1 ± pct %) and tw<pct>[x<steps>] (tests scored at
// speeds 1 ± pct % in steps each side, default 1, the highest score
// kept). It returns the training variant (for variantOptions, where
// sp<pct> adds background copies at 1 ± pct %) and the scoring options.
func splitWarpModifiers(v string) (string, warpOpts) {
	parts := strings.Split(v, "+")
	keep := parts[:1]
	var w warpOpts
	for _, m := range parts[1:] {
		switch {
		case strings.HasPrefix(m, "bw"):
			p := pct(v, m, "bw")
			w.both = []float64{1 - p, 1 + p}
		case strings.HasPrefix(m, "eh"):
			if _, err := fmt.Sscan(strings.TrimPrefix(m, "eh"), &w.hand); err != nil || w.hand < 1 || w.hand > voice.MaxEnrolHandset {
				log.Fatalf("variant %q: bad modifier %q", v, m)
			}
		case strings.HasPrefix(m, "ew"):
			p := pct(v, m, "ew")
			w.enrol = []float64{1 - p, 1 + p}
		case strings.HasPrefix(m, "tw"):
			spec := strings.TrimPrefix(m, "tw")
			steps := 1
			if a, b, ok := strings.Cut(spec, "x"); ok {
				spec = a
				fmt.Sscan(b, &steps)
			}
			p := pct(v, "tw"+spec, "tw")
			w.test = []float64{1}
			for i := 1; i <= steps; i++ {
				d := p * float64(i) / float64(steps)
				w.test = append(w.test, 1-d, 1+d)
			}
		default:
			keep = append(keep, m)
		}
	}
	return strings.Join(keep, "+"), w
}

func pct(v, m, prefix string) float64 {
	var f float64
	if _, err := fmt.Sscan(strings.TrimPrefix(m, prefix), &f); err != nil || f <= 0 || f >= 20 {
		log.Fatalf("variant %q: bad modifier %q", v, m)
	}
	return f / 100
}

// speedChannels are the training channels "speed<1−p>" and "speed<1+p>".
func speedChannels(p float64) []string {
	return []string{fmt.Sprintf("speed%.3f", 1-p), fmt.Sprintf("speed%.3f", 1+p)}
}

// enrolStats are the statistics of one enrolment call, with its speed
// copies added.
// The Handset copies (the model's own EnrolHandset, or eh<n>'s) are
// those the service adds (voice.Model.EnrolStats); with bw<pct> there
// are none.
func (w warpOpts) enrolStats(m *voice.Model, a voice.Audio) voice.Stats {
	var st voice.Stats
	if len(w.both) > 0 {
		st = w.stats(m, a)
	} else {
		mm := m
		if w.hand > 0 {
			c := *m
			c.EnrolHandset = w.hand
			mm = &c
		}
		st = mm.EnrolStats(a)
	}
	for _, f := range w.enrol {
		st = st.Add(m.Backend.Stats(voice.Speed(a, f)))
	}
	return st
}

// testPrints are the voiceprints of a test call at each test speed (the
// first is the unchanged call).
func (w warpOpts) testPrints(m *voice.Model, a voice.Audio) []voice.Voiceprint {
	out := []voice.Voiceprint{m.Print(w.stats(m, a))}
	for _, f := range w.test {
		if f == 1 {
			continue
		}
		out = append(out, m.Print(w.stats(m, voice.Speed(a, f))))
	}
	return out
}

// compare is the highest normalised score of the enrolment against the
// test's prints.
func (w warpOpts) compare(m *voice.Model, p voice.Voiceprint, tests []voice.Voiceprint) float64 {
	best := math.Inf(-1)
	for _, tp := range tests {
		best = math.Max(best, m.Compare(p, tp).Normalized)
	}
	return best
}

// stats are a call's statistics, averaged with its copies at the
// w.both speeds (the frame count stays the call's own).
func (w warpOpts) stats(m *voice.Model, a voice.Audio) voice.Stats {
	st := m.Backend.Stats(a)
	if len(w.both) == 0 {
		return st
	}
	frames := st.Frames
	for _, f := range w.both {
		st = st.Add(m.Backend.Stats(voice.Speed(a, f)))
	}
	k := float32(1 + len(w.both))
	for i := range st.Vec {
		st.Vec[i] /= k
	}
	st.Frames = frames
	return st
}

// stagePairs, when set (-stages), adds diagnostic pairs whose test
// channel is the simulated telephone channel with some stages off.
var stagePairs bool

// heldOutPairs are the enrolment → test channel pairs -heldout scores.
func heldOutPairs() []chanPair {
	if !stagePairs {
		return chanPairs
	}
	return append(append([]chanPair(nil), chanPairs...),
		chanPair{"clean", "tel-speed"}, chanPair{"clean", "tel-nospeed"}, chanPair{"tel-nospeed", "tel-nospeed"},
		chanPair{"clean", "tel-noise"}, chanPair{"clean", "tel-band"})
}

// pairSeed is the random stream of pair pi: a diagnostic pair shares it
// with the telephone pair it takes apart, so it draws the same digit
// strings, speeds, noise and gains, and only the stages turned off
// differ.
func pairSeed(pi int, cp chanPair) int {
	if !strings.HasPrefix(cp.test, "tel-") {
		return pi
	}
	want := chanPair{"clean", "telephone"}
	if cp.enrol != "clean" {
		want = chanPair{"telephone", "telephone"}
	}
	for i, p := range chanPairs {
		if p == want {
			return i
		}
	}
	return pi
}

// benchChannel is voice.Channel plus the diagnostic telephone channels
// "tel-speed" (only the speed change), "tel-nospeed" (noise, band pass,
// gain and µ-law without the speed change), "tel-noise" (only the noise)
// and "tel-band" (band pass, gain and µ-law: no speed change, no noise).
func benchChannel(name string, a voice.Audio, rng *rand.Rand) voice.Audio {
	switch name {
	case "tel-speed":
		return voice.TelephoneParts(a, rng, voice.TelSpeed)
	case "tel-nospeed":
		return voice.TelephoneParts(a, rng, voice.TelephoneAll&^voice.TelSpeed)
	case "tel-noise":
		return voice.TelephoneParts(a, rng, voice.TelNoise)
	case "tel-band":
		return voice.TelephoneParts(a, rng, voice.TelBand|voice.TelGain)
	}
	out, err := voice.Channel(name, a, rng)
	if err != nil {
		log.Fatal(err)
	}
	return out
}
