package main

import (
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/voice"
)

// beforeOptions are the settings before issue 19: full-band features
// without normalisation, clean background only (so no channel
// directions), calibrated on the training speakers.
func beforeOptions() voice.TrainOptions {
	o := voice.DefaultTrainOptions()
	o.Features = voice.FeatureConfig{Filters: 24, LowHz: 0, HighHz: 4000, Ceps: 19, Deltas: true, VADMarginDB: 9, Norm: "none"}
	o.Channels = []string{"clean"}
	o.ChannelNAP = 0
	o.CalibSpeakers = -1
	return o
}

// issue19Options are the channel-robust settings measured for issue 19.
func issue19Options() voice.TrainOptions {
	o := voice.DefaultTrainOptions()
	o.Features = voice.FeatureConfig{Filters: 24, LowHz: 300, HighHz: 3400, Ceps: 19, Deltas: true, VADMarginDB: 9, Norm: "cmvn"}
	o.Channels = []string{"clean", "alaw", "telephone"}
	o.ChannelNAP = 0
	o.CohortSpeech = 1.5
	return o
}

type chanPair struct{ enrol, test string }

var chanPairs = []chanPair{
	{"clean", "clean"}, {"alaw", "alaw"}, {"telephone", "telephone"},
	{"clean", "alaw"}, {"clean", "telephone"},
}

type tally struct {
	tar, imp []float64
	speech   []float64 // net speech of each test
	fa, fr   int       // at the model's 1 % threshold
}

// heldOut runs, for each pair of test speakers (the fold), a model
// trained on the other four real speakers — after issue 19 two of them
// build the background model and cohort and the other two calibrate it,
// so the test pair is in neither — and scores three enrolment strings
// against held-out test strings for each enrolment→test channel pair.
// The trial audio depends only on the fold, length and channel pair, so
// every setting is scored on the same trials.
func heldOut(c *corpus, real []string, lens []int, foldFrom, nFolds, models, tests int, variants, scoresPath string) {
	t0 := time.Now()
	var settings []setting
	warps := map[string]warpOpts{}
	for _, v := range strings.Split(variants, ",") {
		train, w := splitWarpModifiers(v)
		settings = append(settings, setting{v, variantOptions(train)})
		warps[v] = w
	}
	type key struct {
		set  string
		n    int
		pair chanPair
	}
	res := map[key]*tally{}
	// dump writes the trials so far (after every length, so that a long
	// run's finished lengths are kept).
	dump := func() {
		if scoresPath == "" {
			return
		}
		var rows []scoreRow
		for _, st := range settings {
			for _, n := range lens {
				for _, cp := range heldOutPairs() {
					if t := res[key{st.name, n, cp}]; t != nil {
						rows = append(rows, scoreRow{st.name, n, cp, t})
					}
				}
			}
		}
		if err := writeScores(scoresPath, rows); err != nil {
			log.Fatal(err)
		}
	}
	var folds [][2]string
	for i, a := range real {
		for _, b := range real[i+1:] {
			folds = append(folds, [2]string{a, b})
		}
	}
	// Spread the chosen folds over the speakers.
	order := []int{0, 14, 5, 9, 2, 12, 7, 3, 10, 1, 13, 6, 8, 4, 11}
	calibs := map[string][]string{}
	var foldEER []string
	for k := foldFrom; k < foldFrom+nFolds && k < len(folds); k++ {
		f := folds[order[k]]
		var bg []voice.Utterance
		for _, s := range real {
			if s == f[0] || s == f[1] {
				continue
			}
			for _, r := range c.bySpk[s] {
				bg = append(bg, voice.Utterance{Speaker: s, Audio: r.audio})
			}
		}
		ubms := map[string]*voice.GMM{}
		trained := map[string]*voice.Model{}
		for _, st := range settings {
			st.opt.Seed = uint64(k)
			// Settings with the same front end and background audio share
			// one background model per fold, and settings that differ only
			// in scoring-side modifiers (warp.go) one model.
			ubmKey := fmt.Sprint(st.opt.Features, st.opt.Channels, st.opt.JoinSeconds, st.opt.CalibSpeakers, st.opt.PseudoSpeakers)
			modelKey := fmt.Sprintf("%+v", st.opt)
			st.opt.UBM = ubms[ubmKey]
			m := trained[modelKey]
			if m == nil {
				var err error
				if m, err = voice.Train(bg, st.opt); err != nil {
					log.Fatal(err)
				}
				trained[modelKey] = m
			}
			ubms[ubmKey] = m.Backend.UBM
			thr := m.Calib.Threshold(0.01)
			calibs[st.name] = append(calibs[st.name], fmt.Sprintf("fold %s+%s: thr %.2f (%s)", f[0], f[1], thr, m.Calib.Trials))
			for _, n := range lens {
				for pi, cp := range heldOutPairs() {
					rng := rand.New(rand.NewPCG(uint64(k*1000+n), uint64(pairSeed(pi, cp))))
					ch := func(name string, a voice.Audio) voice.Audio {
						return benchChannel(name, a, rng)
					}
					kk := key{st.name, n, cp}
					t := res[kk]
					if t == nil {
						t = &tally{}
						res[kk] = t
					}
					w := warps[st.name]
					nt0, ni0 := len(t.tar), len(t.imp)
					prints := map[string][]voice.Voiceprint{}
					testP := map[string][][]voice.Voiceprint{}
					for _, s := range f {
						for range models {
							var stats voice.Stats
							for range 3 {
								stats = stats.Add(w.enrolStats(m, ch(cp.enrol, c.digitString(s, n, 0, 25, rng))))
							}
							prints[s] = append(prints[s], m.Print(stats))
						}
						for range tests {
							tp := w.testPrints(m, ch(cp.test, c.digitString(s, n, 25, 50, rng)))
							t.speech = append(t.speech, tp[0].Speech)
							testP[s] = append(testP[s], tp)
						}
					}
					for _, s := range f {
						for _, p := range prints[s] {
							for _, u := range f {
								for _, tp := range testP[u] {
									r := w.compare(m, p, tp)
									if s == u {
										t.tar = append(t.tar, r)
										if r < thr {
											t.fr++
										}
									} else {
										t.imp = append(t.imp, r)
										if r >= thr {
											t.fa++
										}
									}
								}
							}
						}
					}
					if e, _ := voice.EER(t.tar[nt0:], t.imp[ni0:]); !math.IsNaN(e) {
						foldEER = append(foldEER, fmt.Sprintf("%d:%s→%s %.1f", n, cp.enrol, cp.test, 100*e))
					}
				}
				dump()
			}
			log.Printf("fold %d (%s, %s) %s done at %v; EER %% %s", k, f[0], f[1], st.name, time.Since(t0).Round(time.Second), strings.Join(foldEER, " "))
			foldEER = foldEER[:0]
		}
	}
	dump()
	fmt.Printf("| setting | digits | enrol → test | EER %% | FA %% at the model's 1 %% FAR threshold | FR %% there | target / impostor trials | net test speech (s) |\n|---|---|---|---|---|---|---|---|\n")
	for _, st := range settings {
		for _, n := range lens {
			for _, cp := range heldOutPairs() {
				t := res[key{st.name, n, cp}]
				eer, _ := voice.EER(t.tar, t.imp)
				fmt.Printf("| %s | %d | %s → %s | %.2f | %.2f | %.2f | %d / %d | %.2f |\n", st.name, n, cp.enrol, cp.test, 100*eer,
					100*float64(t.fa)/float64(len(t.imp)), 100*float64(t.fr)/float64(len(t.tar)), len(t.tar), len(t.imp), mean(t.speech))
			}
		}
	}
	for _, st := range settings {
		fmt.Printf("\n%s calibration:\n- %s\n", st.name, strings.Join(calibs[st.name], "\n- "))
	}
	log.Printf("total %v", time.Since(t0).Round(time.Second))
}

// variantOptions reads a setting: a base (before, features,
// features+channels, fullband, after, default) followed by '+'-joined
// modifiers: cmvn, tel (300–3400 Hz band), full (0–4000 Hz), chan (clean,
// A-law and telephone background), join<s> (join training utterances
// into calls of s seconds), coh<s> (cohort calls of s seconds), cal<n>
// (calibration speakers), pca<n>, nap<n>, lda<n>, wccn<shrinkage>,
// cnap<n> (channel directions removed, TrainOptions.ChannelNAP), hs<n>
// (background clean, A-law and n Handset copies: the test's telephone
// simulator never trains), hsonly<n> (clean and n Handset copies), ss<k>
// (spectral subtraction, FeatureConfig.NoiseSub), ps<pct> (background
// also holds every speaker at speeds 1 ± pct % as separate speakers,
// TrainOptions.PseudoSpeakers).
func variantOptions(v string) voice.TrainOptions {
	parts := strings.Split(v, "+")
	var o voice.TrainOptions
	switch parts[0] {
	case "before":
		o = beforeOptions()
	case "cmvn-fullband": // old band, CMVN, clean only, calibrated on training speakers
		o = beforeOptions()
		o.Features.Norm = "cmvn"
	case "features": // telephone band + CMVN, clean background, calibrated on training speakers
		o = issue19Options()
		o.Channels = []string{"clean"}
		o.CalibSpeakers = -1
	case "features&channels": // telephone band + CMVN, background through all channels, cohort of 1.5 s calls
		o = issue19Options()
		o.CalibSpeakers = -1
	case "fullband": // as "after" but a full-band (0–4000 Hz) filterbank
		o = issue19Options()
		o.Features.LowHz, o.Features.HighHz = 0, 4000
		o.CalibSpeakers = 2
	case "after": // telephone band + CMVN, all channels, cohort calls, two calibration speakers held out
		o = issue19Options()
		o.CalibSpeakers = 2
	case "default": // the shipped defaults
		o = voice.DefaultTrainOptions()
	default:
		log.Fatalf("unknown variant %q", v)
	}
	for _, m := range parts[1:] {
		num := func(prefix string) float64 {
			var f float64
			if _, err := fmt.Sscan(strings.TrimPrefix(m, prefix), &f); err != nil {
				log.Fatalf("variant %q: bad modifier %q", v, m)
			}
			return f
		}
		switch {
		case m == "cmvn" || m == "cmn" || m == "none" || m == "warp":
			o.Features.Norm = m
		case m == "tel":
			o.Features.LowHz, o.Features.HighHz = 300, 3400
		case m == "full":
			o.Features.LowHz, o.Features.HighHz = 0, 4000
		case m == "chan" || m == "channels": // "features+channels" reads as before
			o.Channels = []string{"clean", "alaw", "telephone"}
		case m == "clean":
			o.Channels = []string{"clean"}
		case strings.HasPrefix(m, "hsonly"): // clean + n Handset copies: neither the test's A-law nor its telephone simulator in training
			o.Channels = append([]string{"clean"}, handsetChannels(int(num("hsonly")))...)
		case strings.HasPrefix(m, "hs"): // clean, A-law + n Handset copies instead of the telephone simulator
			o.Channels = append([]string{"clean", "alaw"}, handsetChannels(int(num("hs")))...)
		case strings.HasPrefix(m, "ss"):
			o.Features.NoiseSub = num("ss")
		case strings.HasPrefix(m, "x"): // one more background channel, e.g. xtelephone (a second, independent copy)
			o.Channels = append(append([]string(nil), o.Channels...), strings.TrimPrefix(m, "x"))
		case strings.HasPrefix(m, "sp"): // background also at speeds 1 ± n % (clean)
			o.Channels = append(append([]string(nil), o.Channels...), speedChannels(pct(v, m, "sp"))...)
		case strings.HasPrefix(m, "ps"): // background also holds each speaker at speeds 1 ± n % as other speakers
			p := pct(v, m, "ps")
			o.PseudoSpeakers = []float64{1 - p, 1 + p}
		case strings.HasPrefix(m, "join"):
			o.JoinSeconds = num("join")
		case strings.HasPrefix(m, "coh"):
			o.CohortSpeech = num("coh")
		case strings.HasPrefix(m, "cal"):
			o.CalibSpeakers = int(num("cal"))
		case strings.HasPrefix(m, "pca"):
			o.Session.PCA = int(num("pca"))
		case strings.HasPrefix(m, "nap"):
			o.Session.NAP = int(num("nap"))
		case strings.HasPrefix(m, "lda"):
			o.Session.LDA = int(num("lda"))
		case strings.HasPrefix(m, "wccn"):
			o.Session.WCCN = num("wccn")
		case strings.HasPrefix(m, "hang"):
			o.Features.VADHangover = int(num("hang"))
		case strings.HasPrefix(m, "margin"):
			o.Features.VADMarginDB = num("margin")
		case strings.HasPrefix(m, "cnap"):
			o.ChannelNAP = int(num("cnap"))
		case strings.HasPrefix(m, "call"):
			o.Session.CallSeconds = num("call")
		default:
			log.Fatalf("variant %q: unknown modifier %q", v, m)
		}
	}
	return o
}

// handsetChannels names n independent Handset copies.
func handsetChannels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("handset%d", i+1)
	}
	return out
}
