//go:build !linux

package cli

import "io"

// noEcho cannot turn echo off on this system; set TOLLGATE_PASSWORD instead.
func noEcho(io.Reader) func() { return func() {} }
