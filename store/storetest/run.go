package storetest

import "testing"

// test is one named test of a suite, given how to open handles on a
// fresh database.
type test[H any] struct {
	name string
	f    func(t *testing.T, open func() H)
}

// run runs each test on its own fresh database.
func run[H any](t *testing.T, fresh func(t *testing.T) (open func() H), tests []test[H]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, fresh(t)) })
	}
}

// pair adapts a test of two handles on one database (two nodes) to run.
func pair[H any](f func(t *testing.T, a, b H)) func(t *testing.T, open func() H) {
	return func(t *testing.T, open func() H) { f(t, open(), open()) }
}
