package main

import (
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/voice"
)

// loadSpeakers reads DIR/<speaker>/*.wav: each file is one utterance
// (a digit string) of that speaker.
// loadFamilies is loadSpeakers (exiting on error) plus, per speaker, its
// position within its engine family (the name before the first "-") and
// the number of speakers in each family.
func loadFamilies(dir string) (by map[string][]voice.Audio, names []string, pos, count map[string]int) {
	by, names, err := loadSpeakers(dir)
	if err != nil {
		log.Fatal(err)
	}
	pos, count = map[string]int{}, map[string]int{}
	for _, s := range names {
		f, _, _ := strings.Cut(s, "-")
		pos[s] = count[f]
		count[f]++
	}
	return by, names, pos, count
}

// splitThree puts each speaker in group(s): 0 adds its audio to bg (the
// background), 1 names it a calibration speaker, 2 a test speaker.
func splitThree(names []string, group func(string) int, by map[string][]voice.Audio, bg []voice.Utterance) (_ []voice.Utterance, cal, test []string) {
	for _, s := range names {
		switch group(s) {
		case 0:
			for _, a := range by[s] {
				bg = append(bg, voice.Utterance{Speaker: s, Audio: a})
			}
		case 1:
			cal = append(cal, s)
		default:
			test = append(test, s)
		}
	}
	return bg, cal, test
}

func loadSpeakers(dir string) (map[string][]voice.Audio, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	by := map[string][]voice.Audio{}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, e.Name(), "*.wav"))
		sort.Slice(files, func(i, j int) bool {
			var a, b int
			fmt.Sscan(strings.TrimSuffix(filepath.Base(files[i]), ".wav"), &a)
			fmt.Sscan(strings.TrimSuffix(filepath.Base(files[j]), ".wav"), &b)
			return a < b
		})
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, err
			}
			a, err := voice.Decode(data, voice.CodecWAV, voice.Limits{MinSeconds: 0.01})
			if err != nil {
				continue
			}
			by[e.Name()] = append(by[e.Name()], a)
		}
		if len(by[e.Name()]) >= 6 {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return by, names, nil
}

// calibCheck is the calibration proof: the synthetic speakers are split
// three ways (by position within each engine family, so every part has
// every family): background (with the six real FSDD speakers), operator
// calibration (Model.CalibrateOn: enrolment of three utterances, the rest
// tests) and test. The false-accept rate at the threshold for each target
// rate is measured on the test speakers only; the three parts rotate.
//
// With realToo the six real FSDD speakers are split the same way (two
// per part) instead of all joining the background: the background part's
// recordings train the model, and the calibration and test parts' real
// speakers each get 10 enrolment calls (three five-digit strings from
// repetitions 0–24) and 25 five-digit test strings (repetitions 25–49).
// The false-accept rate is then also reported on the real test speakers'
// impostor trials alone (real enrolment, other real speaker's test).
//
// With realOnly (implies realToo) the calibration uses the real
// calibration speakers alone, no synthetic ones.
func calibCheck(c *corpus, real []string, dir, variants, conds string, realToo, realOnly bool) {
	realToo = realToo || realOnly
	t0 := time.Now()
	by, names, pos, count := loadFamilies(dir)
	log.Printf("%d synthetic speakers in %d families", len(names), len(count))
	targets := []float64{0.001, 0.005, 0.01, 0.02, 0.05}
	type res struct {
		fa, fr           []int
		faReal           []int
		nImp, nTar       int
		nImpReal         int
		tarReal, impReal []float64
		tar, imp         []float64
		thrs             []string
		speakersPerGroup []int
	}
	for _, v := range strings.Split(variants, ",") {
		condList := strings.Split(conds, ",")
		results := map[string]*res{}
		for _, cond := range condList {
			results[cond] = &res{fa: make([]int, len(targets)), fr: make([]int, len(targets)), faReal: make([]int, len(targets))}
		}
		for rot := range 3 {
			var m0 *voice.Model
			for _, cond := range condList {
				r := results[cond]
				group := func(s string) int { return (pos[s] + rot) % 3 } // 0 background, 1 calibration, 2 test
				var bg []voice.Utterance
				var calReal, testReal []string
				for i, s := range real {
					g := 0
					if realToo {
						g = (i + rot) % 3
					}
					switch g {
					case 0:
						for _, rc := range c.bySpk[s] {
							bg = append(bg, voice.Utterance{Speaker: s, Audio: rc.audio})
						}
					case 1:
						calReal = append(calReal, s)
					default:
						testReal = append(testReal, s)
					}
				}
				bg, calSpk, testSpk := splitThree(names, group, by, bg)
				if m0 == nil {
					o := variantOptions(v)
					o.CalibSpeakers = -1
					o.Seed = uint64(rot)
					var err error
					if m0, err = voice.Train(bg, o); err != nil {
						log.Fatal(err)
					}
				}
				mc := *m0
				m := &mc
				rng := rand.New(rand.NewPCG(uint64(rot), 77))
				ch := func(a voice.Audio) voice.Audio {
					out, _ := voice.Channel(cond, a, rng)
					return out
				}
				// Enrolment: the first three utterances, clean; tests: the
				// rest through the condition's channel.
				calls := func(spks []string) []voice.Labelled {
					var out []voice.Labelled
					for _, s := range spks {
						var st voice.Stats
						for _, a := range by[s][:3] {
							st = st.Add(m.Backend.Stats(a))
						}
						out = append(out, voice.Labelled{Speaker: s, Enrol: true, Stats: st})
						for _, a := range by[s][3:] {
							out = append(out, voice.Labelled{Speaker: s, Stats: m.Backend.Stats(ch(a))})
						}
					}
					return out
				}
				// Real speakers: ten enrolment calls of three strings, 25 tests.
				realCalls := func(spks []string) []voice.Labelled {
					var out []voice.Labelled
					for _, s := range spks {
						for range 10 {
							var st voice.Stats
							for range 3 {
								st = st.Add(m.Backend.Stats(c.digitString(s, 5, 0, 25, rng)))
							}
							out = append(out, voice.Labelled{Speaker: s, Enrol: true, Stats: st})
						}
						for range 25 {
							out = append(out, voice.Labelled{Speaker: s, Stats: m.Backend.Stats(ch(c.digitString(s, 5, 25, 50, rng)))})
						}
					}
					return out
				}
				isReal := map[string]bool{}
				for _, s := range real {
					isReal[s] = true
				}
				calCalls := append(calls(calSpk), realCalls(calReal)...)
				if realOnly {
					calCalls = realCalls(calReal)
				}
				calSyn := len(calSpk)
				if realOnly {
					calSyn = 0
				}
				if err := m.CalibrateOn(calCalls, fmt.Sprintf("%d synthetic, %d real speakers", calSyn, len(calReal))); err != nil {
					log.Fatal(err)
				}
				thr := make([]float64, len(targets))
				for i, t := range targets {
					thr[i] = m.Calib.Threshold(t)
				}
				r.thrs = append(r.thrs, fmt.Sprintf("rotation %d: %s; thresholds %.2f", rot, m.Calib.Trials, thr))
				r.speakersPerGroup = append(r.speakersPerGroup, len(testSpk))
				test := append(calls(testSpk), realCalls(testReal)...)
				prints := make([]voice.Voiceprint, len(test))
				for i, l := range test {
					prints[i] = m.Print(l.Stats)
				}
				for i, e := range test {
					if !e.Enrol {
						continue
					}
					for j, t := range test {
						if t.Enrol {
							continue
						}
						s := m.Compare(prints[i], prints[j]).Normalized
						same := e.Speaker == t.Speaker
						both := isReal[e.Speaker] && isReal[t.Speaker]
						if same {
							r.nTar++
							r.tar = append(r.tar, s)
							if both {
								r.tarReal = append(r.tarReal, s)
							}
						} else {
							r.nImp++
							r.imp = append(r.imp, s)
							if both {
								r.nImpReal++
								r.impReal = append(r.impReal, s)
							}
						}
						for k, th := range thr {
							if same && s < th {
								r.fr[k]++
							}
							if !same && s >= th {
								r.fa[k]++
								if both {
									r.faReal[k]++
								}
							}
						}
					}
				}
				log.Printf("%s %s rotation %d done at %v", v, cond, rot, time.Since(t0).Round(time.Second))
			}
		}
		for _, cond := range condList {
			r := results[cond]
			eer, _ := voice.EER(r.tar, r.imp)
			fmt.Printf("\n%s, enrol clean → test %s: EER %.2f %% (%d target / %d impostor trials; test speakers per rotation %v)\n\n", v, cond, 100*eer, r.nTar, r.nImp, r.speakersPerGroup)
			fmt.Printf("| target FAR | measured FAR on unseen speakers | ratio | FRR |\n|---|---|---|---|\n")
			for k, t := range targets {
				fa := float64(r.fa[k]) / float64(r.nImp)
				fmt.Printf("| %.1f %% | %.2f %% (%d) | %.2f | %.1f %% |\n", 100*t, 100*fa, r.fa[k], fa/t, 100*float64(r.fr[k])/float64(r.nTar))
			}
			if r.nImpReal > 0 {
				eer, _ := voice.EER(r.tarReal, r.impReal)
				fmt.Printf("\nReal FSDD test speakers only: EER %.2f %% (%d target / %d impostor trials)\n\n| target FAR | measured FAR | ratio |\n|---|---|---|\n", 100*eer, len(r.tarReal), r.nImpReal)
				for k, t := range targets {
					fa := float64(r.faReal[k]) / float64(r.nImpReal)
					fmt.Printf("| %.1f %% | %.2f %% (%d) | %.2f |\n", 100*t, 100*fa, r.faReal[k], fa/t)
				}
			}
			fmt.Printf("\n- %s\n", strings.Join(r.thrs, "\n- "))
		}
	}
}
