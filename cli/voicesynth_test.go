package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/voice"
)

// train-ubm -synthetic holds a third of the speakers out to set the
// synthetic-voice threshold, and voice calibrate -synthetic-only sets it
// again on the operator's own calls, leaving the speaker model alone.
func TestVoiceSyntheticCalibrate(t *testing.T) {
	rec := fsddPath(t)
	dir := t.TempDir()
	bg, tts := filepath.Join(dir, "background"), filepath.Join(dir, "tts")
	files, _ := filepath.Glob(filepath.Join(rec, "*.wav"))
	rng := rand.New(rand.NewPCG(5, 6))
	for _, f := range files {
		var d, r int
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".wav"), "_")
		fmt.Sscan(parts[0], &d)
		fmt.Sscan(parts[2], &r)
		if r >= 5 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(bg, parts[1]), 0o750)
		os.WriteFile(filepath.Join(bg, parts[1], filepath.Base(f)), b, 0o640)
		// A stand-in "engine" for the synthetic side: two speakers'
		// recordings through the LPC vocoder.
		if r < 2 && (parts[1] == "george" || parts[1] == "theo") {
			a, err := voice.Decode(b, voice.CodecWAV, voice.Limits{MinSeconds: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(tts, "vocoder-"+parts[1]), 0o750)
			os.WriteFile(filepath.Join(tts, "vocoder-"+parts[1], filepath.Base(f)), voice.EncodeWAV(voice.Vocode(a, r == 1, rng)), 0o640)
		}
	}
	model := filepath.Join(dir, "model.bin")
	var out, errb bytes.Buffer
	if code := Main([]string{"voice", "train-ubm", "-out", model, "-components", "8", "-frames", "5000", "-channels", "clean", "-synthetic", tts, bg}, nil, &out, &errb); code != 0 {
		t.Fatalf("train-ubm: exit %d: %s", code, errb.String())
	}
	// Speakers in name order: lucas and yweweler (every third) set the
	// threshold with their 50 recordings each.
	if !strings.Contains(out.String(), "200 human recordings of 4 speakers") || !strings.Contains(out.String(), "2 held-out training speakers: 100 real calls, 1 % false flags") {
		t.Errorf("train-ubm output: %q", out.String())
	}
	m1, err := voice.LoadModelFile(model)
	if err != nil || m1.Synthetic == nil || m1.Synthetic.FalseFlags != 0.01 {
		t.Fatalf("trained model: %v", err)
	}
	calls := filepath.Join(dir, "calls", "any")
	os.MkdirAll(calls, 0o750)
	for i := range 20 {
		os.WriteFile(filepath.Join(calls, fmt.Sprintf("%d.wav", i)), digitWAV(t, rec, []string{"jackson", "nicolas"}[i%2], 5, 0, 10, rng), 0o640)
	}
	model2 := filepath.Join(dir, "model2.bin")
	out.Reset()
	if code := Main([]string{"voice", "calibrate", "-model", model, "-out", model2, "-synthetic-only", "-synthetic-false-flags", "0.05", filepath.Dir(calls)}, nil, &out, &errb); code != 0 {
		t.Fatalf("calibrate -synthetic-only: exit %d: %s", code, errb.String())
	}
	m2, err := voice.LoadModelFile(model2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "synthetic-voice threshold") || m2.Synthetic.FalseFlags != 0.05 || !strings.Contains(m2.Synthetic.ThresholdFrom, "operator calls") ||
		!strings.Contains(m2.Synthetic.ThresholdFrom, "20 real calls") {
		t.Errorf("calibrate -synthetic-only: %q; detector %g %q", out.String(), m2.Synthetic.FalseFlags, m2.Synthetic.ThresholdFrom)
	}
	if m2.ID != m1.ID || m2.Calib.Trials != m1.Calib.Trials {
		t.Errorf("synthetic-only calibration changed the speaker model: ID %q → %q, trials %q → %q", m1.ID, m2.ID, m1.Calib.Trials, m2.Calib.Trials)
	}
	// At most 5 % of those 20 calls reach the new threshold.
	n := 0
	ents, _ := os.ReadDir(calls)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(calls, e.Name()))
		a, _ := voice.Decode(b, voice.CodecWAV, voice.Limits{})
		if m2.Synthetic.Score(a) >= m2.Synthetic.Threshold {
			n++
		}
	}
	if n > 1 {
		t.Errorf("%d of 20 calibration calls flagged at 5 %%", n)
	}
	// Too few calls for 1 %: refused, nothing written.
	model3 := filepath.Join(dir, "model3.bin")
	errb.Reset()
	if code := Main([]string{"voice", "calibrate", "-model", model, "-out", model3, "-synthetic-only", filepath.Dir(calls)}, nil, &out, &errb); code == 0 || !strings.Contains(errb.String(), "need at least 100") {
		t.Errorf("20 calls at 1 %%: exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(model3); err == nil {
		t.Error("a refused calibration wrote a model")
	}
	// A model without the detector.
	m1.Synthetic = nil
	plain := filepath.Join(dir, "plain.bin")
	if err := m1.SaveFile(plain); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := Main([]string{"voice", "calibrate", "-model", plain, "-out", model3, "-synthetic-only", filepath.Dir(calls)}, nil, &out, &errb); code == 0 || !strings.Contains(errb.String(), "no synthetic-voice detector") {
		t.Errorf("model without a detector: exit %d: %s", code, errb.String())
	}
}
