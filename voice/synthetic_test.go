package voice

import (
	"bytes"
	"encoding/gob"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// buzz is a crude machine voice: a pulse train through two formant
// resonators, pitch gliding from f0 to 1.2·f0 over each word, with a
// relative period jitter and amplitude shimmer (0: perfectly regular, as
// a synthesiser's source). Words of 0.45 s, 60 ms of silence between.
func buzz(words int, f0, jitter, shimmer float64, rng *rand.Rand) Audio {
	var out []float32
	res := func(fc, bw float64) (a1, a2 float64) {
		r := math.Exp(-math.Pi * bw / Rate)
		return 2 * r * math.Cos(2*math.Pi*fc/Rate), -r * r
	}
	for range words {
		n := int(0.45 * Rate)
		src := make([]float64, n)
		next := 0.0
		for next < float64(n-1) {
			// A pulse between samples, split over its two neighbours, so
			// that periods are not rounded to whole samples.
			i, frac := int(next), next-math.Floor(next)
			amp := 1 + shimmer*rng.NormFloat64()
			src[i] += amp * (1 - frac)
			src[i+1] += amp * frac
			f := f0 * (1 + 0.2*next/float64(n))
			next += Rate / f * (1 + jitter*rng.NormFloat64())
		}
		y := src
		for _, fm := range [][2]float64{{600, 80}, {1500, 120}, {2500, 200}} {
			a1, a2 := res(fm[0], fm[1])
			z := make([]float64, n)
			for i := range z {
				z[i] = y[i]
				if i >= 1 {
					z[i] += a1 * z[i-1]
				}
				if i >= 2 {
					z[i] += a2 * z[i-2]
				}
			}
			y = z
		}
		var peak float64
		for _, v := range y {
			peak = math.Max(peak, math.Abs(v))
		}
		for i, v := range y {
			env := math.Min(1, math.Min(float64(i), float64(n-i))/400) // 50 ms fades
			out = append(out, float32(0.3*env*v/peak))
		}
		out = append(out, make([]float32, 480)...)
	}
	return Audio{Samples: out}
}

func featureIndex(t *testing.T, name string) int {
	i := slices.Index(SynthFeatureNames, name)
	if i < 0 {
		t.Fatalf("no feature %q", name)
	}
	return i
}

func TestSynthFeaturesMeasureJitterAndShimmer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	steady := SynthFeatures(buzz(5, 110, 0, 0, rng))
	rough := SynthFeatures(buzz(5, 110, 0.02, 0.15, rng))
	if steady == nil || rough == nil {
		t.Fatal("no features of 2.6 s of voiced audio")
	}
	if len(steady) != len(SynthFeatureNames) {
		t.Fatalf("%d features, %d names", len(steady), len(SynthFeatureNames))
	}
	j, s := featureIndex(t, "jitter"), featureIndex(t, "shimmer")
	// Logs: 2 % jitter must read at least e^1 ≈ 2.7 times the steady one.
	if rough[j]-steady[j] < 1 {
		t.Errorf("jitter: steady %.2f, 2 %% jitter %.2f (log)", steady[j], rough[j])
	}
	if rough[s]-steady[s] < 1 {
		t.Errorf("shimmer: steady %.2f, 15 %% shimmer %.2f (log)", steady[s], rough[s])
	}
	// Level does not matter: the same audio at −20 dB measures the same.
	quiet := buzz(5, 110, 0.02, 0.15, rand.New(rand.NewPCG(1, 2)))
	loud := SynthFeatures(quiet)
	for i := range quiet.Samples {
		quiet.Samples[i] *= 0.1
	}
	q := SynthFeatures(quiet)
	for i := range q {
		if math.Abs(q[i]-loud[i]) > 0.05*math.Max(1, math.Abs(loud[i])) {
			t.Errorf("%s: %.4f at full level, %.4f at −20 dB", SynthFeatureNames[i], loud[i], q[i])
		}
	}
	if SynthFeatures(Audio{Samples: make([]float32, 4000)}) != nil {
		t.Error("features of silence")
	}
	if SynthFeatures(Audio{Samples: make([]float32, 100)}) != nil {
		t.Error("features of 12 ms")
	}
}

// TestSyntheticRegularityFlagsMachineVoice trains the one-class detector
// on five FSDD speakers (repetitions 0–9, clean and telephone) and
// checks the attack: perfectly regular machine "speech", clean and
// through the telephone channel, is flagged; a sixth, unseen speaker's
// strings (repetitions 40–49) mostly are not.
func TestSyntheticRegularityFlagsMachineVoice(t *testing.T) {
	d := loadFSDD(t)
	rng := rand.New(rand.NewPCG(19, 19))
	var human []Utterance
	for _, spk := range []string{"george", "jackson", "lucas", "nicolas", "theo"} {
		for range 8 {
			human = append(human, Utterance{Speaker: spk, Audio: d.digits(spk, 5, 0, 10, rng)})
		}
	}
	det, err := TrainSyntheticRegularity(human, []string{"none"}, DefaultSyntheticOptions())
	if err != nil {
		t.Fatal(err)
	}
	var ff int
	const nReal = 20
	for i := range nReal {
		a := d.digits("yweweler", 5, 40, 50, rng)
		if i%2 == 1 {
			a = Telephone(a, rng)
		}
		if det.Score(a) > det.Threshold {
			ff++
		}
	}
	// 1 % is the aim on many speakers; one unseen speaker's 20 strings
	// vary more than that, so the bound is loose.
	if ff > nReal/5 {
		t.Errorf("unseen real speaker: %d of %d strings flagged (threshold %.2f)", ff, nReal, det.Threshold)
	}
	var flagged int
	const nAtk = 10
	for i := range nAtk {
		a := buzz(5, 95+6*float64(i), 0, 0, rng)
		if i%2 == 1 {
			a = Telephone(a, rng)
		}
		if sc := det.Score(a); sc > det.Threshold {
			flagged++
		} else {
			t.Logf("machine voice %d (f0 %d Hz) scored %.2f, threshold %.2f", i, 95+6*i, sc, det.Threshold)
		}
	}
	if flagged < nAtk*9/10 {
		t.Errorf("machine voice: %d of %d flagged", flagged, nAtk)
	}
	// A gob round trip (how models are stored) keeps the scores.
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(det); err != nil {
		t.Fatal(err)
	}
	var back SyntheticDetector
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	if err := back.check(); err != nil {
		t.Fatal(err)
	}
	a := buzz(5, 120, 0, 0, rng)
	if back.Score(a) != det.Score(a) {
		t.Error("score changed by a gob round trip")
	}
	back.OneClass.Prec = back.OneClass.Prec[:3]
	if back.check() == nil {
		t.Error("check accepted a truncated precision matrix")
	}
	back.OneClass.Prec = slices.Clone(det.OneClass.Prec)
	back.OneClass.Mean[0] = math.NaN()
	if back.check() == nil {
		t.Error("check accepted a NaN mean")
	}
}

func TestTrainSyntheticRegularityRefuses(t *testing.T) {
	a := buzz(5, 110, 0.01, 0.1, rand.New(rand.NewPCG(3, 4)))
	two := []Utterance{{"a", a}, {"a", a}, {"b", a}}
	if _, err := TrainSyntheticRegularity(two, nil, DefaultSyntheticOptions()); err == nil {
		t.Error("trained on two speakers")
	}
	o := DefaultSyntheticOptions()
	o.FalseFlags = 0
	if _, err := TrainSyntheticRegularity(append(two, Utterance{"c", a}), nil, o); err == nil {
		t.Error("accepted a false-flag share of 0")
	}
	o = DefaultSyntheticOptions()
	o.Channels = []string{"radio"}
	if _, err := TrainSyntheticRegularity(append(two, Utterance{"c", a}), nil, o); err == nil {
		t.Error("accepted an unknown channel")
	}
}

func TestSynthLinearAndOneClass(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var h, s [][]float64
	for range 200 {
		h = append(h, []float64{rng.NormFloat64(), rng.NormFloat64()})
		s = append(s, []float64{2 + rng.NormFloat64(), rng.NormFloat64()})
	}
	lin, err := TrainSynthLinear(h, s, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if lin.Score([]float64{3, 0}) <= 0 || lin.Score([]float64{-1, 0}) >= 0 {
		t.Errorf("regression: score(3,0) %.2f, score(-1,0) %.2f", lin.Score([]float64{3, 0}), lin.Score([]float64{-1, 0}))
	}
	oc, err := TrainSynthOneClass(h, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Squared Mahalanobis distance of unit-variance data: ≈ |x|².
	if c, far := oc.Score([]float64{0, 0}), oc.Score([]float64{3, 4}); c > 0.2 || far < 18 || far > 35 {
		t.Errorf("one-class: centre %.2f, (3,4) %.2f (want ≈ 0 and ≈ 25)", c, far)
	}
	if _, err := TrainSynthLinear(h, nil, 0.01); err == nil {
		t.Error("regression without synthetic examples")
	}
	if _, err := TrainSynthOneClass([][]float64{{1, 1}, {1, 1}}, 0); err == nil {
		t.Error("one-class model of a single point")
	}
}

// TestVocodeKeepsLevelAndPitch: the LPC vocoder's output has the input's
// length and (within 3 dB) its energy, and a buzz comes back with its
// period (the strongest autocorrelation lag of the same stretch).
func TestVocodeKeepsLevelAndPitch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	a := buzz(4, 125, 0, 0, rng)
	for _, mixed := range []bool{false, true} {
		v := Vocode(a, mixed, rng)
		if len(v.Samples) != len(a.Samples) {
			t.Fatalf("mixed %v: %d samples from %d", mixed, len(v.Samples), len(a.Samples))
		}
		var e0, e1 float64
		for i := range a.Samples {
			e0 += float64(a.Samples[i]) * float64(a.Samples[i])
			e1 += float64(v.Samples[i]) * float64(v.Samples[i])
		}
		if db := 10 * math.Log10(e1/e0); math.Abs(db) > 3 {
			t.Errorf("mixed %v: level changed by %.1f dB", mixed, db)
		}
		seg, in := make([]float64, 240), make([]float64, 240)
		for i := range seg {
			seg[i] = float64(v.Samples[1000+i])
			in[i] = float64(a.Samples[1000+i])
		}
		want, _ := pitchLag(in)
		if lag, _ := pitchLag(seg); want == 0 || math.Abs(lag-want) > 1 {
			t.Errorf("mixed %v: period %.0f samples, the input's %.0f", mixed, lag, want)
		}
	}
	if v := Vocode(Audio{Samples: make([]float32, 100)}, false, rng); len(v.Samples) != 100 {
		t.Error("a short input changed length")
	}
}

// TestTrainSyntheticVocodedFlagsVocoder: the mixtures trained on five
// FSDD speakers against a buzz "engine" plus their own vocoded copies
// flag an unseen speaker's vocoded strings (the attack: a vocoder the
// buzz does not resemble) and mostly pass that speaker's real strings.
func TestTrainSyntheticVocodedFlagsVocoder(t *testing.T) {
	d := loadFSDD(t)
	rng := rand.New(rand.NewPCG(21, 22))
	var human, synth []Audio
	for _, spk := range []string{"george", "jackson", "lucas", "nicolas", "theo"} {
		for range 6 {
			human = append(human, d.digits(spk, 5, 0, 10, rng))
		}
	}
	for i := range 8 {
		synth = append(synth, buzz(5, 95+8*float64(i), 0, 0, rng))
	}
	det, err := TrainSyntheticVocoded(human, synth, []string{"buzz"}, 8, 19)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(det.Engines, []string{"buzz", "vocoded human speech (LPC)"}) {
		t.Errorf("engines %q", det.Engines)
	}
	const n = 10
	var real, voc int
	for i := range n {
		a := d.digits("yweweler", 5, 40, 50, rng)
		if det.Score(a) > det.Threshold {
			real++
		}
		if det.Score(Vocode(a, i%2 == 0, rng)) > det.Threshold {
			voc++
		}
	}
	if voc < n*7/10 || real > n*3/10 {
		t.Errorf("unseen speaker: %d of %d vocoded and %d of %d real strings flagged (threshold %.2f)", voc, n, real, n, det.Threshold)
	}
	if _, err := TrainSyntheticVocoded(nil, synth, nil, 8, 19); err == nil {
		t.Error("trained without human speech")
	}
}
