package voice

import (
	"math"
	"math/rand/v2"
)

// Vocode resynthesises a through a linear-prediction vocoder: every 10 ms
// an order-12 all-pole envelope, a gain and a pitch period are measured,
// and the speech is rebuilt from an excitation that is either a pulse
// train at that period or white noise (mixed when mixed is set: pulses
// below, noise above the voicing strength). The words, speaker envelope
// and prosody are the human's; what changes is what every
// source-filter synthesiser changes: no glottal pulse shape, no
// cycle-to-cycle perturbation, a minimum-phase spectrum. It is a
// surrogate "machine voice" for training a detector that must not rely
// on any one engine family, not a model of any engine.
func Vocode(a Audio, mixed bool, rng *rand.Rand) Audio {
	const (
		hop   = 80
		win   = 240
		order = 12
	)
	x := make([]float64, len(a.Samples))
	for i, v := range a.Samples {
		x[i] = float64(v)
	}
	out := make([]float32, len(x))
	if len(x) < win {
		return Audio{Samples: out}
	}
	w := make([]float64, win)
	for i := range w {
		w[i] = 0.54 - 0.46*math.Cos(2*math.Pi*float64(i)/float64(win-1))
	}
	var mem [order]float64 // synthesis filter state, newest first
	phase := 0.0           // samples since the last pulse
	seg := make([]float64, win)
	for s := 0; s+hop <= len(x); s += hop {
		c := s + hop/2 - win/2 // window centred on the hop
		for i := range seg {
			j := c + i
			if j < 0 || j >= len(x) {
				seg[i] = 0
				continue
			}
			seg[i] = x[j] * w[i]
		}
		var r [order + 1]float64
		for k := range r {
			for i := k; i < win; i++ {
				r[k] += seg[i] * seg[i-k]
			}
		}
		lpc, errPow := levinson(r[:])
		g := math.Sqrt(math.Max(errPow, 0) / float64(win) / 0.4) // 0.4: Hamming power
		lag, strength := pitchLag(seg)
		for i := range hop {
			var e float64
			noise := rng.NormFloat64()
			if lag > 0 {
				phase++
				pulse := 0.0
				if phase >= lag {
					phase -= lag
					pulse = math.Sqrt(lag)
				}
				if mixed {
					e = math.Sqrt(strength)*pulse + math.Sqrt(1-strength)*noise
				} else {
					e = pulse
				}
			} else {
				e = noise
			}
			y := g * e
			for k := range order {
				y -= lpc[k+1] * mem[k]
			}
			copy(mem[1:], mem[:order-1])
			mem[0] = y
			out[s+i] = float32(y)
		}
	}
	return Audio{Samples: out}
}

// levinson solves the normal equations for the prediction polynomial
// a (a[0] = 1) from autocorrelations r, and returns it with the
// prediction error power.
func levinson(r []float64) ([]float64, float64) {
	p := len(r) - 1
	a := make([]float64, p+1)
	a[0] = 1
	e := r[0] * (1 + 1e-9)
	if e <= 0 {
		return a, 0
	}
	tmp := make([]float64, p+1)
	for i := 1; i <= p; i++ {
		acc := r[i]
		for j := 1; j < i; j++ {
			acc += a[j] * r[i-j]
		}
		k := -acc / e
		copy(tmp, a)
		for j := 1; j < i; j++ {
			a[j] = tmp[j] + k*tmp[i-j]
		}
		a[i] = k
		e *= 1 - k*k
		if e <= 0 {
			return a, 0
		}
	}
	return a, e
}

// pitchLag is the period (samples) of the strongest normalised
// autocorrelation peak between 60 and 400 Hz and its height, or 0 when
// it is under 0.45 (unvoiced).
func pitchLag(seg []float64) (float64, float64) {
	n := len(seg)
	e0 := dotF(seg, seg)
	if e0 == 0 {
		return 0, 0
	}
	best, bl := 0.0, 0
	for l := sfMinLag; l <= min(sfMaxLag, n/2); l++ {
		a, b := seg[:n-l], seg[l:]
		if c := dotF(a, b) / math.Sqrt(dotF(a, a)*dotF(b, b)+1e-12); c > best {
			best, bl = c, l
		}
	}
	if best < 0.45 {
		return 0, 0
	}
	return float64(bl), math.Min(best, 1)
}
