package cli

import (
	"bytes"
	"crypto/sha256"
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
	model := filepath.Join(dir, "model.bin")
	rng := rand.New(rand.NewPCG(5, 6))
	trained := trainSyntheticModel(t, rec, dir, model, rng)
	// Speakers in name order: lucas and yweweler (every third) set the
	// threshold with their 50 recordings each.
	if !strings.Contains(trained, "200 human recordings of 4 speakers") || !strings.Contains(trained, "2 held-out training speakers: 100 real calls, 1 % false flags") {
		t.Errorf("train-ubm output: %q", trained)
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
	var out, errb bytes.Buffer
	model2 := filepath.Join(dir, "model2.bin")
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

// trainSyntheticModel trains a small model with the synthetic-voice
// detector ('voice train-ubm -synthetic') into model: repetitions 0–4 of
// the FSDD subset rec as the background and, as a stand-in "engine",
// george's and theo's repetitions 0–1 through the LPC vocoder (rng). It
// returns train-ubm's output.
func trainSyntheticModel(t *testing.T, rec, dir, model string, rng *rand.Rand) string {
	t.Helper()
	bg, tts := filepath.Join(dir, "background"), filepath.Join(dir, "tts")
	files, _ := filepath.Glob(filepath.Join(rec, "*.wav"))
	for _, f := range files {
		// digit_speaker_repetition.wav
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".wav"), "_")
		spk, r := parts[1], 99
		fmt.Sscan(parts[2], &r)
		if r >= 5 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(bg, spk), 0o750)
		os.WriteFile(filepath.Join(bg, spk, filepath.Base(f)), b, 0o640)
		if r < 2 && (spk == "george" || spk == "theo") {
			a, err := voice.Decode(b, voice.CodecWAV, voice.Limits{MinSeconds: 0.01})
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Join(tts, "vocoder-"+spk), 0o750)
			os.WriteFile(filepath.Join(tts, "vocoder-"+spk, filepath.Base(f)), voice.EncodeWAV(voice.Vocode(a, r == 1, rng)), 0o640)
		}
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"voice", "train-ubm", "-out", model, "-components", "8", "-frames", "5000", "-channels", "clean", "-synthetic", tts, bg}, nil, &out, &errb); code != 0 {
		t.Fatalf("train-ubm: exit %d: %s", code, errb.String())
	}
	return out.String()
}

// POST /v1/voice/calibrate sets the synthetic-voice threshold as 'voice
// calibrate' does. The attacks: a read or screen token (a viewer, an IVR)
// tries to move the threshold, and an admin asks for 1 % false flags from
// too few calls (which would put the threshold at the top of a handful of
// scores); both are refused and the model file is left as it was.
func TestVoiceSyntheticCalibrateAPI(t *testing.T) {
	rec := fsddPath(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "data", "voice-model.bin")
	rng := rand.New(rand.NewPCG(5, 7))
	trainSyntheticModel(t, rec, dir, model, rng)
	m1, err := voice.LoadModelFile(model)
	if err != nil || m1.Synthetic == nil {
		t.Fatalf("trained model: %v", err)
	}
	t.Setenv("TG_TEST_VOICE_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	hash := func(tok string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(tok))) }
	policy := fmt.Sprintf(`
server:
  tokens:
    - {name: pbx, role: screen, sha256: %s}
    - {name: noc, role: read, sha256: %s}
    - {name: fraud-desk, role: operator, sha256: %s}
    - {name: boss, role: admin, sha256: %s}
defaults:
  country: US
  on_error: fail_closed
tenants:
  acme: {}
voice:
  enabled: true
  key_env: TG_TEST_VOICE_KEY
`, hash("syn-screen"), hash("syn-read"), hash("syn-operator"), hash("syn-admin"))
	s, _ := start(t, filepath.Join(dir, "data"), policy)
	defer stop(t, s)
	base := "http://" + s.Addr.String()
	calls := map[string][][]byte{}
	for i := range 20 {
		spk := []string{"jackson", "nicolas"}[i%2]
		calls[spk] = append(calls[spk], digitWAV(t, rec, spk, 5, 0, 10, rng))
	}
	only := map[string]string{"synthetic_only": "true", "synthetic_false_flags": "0.05"}
	before, _ := os.ReadFile(model)
	unchanged := func(what string) {
		t.Helper()
		if after, _ := os.ReadFile(model); !bytes.Equal(before, after) {
			t.Errorf("%s rewrote the model file", what)
		}
	}
	for _, tok := range []string{"syn-read", "syn-screen"} {
		if code, body := calibReqWith(t, base, tok, only, calls, false); code != 403 {
			t.Errorf("synthetic calibration with %s: %d %v, want 403", tok, code, body)
		}
	}
	unchanged("a refused token")
	// 1 % needs 100 calls: 20 are refused, naming the need.
	code, body := calibReqWith(t, base, "syn-admin", map[string]string{"synthetic_false_flags": "0.01"}, calls, false)
	if code != 400 || body["field"] != "audio" || !strings.Contains(fmt.Sprint(body["error"]), "need at least 100") {
		t.Errorf("1 %% from 20 calls: %d %v, want 400 naming the 100 calls needed", code, body)
	}
	for _, v := range []string{"0.5", "-0.01", "one percent", "NaN"} {
		if code, body := calibReqWith(t, base, "syn-admin", map[string]string{"synthetic_false_flags": v}, calls, false); code != 400 || body["field"] != "synthetic_false_flags" {
			t.Errorf("synthetic_false_flags %q: %d %v, want 400 naming the field", v, code, body)
		}
	}
	if code, body := calibReqWith(t, base, "syn-admin", map[string]string{"synthetic_only": "true", "synthetic_false_flags": "0"}, calls, false); code != 400 || body["field"] != "synthetic_false_flags" {
		t.Errorf("synthetic_only at 0: %d %v, want 400", code, body)
	}
	unchanged("a refused request")
	// An operator sets it at 5 % (20 calls suffice); only that changes.
	code, body = calibReqWith(t, base, "syn-operator", only, calls, false)
	syn, _ := body["synthetic"].(map[string]any)
	if code != 200 || syn == nil || body["saved"] != true || syn["false_flags"] != 0.05 || syn["threshold"] == syn["previous_threshold"] ||
		!strings.Contains(fmt.Sprint(syn["set_by"]), "20 real calls") || !strings.Contains(fmt.Sprint(syn["set_by"]), "token:fraud-desk") {
		t.Fatalf("synthetic-only calibration: %d %v", code, body)
	}
	m2, err := voice.LoadModelFile(model)
	if err != nil || m2.Synthetic == nil || m2.Synthetic.FalseFlags != 0.05 || m2.Synthetic.Threshold != syn["threshold"] {
		t.Fatalf("saved model: %v", err)
	}
	if m2.ID != m1.ID || m2.Calib.Trials != m1.Calib.Trials {
		t.Errorf("synthetic-only calibration changed the speaker model: trials %q → %q", m1.Calib.Trials, m2.Calib.Trials)
	}
	// The threshold in use is the new one.
	code, body = voiceReq(t, base, "syn-admin", "/v1/voice/identify", map[string]string{"tenant": "acme"}, digitWAV(t, rec, "theo", 8, 0, 10, rng))
	if r, _ := body["synthetic"].(map[string]any); code != 200 || r == nil || r["threshold"] != syn["threshold"] {
		t.Errorf("identify after calibration: %d %v, want the new synthetic threshold %v", code, body, syn["threshold"])
	}
}
