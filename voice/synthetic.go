package voice

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tollgate-voip/tollgate/internal/par"
)

// SyntheticDetector flags speech that sounds machine-made. It is an
// indicator for review; docs/benchmarks.md reports how it does on engine
// families it never saw. Two kinds:
//
//   - OneClass set (TrainSyntheticRegularity): a model of how irregular
//     human speech is (SynthFeatures); the score is the distance from it.
//   - otherwise (TrainSynthetic): two mixtures, one of human speech and
//     one of text-to-speech output, and the average per-frame
//     log-likelihood ratio between them; it knows the engines it was
//     shown.
type SyntheticDetector struct {
	Features     FeatureConfig
	Human, Synth *GMM
	// OneClass, when set, is the regularity model and Human and Synth
	// are unused.
	OneClass *SynthOneClass
	// Threshold is the score from which speech is flagged (mixtures: the
	// equal error point on the training data until Calibrate sets it on
	// real calls; regularity: the share of left-out training speakers'
	// speech chosen at training).
	Threshold float64
	Engines   []string // what the synthetic side was trained on
	// Extra are the frame measurements appended to the cepstra (mixtures;
	// zero in detectors trained before they existed).
	Extra SynthExtra
	// FalseFlags is the share of real calls Calibrate set the threshold
	// to flag (0: never calibrated), and ThresholdFrom says what set it.
	FalseFlags    float64
	ThresholdFrom string

	ext *extractor
}

// SyntheticFeatures are the detector's features: full band, log energy,
// no per-utterance normalisation (level and spectral balance are part of
// what gives synthesis away).
var SyntheticFeatures = FeatureConfig{Filters: 32, LowHz: 0, HighHz: 4000, Ceps: 24, Deltas: true, LogE: true, VADMarginDB: 9, Norm: "none"}

// TrainSynthetic fits the detector.
func TrainSynthetic(human, synth []Audio, engines []string, components int) (*SyntheticDetector, error) {
	if len(human) == 0 || len(synth) == 0 {
		return nil, fmt.Errorf("voice: synthetic detector needs human and synthetic audio")
	}
	d := &SyntheticDetector{Features: SyntheticFeatures, Engines: engines}
	d.ext = newExtractor(d.Features)
	frames := func(as []Audio) [][]float32 {
		fs := make([]*Features, len(as))
		par.Do(len(as), func(i int) { fs[i] = d.ext.extract(as[i]) })
		var out [][]float32
		for _, f := range fs {
			for i := range f.Frames {
				out = append(out, f.Row(i))
			}
		}
		return out
	}
	var err error
	cfg := TrainConfig{Components: components, Iters: 4, VarFloor: 0.01, MaxFrames: 60000}
	if d.Human, err = TrainGMM(frames(human), cfg); err != nil {
		return nil, err
	}
	if d.Synth, err = TrainGMM(frames(synth), cfg); err != nil {
		return nil, err
	}
	var hs, ss []float64
	for _, a := range human {
		hs = append(hs, d.Score(a))
	}
	for _, a := range synth {
		ss = append(ss, d.Score(a))
	}
	_, d.Threshold = EER(ss, hs)
	return d, nil
}

// TrainSyntheticVocoded is TrainSynthetic with every human recording
// also resynthesised by Vocode (pulse and mixed excitation alternately,
// seeded by seed) and added to the synthetic side: a surrogate machine
// voice that belongs to no engine family, which helped the mixtures on
// families they were not shown (docs/benchmarks.md, issue 19,
// vsyn19b). engines gets "vocoded human speech (LPC)" added.
func TrainSyntheticVocoded(human, synth []Audio, engines []string, components int, seed uint64) (*SyntheticDetector, error) {
	if len(human) == 0 {
		return nil, fmt.Errorf("voice: synthetic detector needs human and synthetic audio")
	}
	rng := rand.New(rand.NewPCG(seed, 0x70c))
	all := slices.Clip(synth)
	for i, a := range human {
		all = append(all, Vocode(a, i%2 == 1, rng))
	}
	return TrainSynthetic(human, all, append(slices.Clip(engines), "vocoded human speech (LPC)"), components)
}

// Score is higher for speech more likely synthetic: the regularity
// model's distance from human speech, or the mixtures' average per-frame
// log-likelihood ratio, synthetic over human.
func (d *SyntheticDetector) Score(a Audio) float64 {
	s, _ := d.score(a)
	return s
}

// score is Score and whether a had speech to score (false: the score is
// 0).
func (d *SyntheticDetector) score(a Audio) (float64, bool) {
	if d.OneClass != nil {
		// Too little voiced speech to measure: 0, the score of speech
		// exactly like the human average, never flagged.
		v := SynthFeatures(a)
		if v == nil || len(v) != len(d.OneClass.Mean) {
			return 0, false
		}
		return d.OneClass.Score(v), true
	}
	d.ready()
	return d.ScoreFrames(d.frames(a))
}

// ScoreFrames is Score of a mixture detector on the recording's frames
// (SyntheticFrames with the detector's Features and Extra); false when
// there are none, or the detector is the regularity model.
func (d *SyntheticDetector) ScoreFrames(f *Features) (float64, bool) {
	if d.OneClass != nil {
		return 0, false
	}
	d.ready()
	if f.Frames == 0 || f.Dim != d.Human.D {
		return 0, false
	}
	post := make([]float64, max(d.Human.C, d.Synth.C))
	var s float64
	for i := range f.Frames {
		x := f.Row(i)
		s += d.Synth.posteriors(x, post[:d.Synth.C]) - d.Human.posteriors(x, post[:d.Human.C])
	}
	return s / float64(f.Frames), true
}

// ready prepares a loaded mixture detector for scoring; calling it
// once before scoring from several goroutines avoids a race on that
// preparation.
func (d *SyntheticDetector) ready() {
	if d.OneClass != nil {
		return
	}
	if d.ext == nil {
		d.ext = newExtractor(d.Features)
	}
	if d.Human.ivar == nil {
		d.Human.prepare()
	}
	if d.Synth.ivar == nil {
		d.Synth.prepare()
	}
}

// check validates a loaded detector.
func (d *SyntheticDetector) check() error {
	if math.IsNaN(d.Threshold) || !(d.FalseFlags >= 0 && d.FalseFlags < 0.5) {
		return errors.New("voice: model's synthetic-voice detector has a bad threshold")
	}
	if m := d.OneClass; m != nil {
		n := len(m.Mean)
		if n != len(SynthFeatureNames) || len(m.Prec) != n*n {
			return errors.New("voice: model's synthetic-voice detector has inconsistent sizes")
		}
		for _, v := range append(append([]float64(nil), m.Mean...), m.Prec...) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return errors.New("voice: model's synthetic-voice detector is not finite")
			}
		}
		return nil
	}
	for _, g := range []*GMM{d.Human, d.Synth} {
		if g == nil || g.D != d.Features.Dim()+d.Extra.dim(d.Features) || len(g.Means) != g.C*g.D || len(g.Vars) != g.C*g.D || len(g.Weights) != g.C {
			return errors.New("voice: model's synthetic-voice detector has inconsistent sizes")
		}
		for _, v := range g.Vars {
			if !(v > 0) {
				return errors.New("voice: model's synthetic-voice detector has a non-positive variance")
			}
		}
	}
	return nil
}
