package sqlite_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

func decision(i int) store.Decision {
	return store.Decision{
		CallID:      fmt.Sprintf("call-%d", i),
		Time:        t0.Add(time.Duration(i) * time.Second),
		Tenant:      []string{"acme", "globex"}[i%2],
		Extension:   fmt.Sprintf("%d", 200+i%3),
		Caller:      "+4930555" + fmt.Sprint(i%3),
		Callee:      "00882" + fmt.Sprint(i%5),
		E164:        "+882" + fmt.Sprint(i%5),
		Country:     "XV",
		Type:        "satellite",
		Direction:   "outbound",
		SourceIP:    "192.0.2.1",
		Action:      []string{"allow", "reject", "challenge"}[i%3],
		Enforced:    "allow",
		Shadow:      i%2 == 0,
		Risk:        i % 101,
		MaxDuration: 3600,
		Rate:        1.25,
		Reasons:     json.RawMessage(`[{"check":"destination","code":"premium"}]`),
		Node:        "n1",
	}
}

func sameDecision(t *testing.T, what string, got, want store.Decision) {
	t.Helper()
	sameTime(t, what+".Time", got.Time, want.Time)
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
}

func TestAppendDecisionsIdempotent(t *testing.T) {
	s := newStore(t)
	var ds []store.Decision
	for i := range 10 {
		ds = append(ds, decision(i))
	}
	if err := s.AppendDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	retry := decision(3)
	retry.Action = "reject-retried"
	if err := s.AppendDecisions(ctx, append(ds[:5:5], retry)); err != nil {
		t.Fatal(err)
	}
	got, err := s.QueryDecisions(ctx, store.DecisionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("QueryDecisions returned %d, want 10", len(got))
	}
	for i, d := range got { // newest first
		sameDecision(t, fmt.Sprintf("got[%d]", i), d, ds[9-i])
	}
	if err := s.AppendDecisions(ctx, nil); err != nil {
		t.Errorf("AppendDecisions(nil) = %v", err)
	}
}

func TestAppendDecisionsValidates(t *testing.T) {
	s := newStore(t)
	bad := []store.Decision{
		{Time: t0},
		{CallID: "x"},
		{CallID: "y", Time: t0, Reasons: json.RawMessage(`[`)},
	}
	for i, d := range bad {
		err := s.AppendDecisions(ctx, []store.Decision{decision(100 + i), d})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%d: AppendDecisions(%+v) err = %v, want ErrInvalid", i, d, err)
		}
	}
	got, err := s.QueryDecisions(ctx, store.DecisionQuery{})
	if err != nil || len(got) != 0 {
		t.Errorf("after invalid batches QueryDecisions = %d rows, %v; want none", len(got), err)
	}
}

func TestQueryDecisionsFilters(t *testing.T) {
	s := newStore(t)
	var ds []store.Decision
	for i := range 30 {
		ds = append(ds, decision(i))
	}
	if err := s.AppendDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	match := func(f func(d store.Decision) bool) (ids []string) {
		for i := len(ds) - 1; i >= 0; i-- {
			if f(ds[i]) {
				ids = append(ids, ds[i].CallID)
			}
		}
		return ids
	}
	tests := []struct {
		name string
		q    store.DecisionQuery
		want []string
	}{
		{"call id", store.DecisionQuery{CallID: "call-7"}, []string{"call-7"}},
		{"tenant", store.DecisionQuery{Tenant: "acme"}, match(func(d store.Decision) bool { return d.Tenant == "acme" })},
		{"tenant extension", store.DecisionQuery{Tenant: "globex", Extension: "201"},
			match(func(d store.Decision) bool { return d.Tenant == "globex" && d.Extension == "201" })},
		{"number as e164", store.DecisionQuery{Number: "+8822"}, match(func(d store.Decision) bool { return d.E164 == "+8822" })},
		{"number as callee", store.DecisionQuery{Number: "008824"}, match(func(d store.Decision) bool { return d.Callee == "008824" })},
		{"number as caller", store.DecisionQuery{Number: "+49305551"}, match(func(d store.Decision) bool { return d.Caller == "+49305551" })},
		{"action", store.DecisionQuery{Action: "reject"}, match(func(d store.Decision) bool { return d.Action == "reject" })},
		{"from to", store.DecisionQuery{From: t0.Add(10 * time.Second), To: t0.Add(13 * time.Second)},
			[]string{"call-12", "call-11", "call-10"}},
		{"limit", store.DecisionQuery{Limit: 2}, []string{"call-29", "call-28"}},
		{"no match", store.DecisionQuery{Tenant: "initech"}, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.QueryDecisions(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range got {
				ids = append(ids, d.CallID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("%d: QueryDecisions(%+v) = %v, want %v", i, tt.q, ids, tt.want)
			}
		})
	}
}

func TestQueryDecisionsLimits(t *testing.T) {
	s := newStore(t)
	ds := make([]store.Decision, 10050)
	for i := range ds {
		ds[i] = store.Decision{CallID: fmt.Sprint(i), Time: t0.Add(time.Duration(i))}
	}
	if err := s.AppendDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {5, 5}, {10000, 10000}, {20000, 10000}} {
		got, err := s.QueryDecisions(ctx, store.DecisionQuery{Limit: tt.limit})
		if err != nil || len(got) != tt.want {
			t.Errorf("QueryDecisions(Limit %d) = %d rows, %v; want %d", tt.limit, len(got), err, tt.want)
		}
	}
	since, err := s.DecisionsSince(ctx, t0.Add(10040))
	if err != nil || len(since) != 10 || since[0].CallID != "10040" || since[9].CallID != "10049" {
		t.Errorf("DecisionsSince = %d rows, %v; want 10040..10049 oldest first", len(since), err)
	}
	all, err := s.DecisionsSince(ctx, time.Time{})
	if err != nil || len(all) != len(ds) {
		t.Errorf("DecisionsSince(zero) = %d rows, %v; want %d", len(all), err, len(ds))
	}
}

func TestCallEvents(t *testing.T) {
	s := newStore(t)
	es := []store.CallEvent{
		{CallID: "c1", Type: "answer", Time: t0, Tenant: "acme"},
		{CallID: "c1", Type: "end", Time: t0.Add(time.Minute), Tenant: "acme", Duration: 60, Cost: 0.42, International: true},
		{CallID: "c2", Type: "end", Time: t0.Add(2 * time.Minute), Tenant: "globex", Duration: 5},
	}
	if err := s.AppendCallEvents(ctx, es); err != nil {
		t.Fatal(err)
	}
	dup := es[1]
	dup.Cost = 99
	if err := s.AppendCallEvents(ctx, []store.CallEvent{dup, es[0]}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []store.CallEvent{{Type: "end", Time: t0}, {CallID: "c3", Time: t0}, {CallID: "c3", Type: "end"}} {
		if err := s.AppendCallEvents(ctx, []store.CallEvent{bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("AppendCallEvents(%+v) err = %v, want ErrInvalid", bad, err)
		}
	}
	tests := []struct {
		since time.Time
		want  []store.CallEvent
	}{
		{time.Time{}, es},
		{t0.Add(time.Minute), es[1:]},
		{t0.Add(time.Hour), nil},
	}
	for i, tt := range tests {
		got, err := s.CallEventsSince(ctx, tt.since)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%d: CallEventsSince = %+v, want %+v", i, got, tt.want)
		}
		for j := range got {
			sameTime(t, "Time", got[j].Time, tt.want[j].Time)
			g, w := got[j], tt.want[j]
			g.Time, w.Time = time.Time{}, time.Time{}
			if g != w {
				t.Errorf("%d: CallEventsSince[%d] = %+v, want %+v", i, j, g, w)
			}
		}
	}
}
