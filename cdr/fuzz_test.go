package cdr

import (
	"strings"
	"testing"
)

// FuzzParse: no line may crash the parser, and every record it accepts
// passes Valid.
func FuzzParse(f *testing.F) {
	for _, l := range strings.Split(masterCSV+fsCSV, "\n") {
		f.Add(l)
	}
	f.Add(`{"call_id":"a","callee":"1","start":"2026-11-23T10:00:00Z"}`)
	f.Add(`{"variables":{"uuid":"x","start_epoch":"1"}}`)
	p := NewParser(Options{})
	f.Fuzz(func(t *testing.T, line string) {
		var r Record
		if err := p.Parse(line, &r); err == nil {
			if fld, msg := r.Valid(); fld != "" {
				t.Fatalf("accepted an invalid record: %s: %s (%+v)", fld, msg, r)
			}
		}
	})
}

// FuzzReader: arbitrary input never crashes the reader and lines add up.
func FuzzReader(f *testing.F) {
	f.Add(masterCSV)
	f.Add(fsCSV)
	f.Fuzz(func(t *testing.T, src string) {
		r := NewReader(strings.NewReader(src), Options{})
		var rec Record
		for r.Next(&rec) {
		}
		st := r.Stats()
		if st.Records+st.Malformed > st.Lines {
			t.Fatalf("records %d + malformed %d > lines %d", st.Records, st.Malformed, st.Lines)
		}
	})
}
