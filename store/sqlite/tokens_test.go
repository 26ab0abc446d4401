package sqlite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

func hashOf(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func TestTokens(t *testing.T) {
	s := newStore(t)
	for i, bad := range []store.Token{
		{Role: "admin", Hash: hashOf("a")},
		{Name: "ci", Hash: hashOf("a")},
		{Name: "ci", Role: "admin", Hash: "secret"},
		{Name: "ci", Role: "admin", Hash: hashOf("a")[:62]},
	} {
		if err := s.PutToken(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%d: PutToken(%+v) err = %v, want ErrInvalid", i, bad, err)
		}
	}
	puts := []store.Token{
		{Name: "ops", Role: "admin", Hash: hashOf("one"), Created: t0},
		{Name: "ci", Role: "reader", Hash: hashOf("two"), Created: t0},
		{Name: "ops", Role: "operator", Hash: hashOf("three"), Created: t0.Add(time.Hour)},
	}
	for _, tok := range puts {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Token{puts[1], puts[2]}
	if len(got) != len(want) {
		t.Fatalf("ListTokens = %+v, want %+v", got, want)
	}
	for i := range want {
		sameTime(t, "Created", got[i].Created, want[i].Created)
		got[i].Created, want[i].Created = time.Time{}, time.Time{}
		if got[i] != want[i] {
			t.Errorf("ListTokens[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
