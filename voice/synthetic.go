package voice

import "fmt"

// SyntheticDetector flags speech that sounds machine-made: two mixtures,
// one of human speech and one of text-to-speech output, and the average
// per-frame log-likelihood ratio between them. It is an indicator for
// review, trained on the engines it was shown; docs/benchmarks.md reports
// how it does on engines it was not.
type SyntheticDetector struct {
	Features     FeatureConfig
	Human, Synth *GMM
	// Threshold is the score above which speech is flagged (the equal
	// error point on the training data).
	Threshold float64
	Engines   []string // what the synthetic side was trained on

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
		parallel(len(as), func(i int) { fs[i] = d.ext.extract(as[i]) })
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

// Score is the average per-frame log-likelihood ratio, synthetic over
// human, of the speech in a; higher is more likely synthetic.
func (d *SyntheticDetector) Score(a Audio) float64 {
	if d.ext == nil {
		d.ext = newExtractor(d.Features)
	}
	if d.Human.ivar == nil {
		d.Human.prepare()
	}
	if d.Synth.ivar == nil {
		d.Synth.prepare()
	}
	f := d.ext.extract(a)
	if f.Frames == 0 {
		return 0
	}
	post := make([]float64, max(d.Human.C, d.Synth.C))
	var s float64
	for i := range f.Frames {
		x := f.Row(i)
		s += d.Synth.posteriors(x, post[:d.Synth.C]) - d.Human.posteriors(x, post[:d.Human.C])
	}
	return s / float64(f.Frames)
}
