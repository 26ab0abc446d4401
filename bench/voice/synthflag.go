package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/voice"
)

// family is a speaker's TTS engine family; espeak and espeak-ng share
// their code and are one family.
func family(s string) string {
	f, _, _ := strings.Cut(s, "-")
	if f == "espeakng" {
		return "espeak"
	}
	return f
}

// synthFlag evaluates the synthetic-voice detector with one TTS family
// held out at a time. Per fold, two real FSDD speakers are held out too;
// the detector is trained on the other four (human) and the other
// families (synthetic), through the channels in trainConds; the flag
// threshold is the one that flags 1 % of the held-out real speakers'
// five-digit strings in the test condition, and the flag rate is the
// share of the held-out family's utterances above it.
func synthFlag(c *corpus, real []string, dir string, conds string, trainConds []string, comps int) {
	t0 := time.Now()
	by, names, err := loadSpeakers(dir)
	if err != nil {
		log.Fatal(err)
	}
	fams := map[string][]string{}
	var famNames []string
	for _, s := range names {
		f := family(s)
		if _, ok := fams[f]; !ok {
			famNames = append(famNames, f)
		}
		fams[f] = append(fams[f], s)
	}
	sort.Strings(famNames)
	fmt.Printf("| test channel | held-out family (speakers) | flagged at 1 %% false flags of real speech | real strings / synthetic utterances scored | EER %% |\n|---|---|---|---|---|\n")
	for _, cond := range strings.Split(conds, ",") {
		for fi, held := range famNames {
			var flagged, nSyn, nHum int
			var allH, allS []float64
			for k := 0; k+1 < len(real); k += 2 {
				rng := rand.New(rand.NewPCG(uint64(fi), uint64(k)))
				ch := func(name string, a voice.Audio) voice.Audio {
					out, _ := voice.Channel(name, a, rng)
					return out
				}
				heldH := map[string]bool{real[k]: true, real[k+1]: true}
				var human, synth []voice.Audio
				var engines []string
				for _, s := range real {
					if heldH[s] {
						continue
					}
					for i := 0; i < 60; i++ {
						a := c.digitString(s, 5, 0, 50, rng)
						human = append(human, ch(trainConds[i%len(trainConds)], a))
					}
				}
				for _, f := range famNames {
					if f == held {
						continue
					}
					engines = append(engines, f)
					for i, s := range fams[f] {
						for j, a := range by[s] {
							if (i+j)%2 == 0 { // half of each family's utterances, spread
								synth = append(synth, ch(trainConds[(i+j)/2%len(trainConds)], a))
							}
						}
					}
				}
				d, err := voice.TrainSynthetic(human, synth, engines, comps)
				if err != nil {
					log.Fatal(err)
				}
				var hs, ss []float64
				for s := range heldH {
					for i := 0; i < 50; i++ {
						hs = append(hs, d.Score(ch(cond, c.digitString(s, 5, 0, 50, rng))))
					}
				}
				for _, s := range fams[held] {
					for _, a := range by[s] {
						ss = append(ss, d.Score(ch(cond, a)))
					}
				}
				sort.Float64s(hs)
				thr := hs[int(0.99*float64(len(hs)))]
				for _, x := range ss {
					if x > thr {
						flagged++
					}
				}
				nSyn += len(ss)
				nHum += len(hs)
				allH = append(allH, hs...)
				allS = append(allS, ss...)
			}
			eer, _ := voice.EER(allS, allH)
			fmt.Printf("| %s | %s (%d) | %.1f %% (%d) | %d / %d | %.1f |\n", cond, held, len(fams[held]), 100*float64(flagged)/float64(nSyn), flagged, nHum, nSyn, 100*eer)
			log.Printf("%s %s done at %v", cond, held, time.Since(t0).Round(time.Second))
		}
	}
}
