package voice

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Rate is the sample rate every audio input is brought to: narrow-band
// telephone speech.
const Rate = 8000

// Codec names a raw (headerless) audio payload.
type Codec string

// Codecs accepted as raw payloads, and WAV (self-describing).
const (
	CodecAuto Codec = ""     // WAV, recognised by its RIFF header
	CodecWAV  Codec = "wav"  // RIFF WAVE: PCM 8/16/24/32-bit, float, µ-law, A-law
	CodecPCMU Codec = "pcmu" // raw G.711 µ-law at 8 kHz
	CodecPCMA Codec = "pcma" // raw G.711 A-law at 8 kHz
)

// ParseCodec reads a codec name as used in requests and on the command line
// ("pcmu", "ulaw", "mulaw", "pcma", "alaw", "wav", "" = detect).
func ParseCodec(s string) (Codec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return CodecAuto, nil
	case "wav", "wave", "audio/wav", "audio/x-wav", "audio/wave":
		return CodecWAV, nil
	case "pcmu", "ulaw", "mulaw", "g711u", "audio/pcmu", "audio/basic":
		return CodecPCMU, nil
	case "pcma", "alaw", "g711a", "audio/pcma":
		return CodecPCMA, nil
	}
	return "", &AudioError{Kind: ErrUnsupported, Msg: fmt.Sprintf("unknown codec %q (want wav, pcmu or pcma)", s)}
}

// Error kinds of AudioError, to be matched with errors.Is.
var (
	ErrNotAudio    = errors.New("not audio")
	ErrUnsupported = errors.New("unsupported audio")
	ErrEmpty       = errors.New("empty audio")
	ErrTooLong     = errors.New("audio too long")
	ErrTooShort    = errors.New("audio too short")
	ErrSilence     = errors.New("all silence")
	ErrClipped     = errors.New("clipped beyond use")
)

// AudioError says what is wrong with an audio input.
type AudioError struct {
	Kind error // one of the Err* kinds above
	Msg  string
}

func (e *AudioError) Error() string { return "voice: " + e.Kind.Error() + ": " + e.Msg }

// Unwrap lets errors.Is match the kind.
func (e *AudioError) Unwrap() error { return e.Kind }

func audioErr(kind error, format string, args ...any) error {
	return &AudioError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Limits bound an audio input.
type Limits struct {
	MaxBytes   int     // encoded size; 0 = no limit here
	MaxSeconds float64 // decoded duration; 0 = 300 s
	MinSeconds float64 // decoded duration; 0 = 0.2 s
}

// Audio is mono speech at Rate samples per second, full scale ±1.
type Audio struct {
	Samples []float32
}

// Seconds is the duration.
func (a Audio) Seconds() float64 { return float64(len(a.Samples)) / Rate }

// Decode reads one audio input and returns it as 8 kHz mono, checking it
// against lim. Codec may be CodecAuto for WAV.
func Decode(data []byte, codec Codec, lim Limits) (Audio, error) {
	if lim.MaxSeconds == 0 {
		lim.MaxSeconds = 300
	}
	if lim.MinSeconds == 0 {
		lim.MinSeconds = 0.2
	}
	if len(data) == 0 {
		return Audio{}, audioErr(ErrEmpty, "no bytes")
	}
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		return Audio{}, audioErr(ErrTooLong, "%d bytes, the limit is %d", len(data), lim.MaxBytes)
	}
	var a Audio
	var err error
	switch codec {
	case CodecAuto, CodecWAV:
		if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
			if codec == CodecAuto {
				return Audio{}, audioErr(ErrNotAudio, "no RIFF/WAVE header; send WAV or name a raw codec (pcmu, pcma)")
			}
			return Audio{}, audioErr(ErrNotAudio, "no RIFF/WAVE header")
		}
		a, err = decodeWAV(data, lim.MaxSeconds)
	case CodecPCMU, CodecPCMA:
		if float64(len(data))/Rate > lim.MaxSeconds {
			return Audio{}, audioErr(ErrTooLong, "%.1f s, the limit is %.0f s", float64(len(data))/Rate, lim.MaxSeconds)
		}
		a.Samples = make([]float32, len(data))
		tab := &ulawTable
		if codec == CodecPCMA {
			tab = &alawTable
		}
		for i, b := range data {
			a.Samples[i] = float32(tab[b]) / 32768
		}
	default:
		return Audio{}, audioErr(ErrUnsupported, "unknown codec %q", codec)
	}
	if err != nil {
		return Audio{}, err
	}
	if len(a.Samples) == 0 {
		return Audio{}, audioErr(ErrEmpty, "no samples")
	}
	if a.Seconds() > lim.MaxSeconds {
		return Audio{}, audioErr(ErrTooLong, "%.1f s, the limit is %.0f s", a.Seconds(), lim.MaxSeconds)
	}
	if a.Seconds() < lim.MinSeconds {
		return Audio{}, audioErr(ErrTooShort, "%.2f s, need at least %.2f s", a.Seconds(), lim.MinSeconds)
	}
	return a, check(a)
}

// check refuses silence and heavy clipping.
func check(a Audio) error {
	var peak float32
	var sum float64
	for _, s := range a.Samples {
		v := s
		if v < 0 {
			v = -v
		}
		if v > peak {
			peak = v
		}
		sum += float64(s) * float64(s)
	}
	rms := math.Sqrt(sum / float64(len(a.Samples)))
	if peak < 1.0/1024 || rms < 1e-4 {
		return audioErr(ErrSilence, "peak %.1f dBFS", 20*math.Log10(float64(peak)+1e-12))
	}
	// Clipping: samples stuck within 0.5 % of the peak, when the peak is
	// near full scale. A few are normal; many mean the speech is destroyed.
	if peak > 0.9 {
		lim := peak * 0.995
		n := 0
		for _, s := range a.Samples {
			if s >= lim || s <= -lim {
				n++
			}
		}
		if frac := float64(n) / float64(len(a.Samples)); frac > 0.02 {
			return audioErr(ErrClipped, "%.1f %% of samples at full scale", 100*frac)
		}
	}
	return nil
}

// decodeWAV reads a RIFF WAVE file.
func decodeWAV(data []byte, maxSec float64) (Audio, error) {
	var (
		haveFmt                bool
		format, channels, bits uint16
		rate                   uint32
		blockAlign             uint16
		pcm                    []byte
		haveData               bool
		p                      = 12
		le                     = binary.LittleEndian
	)
	for p+8 <= len(data) {
		id := string(data[p : p+4])
		size := int(le.Uint32(data[p+4 : p+8]))
		p += 8
		if size < 0 || size > len(data)-p {
			if id == "data" && haveFmt {
				// Streaming writers leave the size at 0xFFFFFFFF or wrong:
				// take what is there.
				size = len(data) - p
			} else {
				return Audio{}, audioErr(ErrNotAudio, "WAV chunk %q of %d bytes runs past the end of the file", sanitize(id), size)
			}
		}
		body := data[p : p+size]
		switch id {
		case "fmt ":
			if size < 16 {
				return Audio{}, audioErr(ErrNotAudio, "WAV fmt chunk of %d bytes, need 16", size)
			}
			format = le.Uint16(body[0:2])
			channels = le.Uint16(body[2:4])
			rate = le.Uint32(body[4:8])
			blockAlign = le.Uint16(body[12:14])
			bits = le.Uint16(body[14:16])
			if format == 0xFFFE { // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real tag
				if size < 40 {
					return Audio{}, audioErr(ErrNotAudio, "WAV extensible fmt chunk of %d bytes, need 40", size)
				}
				format = le.Uint16(body[24:26])
			}
			haveFmt = true
		case "data":
			pcm = body
			haveData = true
		}
		if haveData {
			break
		}
		p += size + size&1
	}
	if !haveFmt {
		return Audio{}, audioErr(ErrNotAudio, "WAV without a fmt chunk")
	}
	if !haveData {
		return Audio{}, audioErr(ErrNotAudio, "WAV without a data chunk")
	}
	if channels == 0 || channels > 8 {
		return Audio{}, audioErr(ErrUnsupported, "WAV with %d channels", channels)
	}
	if rate < 8000 || rate > 96000 {
		return Audio{}, audioErr(ErrUnsupported, "sample rate %d Hz (want 8000–96000; 8 or 16 kHz for telephone audio)", rate)
	}
	var width int
	switch {
	case format == 1 && (bits == 8 || bits == 16 || bits == 24 || bits == 32):
		width = int(bits) / 8
	case format == 3 && (bits == 32 || bits == 64):
		width = int(bits) / 8
	case (format == 6 || format == 7) && bits == 8:
		width = 1
	case format == 1:
		return Audio{}, audioErr(ErrUnsupported, "PCM with %d bits per sample (want 8, 16, 24 or 32)", bits)
	default:
		return Audio{}, audioErr(ErrUnsupported, "WAV codec tag %d with %d bits (want PCM 1, float 3, A-law 6, µ-law 7)", format, bits)
	}
	frame := width * int(channels)
	if blockAlign != 0 && int(blockAlign) != frame {
		return Audio{}, audioErr(ErrUnsupported, "WAV block align %d does not match %d channels × %d bytes", blockAlign, channels, width)
	}
	n := len(pcm) / frame
	if float64(n)/float64(rate) > maxSec {
		return Audio{}, audioErr(ErrTooLong, "%.1f s, the limit is %.0f s", float64(n)/float64(rate), maxSec)
	}
	out := make([]float32, n)
	for i := range n {
		var sum float64
		for c := range int(channels) {
			b := pcm[i*frame+c*width:]
			var v float64
			switch {
			case format == 6:
				v = float64(alawTable[b[0]]) / 32768
			case format == 7:
				v = float64(ulawTable[b[0]]) / 32768
			case format == 3 && width == 4:
				v = float64(math.Float32frombits(le.Uint32(b)))
			case format == 3:
				v = math.Float64frombits(le.Uint64(b))
			case width == 1:
				v = (float64(b[0]) - 128) / 128
			case width == 2:
				v = float64(int16(le.Uint16(b))) / 32768
			case width == 3:
				v = float64(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)) / (1 << 31)
			default:
				v = float64(int32(le.Uint32(b))) / (1 << 31)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Audio{}, audioErr(ErrNotAudio, "float sample %d is not a number", i)
			}
			sum += v
		}
		v := sum / float64(channels)
		if v > 1 {
			v = 1
		} else if v < -1 {
			v = -1
		}
		out[i] = float32(v)
	}
	if rate != Rate {
		out = Resample(out, int(rate), Rate)
	}
	return Audio{Samples: out}, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// Resample converts x from rate `from` to rate `to` with a windowed-sinc
// low-pass interpolator (cut-off at 0.45 of the lower rate). The kernel
// depends only on the output sample's fractional position, which takes
// to/gcd(from, to) values: those kernels are computed once.
func Resample(x []float32, from, to int) []float32 {
	if from == to || len(x) == 0 || from <= 0 || to <= 0 {
		return x
	}
	ratio := float64(to) / float64(from)
	n := int(float64(len(x)) * ratio)
	out := make([]float32, n)
	fc := 0.45 * math.Min(1, ratio) // cut-off, cycles per input sample
	const half = 16                 // taps each side at the lower rate
	width := float64(half) / math.Min(1, ratio)
	weight := func(d float64) float64 {
		w := 0.5 + 0.5*math.Cos(math.Pi*d/width) // Hann window
		s := 2 * fc
		if d != 0 {
			s = math.Sin(2*math.Pi*fc*d) / (math.Pi * d)
		}
		return s * w
	}
	// slow computes output i from the taps that exist (edges).
	slow := func(i int) float32 {
		t := float64(i) / ratio
		lo := int(math.Ceil(t - width))
		hi := int(math.Floor(t + width))
		var acc, wsum float64
		for k := max(lo, 0); k <= hi && k < len(x); k++ {
			w := weight(t - float64(k))
			acc += float64(x[k]) * w
			wsum += w
		}
		if wsum == 0 {
			return 0
		}
		return float32(acc / wsum)
	}
	g := gcd(from, to)
	phases := to / g
	if phases > 8192 {
		for i := range n {
			out[i] = slow(i)
		}
		return out
	}
	// Output i sits at input position (i·from)/to: integer part base,
	// fraction r/to with r a multiple of g.
	type kernel struct {
		first int       // offset of the first tap from base
		w     []float64 // normalised weights
	}
	kernels := make([]kernel, phases)
	for p := range phases {
		frac := float64(p*g) / float64(to)
		lo := int(math.Ceil(frac - width))
		hi := int(math.Floor(frac + width))
		k := kernel{first: lo, w: make([]float64, hi-lo+1)}
		var wsum float64
		for j := lo; j <= hi; j++ {
			w := weight(frac - float64(j))
			k.w[j-lo] = w
			wsum += w
		}
		for j := range k.w {
			k.w[j] /= wsum
		}
		kernels[p] = k
	}
	for i := range n {
		pos := int64(i) * int64(from)
		base := int(pos / int64(to))
		k := &kernels[int(pos%int64(to))/g]
		start := base + k.first
		if start < 0 || start+len(k.w) > len(x) {
			out[i] = slow(i)
			continue
		}
		var acc float64
		for j, w := range k.w {
			acc += float64(x[start+j]) * w
		}
		out[i] = float32(acc)
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// EncodeWAV writes 8 kHz mono 16-bit PCM WAV.
func EncodeWAV(a Audio) []byte {
	n := len(a.Samples)
	b := make([]byte, 44+2*n)
	le := binary.LittleEndian
	copy(b, "RIFF")
	le.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1)
	le.PutUint16(b[22:], 1)
	le.PutUint32(b[24:], Rate)
	le.PutUint32(b[28:], 2*Rate)
	le.PutUint16(b[32:], 2)
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(2*n))
	for i, s := range a.Samples {
		le.PutUint16(b[44+2*i:], uint16(toInt16(s)))
	}
	return b
}

func toInt16(s float32) int16 {
	v := math.Round(float64(s) * 32768)
	if v > 32767 {
		v = 32767
	} else if v < -32768 {
		v = -32768
	}
	return int16(v)
}
