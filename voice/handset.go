package voice

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Handset passes audio through a randomised narrow-band line for
// training augmentation. It is built apart from Telephone, the channel
// the evaluation tests through, so that a model trained on it is not
// tested on its own simulator: every call draws
//   - a handset response: a peaking filter at 400–3000 Hz, ±8 dB;
//   - coloured noise (pink, brown or low-passed white; never flat white
//     noise) at 8–35 dB SNR;
//   - a windowed-sinc FIR band pass with its lower edge at 100–500 Hz,
//     its upper edge at 2700–3900 Hz and 31–127 taps (so roll-offs from
//     gentle to steep; Telephone uses Butterworth sections at exactly
//     300 and 3400 Hz);
//   - a gain of −12…+3 dB (loud calls clip) and a codec: G.711 µ-law or
//     A-law, 10-bit linear quantisation, or none.
//
// There is no speed change.
func Handset(a Audio, rng *rand.Rand) Audio {
	x := make([]float64, len(a.Samples))
	var p float64
	for i, v := range a.Samples {
		x[i] = float64(v)
		p += x[i] * x[i]
	}
	p /= math.Max(1, float64(len(x)))
	// Handset response.
	peaking(400+2600*rng.Float64(), -8+16*rng.Float64(), 0.7+1.3*rng.Float64()).run(x)
	// Coloured noise.
	snr := 8 + 27*rng.Float64()
	noise := colouredNoise(len(x), rng.IntN(3), rng)
	var np float64
	for _, v := range noise {
		np += v * v
	}
	np /= math.Max(1, float64(len(noise)))
	if np > 0 && p > 0 {
		k := math.Sqrt(p / math.Pow(10, snr/10) / np)
		for i := range x {
			x[i] += k * noise[i]
		}
	}
	// Band pass.
	lo := 100 + 400*rng.Float64()
	hi := 2700 + 1200*rng.Float64()
	taps := 31 + 2*rng.IntN(49)
	x = firFilter(x, bandPassFIR(lo, hi, taps))
	// Gain and codec.
	gain := math.Pow(10, (-12+15*rng.Float64())/20)
	codec := rng.IntN(4)
	out := Audio{Samples: make([]float32, len(x))}
	for i, v := range x {
		s := toInt16(float32(v * gain))
		switch codec {
		case 0:
			out.Samples[i] = float32(ulawTable[UlawEncode(s)]) / 32768
		case 1:
			out.Samples[i] = float32(alawDecode(AlawEncode(s))) / 32768
		case 2:
			out.Samples[i] = float32(int32(s)>>6<<6) / 32768
		default:
			out.Samples[i] = float32(s) / 32768
		}
	}
	return out
}

// handsetName says whether name is "handset" or "handset<n>" (several
// independent copies of the background heard through Handset).
func handsetName(name string) bool {
	v, ok := strings.CutPrefix(name, "handset")
	if !ok {
		return false
	}
	if v == "" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err == nil && n >= 0 && n < 100
}

// peaking is an RBJ peaking equaliser at fc Hz with gainDB and quality q.
func peaking(fc, gainDB, q float64) biquad {
	A := math.Pow(10, gainDB/40)
	w := 2 * math.Pi * fc / Rate
	alpha := math.Sin(w) / (2 * q)
	cw := math.Cos(w)
	a0 := 1 + alpha/A
	return biquad{(1 + alpha*A) / a0, -2 * cw / a0, (1 - alpha*A) / a0, -2 * cw / a0, (1 - alpha/A) / a0}
}

// colouredNoise returns n samples of pink (kind 0, Paul Kellet's
// economy filter), brown (1, leaky integrated white) or low-passed white
// noise (2, one pole at 500–2000 Hz).
func colouredNoise(n, kind int, rng *rand.Rand) []float64 {
	out := make([]float64, n)
	var b0, b1, b2 float64
	pole := math.Exp(-2 * math.Pi * (500 + 1500*rng.Float64()) / Rate)
	for i := range out {
		w := rng.NormFloat64()
		switch kind {
		case 0:
			b0 = 0.99765*b0 + w*0.0990460
			b1 = 0.96300*b1 + w*0.2965164
			b2 = 0.57000*b2 + w*1.0526913
			out[i] = b0 + b1 + b2 + w*0.1848
		case 1:
			b0 = 0.995*b0 + w
			out[i] = b0
		default:
			b0 = pole*b0 + (1-pole)*w
			out[i] = b0
		}
	}
	return out
}

// bandPassFIR is a Hamming-windowed sinc band pass from lo to hi Hz with
// an odd number of taps.
func bandPassFIR(lo, hi float64, taps int) []float64 {
	h := make([]float64, taps)
	m := float64(taps-1) / 2
	fl, fh := lo/Rate, hi/Rate
	for i := range h {
		t := float64(i) - m
		var v float64
		if t == 0 {
			v = 2 * (fh - fl)
		} else {
			v = (math.Sin(2*math.Pi*fh*t) - math.Sin(2*math.Pi*fl*t)) / (math.Pi * t)
		}
		h[i] = v * (0.54 - 0.46*math.Cos(2*math.Pi*float64(i)/float64(taps-1)))
	}
	return h
}

// firFilter convolves x with h, delay compensated (same length as x).
func firFilter(x, h []float64) []float64 {
	out := make([]float64, len(x))
	d := len(h) / 2
	for i := range out {
		var s float64
		for k, hk := range h {
			j := i + d - k
			if j >= 0 && j < len(x) {
				s += hk * x[j]
			}
		}
		out[i] = s
	}
	return out
}
