// Package screen holds the types every screening check shares: the Call
// being screened, the Verdict being built, and the Check interface that the
// engine assembles into a Chain.
//
// Data flows one way:
//
//	Call ──► Chain (check₁ … checkₙ) ──► Verdict ──► committers, audit, metrics
//
// A check reads the Call and its own state and records what it finds on the
// Verdict with Verdict.Add. It never reads what other checks found and never
// does I/O: everything a check needs is in memory when the call arrives.
// State that must change only once the verdict is final (counters, slots)
// lives in a Committer, which the chain calls after the last check.
//
// The most severe action wins (reject > honeypot > challenge > allow) and
// risk is the sum of contributions capped at 100.
package screen
