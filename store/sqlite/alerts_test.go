package sqlite_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

func TestAlerts(t *testing.T) {
	s := newStore(t)
	for i, bad := range []store.Alert{
		{Code: "burst"},
		{Severity: "fatal", Code: "burst"},
		{Severity: "info"},
		{Severity: "info", Code: "x", Status: "closed"},
		{Severity: "info", Code: "x", Details: json.RawMessage(`{`)},
	} {
		if _, err := s.AddAlert(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%d: AddAlert(%+v) err = %v, want ErrInvalid", i, bad, err)
		}
	}

	a1, err := s.AddAlert(ctx, store.Alert{Time: t0, Tenant: "acme", Extension: "201", Severity: "critical",
		Code: "burst", Text: "40 calls in 1m", Details: json.RawMessage(`{"calls":40}`)})
	if err != nil {
		t.Fatal(err)
	}
	if a1.ID == 0 || a1.Status != "open" {
		t.Errorf("AddAlert = %+v, want an ID and status open", a1)
	}
	a2, err := s.AddAlert(ctx, store.Alert{Time: t0.Add(time.Hour), Tenant: "globex", Severity: "info", Code: "newdest"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetAlertStatus(ctx, a2.ID, "acknowledged"); err != nil {
		t.Fatal(err)
	}
	a2.Status = "acknowledged"
	if err := s.SetAlertStatus(ctx, a2.ID, "done"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetAlertStatus(done) err = %v, want ErrInvalid", err)
	}
	if err := s.SetAlertStatus(ctx, 999, "resolved"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetAlertStatus(unknown) err = %v, want ErrNotFound", err)
	}

	tests := []struct {
		q    store.AlertQuery
		want []store.Alert
	}{
		{store.AlertQuery{}, []store.Alert{a2, a1}},
		{store.AlertQuery{Tenant: "acme"}, []store.Alert{a1}},
		{store.AlertQuery{Status: "open"}, []store.Alert{a1}},
		{store.AlertQuery{Status: "acknowledged"}, []store.Alert{a2}},
		{store.AlertQuery{Since: t0.Add(time.Minute)}, []store.Alert{a2}},
		{store.AlertQuery{Limit: 1}, []store.Alert{a2}},
	}
	for i, tt := range tests {
		got, err := s.ListAlerts(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		for j := range got {
			got[j].Time = got[j].Time.In(t0.Location())
		}
		for j := range tt.want {
			tt.want[j].Time = tt.want[j].Time.In(t0.Location())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%d: ListAlerts(%+v) = %+v\nwant %+v", i, tt.q, got, tt.want)
		}
	}
	if _, err := s.ListAlerts(ctx, store.AlertQuery{Status: "bogus"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ListAlerts(bogus status) err = %v, want ErrInvalid", err)
	}
}
