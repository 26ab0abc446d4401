package voice

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/tollgate-voip/tollgate/internal/par"
)

// SessionOptions configure session-variability compensation: a linear
// projection of the centred, length-normalised supervector, learned on
// the background calls (each speaker heard through every training
// channel), after which the embedding is recentred and length-normalised
// again. Steps run in this order; a zero value turns a step off, and
// PCA 0 turns the whole projection off.
type SessionOptions struct {
	// PCA is the number of principal directions of the background
	// supervectors kept; it also sets the embedding's length (before
	// NAP and LDA), so identification scans PCA floats per voiceprint.
	PCA int
	// NAP removes this many directions of largest within-speaker
	// (channel, session and content) variation.
	NAP int
	// LDA keeps this many linear-discriminant directions; it needs more
	// background speakers than directions and is skipped otherwise.
	LDA int
	// WCCN whitens the within-speaker covariance; the value (0–1) is the
	// weight of the identity mixed into it (shrinkage), so 1 is no
	// whitening and 0 full whitening.
	WCCN float64
	// CallSeconds groups each speaker's background utterances (per
	// channel) into calls of at least this much net speech, the unit
	// whose variation is learned (default 2).
	CallSeconds float64
}

// Enabled says whether a projection is learned.
func (o SessionOptions) Enabled() bool { return o.PCA > 0 }

// String names the settings, for reports.
func (o SessionOptions) String() string {
	if !o.Enabled() {
		return "none"
	}
	return fmt.Sprintf("pca%d nap%d lda%d wccn%.2g", o.PCA, o.NAP, o.LDA, o.WCCN)
}

// Projection maps a centred unit supervector x to a shorter embedding
// W·x − Mean (then length-normalised by the backend).
type Projection struct {
	Out, In int
	W       []float32 // Out × In, row-major
	Mean    []float32 // Out
	Info    string    // what it was learned with
}

// apply returns W·x − Mean.
func (p *Projection) apply(x []float32) []float32 {
	out := make([]float32, p.Out)
	for r := range p.Out {
		out[r] = float32(Score(p.W[r*p.In:(r+1)*p.In], x)) - p.Mean[r]
	}
	return out
}

// learnProjection fits the projection on labelled embeddings (centred,
// unit-length supervectors; spk[i] names the speaker of xs[i]).
func learnProjection(xs [][]float32, spk []string, o SessionOptions, seed uint64) (*Projection, error) {
	n := len(xs)
	if n < 4 {
		return nil, fmt.Errorf("voice: session compensation needs more background calls (got %d)", n)
	}
	in := len(xs[0])
	k := min(o.PCA, n-1, in)
	t, b, vecs, order, r := topDirections(xs, k, seed)
	z := make([][]float64, n)
	for i := range b {
		row := make([]float64, k)
		for a := range k {
			v := vecs[order[a]]
			var s float64
			for j := range r {
				s += v[j] * b[i][j]
			}
			row[a] = s
		}
		z[i] = row
	}
	info := fmt.Sprintf("PCA %d of %d background calls", k, n)
	// Each step is a matrix M (new × old) applied to z and folded into t.
	step := func(m [][]float64) {
		z = mulRows(m, z)
		t = matMul(m, t)
	}
	classes := map[string][]int{}
	for i, s := range spk {
		classes[s] = append(classes[s], i)
	}
	if o.NAP > 0 && o.NAP < len(z[0]) {
		sw := withinScatter(z, classes)
		vals, vecs := symEig(sw)
		ord := argsortDesc(vals)
		var m [][]float64
		for _, a := range ord[o.NAP:] {
			m = append(m, vecs[a])
		}
		step(m)
		info += fmt.Sprintf(", NAP %d", o.NAP)
	}
	if o.LDA > 0 && len(classes) > o.LDA && o.LDA < len(z[0]) {
		sw := withinScatter(z, classes)
		wh := invSqrt(sw, 1e-3)
		step(wh)
		sb := betweenScatter(z, classes)
		vals, vecs := symEig(sb)
		ord := argsortDesc(vals)
		var m [][]float64
		for _, a := range ord[:o.LDA] {
			m = append(m, vecs[a])
		}
		step(m)
		info += fmt.Sprintf(", LDA %d (%d speakers)", o.LDA, len(classes))
	}
	if o.WCCN > 0 && o.WCCN < 1 {
		sw := withinScatter(z, classes)
		d := len(sw)
		var tr float64
		for i := range d {
			tr += sw[i][i]
		}
		for i := range d {
			for j := range d {
				sw[i][j] *= 1 - o.WCCN
			}
			sw[i][i] += o.WCCN * tr / float64(d)
		}
		step(invSqrt(sw, 1e-6))
		info += fmt.Sprintf(", WCCN (shrinkage %.2g)", o.WCCN)
	}
	out := len(t)
	p := &Projection{Out: out, In: in, W: make([]float32, out*in), Mean: make([]float32, out), Info: info + fmt.Sprintf(", %d speakers", len(classes))}
	for a, row := range t {
		for d, v := range row {
			p.W[a*in+d] = float32(v)
		}
	}
	for _, x := range xs {
		y := p.apply(x)
		for a, v := range y {
			p.Mean[a] += v / float32(n)
		}
	}
	return p, nil
}

// xtv returns Xᵀv (length in) for rows xs.
func xtv(xs [][]float32, v []float64, in int) []float64 {
	out := make([]float64, in)
	for i, x := range xs {
		c := v[i]
		if c == 0 {
			continue
		}
		for d, xv := range x {
			out[d] += c * float64(xv)
		}
	}
	return out
}

// xv returns X·q (length n).
func xv(xs [][]float32, q []float64) []float64 {
	out := make([]float64, len(xs))
	par.Do(len(xs), func(i int) { out[i] = dot64(q, xs[i]) })
	return out
}

func dot64(a []float64, b []float32) float64 {
	var s float64
	for i, v := range b {
		s += a[i] * float64(v)
	}
	return s
}

// orthonormalise runs modified Gram-Schmidt on the vectors in place.
func orthonormalise(q [][]float64) {
	for j := range q {
		for i := range j {
			var s float64
			for d := range q[j] {
				s += q[i][d] * q[j][d]
			}
			for d := range q[j] {
				q[j][d] -= s * q[i][d]
			}
		}
		var s float64
		for _, v := range q[j] {
			s += v * v
		}
		s = math.Sqrt(s)
		if s < 1e-12 {
			s = 1
		}
		for d := range q[j] {
			q[j][d] /= s
		}
	}
}

// scatter is the covariance of the rows around their mean.
func scatter(rows [][]float64) [][]float64 {
	d := len(rows[0])
	mean := make([]float64, d)
	for _, r := range rows {
		for i, v := range r {
			mean[i] += v / float64(len(rows))
		}
	}
	c := newMat(d, d)
	for _, r := range rows {
		for i := range d {
			a := r[i] - mean[i]
			for j := i; j < d; j++ {
				c[i][j] += a * (r[j] - mean[j])
			}
		}
	}
	for i := range d {
		for j := i; j < d; j++ {
			c[i][j] /= float64(len(rows))
			c[j][i] = c[i][j]
		}
	}
	return c
}

// withinScatter is the average covariance of the rows around their
// class means.
func withinScatter(z [][]float64, classes map[string][]int) [][]float64 {
	d := len(z[0])
	c := newMat(d, d)
	for _, idx := range classes {
		mean := make([]float64, d)
		for _, i := range idx {
			for a, v := range z[i] {
				mean[a] += v / float64(len(idx))
			}
		}
		dev := make([]float64, d)
		for _, i := range idx {
			for a, v := range z[i] {
				dev[a] = v - mean[a]
			}
			for a := range d {
				for b := a; b < d; b++ {
					c[a][b] += dev[a] * dev[b]
				}
			}
		}
	}
	for a := range d {
		for b := a; b < d; b++ {
			c[a][b] /= float64(len(z))
			c[b][a] = c[a][b]
		}
	}
	return c
}

// betweenScatter is the covariance of the class means (each weighted by
// its count) around the global mean.
func betweenScatter(z [][]float64, classes map[string][]int) [][]float64 {
	d := len(z[0])
	gm := make([]float64, d)
	for _, r := range z {
		for a, v := range r {
			gm[a] += v / float64(len(z))
		}
	}
	c := newMat(d, d)
	for _, idx := range classes {
		mean := make([]float64, d)
		for _, i := range idx {
			for a, v := range z[i] {
				mean[a] += v / float64(len(idx))
			}
		}
		w := float64(len(idx)) / float64(len(z))
		for a := range d {
			for b := range d {
				c[a][b] += w * (mean[a] - gm[a]) * (mean[b] - gm[b])
			}
		}
	}
	return c
}

// invSqrt returns S^(−1/2) for a symmetric positive semi-definite S,
// with eigenvalues floored at eps times the largest.
func invSqrt(s [][]float64, eps float64) [][]float64 {
	vals, vecs := symEig(s)
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, v)
	}
	d := len(s)
	m := newMat(d, d)
	for k, v := range vals {
		f := 1 / math.Sqrt(math.Max(v, eps*top+1e-300))
		for i := range d {
			for j := range d {
				m[i][j] += f * vecs[k][i] * vecs[k][j]
			}
		}
	}
	return m
}

func newMat(r, c int) [][]float64 {
	m := make([][]float64, r)
	for i := range m {
		m[i] = make([]float64, c)
	}
	return m
}

// matMul returns a·b.
func matMul(a, b [][]float64) [][]float64 {
	out := newMat(len(a), len(b[0]))
	par.Do(len(a), func(i int) {
		for k, v := range a[i] {
			if v == 0 {
				continue
			}
			for j, w := range b[k] {
				out[i][j] += v * w
			}
		}
	})
	return out
}

// mulRows returns m·z for every row z.
func mulRows(m [][]float64, z [][]float64) [][]float64 {
	out := make([][]float64, len(z))
	for i, r := range z {
		row := make([]float64, len(m))
		for a, mr := range m {
			var s float64
			for b, v := range mr {
				s += v * r[b]
			}
			row[a] = s
		}
		out[i] = row
	}
	return out
}

func argsortDesc(v []float64) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	return idx
}

// symEig returns the eigenvalues and eigenvectors (vecs[k] belongs to
// vals[k]) of the symmetric matrix s, by cyclic Jacobi rotations.
func symEig(s [][]float64) ([]float64, [][]float64) {
	n := len(s)
	a := newMat(n, n)
	for i := range n {
		copy(a[i], s[i])
	}
	v := newMat(n, n) // columns are eigenvectors
	for i := range n {
		v[i][i] = 1
	}
	for sweep := 0; sweep < 60; sweep++ {
		var off, diag float64
		for i := range n {
			diag += a[i][i] * a[i][i]
			for j := i + 1; j < n; j++ {
				off += a[i][j] * a[i][j]
			}
		}
		if off <= 1e-22*diag || off == 0 {
			break
		}
		for p := range n {
			for q := p + 1; q < n; q++ {
				apq := a[p][q]
				if math.Abs(apq) < 1e-300 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * apq)
				t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					t = -t
				}
				c := 1 / math.Sqrt(t*t+1)
				sn := t * c
				for k := range n {
					akp, akq := a[k][p], a[k][q]
					a[k][p] = c*akp - sn*akq
					a[k][q] = sn*akp + c*akq
				}
				for k := range n {
					apk, aqk := a[p][k], a[q][k]
					a[p][k] = c*apk - sn*aqk
					a[q][k] = sn*apk + c*aqk
				}
				for k := range n {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p] = c*vkp - sn*vkq
					v[k][q] = sn*vkp + c*vkq
				}
			}
		}
	}
	vals := make([]float64, n)
	vecs := newMat(n, n)
	for k := range n {
		vals[k] = a[k][k]
		for i := range n {
			vecs[k][i] = v[i][k]
		}
	}
	return vals, vecs
}

// topDirections returns the k leading right singular vectors of the data
// matrix whose rows are xs (a randomised range finder with two power
// iterations, then the exact PCA of the found subspace): t holds them
// (k × in); b, vecs, order and r describe the subspace (the rows'
// coordinates in it, its eigenvectors, their order by eigenvalue and its
// dimension) for callers that go on working in it.
func topDirections(xs [][]float32, k int, seed uint64) (t, b, vecs [][]float64, order []int, r int) {
	n, in := len(xs), len(xs[0])
	// Randomised range finder with two power iterations: the top-k
	// right singular vectors of the data matrix X (n × in).
	r = min(k+10, n, in)
	rng := rand.New(rand.NewPCG(seed, 191))
	q := make([][]float64, r) // r basis vectors of length in
	omega := make([]float64, n)
	for j := range r {
		for i := range omega {
			omega[i] = rng.NormFloat64()
		}
		q[j] = xtv(xs, omega, in)
	}
	orthonormalise(q)
	for range 2 {
		for j := range q {
			q[j] = xtv(xs, xv(xs, q[j]), in)
		}
		orthonormalise(q)
	}
	// Coordinates in the subspace, then the subspace's own PCA.
	b = make([][]float64, n) // n × r
	for i, x := range xs {
		row := make([]float64, r)
		for j := range q {
			row[j] = dot64(q[j], x)
		}
		b[i] = row
	}
	cov := scatter(b)
	vals, vecs := symEig(cov)
	order = argsortDesc(vals)
	// T maps in-space to the current low-dimensional space: T = Vk^T Q^T.
	t = make([][]float64, k)
	for a := range k {
		row := make([]float64, in)
		v := vecs[order[a]]
		for j := range r {
			c := v[j]
			for d, qv := range q[j] {
				row[d] += c * qv
			}
		}
		t[a] = row
	}
	return t, b, vecs, order, r
}
