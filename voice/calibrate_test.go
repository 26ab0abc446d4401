package voice

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// population draws speakers whose voices come in sound-alike groups: a
// speaker is a group centre plus an individual part, a call is the
// speaker plus session noise (unit vectors; the score is their cosine).
// Impostors from one group score far above impostors from different
// groups, so the false-accept rate depends on which pairs of speakers
// the calibration happened to see — the attack a conservative threshold
// has to withstand.
type population struct {
	rng     *rand.Rand
	dim     int
	centres [][]float64
	alike   bool // the last trials() drew two speakers of one group
}

func (p *population) unitNoise(scale float64) []float64 {
	v := make([]float64, p.dim)
	for i := range v {
		v[i] = scale * p.rng.NormFloat64()
	}
	return v
}

func (p *population) speaker() ([]float64, int) {
	g := p.rng.IntN(len(p.centres))
	c := p.centres[g]
	v := p.unitNoise(0.6)
	for i := range v {
		v[i] += c[i]
	}
	return v, g
}

func (p *population) call(s []float64) []float32 {
	v := p.unitNoise(0.9)
	out := make([]float32, p.dim)
	for i := range v {
		out[i] = float32(s[i] + v[i])
	}
	unit(out)
	return out
}

// trials scores each speaker's two enrolment calls against every other
// speaker's five test calls (and their own).
func (p *population) trials(n int) (tar, imp []float64, pair [][2]int) {
	spk := make([][]float64, n)
	enrol := make([][][]float32, n)
	test := make([][][]float32, n)
	groups := map[int]bool{}
	p.alike = false
	for i := range spk {
		var g int
		spk[i], g = p.speaker()
		p.alike = p.alike || groups[g]
		groups[g] = true
		for range 2 {
			enrol[i] = append(enrol[i], p.call(spk[i]))
		}
		for range 5 {
			test[i] = append(test[i], p.call(spk[i]))
		}
	}
	for a := range n {
		for _, e := range enrol[a] {
			for b := range n {
				for _, t := range test[b] {
					s := Score(e, t)
					if a == b {
						tar = append(tar, s)
					} else {
						imp = append(imp, s)
						pair = append(pair, [2]int{a, b})
					}
				}
			}
		}
	}
	return tar, imp, pair
}

// TestCalibrationUnseenSpeakers: thresholds fitted on one set of speakers
// are applied to 150 others (44,700 impostor trials per draw, 12 draws
// per setting). Issue 19's criterion is a real false-accept rate within
// 2× of the target. Speakers come in sound-alike groups (the attack: an
// impostor who sounds like the caller). Asserted:
//   - the conservative threshold (Threshold, 95 % bound) lets through more
//     than 2× the target in at most 2 of 12 draws with 6 calibration
//     speakers — a 95 % bound may miss 1 in 20, and with 6 speakers in
//     8 groups 7.7 % of calibration sets hold no sound-alike pair at all,
//     which no margin can see — and in at most 1 of 12 with 30;
//   - the point threshold (no margin) exceeds 2× in more draws than the
//     bound with 6 speakers: that is what the margin is for;
//   - the margin's price stays bounded: with 30 speakers the pooled rate
//     at the bound is at least a quarter of the target (it measured 0.49×
//     at 1 % and 0.33× at 0.1 %: below 2× from the safe side).
func TestCalibrationUnseenSpeakers(t *testing.T) {
	for _, tc := range []struct {
		calSpeakers int
		far         float64
	}{{6, 0.01}, {30, 0.01}, {30, 0.001}} {
		var overB, overP int
		var faB, faP, nImp float64
		const draws = 12
		for d := range draws {
			p := &population{rng: rand.New(rand.NewPCG(uint64(d), uint64(tc.calSpeakers))), dim: 40}
			for range 8 {
				p.centres = append(p.centres, p.unitNoise(0.8))
			}
			tar, imp, pair := p.trials(tc.calSpeakers)
			alike := p.alike
			c := FitCalibrationPairs(tar, imp, pair, "simulated")
			if c.Pairs != tc.calSpeakers*(tc.calSpeakers-1)/2 {
				t.Fatalf("%d speakers: %d pairs", tc.calSpeakers, c.Pairs)
			}
			tb, tp := c.Threshold(tc.far), c.PointThreshold(tc.far)
			if tb < tp {
				t.Errorf("conservative threshold %.3f below the point threshold %.3f", tb, tp)
			}
			_, fresh, _ := p.trials(150)
			var kb, kp float64
			for _, s := range fresh {
				if s >= tb {
					kb++
				}
				if s >= tp {
					kp++
				}
			}
			n := float64(len(fresh))
			if kb > 2*tc.far*n {
				overB++
				t.Logf("draw %d: over 2× at the bound; sound-alike pair in calibration: %v", d, alike)
			}
			if kp > 2*tc.far*n {
				overP++
			}
			faB += kb
			faP += kp
			nImp += n
		}
		t.Logf("%d calibration speakers, target %.1f %%: FAR at the bound %.3f %% (%d of %d draws over 2×), at the point estimate %.3f %% (%d over 2×)",
			tc.calSpeakers, 100*tc.far, 100*faB/nImp, overB, draws, 100*faP/nImp, overP)
		allowed := 1
		if tc.calSpeakers < 30 {
			allowed = 2
		}
		if overB > allowed {
			t.Errorf("%d calibration speakers, target %.1f %%: the conservative threshold let through more than 2× the target in %d of %d draws", tc.calSpeakers, 100*tc.far, overB, draws)
		}
		if tc.calSpeakers >= 30 && faB/nImp < tc.far/4 {
			t.Errorf("%d calibration speakers, target %.1f %%: the conservative threshold accepts only %.3f %%, below a quarter of the target", tc.calSpeakers, 100*tc.far, 100*faB/nImp)
		}
		if tc.calSpeakers < 30 && overP <= overB {
			t.Errorf("%d calibration speakers: the point threshold exceeded 2× in %d draws, the bound in %d; the test no longer shows the margin's use", tc.calSpeakers, overP, overB)
		}
	}
}

// TestFARBoundsBinomial: with impostors that are all alike (one pair)
// only the binomial bound applies: no rate below what the trials can
// show is claimed from the sample, the thresholds rise as the rate
// falls, and FARAt reads the calibration's own rate back.
func TestFARBoundsBinomial(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	imp := make([]float64, 1000)
	pair := make([][2]int, len(imp))
	for i := range pair {
		pair[i] = [2]int{0, 1}
	}
	for i := range imp {
		imp[i] = rng.NormFloat64()
	}
	tar := []float64{3, 4, 5, 3.5, 4.5, 2.5, 3.2, 4.1, 3.3, 3.9}
	c := FitCalibrationPairs(tar, imp, pair, "one pair")
	if c.Pairs != 1 || c.Speakers != 2 || len(c.Bound) != len(boundGrid) {
		t.Fatalf("speakers %d, pairs %d, %d bounds", c.Speakers, c.Pairs, len(c.Bound))
	}
	prev := math.Inf(1)
	for _, b := range c.Bound {
		if b.Threshold > prev+1e-12 {
			t.Errorf("threshold at %v (%.3f) above the one at a lower rate (%.3f)", b.FAR, b.Threshold, prev)
		}
		prev = b.Threshold
		own := c.FARAt(b.Threshold)
		if b.FAR*float64(len(imp)) >= 10 && own > b.FAR {
			t.Errorf("at %v the calibration's own impostors are accepted at %.4f", b.FAR, own)
		}
		if b.FAR >= 0.05 && own < b.FAR/2 {
			t.Errorf("at %v (resolved by 1,000 trials) the bound accepts only %.4f of the calibration's impostors", b.FAR, own)
		}
	}
	// 1 % of 1,000 is 10 accepts; the Wilson bound needs the seen rate
	// lower than that, so the threshold is above the 10th highest score.
	if c.Threshold(0.01) <= c.PointThreshold(0.01) {
		t.Errorf("1 %%: bound %.3f not above the point estimate %.3f", c.Threshold(0.01), c.PointThreshold(0.01))
	}
	// Between grid rates the threshold is interpolated.
	if a, b, m := c.Threshold(0.02), c.Threshold(0.05), c.Threshold(0.03); !(m <= a && m >= b) {
		t.Errorf("3 %% threshold %.3f not between 2 %% (%.3f) and 5 %% (%.3f)", m, a, b)
	}
	// Without speaker labels (older callers) no bounds: the point estimate.
	if c2 := FitCalibrationPairs(tar, imp, nil, "unlabelled"); len(c2.Bound) != 0 || c2.Threshold(0.01) != c2.PointThreshold(0.01) {
		t.Error("unlabelled impostors got bounds")
	}
	if !strings.Contains(c.Trials, "one pair") {
		t.Errorf("trials %q", c.Trials)
	}
}
