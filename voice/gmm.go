package voice

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// GMM is a Gaussian mixture with diagonal covariances.
type GMM struct {
	C, D    int
	Weights []float64
	Means   []float64 // C × D
	Vars    []float64 // C × D
	// derived
	ivar  []float64 // 1/var
	lnorm []float64 // log w − ½Σlog(2π var)
}

func (g *GMM) prepare() {
	g.ivar = make([]float64, g.C*g.D)
	g.lnorm = make([]float64, g.C)
	for c := range g.C {
		s := math.Log(math.Max(g.Weights[c], 1e-300))
		for d := range g.D {
			v := g.Vars[c*g.D+d]
			g.ivar[c*g.D+d] = 1 / v
			s -= 0.5 * math.Log(2*math.Pi*v)
		}
		g.lnorm[c] = s
	}
}

// posteriors fills post (length C) with the responsibilities of each
// component for x and returns log p(x).
func (g *GMM) posteriors(x []float32, post []float64) float64 {
	best := math.Inf(-1)
	for c := range g.C {
		m := g.Means[c*g.D : (c+1)*g.D]
		iv := g.ivar[c*g.D : (c+1)*g.D]
		var s float64
		for d, v := range x {
			t := float64(v) - m[d]
			s += t * t * iv[d]
		}
		l := g.lnorm[c] - 0.5*s
		post[c] = l
		if l > best {
			best = l
		}
	}
	var sum float64
	for c := range g.C {
		p := math.Exp(post[c] - best)
		post[c] = p
		sum += p
	}
	for c := range g.C {
		post[c] /= sum
	}
	return best + math.Log(sum)
}

// TrainConfig sets up GMM training.
type TrainConfig struct {
	Components int     // power of two
	Iters      int     // EM iterations after each split
	VarFloor   float64 // floor on variances, as a fraction of the global variance
	MaxFrames  int     // frames used (evenly subsampled)
}

// TrainGMM fits a diagonal GMM to the frames by binary splitting and EM.
func TrainGMM(frames [][]float32, cfg TrainConfig) (*GMM, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("voice: no training frames")
	}
	if cfg.Components < 1 || cfg.Components&(cfg.Components-1) != 0 {
		return nil, fmt.Errorf("voice: components must be a power of two, got %d", cfg.Components)
	}
	if cfg.Iters == 0 {
		cfg.Iters = 5
	}
	if cfg.VarFloor == 0 {
		cfg.VarFloor = 0.01
	}
	if cfg.MaxFrames > 0 && len(frames) > cfg.MaxFrames {
		sub := make([][]float32, cfg.MaxFrames)
		for i := range sub {
			sub[i] = frames[int(int64(i)*int64(len(frames))/int64(cfg.MaxFrames))]
		}
		frames = sub
	}
	if len(frames) < 4*cfg.Components {
		return nil, fmt.Errorf("voice: %d training frames are too few for %d components", len(frames), cfg.Components)
	}
	D := len(frames[0])
	g := &GMM{C: 1, D: D, Weights: []float64{1}, Means: make([]float64, D), Vars: make([]float64, D)}
	for _, x := range frames {
		for d, v := range x {
			g.Means[d] += float64(v)
		}
	}
	for d := range D {
		g.Means[d] /= float64(len(frames))
	}
	for _, x := range frames {
		for d, v := range x {
			t := float64(v) - g.Means[d]
			g.Vars[d] += t * t
		}
	}
	floor := make([]float64, D)
	for d := range D {
		g.Vars[d] /= float64(len(frames))
		floor[d] = cfg.VarFloor * g.Vars[d]
	}
	for {
		for range cfg.Iters {
			g.em(frames, floor)
		}
		if g.C >= cfg.Components {
			break
		}
		g.split()
	}
	g.prepare()
	return g, nil
}

// split doubles the components, moving each pair of means ±0.2 σ apart
// along every dimension.
func (g *GMM) split() {
	C, D := g.C, g.D
	w := make([]float64, 2*C)
	m := make([]float64, 2*C*D)
	v := make([]float64, 2*C*D)
	for c := range C {
		w[2*c], w[2*c+1] = g.Weights[c]/2, g.Weights[c]/2
		for d := range D {
			sd := math.Sqrt(g.Vars[c*D+d])
			m[2*c*D+d] = g.Means[c*D+d] - 0.2*sd
			m[(2*c+1)*D+d] = g.Means[c*D+d] + 0.2*sd
			v[2*c*D+d] = g.Vars[c*D+d]
			v[(2*c+1)*D+d] = g.Vars[c*D+d]
		}
	}
	g.C, g.Weights, g.Means, g.Vars = 2*C, w, m, v
}

// em runs one EM iteration over the frames in parallel.
func (g *GMM) em(frames [][]float32, floor []float64) {
	g.prepare()
	C, D := g.C, g.D
	workers := max(1, runtime.GOMAXPROCS(0))
	type acc struct{ n, f, s []float64 }
	accs := make([]acc, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			a := acc{make([]float64, C), make([]float64, C*D), make([]float64, C*D)}
			post := make([]float64, C)
			for i := w; i < len(frames); i += workers {
				x := frames[i]
				g.posteriors(x, post)
				for c, p := range post {
					if p < 1e-5 {
						continue
					}
					a.n[c] += p
					f := a.f[c*D : (c+1)*D]
					s := a.s[c*D : (c+1)*D]
					for d, v := range x {
						pv := p * float64(v)
						f[d] += pv
						s[d] += pv * float64(v)
					}
				}
			}
			accs[w] = a
		}(w)
	}
	wg.Wait()
	n := accs[0].n
	f, s := accs[0].f, accs[0].s
	for _, a := range accs[1:] {
		for i := range n {
			n[i] += a.n[i]
		}
		for i := range f {
			f[i] += a.f[i]
			s[i] += a.s[i]
		}
	}
	total := float64(len(frames))
	for c := range C {
		if n[c] < 1e-3 {
			continue // keep a starved component as it was
		}
		g.Weights[c] = n[c] / total
		for d := range D {
			mu := f[c*D+d] / n[c]
			g.Means[c*D+d] = mu
			g.Vars[c*D+d] = math.Max(s[c*D+d]/n[c]-mu*mu, floor[d])
		}
	}
	var ws float64
	for _, w := range g.Weights {
		ws += w
	}
	for c := range g.Weights {
		g.Weights[c] /= ws
	}
}
