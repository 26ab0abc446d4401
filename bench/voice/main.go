// Command voice evaluates tollgate's speaker verification on real speakers
// (the Free Spoken Digit Dataset) with IVR-like digit strings, clean and
// through a simulated telephone channel, with the background model and
// cohort trained without the two speakers of each trial.
//
//	go run ./bench/voice -fsdd DIR
//
// DIR is a full copy of FSDD (3,000 recordings, from the public repository
// Jakobovski/free-spoken-digit-dataset, folder recordings/ with its parent
// as DIR); the repository's test subset (voice/testdata/voice-fsdd) lacks
// repetitions 10–39, which the evaluation's splits use.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/voice"
)

type rec struct {
	spk   string
	digit int
	rep   int
	audio voice.Audio
}

type corpus struct {
	speakers []string
	bySpk    map[string][]rec
	synth    map[string]bool // speakers that are TTS voices
}

func loadFSDD(dir string) (*corpus, error) {
	files, err := filepath.Glob(filepath.Join(dir, "recordings", "*.wav"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no recordings under %s/recordings", dir)
	}
	c := &corpus{bySpk: map[string][]rec{}, synth: map[string]bool{}}
	for _, f := range files {
		var d, r int
		base := strings.TrimSuffix(filepath.Base(f), ".wav")
		parts := strings.Split(base, "_")
		if len(parts) != 3 {
			continue
		}
		fmt.Sscan(parts[0], &d)
		fmt.Sscan(parts[2], &r)
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		a, err := voice.Decode(data, voice.CodecWAV, voice.Limits{MinSeconds: 0.01})
		if err != nil {
			log.Printf("%s: %v (skipped)", f, err)
			continue
		}
		c.bySpk[parts[1]] = append(c.bySpk[parts[1]], rec{spk: parts[1], digit: d, rep: r, audio: a})
	}
	for s := range c.bySpk {
		c.speakers = append(c.speakers, s)
	}
	sort.Strings(c.speakers)
	return c, nil
}

// loadTTS reads DIR/<voice>/<digit>_<rep>.wav as extra (synthetic) speakers.
func (c *corpus) loadTTS(dir string) error {
	voices, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, v := range voices {
		if !v.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, v.Name(), "*.wav"))
		spk := "tts:" + v.Name()
		for _, f := range files {
			var d, r int
			if _, err := fmt.Sscanf(filepath.Base(f), "%d_%d.wav", &d, &r); err != nil {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			a, err := voice.Decode(data, voice.CodecWAV, voice.Limits{MinSeconds: 0.01})
			if err != nil {
				continue
			}
			c.bySpk[spk] = append(c.bySpk[spk], rec{spk: spk, digit: d, rep: r, audio: a})
		}
		if len(c.bySpk[spk]) > 0 {
			c.speakers = append(c.speakers, spk)
			c.synth[spk] = true
		}
	}
	return nil
}

// digitString joins n recordings of spk with repetitions in [lo,hi), 60 ms
// apart.
func (c *corpus) digitString(spk string, n, lo, hi int, rng *rand.Rand) voice.Audio {
	byKey := map[[2]int]voice.Audio{}
	maxRep := 0
	for _, r := range c.bySpk[spk] {
		byKey[[2]int{r.digit, r.rep}] = r.audio
		maxRep = max(maxRep, r.rep+1)
	}
	if maxRep < 50 {
		// Fewer repetitions (TTS voices): keep the same split in proportion.
		lo, hi = lo*maxRep/50, hi*maxRep/50
	}
	var out []float32
	gap := make([]float32, 480)
	for k := 0; k < n; {
		a, ok := byKey[[2]int{rng.IntN(10), lo + rng.IntN(max(1, hi-lo))}]
		if !ok {
			continue
		}
		out = append(out, a.Samples...)
		out = append(out, gap...)
		k++
	}
	return voice.Audio{Samples: out}
}

var scoring string

type setting struct {
	name string
	opt  voice.TrainOptions
}

type trialSet struct {
	tar, imp []float64
	speech   []float64 // net speech per test
}

func (t *trialSet) add(o trialSet) {
	t.tar = append(t.tar, o.tar...)
	t.imp = append(t.imp, o.imp...)
	t.speech = append(t.speech, o.speech...)
}

type condition struct {
	name      string
	telephone bool
}

func main() {
	fsdd := flag.String("fsdd", "", "FSDD directory holding recordings/ (the whole dataset; required)")
	tts := flag.String("tts", "", "directory of TTS voices (<voice>/<digit>_<rep>.wav) used as extra background and impostor speakers")
	digits := flag.String("digits", "5,10", "digit-string lengths")
	grid := flag.String("grid", "", "settings to cross-validate, ';'-separated, e.g. 'C=64 r=16;C=128 norm=cmn'")
	conds := flag.String("cond", "clean,telephone", "conditions")
	models := flag.Int("models", 4, "enrolment models per speaker per fold")
	tests := flag.Int("tests", 25, "test strings per speaker")
	ident := flag.Bool("ident", false, "closed-set identification among the real speakers (background: repetitions 0–24 of all of them)")
	held := flag.Bool("heldout", false, "issue 19: enrolment/test channel pairs, calibration on held-out speakers; before (old front end) and after")
	variants := flag.String("variants", "before,after", "with -heldout: before, cmvn-fullband, features, features+channels, fullband, after")
	folds := flag.Int("folds", 15, "with -heldout: how many test-speaker pairs (of 15)")
	flag.BoolVar(&stagePairs, "stages", false, "with -heldout: also score the simulated telephone channel stage by stage: clean → its speed change only, its noise only, its band pass + µ-law only, everything but the speed change; and telephone → telephone without the speed change (same trials)")
	scores := flag.String("scores", "", "with -heldout: also write every trial's score to this file (for -pool)")
	pool := flag.String("pool", "", "comma-separated -scores files of runs on different folds: print their pooled -heldout table and exit")
	foldFrom := flag.Int("foldfrom", 0, "with -heldout: skip this many test-speaker pairs first (the protocol's held-out folds are 0–2; tune on 3 and up)")
	calibReal := flag.Bool("calibreal", false, "with -calib: split the real FSDD speakers over background, calibration and test too, and report their false accepts")
	calibRealOnly := flag.Bool("calibrealonly", false, "with -calib: as -calibreal, and calibrate on the real calibration speakers only")
	calib := flag.String("calib", "", "calibration check on a directory of synthetic speakers (bench/voice/speakers.sh): background, calibration and test speakers disjoint")
	farDir := flag.String("farcheck", "", "issue 19: false accepts at calibrated thresholds on unseen speakers; a directory of synthetic speakers (bench/voice/speakers.sh), with -variants (one) and -cond enrol-test channel pairs")
	farDigits := flag.Int("fardigits", 5, "with -farcheck: digits in the real test speakers' test strings (calibration calls keep five)")
	flagDir := flag.String("synthflag", "", "synthetic-voice flag on a directory of synthetic speakers (bench/voice/speakers.sh), one family held out at a time")
	flagTrain := flag.String("flagtrain", "clean", "with -synthflag: channels the detector's training audio is heard through")
	flagComps := flag.Int("flagcomps", 32, "with -synthflag: mixture components")
	synth := flag.Bool("synthetic", false, "evaluate the synthetic-voice detector (needs -tts): each engine family held out in turn")
	lofo := flag.Bool("synthlofo", false, "synthetic-voice detector on regularity features, one TTS engine family held out at a time (needs -tts from bench/voice/ttsdigits.sh)")
	lofoDet := flag.String("lofodet", "lr,lr+voc,voc,oneclass", "with -synthlofo: detectors, some of "+strings.Join(lofoDetectors, ",")+" (gmm: the mixture detector, voice.TrainSynthetic)")
	lofoCV := flag.Bool("lofocv", true, "with -synthlofo: set the training-side threshold by leaving each training speaker out of its own model (false: on the training speakers' unseen strings, cheaper and optimistic)")
	lofoFolds := flag.Int("lofofolds", 3, "with -synthlofo: how many pairs of real test speakers (of 3)")
	s3 := flag.String("synth3", "", "issue 19: synthetic-voice flag with train, calibration and test speakers disjoint and one TTS family held out at a time (needs -tts); comma-separated detector specs (see synth3Options), e.g. shipped,default")
	s3rot := flag.Int("synth3rot", 3, "with -synth3: 3 or 6 rotations of the speaker pairs")
	dump := flag.Bool("synthdump", false, "print the synthetic-voice regularity features per speaker and TTS voice (needs -tts)")
	flag.StringVar(&scoring, "scoring", "snorm", "snorm, raw or llr (classic GMM-UBM frame likelihood ratio)")
	flag.Parse()
	log.SetFlags(0)
	if *pool != "" {
		if err := poolScores(strings.Split(*pool, ",")); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *fsdd == "" {
		log.Fatal("voice: -fsdd DIR is required (a full copy of FSDD)")
	}
	t0 := time.Now()
	c, err := loadFSDD(*fsdd)
	if err != nil {
		log.Fatal(err)
	}
	real := append([]string(nil), c.speakers...)
	if *tts != "" {
		if err := c.loadTTS(*tts); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("loaded %d speakers (%d real) in %v", len(c.speakers), len(real), time.Since(t0).Round(time.Millisecond))
	var lens []int
	for _, s := range strings.Split(*digits, ",") {
		var n int
		fmt.Sscan(s, &n)
		lens = append(lens, n)
	}
	if *ident {
		for _, cn := range strings.Split(*conds, ",") {
			for _, n := range lens {
				identify(c, real, cn == "telephone", n, *tests)
			}
		}
		return
	}
	if *dump {
		synthDump(c, *conds, 30)
		return
	}
	if *s3 != "" {
		synth3(c, real, strings.Split(*conds, ","), strings.Split(*s3, ","), *s3rot)
		return
	}
	if *lofo {
		synthLOFO(c, real, *conds, strings.Split(*flagTrain, ","), strings.Split(*lofoDet, ","), *lofoCV, *lofoFolds)
		return
	}
	if *flagDir != "" {
		synthFlag(c, real, *flagDir, *conds, strings.Split(*flagTrain, ","), *flagComps)
		return
	}
	if *farDir != "" {
		farCheck(c, real, *farDir, *variants, *conds, *farDigits)
		return
	}
	if *calib != "" {
		calibCheck(c, real, *calib, *variants, *conds, *calibReal, *calibRealOnly)
		return
	}
	if *held {
		heldOut(c, real, lens, *foldFrom, *folds, *models, *tests, *variants, *scores)
		return
	}
	if *synth {
		for _, cn := range strings.Split(*conds, ",") {
			evalSynthetic(c, real, cn == "telephone")
		}
		return
	}
	settings := []setting{{"default", voice.DefaultTrainOptions()}}
	if *grid != "" {
		settings = gridSettings(*grid)
	}
	fmt.Printf("| condition | digits | setting | EER %% | minDCF(0.01) | FA%% at 5%% FR | target / impostor trials | net speech per test (s) |\n|---|---|---|---|---|---|---|---|\n")
	for _, cn := range strings.Split(*conds, ",") {
		cond := condition{name: cn, telephone: cn == "telephone"}
		for _, n := range lens {
			for _, st := range settings {
				ts := crossValidate(c, real, cond, n, st, *models, *tests)
				eer, _ := voice.EER(ts.tar, ts.imp)
				dcf := voice.MinDCF(ts.tar, ts.imp, 0.01)
				fa := voice.FAAtFR(ts.tar, ts.imp, 0.05)
				fmt.Printf("| %s | %d | %s | %.2f | %.3f | %.2f | %d / %d | %.2f |\n", cn, n, st.name, 100*eer, dcf, 100*fa, len(ts.tar), len(ts.imp), mean(ts.speech))
			}
		}
	}
	log.Printf("total %v", time.Since(t0).Round(time.Second))
}

func gridSettings(spec string) []setting {
	var out []setting
	for _, item := range strings.Split(spec, ";") {
		o := voice.DefaultTrainOptions()
		for _, kv := range strings.Fields(item) {
			k, v, _ := strings.Cut(kv, "=")
			var f float64
			fmt.Sscan(v, &f)
			switch k {
			case "C":
				o.GMM.Components = int(f)
			case "r":
				o.Relevance = f
			case "lo":
				o.Features.LowHz = f
			case "hi":
				o.Features.HighHz = f
			case "norm":
				o.Features.Norm = v
			case "ceps":
				o.Features.Ceps = int(f)
			case "filters":
				o.Features.Filters = int(f)
			case "vad":
				o.Features.VADMarginDB = f
			case "loge":
				o.Features.LogE = v == "1"
			case "top":
				o.CohortTop = int(f)
			case "frames":
				o.GMM.MaxFrames = int(f)
			default:
				log.Fatalf("unknown setting %q", k)
			}
		}
		out = append(out, setting{item, o})
	}
	return out
}

// crossValidate runs every pair of real speakers as a fold: the model is
// trained on everybody else, each of the pair is enrolled and tested
// against its own held-out strings (targets) and the other's (impostors).
func crossValidate(c *corpus, real []string, cond condition, n int, st setting, models, tests int) trialSet {
	var all trialSet
	var mu sync.Mutex
	type fold struct{ a, b string }
	var folds []fold
	for i, a := range real {
		for _, b := range real[i+1:] {
			folds = append(folds, fold{a, b})
		}
	}
	for fi, f := range folds {
		rng := rand.New(rand.NewPCG(uint64(fi), 7))
		var bg []voice.Utterance
		for _, s := range c.speakers {
			if s == f.a || s == f.b {
				continue
			}
			for _, r := range c.bySpk[s] {
				a := r.audio
				if cond.telephone {
					a = voice.Telephone(a, rng)
				}
				bg = append(bg, voice.Utterance{Speaker: s, Audio: a})
			}
		}
		m, err := voice.Train(bg, st.opt)
		if err != nil {
			log.Fatal(err)
		}
		// Enrolment models: 3 strings from repetitions 0–24.
		prints := map[string][]voice.Voiceprint{}
		enrolStats := map[string][]voice.Stats{}
		testFeats := map[string][]*voice.Features{}
		testPrints := map[string][]voice.Voiceprint{}
		var speech []float64
		for _, s := range []string{f.a, f.b} {
			for range models {
				var stats voice.Stats
				for range 3 {
					a := c.digitString(s, n, 0, 25, rng)
					if cond.telephone {
						a = voice.Telephone(a, rng)
					}
					stats = stats.Add(m.Backend.Stats(a))
				}
				prints[s] = append(prints[s], m.Print(stats))
				enrolStats[s] = append(enrolStats[s], stats)
			}
			for range tests {
				a := c.digitString(s, n, 25, 50, rng)
				if cond.telephone {
					a = voice.Telephone(a, rng)
				}
				ft := m.Backend.FeaturesOf(a)
				testFeats[s] = append(testFeats[s], ft)
				stt := m.Backend.StatsOf(ft)
				speech = append(speech, stt.Speech())
				testPrints[s] = append(testPrints[s], m.Print(stt))
			}
		}
		var ts trialSet
		ts.speech = speech
		for _, s := range []string{f.a, f.b} {
			for pi, p := range prints[s] {
				for _, t := range []string{f.a, f.b} {
					for ti, tp := range testPrints[t] {
						var r float64
						switch scoring {
						case "llr":
							r = m.Backend.LLR(enrolStats[s][pi], testFeats[t][ti])
						case "raw":
							r = m.Compare(p, tp).Raw
						default:
							r = m.Compare(p, tp).Normalized
						}
						if s == t {
							ts.tar = append(ts.tar, r)
						} else {
							ts.imp = append(ts.imp, r)
						}
					}
				}
			}
		}
		mu.Lock()
		all.add(ts)
		mu.Unlock()
	}
	return all
}

func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s / math.Max(1, float64(len(x)))
}

// evalSynthetic holds out one TTS engine family (flite, festival, espeak)
// and two real speakers at a time, trains the detector on the rest and
// scores 5-digit strings of the held-out voices.
func evalSynthetic(c *corpus, real []string, telephone bool) {
	fams := map[string][]string{}
	var famNames []string
	for _, s := range c.speakers {
		if !c.synth[s] {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(s, "tts:"), "-")
		if _, ok := fams[f]; !ok {
			famNames = append(famNames, f)
		}
		fams[f] = append(fams[f], s)
	}
	sort.Strings(famNames)
	cond := "clean"
	if telephone {
		cond = "telephone"
	}
	var allH, allS []float64
	for fi, held := range famNames {
		var hs, ss []float64
		for k := 0; k+1 < len(real); k += 2 {
			rng := rand.New(rand.NewPCG(uint64(fi), uint64(k)))
			heldH := map[string]bool{real[k]: true, real[k+1]: true}
			ch := func(a voice.Audio) voice.Audio {
				if telephone {
					return voice.Telephone(a, rng)
				}
				return a
			}
			var human, synth []voice.Audio
			var engines []string
			for _, s := range real {
				if heldH[s] {
					continue
				}
				for i := 0; i < 60; i++ {
					human = append(human, ch(c.digitString(s, 5, 0, 50, rng)))
				}
			}
			for _, f := range famNames {
				if f == held {
					continue
				}
				engines = append(engines, f)
				for _, v := range fams[f] {
					for i := 0; i < 240/len(fams[f]); i++ {
						synth = append(synth, ch(c.digitString(v, 5, 0, 50, rng)))
					}
				}
			}
			d, err := voice.TrainSynthetic(human, synth, engines, 32)
			if err != nil {
				log.Fatal(err)
			}
			for s := range heldH {
				for i := 0; i < 30; i++ {
					hs = append(hs, d.Score(ch(c.digitString(s, 5, 25, 50, rng))))
				}
			}
			for _, v := range fams[held] {
				for i := 0; i < 60/len(fams[held]); i++ {
					ss = append(ss, d.Score(ch(c.digitString(v, 5, 25, 50, rng))))
				}
			}
		}
		eer, _ := voice.EER(ss, hs)
		fmt.Printf("| %s | %s (%d voices) | %.1f | %d / %d |\n", cond, held, len(fams[held]), 100*eer, len(ss), len(hs))
		allH = append(allH, hs...)
		allS = append(allS, ss...)
	}
	eer, _ := voice.EER(allS, allH)
	fmt.Printf("| %s | all, pooled | %.1f | %d / %d |\n", cond, 100*eer, len(allS), len(allH))
}

// identify enrols every real speaker (3 strings, repetitions 0–24) with a
// model trained on repetitions 0–24 of all of them, and names the speaker
// of each test string (25–49) by the highest normalised score.
func identify(c *corpus, real []string, telephone bool, n, tests int) {
	rng := rand.New(rand.NewPCG(11, uint64(n)))
	ch := func(a voice.Audio) voice.Audio {
		if telephone {
			return voice.Telephone(a, rng)
		}
		return a
	}
	var bg []voice.Utterance
	for _, s := range real {
		for _, r := range c.bySpk[s] {
			if r.rep < 25 {
				bg = append(bg, voice.Utterance{Speaker: s, Audio: ch(r.audio)})
			}
		}
	}
	m, err := voice.Train(bg, voice.DefaultTrainOptions())
	if err != nil {
		log.Fatal(err)
	}
	prints := make([]voice.Voiceprint, len(real))
	for i, s := range real {
		var st voice.Stats
		for range 3 {
			st = st.Add(m.Backend.Stats(ch(c.digitString(s, n, 0, 25, rng))))
		}
		prints[i] = m.Print(st)
	}
	right, total := 0, 0
	for i, s := range real {
		for range tests {
			t := m.Print(m.Backend.Stats(ch(c.digitString(s, n, 25, 50, rng))))
			best := m.Identify(t, prints, math.Inf(-1), 1)
			if len(best) == 1 && best[0].Index == i {
				right++
			}
			total++
		}
	}
	cond := "clean"
	if telephone {
		cond = "telephone"
	}
	fmt.Printf("| %s | %d | %d speakers | %.1f %% | %d |\n", cond, n, len(real), 100*float64(right)/float64(total), total)
}
