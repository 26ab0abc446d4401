package voice

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Stats are additive statistics of some speech: the statistics of two
// segments of one call are their sum (Add), so a caller's voice can be
// accumulated segment by segment.
type Stats struct {
	Frames int       // speech frames (10 ms each)
	Vec    []float32 // backend-specific, additive
}

// Speech is the net speech in seconds.
func (s Stats) Speech() float64 { return float64(s.Frames) * FrameSeconds }

// Add returns s + t. Either may be empty.
func (s Stats) Add(t Stats) Stats {
	if len(s.Vec) == 0 {
		return Stats{Frames: t.Frames, Vec: append([]float32(nil), t.Vec...)}
	}
	out := Stats{Frames: s.Frames + t.Frames, Vec: append([]float32(nil), s.Vec...)}
	if len(t.Vec) == len(out.Vec) {
		for i, v := range t.Vec {
			out.Vec[i] += v
		}
	}
	return out
}

// A Backend turns speech into voiceprints: audio → additive statistics →
// a unit-length embedding. Two embeddings are compared with Score (their
// cosine). The built-in backend is a GMM-UBM with MAP-adapted mean
// supervectors; a neural speaker-embedding model fits the same interface
// (its statistics can be the duration-weighted sum of segment embeddings).
type Backend interface {
	Name() string
	// Stats returns the statistics of the speech in a (after voice
	// activity detection).
	Stats(a Audio) Stats
	// Embed turns statistics into a unit-length embedding.
	Embed(s Stats) []float32
}

// Score compares two embeddings: their dot product (cosine for unit
// vectors). Higher means more alike.
func Score(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(-1)
	}
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float64(s0 + s1 + s2 + s3)
}

// GMMBackend is the built-in backend: MFCC features, a universal
// background model, and the MAP-adapted mean offsets of each component,
// scaled by the component's standard deviation and √weight (a supervector
// whose inner product approximates the GMM-UBM likelihood ratio),
// centred and length-normalised.
type GMMBackend struct {
	Features  FeatureConfig
	UBM       *GMM
	Relevance float64   // MAP relevance factor
	Center    []float32 // mean supervector of the training data, subtracted before normalising
	// Proj, when set, compensates session variability: the centred unit
	// supervector is projected to a shorter embedding (SessionOptions).
	Proj *Projection
	// Nuisance, when set, holds orthonormal directions (rows of the
	// supervector's length) removed from every centred supervector
	// before length normalisation: the directions in which the same
	// speech differs when heard through different channels
	// (TrainOptions.ChannelNAP).
	Nuisance [][]float32

	ext *extractor
}

// Name implements Backend.
func (b *GMMBackend) Name() string { return fmt.Sprintf("gmm-ubm-%d", b.UBM.C) }

func (b *GMMBackend) init() {
	if b.ext == nil {
		b.ext = newExtractor(b.Features)
	}
	if b.UBM.ivar == nil {
		b.UBM.prepare()
	}
}

// Features extracts the backend's features from a.
func (b *GMMBackend) FeaturesOf(a Audio) *Features {
	b.init()
	return b.ext.extract(a)
}

// Stats implements Backend: zeroth- and first-order Baum-Welch statistics.
func (b *GMMBackend) Stats(a Audio) Stats {
	return b.StatsOf(b.FeaturesOf(a))
}

// StatsOf returns the statistics of extracted features.
func (b *GMMBackend) StatsOf(f *Features) Stats {
	b.init()
	g := b.UBM
	C, D := g.C, g.D
	st := Stats{Frames: f.Frames, Vec: make([]float32, C+C*D)}
	post := make([]float64, C)
	n := make([]float64, C)
	fo := make([]float64, C*D)
	for i := range f.Frames {
		x := f.Row(i)
		g.posteriors(x, post)
		for c, p := range post {
			if p < 1e-4 {
				continue
			}
			n[c] += p
			row := fo[c*D : (c+1)*D]
			for d, v := range x {
				row[d] += p * float64(v)
			}
		}
	}
	for c := range C {
		st.Vec[c] = float32(n[c])
	}
	for i, v := range fo {
		st.Vec[C+i] = float32(v)
	}
	return st
}

// Embed implements Backend.
func (b *GMMBackend) Embed(s Stats) []float32 {
	out := b.supervector(s)
	if len(b.Center) == len(out) {
		for i := range out {
			out[i] -= b.Center[i]
		}
	}
	removeDirections(out, b.Nuisance)
	unit(out)
	if b.Proj != nil && b.Proj.In == len(out) {
		out = b.Proj.apply(out)
		unit(out)
	}
	return out
}

// EmbedDim is the length of the backend's embeddings.
func (b *GMMBackend) EmbedDim() int {
	if b.Proj != nil {
		return b.Proj.Out
	}
	return b.UBM.C * b.UBM.D
}

// supervector is the embedding before centring and length normalisation.
func (b *GMMBackend) supervector(s Stats) []float32 {
	b.init()
	g := b.UBM
	C, D := g.C, g.D
	out := make([]float32, C*D)
	if len(s.Vec) != C+C*D {
		return out
	}
	for c := range C {
		n := float64(s.Vec[c])
		k := math.Sqrt(g.Weights[c]) / (n + b.Relevance)
		for d := range D {
			off := float64(s.Vec[C+c*D+d]) - n*g.Means[c*D+d]
			out[c*D+d] = float32(k * off * math.Sqrt(g.ivar[c*D+d]))
		}
	}
	return out
}

func unit(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	k := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= k
	}
}

// Calibration maps normalised scores to log-likelihood ratios and false
// accept rates.
type Calibration struct {
	// LLR = A·score + B (natural log), fitted by logistic regression on
	// target and impostor trials that the background model never saw.
	A, B float64
	// Impostor holds normalised impostor scores, sorted, for thresholds at
	// a stated false-accept rate; ImpMean/ImpStd describe them for rates
	// below what the sample can resolve.
	Impostor        []float32
	ImpMean, ImpStd float64
	Trials          string // where the calibration trials came from
	// ImpN is the number of impostor trials; Tail holds the highest of
	// their scores exactly, highest first (at most 1,000), for
	// thresholds at low false-accept rates. Both are 0/empty in models
	// calibrated before they existed (Threshold then uses Impostor and
	// a Gaussian tail).
	ImpN int
	Tail []float32
	// Speakers and Pairs count the speakers and unordered speaker pairs
	// of the impostor trials (0 when unknown); Bound holds conservative thresholds at
	// a grid of false-accept rates (FitCalibrationPairs), which
	// Threshold uses when present. Calibrations without speaker labels
	// (and models made before these existed) have no Bound: Threshold
	// is then the point estimate.
	Speakers, Pairs int
	Bound           []FARBound
}

// Model is a trained speaker-recognition system: the backend, a cohort of
// impostor embeddings for score normalisation, and the calibration.
type Model struct {
	Version int
	Info    string // training data and licence
	// ID names what voiceprints depend on (features, background model,
	// centre and cohort), so a recalibrated model keeps its enrolments;
	// empty in models trained before it existed.
	ID        string
	Backend   *GMMBackend
	Cohort    [][]float32 // unit embeddings of background speech
	CohortTop int         // adaptive s-norm: the closest N cohort scores
	Calib     Calibration
	// Synthetic flags machine-made speech; nil when the model was
	// trained without synthetic examples.
	Synthetic *SyntheticDetector
	// EnrolHandset is how many Handset copies of every enrolment call
	// are added to its statistics (EnrolStats; TrainOptions.EnrolHandset).
	// 0 in models made before it existed.
	EnrolHandset int
}

// PrintID hashes what a voiceprint depends on: the backend, the cohort,
// the s-norm top-N and the enrolment copies; not the calibration.
func (m *Model) PrintID() string {
	h := sha256.New()
	enc := gob.NewEncoder(h)
	_ = enc.Encode(m.Backend)
	_ = enc.Encode(m.Cohort)
	_ = enc.Encode(m.CohortTop)
	if m.EnrolHandset > 0 { // absent before it existed: older IDs stay
		_ = enc.Encode(m.EnrolHandset)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

const modelMagic = "tollgate-voice-model\n"

// Save writes the model.
func (m *Model) Save(w io.Writer) error {
	if _, err := io.WriteString(w, modelMagic); err != nil {
		return err
	}
	return gob.NewEncoder(w).Encode(m)
}

// SaveFile writes the model to path atomically.
func (m *Model) SaveFile(path string) error {
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadModel reads and checks a model.
func LoadModel(r io.Reader) (*Model, error) {
	magic := make([]byte, len(modelMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != modelMagic {
		return nil, errors.New("voice: not a tollgate voice model (train one with 'tollgate voice train-ubm')")
	}
	var m Model
	if err := gob.NewDecoder(r).Decode(&m); err != nil {
		return nil, fmt.Errorf("voice: reading model: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// LoadModelFile reads a model file.
func LoadModelFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := LoadModel(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func (m *Model) check() error {
	b := m.Backend
	if b == nil || b.UBM == nil {
		return errors.New("voice: model without a background model")
	}
	g := b.UBM
	fc := b.Features
	if fc.Filters < 4 || fc.Filters > 64 || fc.Ceps < 1 || fc.Ceps > fc.Filters || fc.LowHz < 0 || fc.HighHz > Rate/2 || fc.LowHz >= fc.HighHz {
		return errors.New("voice: model has bad feature settings")
	}
	if !(fc.NoiseSub >= 0 && fc.NoiseSub <= 10) {
		return errors.New("voice: model has a bad noise subtraction factor")
	}
	if g.C < 1 || g.C > 4096 || g.D != fc.Dim() || len(g.Weights) != g.C || len(g.Means) != g.C*g.D || len(g.Vars) != g.C*g.D {
		return errors.New("voice: model's background model has inconsistent sizes")
	}
	for _, v := range g.Vars {
		if !(v > 0) || math.IsInf(v, 0) {
			return errors.New("voice: model has a non-positive variance")
		}
	}
	if len(b.Center) != 0 && len(b.Center) != g.C*g.D {
		return errors.New("voice: model's centre has the wrong length")
	}
	for _, v := range b.Nuisance {
		if len(v) != g.C*g.D {
			return errors.New("voice: model's channel directions have the wrong length")
		}
	}
	if p := b.Proj; p != nil {
		if p.In != g.C*g.D || p.Out < 1 || p.Out > p.In || len(p.W) != p.Out*p.In || len(p.Mean) != p.Out {
			return errors.New("voice: model's session projection has inconsistent sizes")
		}
		for _, v := range p.W {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return errors.New("voice: model's session projection is not finite")
			}
		}
	}
	for _, c := range m.Cohort {
		if len(c) != b.EmbedDim() {
			return errors.New("voice: model's cohort has the wrong dimension")
		}
	}
	if d := m.Synthetic; d != nil {
		if err := d.check(); err != nil {
			return err
		}
	}
	if m.EnrolHandset < 0 || m.EnrolHandset > MaxEnrolHandset {
		return fmt.Errorf("voice: model's enrolment copies %d: want 0–%d", m.EnrolHandset, MaxEnrolHandset)
	}
	if m.Calib.A <= 0 || math.IsNaN(m.Calib.B) {
		return errors.New("voice: model has no calibration")
	}
	return nil
}

// removeDirections subtracts from x its components along the orthonormal
// rows of dirs.
func removeDirections(x []float32, dirs [][]float32) {
	for _, v := range dirs {
		if len(v) != len(x) {
			continue
		}
		c := float32(Score(v, x))
		for i := range x {
			x[i] -= c * v[i]
		}
	}
}
