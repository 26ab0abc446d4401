package voice

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tollgate-voip/tollgate/internal/par"
)

// SynthLinear is a logistic regression on standardised SynthFeatures:
// Score = W·((x − Mean) / Scale) + B, the log-odds that x is synthetic.
type SynthLinear struct {
	Mean, Scale, W []float64
	B              float64
}

// TrainSynthLinear fits the regression on human and synthetic feature
// vectors, the two classes weighted equally, with an L2 penalty l2 on
// the weights (Newton's method on the penalised log-likelihood).
func TrainSynthLinear(human, synth [][]float64, l2 float64) (*SynthLinear, error) {
	if len(human) == 0 || len(synth) == 0 {
		return nil, errors.New("voice: synthetic regression needs human and synthetic examples")
	}
	d := len(human[0])
	for _, v := range append(append([][]float64(nil), human...), synth...) {
		if len(v) != d {
			return nil, errors.New("voice: synthetic regression: feature vectors of different lengths")
		}
	}
	m := &SynthLinear{Mean: make([]float64, d), Scale: make([]float64, d), W: make([]float64, d)}
	// Standardise on the human examples: the scale real speech varies on.
	for _, v := range human {
		for j, x := range v {
			m.Mean[j] += x
		}
	}
	for j := range m.Mean {
		m.Mean[j] /= float64(len(human))
	}
	for _, v := range human {
		for j, x := range v {
			m.Scale[j] += (x - m.Mean[j]) * (x - m.Mean[j])
		}
	}
	for j := range m.Scale {
		m.Scale[j] = math.Max(math.Sqrt(m.Scale[j]/float64(len(human))), 1e-6)
	}
	type ex struct {
		z []float64
		y float64
		w float64
	}
	var xs []ex
	for _, v := range human {
		xs = append(xs, ex{m.std(v), 0, 0.5 / float64(len(human))})
	}
	for _, v := range synth {
		xs = append(xs, ex{m.std(v), 1, 0.5 / float64(len(synth))})
	}
	n := d + 1 // weights and bias (last)
	for range 30 {
		g := make([]float64, n)
		h := make([][]float64, n)
		for i := range h {
			h[i] = make([]float64, n)
		}
		for _, e := range xs {
			s := m.B
			for j, z := range e.z {
				s += m.W[j] * z
			}
			p := 1 / (1 + math.Exp(-s))
			r := e.w * (p - e.y)
			q := e.w * math.Max(p*(1-p), 1e-9)
			for j := range n {
				zj := 1.0
				if j < d {
					zj = e.z[j]
				}
				g[j] += r * zj
				for k := range n {
					zk := 1.0
					if k < d {
						zk = e.z[k]
					}
					h[j][k] += q * zj * zk
				}
			}
		}
		for j := range d {
			g[j] += l2 * m.W[j]
			h[j][j] += l2
		}
		h[d][d] += 1e-9
		step, ok := solve(h, g)
		if !ok {
			break
		}
		var sz float64
		for j := range d {
			m.W[j] -= step[j]
			sz += step[j] * step[j]
		}
		m.B -= step[d]
		if sz+step[d]*step[d] < 1e-12 {
			break
		}
	}
	return m, nil
}

func (m *SynthLinear) std(v []float64) []float64 {
	z := make([]float64, len(v))
	for j, x := range v {
		z[j] = (x - m.Mean[j]) / m.Scale[j]
	}
	return z
}

// Score is the log-odds that the feature vector v is synthetic.
func (m *SynthLinear) Score(v []float64) float64 {
	s := m.B
	for j, x := range v {
		s += m.W[j] * (x - m.Mean[j]) / m.Scale[j]
	}
	return s
}

// SynthOneClass is a Gaussian model of human speech's SynthFeatures:
// Score is the squared Mahalanobis distance from it, so anything unlike
// human speech scores high, whichever engine made it.
type SynthOneClass struct {
	Mean []float64
	Prec []float64 // d × d precision matrix, row-major
}

// TrainSynthOneClass fits the Gaussian to human feature vectors, the
// covariance shrunk towards its diagonal by shrink (0–1).
func TrainSynthOneClass(human [][]float64, shrink float64) (*SynthOneClass, error) {
	if len(human) < 2 {
		return nil, errors.New("voice: one-class model needs human examples")
	}
	d := len(human[0])
	m := &SynthOneClass{Mean: make([]float64, d)}
	for _, v := range human {
		for j, x := range v {
			m.Mean[j] += x
		}
	}
	for j := range m.Mean {
		m.Mean[j] /= float64(len(human))
	}
	cov := make([][]float64, d)
	for i := range cov {
		cov[i] = make([]float64, d)
	}
	for _, v := range human {
		for i := range d {
			for j := range d {
				cov[i][j] += (v[i] - m.Mean[i]) * (v[j] - m.Mean[j])
			}
		}
	}
	for i := range d {
		for j := range d {
			cov[i][j] /= float64(len(human) - 1)
			if i != j {
				cov[i][j] *= 1 - shrink
			}
		}
		if cov[i][i] < 1e-12 {
			return nil, fmt.Errorf("voice: one-class model: feature %d does not vary", i)
		}
	}
	m.Prec = make([]float64, d*d)
	for j := range d {
		e := make([]float64, d)
		e[j] = 1
		c := make([][]float64, d)
		for i := range c {
			c[i] = append([]float64(nil), cov[i]...)
		}
		col, ok := solve(c, e)
		if !ok {
			return nil, errors.New("voice: one-class model: singular covariance")
		}
		for i := range d {
			m.Prec[i*d+j] = col[i]
		}
	}
	return m, nil
}

// Score is the squared Mahalanobis distance of v from human speech.
func (m *SynthOneClass) Score(v []float64) float64 {
	d := len(m.Mean)
	var s float64
	for i := range d {
		for j := range d {
			s += (v[i] - m.Mean[i]) * m.Prec[i*d+j] * (v[j] - m.Mean[j])
		}
	}
	return s
}

// solve solves a·x = b by Gaussian elimination with partial pivoting; a
// and b are overwritten.
func solve(a [][]float64, b []float64) ([]float64, bool) {
	n := len(b)
	for c := range n {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-15 {
			return nil, false
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < n; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k < n; k++ {
				a[r][k] -= f * a[c][k]
			}
			b[r] -= f * b[c]
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := b[r]
		for k := r + 1; k < n; k++ {
			s -= a[r][k] * x[k]
		}
		x[r] = s / a[r][r]
	}
	return x, true
}

// SyntheticOptions configure TrainSyntheticRegularity.
type SyntheticOptions struct {
	// Channels the training speech is heard through (clean, alaw,
	// telephone); every recording is used once per channel.
	Channels []string
	// FalseFlags is the share of real speech the threshold may flag
	// (0.01: 1 %), estimated on each training speaker in turn while that
	// speaker is left out of the model.
	FalseFlags float64
	Seed       uint64
}

// DefaultSyntheticOptions: clean and telephone training, 1 % false flags.
func DefaultSyntheticOptions() SyntheticOptions {
	return SyntheticOptions{Channels: []string{"clean", "telephone"}, FalseFlags: 0.01, Seed: 19}
}

// TrainSyntheticRegularity fits the regularity detector: a one-class
// model of the human speech's SynthFeatures, so that no engine family is
// "known"; synthetic recordings are not used to fit it (engines is kept
// for the record only). The threshold is the (1 − FalseFlags) quantile of
// the scores of each human speaker's recordings under a model trained
// without that speaker, so it is set on speech the model did not see. It
// needs at least three speakers; a recording too short to measure is
// skipped.
func TrainSyntheticRegularity(human []Utterance, engines []string, o SyntheticOptions) (*SyntheticDetector, error) {
	if o.FalseFlags <= 0 || o.FalseFlags >= 0.5 {
		return nil, fmt.Errorf("voice: synthetic detector: false-flag share %g outside (0, 0.5)", o.FalseFlags)
	}
	if len(o.Channels) == 0 {
		o.Channels = []string{"clean"}
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5e))
	type item struct {
		spk string
		a   Audio
	}
	var items []item
	for _, u := range human {
		for _, ch := range o.Channels {
			a, err := Channel(ch, u.Audio, rng)
			if err != nil {
				return nil, err
			}
			items = append(items, item{u.Speaker, a})
		}
	}
	feats := make([][]float64, len(items))
	par.Do(len(items), func(i int) { feats[i] = SynthFeatures(items[i].a) })
	bySpk := map[string][][]float64{}
	var spks []string
	for i, v := range feats {
		if v == nil {
			continue
		}
		s := items[i].spk
		if _, ok := bySpk[s]; !ok {
			spks = append(spks, s)
		}
		bySpk[s] = append(bySpk[s], v)
	}
	if len(spks) < 3 {
		return nil, fmt.Errorf("voice: synthetic detector needs measurable speech of at least three speakers, have %d", len(spks))
	}
	var cv []float64
	for _, out := range spks {
		var rest [][]float64
		for _, s := range spks {
			if s != out {
				rest = append(rest, bySpk[s]...)
			}
		}
		m, err := TrainSynthOneClass(rest, synthShrink)
		if err != nil {
			return nil, err
		}
		for _, v := range bySpk[out] {
			cv = append(cv, m.Score(v))
		}
	}
	var all [][]float64
	for _, s := range spks {
		all = append(all, bySpk[s]...)
	}
	m, err := TrainSynthOneClass(all, synthShrink)
	if err != nil {
		return nil, err
	}
	slices.Sort(cv)
	thr := cv[min(len(cv)-1, int((1-o.FalseFlags)*float64(len(cv))))]
	return &SyntheticDetector{OneClass: m, Threshold: thr, Engines: engines}, nil
}

// synthShrink pulls the one-class covariance towards its diagonal.
const synthShrink = 0.1
