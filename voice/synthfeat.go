package voice

import (
	"math"
	"slices"
)

// Utterance-level measurements of how regular speech is, for the
// synthetic-voice detector. They describe what text-to-speech engines of
// every kind share rather than any one engine's spectrum: a pitch contour
// that is a smooth or piecewise-linear target curve with no cycle-to-cycle
// perturbation, voicing that is more strictly periodic than a human
// larynx, loudness and spectral envelopes that move along smooth
// trajectories. Each is a median or a ratio over the loud frames, so
// level, gain and a fixed filter (the telephone band) change them little.

// SynthFeatureNames name the entries of SynthFeatures' vector.
var SynthFeatureNames = []string{
	"voicing",    // median peak normalised autocorrelation of voiced frames
	"f0curv",     // median |second difference| of log F0 within voiced runs
	"f0step",     // median |first difference| of log F0 within voiced runs
	"f0resid",    // F0 curvature relative to F0 steps (smoothness of the contour)
	"encurv",     // median |second difference| of frame energy (dB) in voiced runs
	"specurv",    // median |second difference| of the log mel spectrum, per band
	"specratio",  // spectral curvature relative to spectral steps
	"hivoicing",  // periodicity of the 1.5–3.4 kHz band at the F0 lag
	"voicedrate", // voiced share of the loud frames
	"f0spread",   // interquartile range of log F0 over the utterance
	"jitter",     // median period-to-period perturbation (log)
	"shimmer",    // median period-to-period amplitude perturbation (log)
	"loudcurv",   // loud frames: median |second difference| of the cepstral envelope
	"loudratio",  // loud frames: envelope curvature relative to envelope steps
	"loudspread", // loud frames: spread of the cepstral envelope over the utterance
	"nccfstep",   // median change of periodicity between voiced frames
	"residkurt",  // voiced loud frames: median kurtosis of the LPC residual (log)
	"hiflat",     // loud frames: median spectral flatness of 2–3.4 kHz (log)
	"residflat",  // voiced loud frames: median spectral flatness of the LPC residual below 3.4 kHz (log)
}

const (
	sfWin    = 320 // 40 ms analysis window for pitch
	sfMinLag = 20  // 400 Hz
	sfMaxLag = 134 // 60 Hz
)

// synthFrame is one 10 ms frame's measurements.
type synthFrame struct {
	en     float64 // dB
	nccf   float64 // peak normalised autocorrelation
	lag    float64 // pitch period in samples (fractional), 0 if unvoiced
	hi     float64 // high-band autocorrelation at lag
	logmel []float64
	hiflat float64 // log spectral flatness of 2–3.4 kHz
	kurt   float64 // LPC residual kurtosis (log)
	rflat  float64 // LPC residual spectral flatness (log)
}

// SynthFeatures returns the regularity measurements of a (see
// SynthFeatureNames), or nil when a has too little voiced speech to
// measure them (under about 0.2 s).
func SynthFeatures(a Audio) []float64 {
	x := make([]float64, len(a.Samples))
	var mean float64
	for i, v := range a.Samples {
		x[i] = float64(v)
		mean += x[i]
	}
	if len(x) < sfWin+sfMaxLag+frameHop {
		return nil
	}
	mean /= float64(len(x))
	for i := range x {
		x[i] -= mean
	}
	// High band: 1.5 kHz high-pass then 3.4 kHz low-pass, two sections each.
	hi := slices.Clone(x)
	for _, q := range []biquad{butter("high", 1500), butter("high", 1500), butter("low", 3400), butter("low", 3400)} {
		q.run(hi)
	}
	nf := 1 + (len(x)-sfWin-sfMaxLag-2)/frameHop
	fr := make([]synthFrame, nf)
	ext := sfExt
	buf := make([]complex128, nfft)
	spec := make([]float64, nfft/2+1)
	maxEn := math.Inf(-1)
	for f := range nf {
		s := f * frameHop
		var en float64
		for _, v := range x[s : s+sfWin] {
			en += v * v
		}
		fr[f].en = 10 * math.Log10(en/sfWin+1e-10)
		maxEn = math.Max(maxEn, fr[f].en)
	}
	corr := make([]float64, sfMaxLag+2)
	for f := range nf {
		s := f * frameHop
		if fr[f].en < maxEn-30 {
			continue
		}
		// Log mel spectrum of the 25 ms at the window's centre.
		c := s + sfWin/2 - frameLen/2
		for i := range frameLen {
			buf[i] = complex(x[c+i]*ext.window[i], 0)
		}
		for i := frameLen; i < nfft; i++ {
			buf[i] = 0
		}
		ext.fft(buf)
		for k := range spec {
			r, im := real(buf[k]), imag(buf[k])
			spec[k] = r*r + im*im
		}
		lm := make([]float64, len(ext.fbank))
		for m, w := range ext.fbank {
			var e float64
			for k, wk := range w {
				if wk != 0 {
					e += wk * spec[k]
				}
			}
			lm[m] = math.Log(e + 1e-10)
		}
		fr[f].logmel = lm
		fr[f].hiflat = flatness(spec[64:109])
		fr[f].kurt, fr[f].rflat = residual(x[c:c+frameLen], ext.window[:], buf, spec)
		// Normalised cross-correlation over the pitch lags.
		w := x[s : s+sfWin]
		e0 := dotF(w, w)
		best, bl := 0.0, 0
		for l := sfMinLag - 1; l <= sfMaxLag+1; l++ {
			v := x[s+l : s+l+sfWin]
			el := dotF(v, v)
			corr[l] = 0
			if e0 > 0 && el > 0 {
				corr[l] = dotF(w, v) / math.Sqrt(e0*el)
			}
		}
		for l := sfMinLag; l <= sfMaxLag; l++ {
			if corr[l] > best {
				best = corr[l]
			}
		}
		// The shortest lag that is a local peak within 5 % of the best:
		// avoids halving F0 on strongly periodic speech.
		for l := sfMinLag; l <= sfMaxLag; l++ {
			if corr[l] >= 0.95*best && corr[l] >= corr[l-1] && corr[l] >= corr[l+1] {
				bl = l
				break
			}
		}
		fr[f].nccf = best
		if bl == 0 || best < 0.6 {
			continue
		}
		// Parabolic interpolation of the peak.
		y0, y1, y2 := corr[bl-1], corr[bl], corr[bl+1]
		d := 0.0
		if den := y0 - 2*y1 + y2; den < 0 {
			d = 0.5 * (y0 - y2) / den
		}
		fr[f].lag = float64(bl) + math.Max(-0.5, math.Min(0.5, d))
		hw, hv := hi[s:s+sfWin], hi[s+bl:s+bl+sfWin]
		if e1, e2 := dotF(hw, hw), dotF(hv, hv); e1 > 0 && e2 > 0 {
			fr[f].hi = dotF(hw, hv) / math.Sqrt(e1*e2)
		}
	}
	jit, shim := cycles(x, fr)
	var voicing, f0c, f0s, enc, spc, sps, hiv, logf0, kurt, hfl, rfl []float64
	loud, voiced := 0, 0
	for f := range nf {
		if fr[f].logmel != nil {
			loud++
			if fr[f].en >= maxEn-12 {
				hfl = append(hfl, fr[f].hiflat)
				if fr[f].lag > 0 {
					kurt = append(kurt, fr[f].kurt)
					rfl = append(rfl, fr[f].rflat)
				}
			}
		}
		if fr[f].lag == 0 {
			continue
		}
		voiced++
		voicing = append(voicing, fr[f].nccf)
		hiv = append(hiv, fr[f].hi)
		logf0 = append(logf0, -math.Log(fr[f].lag))
		if f+1 < nf && fr[f+1].lag > 0 {
			d := math.Log(fr[f].lag / fr[f+1].lag)
			if math.Abs(d) < 0.15 { // not an octave error or a new syllable
				f0s = append(f0s, math.Abs(d))
			}
		}
		if f >= 1 && f+1 < nf && fr[f-1].lag > 0 && fr[f+1].lag > 0 {
			c := math.Log(fr[f-1].lag) - 2*math.Log(fr[f].lag) + math.Log(fr[f+1].lag)
			if math.Abs(c) < 0.15 {
				f0c = append(f0c, math.Abs(c))
			}
			enc = append(enc, math.Abs(fr[f-1].en-2*fr[f].en+fr[f+1].en))
		}
	}
	for f := 1; f+1 < nf; f++ {
		a, b, c := fr[f-1].logmel, fr[f].logmel, fr[f+1].logmel
		if a == nil || b == nil || c == nil {
			continue
		}
		var cv, st float64
		for m := range b {
			cv += math.Abs(a[m] - 2*b[m] + c[m])
			st += math.Abs(c[m] - b[m])
		}
		spc = append(spc, cv/float64(len(b)))
		sps = append(sps, st/float64(len(b)))
	}
	// Loud frames only (within 12 dB of the loudest), where added noise
	// matters least: cepstral envelope dynamics and spread, and how
	// steady periodicity is from frame to frame.
	var cc [][]float64
	var ccIdx []int
	var nv []float64
	for f := range nf {
		if fr[f].logmel == nil || fr[f].en < maxEn-12 {
			continue
		}
		c := make([]float64, 8)
		for k := range c {
			for m, v := range fr[f].logmel {
				c[k] += sfExt.dct[k][m] * v
			}
		}
		cc = append(cc, c)
		ccIdx = append(ccIdx, f)
		if f+1 < nf && fr[f].lag > 0 && fr[f+1].lag > 0 {
			nv = append(nv, math.Abs(fr[f].nccf-fr[f+1].nccf))
		}
	}
	var ccv, ccs []float64
	for i := 1; i+1 < len(cc); i++ {
		if ccIdx[i-1] != ccIdx[i]-1 || ccIdx[i+1] != ccIdx[i]+1 {
			continue
		}
		var cv, st float64
		for k := range cc[i] {
			cv += math.Abs(cc[i-1][k] - 2*cc[i][k] + cc[i+1][k])
			st += math.Abs(cc[i+1][k] - cc[i][k])
		}
		ccv = append(ccv, cv)
		ccs = append(ccs, st)
	}
	var spread float64
	if len(cc) > 1 {
		for k := range 8 {
			var m, v float64
			for _, c := range cc {
				m += c[k]
			}
			m /= float64(len(cc))
			for _, c := range cc {
				v += (c[k] - m) * (c[k] - m)
			}
			spread += math.Sqrt(v / float64(len(cc)))
		}
	}
	if voiced < 20 || len(f0c) < 10 || len(spc) < 10 || len(ccv) < 5 {
		return nil
	}
	mc, ms := median(f0c), median(f0s)
	sc, ss := median(spc), median(sps)
	slices.Sort(logf0)
	q := func(p float64) float64 { return logf0[int(p*float64(len(logf0)-1))] }
	return []float64{
		median(voicing),
		math.Log(mc + 1e-4),
		math.Log(ms + 1e-4),
		math.Log((mc + 1e-4) / (ms + 1e-4)),
		math.Log(median(enc) + 1e-3),
		math.Log(sc + 1e-4),
		math.Log((sc + 1e-4) / (ss + 1e-4)),
		median(hiv),
		float64(voiced) / float64(max(1, loud)),
		q(0.75) - q(0.25),
		math.Log(jit + 1e-4),
		math.Log(shim + 1e-4),
		math.Log(median(ccv) + 1e-3),
		math.Log((median(ccv) + 1e-3) / (median(ccs) + 1e-3)),
		math.Log(spread + 1e-3),
		math.Log(median(nv) + 1e-4),
		median(kurt),
		median(hfl),
		median(rfl),
	}
}

// flatness is the log of the geometric over the arithmetic mean of a
// power spectrum (0: white, more negative: peaky).
func flatness(p []float64) float64 {
	var lg, ar float64
	for _, v := range p {
		lg += math.Log(v + 1e-10)
		ar += v
	}
	n := float64(len(p))
	return lg/n - math.Log(ar/n+1e-10)
}

// residual inverse-filters the frame x by its own order-10 linear
// predictor and returns the log kurtosis of the residual and the log
// spectral flatness of its spectrum up to 3.4 kHz. buf and spec are
// scratch of nfft and nfft/2+1.
func residual(x, win []float64, buf []complex128, spec []float64) (kurt, flat float64) {
	const order = 10
	n := len(x)
	seg := make([]float64, n)
	for i := range x {
		seg[i] = x[i] * win[i]
	}
	r := make([]float64, order+1)
	for k := range r {
		for i := k; i < n; i++ {
			r[k] += seg[i] * seg[i-k]
		}
	}
	a, _ := levinson(r)
	e := make([]float64, n-order)
	var m2, m4 float64
	for i := order; i < n; i++ {
		v := x[i]
		for k := 1; k <= order; k++ {
			v += a[k] * x[i-k]
		}
		e[i-order] = v
		m2 += v * v
		m4 += v * v * v * v
	}
	m := float64(len(e))
	m2 /= m
	m4 /= m
	if m2 <= 0 {
		return 0, 0
	}
	kurt = math.Log(m4 / (m2 * m2))
	for i := range buf {
		buf[i] = 0
	}
	for i, v := range e {
		buf[i] = complex(v*win[i], 0)
	}
	sfExt.fft(buf)
	for k := range spec {
		re, im := real(buf[k]), imag(buf[k])
		spec[k] = re*re + im*im
	}
	return kurt, flatness(spec[3:109])
}

// cycles follows the signal period by period through runs of voiced
// frames and returns the median relative perturbation of consecutive
// period lengths (jitter: |P[k-1] - 2P[k] + P[k+1]| / P[k], a second
// difference, so a gliding pitch does not count) and of consecutive
// period amplitudes (shimmer, the same on log RMS).
func cycles(x []float64, fr []synthFrame) (jitter, shimmer float64) {
	var js, ss []float64
	var per, amp []float64
	flush := func() {
		for k := 1; k+1 < len(per); k++ {
			js = append(js, math.Abs(per[k-1]-2*per[k]+per[k+1])/per[k])
			ss = append(ss, math.Abs(amp[k-1]-2*amp[k]+amp[k+1]))
		}
		per, amp = per[:0], amp[:0]
	}
	p := 0
	for f := range fr {
		if fr[f].lag == 0 {
			flush()
			continue
		}
		start := f*frameHop + sfWin/2 - frameHop/2
		end := start + frameHop
		if p < start {
			flush()
			p = start
		}
		for p < end {
			t := fr[f].lag
			lo, hi := int(0.85*t), int(math.Ceil(1.15*t))
			n := int(t)
			if p+hi+1+n > len(x) {
				return median(js), median(ss)
			}
			w := x[p : p+n]
			e0 := dotF(w, w)
			if e0 == 0 {
				flush()
				p += n
				continue
			}
			best, bl := -2.0, 0
			c := make([]float64, hi+2)
			for l := lo - 1; l <= hi+1; l++ {
				v := x[p+l : p+l+n]
				if el := dotF(v, v); el > 0 {
					c[l] = dotF(w, v) / math.Sqrt(e0*el)
				}
			}
			for l := lo; l <= hi; l++ {
				if c[l] > best {
					best, bl = c[l], l
				}
			}
			if best < 0.7 {
				flush()
				p += n
				continue
			}
			d := 0.0
			if den := c[bl-1] - 2*c[bl] + c[bl+1]; den < 0 {
				d = math.Max(-0.5, math.Min(0.5, 0.5*(c[bl-1]-c[bl+1])/den))
			}
			per = append(per, float64(bl)+d)
			amp = append(amp, 0.5*math.Log(e0/float64(n)+1e-12))
			p += bl
		}
	}
	flush()
	return median(js), median(ss)
}

// sfExt supplies the window, transform and telephone-band mel filters
// (read only, so shared).
var sfExt = newExtractor(FeatureConfig{Filters: 20, LowHz: 300, HighHz: 3400, Ceps: 12})

func dotF(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	y := slices.Clone(x)
	slices.Sort(y)
	n := len(y)
	if n%2 == 1 {
		return y[n/2]
	}
	return (y[n/2-1] + y[n/2]) / 2
}
