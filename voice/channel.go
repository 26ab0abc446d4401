package voice

import (
	"fmt"
	"math"
	"math/rand/v2"
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
func Telephone(a Audio, rng *rand.Rand) Audio {
	speed := 0.96 + 0.08*rng.Float64()
	x32 := Resample(a.Samples, int(math.Round(Rate*speed)), Rate)
	x := make([]float64, len(x32))
	var p float64
	for i, v := range x32 {
		x[i] = float64(v)
		p += x[i] * x[i]
	}
	p /= math.Max(1, float64(len(x)))
	snr := 15 + 10*rng.Float64()
	ns := math.Sqrt(p / math.Pow(10, snr/10))
	for i := range x {
		x[i] += ns * rng.NormFloat64()
	}
	for _, q := range []biquad{butter("high", 300), butter("high", 300), butter("low", 3400), butter("low", 3400)} {
		q.run(x)
	}
	gain := math.Pow(10, (-6+12*rng.Float64())/20)
	out := Audio{Samples: make([]float32, len(x))}
	for i, v := range x {
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

// Channels are the channel names Channel knows.
var Channels = []string{"clean", "alaw", "telephone"}

// Channel passes audio through a named channel: "clean" (unchanged),
// "alaw" (G.711 A-law) or "telephone" (Telephone).
func Channel(name string, a Audio, rng *rand.Rand) (Audio, error) {
	switch name {
	case "clean", "":
		return a, nil
	case "alaw":
		return ALaw(a), nil
	case "telephone":
		return Telephone(a, rng), nil
	}
	return Audio{}, fmt.Errorf("voice: unknown channel %q (want clean, alaw or telephone)", name)
}
