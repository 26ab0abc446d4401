package main

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/par"
	"github.com/tollgate-voip/tollgate/voice"
)

// ttsFamily is a TTS voice's engine family (tts:<engine>-<voice>):
// espeak-ng and espeak 1.48, the program it was forked from, are one
// family ("espeak"); festival's diphone (festdiphone-) and HMM (festhts-)
// voices are two.
func ttsFamily(s string) string {
	f, _, _ := strings.Cut(strings.TrimPrefix(s, "tts:"), "-")
	switch f {
	case "espeakng":
		return "espeak"
	case "festdiphone":
		return "festival-diphone"
	case "festhts":
		return "festival-hts"
	}
	return f
}

// lofoFolds are the held-out sets: every family alone, and all of
// festival's voices at once when both festival families are present.
func lofoFolds(famNames []string) [][]string {
	var out [][]string
	var fest []string
	for _, f := range famNames {
		out = append(out, []string{f})
		if strings.HasPrefix(f, "festival") {
			fest = append(fest, f)
		}
	}
	if len(fest) > 1 {
		out = append(out, fest)
	}
	return out
}

// synthDump prints the median of every regularity measurement
// (voice.SynthFeatures) per real speaker and per TTS voice, over n
// five-digit strings through each channel: a look at the features, not
// an evaluation.
func synthDump(c *corpus, conds string, n int) {
	fmt.Printf("| channel | speaker | %s |\n", strings.Join(voice.SynthFeatureNames, " | "))
	for _, cond := range strings.Split(conds, ",") {
		for si, s := range c.speakers {
			rng := rand.New(rand.NewPCG(uint64(si), 7))
			cols := make([][]float64, len(voice.SynthFeatureNames))
			for i := 0; i < n; i++ {
				a, _ := voice.Channel(cond, c.digitString(s, 5, 0, 50, rng), rng)
				v := voice.SynthFeatures(a)
				for j := range v {
					cols[j] = append(cols[j], v[j])
				}
			}
			var out []string
			for _, col := range cols {
				sort.Float64s(col)
				if len(col) == 0 {
					out = append(out, "-")
					continue
				}
				out = append(out, fmt.Sprintf("%.3f", col[len(col)/2]))
			}
			fmt.Printf("| %s | %s | %s |\n", cond, s, strings.Join(out, " | "))
		}
	}
}

// lofoSet holds the regularity features of one voice's strings: training
// strings through every training channel, test strings per test channel,
// and (real speakers) the training strings resynthesised by the LPC
// vocoder (voice.Vocode), the surrogate machine voice.
type lofoSet struct {
	Train [][]float64
	Voc   [][]float64
	Test  map[string][][]float64
	// The audio, kept for the mixture detectors; not cached.
	trainA, vocA []voice.Audio
	testA        map[string][]voice.Audio
}

// lofoDetectors name the detectors synthLOFO can run (-lofodet).
var lofoDetectors = []string{"lr", "lr+voc", "voc", "oneclass", "voc|oneclass", "lrq+voc", "gmm", "gmm+voc"}

// synthLOFO evaluates synthetic-voice detectors with one TTS engine
// family (or all of festival) held out at a time. Real speech: three
// folds of two FSDD speakers held out for testing; the other four train.
// TTS: the held-out family is never trained on. Detectors (dets, of
// lofoDetectors): "lr", a logistic regression on voice.SynthFeatures of
// the training speakers against the other families; "lr+voc", the same
// with the training speakers' vocoded strings added to the synthetic
// side; "voc", the training speakers against their own vocoded strings
// only (no TTS at all); "lrq+voc", "lr+voc" on the measurements and
// their squared standardised distances from the human mean;
// "voc|oneclass", the larger of the "voc" and "oneclass" scores, each as
// a z-score of the training speech's; "oneclass", a Gaussian of the training speakers
// alone; "gmm", the mixture detector voice.TrainSynthetic on frames;
// "gmm+voc", the mixtures with the vocoded strings added to the synthetic
// side. Two thresholds for each: "training CV", the 99th percentile of
// the training speakers' scores when each is left out of its own model in
// turn (nothing held out touches it: the figure reported), with the false
// flags it gives on the held-out speakers; and "test-set 1 %", the score
// that flags 1 % of the held-out real speakers' strings (the two test
// speakers set it; for comparison with earlier passes).
func synthLOFO(c *corpus, real []string, conds string, trainConds []string, dets []string, innerCV bool, realFolds int) {
	t0 := time.Now()
	fams, famNames := c.ttsFamilies()
	withAudio, onlyAudio := false, true
	for _, d := range dets {
		onlyAudio = onlyAudio && strings.HasPrefix(d, "gmm")
		if !slices.Contains(lofoDetectors, d) {
			log.Fatalf("-lofodet %q: want some of %s", d, strings.Join(lofoDetectors, ","))
		}
		withAudio = withAudio || strings.HasPrefix(d, "gmm")
	}
	testConds := strings.Split(conds, ",")
	sets := make([]lofoSet, len(c.speakers))
	// SYNTH_CACHE names a scratch directory where each voice's features
	// are kept between runs (keyed by its name and recording count).
	cache := os.Getenv("SYNTH_CACHE")
	if withAudio {
		cache = ""
	}
	par.Do(len(c.speakers), func(si int) {
		s := c.speakers[si]
		file := ""
		if cache != "" {
			file = filepath.Join(cache, fmt.Sprintf("%s_%d.gob", strings.ReplaceAll(s, ":", "_"), len(c.bySpk[s])))
			if b, err := os.ReadFile(file); err == nil {
				if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&sets[si]); err != nil {
					log.Fatal(err)
				}
				return
			}
		}
		rng := rand.New(rand.NewPCG(uint64(si), 19))
		nTrain, nTest := 40, 30
		if c.synth[s] {
			nTrain, nTest = 10, 10
		}
		set := lofoSet{Test: map[string][][]float64{}, testA: map[string][]voice.Audio{}}
		for i := 0; i < nTrain; i++ {
			a := c.digitString(s, 5, 0, 25, rng)
			// Every other training string is also vocoded (pulse and
			// mixed excitation alternately).
			var v voice.Audio
			voc := !c.synth[s] && i%2 == 0
			if voc {
				v = voice.Vocode(a, i%4 == 2, rng)
			}
			for _, ch := range trainConds {
				b, _ := voice.Channel(ch, a, rng)
				if withAudio {
					set.trainA = append(set.trainA, b)
				}
				if f := synthFeatures(b, onlyAudio); f != nil {
					set.Train = append(set.Train, f)
				}
				if !voc {
					continue
				}
				b, _ = voice.Channel(ch, v, rng)
				if withAudio {
					set.vocA = append(set.vocA, b)
				}
				if f := synthFeatures(b, onlyAudio); f != nil {
					set.Voc = append(set.Voc, f)
				}
			}
		}
		for _, ch := range testConds {
			for i := 0; i < nTest; i++ {
				b, _ := voice.Channel(ch, c.digitString(s, 5, 25, 50, rng), rng)
				if withAudio {
					set.testA[ch] = append(set.testA[ch], b)
				}
				if v := synthFeatures(b, onlyAudio); v != nil {
					set.Test[ch] = append(set.Test[ch], v)
				}
			}
		}
		sets[si] = set
		if file != "" {
			var buf bytes.Buffer
			_ = gob.NewEncoder(&buf).Encode(set)
			_ = os.WriteFile(file, buf.Bytes(), 0o644)
		}
	})
	log.Printf("features of %d voices in %v", len(c.speakers), time.Since(t0).Round(time.Second))
	idx := map[string]int{}
	for i, s := range c.speakers {
		idx[s] = i
	}
	// Per-feature separation: AUC of each measurement, TTS family (and
	// the vocoded training strings) above real speech, on the test strings.
	fmt.Printf("| channel | family | %s |\n|---|---|%s\n", strings.Join(voice.SynthFeatureNames, " | "), strings.Repeat("---|", len(voice.SynthFeatureNames)))
	for _, cond := range testConds {
		if onlyAudio {
			break // no measurements were taken
		}
		for _, f := range append(append([]string(nil), famNames...), "vocoded") {
			var out []string
			for j := range voice.SynthFeatureNames {
				var h, sy []float64
				for _, s := range real {
					for _, v := range sets[idx[s]].Test[cond] {
						h = append(h, v[j])
					}
					if f == "vocoded" {
						for _, v := range sets[idx[s]].Voc {
							sy = append(sy, v[j])
						}
					}
				}
				for _, s := range fams[f] {
					for _, v := range sets[idx[s]].Test[cond] {
						sy = append(sy, v[j])
					}
				}
				out = append(out, fmt.Sprintf("%.2f", auc(sy, h)))
			}
			fmt.Printf("| %s | %s | %s |\n", cond, f, strings.Join(out, " | "))
		}
	}
	// A detector is fitted on real training speakers and TTS voices and
	// returns the scores of a voice's test strings in a channel.
	type scores func(set *lofoSet, cond string) []float64
	type detector func(humanSpk, synthSpk []string) scores
	pool := func(spk []string, voc bool) [][]float64 {
		var out [][]float64
		for _, s := range spk {
			if voc {
				out = append(out, sets[idx[s]].Voc...)
			} else {
				out = append(out, sets[idx[s]].Train...)
			}
		}
		return out
	}
	vec := func(f func([]float64) float64) scores {
		return func(set *lofoSet, cond string) []float64 {
			var out []float64
			for _, v := range set.Test[cond] {
				out = append(out, f(v))
			}
			return out
		}
	}
	lr := func(h []string, syn [][]float64) scores {
		m, err := voice.TrainSynthLinear(pool(h, false), syn, 0.01)
		if err != nil {
			log.Fatal(err)
		}
		return vec(m.Score)
	}
	// lrq: the regression on the measurements and their squared
	// standardised distances from the human training mean, so it can
	// learn "unlike human speech in either direction" as well as a
	// direction.
	lrq := func(h []string, syn [][]float64) scores {
		hum := pool(h, false)
		d := len(hum[0])
		mu, sd := make([]float64, d), make([]float64, d)
		for _, v := range hum {
			for j, x := range v {
				mu[j] += x / float64(len(hum))
			}
		}
		for _, v := range hum {
			for j, x := range v {
				sd[j] += (x - mu[j]) * (x - mu[j]) / float64(len(hum))
			}
		}
		quad := func(v []float64) []float64 {
			out := append([]float64(nil), v...)
			for j, x := range v {
				z := (x - mu[j]) / math.Sqrt(sd[j]+1e-12)
				out = append(out, z*z)
			}
			return out
		}
		qs := func(vs [][]float64) [][]float64 {
			out := make([][]float64, len(vs))
			for i, v := range vs {
				out[i] = quad(v)
			}
			return out
		}
		m, err := voice.TrainSynthLinear(qs(hum), qs(syn), 0.01)
		if err != nil {
			log.Fatal(err)
		}
		return vec(func(v []float64) float64 { return m.Score(quad(v)) })
	}
	gmm := func(h, syn []string, voc bool) scores {
		var ha, sa []voice.Audio
		for _, s := range h {
			ha = append(ha, sets[idx[s]].trainA...)
			if voc {
				sa = append(sa, sets[idx[s]].vocA...)
			}
		}
		for _, s := range syn {
			sa = append(sa, sets[idx[s]].trainA...)
		}
		d, err := voice.TrainSynthetic(ha, sa, nil, 32)
		if err != nil {
			log.Fatal(err)
		}
		return func(set *lofoSet, cond string) []float64 {
			out := make([]float64, len(set.testA[cond]))
			par.Do(len(out), func(i int) { out[i] = d.Score(set.testA[cond][i]) })
			return out
		}
	}
	fits := map[string]struct {
		name string
		fit  detector
	}{
		"lr": {"logistic regression, TTS families", func(h, syn []string) scores { return lr(h, pool(syn, false)) }},
		"lr+voc": {"logistic regression, TTS families + vocoded real speech", func(h, syn []string) scores {
			return lr(h, append(pool(syn, false), pool(h, true)...))
		}},
		"lrq+voc": {"quadratic logistic regression, TTS families + vocoded real speech", func(h, syn []string) scores {
			return lrq(h, append(pool(syn, false), pool(h, true)...))
		}},
		"voc|oneclass": {"max of vocoded-only regression and one-class, each standardised on the training speech (no TTS)", func(h, _ []string) scores {
			hum := pool(h, false)
			lin, err := voice.TrainSynthLinear(hum, pool(h, true), 0.01)
			if err != nil {
				log.Fatal(err)
			}
			oc, err := voice.TrainSynthOneClass(hum, 0.1)
			if err != nil {
				log.Fatal(err)
			}
			// Each score as a z-score of the training speech's scores.
			z := func(f func([]float64) float64) func([]float64) float64 {
				var m, v float64
				for _, x := range hum {
					m += f(x) / float64(len(hum))
				}
				for _, x := range hum {
					v += (f(x) - m) * (f(x) - m) / float64(len(hum))
				}
				sd := math.Sqrt(v + 1e-12)
				return func(x []float64) float64 { return (f(x) - m) / sd }
			}
			zl, zo := z(lin.Score), z(oc.Score)
			return vec(func(x []float64) float64 { return math.Max(zl(x), zo(x)) })
		}},
		"voc": {"logistic regression, vocoded real speech only (no TTS)", func(h, _ []string) scores { return lr(h, pool(h, true)) }},
		"oneclass": {"one-class Gaussian of real speech", func(h, _ []string) scores {
			m, err := voice.TrainSynthOneClass(pool(h, false), 0.1)
			if err != nil {
				log.Fatal(err)
			}
			return vec(m.Score)
		}},
		"gmm":     {"mixtures (TrainSynthetic, shipped)", func(h, syn []string) scores { return gmm(h, syn, false) }},
		"gmm+voc": {"mixtures, TTS families + vocoded real speech", func(h, syn []string) scores { return gmm(h, syn, true) }},
	}
	type tally struct {
		flagA, flagB, ffB, nSyn, nHum int
		allH, allS                    []float64
		perVoice                      map[string][2]int // flagged at B, scored
	}
	thrName := "training CV"
	if !innerCV {
		thrName = "training speakers' unseen strings"
	}
	fmt.Printf("\n| detector | test channel | held-out family (voices) | flagged, threshold from %s | false flags of test speakers there | flagged, threshold at 1 %% of test speakers | EER %% |\n|---|---|---|---|---|---|---|\n", thrName)
	for _, dn := range dets {
		det := fits[dn]
		for _, heldFams := range lofoFolds(famNames) {
			var synth, heldV []string
			for _, f := range famNames {
				if slices.Contains(heldFams, f) {
					heldV = append(heldV, fams[f]...)
				} else {
					synth = append(synth, fams[f]...)
				}
			}
			res := map[string]*tally{}
			for _, cond := range testConds {
				res[cond] = &tally{perVoice: map[string][2]int{}}
			}
			for k := 0; k+1 < len(real) && k < 2*realFolds; k += 2 {
				test := []string{real[k], real[k+1]}
				var train []string
				for _, s := range real {
					if s != test[0] && s != test[1] {
						train = append(train, s)
					}
				}
				// Inner CV on the training speakers sets threshold B.
				// Without innerCV (a cheaper, optimistic stand-in), B is
				// the 99th percentile of the training speakers' own test
				// strings: recordings the model did not see, of speakers
				// it did.
				cv := map[string][]float64{}
				for _, out := range train {
					if !innerCV {
						break
					}
					var rest []string
					for _, s := range train {
						if s != out {
							rest = append(rest, s)
						}
					}
					score := det.fit(rest, synth)
					for _, cond := range testConds {
						cv[cond] = append(cv[cond], score(&sets[idx[out]], cond)...)
					}
				}
				score := det.fit(train, synth)
				if !innerCV {
					for _, s := range train {
						for _, cond := range testConds {
							cv[cond] = append(cv[cond], score(&sets[idx[s]], cond)...)
						}
					}
				}
				for _, cond := range testConds {
					t := res[cond]
					thrB := quantile(cv[cond], 0.99)
					var hs, ss []float64
					for _, s := range test {
						hs = append(hs, score(&sets[idx[s]], cond)...)
					}
					thrA := quantile(hs, 0.99)
					for _, s := range heldV {
						v := score(&sets[idx[s]], cond)
						pv := t.perVoice[s]
						for _, x := range v {
							if x > thrA {
								t.flagA++
							}
							if x > thrB {
								t.flagB++
								pv[0]++
							}
						}
						pv[1] += len(v)
						t.perVoice[s] = pv
						ss = append(ss, v...)
					}
					for _, x := range hs {
						if x > thrB {
							t.ffB++
						}
					}
					t.nSyn += len(ss)
					t.nHum += len(hs)
					t.allH = append(t.allH, hs...)
					t.allS = append(t.allS, ss...)
				}
			}
			for _, cond := range testConds {
				t := res[cond]
				eer, _ := voice.EER(t.allS, t.allH)
				fmt.Printf("| %s | %s | %s (%d) | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f |\n", det.name, cond, strings.Join(heldFams, " + "), len(heldV),
					percent(t.flagB, t.nSyn), t.flagB, t.nSyn, percent(t.ffB, t.nHum), t.ffB, t.nHum, percent(t.flagA, t.nSyn), t.flagA, t.nSyn, 100*eer)
				var pv []string
				for _, s := range heldV {
					pv = append(pv, fmt.Sprintf("%s %d/%d", strings.TrimPrefix(s, "tts:"), t.perVoice[s][0], t.perVoice[s][1]))
				}
				log.Printf("%s, %s, %s: per voice at the CV threshold: %s", dn, cond, strings.Join(heldFams, "+"), strings.Join(pv, ", "))
			}
			log.Printf("%s, %s held out: %v", det.name, strings.Join(heldFams, "+"), time.Since(t0).Round(time.Second))
		}
	}
	log.Printf("total %v", time.Since(t0).Round(time.Second))
}

// synthFeatures is voice.SynthFeatures, skipped (nil) when only the
// mixture detectors run (they use the audio).
func synthFeatures(a voice.Audio, skip bool) []float64 {
	if skip {
		return nil
	}
	return voice.SynthFeatures(a)
}

// auc is the probability that a random element of pos exceeds one of neg.
func auc(pos, neg []float64) float64 {
	var w float64
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case p > n:
				w++
			case p == n:
				w += 0.5
			}
		}
	}
	return w / math.Max(1, float64(len(pos)*len(neg)))
}

func percent(a, b int) float64 { return 100 * float64(a) / math.Max(1, float64(b)) }

// quantile is the q-quantile of x (the value below which a share q lies).
func quantile(x []float64, q float64) float64 {
	y := append([]float64(nil), x...)
	sort.Float64s(y)
	return y[min(len(y)-1, int(q*float64(len(y))))]
}

// ttsFamilies groups the corpus's synthetic voices by TTS engine family;
// the names come sorted.
func (c *corpus) ttsFamilies() (map[string][]string, []string) {
	fams := map[string][]string{}
	var names []string
	for _, s := range c.speakers {
		if !c.synth[s] {
			continue
		}
		f := ttsFamily(s)
		if _, ok := fams[f]; !ok {
			names = append(names, f)
		}
		fams[f] = append(fams[f], s)
	}
	sort.Strings(names)
	return fams, names
}
