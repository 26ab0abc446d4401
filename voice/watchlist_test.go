package voice

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/internal/par"
)

// realPrints makes n voiceprints of real, different utterances: each is
// the sum of the statistics of five recordings of one speaker, drawn at
// random from the test subset.
func realPrints(tb testing.TB, m *Model, n int, seed uint64) []Voiceprint {
	return realPrintsOf(recordingStats(tb, m), m, n, seed)
}

// recordingStats returns each speaker's recordings' statistics.
func recordingStats(tb testing.TB, m *Model) map[string][]Stats {
	d := loadFSDD(tb)
	keys := make([]string, 0, len(d.rec))
	stats := map[string][]Stats{}
	for k := range d.rec {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order is random
	st := make([]Stats, len(keys))
	par.Do(len(keys), func(i int) { st[i] = m.Backend.Stats(d.rec[keys[i]]) })
	for i, k := range keys {
		spk := strings.Split(k, "_")[1]
		stats[spk] = append(stats[spk], st[i])
	}
	return stats
}

// realPrintsOf draws n prints from per-speaker recording statistics.
func realPrintsOf(stats map[string][]Stats, m *Model, n int, seed uint64) []Voiceprint {
	spks := make([]string, 0, len(stats))
	for s := range stats {
		spks = append(spks, s)
	}
	sort.Strings(spks)
	rng := rand.New(rand.NewPCG(seed, 3))
	sums := make([]Stats, n)
	for i := range sums {
		ss := stats[spks[rng.IntN(len(spks))]]
		for range 5 {
			sums[i] = sums[i].Add(ss[rng.IntN(len(ss))])
		}
	}
	prints := make([]Voiceprint, n)
	par.Do(n, func(i int) { prints[i] = m.Print(sums[i]) })
	return prints
}

// TestSearchMatchesIdentify: on prints of real utterances the 8-bit
// pre-pass never loses a match that exact scoring finds, at thresholds
// from everything to almost nothing, and it skips exact scoring for
// most prints at an operating threshold.
func TestSearchMatchesIdentify(t *testing.T) {
	m := fsddModel(t)
	rs := recordingStats(t, m)
	prints := realPrintsOf(rs, m, 200, 1)
	tests := realPrintsOf(rs, m, 3, 2)
	wl := NewWatchlist(prints)
	for _, thr := range []float64{-100, 0, 1, 2, 3, 5} {
		for ti, test := range tests {
			exact := m.Identify(test, prints, thr, 0)
			fast, scored := m.search(test, wl, thr, 0)
			if len(fast) != len(exact) {
				t.Fatalf("threshold %v, test %d: Search found %d, Identify %d", thr, ti, len(fast), len(exact))
			}
			for i := range fast {
				if fast[i].Index != exact[i].Index || fast[i].Normalized != exact[i].Normalized {
					t.Fatalf("threshold %v, test %d, hit %d: Search %+v, Identify %+v", thr, ti, i, fast[i], exact[i])
				}
			}
			if thr == 3 {
				t.Logf("threshold 3, test %d: %d of %d prints scored exactly, %d hits", ti, scored, len(prints), len(exact))
			}
			if thr == 3 && scored > len(prints)/2 {
				t.Errorf("threshold 3, test %d: %d of %d prints scored exactly; the pre-pass should skip most", ti, scored, len(prints))
			}
		}
	}
}

// TestSearchWithoutAVX2: without the vector pre-pass every print is
// scored exactly and Search still returns exactly Identify's hits.
func TestSearchWithoutAVX2(t *testing.T) {
	defer func(v bool) { useAVX2 = v }(useAVX2)
	useAVX2 = false
	m := fsddModel(t)
	rs := recordingStats(t, m)
	prints := realPrintsOf(rs, m, 100, 3)
	test := realPrintsOf(rs, m, 1, 4)[0]
	wl := NewWatchlist(prints)
	for _, thr := range []float64{-100, 1, 3} {
		exact := m.Identify(test, prints, thr, 0)
		fast, scored := m.search(test, wl, thr, 0)
		if scored != len(prints) || len(fast) != len(exact) {
			t.Fatalf("threshold %v: %d scored exactly (want %d), %d hits (Identify %d)", thr, scored, len(prints), len(fast), len(exact))
		}
		for i := range fast {
			if fast[i].Index != exact[i].Index || fast[i].Normalized != exact[i].Normalized {
				t.Fatalf("threshold %v, hit %d: Search %+v, Identify %+v", thr, i, fast[i], exact[i])
			}
		}
	}
}
