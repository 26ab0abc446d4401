package voice

import (
	"math"
	"math/cmplx"
	"sort"
)

// FeatureConfig fixes how audio becomes feature vectors. It is stored with
// the model: a model only works on the features it was trained on.
type FeatureConfig struct {
	Filters     int     // mel filters
	LowHz       float64 // lowest filter edge
	HighHz      float64 // highest filter edge
	Ceps        int     // cepstra kept (c1…cN; c0 is dropped)
	Deltas      bool    // append first differences
	LogE        bool    // append the frame's normalised log energy (and its delta)
	VADMarginDB float64 // speech if a frame's energy is this far above the noise floor
	// Norm is the per-utterance normalisation: "cmvn" (mean and
	// variance), "cmn" (mean only), "warp" (short-time feature warping:
	// each value replaced by the standard normal quantile of its rank
	// among the same dimension's values in the surrounding 3 s of
	// speech) or "none".
	Norm string
	// VADHangover, when above 0, selects the adaptive voice activity
	// detector (vadAdaptive): a noise floor tracked over 3 s windows,
	// hysteresis around the threshold, and speech runs extended by this
	// many frames (10 ms each) after their end and half as many before
	// their start. 0 keeps the first detector (global floor, 5-frame
	// majority), which models trained before it was added use.
	VADHangover int
	// NoiseSub, when above 0, subtracts the noise floor from each mel
	// filter's energy before the logarithm: the floor is the mean energy
	// of the quietest tenth of the utterance's frames (at least five),
	// NoiseSub times it is subtracted, and no energy drops below a tenth
	// of its value (spectral subtraction in the filterbank). 0 (off) is
	// what models trained before it existed use.
	NoiseSub float64
}

// DefaultFeatures are the settings chosen by leave-speakers-out
// cross-validation (bench/voice, docs/benchmarks.md). Telephone-band
// (LowHz 300, HighHz 3400) features with Norm "cmvn" were measured for
// issue 19 and did worse on FSDD in every condition but telephone →
// telephone (docs/benchmarks.md), so they are an option, not the default.
var DefaultFeatures = FeatureConfig{Filters: 24, LowHz: 0, HighHz: 4000, Ceps: 19, Deltas: true, VADMarginDB: 9, Norm: "none"}

// Dim is the length of one feature vector.
func (c FeatureConfig) Dim() int {
	d := c.Ceps
	if c.LogE {
		d++
	}
	if c.Deltas {
		d *= 2
	}
	return d
}

const (
	frameLen = 200 // 25 ms at 8 kHz
	frameHop = 80  // 10 ms
	nfft     = 256
)

// FrameSeconds is the hop between feature frames.
const FrameSeconds = float64(frameHop) / Rate

// Features are the speech frames of one utterance after voice activity
// detection, with per-utterance mean and variance normalisation.
type Features struct {
	Dim    int
	Frames int       // speech frames
	Total  int       // frames before VAD
	Data   []float32 // Frames × Dim, row-major
}

// Speech is the net speech in seconds.
func (f *Features) Speech() float64 { return float64(f.Frames) * FrameSeconds }

// Row returns frame i.
func (f *Features) Row(i int) []float32 { return f.Data[i*f.Dim : (i+1)*f.Dim] }

type extractor struct {
	cfg     FeatureConfig
	window  [frameLen]float64
	twiddle [nfft / 2]complex128
	fbank   [][]float64 // Filters × (nfft/2+1)
	dct     [][]float64 // Ceps × Filters
}

func newExtractor(cfg FeatureConfig) *extractor {
	e := &extractor{cfg: cfg}
	for i := range frameLen {
		e.window[i] = 0.54 - 0.46*math.Cos(2*math.Pi*float64(i)/(frameLen-1))
	}
	for i := range nfft / 2 {
		e.twiddle[i] = cmplx.Exp(complex(0, -2*math.Pi*float64(i)/nfft))
	}
	mel := func(f float64) float64 { return 1127 * math.Log(1+f/700) }
	imel := func(m float64) float64 { return 700 * (math.Exp(m/1127) - 1) }
	lo, hi := mel(cfg.LowHz), mel(cfg.HighHz)
	edges := make([]float64, cfg.Filters+2)
	for i := range edges {
		edges[i] = imel(lo + (hi-lo)*float64(i)/float64(cfg.Filters+1))
	}
	e.fbank = make([][]float64, cfg.Filters)
	for m := range cfg.Filters {
		w := make([]float64, nfft/2+1)
		for k := range w {
			f := float64(k) * Rate / nfft
			switch {
			case f > edges[m] && f <= edges[m+1]:
				w[k] = (f - edges[m]) / (edges[m+1] - edges[m])
			case f > edges[m+1] && f < edges[m+2]:
				w[k] = (edges[m+2] - f) / (edges[m+2] - edges[m+1])
			}
		}
		e.fbank[m] = w
	}
	e.dct = make([][]float64, cfg.Ceps)
	for c := range cfg.Ceps {
		row := make([]float64, cfg.Filters)
		for m := range cfg.Filters {
			row[m] = math.Sqrt(2/float64(cfg.Filters)) * math.Cos(math.Pi*float64(c+1)*(float64(m)+0.5)/float64(cfg.Filters))
		}
		e.dct[c] = row
	}
	return e
}

// fft is an in-place radix-2 transform of length nfft.
func (e *extractor) fft(x []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		step := n / size
		for start := 0; start < n; start += size {
			for k := range size / 2 {
				t := e.twiddle[k*step] * x[start+k+size/2]
				x[start+k+size/2] = x[start+k] - t
				x[start+k] += t
			}
		}
	}
}

// extract computes features of the speech frames of a.
func (e *extractor) extract(a Audio) *Features {
	cfg := e.cfg
	x := a.Samples
	nf := 0
	if len(x) >= frameLen {
		nf = 1 + (len(x)-frameLen)/frameHop
	}
	base := cfg.Ceps
	if cfg.LogE {
		base++
	}
	static := make([]float64, nf*base)
	energy := make([]float64, nf)
	buf := make([]complex128, nfft)
	spec := make([]float64, nfft/2+1)
	logm := make([]float64, cfg.Filters)
	mels := make([]float64, nf*cfg.Filters)
	for f := range nf {
		seg := x[f*frameHop : f*frameHop+frameLen]
		var prev float64
		if f*frameHop > 0 {
			prev = float64(x[f*frameHop-1])
		}
		var en float64
		for i := range frameLen {
			s := float64(seg[i])
			v := (s - 0.97*prev) * e.window[i]
			prev = s
			buf[i] = complex(v, 0)
			en += s * s
		}
		for i := frameLen; i < nfft; i++ {
			buf[i] = 0
		}
		energy[f] = 10 * math.Log10(en/frameLen+1e-10)
		e.fft(buf)
		for k := range spec {
			r, im := real(buf[k]), imag(buf[k])
			spec[k] = r*r + im*im
		}
		mel := mels[f*cfg.Filters : (f+1)*cfg.Filters]
		for m, w := range e.fbank {
			var s float64
			for k, wk := range w {
				if wk != 0 {
					s += wk * spec[k]
				}
			}
			mel[m] = s
		}
	}
	if cfg.NoiseSub > 0 {
		subtractNoise(mels, energy, cfg.Filters, cfg.NoiseSub)
	}
	for f := range nf {
		mel := mels[f*cfg.Filters : (f+1)*cfg.Filters]
		for m, s := range mel {
			logm[m] = math.Log(s + 1e-10)
		}
		row := static[f*base : (f+1)*base]
		for c, d := range e.dct {
			var s float64
			for m, v := range logm {
				s += d[m] * v
			}
			row[c] = s
		}
		if cfg.LogE {
			row[cfg.Ceps] = energy[f] / 10
		}
	}
	var speech []bool
	if cfg.VADHangover > 0 {
		speech = vadAdaptive(energy, cfg.VADMarginDB, cfg.VADHangover)
	} else {
		speech = vad(energy, cfg.VADMarginDB)
	}
	dim := cfg.Dim()
	out := &Features{Dim: dim, Total: nf}
	for f := range nf {
		if !speech[f] {
			continue
		}
		out.Frames++
		row := make([]float32, dim)
		for i := range base {
			row[i] = float32(static[f*base+i])
		}
		if cfg.Deltas {
			// Regression over ±2 frames, clamped at the edges.
			for i := range base {
				var num float64
				for k := 1; k <= 2; k++ {
					a := static[min(f+k, nf-1)*base+i]
					b := static[max(f-k, 0)*base+i]
					num += float64(k) * (a - b)
				}
				row[base+i] = float32(num / 10)
			}
		}
		out.Data = append(out.Data, row...)
	}
	switch cfg.Norm {
	case "warp":
		warp(out, 300)
	case "none":
	case "cmn":
		cmvn(out, false)
	default:
		cmvn(out, true)
	}
	return out
}

// vad marks frames as speech: energy above an adaptive threshold between
// the noise floor and the loud frames, smoothed so that short gaps inside
// words are kept and isolated clicks are dropped.
func vad(energy []float64, margin float64) []bool {
	n := len(energy)
	speech := make([]bool, n)
	if n == 0 {
		return speech
	}
	sorted := append([]float64(nil), energy...)
	sort.Float64s(sorted)
	floor := sorted[n*10/100]
	peak := sorted[min(n-1, n*98/100)]
	thr := floor + margin
	// Never more than 40 dB below the loud frames, never above halfway.
	thr = math.Max(thr, peak-40)
	thr = math.Min(thr, floor+0.5*(peak-floor))
	if peak-floor < 3 {
		// No contrast: either all speech (trimmed recordings) or all noise;
		// keep frames within 20 dB of the peak.
		thr = peak - 20
	}
	raw := make([]bool, n)
	for i, e := range energy {
		raw[i] = e > thr && e > -75
	}
	// Majority over 5 frames.
	for i := range n {
		c, t := 0, 0
		for k := max(0, i-2); k <= min(n-1, i+2); k++ {
			t++
			if raw[k] {
				c++
			}
		}
		speech[i] = 2*c > t
	}
	return speech
}

// vadAdaptive marks frames as speech against a noise floor that follows
// the noise: the 10th percentile of the energy over the surrounding 3 s.
// A frame is speech when it is margin dB above that floor (never more
// than halfway from the floor to the loud frames, never more than 40 dB
// below them); frames within margin/2 of the floor-plus-margin line that
// touch speech are kept too (hysteresis), runs shorter than 30 ms are
// dropped as clicks, and every run is extended by hangover frames after
// and hangover/2 before, which keeps word onsets, endings and weak
// consonants that the first detector cut.
func vadAdaptive(energy []float64, margin float64, hangover int) []bool {
	n := len(energy)
	speech := make([]bool, n)
	if n == 0 {
		return speech
	}
	sorted := append([]float64(nil), energy...)
	sort.Float64s(sorted)
	gfloor := sorted[n*10/100]
	peak := sorted[min(n-1, n*98/100)]
	const block, reach = 50, 150 // floor per 0.5 s block, from ±1.5 s
	floors := make([]float64, (n+block-1)/block)
	win := make([]float64, 0, 2*reach+block)
	for b := range floors {
		lo, hi := max(0, b*block-reach), min(n, b*block+block+reach)
		win = append(win[:0], energy[lo:hi]...)
		sort.Float64s(win)
		floors[b] = win[len(win)*10/100]
	}
	hi := make([]bool, n)
	lo := make([]bool, n)
	for i, e := range energy {
		floor := floors[i/block]
		thr := floor + margin
		thr = math.Max(thr, peak-40)
		thr = math.Min(thr, floor+0.5*(peak-floor))
		if peak-gfloor < 3 {
			thr = peak - 20 // no contrast: trimmed speech or pure noise
		}
		hi[i] = e > thr && e > -75
		lo[i] = e > thr-margin/2 && e > -75
	}
	// Hysteresis: grow speech runs through neighbouring weaker frames.
	for i := 1; i < n; i++ {
		if hi[i-1] && lo[i] {
			hi[i] = true
		}
	}
	for i := n - 2; i >= 0; i-- {
		if hi[i+1] && lo[i] {
			hi[i] = true
		}
	}
	// Drop runs shorter than 3 frames.
	for i := 0; i < n; {
		if !hi[i] {
			i++
			continue
		}
		j := i
		for j < n && hi[j] {
			j++
		}
		if j-i < 3 {
			for k := i; k < j; k++ {
				hi[k] = false
			}
		}
		i = j
	}
	// Hangover after, and half of it before, every run.
	last := -1 << 30
	for i := range n {
		if hi[i] {
			last = i
		}
		speech[i] = hi[i] || i-last <= hangover
	}
	next := 1 << 30
	for i := n - 1; i >= 0; i-- {
		if hi[i] {
			next = i
		}
		if next-i <= hangover/2 {
			speech[i] = true
		}
	}
	return speech
}

// warp maps each dimension, frame by frame, to a standard normal: the
// value's rank r among the n values of that dimension in a window of
// win speech frames centred on it (shifted to stay inside the
// utterance; the whole utterance when it is shorter) becomes the normal
// quantile of (r + 0.5)/n. It removes slowly varying channel effects
// and also the nonlinear ones (compression, band-limiting noise floors)
// that a mean and variance cannot.
func warp(f *Features, win int) {
	n := f.Frames
	if n < 2 {
		return
	}
	w := min(win, n)
	q := make([]float32, w)
	for r := range w {
		q[r] = float32(normQuantile((float64(r) + 0.5) / float64(w)))
	}
	out := make([]float32, len(f.Data))
	for i := range n {
		lo := min(max(0, i-w/2), n-w)
		for d := range f.Dim {
			v := f.Data[i*f.Dim+d]
			r := 0
			for j := lo; j < lo+w; j++ {
				u := f.Data[j*f.Dim+d]
				if u < v || (u == v && j < i) {
					r++
				}
			}
			out[i*f.Dim+d] = q[r]
		}
	}
	f.Data = out
}

// cmvn normalises each dimension to zero mean and unit variance over the
// utterance's speech frames.
func cmvn(f *Features, variance bool) {
	if f.Frames < 2 {
		return
	}
	for d := range f.Dim {
		var s, ss float64
		for i := range f.Frames {
			v := float64(f.Data[i*f.Dim+d])
			s += v
			ss += v * v
		}
		mean := s / float64(f.Frames)
		sd := 1.0
		if variance {
			sd = math.Sqrt(math.Max(ss/float64(f.Frames)-mean*mean, 1e-8))
		}
		for i := range f.Frames {
			f.Data[i*f.Dim+d] = float32((float64(f.Data[i*f.Dim+d]) - mean) / sd)
		}
	}
}

// frameEnergies returns each frame's energy in dB, as extract computes it.
func frameEnergies(x []float32) []float64 {
	nf := 0
	if len(x) >= frameLen {
		nf = 1 + (len(x)-frameLen)/frameHop
	}
	out := make([]float64, nf)
	for f := range nf {
		var en float64
		for _, s := range x[f*frameHop : f*frameHop+frameLen] {
			en += float64(s) * float64(s)
		}
		out[f] = 10 * math.Log10(en/frameLen+1e-10)
	}
	return out
}

// subtractNoise estimates each filter's noise floor as its mean energy in
// the quietest tenth of the frames (at least five) and subtracts k times
// it from every frame, keeping at least a tenth of each energy.
func subtractNoise(mels, energy []float64, filters int, k float64) {
	nf := len(energy)
	if nf == 0 {
		return
	}
	idx := make([]int, nf)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return energy[idx[a]] < energy[idx[b]] })
	q := min(nf, max(5, nf/10))
	floor := make([]float64, filters)
	for _, f := range idx[:q] {
		for m := range filters {
			floor[m] += mels[f*filters+m] / float64(q)
		}
	}
	for f := range nf {
		row := mels[f*filters : (f+1)*filters]
		for m, v := range row {
			row[m] = math.Max(v-k*floor[m], 0.1*v)
		}
	}
}
