package voice

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestEnrolStats: with EnrolHandset copies an enrolment's statistics
// also hold those of the audio heard through Handset, drawn the same way
// for the same audio (re-enrolment gives the same voiceprint), the net
// speech stays the call's own, the print identity changes, and a model
// with an out-of-range number of copies is refused. GroupCallsEnrol
// takes the enrolment statistics for enrolments only.
func TestEnrolStats(t *testing.T) {
	d := loadFSDD(t)
	b0 := *fsddModel(t)
	b0.EnrolHandset = 0
	base := &b0
	a := d.digits("theo", 5, 40, 50, rand.New(rand.NewPCG(3, 3)))
	plain := base.EnrolStats(a)
	if want := base.Backend.Stats(a); !slices.Equal(plain.Vec, want.Vec) || plain.Frames != want.Frames {
		t.Fatal("EnrolHandset 0: enrolment statistics differ from the call's own")
	}
	m := *base
	m.EnrolHandset = 2
	st := m.EnrolStats(a)
	if st.Frames != plain.Frames {
		t.Errorf("frames %d with copies; want the call's own %d", st.Frames, plain.Frames)
	}
	C := m.Backend.UBM.C
	var n0, n1 float64
	for c := range C {
		n0 += float64(plain.Vec[c])
		n1 += float64(st.Vec[c])
	}
	if n1 < 2*n0 {
		t.Errorf("occupancy %.0f with two copies; want at least twice the call's own %.0f", n1, n0)
	}
	if again := m.EnrolStats(a); !slices.Equal(again.Vec, st.Vec) {
		t.Error("the same audio enrolled twice gave different statistics")
	}
	other := d.digits("theo", 5, 40, 50, rand.New(rand.NewPCG(4, 4)))
	if d1, d2 := m.EnrolStats(other), base.Backend.Stats(other); slices.Equal(d1.Vec, d2.Vec) {
		t.Error("copies added nothing for other audio")
	}
	if m.PrintID() == base.PrintID() {
		t.Error("enrolment copies do not change the print identity")
	}
	m.EnrolHandset = MaxEnrolHandset + 1
	if err := m.check(); err == nil || !strings.Contains(err.Error(), "enrolment copies") {
		t.Errorf("%d copies: %v", m.EnrolHandset, err)
	}
	spk := []string{"a", "a", "b", "b"}
	stats := []Stats{{Frames: 1}, {Frames: 2}, {Frames: 3}, {Frames: 4}}
	enrol := []Stats{{Frames: 10}, {Frames: 20}, {Frames: 30}, {Frames: 40}}
	for _, it := range GroupCallsEnrol(spk, stats, enrol, 1) {
		if it.Enrol != (it.Stats.Frames >= 10) {
			t.Errorf("enrolment %v with %d frames: want enrolment statistics on enrolments only", it.Enrol, it.Stats.Frames)
		}
	}
}
