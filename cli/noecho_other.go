//go:build !linux

package cli

import "io"

// noEcho cannot turn echo off on this system; set TOLLGATE_PASSWORD instead.
func noEcho(io.Reader) func() { return func() {} }

// isTerminal cannot tell on this system: no progress bars.
func isTerminal(io.Writer) bool { return false }
