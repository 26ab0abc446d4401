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

// fsddDir is the shared copy of the Free Spoken Digit Dataset (CC BY-SA
// 4.0, test data only; see its PROVENANCE.md).
func fsddDir(t testing.TB) string {
	dir := os.Getenv("TOLLGATE_FSDD")
	if dir == "" {
		dir = "../../shared/testdata/voice-fsdd"
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
	if len(fsddData.speakers) != 6 || len(fsddData.rec) != 3000 {
		t.Fatalf("FSDD: %d speakers, %d recordings; want 6 and 3000", len(fsddData.speakers), len(fsddData.rec))
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

// fsddModel trains a small model on repetitions 0–24 of all six speakers:
// the background model never hears a test recording (25–49).
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
			if rep < 25 {
				utts = append(utts, Utterance{Speaker: spk, Audio: a})
			}
		}
		sort.SliceStable(utts, func(i, j int) bool { return utts[i].Speaker < utts[j].Speaker })
		o := DefaultTrainOptions()
		o.GMM.Components = 64 // smaller than the default, for the race detector's sake
		o.GMM.MaxFrames = 30000
		o.GMM.Iters = 3
		testModel, testModelErr = Train(utts, o)
	})
	if testModelErr != nil {
		t.Fatal(testModelErr)
	}
	return testModel
}

// TestVerifyFSDD is the acceptance test: three enrolment strings
// of five digits from one real speaker; a held-out ten-digit string (an
// account number's length) of the same speaker is accepted and each of the
// other five speakers claiming the identity is rejected at the threshold
// for a 1 % false-accept rate. The model and the draw are deterministic.
// Over 30 other draws (seeds 1–30) this setting failed once (a false
// reject); with five-digit test strings 8 of 20 draws failed, which is
// what an equal-error rate near 4 % at five digits predicts for twelve
// trials at a 1 % false-accept threshold (docs/benchmarks.md).
func TestVerifyFSDD(t *testing.T) {
	d := loadFSDD(t)
	m := fsddModel(t)
	thr := m.Calib.Threshold(0.01)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, target := range []string{"jackson", "george"} {
		var st Stats
		for range 3 {
			st = st.Add(m.Backend.Stats(d.digits(target, 5, 0, 25, rng)))
		}
		print := m.Print(st)
		if print.Speech < 3 {
			t.Fatalf("%s: enrolment has %.2f s of net speech, want ≥ 3 s", target, print.Speech)
		}
		for _, claimant := range d.speakers {
			test := m.Print(m.Backend.Stats(d.digits(claimant, 10, 25, 50, rng)))
			r := m.Compare(print, test)
			accepted := r.Normalized >= thr
			t.Logf("enrolled %s, speaker %s: raw %.3f norm %.2f llr %.2f (threshold %.2f)", target, claimant, r.Raw, r.Normalized, r.LLR, thr)
			if accepted != (claimant == target) {
				t.Errorf("enrolled %s, speaker %s: accepted = %v, want %v (normalized %.2f, threshold %.2f)", target, claimant, accepted, claimant == target, r.Normalized, thr)
			}
		}
	}
}
