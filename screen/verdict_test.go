package screen

import (
	"context"
	"testing"
)

func TestVerdictMostSevereWinsRiskCapped(t *testing.T) {
	var v Verdict
	v.Add(Reason{Code: "a", Action: Challenge, Risk: 30})
	v.Add(Reason{Code: "b", Action: Reject, Risk: 50})
	v.Add(Reason{Code: "c", Action: Allow, Risk: 40})
	if v.Action != Reject {
		t.Errorf("action = %v, want reject", v.Action)
	}
	if v.Risk != 100 {
		t.Errorf("risk = %d, want capped at 100", v.Risk)
	}
	if p, ok := v.Primary(); !ok || p.Code != "b" {
		t.Errorf("primary = %+v, want b", p)
	}
	for i := 0; i < MaxReasons; i++ {
		v.Add(Reason{Code: "x", Risk: -1000})
	}
	if v.Risk != 0 || len(v.Reasons()) != MaxReasons || v.Dropped() != 3 {
		t.Errorf("risk %d, %d reasons, %d dropped", v.Risk, len(v.Reasons()), v.Dropped())
	}
	v.LimitDuration(600)
	v.LimitDuration(3600)
	v.LimitDuration(0)
	if v.MaxDuration != 600 {
		t.Errorf("max duration = %d, want the smallest (600)", v.MaxDuration)
	}
}

type stub struct {
	name string
	r    Reason
	flow Flow
	ran  *[]string
}

func (s stub) Name() string { return s.name }
func (s stub) Check(_ context.Context, _ *Call, v *Verdict) Flow {
	*s.ran = append(*s.ran, s.name)
	v.Add(s.r)
	return s.flow
}

func TestChainStops(t *testing.T) {
	var ran []string
	ch := NewChain(
		stub{"one", Reason{Code: "1"}, Continue, &ran},
		stub{"two", Reason{Code: "2", Action: Reject}, Stop, &ran},
		stub{"three", Reason{Code: "3"}, Continue, &ran},
	)
	var v Verdict
	ch.Run(context.Background(), &Call{}, &v)
	if len(ran) != 2 || v.Action != Reject || v.Has("3") {
		t.Errorf("ran %v, action %v", ran, v.Action)
	}
}

func TestActionText(t *testing.T) {
	for _, a := range []Action{Allow, Challenge, Honeypot, Reject} {
		var b Action
		txt, _ := a.MarshalText()
		if err := b.UnmarshalText(txt); err != nil || b != a {
			t.Errorf("round trip of %v: %v %v", a, b, err)
		}
	}
	var b Action
	if b.UnmarshalText([]byte("maybe")) == nil {
		t.Error("unknown action accepted")
	}
}

func TestChainStopIfRejected(t *testing.T) {
	for _, c := range []struct {
		name  string
		first Reason
		want  []string
	}{
		{"refused before the checkpoint: the chain stops there", Reason{Code: "1", Action: Reject}, []string{"one", "checkpoint"}},
		{"challenged before the checkpoint: the chain goes on", Reason{Code: "1", Action: Challenge}, []string{"one", "checkpoint", "three"}},
	} {
		var ran []string
		ch := NewChain(
			stub{"one", c.first, Continue, &ran},
			stub{"checkpoint", Reason{Code: "2"}, StopIfRejected, &ran},
			stub{"three", Reason{Code: "3"}, Continue, &ran},
		)
		var v Verdict
		ch.Run(context.Background(), &Call{}, &v)
		if len(ran) != len(c.want) || ran[len(ran)-1] != c.want[len(c.want)-1] {
			t.Errorf("%s: ran %v, want %v", c.name, ran, c.want)
		}
	}
}
