package main

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/par"
	"github.com/tollgate-voip/tollgate/voice"
)

// ttsFamily is a TTS voice's engine family (tts:<family>-<voice>).
func ttsFamily(s string) string {
	f, _, _ := strings.Cut(strings.TrimPrefix(s, "tts:"), "-")
	return f
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
// strings through every training channel, test strings per test channel.
type lofoSet struct {
	Train [][]float64
	Test  map[string][][]float64
	// The audio, kept for the mixture detector (-lofogmm); not cached.
	trainA []voice.Audio
	testA  map[string][]voice.Audio
}

// synthLOFO evaluates the regularity detector (voice.SynthFeatures) with
// one TTS engine family held out at a time. Real speech: three folds of
// two FSDD speakers held out for testing; the other four train. TTS: the
// held-out family is never trained on. Two detectors: a logistic
// regression of the four training speakers against the other families,
// and a one-class Gaussian of the four training speakers alone (it never
// sees TTS). Two thresholds for each: "test-set 1 %", the score that
// flags 1 % of the held-out real speakers' strings (what the issue asks
// for; the two test speakers set it), and "training CV", the 99th
// percentile of the training speakers' scores when each is left out of
// its own model in turn (nothing held out touches it), with the false
// flags it gives on the held-out speakers. With withGMM the shipped
// mixture detector (voice.TrainSynthetic) runs on the same strings.
func synthLOFO(c *corpus, real []string, conds string, trainConds []string, withGMM bool) {
	t0 := time.Now()
	fams := map[string][]string{}
	var famNames []string
	for _, s := range c.speakers {
		if !c.synth[s] {
			continue
		}
		f := ttsFamily(s)
		if _, ok := fams[f]; !ok {
			famNames = append(famNames, f)
		}
		fams[f] = append(fams[f], s)
	}
	sort.Strings(famNames)
	testConds := strings.Split(conds, ",")
	sets := make([]lofoSet, len(c.speakers))
	cache := os.Getenv("SYNTH_CACHE") // scratch: reuse features between runs
	if withGMM {
		cache = ""
	}
	if b, err := os.ReadFile(cache); err == nil && cache != "" {
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&sets); err != nil {
			log.Fatal(err)
		}
	} else {
		par.Do(len(c.speakers), func(si int) {
			s := c.speakers[si]
			rng := rand.New(rand.NewPCG(uint64(si), 19))
			nTrain, nTest := 80, 50
			if c.synth[s] {
				nTrain, nTest = 20, 20
			}
			set := lofoSet{Test: map[string][][]float64{}, testA: map[string][]voice.Audio{}}
			for i := 0; i < nTrain; i++ {
				a := c.digitString(s, 5, 0, 25, rng)
				for _, ch := range trainConds {
					b, _ := voice.Channel(ch, a, rng)
					if withGMM {
						set.trainA = append(set.trainA, b)
					}
					if v := voice.SynthFeatures(b); v != nil {
						set.Train = append(set.Train, v)
					}
				}
			}
			for _, ch := range testConds {
				for i := 0; i < nTest; i++ {
					b, _ := voice.Channel(ch, c.digitString(s, 5, 25, 50, rng), rng)
					if withGMM {
						set.testA[ch] = append(set.testA[ch], b)
					}
					if v := voice.SynthFeatures(b); v != nil {
						set.Test[ch] = append(set.Test[ch], v)
					}
				}
			}
			sets[si] = set
		})
		if cache != "" {
			var buf bytes.Buffer
			_ = gob.NewEncoder(&buf).Encode(sets)
			_ = os.WriteFile(cache, buf.Bytes(), 0o644)
		}
	}
	log.Printf("features of %d voices in %v", len(c.speakers), time.Since(t0).Round(time.Second))
	idx := map[string]int{}
	for i, s := range c.speakers {
		idx[s] = i
	}
	// Per-feature separation: AUC of each measurement, TTS family above
	// real speech, on the test strings.
	fmt.Printf("| channel | family | %s |\n", strings.Join(voice.SynthFeatureNames, " | "))
	for _, cond := range testConds {
		for _, f := range famNames {
			var out []string
			for j := range voice.SynthFeatureNames {
				var h, sy []float64
				for _, s := range real {
					for _, v := range sets[idx[s]].Test[cond] {
						h = append(h, v[j])
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
	pool := func(spk []string) [][]float64 {
		var out [][]float64
		for _, s := range spk {
			out = append(out, sets[idx[s]].Train...)
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
	dets := []struct {
		name string
		fit  detector
	}{
		{"logistic regression", func(h, syn []string) scores {
			m, err := voice.TrainSynthLinear(pool(h), pool(syn), 0.01)
			if err != nil {
				log.Fatal(err)
			}
			return vec(m.Score)
		}},
		{"one-class Gaussian of real speech", func(h, _ []string) scores {
			m, err := voice.TrainSynthOneClass(pool(h), 0.1)
			if err != nil {
				log.Fatal(err)
			}
			return vec(m.Score)
		}},
	}
	if withGMM {
		dets = append(dets, struct {
			name string
			fit  detector
		}{"mixtures (TrainSynthetic, shipped)", func(h, syn []string) scores {
			var ha, sa []voice.Audio
			for _, s := range h {
				ha = append(ha, sets[idx[s]].trainA...)
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
		}})
	}
	type tally struct {
		flagA, flagB, ffB, nSyn, nHum int
		allH, allS                    []float64
	}
	fmt.Printf("| detector | test channel | held-out family (voices) | flagged, threshold at 1 %% of test speakers | flagged, threshold from training CV | false flags of test speakers there | EER %% |\n|---|---|---|---|---|---|---|\n")
	for _, det := range dets {
		for _, held := range famNames {
			var synth []string
			for _, f := range famNames {
				if f != held {
					synth = append(synth, fams[f]...)
				}
			}
			res := map[string]*tally{}
			for _, cond := range testConds {
				res[cond] = &tally{}
			}
			for k := 0; k+1 < len(real); k += 2 {
				test := []string{real[k], real[k+1]}
				var train []string
				for _, s := range real {
					if s != test[0] && s != test[1] {
						train = append(train, s)
					}
				}
				// Inner CV on the training speakers sets threshold B.
				cv := map[string][]float64{}
				for _, out := range train {
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
				for _, cond := range testConds {
					t := res[cond]
					thrB := quantile(cv[cond], 0.99)
					var hs, ss []float64
					for _, s := range test {
						hs = append(hs, score(&sets[idx[s]], cond)...)
					}
					for _, s := range fams[held] {
						ss = append(ss, score(&sets[idx[s]], cond)...)
					}
					thrA := quantile(hs, 0.99)
					for _, x := range ss {
						if x > thrA {
							t.flagA++
						}
						if x > thrB {
							t.flagB++
						}
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
				fmt.Printf("| %s | %s | %s (%d) | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f |\n", det.name, cond, held, len(fams[held]),
					percent(t.flagA, t.nSyn), t.flagA, t.nSyn, percent(t.flagB, t.nSyn), t.flagB, t.nSyn, percent(t.ffB, t.nHum), t.ffB, t.nHum, 100*eer)
			}
			log.Printf("%s, %s held out: %v", det.name, held, time.Since(t0).Round(time.Second))
		}
	}
	log.Printf("total %v", time.Since(t0).Round(time.Second))
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
