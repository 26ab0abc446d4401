package action_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/check/detected"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// heldActions is an action store whose AddAction waits for a release
// after saying it has begun (and fails with fail, when set).
type heldActions struct {
	action.Store
	begun, release chan struct{}
	fail           error
}

func (h *heldActions) AddAction(ctx context.Context, r action.Record) (action.Record, error) {
	h.begun <- struct{}{}
	<-h.release
	if h.fail != nil {
		return action.Record{}, h.fail
	}
	return h.Store.AddAction(ctx, r)
}

// TestActionEnforcedBeforeCommit: the store holds the commit of the
// records two findings ask for — a PIN on an extension, a refusal of
// callbacks to a Wangiri caller. Screening (check/detected) already
// challenges and refuses while each commit waits, a refresh meanwhile
// does not drop them, and after the commit the stored record (its id)
// holds. A record the store refuses is withdrawn.
func TestActionEnforcedBeforeCommit(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	held := &heldActions{Store: r.acts, begun: make(chan struct{}), release: make(chan struct{})}
	r.m.Actions = held
	check := detected.New("acme", r.actLive)
	at := t0.Add(time.Minute)
	screenCall := func(callee string) *screen.Verdict {
		var v screen.Verdict
		check.Check(ctx, &screen.Call{Tenant: "acme", Extension: "1001", Digits: callee, Dest: number.Info{E164: "+" + callee}, International: true, Time: at}, &v)
		return &v
	}
	pin := detect.Finding{Detector: "off_hours_international", Code: "off_hours_international", Severity: "warning", Tenant: "acme", Extension: "1001",
		Text: "called at 03:00", Time: t0, Action: "require_pin", Target: detect.Target{Kind: "extension", Value: "1001"}, Expires: time.Hour, Event: true}
	wangiri := detect.Finding{Detector: "wangiri", Code: "wangiri", Severity: "warning", Tenant: "acme", Text: "one-ring calls",
		Time: t0, Remember: []string{"+88216000001"}, Event: true}
	for _, c := range []struct {
		name   string
		f      detect.Finding
		callee string
		want   screen.Action
		code   string
	}{
		{"require_pin", pin, "442071234567", screen.Challenge, "detected_pin"},
		{"wangiri callback", wangiri, "88216000001", screen.Reject, "detected_block"},
	} {
		done := make(chan error)
		go func() { _, err := r.m.Handle(ctx, c.f); done <- err }()
		<-held.begun
		if v := screenCall(c.callee); v.Action != c.want || !v.Has(c.code) {
			t.Errorf("%s, while the commit waits: %v %+v; want %v, %s", c.name, v.Action, v.Reasons(), c.want, c.code)
		}
		if err := action.Refresh(ctx, r.acts, r.actLive, t0); err != nil {
			t.Fatal(err)
		}
		if v := screenCall(c.callee); !v.Has(c.code) {
			t.Errorf("%s, after a refresh before the commit: %+v; want %s", c.name, v.Reasons(), c.code)
		}
		held.release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if v := screenCall(c.callee); !v.Has(c.code) || v.Reasons()[0].Rule == "actions.0" {
			t.Errorf("%s, after the commit: %+v; want %s by the stored record", c.name, v.Reasons(), c.code)
		}
	}

	held.fail = errors.New("disk full")
	f := pin
	f.Extension, f.Target.Value = "1002", "1002"
	done := make(chan error)
	go func() { _, err := r.m.Handle(ctx, f); done <- err }()
	<-held.begun
	held.release <- struct{}{}
	if err := <-done; err == nil {
		t.Fatal("Handle: no error from a failing store")
	}
	var v screen.Verdict
	check.Check(ctx, &screen.Call{Tenant: "acme", Extension: "1002", Digits: "442071234567", International: true, Time: at}, &v)
	if v.Has("detected_pin") {
		t.Errorf("a record the store refused is in force: %+v", v.Reasons())
	}
}
