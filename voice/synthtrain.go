package voice

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tollgate-voip/tollgate/internal/par"
)

// SynthExtra selects frame measurements the mixture detector appends to
// its cepstra (SyntheticDetector.Extra). The zero value adds nothing, as
// in detectors trained before it existed.
type SynthExtra struct {
	// Accel appends the second differences (regression over ±2 speech
	// frames) of the cepstral deltas: how smoothly the spectral envelope
	// moves from frame to frame, which a band limit and a codec change
	// much less than the envelope itself.
	Accel bool
	// Periodicity appends the frame's peak normalised autocorrelation at
	// pitch lags (60–400 Hz, 40 ms window) and its change from the
	// previous speech frame: how strictly periodic the excitation is
	// (framePeriodicity).
	Periodicity bool
	// LoudDB, above 0, keeps only the speech frames whose energy is
	// within LoudDB dB of the recording's loud frames (its 98th
	// percentile), after the deltas and the measurements above are
	// taken: quiet frames, which line noise covers first, are neither
	// trained on nor scored.
	LoudDB float64
}

// dim is how many values e appends to a frame of c.
func (e SynthExtra) dim(c FeatureConfig) int {
	n := 0
	if e.Accel && c.Deltas {
		n += c.Dim() / 2
	}
	if e.Periodicity {
		n += 2
	}
	return n
}

// SyntheticTelephoneFeatures are cepstra of the telephone band only
// (300–3400 Hz), normalised per utterance (mean and variance): what a
// band limit, a handset's response and a codec leave of the spectrum.
var SyntheticTelephoneFeatures = FeatureConfig{Filters: 24, LowHz: 300, HighHz: 3400, Ceps: 16, Deltas: true, LogE: true, VADMarginDB: 9, Norm: "cmvn"}

// SyntheticTrainOptions configure TrainSyntheticMix.
type SyntheticTrainOptions struct {
	Features   FeatureConfig
	Extra      SynthExtra
	Components int
	// Vocoded adds every human training recording, resynthesised by
	// Vocode, to the synthetic side (see TrainSyntheticVocoded).
	Vocoded bool
	// Handset copies: every training recording, human, vocoded and
	// synthetic, is also heard through this many independent Handset
	// channels (never Telephone, the channel evaluations test through).
	Handset int
	// Speeds: every human training recording is also heard at these
	// speeds (Speed: pitch and formants shifted together, 0.8–1.25), as
	// if by more speakers than there are, before the vocoded and
	// Handset copies are made. Empty: none.
	Speeds []float64
	Seed   uint64
}

// DefaultSyntheticTrainOptions is what 'voice train-ubm -synthetic'
// trains: the full-band front end of TrainSynthetic with both SynthExtra
// measurements, the vocoded surrogate, and two Handset copies of every
// training recording. Of the settings measured leaving one engine family
// out (docs/benchmarks.md, issue 19, vsyn19c) it had the lowest equal
// error rate through the telephone channel on every family and the
// fewest false flags on speakers other than those that set its
// threshold, short of the telephone-band front end
// (SyntheticTelephoneFeatures), which caught much less.
func DefaultSyntheticTrainOptions() SyntheticTrainOptions {
	return SyntheticTrainOptions{Features: SyntheticFeatures, Extra: SynthExtra{Accel: true, Periodicity: true}, Components: 32, Vocoded: true, Handset: 2, Seed: 19}
}

// TrainSyntheticMix fits the mixture detector with the options' front
// end and channel copies. Its Threshold is the equal error point on the
// training data, which does not carry over to other speakers' calls:
// set it with Calibrate on real calls the detector never saw.
func TrainSyntheticMix(human, synth []Audio, engines []string, o SyntheticTrainOptions) (*SyntheticDetector, error) {
	if len(human) == 0 || (len(synth) == 0 && !o.Vocoded) {
		return nil, errors.New("voice: synthetic detector needs human and synthetic audio")
	}
	if o.Handset < 0 || o.Handset > 8 {
		return nil, fmt.Errorf("voice: synthetic detector: %d handset copies, want 0–8", o.Handset)
	}
	for _, f := range o.Speeds {
		if !(f >= 0.8 && f <= 1.25) {
			return nil, fmt.Errorf("voice: synthetic detector: speed %g outside 0.8–1.25", f)
		}
	}
	if o.Components < 1 {
		o.Components = 32
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5e7))
	orig := slices.Clip(human)
	for _, f := range o.Speeds {
		for _, a := range orig {
			human = append(human, Speed(a, f))
		}
	}
	human = slices.Clip(human)
	syn := slices.Clip(synth)
	if o.Vocoded {
		for i, a := range human {
			syn = append(syn, Vocode(a, i%2 == 1, rng))
		}
		engines = append(slices.Clip(engines), "vocoded human speech (LPC)")
	}
	copies := func(as []Audio) []Audio {
		out := slices.Clip(as)
		for range o.Handset {
			for _, a := range as {
				out = append(out, Handset(a, rng))
			}
		}
		return out
	}
	human, syn = copies(human), copies(syn)
	return TrainSyntheticFrames(SyntheticFrames(o.Features, o.Extra, human), SyntheticFrames(o.Features, o.Extra, syn), o, engines)
}

// SyntheticFrames are the mixture detector's feature frames of each
// recording for the front end fc and extra (what TrainSyntheticFrames
// and ScoreFrames take), computed in parallel.
func SyntheticFrames(fc FeatureConfig, extra SynthExtra, as []Audio) []*Features {
	d := &SyntheticDetector{Features: fc, Extra: extra, ext: newExtractor(fc)}
	out := make([]*Features, len(as))
	par.Do(len(as), func(i int) { out[i] = d.frames(as[i]) })
	return out
}

// TrainSyntheticFrames fits the mixtures on frames from SyntheticFrames
// (o.Features and o.Extra), one entry a recording; the threshold is the
// equal error point on them. TrainSyntheticMix makes the channel copies
// and vocoded recordings first; this is the part after.
func TrainSyntheticFrames(human, synth []*Features, o SyntheticTrainOptions, engines []string) (*SyntheticDetector, error) {
	if len(human) == 0 || len(synth) == 0 {
		return nil, errors.New("voice: synthetic detector needs human and synthetic audio")
	}
	if o.Components < 1 {
		o.Components = 32
	}
	d := &SyntheticDetector{Features: o.Features, Extra: o.Extra, Engines: engines}
	rows := func(fs []*Features) [][]float32 {
		var out [][]float32
		for _, f := range fs {
			for i := range f.Frames {
				out = append(out, f.Row(i))
			}
		}
		return out
	}
	var err error
	cfg := TrainConfig{Components: o.Components, Iters: 4, VarFloor: 0.01, MaxFrames: 60000}
	if d.Human, err = TrainGMM(rows(human), cfg); err != nil {
		return nil, err
	}
	if d.Synth, err = TrainGMM(rows(synth), cfg); err != nil {
		return nil, err
	}
	d.ready()
	scores := func(fs []*Features) []float64 {
		out := make([]float64, 0, len(fs))
		for _, f := range fs {
			if s, ok := d.ScoreFrames(f); ok {
				out = append(out, s)
			}
		}
		return out
	}
	_, d.Threshold = EER(scores(synth), scores(human))
	if math.IsNaN(d.Threshold) {
		return nil, errors.New("voice: synthetic detector: no speech in the training recordings")
	}
	d.ThresholdFrom = "equal error point on the training recordings (uncalibrated)"
	return d, nil
}

// frames is the detector's feature frames of a: the cepstra of Features
// and the Extra measurements.
func (d *SyntheticDetector) frames(a Audio) (out *Features) {
	f := d.ext.extract(a)
	if d.Extra == (SynthExtra{}) || f.Frames == 0 {
		return f
	}
	if d.Extra.LoudDB > 0 {
		defer func() { out = d.loudOnly(a, out) }()
	}
	base := f.Dim
	dim := base + d.Extra.dim(d.Features)
	out = &Features{Dim: dim, Frames: f.Frames, Total: f.Total, Data: make([]float32, f.Frames*dim)}
	for i := range f.Frames {
		copy(out.Data[i*dim:], f.Row(i))
	}
	col := base
	if d.Extra.Accel && d.Features.Deltas {
		half := base / 2
		for i := range f.Frames {
			for j := range half {
				var num float64
				for k := 1; k <= 2; k++ {
					a := f.Data[min(i+k, f.Frames-1)*base+half+j]
					b := f.Data[max(i-k, 0)*base+half+j]
					num += float64(k) * float64(a-b)
				}
				out.Data[i*dim+col+j] = float32(num / 10)
			}
		}
		col += half
	}
	if d.Extra.Periodicity {
		per := framePeriodicity(a.Samples, d.speechMask(a))
		for i := range f.Frames {
			if i < len(per) {
				out.Data[i*dim+col] = float32(per[i])
				if i > 0 {
					out.Data[i*dim+col+1] = float32(per[i] - per[i-1])
				}
			}
		}
	}
	return out
}

// loudOnly keeps the frames of f (the speech frames of a, in order)
// within Extra.LoudDB of the loud ones; f unchanged when its frames do
// not match the voice activity decision.
func (d *SyntheticDetector) loudOnly(a Audio, f *Features) *Features {
	energy := frameEnergies(a.Samples)
	var en []float64
	for i, sp := range d.speechMask(a) {
		if sp {
			en = append(en, energy[i])
		}
	}
	if len(en) != f.Frames || f.Frames == 0 {
		return f
	}
	s := slices.Clone(en)
	slices.Sort(s)
	thr := s[len(s)*98/100] - d.Extra.LoudDB
	out := &Features{Dim: f.Dim, Total: f.Total}
	for i, e := range en {
		if e >= thr {
			out.Data = append(out.Data, f.Row(i)...)
			out.Frames++
		}
	}
	return out
}

// speechMask repeats the extractor's voice activity decision on a.
func (d *SyntheticDetector) speechMask(a Audio) []bool {
	energy := frameEnergies(a.Samples)
	if d.Features.VADHangover > 0 {
		return vadAdaptive(energy, d.Features.VADMarginDB, d.Features.VADHangover)
	}
	return vad(energy, d.Features.VADMarginDB)
}

// framePeriodicity returns, for each frame marked in speech (in order),
// the peak normalised autocorrelation of the 40 ms around the frame's
// centre at lags of 60–400 Hz, measured on the signal averaged in pairs
// of samples (4 kHz: a quarter of the work, the pitch harmonics kept).
func framePeriodicity(x []float32, speech []bool) []float64 {
	const (
		win    = sfWin / 2
		minLag = sfMinLag / 2
		maxLag = sfMaxLag / 2
	)
	y := make([]float64, len(x)/2)
	for i := range y {
		y[i] = float64(x[2*i]) + float64(x[2*i+1])
	}
	var out []float64
	for f, sp := range speech {
		if !sp {
			continue
		}
		s := (f*frameHop+frameLen/2)/2 - win/2
		s = min(max(s, 0), len(y)-win-maxLag)
		if s < 0 {
			out = append(out, 0)
			continue
		}
		var e0 float64
		for _, v := range y[s : s+win] {
			e0 += v * v
		}
		best := 0.0
		for lag := minLag; lag <= maxLag; lag++ {
			var num, e1 float64
			for i := s; i < s+win; i++ {
				num += y[i] * y[i+lag]
				e1 += y[i+lag] * y[i+lag]
			}
			if den := math.Sqrt(e0 * e1); den > 1e-12 {
				best = math.Max(best, num/den)
			}
		}
		out = append(out, best)
	}
	return out
}

// Calibrate sets the detector's threshold so that a share falseFlags of
// the real calls (speech of people, heard through the channel the
// detector will see, of speakers it was not trained on) would be
// flagged: the (1 − falseFlags) quantile of their scores, taken one
// order statistic higher so that it errs towards fewer false flags. It
// needs at least 1/falseFlags calls with measurable speech and reports
// what set the threshold in ThresholdFrom.
func (d *SyntheticDetector) Calibrate(real []Audio, falseFlags float64, from string) error {
	if !(falseFlags > 0 && falseFlags < 0.5) {
		return fmt.Errorf("voice: synthetic calibration: false-flag share %g outside (0, 0.5)", falseFlags)
	}
	d.ready()
	scores := make([]float64, len(real))
	ok := make([]bool, len(real))
	par.Do(len(real), func(i int) { scores[i], ok[i] = d.score(real[i]) })
	var s []float64
	for i, v := range scores {
		if ok[i] {
			s = append(s, v)
		}
	}
	return d.CalibrateScores(s, falseFlags, from)
}

// CalibrateScores is Calibrate on the scores of real calls already
// scored (calls without speech left out).
func (d *SyntheticDetector) CalibrateScores(s []float64, falseFlags float64, from string) error {
	if !(falseFlags > 0 && falseFlags < 0.5) {
		return fmt.Errorf("voice: synthetic calibration: false-flag share %g outside (0, 0.5)", falseFlags)
	}
	need := int(math.Ceil(1 / falseFlags))
	if len(s) < need {
		return fmt.Errorf("voice: synthetic calibration: %d calls with speech, need at least %d for %g %% false flags", len(s), need, 100*falseFlags)
	}
	d.Threshold = synthQuantile(s, falseFlags)
	d.FalseFlags = falseFlags
	d.ThresholdFrom = fmt.Sprintf("%s: %d real calls, %g %% false flags", from, len(s), 100*falseFlags)
	return nil
}

// synthQuantile is the score above which a share f of s lies, rounded
// towards fewer flags: just above the ⌈n(1 − f)⌉-th smallest of the n
// scores, so at most ⌊n·f⌋ of them reach it.
func synthQuantile(s []float64, f float64) float64 {
	s = slices.Clone(s)
	slices.Sort(s)
	k := int(math.Ceil(float64(len(s))*(1-f))) - 1
	return math.Nextafter(s[min(max(k, 0), len(s)-1)], math.Inf(1))
}

// Recalibrated is a copy of the detector with Calibrate applied, so a
// detector in use is never changed under its readers.
func (d *SyntheticDetector) Recalibrated(real []Audio, falseFlags float64, from string) (*SyntheticDetector, error) {
	c := *d
	if err := c.Calibrate(real, falseFlags, from); err != nil {
		return nil, err
	}
	return &c, nil
}
