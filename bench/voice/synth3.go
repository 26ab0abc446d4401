package main

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/internal/par"
	"github.com/tollgate-voip/tollgate/voice"
)

// synth3Options reads a -synth3 detector spec: '+'-separated parts,
// "full" (voice.SyntheticFeatures, the shipped front end) or "tel"
// (voice.SyntheticTelephoneFeatures), "hs<n>" (n Handset copies of every
// training recording), "acc" and "per" (SynthExtra.Accel and
// .Periodicity), "novoc" (no vocoded surrogate), "c<n>" (components),
// "loud<dB>" (SynthExtra.LoudDB), "sp<pct>" (real training strings also at that speed, SyntheticTrainOptions.Speeds;
// repeatable).
// "shipped" is full with the vocoded surrogate and clean training, what
// 'voice train-ubm -synthetic' trained before this pass; "default" is
// voice.DefaultSyntheticTrainOptions.
func synth3Options(spec string) (voice.SyntheticTrainOptions, error) {
	if spec == "default" {
		return voice.DefaultSyntheticTrainOptions(), nil
	}
	o := voice.SyntheticTrainOptions{Features: voice.SyntheticFeatures, Components: 32, Vocoded: true, Seed: 19}
	if spec == "shipped" {
		return o, nil
	}
	for _, p := range strings.Split(spec, "+") {
		switch {
		case p == "full":
			o.Features = voice.SyntheticFeatures
		case p == "tel":
			o.Features = voice.SyntheticTelephoneFeatures
		case p == "acc":
			o.Extra.Accel = true
		case p == "per":
			o.Extra.Periodicity = true
		case p == "novoc":
			o.Vocoded = false
		case strings.HasPrefix(p, "loud"):
			n, err := strconv.ParseFloat(p[4:], 64)
			if err != nil {
				return o, fmt.Errorf("%q: want loud<dB>", p)
			}
			o.Extra.LoudDB = n
		case strings.HasPrefix(p, "sp"):
			n, err := strconv.Atoi(p[2:])
			if err != nil {
				return o, fmt.Errorf("%q: want sp<percent>", p)
			}
			o.Speeds = append(o.Speeds, float64(n)/100)
		case strings.HasPrefix(p, "hs"):
			n, err := strconv.Atoi(p[2:])
			if err != nil {
				return o, fmt.Errorf("%q: want hs<n>", p)
			}
			o.Handset = n
		case strings.HasPrefix(p, "c"):
			n, err := strconv.Atoi(p[1:])
			if err != nil {
				return o, fmt.Errorf("%q: want c<n>", p)
			}
			o.Components = n
		default:
			return o, fmt.Errorf("unknown part %q", p)
		}
	}
	return o, nil
}

// synth3 evaluates the synthetic-voice flag with a three-way split of the
// real speakers and one TTS engine family (or all of festival) held out
// at a time. FSDD's six speakers form three pairs; in each rotation one
// pair trains the detector (with the TTS voices of the other families),
// one pair calibrates it — voice.SyntheticDetector.Calibrate at 1 % false
// flags on that pair's strings in the test channel, as an operator would
// on their own real calls — and one pair is the test: its false flags at
// that threshold are counted next to the held-out family's flagged share.
// rotations 3 cycles the pairs (each pair tested once), 6 takes every
// order (each pair tested twice, with either other pair calibrating).
// Training never hears voice.Telephone (the test channel): its channel
// copies are voice.Handset. Real strings: 40 training strings per
// speaker, 100 evaluation strings per channel (calibration or test,
// depending on the rotation); TTS: 10 training strings per voice from the
// first half of its repetitions, 20 test strings per channel from the
// second half. All strings are 5 digits joined alike.
func synth3(c *corpus, real []string, conds []string, specs []string, rotations int) {
	t0 := time.Now()
	fams, famNames := c.ttsFamilies()
	type strs struct {
		train []voice.Audio            // training strings
		voc   []voice.Audio            // the same, vocoded (real speakers)
		eval  map[string][]voice.Audio // test or calibration strings per channel
	}
	sets := make([]strs, len(c.speakers))
	par.Do(len(c.speakers), func(si int) {
		s := c.speakers[si]
		rng := rand.New(rand.NewPCG(uint64(si), 0x53))
		nTr, nEv, lo, hi := 40, 100, 0, 50
		if c.synth[s] {
			nTr, nEv, lo, hi = 10, 20, 0, 25
		}
		st := strs{eval: map[string][]voice.Audio{}}
		for i := range nTr {
			a := c.digitString(s, 5, lo, hi, rng)
			st.train = append(st.train, a)
			if !c.synth[s] {
				st.voc = append(st.voc, voice.Vocode(a, i%2 == 1, rng))
			}
		}
		if c.synth[s] {
			lo, hi = 25, 50
		}
		for _, ch := range conds {
			for range nEv {
				a, err := voice.Channel(ch, c.digitString(s, 5, lo, hi, rng), rng)
				if err != nil {
					log.Fatal(err)
				}
				st.eval[ch] = append(st.eval[ch], a)
			}
		}
		sets[si] = st
	})
	idx := map[string]int{}
	for i, s := range c.speakers {
		idx[s] = i
	}
	log.Printf("strings of %d voices in %v", len(c.speakers), time.Since(t0).Round(time.Second))
	// Frames of every string for one front end and number of Handset
	// copies, computed once and shared by every rotation and fold.
	type frames struct {
		train, voc [][]*voice.Features // [copy][string]; copy 0 is the original
		eval       map[string][]*voice.Features
	}
	// Specs that differ only in the mixtures share their frames.
	cached := map[string][]frames{}
	front := func(o voice.SyntheticTrainOptions) []frames {
		key := fmt.Sprint(o.Features, o.Extra, o.Handset, o.Speeds)
		if out, ok := cached[key]; ok {
			return out
		}
		out := make([]frames, len(c.speakers))
		for si, s := range c.speakers {
			st := sets[si]
			fr := frames{eval: map[string][]*voice.Features{}}
			rng := rand.New(rand.NewPCG(uint64(si), 0x4a5))
			train, voc := st.train, st.voc
			if !c.synth[s] && len(o.Speeds) > 0 {
				train, voc = slices.Clip(train), slices.Clip(voc)
				vrng := rand.New(rand.NewPCG(uint64(si), 0x5bd))
				for _, f := range o.Speeds {
					for i, a := range st.train {
						b := voice.Speed(a, f)
						train = append(train, b)
						voc = append(voc, voice.Vocode(b, i%2 == 1, vrng))
					}
				}
			}
			for k := 0; k <= o.Handset; k++ {
				tr, vo := train, voc
				if k > 0 {
					tr, vo = nil, nil
					for _, a := range train {
						tr = append(tr, voice.Handset(a, rng))
					}
					for _, a := range voc {
						vo = append(vo, voice.Handset(a, rng))
					}
				}
				fr.train = append(fr.train, voice.SyntheticFrames(o.Features, o.Extra, tr))
				fr.voc = append(fr.voc, voice.SyntheticFrames(o.Features, o.Extra, vo))
			}
			for _, ch := range conds {
				fr.eval[ch] = voice.SyntheticFrames(o.Features, o.Extra, st.eval[ch])
			}
			out[si] = fr
		}
		cached[key] = out
		log.Printf("frames for %+v in %v", o, time.Since(t0).Round(time.Second))
		return out
	}
	pairs := [][]string{{real[0], real[1]}, {real[2], real[3]}, {real[4], real[5]}}
	// Rotations: (train, calibration, test) pair indices.
	rots := [][3]int{{2, 1, 0}, {0, 2, 1}, {1, 0, 2}}
	if rotations == 6 {
		rots = append(rots, [3]int{1, 2, 0}, [3]int{2, 0, 1}, [3]int{0, 1, 2})
	}
	fmt.Printf("\n| detector | held-out family (voices) | channel | flagged at the calibration speakers' 1 %% | false flags of the test speakers there | flagged / false flags at the stricter calibration speaker's 1 %% | flagged at the test speakers' own 1 %% | EER %% |\n|---|---|---|---|---|---|---|---|\n")
	for _, spec := range specs {
		o, err := synth3Options(spec)
		if err != nil {
			log.Fatalf("-synth3det %q: %v", spec, err)
		}
		fr := front(o)
		for _, held := range lofoFolds(famNames) {
			type tally struct {
				flag, ff, flagT, nSyn, nHum int
				flagS, ffS                  int
				h, s                        []float64
			}
			res := map[string]*tally{}
			for _, ch := range conds {
				res[ch] = &tally{}
			}
			nHeld := 0
			for _, r := range rots {
				var human, synth []*voice.Features
				for _, s := range pairs[r[0]] {
					for _, f := range fr[idx[s]].train {
						human = append(human, f...)
					}
					if o.Vocoded {
						for _, f := range fr[idx[s]].voc {
							synth = append(synth, f...)
						}
					}
				}
				var heldV []string
				for _, f := range famNames {
					if slices.Contains(held, f) {
						heldV = append(heldV, fams[f]...)
						continue
					}
					for _, s := range fams[f] {
						for _, f := range fr[idx[s]].train {
							synth = append(synth, f...)
						}
					}
				}
				nHeld = len(heldV)
				d, err := voice.TrainSyntheticFrames(human, synth, o, nil)
				if err != nil {
					log.Fatal(err)
				}
				score := func(fs []*voice.Features) []float64 {
					out := make([]float64, len(fs))
					par.Do(len(fs), func(i int) { out[i], _ = d.ScoreFrames(fs[i]) })
					return out
				}
				for _, ch := range conds {
					var cal []float64
					thrS := math.Inf(-1)
					for _, s := range pairs[r[1]] {
						one := score(fr[idx[s]].eval[ch])
						cal = append(cal, one...)
						if err := d.CalibrateScores(one, 0.01, "one calibration speaker"); err != nil {
							log.Fatal(err)
						}
						thrS = math.Max(thrS, d.Threshold)
					}
					if err := d.CalibrateScores(cal, 0.01, "calibration pair"); err != nil {
						log.Fatal(err)
					}
					thr := d.Threshold
					var hs, ss []float64
					for _, s := range pairs[r[2]] {
						hs = append(hs, score(fr[idx[s]].eval[ch])...)
					}
					for _, s := range heldV {
						ss = append(ss, score(fr[idx[s]].eval[ch])...)
					}
					thrT := quantile(hs, 0.99)
					t := res[ch]
					for _, x := range hs {
						if x >= thr {
							t.ff++
						}
						if x >= thrS {
							t.ffS++
						}
					}
					for _, x := range ss {
						if x >= thr {
							t.flag++
						}
						if x > thrT {
							t.flagT++
						}
						if x >= thrS {
							t.flagS++
						}
					}
					t.nSyn += len(ss)
					t.nHum += len(hs)
					t.h = append(t.h, hs...)
					t.s = append(t.s, ss...)
				}
				log.Printf("%s, %s held out, rotation %v: %v", spec, strings.Join(held, "+"), r, time.Since(t0).Round(time.Second))
			}
			for _, ch := range conds {
				t := res[ch]
				eer, _ := voice.EER(t.s, t.h)
				fmt.Printf("| %s | %s (%d) | %s | %.1f %% (%d / %d) | %.1f %% (%d / %d) | %.1f / %.1f %% | %.1f %% | %.1f |\n", spec, strings.Join(held, " + "), nHeld, ch,
					percent(t.flag, t.nSyn), t.flag, t.nSyn, percent(t.ff, t.nHum), t.ff, t.nHum, percent(t.flagS, t.nSyn), percent(t.ffS, t.nHum), percent(t.flagT, t.nSyn), 100*eer)
			}
		}
	}
	log.Printf("total %v", time.Since(t0).Round(time.Second))
}
