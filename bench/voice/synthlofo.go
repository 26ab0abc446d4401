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
	"sync"
	"time"

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
// flags it gives on the held-out speakers.
func synthLOFO(c *corpus, real []string, conds string, trainConds []string) {
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
	if b, err := os.ReadFile(cache); err == nil && cache != "" {
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&sets); err != nil {
			log.Fatal(err)
		}
	} else {
		parallelDo(len(c.speakers), func(si int) {
			s := c.speakers[si]
			rng := rand.New(rand.NewPCG(uint64(si), 19))
			nTrain, nTest := 80, 50
			if c.synth[s] {
				nTrain, nTest = 20, 20
			}
			set := lofoSet{Test: map[string][][]float64{}}
			for i := 0; i < nTrain; i++ {
				a := c.digitString(s, 5, 0, 25, rng)
				for _, ch := range trainConds {
					b, _ := voice.Channel(ch, a, rng)
					if v := voice.SynthFeatures(b); v != nil {
						set.Train = append(set.Train, v)
					}
				}
			}
			for _, ch := range testConds {
				for i := 0; i < nTest; i++ {
					b, _ := voice.Channel(ch, c.digitString(s, 5, 25, 50, rng), rng)
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
	type detector func(humanSpk []string, synth [][]float64) func([]float64) float64
	pool := func(spk []string) [][]float64 {
		var out [][]float64
		for _, s := range spk {
			out = append(out, sets[idx[s]].Train...)
		}
		return out
	}
	dets := []struct {
		name string
		fit  detector
	}{
		{"logistic regression", func(h []string, syn [][]float64) func([]float64) float64 {
			m, err := voice.TrainSynthLinear(pool(h), syn, 0.01)
			if err != nil {
				log.Fatal(err)
			}
			return m.Score
		}},
		{"one-class Gaussian of real speech", func(h []string, _ [][]float64) func([]float64) float64 {
			m, err := voice.TrainSynthOneClass(pool(h), 0.1)
			if err != nil {
				log.Fatal(err)
			}
			return m.Score
		}},
	}
	fmt.Printf("| detector | test channel | held-out family (voices) | flagged, threshold at 1 %% of test speakers | flagged, threshold from training CV | false flags of test speakers there | EER %% |\n|---|---|---|---|---|---|---|\n")
	for _, det := range dets {
		for _, cond := range testConds {
			for _, held := range famNames {
				var synth [][]float64
				for _, f := range famNames {
					if f != held {
						for _, s := range fams[f] {
							synth = append(synth, sets[idx[s]].Train...)
						}
					}
				}
				var flagA, flagB, ffB, nSyn, nHum int
				var allH, allS []float64
				for k := 0; k+1 < len(real); k += 2 {
					test := []string{real[k], real[k+1]}
					var train []string
					for _, s := range real {
						if s != test[0] && s != test[1] {
							train = append(train, s)
						}
					}
					// Inner CV on the training speakers sets threshold B.
					var cv []float64
					for _, out := range train {
						var rest []string
						for _, s := range train {
							if s != out {
								rest = append(rest, s)
							}
						}
						score := det.fit(rest, synth)
						for _, v := range sets[idx[out]].Test[cond] {
							cv = append(cv, score(v))
						}
					}
					thrB := quantile(cv, 0.99)
					score := det.fit(train, synth)
					var hs, ss []float64
					for _, s := range test {
						for _, v := range sets[idx[s]].Test[cond] {
							hs = append(hs, score(v))
						}
					}
					for _, s := range fams[held] {
						for _, v := range sets[idx[s]].Test[cond] {
							ss = append(ss, score(v))
						}
					}
					thrA := quantile(hs, 0.99)
					for _, x := range ss {
						if x > thrA {
							flagA++
						}
						if x > thrB {
							flagB++
						}
					}
					for _, x := range hs {
						if x > thrB {
							ffB++
						}
					}
					nSyn += len(ss)
					nHum += len(hs)
					allH = append(allH, hs...)
					allS = append(allS, ss...)
				}
				eer, _ := voice.EER(allS, allH)
				fmt.Printf("| %s | %s | %s (%d) | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f |\n", det.name, cond, held, len(fams[held]),
					pct(flagA, nSyn), flagA, nSyn, pct(flagB, nSyn), flagB, nSyn, pct(ffB, nHum), ffB, nHum, 100*eer)
			}
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

func pct(a, b int) float64 { return 100 * float64(a) / math.Max(1, float64(b)) }

// quantile is the q-quantile of x (the value below which a share q lies).
func quantile(x []float64, q float64) float64 {
	y := append([]float64(nil), x...)
	sort.Float64s(y)
	return y[min(len(y)-1, int(q*float64(len(y))))]
}

func parallelDo(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
