package voice

import (
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"sort"
	"sync"
)

// Voiceprint is an enrolled speaker: the embedding of all enrolment speech
// and its cohort statistics, kept so that scoring needs no cohort pass on
// the enrolment side.
type Voiceprint struct {
	Vec    []float32 `json:"-"`
	Speech float64   `json:"speech_s"` // net enrolment speech
	Mu     float32   `json:"-"`
	Sigma  float32   `json:"-"`
}

// Result is one comparison.
type Result struct {
	Raw        float64 `json:"raw_score"`        // cosine of the embeddings
	Normalized float64 `json:"normalized_score"` // adaptive s-norm against the cohort
	LLR        float64 `json:"llr"`              // calibrated log-likelihood ratio (natural log)
}

// Print makes a voiceprint from statistics.
func (m *Model) Print(st Stats) Voiceprint {
	v := m.Backend.Embed(st)
	mu, sd := m.cohortStats(v)
	return Voiceprint{Vec: v, Speech: st.Speech(), Mu: float32(mu), Sigma: float32(sd)}
}

// cohortStats returns the mean and standard deviation of the CohortTop
// highest scores of v against the cohort.
func (m *Model) cohortStats(v []float32) (float64, float64) {
	if len(m.Cohort) == 0 {
		return 0, 1
	}
	s := make([]float64, len(m.Cohort))
	for i, c := range m.Cohort {
		s[i] = Score(v, c)
	}
	top := m.CohortTop
	if top <= 0 || top > len(s) {
		top = len(s)
	}
	if top < len(s) {
		sort.Float64s(s)
		s = s[len(s)-top:]
	}
	var sum, ss float64
	for _, x := range s {
		sum += x
	}
	mu := sum / float64(len(s))
	for _, x := range s {
		ss += (x - mu) * (x - mu)
	}
	sd := math.Sqrt(ss / float64(len(s)))
	if sd < 1e-3 {
		sd = 1e-3
	}
	return mu, sd
}

// Compare scores test speech (already a voiceprint) against an enrolled one.
func (m *Model) Compare(enrol, test Voiceprint) Result {
	raw := Score(enrol.Vec, test.Vec)
	n := 0.5 * ((raw-float64(enrol.Mu))/float64(enrol.Sigma) + (raw-float64(test.Mu))/float64(test.Sigma))
	return Result{Raw: raw, Normalized: n, LLR: m.Calib.A*n + m.Calib.B}
}

// Threshold returns the normalised-score threshold for a false-accept
// rate: the conservative one (Bound, see FitCalibrationPairs) when the
// calibration has it, else PointThreshold.
func (c *Calibration) Threshold(far float64) float64 {
	if far <= 0 || far >= 1 {
		far = 0.01
	}
	if len(c.Bound) > 0 {
		return c.boundThreshold(far)
	}
	return c.PointThreshold(far)
}

// PointThreshold returns the normalised-score threshold at which the
// calibration's own impostor trials are accepted at the rate far, with
// no margin for sampling. With k = far × impostor trials: for k ≥ 10 it is the k-th highest
// impostor score (kept exactly in Tail, else read from the quantiles);
// below that the sample cannot resolve the rate, and the tail is
// extrapolated as exponential from the highest scores (the excess over
// the m-th highest score, m = max(20, 1 % of the trials), fitted by its
// mean) — impostor tails of normalised scores are heavier than Gaussian,
// and a Gaussian extrapolation set thresholds that let through up to 16
// times the target rate (docs/benchmarks.md, issue 19). With fewer than
// 400 impostor trials (the top 20 would reach past the top 5 %), and in
// calibrations made before Tail existed, the tail is Gaussian.
func (c *Calibration) PointThreshold(far float64) float64 {
	if far <= 0 || far >= 1 {
		far = 0.01
	}
	if c.ImpN > 0 && len(c.Tail) > 0 {
		k := far * float64(c.ImpN)
		switch {
		case k >= 10 && int(k) <= len(c.Tail):
			return float64(c.Tail[max(int(k), 1)-1])
		case k < 10:
			if t0, beta, m, ok := c.tailFit(); ok {
				p0 := float64(m) / float64(c.ImpN)
				return t0 + beta*math.Log(p0/far)
			}
		}
	}
	n := len(c.Impostor)
	if n > 0 && float64(n)*far >= 10 {
		i := int(math.Ceil(float64(n)*(1-far))) - 1
		return float64(c.Impostor[min(max(i, 0), n-1)])
	}
	sd := c.ImpStd
	if sd <= 0 {
		sd = 1
	}
	return c.ImpMean + sd*normQuantile(1-far)
}

// tailFit fits an exponential tail to the m highest impostor scores
// (m = 1 % of the trials, at least 20) when there are 400 or more: t0 is
// the m-th highest, beta the mean excess over it. ok is false with fewer
// trials or fewer than two stored.
func (c *Calibration) tailFit() (t0, beta float64, m int, ok bool) {
	if c.ImpN < 400 || len(c.Tail) == 0 {
		return 0, 0, 0, false
	}
	m = min(len(c.Tail), max(20, c.ImpN/100))
	if m < 2 {
		return 0, 0, 0, false
	}
	t0 = float64(c.Tail[m-1])
	var excess float64
	for _, v := range c.Tail[:m-1] {
		excess += float64(v) - t0
	}
	return t0, excess / float64(m-1), m, true
}

// normQuantile is the inverse standard normal CDF (Acklam's rational
// approximation, relative error below 1.2e-9).
func normQuantile(p float64) float64 {
	a := [...]float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := [...]float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := [...]float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := [...]float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	const lo = 0.02425
	switch {
	case p <= 0:
		return math.Inf(-1)
	case p >= 1:
		return math.Inf(1)
	case p < lo:
		q := math.Sqrt(-2 * math.Log(p))
		return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p > 1-lo:
		q := math.Sqrt(-2 * math.Log(1-p))
		return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
	q := p - 0.5
	r := q * q
	return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
}

// FitCalibration fits LLR = A·s + B by logistic regression with the two
// classes weighted equally, and records the impostor distribution.
func FitCalibration(target, impostor []float64, trials string) Calibration {
	c := Calibration{A: 1, B: 0, Trials: trials}
	if len(impostor) > 0 {
		imp := append([]float64(nil), impostor...)
		sort.Float64s(imp)
		// Keep at most 2,000 evenly spaced quantiles.
		k := min(len(imp), 2000)
		c.Impostor = make([]float32, k)
		for i := range k {
			c.Impostor[i] = float32(imp[i*len(imp)/k])
		}
		var s, ss float64
		for _, x := range imp {
			s += x
		}
		c.ImpMean = s / float64(len(imp))
		for _, x := range imp {
			ss += (x - c.ImpMean) * (x - c.ImpMean)
		}
		c.ImpStd = math.Sqrt(ss / float64(len(imp)))
		c.ImpN = len(imp)
		nt := min(len(imp), 1000)
		c.Tail = make([]float32, nt)
		for i := range nt {
			c.Tail[i] = float32(imp[len(imp)-1-i])
		}
	}
	if len(target) == 0 || len(impostor) == 0 {
		return c
	}
	wt, wn := 0.5/float64(len(target)), 0.5/float64(len(impostor))
	a, b := 1.0, 0.0
	for range 50 {
		// Newton step on the weighted cross-entropy.
		var ga, gb, haa, hab, hbb float64
		step := func(s, y, w float64) {
			p := 1 / (1 + math.Exp(-(a*s + b)))
			r := w * (p - y)
			ga += r * s
			gb += r
			h := w * p * (1 - p)
			haa += h * s * s
			hab += h * s
			hbb += h
		}
		for _, s := range target {
			step(s, 1, wt)
		}
		for _, s := range impostor {
			step(s, 0, wn)
		}
		haa += 1e-9
		hbb += 1e-9
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		a -= da
		b -= db
		if math.Abs(da)+math.Abs(db) < 1e-9 {
			break
		}
	}
	if a > 0 && !math.IsNaN(b) {
		c.A, c.B = a, b
	}
	return c
}

// Match is one identification hit.
type Match struct {
	Index int
	Result
}

// Identify scores test against every print and returns those whose
// normalised score reaches threshold, best first, at most limit.
func (m *Model) Identify(test Voiceprint, prints []Voiceprint, threshold float64, limit int) []Match {
	// Split a large watchlist over the CPUs.
	parts := 1
	if len(prints) >= 2000 {
		parts = max(1, runtime.GOMAXPROCS(0))
	}
	found := make([][]Match, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			lo, hi := p*len(prints)/parts, (p+1)*len(prints)/parts
			for i := lo; i < hi; i++ {
				r := m.Compare(prints[i], test)
				if r.Normalized >= threshold {
					found[p] = append(found[p], Match{Index: i, Result: r})
				}
			}
		}(p)
	}
	wg.Wait()
	var out []Match
	for _, f := range found {
		out = append(out, f...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Normalized > out[j].Normalized })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// MarshalBinary encodes the voiceprint: speech, μ, σ (float64, float32,
// float32) then the embedding as little-endian float32.
func (v Voiceprint) MarshalBinary() ([]byte, error) {
	b := make([]byte, 16+4*len(v.Vec))
	binary.LittleEndian.PutUint64(b, math.Float64bits(v.Speech))
	binary.LittleEndian.PutUint32(b[8:], math.Float32bits(v.Mu))
	binary.LittleEndian.PutUint32(b[12:], math.Float32bits(v.Sigma))
	for i, x := range v.Vec {
		binary.LittleEndian.PutUint32(b[16+4*i:], math.Float32bits(x))
	}
	return b, nil
}

// UnmarshalBinary decodes MarshalBinary's encoding.
func (v *Voiceprint) UnmarshalBinary(b []byte) error {
	if len(b) < 16 || len(b)%4 != 0 {
		return errors.New("voice: bad voiceprint encoding")
	}
	v.Speech = math.Float64frombits(binary.LittleEndian.Uint64(b))
	v.Mu = math.Float32frombits(binary.LittleEndian.Uint32(b[8:]))
	v.Sigma = math.Float32frombits(binary.LittleEndian.Uint32(b[12:]))
	v.Vec = make([]float32, (len(b)-16)/4)
	for i := range v.Vec {
		v.Vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[16+4*i:]))
	}
	if !(v.Sigma > 0) {
		return errors.New("voice: bad voiceprint encoding")
	}
	return nil
}

// MarshalBinary encodes statistics: frames (uint64) then float32s.
func (s Stats) MarshalBinary() ([]byte, error) {
	b := make([]byte, 8+4*len(s.Vec))
	binary.LittleEndian.PutUint64(b, uint64(s.Frames))
	for i, x := range s.Vec {
		binary.LittleEndian.PutUint32(b[8+4*i:], math.Float32bits(x))
	}
	return b, nil
}

// UnmarshalBinary decodes MarshalBinary's encoding.
func (s *Stats) UnmarshalBinary(b []byte) error {
	if len(b) < 8 || len(b)%4 != 0 {
		return errors.New("voice: bad statistics encoding")
	}
	f := binary.LittleEndian.Uint64(b)
	if f > 1<<40 {
		return errors.New("voice: bad statistics encoding")
	}
	s.Frames = int(f)
	s.Vec = make([]float32, (len(b)-8)/4)
	for i := range s.Vec {
		s.Vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[8+4*i:]))
	}
	return nil
}
