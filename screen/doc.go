// Package screen holds the types every screening check shares: the Call
// being screened, the Verdict being built, and the Check interface that the
// engine assembles into a Chain.
//
// Data flows one way:
//
//	Call ──► Chain (check₁ … checkₙ) ──► Verdict ──► counter needs (one batch), audit, metrics
//
// A check reads the Call and its own state and records what it finds on the
// Verdict with Verdict.Add. It never reads what other checks found and never
// does I/O: everything a check needs is in memory when the call arrives.
// Whether the chain goes on is the check's Flow: Continue, Stop, or
// StopIfRejected (a checkpoint: stop if the call is refused by now).
//
// Counters change only after the last check has run. A limit check does not
// touch them while the chain runs: it declares Needs on the call (reserve in
// a window if under N, take a slot, admit if a sum stays below a cap), and
// after the last check the engine runs all of a call's needs in one atomic
// batch and tells each need's NeedOwner whether it was admitted or which
// one refused. What was applied becomes the call's Holds, kept or returned
// with the enforced verdict. Package screentest runs checks in tests.
//
// The most severe action wins (reject > honeypot > challenge > allow) and
// risk is the sum of contributions capped at 100.
package screen
