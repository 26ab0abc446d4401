package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/compliance"
)

// RunCompliance runs the compliance conformance suite against a
// compliance.Store backend (store/sqlite.Compliance,
// store/postgres.Compliance). fresh makes an empty database for t and
// returns a function opening handles on it; every handle is another node,
// closed when t ends. Each test takes two handles: what one writes, the
// other must read.
func RunCompliance(t *testing.T, fresh func(t *testing.T) (open func() compliance.Store)) {
	run(t, fresh, []test[compliance.Store]{
		{"OptOutsAcrossNodes", pair(complianceOptOuts)},
		{"ConsentsAcrossNodes", pair(complianceConsents)},
		{"VersionAndLiveRefresh", pair(complianceVersionRefresh)},
		{"ConcurrentWritersOnTwoNodes", pair(complianceConcurrent)},
	})
}

// complianceT0 has nanoseconds, which every store must keep.
var complianceT0 = time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)

func complianceVersion(t *testing.T, s compliance.Store) int64 {
	t.Helper()
	v, err := s.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func complianceOptOuts(t *testing.T, a, b compliance.Store) {
	ctx := context.Background()
	for _, bad := range []string{"", "2125550123", "+0125550123", "+1212555012x", "+1234567890123456"} {
		if _, err := a.AddOptOut(ctx, compliance.OptOut{Number: bad}); !errors.Is(err, compliance.ErrInvalid) {
			t.Errorf("AddOptOut(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	local := time.FixedZone("EST", -5*3600)
	o1, err := a.AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: "+13125550777", Reason: "asked on the call", Source: "agent 17", By: "token:ops", Time: complianceT0.In(local)})
	if err != nil {
		t.Fatal(err)
	}
	if o1.ID == 0 || !o1.Time.Equal(complianceT0) || o1.Time.Location() != time.UTC {
		t.Errorf("AddOptOut returned %+v; want an id and the time in UTC", o1)
	}
	before := time.Now()
	o2, err := b.AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: "+13125550777", Source: "sms-stop"})
	if err != nil {
		t.Fatal(err)
	}
	if o2.ID <= o1.ID || o2.Time.Before(before.Add(-time.Second)) || o2.Time.After(time.Now().Add(time.Second)) {
		t.Errorf("second opt-out %+v: want a larger id than %d and the time now", o2, o1.ID)
	}
	o3, err := a.AddOptOut(ctx, compliance.OptOut{Number: "+13125550777", Reason: "every tenant", Time: complianceT0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Node b lists what node a wrote, field for field, oldest first.
	got, err := b.OptOuts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []compliance.OptOut{o1, o2, o3}
	if len(got) != len(want) {
		t.Fatalf("OptOuts on the other node = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Tenant != want[i].Tenant || got[i].Number != want[i].Number || got[i].Reason != want[i].Reason ||
			got[i].Source != want[i].Source || got[i].By != want[i].By || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("opt-out %d read on the other node = %+v, want %+v", i, got[i], want[i])
		}
	}
	// Removing acme's entries on b takes both and leaves the every-tenant one.
	v := complianceVersion(t, a)
	rm, err := b.RemoveOptOut(ctx, "acme", "+13125550777")
	if err != nil || len(rm) != 2 || rm[0].ID != o1.ID || rm[1].ID != o2.ID || rm[0].Reason != "asked on the call" {
		t.Fatalf("RemoveOptOut(acme) = %+v, %v; want o1 and o2", rm, err)
	}
	if complianceVersion(t, a) == v {
		t.Error("removing opt-outs on one node left the version the other node reads unchanged")
	}
	if _, err := a.RemoveOptOut(ctx, "acme", "+13125550777"); !errors.Is(err, compliance.ErrNotFound) {
		t.Errorf("second RemoveOptOut = %v, want ErrNotFound", err)
	}
	got, err = a.OptOuts(ctx)
	if err != nil || len(got) != 1 || got[0].ID != o3.ID || got[0].Tenant != "" {
		t.Errorf("after removal OptOuts = %+v, %v; want only the every-tenant entry", got, err)
	}
}

func complianceConsents(t *testing.T, a, b compliance.Store) {
	ctx := context.Background()
	ok := compliance.Consent{Tenant: "acme", Number: "+12125550001", Type: "express_written", Source: "https://example.com/form/77", By: "user:carol", Time: complianceT0}
	bad := map[string]compliance.Consent{}
	for name, f := range map[string]func(c *compliance.Consent){
		"no tenant":      func(c *compliance.Consent) { c.Tenant = "" },
		"no type":        func(c *compliance.Consent) { c.Type = "" },
		"no source":      func(c *compliance.Consent) { c.Source = "" },
		"no time":        func(c *compliance.Consent) { c.Time = time.Time{} },
		"not E.164":      func(c *compliance.Consent) { c.Number = "212-555-0001" },
		"expires before": func(c *compliance.Consent) { c.Expires = complianceT0.Add(-time.Hour) },
		"expires at":     func(c *compliance.Consent) { c.Expires = complianceT0 },
	} {
		c := ok
		f(&c)
		bad[name] = c
	}
	v := complianceVersion(t, b)
	for name, c := range bad {
		if _, err := a.AddConsent(ctx, c); !errors.Is(err, compliance.ErrInvalid) {
			t.Errorf("AddConsent (%s) = %v, want ErrInvalid", name, err)
		}
	}
	if complianceVersion(t, b) != v {
		t.Error("refused consents changed the version")
	}
	c1, err := a.AddConsent(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if c1.ID == 0 || c1.Created.IsZero() || !c1.Expires.IsZero() {
		t.Errorf("AddConsent returned %+v; want an id, a creation time and no expiry", c1)
	}
	exp := ok
	exp.Type, exp.Time, exp.Expires = "ebr", complianceT0.Add(time.Minute), complianceT0.Add(90*24*time.Hour+1)
	c2, err := b.AddConsent(ctx, exp)
	if err != nil {
		t.Fatal(err)
	}
	other := ok
	other.Tenant, other.Number = "beta", "+12125550002"
	c3, err := a.AddConsent(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	same := func(got, want compliance.Consent) bool {
		return got.ID == want.ID && got.Tenant == want.Tenant && got.Number == want.Number && got.Type == want.Type && got.Source == want.Source &&
			got.By == want.By && got.Time.Equal(want.Time) && got.Expires.Equal(want.Expires) && got.Expires.IsZero() == want.Expires.IsZero() && got.Created.Equal(want.Created)
	}
	for _, tc := range []struct {
		q    compliance.ConsentQuery
		want []compliance.Consent
	}{
		{compliance.ConsentQuery{}, []compliance.Consent{c3, c2, c1}},
		{compliance.ConsentQuery{Limit: -1}, []compliance.Consent{c3, c2, c1}},
		{compliance.ConsentQuery{Tenant: "acme"}, []compliance.Consent{c2, c1}},
		{compliance.ConsentQuery{Number: "+12125550002"}, []compliance.Consent{c3}},
		{compliance.ConsentQuery{Tenant: "beta", Number: "+12125550001"}, nil},
		{compliance.ConsentQuery{Limit: 1}, []compliance.Consent{c3}},
	} {
		got, err := b.Consents(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		match := len(got) == len(tc.want)
		for i := 0; match && i < len(got); i++ {
			match = same(got[i], tc.want[i])
		}
		if !match {
			t.Errorf("Consents(%+v) on the other node = %+v, want %+v", tc.q, got, tc.want)
		}
	}
	// Zero limit means 100; negative means all.
	for i := range 101 {
		c := ok
		c.Number = fmt.Sprintf("+1646555%04d", i)
		if _, err := a.AddConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := b.Consents(ctx, compliance.ConsentQuery{}); err != nil || len(got) != 100 {
		t.Errorf("Consents with no limit = %d records, %v; want 100", len(got), err)
	}
	if got, err := b.Consents(ctx, compliance.ConsentQuery{Limit: -1}); err != nil || len(got) != 104 {
		t.Errorf("Consents with limit -1 = %d records, %v; want all 104", len(got), err)
	}
}

func complianceVersionRefresh(t *testing.T, a, b compliance.Store) {
	ctx := context.Background()
	live := compliance.NewLive()
	if err := live.Refresh(ctx, b); err != nil {
		t.Fatal(err)
	}
	k, _ := compliance.Key("+13125550777")
	if live.Index().OptOut("acme", k) != nil {
		t.Fatal("opt-out in an empty store")
	}
	v0 := complianceVersion(t, b)
	if _, err := a.AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: "+13125550777", Time: complianceT0}); err != nil {
		t.Fatal(err)
	}
	v1 := complianceVersion(t, b)
	if v1 == v0 {
		t.Fatal("an opt-out added on one node left the version the other node reads unchanged")
	}
	if err := live.Refresh(ctx, b); err != nil {
		t.Fatal(err)
	}
	if o := live.Index().OptOut("acme", k); o == nil || o.Number != "+13125550777" {
		t.Errorf("the other node's index after refresh: %+v, want the opt-out", o)
	}
	if _, err := a.AddConsent(ctx, compliance.Consent{Tenant: "acme", Number: "+12125550001", Type: "express", Source: "ivr", Time: complianceT0}); err != nil {
		t.Fatal(err)
	}
	if v2 := complianceVersion(t, b); v2 == v1 {
		t.Error("a consent added on one node left the version unchanged")
	}
	if err := live.Refresh(ctx, b); err != nil {
		t.Fatal(err)
	}
	kc, _ := compliance.Key("+12125550001")
	if c := live.Index().Consent("acme", kc, complianceT0.Add(time.Hour), nil); c == nil || c.Type != "express" {
		t.Errorf("the other node's index lacks the consent: %+v", c)
	}
	if _, err := b.RemoveOptOut(ctx, "acme", "+13125550777"); err != nil {
		t.Fatal(err)
	}
	if err := live.Refresh(ctx, a); err != nil {
		t.Fatal(err)
	}
	if o := live.Index().OptOut("acme", k); o != nil {
		t.Errorf("opt-out removed on one node still in the index refreshed from the other: %+v", o)
	}
}

// complianceConcurrent has both nodes write at once: every record lands and the
// complianceVersion moves once per write, so no node misses a change.
func complianceConcurrent(t *testing.T, a, b compliance.Store) {
	ctx := context.Background()
	v0 := complianceVersion(t, a)
	const per = 20
	var wg sync.WaitGroup
	for n, s := range []compliance.Store{a, b} {
		for g := range 2 {
			wg.Go(func() {
				for i := range per / 2 {
					if _, err := s.AddOptOut(ctx, compliance.OptOut{Tenant: "acme", Number: fmt.Sprintf("+1312555%d%d%02d", n, g, i)}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	got, err := a.OptOuts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range got {
		seen[o.Number] = true
	}
	if len(got) != 2*per || len(seen) != 2*per {
		t.Errorf("after %d concurrent opt-outs on two nodes, %d records (%d numbers)", 2*per, len(got), len(seen))
	}
	if v := complianceVersion(t, b); v-v0 != 2*per {
		t.Errorf("version moved by %d over %d writes, want %d", v-v0, 2*per, 2*per)
	}
}
