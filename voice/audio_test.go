package voice

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func tone(n int, hz, amp float64, rate int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return x
}

// wav builds a WAV file with the given header fields and raw data.
func wav(format, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	b := make([]byte, 44, 44+len(data))
	le := binary.LittleEndian
	copy(b, "RIFF")
	le.PutUint32(b[4:], uint32(36+len(data)))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], format)
	le.PutUint16(b[22:], channels)
	le.PutUint32(b[24:], rate)
	le.PutUint32(b[28:], rate*uint32(channels)*uint32(bits/8))
	le.PutUint16(b[32:], channels*bits/8)
	le.PutUint16(b[34:], bits)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(len(data)))
	return append(b, data...)
}

func pcm16(x []float32) []byte {
	b := make([]byte, 2*len(x))
	for i, s := range x {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(toInt16(s)))
	}
	return b
}

func TestG711RoundTrip(t *testing.T) {
	for v := -32768; v <= 32767; v += 7 {
		s := int16(v)
		for _, c := range []struct {
			name string
			enc  func(int16) byte
			tab  *[256]int16
		}{{"ulaw", UlawEncode, &ulawTable}, {"alaw", AlawEncode, &alawTable}} {
			got := c.tab[c.enc(s)]
			// G.711 keeps 4 mantissa bits: the error is at most 1/16 of
			// the magnitude plus the smallest step.
			tol := math.Abs(float64(s))/16 + 20
			if math.Abs(float64(got)-float64(s)) > tol {
				t.Fatalf("%s: %d → %d, error beyond %.0f", c.name, s, got, tol)
			}
		}
	}
	// Every code word decodes to a value that encodes back to itself
	// (except µ-law's negative zero 0x7f, which is positive zero's twin).
	for i := range 256 {
		if u := UlawEncode(ulawTable[i]); u != byte(i) && i != 0x7f {
			t.Errorf("ulaw %#x → %d → %#x", i, ulawTable[i], u)
		}
		if a := AlawEncode(alawTable[i]); a != byte(i) {
			t.Errorf("alaw %#x → %d → %#x", i, alawTable[i], a)
		}
	}
}

func TestDecodeFormats(t *testing.T) {
	x := tone(8000, 440, 0.5, 8000)
	x16 := tone(16000, 440, 0.5, 16000)
	ul := EncodeG711(Audio{Samples: x}, CodecPCMU)
	al := EncodeG711(Audio{Samples: x}, CodecPCMA)
	cases := []struct {
		name  string
		data  []byte
		codec Codec
		n     int
	}{
		{"wav pcm 8k", wav(1, 1, 8000, 16, pcm16(x)), CodecAuto, 8000},
		{"wav pcm 16k", wav(1, 1, 16000, 16, pcm16(x16)), CodecAuto, 8000},
		{"wav µ-law", wav(7, 1, 8000, 8, ul), CodecWAV, 8000},
		{"wav A-law", wav(6, 1, 8000, 8, al), CodecAuto, 8000},
		{"raw pcmu", ul, CodecPCMU, 8000},
		{"raw pcma", al, CodecPCMA, 8000},
		{"stereo", wav(1, 2, 8000, 16, pcm16(append(x[:4000:4000], x[:4000]...))), CodecAuto, 4000},
	}
	for _, c := range cases {
		a, err := Decode(c.data, c.codec, Limits{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(a.Samples) != c.n {
			t.Errorf("%s: %d samples, want %d", c.name, len(a.Samples), c.n)
		}
		// The tone survives: RMS of a 0.5 sine is 0.354.
		var ss float64
		for _, s := range a.Samples[100 : len(a.Samples)-100] {
			ss += float64(s) * float64(s)
		}
		if rms := math.Sqrt(ss / float64(len(a.Samples)-200)); math.Abs(rms-0.354) > 0.03 {
			t.Errorf("%s: RMS %.3f, want 0.354", c.name, rms)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	x := tone(8000, 440, 0.5, 8000)
	clipped := tone(8000, 440, 3, 8000)
	for i := range clipped {
		clipped[i] = max(-1, min(1, clipped[i]))
	}
	cases := []struct {
		name  string
		data  []byte
		codec Codec
		kind  error
	}{
		{"empty", nil, CodecAuto, ErrEmpty},
		{"text", []byte("hello, this is not audio at all"), CodecAuto, ErrNotAudio},
		{"rate 4k", wav(1, 1, 4000, 16, pcm16(x)), CodecAuto, ErrUnsupported},
		{"12-bit", wav(1, 1, 8000, 12, pcm16(x)), CodecAuto, ErrUnsupported},
		{"gsm tag", wav(49, 1, 8000, 16, pcm16(x)), CodecAuto, ErrUnsupported},
		{"truncated header", wav(1, 1, 8000, 16, pcm16(x))[:30], CodecAuto, ErrNotAudio},
		{"no data", wav(1, 1, 8000, 16, nil)[:36], CodecAuto, ErrNotAudio},
		{"silence", wav(1, 1, 8000, 16, make([]byte, 16000)), CodecAuto, ErrSilence},
		{"pcmu silence", EncodeG711(Audio{Samples: make([]float32, 8000)}, CodecPCMU), CodecPCMU, ErrSilence},
		{"clipped", wav(1, 1, 8000, 16, pcm16(clipped)), CodecAuto, ErrClipped},
		{"too short", wav(1, 1, 8000, 16, pcm16(x[:800])), CodecAuto, ErrTooShort},
		{"too long", EncodeG711(Audio{Samples: make([]float32, 8000*301)}, CodecPCMU), CodecPCMU, ErrTooLong},
	}
	for _, c := range cases {
		_, err := Decode(c.data, c.codec, Limits{})
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.kind)
		}
	}
	if _, err := ParseCodec("gsm"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ParseCodec(gsm) = %v", err)
	}
}

func FuzzDecodeWAV(f *testing.F) {
	x := tone(1600, 300, 0.3, 8000)
	f.Add(wav(1, 1, 8000, 16, pcm16(x)))
	f.Add(wav(7, 1, 8000, 8, EncodeG711(Audio{Samples: x}, CodecPCMU)))
	f.Add(wav(3, 2, 16000, 32, make([]byte, 64)))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt "))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(b, CodecAuto, Limits{MaxSeconds: 5})
		if err != nil {
			var ae *AudioError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *AudioError", err)
			}
			return
		}
		for _, s := range a.Samples {
			if s != s || s > 1 || s < -1 {
				t.Fatalf("sample %v out of range", s)
			}
		}
	})
}

func FuzzDecodeG711(f *testing.F) {
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80}, true)
	f.Add(EncodeG711(Audio{Samples: tone(1600, 300, 0.3, 8000)}, CodecPCMA), false)
	f.Fuzz(func(t *testing.T, b []byte, ulaw bool) {
		c := CodecPCMA
		if ulaw {
			c = CodecPCMU
		}
		a, err := Decode(b, c, Limits{MaxSeconds: 5})
		if err != nil {
			return
		}
		if len(a.Samples) != len(b) {
			t.Fatalf("%d samples from %d bytes", len(a.Samples), len(b))
		}
		// Re-encoding the decoded payload gives the same payload, up to
		// µ-law's two zeros.
		re := EncodeG711(a, c)
		for i := range b {
			if re[i] != b[i] && !(c == CodecPCMU && (b[i] == 0x7f || b[i] == 0xff)) {
				t.Fatalf("byte %d: %#x → %#x", i, b[i], re[i])
			}
		}
	})
}

// TestResampleKernelTable: the tabulated kernels give what the direct
// windowed-sinc sum gives, for the telephone channel's speed changes and
// for 16 → 8 kHz and for 44.1 → 8 kHz (direct path, too many phases).
func TestResampleKernelTable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4000)
	for i := range x {
		x[i] = float32(0.5*math.Sin(2*math.Pi*440*float64(i)/8000) + 0.1*rng.NormFloat64())
	}
	direct := func(x []float32, from, to int) []float32 {
		ratio := float64(to) / float64(from)
		n := int(float64(len(x)) * ratio)
		out := make([]float32, n)
		fc := 0.45 * math.Min(1, ratio)
		width := 16 / math.Min(1, ratio)
		for i := range n {
			tt := float64(i) / ratio
			var acc, wsum float64
			for k := max(int(math.Ceil(tt-width)), 0); k <= int(math.Floor(tt+width)) && k < len(x); k++ {
				d := tt - float64(k)
				w := 0.5 + 0.5*math.Cos(math.Pi*d/width)
				s := 2 * fc
				if d != 0 {
					s = math.Sin(2*math.Pi*fc*d) / (math.Pi * d)
				}
				acc += float64(x[k]) * s * w
				wsum += s * w
			}
			out[i] = float32(acc / wsum)
		}
		return out
	}
	for _, c := range [][2]int{{7700, 8000}, {8317, 8000}, {16000, 8000}, {8000, 16000}, {44100, 8000}} {
		got, want := Resample(x, c[0], c[1]), direct(x, c[0], c[1])
		if len(got) != len(want) {
			t.Fatalf("%v: %d samples, want %d", c, len(got), len(want))
		}
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-5 {
				t.Fatalf("%v: sample %d = %v, want %v", c, i, got[i], want[i])
			}
		}
	}
}
