package voice

import (
	"bytes"
	"encoding/gob"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSynthQuantile(t *testing.T) {
	var s []float64
	for i := range 200 {
		s = append(s, float64((i*37)%200)) // 0…199, shuffled
	}
	for _, c := range []struct {
		f    float64
		flag int
	}{{0.01, 2}, {0.05, 10}, {0.1, 20}, {0.003, 0}} {
		thr := synthQuantile(s, c.f)
		n := 0
		for _, v := range s {
			if v >= thr {
				n++
			}
		}
		if n != c.flag {
			t.Errorf("share %g: %d of 200 reach the threshold %g; want %d", c.f, n, thr, c.flag)
		}
	}
	// Ties: nothing may be flagged when every score is the same.
	same := []float64{3, 3, 3, 3, 3, 3, 3, 3, 3, 3}
	if thr := synthQuantile(same, 0.1); thr <= 3 {
		t.Errorf("equal scores: threshold %g flags them all", thr)
	}
}

func TestFramePeriodicity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := buzz(3, 110, 0, 0, rng)
	noise := Audio{Samples: make([]float32, len(a.Samples))}
	for i := range noise.Samples {
		noise.Samples[i] = float32(0.1 * rng.NormFloat64())
	}
	all := make([]bool, len(frameEnergies(a.Samples)))
	for i := range all {
		all[i] = true
	}
	med := func(x []float64) float64 { return median(append([]float64(nil), x...)) }
	pv, pn := framePeriodicity(a.Samples, all), framePeriodicity(noise.Samples, all)
	if len(pv) != len(all) || len(pn) != len(all) {
		t.Fatalf("%d and %d values for %d frames", len(pv), len(pn), len(all))
	}
	if mv, mn := med(pv), med(pn); mv < 0.8 || mn > 0.5 {
		t.Errorf("median periodicity: pulse train %.2f (want ≥ 0.8), white noise %.2f (want ≤ 0.5)", mv, mn)
	}
	// Only the marked frames, in order.
	some := make([]bool, len(all))
	some[3], some[10] = true, true
	if got := framePeriodicity(a.Samples, some); len(got) != 2 || got[0] != pv[3] || got[1] != pv[10] {
		t.Errorf("frames 3 and 10: %v, want %v %v", got, pv[3], pv[10])
	}
	// Audio shorter than the analysis window: zeros, no panic.
	if got := framePeriodicity(a.Samples[:100], []bool{true}); len(got) != 1 || got[0] != 0 {
		t.Errorf("short audio: %v", got)
	}
}

// The telephone-band detector with its extra measurements and Handset
// training copies flags a machine voice it never saw through the
// telephone channel (which it was not trained on) at a threshold set on other real speakers, and
// keeps a third real speaker's false flags low.
func TestTrainSyntheticMixCalibrated(t *testing.T) {
	d := loadFSDD(t)
	rng := rand.New(rand.NewPCG(23, 24))
	var human, synth []Audio
	for _, spk := range []string{"george", "jackson", "lucas"} {
		for range 6 {
			human = append(human, d.digits(spk, 5, 0, 10, rng))
		}
	}
	// The engine seen in training: a buzz at 100–160 Hz with a little
	// jitter; the one tested: a perfectly regular buzz at 180–230 Hz.
	for i := range 8 {
		synth = append(synth, buzz(5, 100+8*float64(i), 0.005, 0.02, rng))
	}
	o := DefaultSyntheticTrainOptions()
	o.Features, o.Extra = SyntheticTelephoneFeatures, SynthExtra{Accel: true, Periodicity: true}
	o.Components, o.Handset = 8, 1
	det, err := TrainSyntheticMix(human, synth, []string{"buzz"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if det.FalseFlags != 0 || !strings.Contains(det.ThresholdFrom, "uncalibrated") {
		t.Errorf("fresh detector: false flags %g, threshold from %q", det.FalseFlags, det.ThresholdFrom)
	}
	var cal []Audio
	for _, spk := range []string{"nicolas", "theo"} {
		for range 10 {
			cal = append(cal, Telephone(d.digits(spk, 5, 0, 50, rng), rng))
		}
	}
	before := det.Threshold
	if err := det.Calibrate(cal[:9], 0.1, "test"); err == nil || !strings.Contains(err.Error(), "need at least 10") {
		t.Errorf("9 calls at 10 %%: %v", err)
	}
	if err := det.Calibrate(cal, 0, "test"); err == nil {
		t.Error("calibrated at 0 % false flags")
	}
	if det.Threshold != before {
		t.Error("a refused calibration changed the threshold")
	}
	cd, err := det.Recalibrated(cal, 0.1, "two speakers")
	if err != nil {
		t.Fatal(err)
	}
	if det.Threshold != before || cd.FalseFlags != 0.1 || !strings.Contains(cd.ThresholdFrom, "two speakers: 20 real calls") {
		t.Errorf("recalibrated: original threshold %g → %g; copy %g, from %q", before, det.Threshold, cd.FalseFlags, cd.ThresholdFrom)
	}
	var ff, hit int
	const n = 12
	for i := range n {
		if cd.Score(Telephone(d.digits("yweweler", 5, 0, 50, rng), rng)) >= cd.Threshold {
			ff++
		}
		if cd.Score(Telephone(buzz(5, 180+4*float64(i), 0, 0, rng), rng)) >= cd.Threshold {
			hit++
		}
	}
	if ff > n/3 || hit < n*2/3 {
		t.Errorf("through the telephone channel: %d of %d real strings of an unseen speaker and %d of %d unseen machine voices flagged", ff, n, hit, n)
	}
	// Stored and loaded (as in a model file), it scores the same; a
	// detector whose extra measurements do not match its mixtures is
	// refused.
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(cd); err != nil {
		t.Fatal(err)
	}
	var back SyntheticDetector
	if err := gob.NewDecoder(&buf).Decode(&back); err != nil {
		t.Fatal(err)
	}
	if err := back.check(); err != nil {
		t.Fatal(err)
	}
	if a := cal[0]; back.Score(a) != cd.Score(a) || back.Threshold != cd.Threshold || back.ThresholdFrom != cd.ThresholdFrom {
		t.Error("a gob round trip changed the detector")
	}
	back.Extra.Periodicity = false
	if back.check() == nil {
		t.Error("check accepted mixtures of the wrong dimension")
	}
	back.Extra.Periodicity = true
	back.Threshold = math.NaN()
	if back.check() == nil {
		t.Error("check accepted a NaN threshold")
	}
	if _, err := TrainSyntheticMix(human, nil, nil, SyntheticTrainOptions{Features: SyntheticFeatures}); err == nil {
		t.Error("trained with no synthetic side")
	}
	if _, err := TrainSyntheticMix(human, synth, nil, SyntheticTrainOptions{Features: SyntheticFeatures, Handset: 9}); err == nil {
		t.Error("trained with 9 handset copies")
	}
}

// LoudDB drops the quiet speech frames, after the measurements are
// taken, and leaves the loud ones as they were.
func TestSynthLoudFrames(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	loud := buzz(1, 120, 0, 0, rng)
	quiet := buzz(1, 120, 0, 0, rng)
	for i := range quiet.Samples {
		quiet.Samples[i] *= 0.03 // −30 dB
	}
	a := Audio{Samples: append(append([]float32(nil), loud.Samples...), quiet.Samples...)}
	ex := SynthExtra{Accel: true, Periodicity: true}
	all := SyntheticFrames(SyntheticFeatures, ex, []Audio{a})[0]
	ex.LoudDB = 15
	kept := SyntheticFrames(SyntheticFeatures, ex, []Audio{a})[0]
	if all.Frames < 40 || kept.Frames < all.Frames/3 || kept.Frames > all.Frames*2/3 || kept.Dim != all.Dim {
		t.Fatalf("%d of %d frames kept (dim %d, %d); want about the loud half", kept.Frames, all.Frames, kept.Dim, all.Dim)
	}
	// The kept frames are the first (loud) ones, values unchanged.
	for i := 5; i < kept.Frames-5; i++ {
		for j, v := range kept.Row(i) {
			if v != all.Row(i)[j] {
				t.Fatalf("frame %d value %d: %g, was %g", i, j, v, all.Row(i)[j])
			}
		}
	}
}

func TestSyntheticTrainSpeeds(t *testing.T) {
	o := DefaultSyntheticTrainOptions()
	o.Speeds = []float64{0.9, 1.5}
	a := buzz(1, 120, 0, 0, rand.New(rand.NewPCG(1, 1)))
	if _, err := TrainSyntheticMix([]Audio{a}, []Audio{a}, nil, o); err == nil || !strings.Contains(err.Error(), "speed 1.5") {
		t.Errorf("speed 1.5: %v, want refused", err)
	}
}
