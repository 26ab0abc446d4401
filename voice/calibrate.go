package voice

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// FARConfidence is the one-sided confidence of the false-accept bounds
// behind Calibration.Threshold.
const FARConfidence = 0.95

// boundGrid are the false-accept rates at which a calibration stores a
// conservative threshold; Threshold interpolates between them.
var boundGrid = []float64{0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2}

// FARBound is a conservative threshold: scores at or above Threshold are
// accepted, and the false-accept rate there is at most FAR with
// FARConfidence (see FitCalibrationPairs).
type FARBound struct {
	FAR, Threshold float64
}

// FitCalibrationPairs is FitCalibration plus conservative thresholds.
// spk[i] names the two speakers (enrolled, tested; small integers) of
// impostor trial i. The false-accept rate of a population is an average
// over pairs of speakers, and trials of one speaker are not independent:
// a voice that sounds like others gives many false accepts at once. So
// the bound on the rate at a threshold is the largest of
//
//   - a speaker jackknife bound: the accepted share plus t(S−1, 95 %)
//     jackknife standard errors, each of the S speakers left out in turn
//     with every trial they take part in (S ≥ 3);
//   - a speaker-pair cluster bound: the accepted share plus t(P−1, 95 %)
//     standard errors of a ratio estimate over the P unordered pairs
//     (P ≥ 2);
//   - a binomial bound on the trials (Wilson, one-sided 95 %), which
//     limits what a small sample can show: with N impostor trials no
//     rate below about 2.7/N is resolved.
//
// For each rate in the grid the threshold is the lowest impostor score
// at which the bound, and the bound at every higher score, is still within
// the rate, with at least 10 trials accepted. Lower rates are
// extrapolated from the lowest resolved one along the impostor tail
// (exponential for 400 or more trials, else Gaussian), as PointThreshold
// does. With two speakers only the binomial bound applies; Speakers and
// Pairs say how much the bound rests on.
func FitCalibrationPairs(target, impostor []float64, spk [][2]int, trials string) Calibration {
	return FitCalibrationConf(target, impostor, spk, trials, FARConfidence)
}

// FitCalibrationConf is FitCalibrationPairs with bounds at another
// one-sided confidence (0.5–0.999), to measure what the margin costs.
func FitCalibrationConf(target, impostor []float64, spk [][2]int, trials string, conf float64) Calibration {
	c := FitCalibration(target, impostor, trials)
	if len(spk) != len(impostor) || len(impostor) == 0 {
		return c
	}
	conf = min(max(conf, 0.5), 0.999)
	c.Speakers, c.Pairs, c.Bound = farBounds(impostor, spk, c.tailThreshold, conf)
	return c
}

// farBounds computes the conservative threshold at each grid rate.
func farBounds(imp []float64, spk [][2]int, tail func(far float64) float64, conf float64) (int, int, []FARBound) {
	n := len(imp)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return imp[order[a]] > imp[order[b]] })
	// Dense pair and speaker indices, trial counts per pair and speaker.
	pairIdx := map[[2]int]int{}
	spkIdx := map[int]int{}
	var np, ns []float64
	pi := make([]int, n)
	si := make([][2]int, n)
	for i, ab := range spk {
		key := [2]int{min(ab[0], ab[1]), max(ab[0], ab[1])}
		j, ok := pairIdx[key]
		if !ok {
			j = len(np)
			pairIdx[key] = j
			np = append(np, 0)
		}
		np[j]++
		pi[i] = j
		for h, s := range ab {
			k, ok := spkIdx[s]
			if !ok {
				k = len(ns)
				spkIdx[s] = k
				ns = append(ns, 0)
			}
			ns[k]++
			si[i][h] = k
		}
	}
	P, S := len(np), len(ns)
	N := float64(n)
	var snn float64
	for _, v := range np {
		snn += v * v
	}
	// Jackknife: leaving speaker s out keeps N−n_s trials, K−k_s
	// accepted; F₋ₛ = w_s(K−k_s) with w_s = 1/(N−n_s). The sums
	// Σw, Σw², Σw·k, Σw²·k, Σw²·k² give Σ F₋ₛ and Σ F₋ₛ² in O(1).
	jack := S >= 3
	w := make([]float64, S)
	var sw, sw2 float64
	for s, v := range ns {
		if N-v <= 0 {
			jack = false
			continue
		}
		w[s] = 1 / (N - v)
		sw += w[s]
		sw2 += w[s] * w[s]
	}
	tqP, tqS := tQuantile(P-1, conf), tQuantile(S-1, conf)
	kp := make([]float64, P)
	ks := make([]float64, S)
	var skk, skn, swk, sw2k, sw2kk float64
	// ucb[K] is the bound when the K highest impostor scores are accepted.
	ucb := make([]float64, n+1)
	ucb[0] = wilsonUpper(0, N, conf)
	for K := 1; K <= n; K++ {
		tr := order[K-1]
		j := pi[tr]
		// k_j → k_j+1: Σk² grows by 2k_j+1, Σk·n by n_j.
		skk += 2*kp[j] + 1
		skn += np[j]
		kp[j]++
		for _, s := range si[tr] {
			swk += w[s]
			sw2k += w[s] * w[s]
			sw2kk += w[s] * w[s] * (2*ks[s] + 1)
			ks[s]++
		}
		k := float64(K)
		F := k / N
		u := wilsonUpper(k, N, conf)
		if P >= 2 {
			ss := math.Max(0, skk-2*F*skn+F*F*snn)
			se := math.Sqrt(float64(P)/float64(P-1)*ss) / N
			u = math.Max(u, F+tqP*se)
		}
		if jack {
			sumF := k*sw - swk
			sumF2 := k*k*sw2 - 2*k*sw2k + sw2kk
			fs := float64(S)
			v := math.Max(0, (fs-1)/fs*(sumF2-sumF*sumF/fs))
			u = math.Max(u, F+tqS*math.Sqrt(v))
		}
		ucb[K] = u
	}
	// For each rate: the largest K whose bound, and every smaller K's,
	// stays within the rate (the running maximum keeps thresholds
	// monotone in the rate).
	runMax := make([]float64, n+1)
	runMax[0] = ucb[0]
	for K := 1; K <= n; K++ {
		runMax[K] = math.Max(runMax[K-1], ucb[K])
	}
	out := make([]FARBound, 0, len(boundGrid))
	lowest := -1 // index in out of the lowest resolved rate
	for gi := len(boundGrid) - 1; gi >= 0; gi-- {
		f := boundGrid[gi]
		// Largest K with runMax[K] ≤ f (runMax is non-decreasing).
		K := sort.Search(n+1, func(k int) bool { return runMax[k] > f }) - 1
		if K < 10 { // fewer than 10 accepted trials: extrapolate below
			break
		}
		// Accepting exactly the K highest: threshold at the K-th score.
		out = append(out, FARBound{FAR: f, Threshold: imp[order[K-1]]})
		lowest = len(out) - 1
	}
	if lowest < 0 {
		// Nothing resolved with 10 accepted trials: extrapolate from the
		// highest impostor score at the binomial rate of accepting none.
		f0 := ucb[0]
		t0 := imp[order[0]]
		for gi := len(boundGrid) - 1; gi >= 0; gi-- {
			f := boundGrid[gi]
			out = append(out, FARBound{FAR: f, Threshold: math.Max(t0, t0+tail(f)-tail(f0))})
		}
	} else {
		base := out[lowest]
		for gi := len(boundGrid) - 1; gi >= 0; gi-- {
			f := boundGrid[gi]
			if f >= base.FAR {
				continue
			}
			out = append(out, FARBound{FAR: f, Threshold: base.Threshold + tail(f) - tail(base.FAR)})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].FAR < out[b].FAR })
	return S, P, out
}

// wilsonUpper is the one-sided Wilson upper bound, at confidence conf,
// of a rate seen k times in n trials.
func wilsonUpper(k, n, conf float64) float64 {
	if n <= 0 {
		return 1
	}
	z := normQuantile(conf)
	p := k / n
	z2 := z * z
	return math.Min(1, (p+z2/(2*n)+z*math.Sqrt(p*(1-p)/n+z2/(4*n*n)))/(1+z2/n))
}

// tQuantile is the one-sided quantile at conf of Student's t with dof
// degrees of freedom (at least 1): a table at 95 %, else the
// Cornish-Fisher expansion around the normal quantile.
func tQuantile(dof int, conf float64) float64 {
	dof = max(dof, 1)
	if conf == 0.95 {
		t := [...]float64{6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
			1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725,
			1.721, 1.717, 1.714, 1.711, 1.708, 1.706, 1.703, 1.701, 1.699, 1.697}
		if dof <= len(t) {
			return t[dof-1]
		}
	}
	z := normQuantile(conf)
	v := float64(dof)
	z3, z5 := z*z*z, z*z*z*z*z
	return z + (z3+z)/(4*v) + (5*z5+16*z3+3*z)/(96*v*v)
}

// boundThreshold interpolates the conservative thresholds linearly in
// log(rate); below the grid it continues the last segment's slope, above
// it the highest rate's threshold applies.
func (c *Calibration) boundThreshold(far float64) float64 {
	b := c.Bound
	if far >= b[len(b)-1].FAR {
		return b[len(b)-1].Threshold
	}
	i := sort.Search(len(b), func(i int) bool { return b[i].FAR >= far })
	if i < len(b) && b[i].FAR == far {
		return b[i].Threshold
	}
	lo, hi := i-1, i
	if i == 0 {
		if len(b) == 1 {
			return b[0].Threshold
		}
		lo, hi = 0, 1
	}
	x0, x1 := math.Log(b[lo].FAR), math.Log(b[hi].FAR)
	w := (math.Log(far) - x0) / (x1 - x0)
	return b[lo].Threshold + w*(b[hi].Threshold-b[lo].Threshold)
}

// tailThreshold is the point threshold's tail extrapolation as a function
// of the rate alone (its differences are what farBounds uses): the
// exponential tail of the highest scores with 400 or more impostor
// trials, else Gaussian.
func (c *Calibration) tailThreshold(far float64) float64 {
	if _, beta, _, ok := c.tailFit(); ok {
		return beta * math.Log(1/far)
	}
	sd := c.ImpStd
	if sd <= 0 {
		sd = 1
	}
	return sd * normQuantile(1-far)
}

// FARAt is the share of the calibration's impostor trials at or above
// threshold (from the stored quantiles; exact in the top 1,000).
func (c *Calibration) FARAt(threshold float64) float64 {
	if c.ImpN > 0 && len(c.Tail) > 0 && threshold >= float64(c.Tail[len(c.Tail)-1]) {
		k := sort.Search(len(c.Tail), func(i int) bool { return float64(c.Tail[i]) < threshold })
		return float64(k) / float64(c.ImpN)
	}
	n := len(c.Impostor)
	if n == 0 {
		return math.NaN()
	}
	k := sort.Search(n, func(i int) bool { return float64(c.Impostor[i]) >= threshold })
	return float64(n-k) / float64(n)
}

// MinCalibSpeakers is the number of calibration speakers below which
// Caveat warns: with fewer, a sound-alike pair of callers is easily
// missing from the calibration, and no margin covers what it did not see
// (TestCalibrationUnseenSpeakers: with 6 speakers in sound-alike groups
// the bound was exceeded in draws without such a pair).
const MinCalibSpeakers = 10

// Caveat says what the calibration's thresholds rest on when that is
// weak; empty when the bound covers at least MinCalibSpeakers speakers.
func (c *Calibration) Caveat() string {
	if strings.HasPrefix(c.Trials, "training speakers") {
		return "calibrated on the training speakers, whose voices the background model heard: new callers will be falsely accepted more often than the stated rate; calibrate on held-out calls with 'tollgate voice calibrate'"
	}
	switch {
	case len(c.Bound) == 0:
		return "no speaker labels behind this calibration: thresholds are point estimates with no margin; recalibrate with 'tollgate voice calibrate'"
	case c.Speakers < 3:
		return fmt.Sprintf("%d speakers (%d pair): the thresholds bound only the sampling of these trials, not how other pairs of voices differ; calibrate on at least %d speakers", c.Speakers, c.Pairs, MinCalibSpeakers)
	case c.Speakers < MinCalibSpeakers:
		return fmt.Sprintf("%d speakers: the margin covers the differences among them, not sound-alike voices none of them has; calibrate on at least %d speakers", c.Speakers, MinCalibSpeakers)
	}
	return ""
}
