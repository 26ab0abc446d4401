package voice

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// TestSymEig: A·v = λ·v for every pair, and the vectors are orthonormal.
func TestSymEig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	n := 12
	a := newMat(n, n)
	for i := range n {
		for j := i; j < n; j++ {
			a[i][j] = rng.NormFloat64()
			a[j][i] = a[i][j]
		}
	}
	vals, vecs := symEig(a)
	for k := range n {
		for i := range n {
			var s float64
			for j := range n {
				s += a[i][j] * vecs[k][j]
			}
			if math.Abs(s-vals[k]*vecs[k][i]) > 1e-9 {
				t.Fatalf("eigenpair %d, row %d: A·v = %v, λ·v = %v", k, i, s, vals[k]*vecs[k][i])
			}
		}
		for l := range n {
			var d float64
			for i := range n {
				d += vecs[k][i] * vecs[l][i]
			}
			want := 0.0
			if k == l {
				want = 1
			}
			if math.Abs(d-want) > 1e-9 {
				t.Fatalf("v%d·v%d = %v, want %v", k, l, d, want)
			}
		}
	}
}

// TestLearnProjectionRemovesNuisance: points are a speaker offset plus a
// large nuisance along one fixed direction; NAP with one direction
// removes it, so the same speaker's points land together and different
// speakers stay apart; WCCN gives unit within-speaker variance.
func TestLearnProjectionRemovesNuisance(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const dim, spk, per = 40, 8, 30
	nuis := make([]float64, dim)
	for i := range nuis {
		nuis[i] = rng.NormFloat64()
	}
	var xs [][]float32
	var labels []string
	centers := make([][]float64, spk)
	for s := range spk {
		centers[s] = make([]float64, dim)
		for i := range dim {
			centers[s][i] = rng.NormFloat64()
		}
		for range per {
			x := make([]float32, dim)
			k := 5 * rng.NormFloat64()
			for i := range dim {
				x[i] = float32(centers[s][i] + k*nuis[i] + 0.05*rng.NormFloat64())
			}
			xs = append(xs, x)
			labels = append(labels, string(rune('a'+s)))
		}
	}
	p, err := learnProjection(xs, labels, SessionOptions{PCA: 20, NAP: 1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Out != 19 || p.In != dim {
		t.Fatalf("projection %d × %d, want 19 × %d", p.Out, p.In, dim)
	}
	dist := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += float64(a[i]-b[i]) * float64(a[i]-b[i])
		}
		return math.Sqrt(s)
	}
	var within, between float64
	var nw, nb int
	for i := 0; i < len(xs); i += 7 {
		for j := i + 1; j < len(xs); j += 5 {
			d := dist(p.apply(xs[i]), p.apply(xs[j]))
			if labels[i] == labels[j] {
				within += d
				nw++
			} else {
				between += d
				nb++
			}
		}
	}
	within /= float64(nw)
	between /= float64(nb)
	if within*10 > between {
		t.Errorf("after NAP: mean within-speaker distance %.3f, between %.3f; want the nuisance gone", within, between)
	}
	if _, err := learnProjection(xs[:3], labels[:3], SessionOptions{PCA: 2}, 1); err == nil {
		t.Error("three points: no error")
	}
}

// TestTrainWithSessionCompensation: a model trained with a projection
// has embeddings of its output length, survives a save and load with
// the same scores, and a damaged projection is refused on load.
func TestTrainWithSessionCompensation(t *testing.T) {
	d := loadFSDD(t)
	keys := make([]string, 0, len(d.rec))
	for k := range d.rec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var utts []Utterance
	for _, k := range keys {
		parts := strings.Split(k, "_")
		if len(parts[2]) == 1 && parts[2] < "5" { // repetitions 0–4
			utts = append(utts, Utterance{Speaker: parts[1], Audio: d.rec[k]})
		}
	}
	o := DefaultTrainOptions()
	o.GMM = TrainConfig{Components: 8, Iters: 2, MaxFrames: 8000}
	o.Channels = []string{"clean", "alaw"}
	o.CohortSize = 40
	o.JoinSeconds = 2
	o.Session = SessionOptions{PCA: 30, NAP: 2, WCCN: 0.5, CallSeconds: 1}
	m, err := Train(utts, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.Backend.Proj == nil || m.Backend.EmbedDim() != 28 {
		t.Fatalf("embedding length %d, want 28 (PCA 30 less NAP 2)", m.Backend.EmbedDim())
	}
	rng := rand.New(rand.NewPCG(4, 4))
	a := m.Print(m.Backend.Stats(d.digits("theo", 5, 40, 50, rng)))
	b := m.Print(m.Backend.Stats(d.digits("theo", 5, 40, 50, rng)))
	if len(a.Vec) != 28 || len(m.Cohort[0]) != 28 {
		t.Fatalf("voiceprint length %d, cohort %d; want 28", len(a.Vec), len(m.Cohort[0]))
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	raw := buf.Bytes()
	m2, err := LoadModel(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	a2 := m2.Print(m2.Backend.Stats(d.digits("theo", 5, 40, 50, rand.New(rand.NewPCG(4, 4)))))
	if got, want := m2.Compare(a2, b).Normalized, m.Compare(a, b).Normalized; math.Abs(got-want) > 1e-6 {
		t.Errorf("after save and load: score %v, want %v", got, want)
	}
	m2.Backend.Proj.Mean = m2.Backend.Proj.Mean[:3]
	buf.Reset()
	if err := m2.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModel(&buf); err == nil || !strings.Contains(err.Error(), "projection") {
		t.Errorf("damaged projection: %v", err)
	}
	m.Backend.Features.NoiseSub = math.NaN()
	buf.Reset()
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadModel(&buf); err == nil || !strings.Contains(err.Error(), "noise subtraction") {
		t.Errorf("NaN noise subtraction factor: %v", err)
	}
}
