package sqlq

import (
	"errors"
	"slices"
	"testing"
)

func TestWhere(t *testing.T) {
	for _, c := range []struct {
		w    *Where
		want string
	}{
		{Question(), " WHERE kind = ? AND (expires IS NULL OR expires > ?)"},
		{Dollar(), " WHERE kind = $1 AND (expires IS NULL OR expires > $2)"},
	} {
		c.w.And("kind = ?", "ip")
		c.w.AndIf(false, "source = ?", "feed")
		c.w.AndIf(true, "(expires IS NULL OR expires > ?)", 7)
		if got := c.w.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
		if !slices.Equal(c.w.Args, []any{"ip", 7}) {
			t.Errorf("Args = %v, want [ip 7]", c.w.Args)
		}
	}
	if got := Dollar().String(); got != "" {
		t.Errorf("empty clause = %q, want \"\"", got)
	}
}

// fakeRows yields ints, then fails with err if set.
type fakeRows struct {
	vals   []int
	i      int
	err    error
	closed bool
}

func (r *fakeRows) Next() bool { r.i++; return r.i <= len(r.vals) }
func (r *fakeRows) Scan(dest ...any) error {
	*dest[0].(*int) = r.vals[r.i-1]
	return nil
}
func (r *fakeRows) Err() error   { return r.err }
func (r *fakeRows) Close() error { r.closed = true; return nil }

func scanInt(s Scanner) (int, error) {
	var n int
	err := s.Scan(&n)
	return n, err
}

func TestCollect(t *testing.T) {
	r := &fakeRows{vals: []int{3, 1, 2}}
	got, err := Collect(r, nil, scanInt)
	if err != nil || !slices.Equal(got, []int{3, 1, 2}) || !r.closed {
		t.Errorf("Collect = %v, %v (closed %v); want [3 1 2], nil, closed", got, err, r.closed)
	}
	boom := errors.New("boom")
	if _, err := Collect(&fakeRows{}, boom, scanInt); err != boom {
		t.Errorf("query error: %v, want boom", err)
	}
	r = &fakeRows{vals: []int{1}, err: boom}
	if _, err := Collect(r, nil, scanInt); err != boom || !r.closed {
		t.Errorf("rows error: %v (closed %v), want boom and closed", err, r.closed)
	}
}

func TestLimit(t *testing.T) {
	for _, c := range []struct {
		n, def, most int
		want         string
	}{
		{0, 1000, 10000, " LIMIT 1000"},
		{20000, 1000, 10000, " LIMIT 1000"},
		{7, 1000, 10000, " LIMIT 7"},
		{0, 0, 1 << 30, ""},
		{5, 0, 1 << 30, " LIMIT 5"},
	} {
		if got := Limit(c.n, c.def, c.most); got != c.want {
			t.Errorf("Limit(%d, %d, %d) = %q, want %q", c.n, c.def, c.most, got, c.want)
		}
	}
}
