package voice

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// TestChannelNAP trains a small model whose background speech is heard
// clean and through the simulated telephone channel, with two channel
// directions removed: the directions are orthonormal, and held-out digit
// strings and their telephone copies embed closer together with the
// directions removed than on the same model without them.
func TestChannelNAP(t *testing.T) {
	d := loadFSDD(t)
	keys := make([]string, 0, len(d.rec))
	for k := range d.rec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var utts []Utterance
	for _, k := range keys {
		p := strings.Split(k, "_")
		if p[2] < "5" && len(p[2]) == 1 { // repetitions 0–4
			utts = append(utts, Utterance{Speaker: p[1], Audio: d.rec[k]})
		}
	}
	o := DefaultTrainOptions()
	o.GMM = TrainConfig{Components: 16, Iters: 3, VarFloor: 0.01, MaxFrames: 20000}
	o.Channels = []string{"clean", "telephone"}
	o.ChannelNAP = 2
	o.CalibSpeakers = -1
	m, err := Train(utts, o)
	if err != nil {
		t.Fatal(err)
	}
	dirs := m.Backend.Nuisance
	if len(dirs) != 2 {
		t.Fatalf("%d channel directions, want 2", len(dirs))
	}
	for i, a := range dirs {
		for j, b := range dirs {
			want := 0.0
			if i == j {
				want = 1
			}
			if got := Score(a, b); math.Abs(got-want) > 1e-3 {
				t.Fatalf("direction %d·%d = %.4f, want %v", i, j, got, want)
			}
		}
	}
	rng := rand.New(rand.NewPCG(4, 4))
	var with, without float64
	n := 0
	for _, spk := range d.speakers {
		for range 3 {
			a := d.digits(spk, 5, 40, 50, rng)
			clean, tel := m.Backend.Stats(a), m.Backend.Stats(Telephone(a, rng))
			with += Score(m.Backend.Embed(clean), m.Backend.Embed(tel))
			m.Backend.Nuisance = nil
			without += Score(m.Backend.Embed(clean), m.Backend.Embed(tel))
			m.Backend.Nuisance = dirs
			n++
		}
	}
	with /= float64(n)
	without /= float64(n)
	t.Logf("clean·telephone cosine of the same string: %.3f with channel directions removed, %.3f without", with, without)
	if with <= without {
		t.Fatalf("removing channel directions did not bring telephone copies closer: %.3f ≤ %.3f", with, without)
	}
}

// TestWarp: feature warping gives every dimension standard-normal
// quantiles and is unchanged by any increasing map of a dimension (here
// a scale and offset, as a channel's gain does to a cepstrum), which
// CMVN also handles, and a cube, which it does not.
func TestWarp(t *testing.T) {
	const frames, dim = 500, 3
	mk := func(f func(d int, v float64) float64) *Features {
		r := rand.New(rand.NewPCG(6, 6))
		out := &Features{Dim: dim, Frames: frames, Data: make([]float32, frames*dim)}
		for i := range frames {
			for d := range dim {
				out.Data[i*dim+d] = float32(f(d, r.NormFloat64()*float64(d+1)))
			}
		}
		return out
	}
	a := mk(func(_ int, v float64) float64 { return v })
	b := mk(func(d int, v float64) float64 { return 3*v + float64(d) - 7 })
	c := mk(func(_ int, v float64) float64 { return v * v * v })
	warp(a, 300)
	warp(b, 300)
	warp(c, 300)
	for i := range a.Data {
		if a.Data[i] != b.Data[i] || a.Data[i] != c.Data[i] {
			t.Fatalf("value %d: warped %v, after scale/offset %v, after cube %v", i, a.Data[i], b.Data[i], c.Data[i])
		}
	}
	// Shorter than the window, every dimension is a permutation of the
	// n quantiles: mean 0, and the largest value is the (n−0.5)/n one.
	short := &Features{Dim: 1, Frames: 200, Data: append([]float32(nil), a.Data[:200]...)}
	warp(short, 300)
	var s, top float64
	for _, v := range short.Data {
		s += float64(v)
		top = max(top, float64(v))
	}
	if math.Abs(s) > 1e-3 || math.Abs(top-normQuantile(199.5/200)) > 1e-6 {
		t.Fatalf("short utterance: sum %.4f (want 0), largest %.4f (want %.4f)", s, top, normQuantile(199.5/200))
	}
}
