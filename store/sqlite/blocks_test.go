package sqlite_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

func TestAddBlockValidates(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		name string
		b    store.Block
		ok   bool
	}{
		{"number", store.Block{Kind: store.BlockNumber, Value: "+882123456"}, true},
		{"prefix", store.Block{Kind: store.BlockPrefix, Value: "4470"}, true},
		{"extension", store.Block{Tenant: "acme", Kind: store.BlockExtension, Value: "201", Scope: "international"}, true},
		{"ip", store.Block{Kind: store.BlockIP, Value: "192.0.2.7"}, true},
		{"cidr", store.Block{Kind: store.BlockIP, Value: "2001:db8::/32"}, true},
		{"empty kind", store.Block{Value: "1"}, false},
		{"unknown kind", store.Block{Kind: "country", Value: "CU"}, false},
		{"empty value", store.Block{Kind: store.BlockNumber}, false},
		{"blank value", store.Block{Kind: store.BlockNumber, Value: "  "}, false},
		{"prefix with plus", store.Block{Kind: store.BlockPrefix, Value: "+44"}, false},
		{"bad ip", store.Block{Kind: store.BlockIP, Value: "10.0.0.300"}, false},
		{"bad scope", store.Block{Kind: store.BlockExtension, Value: "201", Scope: "local"}, false},
		{"expiry out of range", store.Block{Kind: store.BlockNumber, Value: "1", Expires: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AddBlock(ctx, tt.b)
			if tt.ok {
				if err != nil || got.ID == 0 || got.Created.IsZero() {
					t.Errorf("%d: AddBlock(%+v) = %+v, %v; want stored", i, tt.b, got, err)
				}
				return
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%d: AddBlock(%+v) err = %v, want ErrInvalid", i, tt.b, err)
			}
		})
	}
}

func TestBlocksRoundTripAndExpiry(t *testing.T) {
	s := newStore(t)
	forever, err := s.AddBlock(ctx, store.Block{Tenant: "acme", Kind: store.BlockNumber, Value: "+5354", Reason: "fraud",
		Source: "manual", CreatedBy: "alice", Created: t0})
	if err != nil {
		t.Fatal(err)
	}
	hour, err := s.AddBlock(ctx, store.Block{Kind: store.BlockPrefix, Value: "882", Source: "detector",
		Created: t0, Expires: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sameTime(t, "Created", forever.Created, t0)
	sameTime(t, "Expires", hour.Expires, t0.Add(time.Hour))

	tests := []struct {
		now  time.Time
		want []store.Block
	}{
		{t0, []store.Block{forever, hour}},
		{t0.Add(time.Hour - time.Nanosecond), []store.Block{forever, hour}},
		{t0.Add(time.Hour), []store.Block{forever}},
		{t0.Add(48 * time.Hour), []store.Block{forever}},
	}
	for i, tt := range tests {
		got, err := s.ListBlocks(ctx, tt.now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%d: ListBlocks(%v) = %+v, want %+v", i, tt.now, got, tt.want)
		}
		for j := range got {
			if got[j] != tt.want[j] {
				t.Errorf("%d: ListBlocks(%v)[%d] = %+v, want %+v", i, tt.now, j, got[j], tt.want[j])
			}
		}
	}

	removed, err := s.RemoveBlock(ctx, forever.ID)
	if err != nil || removed != forever {
		t.Errorf("RemoveBlock = %+v, %v; want %+v", removed, err, forever)
	}
	if _, err := s.RemoveBlock(ctx, forever.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RemoveBlock err = %v, want ErrNotFound", err)
	}
	if _, err := s.RemoveBlock(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemoveBlock(unknown) err = %v, want ErrNotFound", err)
	}
	got, err := s.ListBlocks(ctx, t0)
	if err != nil || len(got) != 1 || got[0] != hour {
		t.Errorf("after remove ListBlocks = %+v, %v; want [%+v]", got, err, hour)
	}
}

func TestKillSwitchUpsert(t *testing.T) {
	s := newStore(t)
	if err := s.SetKillSwitch(ctx, store.KillSwitch{Active: true}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetKillSwitch(no tenant) err = %v, want ErrInvalid", err)
	}
	steps := []store.KillSwitch{
		{Tenant: "acme", Active: true, Reason: "burst", By: "detector", Since: t0},
		{Tenant: "*", Active: false, By: "ops", Since: t0},
		{Tenant: "acme", Active: false, Reason: "cleared", By: "bob", Since: t0.Add(time.Minute)},
	}
	for _, k := range steps {
		if err := s.SetKillSwitch(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.KillSwitches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.KillSwitch{steps[1], steps[2]} // "*" sorts before "acme"
	if len(got) != len(want) {
		t.Fatalf("KillSwitches = %+v, want %+v", got, want)
	}
	for i := range want {
		sameTime(t, "Since", got[i].Since, want[i].Since)
		got[i].Since, want[i].Since = time.Time{}, time.Time{}
		if got[i] != want[i] {
			t.Errorf("KillSwitches[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
