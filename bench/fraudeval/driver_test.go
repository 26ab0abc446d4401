package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/attackgen"
)

// answeredCall is a legitimate call of extension 100 to a UK mobile at
// 6/min, placed start after t0, answered 5 s later and billed bill s.
func answeredCall(t0 time.Time, id string, start time.Duration, bill int) attackgen.Call {
	c := attackgen.Call{ID: id, Tenant: "t", Extension: "100", Direction: attackgen.Outbound, Callee: "+447400123456", Start: t0.Add(start),
		Rate: 6, Billsec: bill, Disposition: attackgen.Answered, Label: attackgen.Legit}
	c.Answer = c.Start.Add(5 * time.Second)
	c.End = c.Answer.Add(time.Duration(bill) * time.Second)
	return c
}

// The driver's own teardown handling, against a stand-in that asks for
// it (tollgate's API may or may not send these fields; the driver must
// apply them correctly when it does): a disconnect list ends a live call
// at that event's time, billed to then, with one end event and one CDR.
func TestDriverTeardown(t *testing.T) {
	t0 := time.Date(2025, 5, 5, 10, 0, 0, 0, time.UTC)
	mk := func(id string, start time.Duration, bill int) attackgen.Call {
		return answeredCall(t0, id, start, bill)
	}
	sc := &attackgen.Scenario{Seed: 1, Start: t0, AttackStart: t0, End: t0.Add(time.Hour),
		Calls: []attackgen.Call{mk("A", 0, 600), mk("B", 100*time.Second, 60), mk("C", 200*time.Second, 300), mk("D", 300*time.Second, 10)}}
	var mu sync.Mutex
	var ends []map[string]any
	cdrs, polls, cAnswered, unwaited := 0, 0, false, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var body any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if r.Method == "POST" {
			if r.URL.Query().Get("wait") != "true" {
				unwaited++
			}
			w.Header().Set("Tollgate-Settled", "true")
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/calls/events":
			polls++
			if r.URL.Query().Get("poll") != "true" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if r.URL.Query().Get("after") == "0" && cAnswered {
				// C (answered at 205 s) is named at 250 s.
				fmt.Fprintf(w, `{"events":[{"seq":7,"type":"end_call","call_id":"C","time":%q}]}`, t0.Add(250*time.Second).Format(time.RFC3339Nano))
				return
			}
			_, _ = w.Write([]byte(`{"events":[]}`))
		case r.URL.Path == "/v1/screen":
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		case r.URL.Path == "/v1/calls/B/events" && body.(map[string]any)["type"] == "answer":
			_, _ = w.Write([]byte(`{"disconnect":["A","C"]}`))
		case strings.HasSuffix(r.URL.Path, "/events"):
			m := body.(map[string]any)
			if r.URL.Path == "/v1/calls/C/events" && m["type"] == "answer" {
				cAnswered = true
			}
			if m["type"] == "end" {
				m["call"] = strings.Split(r.URL.Path, "/")[3]
				ends = append(ends, m)
			}
			_, _ = w.Write([]byte(`{}`))
		case r.URL.Path == "/v1/cdrs":
			cdrs += len(body.([]any))
			_, _ = w.Write([]byte(`{"processed":true}`))
		}
	}))
	defer srv.Close()
	d := &Driver{Base: srv.URL, Token: "x"}
	out, err := d.Run(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	// B answers at 105 s: A (answered at 5 s) is cut at 105 s; C has not
	// started then. The end-call stream names C at 250 s (polled before
	// D's screening at 300 s): C is cut after 45 s. B and D run as planned.
	if !out[0].Cut || out[0].Billsec != 100 || out[0].Cost != 10 {
		t.Fatalf("A: %+v, want cut at 100 s billed $10", out[0])
	}
	if !out[2].Cut || out[2].Billsec != 45 {
		t.Fatalf("C: %+v, want cut after 45 s", out[2])
	}
	if out[1].Cut || out[1].Billsec != 60 || out[3].Cut || out[3].Billsec != 10 {
		t.Fatalf("B %+v, D %+v: want untouched", out[1], out[3])
	}
	if d.Ended != 2 || polls < 3 {
		t.Fatalf("%d calls ended by the server, %d polls", d.Ended, polls)
	}
	n := map[string]int{}
	for _, e := range ends {
		n[e["call"].(string)]++
		if e["call"] == "A" && (e["duration_s"] != float64(100) || e["time"] != t0.Add(105*time.Second).Format(time.RFC3339Nano)) {
			t.Fatalf("A's end event %v", e)
		}
	}
	// Every screening, call event and CDR post waits for the detectors.
	if n["A"] != 1 || n["B"] != 1 || n["C"] != 1 || n["D"] != 1 || cdrs != 4 || unwaited != 0 || d.Unsettled != 0 {
		t.Fatalf("end events %v, %d CDRs, %d posts without wait=true, %d unsettled; want one of each", n, cdrs, unwaited, d.Unsettled)
	}
}

// A teardown the server asks for between two call starts applies even
// when the call would have ended on its own before the next start: the
// driver polls the end-call stream before reporting a call's own end.
// (Polled only at call starts, E ran its full 300 s: the teardown at
// 200 s was lost because E had ended by F's start.)
func TestDriverTeardownBetweenStarts(t *testing.T) {
	t0 := time.Date(2025, 5, 5, 10, 0, 0, 0, time.UTC)
	mk := func(id string, start time.Duration, bill int) attackgen.Call {
		return answeredCall(t0, id, start, bill)
	}
	sc := &attackgen.Scenario{Seed: 1, Start: t0, AttackStart: t0, End: t0.Add(time.Hour),
		Calls: []attackgen.Call{mk("E", 0, 300), mk("F", 1000*time.Second, 10)}}
	var mu sync.Mutex
	eAnswered := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var body any
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch {
		case r.Method == "GET" && r.URL.Path == "/v1/calls/events":
			if r.URL.Query().Get("after") == "0" && eAnswered {
				fmt.Fprintf(w, `{"events":[{"seq":1,"type":"end_call","call_id":"E","time":%q}]}`, t0.Add(200*time.Second).Format(time.RFC3339Nano))
				return
			}
			_, _ = w.Write([]byte(`{"events":[]}`))
		case r.URL.Path == "/v1/screen":
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		case strings.HasSuffix(r.URL.Path, "/events"):
			if r.URL.Path == "/v1/calls/E/events" && body.(map[string]any)["type"] == "answer" {
				eAnswered = true
			}
			_, _ = w.Write([]byte(`{}`))
		case r.URL.Path == "/v1/cdrs":
			_, _ = w.Write([]byte(`{"processed":true}`))
		}
	}))
	defer srv.Close()
	d := &Driver{Base: srv.URL, Token: "x"}
	out, err := d.Run(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if !out[0].Cut || out[0].Billsec != 195 || d.Ended != 1 {
		t.Fatalf("E: %+v (%d ended), want cut at 200 s, billed 195 s", out[0], d.Ended)
	}
	if out[1].Cut || out[1].Billsec != 10 {
		t.Fatalf("F: %+v, want untouched", out[1])
	}
}
