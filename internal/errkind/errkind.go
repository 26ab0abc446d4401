// Package errkind gives errors from every domain a few shared kinds
// (invalid, not found, conflict, unavailable), so that each front end maps
// a kind to its own answer once: HTTPStatus for the API and the console,
// cli's exitCode for the command line. (The SIP front end answers the
// engine's two invalid-request sentinels differently — an unknown tenant
// is also reported to the attack guard — so it matches them by name.)
//
// A domain keeps its own sentinels, made with New, and callers go on
// matching them with errors.Is; a front end asks Of(err) instead and needs
// no list of every package's sentinels.
package errkind

import "errors"

// Kind is what went wrong, as far as a caller must know to answer.
type Kind uint8

// The kinds. Other is an error with no kind: a failure of the system
// itself (a store that does not answer, a bug).
const (
	Other       Kind = iota
	Invalid          // the request is wrong: fix it before trying again
	NotFound         // what the request names does not exist
	Conflict         // the request clashes with what is there
	Unavailable      // a dependency is away: try again later
)

var names = [...]string{Other: "other", Invalid: "invalid", NotFound: "not found", Conflict: "conflict", Unavailable: "unavailable"}

// String returns the kind's name.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return "other"
}

// Error is a sentinel error with a kind.
type Error struct {
	Kind Kind
	Msg  string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// ErrorKind returns the kind.
func (e *Error) ErrorKind() Kind { return e.Kind }

// New returns a sentinel error of kind k with message msg. Each call makes
// a distinct error, as errors.New does.
func New(k Kind, msg string) error { return &Error{Kind: k, Msg: msg} }

// kinded is what Of looks for in an error's chain; any error type may
// implement it.
type kinded interface{ ErrorKind() Kind }

// Of returns the kind of the first error in err's chain that has one, or
// Other (nil included).
func Of(err error) Kind {
	var k kinded
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	return Other
}
