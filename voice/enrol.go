package voice

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// MaxEnrolHandset bounds Model.EnrolHandset.
const MaxEnrolHandset = 8

// EnrolStats are the statistics of enrolment audio: those of a itself
// plus, when m.EnrolHandset is above 0, those of as many copies of a
// heard through Handset, so that a voiceprint enrolled on a wide-band
// call has also heard how the caller sounds over a narrow-band line.
// The copies' random draws are seeded by the audio, so the same audio
// always gives the same statistics. Frames stays the net speech of a
// alone (what enrolment minimums and reports count).
func (m *Model) EnrolStats(a Audio) Stats {
	st := m.Backend.Stats(a)
	if m.EnrolHandset <= 0 || st.Frames == 0 {
		return st
	}
	h := fnv.New64a()
	var b [4]byte
	for _, v := range a.Samples {
		u := math.Float32bits(v)
		b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		h.Write(b[:])
	}
	seed := h.Sum64()
	frames := st.Frames
	for k := range min(m.EnrolHandset, MaxEnrolHandset) {
		rng := rand.New(rand.NewPCG(seed, uint64(k)+1))
		st = st.Add(m.Backend.Stats(Handset(a, rng)))
	}
	st.Frames = frames
	return st
}
