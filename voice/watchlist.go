package voice

import (
	"math"
	"runtime"
	"sort"
	"sync"
)

// Watchlist holds many voiceprints for identification. Besides the prints
// it keeps an 8-bit copy of each embedding (a quarter of the memory to
// stream): every print is first scored on the 8-bit copy (16 products
// per AVX2 instruction where the CPU has it, dotI8; without AVX2 the
// portable 8-bit loop is slower than exact scoring, so every print is
// scored exactly), and only those
// whose bound on the exact score reaches the threshold are scored
// exactly. The bound is rigorous: with â the 8-bit copy of a print a and
// b̂ that of the test b, |a·b − â·b̂| ≤ ‖a−â‖·‖b‖ + ‖â‖·‖b−b̂‖, and both
// error norms are measured when the vectors are quantised.
type Watchlist struct {
	prints []Voiceprint
	dim    int
	q      []int8    // len(prints) × dim
	scale  []float32 // per print: value of one step
	qerr   []float32 // per print: ‖a − â‖
	qnorm  []float32 // per print: ‖â‖
}

// NewWatchlist indexes prints (which must all have the same length).
func NewWatchlist(prints []Voiceprint) *Watchlist {
	w := &Watchlist{prints: prints}
	if len(prints) == 0 {
		return w
	}
	w.dim = len(prints[0].Vec)
	w.q = make([]int8, len(prints)*w.dim)
	w.scale = make([]float32, len(prints))
	w.qerr = make([]float32, len(prints))
	w.qnorm = make([]float32, len(prints))
	for i, p := range prints {
		var peak float32
		for _, v := range p.Vec {
			peak = max(peak, float32(math.Abs(float64(v))))
		}
		if peak == 0 || len(p.Vec) != w.dim {
			continue
		}
		w.scale[i] = peak / 127
		row := w.q[i*w.dim : (i+1)*w.dim]
		var e2, n2 float64
		for k, v := range p.Vec {
			row[k] = int8(math.Round(float64(v / w.scale[i])))
			back := float64(row[k]) * float64(w.scale[i])
			e2 += (float64(v) - back) * (float64(v) - back)
			n2 += back * back
		}
		w.qerr[i] = float32(math.Sqrt(e2))
		w.qnorm[i] = float32(math.Sqrt(n2))
	}
	return w
}

// Len is the number of prints.
func (w *Watchlist) Len() int { return len(w.prints) }

// Search returns the prints whose normalised score against test reaches
// threshold, best first, at most limit (Index is the position in the
// prints given to NewWatchlist).
func (m *Model) Search(test Voiceprint, w *Watchlist, threshold float64, limit int) []Match {
	out, _ := m.search(test, w, threshold, limit)
	return out
}

// search is Search, also returning how many prints were scored exactly.
func (m *Model) search(test Voiceprint, w *Watchlist, threshold float64, limit int) ([]Match, int) {
	n := len(w.prints)
	if n == 0 || len(test.Vec) != w.dim {
		return nil, 0
	}
	// Quantise the test vector too, measuring its error and norm for the
	// bound (plus a little for float rounding).
	var peak float32
	for _, v := range test.Vec {
		peak = max(peak, float32(math.Abs(float64(v))))
	}
	if peak == 0 {
		return nil, 0
	}
	ts := peak / 127
	tq := make([]int16, w.dim)
	var te2, tn2 float64
	for k, v := range test.Vec {
		tq[k] = int16(math.Round(float64(v / ts)))
		d := float64(v) - float64(tq[k])*float64(ts)
		te2 += d * d
		tn2 += float64(v) * float64(v)
	}
	terr, tnorm := math.Sqrt(te2), math.Sqrt(tn2)
	parts := 1
	if n >= 2000 {
		parts = max(1, runtime.GOMAXPROCS(0))
	}
	found := make([][]Match, parts)
	exact := make([]int, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := p * n / parts; i < (p+1)*n/parts; i++ {
				pr := w.prints[i]
				if useAVX2 {
					raw := float64(dotI8(w.q[i*w.dim:(i+1)*w.dim], tq)) * float64(w.scale[i]) * float64(ts)
					bound := raw + float64(w.qerr[i])*tnorm + float64(w.qnorm[i])*terr + 1e-5
					approx := 0.5 * ((bound-float64(pr.Mu))/float64(pr.Sigma) + (bound-float64(test.Mu))/float64(test.Sigma))
					if approx < threshold {
						continue
					}
				}
				exact[p]++
				if r := m.Compare(pr, test); r.Normalized >= threshold {
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
	ne := 0
	for _, e := range exact {
		ne += e
	}
	return out, ne
}
