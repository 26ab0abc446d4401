package errkind

import (
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	notFound := New(NotFound, "thing: not found")
	invalid := New(Invalid, "thing: invalid")
	for i, c := range []struct {
		err  error
		want Kind
	}{
		{nil, Other},
		{errors.New("disk on fire"), Other},
		{notFound, NotFound},
		{fmt.Errorf("get 7: %w", notFound), NotFound},
		{fmt.Errorf("%w: number: too short", invalid), Invalid},
		{errors.Join(errors.New("first"), New(Conflict, "taken")), Conflict},
		{New(Unavailable, "redis: down"), Unavailable},
	} {
		if got := Of(c.err); got != c.want {
			t.Errorf("%d: Of(%v) = %v, want %v", i, c.err, got, c.want)
		}
	}
	if errors.Is(New(NotFound, "x"), New(NotFound, "x")) {
		t.Error("two sentinels with the same text match each other")
	}
	if notFound.Error() != "thing: not found" || Kind(99).String() != "other" || Invalid.String() != "invalid" {
		t.Errorf("texts: %q %q %q", notFound, Kind(99), Invalid)
	}
}

func TestHTTPStatus(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		ok   bool
	}{
		{fmt.Errorf("add: %w", New(Invalid, "bad")), 400, true},
		{New(NotFound, "gone"), 404, true},
		{New(Conflict, "taken"), 409, true},
		{New(Unavailable, "away"), 503, true},
		{errors.New("disk on fire"), 0, false},
		{nil, 0, false},
	} {
		if code, ok := HTTPStatus(c.err); code != c.code || ok != c.ok {
			t.Errorf("HTTPStatus(%v) = %d %v, want %d %v", c.err, code, ok, c.code, c.ok)
		}
	}
}
