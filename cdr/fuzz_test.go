package cdr

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
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

// FuzzScanOwnJSON: the reflection-free decoder of tollgate's JSON form
// reads every line exactly as encoding/json does — the same record or the
// same error — and whenever it takes a line itself, encoding/json decodes
// it to the same fields.
func FuzzScanOwnJSON(f *testing.F) {
	for _, l := range []string{
		`{"call_id":"a","tenant":"t","extension":"100","caller":"100","callee":"+442071234567","direction":"outbound","start":"2026-11-23T10:00:00Z","duration_s":65,"billsec_s":60,"disposition":"answered","forwarded":false}`,
		`{"call_id":"b","callee":"1","start":"2026-11-23 10:00:00","answer":"1763892005","end":"","cost":1.25e1,"source_ip":"192.0.2.1"}`,
		` { "call_id" : "c" , "callee" : "0044" , "start" : "2026-11-23T10:00:00+01:00" , "duration_s" : 0 , "forwarded" : true } `,
		`{"call_id":"d\u00e9","callee":"1","start":"2026-11-23T10:00:00Z"}`,
		`{"Call_ID":"e","callee":"1","start":"2026-11-23T10:00:00Z","duration_s":1.5}`,
		`{"call_id":"f","callee":"1","start":"2026-11-23T10:00:00Z","duration_s":null,"billsec_s":-3}`,
		`{"call_id":"g","callee":"1","start":"2026-11-23T10:00:00Z","duration_s":9,"duration_s":12,"x":[1,{"y":2}]}`,
		`{"variables":{"uuid":"x","start_epoch":"1"}}`,
		`{"call_id":"h","callee":"1","start":"2026-11-23T10:00:00Z"} x`,
		`{}`, `{"call_id":}`, `{"call_id":"i",}`, `[]`, `{"cost":01}`, `{"cost":-}`, `{"forwarded":tru}`,
	} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var fast, slow Record
		errFast := parseJSON(line, &fast, Options{Location: time.UTC})
		errSlow := parseJSONSlow(line, &slow, Options{Location: time.UTC})
		if fmt.Sprint(errFast) != fmt.Sprint(errSlow) {
			t.Fatalf("%q: error %v; encoding/json %v", line, errFast, errSlow)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: record\n%+v\nencoding/json\n%+v", line, fast, slow)
		}
		var j jsonRecord
		if scanOwnJSON(line, &j) {
			var want jsonRecord
			if err := json.Unmarshal([]byte(line), &want); err != nil {
				t.Fatalf("%q: taken by scanOwnJSON, refused by encoding/json: %v", line, err)
			}
			for _, p := range []**int{&j.Duration, &j.Billsec} {
				if *p != nil {
					v := **p
					*p = &v
				}
			}
			j.duration, j.billsec = 0, 0
			if !reflect.DeepEqual(j, want) {
				t.Fatalf("%q: scanned\n%+v\nencoding/json\n%+v", line, j, want)
			}
		}
	})
}
