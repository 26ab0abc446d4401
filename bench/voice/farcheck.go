package main

import (
	"fmt"
	"log"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/par"
	"github.com/tollgate-voip/tollgate/voice"
)

// farCheck is issue 19's false-accept check on speakers used neither for
// training nor for calibration. Per rotation (3) the SYNTHETIC speakers
// (bench/voice/speakers.sh) are split in thirds within each engine
// family: the first third trains the model (no real speaker does), the
// second calibrates, the third is tested. The six real FSDD speakers are
// split every way into three calibration and three test speakers (20
// splits per rotation). Calibration sets: the synthetic third alone, the
// three real speakers alone, and both. Each is applied to the test
// speakers of its population (and the synthetic-only one to the real test
// speakers, to show what a calibration on another population does).
//
// Calls go through the condition's channels: enrolment → test, and the
// calibration calls in the same way (an operator calibrates on calls
// like the ones they screen). Real speakers: ten enrolments of three
// five-digit strings (repetitions 0–24), 25 five-digit tests (25–49);
// synthetic: the first three utterances enrol, the other seven test.
//
// testDigits other than 5 makes the real test speakers' test strings
// that long while calibration calls keep five digits: a threshold set on
// one call length, used on another.
//
// Reported per target rate: the false accepts on the test speakers at
// the conservative threshold (Calibration.Threshold) and at the point
// threshold (PointThreshold, what the calibration's own trials give),
// and the false rejects at the conservative one.
func farCheck(c *corpus, real []string, dir, variant, conds string, testDigits int) {
	t0 := time.Now()
	by, names, pos, count := loadFamilies(dir)
	log.Printf("%d synthetic speakers in %d families, %d real", len(names), len(count), len(real))
	targets := []float64{0.001, 0.01, 0.05}
	// Thresholds compared: the calibration's own rate (point), and the
	// bound at 80 % and at 95 % (the shipped Threshold).
	methods := []string{"point", "bound 80 %", "bound 95 %"}
	newCell := func() *farCell {
		c := &farCell{}
		for range methods {
			c.fa = append(c.fa, make([]int, len(targets)))
			c.fr = append(c.fr, make([]int, len(targets)))
			c.over2 = append(c.over2, make([]int, len(targets)))
		}
		return c
	}
	cells := map[farKey]*farCell{}
	var keys []farKey
	get := func(k farKey) *farCell {
		if cells[k] == nil {
			cells[k] = newCell()
			keys = append(keys, k)
		}
		return cells[k]
	}
	condList := strings.Split(conds, ",")
	for rot := range 3 {
		group := func(s string) int { return (pos[s] + rot) % 3 }
		bg, calSyn, testSyn := splitThree(names, group, by, nil)
		o := variantOptions(variant)
		o.CalibSpeakers = -1
		o.Seed = uint64(rot)
		m0, err := voice.Train(bg, o)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("rotation %d: model trained on %d synthetic speakers at %v", rot, len(bg)/10, time.Since(t0).Round(time.Second))
		for _, cond := range condList {
			enCh, teCh, ok := strings.Cut(cond, "-")
			if !ok {
				teCh = enCh
			}
			rng := rand.New(rand.NewPCG(uint64(rot), 91))
			through := func(ch string, a voice.Audio) voice.Audio {
				out, err := voice.Channel(ch, a, rng)
				if err != nil {
					log.Fatal(err)
				}
				return out
			}
			// Audio (sequential: the rng), then statistics in parallel.
			type job struct {
				spk   string
				enrol bool
				parts []voice.Audio
				only  int // 1: calibration only, 2: test only
			}
			var jobs []job
			for _, s := range names {
				if group(s) == 0 {
					continue
				}
				var en []voice.Audio
				for _, a := range by[s][:3] {
					en = append(en, through(enCh, a))
				}
				jobs = append(jobs, job{s, true, en, 0})
				for _, a := range by[s][3:] {
					jobs = append(jobs, job{s, false, []voice.Audio{through(teCh, a)}, 0})
				}
			}
			for _, s := range real {
				for range 10 {
					var en []voice.Audio
					for range 3 {
						en = append(en, through(enCh, c.digitString(s, 5, 0, 25, rng)))
					}
					jobs = append(jobs, job{s, true, en, 0})
				}
				for range 25 {
					if testDigits == 5 {
						jobs = append(jobs, job{s, false, []voice.Audio{through(teCh, c.digitString(s, 5, 25, 50, rng))}, 0})
						continue
					}
					jobs = append(jobs, job{s, false, []voice.Audio{through(teCh, c.digitString(s, 5, 25, 50, rng))}, 1})
					jobs = append(jobs, job{s, false, []voice.Audio{through(teCh, c.digitString(s, testDigits, 25, 50, rng))}, 2})
				}
			}
			calls := make([]voice.Labelled, len(jobs))
			prints := make([]voice.Voiceprint, len(jobs))
			par.Do(len(jobs), func(i int) {
				var st voice.Stats
				for _, a := range jobs[i].parts {
					if jobs[i].enrol { // as the service enrols: with the model's Handset copies
						st = st.Add(m0.EnrolStats(a))
					} else {
						st = st.Add(m0.Backend.Stats(a))
					}
				}
				calls[i] = voice.Labelled{Speaker: jobs[i].spk, Enrol: jobs[i].enrol, Stats: st}
				prints[i] = m0.Print(st)
			})
			// in lists the calls of a set of speakers, for calibration
			// (skip 2) or for the test (skip 1).
			in := func(set map[string]bool, skip int) []int {
				var out []int
				for i, l := range calls {
					if set[l.Speaker] && jobs[i].only != skip {
						out = append(out, i)
					}
				}
				return out
			}
			setOf := func(ss ...[]string) map[string]bool {
				m := map[string]bool{}
				for _, s := range ss {
					for _, x := range s {
						m[x] = true
					}
				}
				return m
			}
			// evaluate calibrates a copy of the model on cal and scores test.
			evaluate := func(k farKey, cal, test map[string]bool) {
				mc := *m0
				var items []voice.Labelled
				for _, i := range in(cal, 2) {
					items = append(items, calls[i])
				}
				if err := mc.CalibrateOn(items, k.cal); err != nil {
					log.Fatal(err)
				}
				cl := get(k)
				cl.pairs = append(cl.pairs, mc.Calib.Pairs)
				// The same trials as CalibrateOn's, for the 80 % bound.
				var ctar, cimp []float64
				var cspk [][2]int
				num := map[string]int{}
				for _, l := range items {
					if _, ok := num[l.Speaker]; !ok {
						num[l.Speaker] = len(num)
					}
				}
				calIdx := in(cal, 2)
				for _, e := range calIdx {
					if !calls[e].Enrol {
						continue
					}
					for _, t := range calIdx {
						if calls[t].Enrol {
							continue
						}
						sc := mc.Compare(prints[e], prints[t]).Normalized
						if calls[e].Speaker == calls[t].Speaker {
							ctar = append(ctar, sc)
						} else {
							cimp = append(cimp, sc)
							cspk = append(cspk, [2]int{num[calls[e].Speaker], num[calls[t].Speaker]})
						}
					}
				}
				c80 := voice.FitCalibrationConf(ctar, cimp, cspk, "", 0.8)
				thr := make([][]float64, len(methods))
				for mi := range methods {
					thr[mi] = make([]float64, len(targets))
					for t, f := range targets {
						switch mi {
						case 0:
							thr[mi][t] = mc.Calib.PointThreshold(f)
						case 1:
							thr[mi][t] = c80.Threshold(f)
						default:
							thr[mi][t] = mc.Calib.Threshold(f)
						}
					}
				}
				cl.thr = append(cl.thr, thr)
				idx := in(test, 1)
				runFA := make([][]int, len(methods))
				for mi := range methods {
					runFA[mi] = make([]int, len(targets))
				}
				runImp := 0
				for _, e := range idx {
					if !calls[e].Enrol {
						continue
					}
					for _, t := range idx {
						if calls[t].Enrol {
							continue
						}
						sc := mc.Compare(prints[e], prints[t]).Normalized
						same := calls[e].Speaker == calls[t].Speaker
						if same {
							cl.tar++
						} else {
							cl.imp++
							runImp++
						}
						for mi := range methods {
							for j := range targets {
								if same && sc < thr[mi][j] {
									cl.fr[mi][j]++
								}
								if !same && sc >= thr[mi][j] {
									cl.fa[mi][j]++
									runFA[mi][j]++
								}
							}
						}
					}
				}
				cl.runs++
				for mi := range methods {
					for j, f := range targets {
						if float64(runFA[mi][j]) > 2*f*float64(runImp) {
							cl.over2[mi][j]++
						}
					}
				}
			}
			syn := setOf(testSyn)
			evaluate(farKey{cond, "synthetic", "synthetic"}, setOf(calSyn), syn)
			evaluate(farKey{cond, "synthetic", "real"}, setOf(calSyn), setOf(real))
			// Every split of the real speakers into three and three.
			n := len(real)
			for mask := 0; mask < 1<<n; mask++ {
				if bits.OnesCount(uint(mask)) != n/2 {
					continue
				}
				var cr, tr []string
				for i, s := range real {
					if mask&(1<<i) != 0 {
						cr = append(cr, s)
					} else {
						tr = append(tr, s)
					}
				}
				evaluate(farKey{cond, "real", "real"}, setOf(cr), setOf(tr))
				evaluate(farKey{cond, "synthetic+real", "real"}, setOf(calSyn, cr), setOf(tr))
			}
			log.Printf("rotation %d %s done at %v", rot, cond, time.Since(t0).Round(time.Second))
		}
		fmt.Printf("\n### after rotation %d\n", rot)
		farReport(cells, keys, methods, targets)
	}
}

type farKey struct{ cond, cal, test string }

type farCell struct {
	fa, fr, over2 [][]int // [method][target]
	runs          int
	imp, tar      int
	pairs         []int
	thr           [][][]float64 // [run][method][target]
}

func farReport(cells map[farKey]*farCell, keys []farKey, methods []string, targets []float64) {
	fmt.Printf("\n| enrol → test | calibrated on | tested on | target FAR | threshold | FAR on the test speakers (count) | ratio | FRR | runs over 2× | impostor / target trials | speakers pairs per calibration |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range keys {
		cl := cells[k]
		pairs := append([]int(nil), cl.pairs...)
		sort.Ints(pairs)
		for j, f := range targets {
			for mi, m := range methods {
				fa := float64(cl.fa[mi][j]) / float64(cl.imp)
				fmt.Printf("| %s | %s | %s | %.1f %% | %s | %.3f %% (%d) | %.2f | %.1f %% | %d of %d | %d / %d | %d–%d |\n",
					strings.Replace(k.cond, "-", " → ", 1), k.cal, k.test, 100*f, m, 100*fa, cl.fa[mi][j], fa/f,
					100*float64(cl.fr[mi][j])/float64(cl.tar), cl.over2[mi][j], cl.runs, cl.imp, cl.tar, pairs[0], pairs[len(pairs)-1])
			}
		}
	}
	fmt.Println()
	for _, k := range keys {
		cl := cells[k]
		fmt.Printf("- %s, %s → %s: thresholds [point, 80 %%, 95 %%] × targets in the first run: %.2f\n", k.cond, k.cal, k.test, cl.thr[0])
	}
}
