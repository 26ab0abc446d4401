package voice

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
)

// Utterance is labelled training speech.
type Utterance struct {
	Speaker string
	Audio   Audio
}

// TrainOptions configure Train.
type TrainOptions struct {
	Features   FeatureConfig
	GMM        TrainConfig
	Relevance  float64 // MAP relevance factor (default 16)
	CohortSize int     // cohort embeddings kept (default 300)
	CohortTop  int     // adaptive s-norm top-N (default 100)
	Info       string  // recorded in the model: data, licence
}

// DefaultTrainOptions are the settings chosen by leave-speakers-out
// cross-validation on FSDD (see docs/benchmarks.md).
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{
		Features:   DefaultFeatures,
		GMM:        TrainConfig{Components: 128, Iters: 5, VarFloor: 0.01, MaxFrames: 200000},
		Relevance:  16,
		CohortSize: 300,
		CohortTop:  100,
	}
}

// Train builds a model from background speech: the UBM, the centring
// vector and the s-norm cohort. Its calibration comes from trials among
// the training speakers, which the background model has heard, so it is
// optimistic; Calibrate it on held-out speakers where there are some.
func Train(utts []Utterance, o TrainOptions) (*Model, error) {
	if len(utts) == 0 {
		return nil, fmt.Errorf("voice: no training audio")
	}
	if o.Relevance == 0 {
		o.Relevance = 16
	}
	if o.CohortSize == 0 {
		o.CohortSize = 300
	}
	if o.CohortTop == 0 {
		o.CohortTop = 100
	}
	ext := newExtractor(o.Features)
	feats := make([]*Features, len(utts))
	parallel(len(utts), func(i int) { feats[i] = ext.extract(utts[i].Audio) })
	var frames [][]float32
	for _, f := range feats {
		for i := range f.Frames {
			frames = append(frames, f.Row(i))
		}
	}
	ubm, err := TrainGMM(frames, o.GMM)
	if err != nil {
		return nil, err
	}
	b := &GMMBackend{Features: o.Features, UBM: ubm, Relevance: o.Relevance, ext: ext}
	stats := make([]Stats, len(utts))
	parallel(len(utts), func(i int) { stats[i] = b.StatsOf(feats[i]) })
	center := make([]float64, ubm.C*ubm.D)
	n := 0
	for _, st := range stats {
		if st.Frames == 0 {
			continue
		}
		for i, v := range b.supervector(st) {
			center[i] += float64(v)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("voice: no speech found in the training audio")
	}
	b.Center = make([]float32, len(center))
	for i, v := range center {
		b.Center[i] = float32(v / float64(n))
	}
	m := &Model{Version: 1, Info: o.Info, Backend: b, CohortTop: o.CohortTop}
	// Cohort: utterances taken round-robin over speakers.
	bySpk := map[string][]int{}
	var spks []string
	for i, u := range utts {
		if stats[i].Frames == 0 {
			continue
		}
		if _, ok := bySpk[u.Speaker]; !ok {
			spks = append(spks, u.Speaker)
		}
		bySpk[u.Speaker] = append(bySpk[u.Speaker], i)
	}
	sort.Strings(spks)
	for k := 0; len(m.Cohort) < o.CohortSize; k++ {
		added := false
		for _, s := range spks {
			if k < len(bySpk[s]) && len(m.Cohort) < o.CohortSize {
				// Spread the picks over each speaker's list.
				idx := bySpk[s][(k*7919)%len(bySpk[s])]
				m.Cohort = append(m.Cohort, b.Embed(stats[idx]))
				added = true
			}
		}
		if !added {
			break
		}
	}
	// Provisional calibration from training speakers.
	var tar, imp []float64
	prints := make([]Voiceprint, len(utts))
	parallel(len(utts), func(i int) { prints[i] = m.Print(stats[i]) })
	for _, s := range spks {
		idx := bySpk[s]
		for a := 0; a+1 < len(idx) && a < 40; a += 2 {
			tar = append(tar, m.Compare(prints[idx[a]], prints[idx[a+1]]).Normalized)
		}
	}
	for i, s := range spks {
		for _, t := range spks[i+1:] {
			for k := 0; k < 20 && k < len(bySpk[s]) && k < len(bySpk[t]); k++ {
				imp = append(imp, m.Compare(prints[bySpk[s][k]], prints[bySpk[t][k]]).Normalized)
			}
		}
	}
	m.Calib = FitCalibration(tar, imp, "training speakers (optimistic: the background model heard them)")
	if m.Calib.A <= 0 {
		m.Calib.A = 1
	}
	return m, nil
}

// Calibrate replaces the calibration with one fitted on held-out trials
// (normalised scores).
func (m *Model) Calibrate(target, impostor []float64, trials string) {
	c := FitCalibration(target, impostor, trials)
	if c.A > 0 {
		m.Calib = c
	}
}

func parallel(n int, f func(i int)) {
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
