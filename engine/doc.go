// Package engine screens calls: it holds one chain of checks per tenant,
// derives the call context once (the callee's number intelligence, local
// time, international or not), runs the chain, applies shadow mode and the
// tenant's fail_open / fail_closed choice, keeps or returns the counter
// reservations, records the decision, and follows each call's answer and
// end events to free its slots and count its spend.
//
//	Call ─► derive ─► chain ─► verdict ─► holds kept/returned ─► decision log, metrics
//	answer/end ─► call table ─► slots freed, spend added ─► call-event log
//
// Every time rule uses the event's own timestamp, so a replay of history
// behaves exactly like live traffic.
package engine
