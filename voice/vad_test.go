package voice

import (
	"math"
	"math/rand/v2"
	"testing"
)

// burstSignal is noise with tone bursts: each burst has a 20 ms attack,
// a 200 ms steady part and a 120 ms exponential decay (like a word's
// weak ending) down to the noise. noiseDB(t) sets the noise level in
// dBFS at time t (s); bursts are at burstDB. It returns the audio and,
// per frame, whether the frame overlaps a burst (1), lies more than
// 150 ms from any burst (0), or is in between (−1, not scored).
func burstSignal(seconds float64, noiseDB func(float64) float64, burstDB float64, seed uint64) (Audio, []int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := int(seconds * Rate)
	x := make([]float32, n)
	inBurst := make([]bool, n)
	for i := range x {
		t := float64(i) / Rate
		x[i] = float32(math.Pow(10, noiseDB(t)/20) * rng.NormFloat64())
	}
	amp := math.Pow(10, burstDB/20) * math.Sqrt2
	freqs := []float64{300, 700, 1200, 2500}
	for k, start := 0, 0.5; start+0.4 < seconds; k, start = k+1, start+0.75 {
		f := freqs[k%len(freqs)]
		for j := 0; j < int(0.34*Rate); j++ {
			t := float64(j) / Rate
			env := 1.0
			switch {
			case t < 0.02:
				env = t / 0.02
			case t > 0.22:
				env = math.Exp(-(t - 0.22) / 0.03) // −29 dB at the end of the decay
			}
			i := int(start*Rate) + j
			x[i] += float32(amp * env * math.Sin(2*math.Pi*f*t))
			inBurst[i] = true
		}
	}
	nf := 1 + (n-frameLen)/frameHop
	label := make([]int, nf)
	const near = int(0.15 * Rate)
	for f := range nf {
		lo, hi := f*frameHop, f*frameHop+frameLen
		c := 0
		for i := lo; i < hi; i++ {
			if inBurst[i] {
				c++
			}
		}
		switch {
		case 2*c >= frameLen:
			label[f] = 1
		default:
			label[f] = 0
			for i := max(0, lo-near); i < min(n, hi+near); i++ {
				if inBurst[i] {
					label[f] = -1
					break
				}
			}
		}
	}
	return Audio{Samples: x}, label
}

// vadScore returns the share of burst frames kept and of far-from-burst
// noise frames marked as speech.
func vadScore(speech []bool, label []int) (kept, falseAlarm float64) {
	var b, bk, z, zk int
	for f, l := range label {
		switch l {
		case 1:
			b++
			if speech[f] {
				bk++
			}
		case 0:
			z++
			if speech[f] {
				zk++
			}
		}
	}
	return float64(bk) / float64(b), float64(zk) / float64(z)
}

// TestVADAdaptive: tone bursts with decaying tails in steady noise, and
// in noise that rises by 20 dB across the signal. The adaptive detector
// keeps nearly every burst frame (more than the first detector, which
// cuts the weak tails) and marks little of the noise as speech even
// where the noise has grown louder than it was at the start.
func TestVADAdaptive(t *testing.T) {
	cases := []struct {
		name    string
		noise   func(float64) float64
		burstDB float64
	}{
		{"steady noise, 15 dB SNR", func(float64) float64 { return -40 }, -25},
		{"steady noise, 25 dB SNR", func(float64) float64 { return -45 }, -20},
		{"noise rising 20 dB", func(t float64) float64 { return -55 + 2*t }, -25},
	}
	for i, c := range cases {
		a, label := burstSignal(10, c.noise, c.burstDB, uint64(i))
		e := frameEnergies(a.Samples)
		if len(e) != len(label) {
			t.Fatalf("%s: %d energies, %d labels", c.name, len(e), len(label))
		}
		newKept, newFA := vadScore(vadAdaptive(e, 6, 8), label)
		oldKept, oldFA := vadScore(vad(e, 9), label)
		t.Logf("%s: adaptive keeps %.1f %% of burst frames, %.1f %% false; first detector %.1f %%, %.1f %%", c.name, 100*newKept, 100*newFA, 100*oldKept, 100*oldFA)
		if newKept < 0.97 {
			t.Errorf("%s: adaptive VAD kept %.1f %% of burst frames, want ≥ 97 %%", c.name, 100*newKept)
		}
		if newFA > 0.05 {
			t.Errorf("%s: adaptive VAD marked %.1f %% of noise frames as speech, want ≤ 5 %%", c.name, 100*newFA)
		}
		if newKept <= oldKept && oldKept < 1 {
			t.Errorf("%s: adaptive VAD kept %.1f %% of burst frames, the first detector %.1f %%: want more", c.name, 100*newKept, 100*oldKept)
		}
	}
	// Digital silence is never speech.
	for i, s := range vadAdaptive(frameEnergies(make([]float32, 3*Rate)), 6, 8) {
		if s {
			t.Fatalf("silence: frame %d marked as speech", i)
		}
	}
	if got := vadAdaptive(nil, 6, 8); len(got) != 0 {
		t.Errorf("no frames: got %d", len(got))
	}
}
