package voice

import (
	"math"
	"math/rand/v2"
	"testing"
)

func sineAudio(hz float64, n int) Audio {
	a := Audio{Samples: make([]float32, n)}
	for i := range a.Samples {
		a.Samples[i] = float32(0.3 * math.Sin(2*math.Pi*hz*float64(i)/Rate))
	}
	return a
}

func midPower(a Audio) float64 {
	var p float64
	for _, v := range a.Samples[len(a.Samples)/4 : 3*len(a.Samples)/4] { // away from the filter's edges
		p += float64(v) * float64(v)
	}
	return p / float64(len(a.Samples)/2)
}

// TestHandset: the augmentation channel keeps the length, is repeatable
// from a seed, adds no noise to silence, passes the speech band and
// takes the band's outside away (averaged over random draws), and is not
// the evaluation's telephone simulator.
func TestHandset(t *testing.T) {
	in := sineAudio(1000, 8000)
	a := Handset(in, rand.New(rand.NewPCG(1, 2)))
	b := Handset(in, rand.New(rand.NewPCG(1, 2)))
	if len(a.Samples) != len(in.Samples) {
		t.Fatalf("length %d, want %d", len(a.Samples), len(in.Samples))
	}
	for i := range a.Samples {
		if a.Samples[i] != b.Samples[i] {
			t.Fatalf("sample %d differs between two runs from one seed", i)
		}
		if math.IsNaN(float64(a.Samples[i])) || math.Abs(float64(a.Samples[i])) > 1 {
			t.Fatalf("sample %d = %v", i, a.Samples[i])
		}
	}
	tel := Telephone(in, rand.New(rand.NewPCG(1, 2)))
	same := 0
	for i := range min(len(tel.Samples), len(a.Samples)) {
		if tel.Samples[i] == a.Samples[i] {
			same++
		}
	}
	if same > len(a.Samples)/10 {
		t.Fatalf("%d of %d samples equal the telephone simulator's", same, len(a.Samples))
	}
	silent := Handset(Audio{Samples: make([]float32, 4000)}, rand.New(rand.NewPCG(3, 3)))
	for i, v := range silent.Samples {
		if v != 0 {
			t.Fatalf("silence came out with sample %d = %v", i, v)
		}
	}
	var low, mid, high float64
	for k := range 40 {
		rng := rand.New(rand.NewPCG(uint64(k), 9))
		low += midPower(Handset(sineAudio(40, 8000), rng))
		rng = rand.New(rand.NewPCG(uint64(k), 9))
		mid += midPower(Handset(sineAudio(1000, 8000), rng))
		rng = rand.New(rand.NewPCG(uint64(k), 9))
		high += midPower(Handset(sineAudio(3980, 8000), rng))
	}
	db := func(x float64) float64 { return 10 * math.Log10(x) }
	t.Logf("mean output power, dB: 40 Hz %.1f, 1 kHz %.1f, 3.98 kHz %.1f", db(low), db(mid), db(high))
	if db(mid)-db(low) < 10 || db(mid)-db(high) < 10 {
		t.Fatalf("band pass too weak: 1 kHz only %.1f dB above 40 Hz and %.1f dB above 3.98 kHz", db(mid)-db(low), db(mid)-db(high))
	}
	for _, name := range []string{"handset", "handset2"} {
		if !KnownChannel(name) {
			t.Fatalf("KnownChannel(%q) = false", name)
		}
		if _, err := Channel(name, in, rand.New(rand.NewPCG(1, 1))); err != nil {
			t.Fatal(err)
		}
	}
	if KnownChannel("handsetx") {
		t.Fatal(`KnownChannel("handsetx") = true`)
	}
}

// TestSubtractNoise: filter energies of quiet frames (a constant floor)
// drop to a tenth, loud frames lose the floor, and the loud frames stand
// further above the quiet ones than before.
func TestSubtractNoise(t *testing.T) {
	const nf, filters = 50, 3
	mels := make([]float64, nf*filters)
	energy := make([]float64, nf)
	for f := range nf {
		for m := range filters {
			mels[f*filters+m] = 2 // noise floor
			if f >= 10 {
				mels[f*filters+m] += 20 * float64(m+1)
			}
		}
		energy[f] = float64(f) // the first frames are the quietest
	}
	subtractNoise(mels, energy, filters, 1)
	for f := range nf {
		for m := range filters {
			want := 0.2
			if f >= 10 {
				want = 20 * float64(m+1)
			}
			if got := mels[f*filters+m]; math.Abs(got-want) > 1e-9 {
				t.Fatalf("frame %d filter %d: %.3f, want %.3f", f, m, got, want)
			}
		}
	}
}
