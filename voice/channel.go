package voice

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Biquad is a second-order IIR section (RBJ cookbook form).
type biquad struct{ b0, b1, b2, a1, a2 float64 }

func butter(kind string, fc float64) biquad {
	w := 2 * math.Pi * fc / Rate
	cw, sw := math.Cos(w), math.Sin(w)
	alpha := sw / math.Sqrt2 // sin(w)/(2Q) with Q = 1/√2
	a0 := 1 + alpha
	var q biquad
	if kind == "low" {
		q = biquad{(1 - cw) / 2, 1 - cw, (1 - cw) / 2, -2 * cw, 1 - alpha}
	} else {
		q = biquad{(1 + cw) / 2, -(1 + cw), (1 + cw) / 2, -2 * cw, 1 - alpha}
	}
	q.b0 /= a0
	q.b1 /= a0
	q.b2 /= a0
	q.a1 /= a0
	q.a2 /= a0
	return q
}

func (q biquad) run(x []float64) {
	var x1, x2, y1, y2 float64
	for i, v := range x {
		y := q.b0*v + q.b1*x1 + q.b2*x2 - q.a1*y1 - q.a2*y2
		x2, x1 = x1, v
		y2, y1 = y1, y
		x[i] = y
	}
}

// Telephone passes audio through a simulated telephone channel: a slight
// speed change (±4 %), additive noise at 15–25 dB SNR, a 300–3400 Hz band
// pass (two 2nd-order sections each side), a random gain of −6…+6 dB and
// G.711 µ-law encoding and decoding. It is used for evaluation and
// training augmentation.
func Telephone(a Audio, rng *rand.Rand) Audio { return TelephoneParts(a, rng, TelephoneAll) }

// TelephoneStage selects stages of the simulated telephone channel, to
// find out which of them costs a model its accuracy.
type TelephoneStage uint8

// The stages of Telephone, in the order applied.
const (
	TelSpeed TelephoneStage = 1 << iota // ±4 % speed change
	TelNoise                            // 15–25 dB SNR white noise
	TelBand                             // 300–3400 Hz band pass
	TelGain                             // −6…+6 dB gain and µ-law

	TelephoneAll = TelSpeed | TelNoise | TelBand | TelGain
)

// TelephoneParts is Telephone with only the given stages applied. The
// random draws are the same whichever stages are on, so that, from the
// same generator state, the kept stages do exactly what they do in
// Telephone.
func TelephoneParts(a Audio, rng *rand.Rand, stages TelephoneStage) Audio {
	speed := 0.96 + 0.08*rng.Float64()
	from := int(math.Round(Rate * speed))
	draws := len(a.Samples) // noise samples drawn: the sped-up length
	if from != Rate && len(a.Samples) > 0 {
		draws = int(float64(len(a.Samples)) * (float64(Rate) / float64(from)))
	}
	if stages&TelSpeed == 0 {
		from = Rate
	}
	x32 := Resample(a.Samples, from, Rate)
	x := make([]float64, len(x32))
	var p float64
	for i, v := range x32 {
		x[i] = float64(v)
		p += x[i] * x[i]
	}
	p /= math.Max(1, float64(len(x)))
	snr := 15 + 10*rng.Float64()
	ns := math.Sqrt(p / math.Pow(10, snr/10))
	for i := range draws {
		n := ns * rng.NormFloat64()
		if stages&TelNoise != 0 && i < len(x) {
			x[i] += n
		}
	}
	if stages&TelBand != 0 {
		for _, q := range []biquad{butter("high", 300), butter("high", 300), butter("low", 3400), butter("low", 3400)} {
			q.run(x)
		}
	}
	gain := math.Pow(10, (-6+12*rng.Float64())/20)
	out := Audio{Samples: make([]float32, len(x))}
	for i, v := range x {
		if stages&TelGain == 0 {
			out.Samples[i] = float32(v)
			continue
		}
		out.Samples[i] = float32(ulawTable[UlawEncode(toInt16(float32(v*gain)))]) / 32768
	}
	return out
}

// ALaw passes audio through G.711 A-law encoding and decoding.
func ALaw(a Audio) Audio {
	out := Audio{Samples: make([]float32, len(a.Samples))}
	for i, v := range a.Samples {
		out.Samples[i] = float32(alawDecode(AlawEncode(toInt16(v)))) / 32768
	}
	return out
}

// Channels are the fixed channel names Channel knows; it also takes
// "speed<factor>" (see Speed).
var Channels = []string{"clean", "alaw", "telephone"}

// Speed returns a played factor times faster: every frequency, formants
// included, is multiplied by factor and the duration divided by it (the
// audio is resampled, as if recorded at Rate·factor). It is a training
// augmentation: copies of the background speech at a few speeds teach
// the model (and ChannelNAP) the spectral shifts that a vocal-tract
// difference or a channel's speed error causes.
func Speed(a Audio, factor float64) Audio {
	if factor <= 0 || factor == 1 {
		return a
	}
	from := int(math.Round(Rate * factor))
	return Audio{Samples: Resample(a.Samples, from, Rate)}
}

// speedFactor reads a "speed<factor>" channel name (factor 0.8–1.25).
func speedFactor(name string) (float64, bool) {
	v, ok := strings.CutPrefix(name, "speed")
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0.8 || f > 1.25 {
		return 0, false
	}
	return f, true
}

// KnownChannel says whether Channel accepts name.
func KnownChannel(name string) bool {
	if _, ok := speedFactor(name); ok {
		return true
	}
	return name == "" || name == "clean" || name == "alaw" || name == "telephone" || handsetName(name)
}

// Channel passes audio through a named channel: "clean" (unchanged),
// "alaw" (G.711 A-law), "telephone" (Telephone), "handset" or
// "handset<n>" (Handset; the number only tells copies apart) or
// "speed<factor>", e.g. "speed0.95" (Speed; factor 0.8–1.25).
func Channel(name string, a Audio, rng *rand.Rand) (Audio, error) {
	switch name {
	case "clean", "":
		return a, nil
	case "alaw":
		return ALaw(a), nil
	case "telephone":
		return Telephone(a, rng), nil
	}
	if f, ok := speedFactor(name); ok {
		return Speed(a, f), nil
	}
	if handsetName(name) {
		return Handset(a, rng), nil
	}
	return Audio{}, fmt.Errorf("voice: unknown channel %q (want clean, alaw, telephone, handset[n] or speed<0.8–1.25>)", name)
}
