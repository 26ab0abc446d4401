// Package cdr reads call detail records: Asterisk cdr-csv (Master.csv),
// FreeSWITCH mod_cdr_csv and JSON CDRs (tollgate's own form and
// FreeSWITCH mod_json_cdr), from a file, a followed log or the API.
// Every record carries its own event time; malformed lines are counted
// and reported with their line numbers, never guessed at.
package cdr

import (
	"time"

	"github.com/tollgate-voip/tollgate/screen"
)

// Dispositions.
const (
	Answered = "answered"
	NoAnswer = "no_answer"
	Busy     = "busy"
	Failed   = "failed"
)

// Record is one call as a CDR reports it.
type Record struct {
	CallID    string           `json:"call_id"`
	Tenant    string           `json:"tenant,omitempty"`
	Extension string           `json:"extension,omitempty"` // the tenant's extension (caller of outbound calls, callee of inbound ones)
	Caller    string           `json:"caller,omitempty"`
	Callee    string           `json:"callee"`
	Direction screen.Direction `json:"-"`
	SourceIP  string           `json:"source_ip,omitempty"`
	// Start is when the call was placed: the record's event time.
	Start  time.Time `json:"start"`
	Answer time.Time `json:"answer,omitzero"`
	End    time.Time `json:"end,omitzero"`
	// Duration is start to end and Billsec the answered part, in seconds.
	Duration    int    `json:"duration_s"`
	Billsec     int    `json:"billsec_s"`
	Disposition string `json:"disposition"`
	// Forwarded marks an inbound call the PBX forwarded off-net to Callee
	// (call forwarding); Extension is the forwarding extension.
	Forwarded bool `json:"forwarded,omitempty"`
	// Cost is the price the CDR states, 0 when it does not (the rate deck
	// then estimates it).
	Cost float64 `json:"cost,omitempty"`
	// Line is the record's line in its file (0 for API records).
	Line int `json:"-"`
}

// Time is the record's event time.
func (r *Record) Time() time.Time { return r.Start }

// Valid reports what is wrong with r, naming the field, or "" when nothing is.
func (r *Record) Valid() (field, msg string) {
	switch {
	case r.CallID == "":
		return "call_id", "required"
	case len(r.CallID) > 256:
		return "call_id", "longer than 256 bytes"
	case r.Start.IsZero():
		return "start", "required"
	case r.Start.Year() < 1990 || r.Start.Year() > 2200:
		return "start", "out of range"
	case r.Callee == "" && !(r.Direction == screen.Inbound && r.Caller != ""):
		return "callee", "required"
	case len(r.Callee) > 64 || len(r.Caller) > 64 || len(r.Extension) > 64 || len(r.Tenant) > 64:
		return "callee", "numbers, extensions and tenants are at most 64 bytes"
	case r.Duration < 0 || r.Duration > 7*86400:
		return "duration_s", "out of range"
	case r.Billsec < 0 || r.Billsec > 7*86400:
		return "billsec_s", "out of range"
	case r.Cost < 0 || r.Cost != r.Cost || r.Cost > 1e7:
		return "cost", "out of range"
	}
	switch r.Disposition {
	case Answered, NoAnswer, Busy, Failed:
	default:
		return "disposition", "want answered, no_answer, busy or failed"
	}
	return "", ""
}

// Normalize fills what can be derived: billsec from the answer and end
// times, duration from start and end, the disposition from billsec.
func (r *Record) Normalize() {
	if r.Duration == 0 && !r.End.IsZero() && r.End.After(r.Start) {
		r.Duration = int(r.End.Sub(r.Start) / time.Second)
	}
	if r.Billsec == 0 && !r.Answer.IsZero() && r.End.After(r.Answer) {
		r.Billsec = int(r.End.Sub(r.Answer) / time.Second)
	}
	if r.Disposition == "" {
		if r.Billsec > 0 || !r.Answer.IsZero() {
			r.Disposition = Answered
		} else {
			r.Disposition = NoAnswer
		}
	}
	if r.Billsec > r.Duration {
		r.Duration = r.Billsec
	}
}

// LineError is one malformed line.
type LineError struct {
	File  string `json:"file,omitempty"` // set by readers of several files
	Line  int    `json:"line"`
	Field string `json:"field,omitempty"`
	Msg   string `json:"error"`
}

func (e *LineError) Error() string {
	at := "line " + itoa(e.Line)
	if e.File != "" {
		at = e.File + ":" + itoa(e.Line)
	}
	if e.Field != "" {
		return at + ": " + e.Field + ": " + e.Msg
	}
	return at + ": " + e.Msg
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
