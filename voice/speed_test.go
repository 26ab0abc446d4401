package voice

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// toneFreq estimates a pure tone's frequency from its zero crossings.
func toneFreq(x []float32) float64 {
	// Skip the resampler's edges.
	x = x[len(x)/10 : len(x)-len(x)/10]
	var cross int
	for i := 1; i < len(x); i++ {
		if (x[i-1] < 0) != (x[i] < 0) {
			cross++
		}
	}
	return float64(cross) / 2 / (float64(len(x)) / Rate)
}

// TestSpeed: a 1 kHz tone played 5 % faster is a 1.05 kHz tone lasting
// 1/1.05 as long, 5 % slower a 950 Hz one; "speed<f>" channel names reach
// Speed and out-of-range or malformed ones are refused, by Channel and by
// Train.
func TestSpeed(t *testing.T) {
	a := Audio{Samples: make([]float32, Rate)}
	for i := range a.Samples {
		a.Samples[i] = float32(0.5 * math.Sin(2*math.Pi*1000*float64(i)/Rate))
	}
	for name, f := range map[string]float64{"speed0.95": 0.95, "speed1.05": 1.05} {
		out, err := Channel(name, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(out.Samples), int(float64(Rate)/f); math.Abs(float64(got-want)) > 2 {
			t.Errorf("speed %.2f: %d samples, want %d", f, got, want)
		}
		if got := toneFreq(out.Samples); math.Abs(got-1000*f) > 3 {
			t.Errorf("speed %.2f: tone at %.1f Hz, want %.1f", f, got, 1000*f)
		}
	}
	if out := Speed(a, 1); len(out.Samples) != len(a.Samples) || toneFreq(out.Samples) != toneFreq(a.Samples) {
		t.Error("speed 1 changed the audio")
	}
	for _, bad := range []string{"speed", "speed0.5", "speed1.5", "speedx", "speed-1", "fast"} {
		if KnownChannel(bad) {
			t.Errorf("KnownChannel(%q) = true", bad)
		}
		if _, err := Channel(bad, a, rand.New(rand.NewPCG(1, 2))); err == nil {
			t.Errorf("Channel(%q) accepted", bad)
		}
	}
	o := DefaultTrainOptions()
	o.Channels = []string{"clean", "speed2"}
	if _, err := Train([]Utterance{{Speaker: "a", Audio: a}}, o); err == nil || !strings.Contains(err.Error(), "speed2") {
		t.Errorf("Train with channel speed2: %v, want an error naming it", err)
	}
}

// TestTelephoneParts: with no stage on, the channel returns its input;
// whichever stages are on, it draws the same random numbers as
// Telephone (so stage-by-stage diagnostics score the same trials); the
// speed stage alone changes the length as a speed of 0.96–1.04 does.
func TestTelephoneParts(t *testing.T) {
	a := Audio{Samples: make([]float32, 4000)}
	for i := range a.Samples {
		a.Samples[i] = float32(0.3 * math.Sin(float64(i)*0.07))
	}
	for _, st := range []TelephoneStage{0, TelSpeed, TelNoise, TelBand, TelGain, TelNoise | TelBand, TelephoneAll} {
		r1, r2 := rand.New(rand.NewPCG(3, 4)), rand.New(rand.NewPCG(3, 4))
		out := TelephoneParts(a, r1, st)
		Telephone(a, r2)
		if r1.Uint64() != r2.Uint64() {
			t.Errorf("stages %04b: random draws differ from Telephone's", st)
		}
		if st == 0 {
			for i, v := range out.Samples {
				if v != a.Samples[i] {
					t.Fatalf("no stages: sample %d changed", i)
				}
			}
		}
		if st == TelSpeed {
			if n := len(out.Samples); n < 3845 || n > 4167 || n == 4000 {
				t.Errorf("speed stage: %d samples from 4000", n)
			}
		}
	}
}
