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
