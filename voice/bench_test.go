package voice

import (
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

var (
	benchOnce  sync.Once
	benchModel *Model
)

// defaultModel is a model with the default settings (as train-ubm makes
// it), trained on FSDD repetitions 0–24.
func defaultModel(b *testing.B) *Model {
	d := loadFSDD(b)
	benchOnce.Do(func() {
		var utts []Utterance
		for key, a := range d.rec {
			utts = append(utts, Utterance{Speaker: key, Audio: a})
		}
		sort.Slice(utts, func(i, j int) bool { return utts[i].Speaker < utts[j].Speaker })
		o := DefaultTrainOptions()
		o.GMM.MaxFrames = 60000
		m, err := Train(utts, o)
		if err != nil {
			b.Fatal(err)
		}
		benchModel = m
	})
	return benchModel
}

// utterance3s is about 3 s of one speaker's digits.
func utterance3s(d *fsdd) Audio {
	rng := rand.New(rand.NewPCG(3, 3))
	a := d.digits("theo", 8, 40, 50, rng)
	for len(a.Samples) < 3*Rate {
		a.Samples = append(a.Samples, d.digits("theo", 1, 40, 50, rng).Samples...)
	}
	a.Samples = a.Samples[:3*Rate]
	return a
}

// BenchmarkVerify3s is the IVR's path: features, statistics, embedding,
// cohort normalisation and the comparison for a 3 s utterance, on one
// goroutine. audio-s/cpu-s is the real-time factor.
func BenchmarkVerify3s(b *testing.B) {
	m := defaultModel(b)
	d := loadFSDD(b)
	a := utterance3s(d)
	enrol := m.Print(m.Backend.Stats(d.digits("theo", 15, 0, 10, rand.New(rand.NewPCG(1, 1)))))
	raw, _ := enrol.MarshalBinary()
	b.ReportMetric(float64(len(raw)), "bytes/voiceprint")
	b.ResetTimer()
	for b.Loop() {
		r := m.Compare(enrol, m.Print(m.Backend.Stats(a)))
		if r.Raw == 0 {
			b.Fatal("zero score")
		}
	}
	b.ReportMetric(3*float64(b.N)/b.Elapsed().Seconds(), "audio-s/cpu-s")
}

// BenchmarkIdentify10k compares one caller's voiceprint with a watchlist
// of 10,000 (the test voiceprint is already made).
func BenchmarkIdentify10k(b *testing.B) {
	m := defaultModel(b)
	d := loadFSDD(b)
	test := m.Print(m.Backend.Stats(utterance3s(d)))
	rng := rand.New(rand.NewPCG(5, 5))
	prints := make([]Voiceprint, 10000)
	base := m.Print(m.Backend.Stats(d.digits("lucas", 15, 0, 10, rng)))
	for i := range prints {
		v := append([]float32(nil), base.Vec...)
		for k := range v {
			v[k] += 0.01 * float32(rng.NormFloat64())
		}
		unit(v)
		prints[i] = Voiceprint{Vec: v, Mu: base.Mu, Sigma: base.Sigma}
	}
	wl := NewWatchlist(prints)
	// The 8-bit search finds exactly what the exact one does.
	exact, fast := m.Identify(test, prints, -1, 0), m.Search(test, wl, -1, 0)
	if len(exact) != len(fast) {
		b.Fatalf("Search found %d, Identify %d", len(fast), len(exact))
	}
	b.ResetTimer()
	for b.Loop() {
		m.Search(test, wl, 3, 10)
	}
}

// BenchmarkIdentify10kReal searches a watchlist of 10,000 voiceprints of
// real, different utterances (each the sum of five recordings of one of
// the test subset's speakers) at threshold 3, as the API's identify does.
// exact/op is how many prints the 8-bit pre-pass left for exact scoring.
func BenchmarkIdentify10kReal(b *testing.B) {
	m := defaultModel(b)
	prints := realPrints(b, m, 10000, 7)
	test := realPrints(b, m, 1, 8)[0]
	wl := NewWatchlist(prints)
	exact := 0
	b.ResetTimer()
	c0 := processCPU()
	for b.Loop() {
		_, n := m.search(test, wl, 3, 10)
		exact += n
	}
	reportCPU(b, c0)
	b.ReportMetric(float64(exact)/float64(b.N), "exact/op")
}

// reportCPU reports the process's CPU time per operation since c0 (on
// a shared, loaded machine wall-clock ns/op includes waiting for a core;
// this does not).
func reportCPU(b *testing.B, c0 time.Duration) {
	if c0 > 0 {
		b.ReportMetric(float64(processCPU()-c0)/1e6/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkIdentify10kRealPortable is BenchmarkIdentify10kReal as on
// machines without AVX2 (every print scored exactly: the portable 8-bit
// loop was slower than that).
func BenchmarkIdentify10kRealPortable(b *testing.B) {
	defer func(v bool) { useAVX2 = v }(useAVX2)
	useAVX2 = false
	BenchmarkIdentify10kReal(b)
}

// BenchmarkIdentify10kRealExact is the same search scoring every print
// exactly (Model.Identify), for comparison.
func BenchmarkIdentify10kRealExact(b *testing.B) {
	m := defaultModel(b)
	prints := realPrints(b, m, 10000, 7)
	test := realPrints(b, m, 1, 8)[0]
	b.ResetTimer()
	c0 := processCPU()
	for b.Loop() {
		m.Identify(test, prints, 3, 10)
	}
	reportCPU(b, c0)
}
