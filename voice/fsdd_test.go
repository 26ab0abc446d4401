package voice

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// fsddDir is the test subset of the Free Spoken Digit Dataset (CC BY-SA
// 4.0, test data only; see testdata/voice-fsdd/PROVENANCE.md): four
// speakers, every digit, repetitions 0–9 (background model and enrolment)
// and 40–49 (tests). TOLLGATE_FSDD may name the whole dataset instead
// (benchmarks).
func fsddDir(t testing.TB) string {
	dir := os.Getenv("TOLLGATE_FSDD")
	if dir == "" {
		dir = "testdata/voice-fsdd"
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings")); err != nil {
		t.Fatalf("FSDD test data not found at %s (set TOLLGATE_FSDD): %v", dir, err)
	}
	return dir
}

type fsdd struct {
	speakers []string
	rec      map[string]Audio // "digit_speaker_rep"
}

var (
	fsddOnce sync.Once
	fsddData *fsdd
	fsddErr  error
)

func loadFSDD(t testing.TB) *fsdd {
	dir := fsddDir(t)
	fsddOnce.Do(func() {
		files, _ := filepath.Glob(filepath.Join(dir, "recordings", "*.wav"))
		d := &fsdd{rec: map[string]Audio{}}
		seen := map[string]bool{}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				fsddErr = err
				return
			}
			a, err := Decode(b, CodecWAV, Limits{MinSeconds: 0.01})
			if err != nil {
				fsddErr = fmt.Errorf("%s: %w", f, err)
				return
			}
			key := strings.TrimSuffix(filepath.Base(f), ".wav")
			d.rec[key] = a
			spk := strings.Split(key, "_")[1]
			if !seen[spk] {
				seen[spk] = true
				d.speakers = append(d.speakers, spk)
			}
		}
		sort.Strings(d.speakers)
		fsddData = d
	})
	if fsddErr != nil {
		t.Fatal(fsddErr)
	}
	for _, spk := range []string{"george", "jackson", "lucas", "nicolas", "theo", "yweweler"} {
		for digit := range 10 {
			for _, rep := range []int{0, 9, 40, 49} {
				if _, ok := fsddData.rec[fmt.Sprintf("%d_%s_%d", digit, spk, rep)]; !ok {
					t.Fatalf("FSDD: no recording %d_%s_%d (%d speakers, %d recordings)", digit, spk, rep, len(fsddData.speakers), len(fsddData.rec))
				}
			}
		}
	}
	return fsddData
}

// digits joins n recordings of spk with repetitions in [lo, hi), 60 ms apart.
func (d *fsdd) digits(spk string, n, lo, hi int, rng *rand.Rand) Audio {
	var out []float32
	for range n {
		a := d.rec[fmt.Sprintf("%d_%s_%d", rng.IntN(10), spk, lo+rng.IntN(hi-lo))]
		out = append(out, a.Samples...)
		out = append(out, make([]float32, 480)...)
	}
	return Audio{Samples: out}
}

var (
	testModelOnce sync.Once
	testModel     *Model
	testModelErr  error
)

// fsddModel trains a small model on repetitions 0–9 of the speakers:
// the background model never hears a test recording (40–49).
func fsddModel(t testing.TB) *Model {
	d := loadFSDD(t)
	testModelOnce.Do(func() {
		// Map order is random: walk the keys sorted so that every run
		// trains the same model (frame subsampling and initialisation
		// depend on the order of the utterances).
		keys := make([]string, 0, len(d.rec))
		for key := range d.rec {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		var utts []Utterance
		for _, key := range keys {
			a := d.rec[key]
			var digit, rep int
			var spk string
			parts := strings.Split(key, "_")
			fmt.Sscan(parts[0], &digit)
			spk = parts[1]
			fmt.Sscan(parts[2], &rep)
			if rep < 10 {
				utts = append(utts, Utterance{Speaker: spk, Audio: a})
			}
		}
		sort.SliceStable(utts, func(i, j int) bool { return utts[i].Speaker < utts[j].Speaker })
		o := DefaultTrainOptions()
		o.GMM.Components = 64 // smaller than the default, for the race detector's sake
		o.GMM.MaxFrames = 30000
		// Clean background only, as before issue 19's third pass: this
		// small model (64 components, 30,000 frames, all six speakers'
		// repetitions 0–9) made 4–5 false rejects of 60 in
		// TestVerifyFSDD with the default clean + A-law + telephone
		// background and channel directions (2 clean-only), although on
		// held-out speakers the full-size default did better in every
		// channel pair (docs/benchmarks.md).
		o.Channels = []string{"clean"}
		o.GMM.Iters = 3
		testModel, testModelErr = Train(utts, o)
	})
	if testModelErr != nil {
		t.Fatal(testModelErr)
	}
	return testModel
}

// TestVerifyFSDD is the acceptance test, over 30 draws: three
// enrolment strings of five digits from one real speaker; a held-out
// ten-digit string (an account number's length) of the same speaker must
// be accepted and each of the other five speakers claiming the identity
// rejected at the threshold for a 1 % false-accept rate. Thirty draws
// (seeds 1–30) of two enrolled speakers give 60 target and 300 impostor
// trials; the threshold's design allows 1 % of the impostors through
// (3), and at most 3 false rejects (5 %) are allowed. Each draw makes one
// ten-digit test string per speaker and claims it against both enrolled
// speakers. On the test subset (repetitions 0–9 to train and enrol, 40–49
// to test) the draws make 2 false rejects and no false accept; with four
// speakers instead of six, 11 of 30 draws had an error, which is why the
// subset keeps all six (docs/benchmarks.md, issue 20). The model and the
// draws are deterministic.
func TestVerifyFSDD(t *testing.T) {
	d := loadFSDD(t)
	m := fsddModel(t)
	thr := m.Calib.Threshold(0.01)
	var targets, impostors, falseRejects, falseAccepts int
	for seed := uint64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		// One held-out test string per speaker and draw, claimed against
		// each enrolled speaker in turn.
		tests := map[string]Voiceprint{}
		for _, spk := range d.speakers {
			tests[spk] = m.Print(m.Backend.Stats(d.digits(spk, 10, 40, 50, rng)))
		}
		for _, target := range []string{"jackson", "george"} {
			var st Stats
			for range 3 {
				st = st.Add(m.Backend.Stats(d.digits(target, 5, 0, 10, rng)))
			}
			print := m.Print(st)
			if print.Speech < 3 {
				t.Fatalf("seed %d, %s: enrolment has %.2f s of net speech, want ≥ 3 s", seed, target, print.Speech)
			}
			for _, claimant := range d.speakers {
				r := m.Compare(print, tests[claimant])
				accepted := r.Normalized >= thr
				if claimant == target {
					targets++
				} else {
					impostors++
				}
				if accepted != (claimant == target) {
					t.Logf("seed %d, enrolled %s, speaker %s: accepted = %v (raw %.3f, normalized %.2f, threshold %.2f)", seed, target, claimant, accepted, r.Raw, r.Normalized, thr)
					if accepted {
						falseAccepts++
					} else {
						falseRejects++
					}
				}
			}
		}
	}
	t.Logf("%d target trials, %d false rejects; %d impostor trials, %d false accepts (threshold %.2f)", targets, falseRejects, impostors, falseAccepts, thr)
	if targets != 60 || impostors != 300 {
		t.Fatalf("%d target and %d impostor trials, want 60 and 300 (six speakers)", targets, impostors)
	}
	if falseAccepts > 3 {
		t.Errorf("%d of %d impostors accepted at the 1 %% false-accept threshold, want at most 3", falseAccepts, impostors)
	}
	if falseRejects > 3 {
		t.Errorf("%d of %d genuine speakers rejected, want at most 3", falseRejects, targets)
	}
}
