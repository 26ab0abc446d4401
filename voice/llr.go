package voice

import "math"

// LLR is the classic GMM-UBM score: the average per-frame log-likelihood
// ratio of the test features between the MAP-adapted speaker model
// (means only) and the UBM, over the top 5 UBM components of each frame.
func (b *GMMBackend) LLR(enrol Stats, f *Features) float64 {
	b.init()
	g := b.UBM
	C, D := g.C, g.D
	adapted := make([]float64, C*D)
	for c := range C {
		n := float64(enrol.Vec[c])
		a := n / (n + b.Relevance)
		for d := range D {
			mu := g.Means[c*D+d]
			ml := mu
			if n > 0 {
				ml = float64(enrol.Vec[C+c*D+d]) / n
			}
			adapted[c*D+d] = a*ml + (1-a)*mu
		}
	}
	post := make([]float64, C)
	ll := make([]float64, C)
	var total float64
	for i := range f.Frames {
		x := f.Row(i)
		for c := range C {
			m := g.Means[c*D : (c+1)*D]
			iv := g.ivar[c*D : (c+1)*D]
			var s float64
			for d, v := range x {
				t := float64(v) - m[d]
				s += t * t * iv[d]
			}
			ll[c] = g.lnorm[c] - 0.5*s
		}
		top := topN(ll, 5, post[:0])
		var lu, ls float64
		mu, ms := math.Inf(-1), math.Inf(-1)
		for _, c := range top {
			lu2 := ll[c]
			m := adapted[c*D : (c+1)*D]
			iv := g.ivar[c*D : (c+1)*D]
			var s float64
			for d, v := range x {
				t := float64(v) - m[d]
				s += t * t * iv[d]
			}
			ls2 := g.lnorm[c] - 0.5*s
			mu = math.Max(mu, lu2)
			ms = math.Max(ms, ls2)
		}
		for _, c := range top {
			lu += math.Exp(ll[c] - mu)
			m := adapted[c*D : (c+1)*D]
			iv := g.ivar[c*D : (c+1)*D]
			var s float64
			for d, v := range x {
				t := float64(v) - m[d]
				s += t * t * iv[d]
			}
			ls += math.Exp(g.lnorm[c] - 0.5*s - ms)
		}
		total += (ms + math.Log(ls)) - (mu + math.Log(lu))
	}
	return total / math.Max(1, float64(f.Frames))
}

// topN returns the indices of the n largest values (buf is scratch).
func topN(v []float64, n int, buf []float64) []int {
	_ = buf
	idx := make([]int, 0, n)
	for i, x := range v {
		if len(idx) < n {
			idx = append(idx, i)
		} else {
			w := 0
			for k := range idx {
				if v[idx[k]] < v[idx[w]] {
					w = k
				}
			}
			if x <= v[idx[w]] {
				continue
			}
			idx[w] = i
		}
	}
	return idx
}
