package voice

import (
	"math"
	"sort"
)

// errorCurve returns, for each candidate threshold (every score), the
// false-reject rate (targets below it) and the false-accept rate
// (impostors at or above it).
func errorCurve(tar, imp []float64) (thr, fr, fa []float64) {
	t := append([]float64(nil), tar...)
	i := append([]float64(nil), imp...)
	sort.Float64s(t)
	sort.Float64s(i)
	all := append(append([]float64(nil), t...), i...)
	sort.Float64s(all)
	for _, th := range all {
		thr = append(thr, th)
		fr = append(fr, float64(sort.SearchFloat64s(t, th))/float64(len(t)))
		fa = append(fa, float64(len(i)-sort.SearchFloat64s(i, th))/float64(len(i)))
	}
	return
}

// EER returns the equal error rate of target and impostor scores (the
// point where the larger of the two error rates is smallest) and the
// threshold there.
func EER(tar, imp []float64) (float64, float64) {
	if len(tar) == 0 || len(imp) == 0 {
		return math.NaN(), math.NaN()
	}
	thr, fr, fa := errorCurve(tar, imp)
	best, at := 1.0, 0.0
	for k := range thr {
		if d := math.Max(fr[k], fa[k]); d < best {
			best, at = d, thr[k]
		}
	}
	return best, at
}

// MinDCF is the minimum normalised detection cost at prior pTarget with
// unit costs.
func MinDCF(tar, imp []float64, pTarget float64) float64 {
	_, fr, fa := errorCurve(tar, imp)
	best := math.Inf(1)
	for k := range fr {
		best = math.Min(best, pTarget*fr[k]+(1-pTarget)*fa[k])
	}
	return best / math.Min(pTarget, 1-pTarget)
}

// FAAtFR is the lowest false-accept rate with a false-reject rate of at
// most maxFR.
func FAAtFR(tar, imp []float64, maxFR float64) float64 {
	_, fr, fa := errorCurve(tar, imp)
	best := 1.0
	for k := range fr {
		if fr[k] <= maxFR {
			best = math.Min(best, fa[k])
		}
	}
	return best
}
