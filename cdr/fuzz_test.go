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
		errFast := parseJSON(line, &fast, Options{Location: time.UTC}, &dayCache{})
		errSlow := parseJSONSlow(line, &slow, Options{Location: time.UTC}, nil)
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

// FuzzParseStamp: a stamp read through a parser's day cache, after any
// stamp before it, is exactly the Time time.Date makes of it (no cache),
// or is refused by both.
func FuzzParseStamp(f *testing.F) {
	for _, s := range [][2]string{
		{"2026-11-23 10:00:00", "2026-11-23 23:59:60"},
		{"2026-02-28 12:00:00", "2026-02-30 12:00:00"},
		{"2024-02-29T00:00:00.5Z", "2024-02-29 00:00:01.123456789"},
		{"2026-11-23 10:00:00+02:00", "2026-11-23 10:00:00"},
		{"2026-12-31 23:59:59", "2027-01-01 00:00:00"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var dc dayCache
		for _, s := range []string{a, b, a} {
			got, ok1 := parseStamp(s, time.UTC, &dc)
			want, ok2 := parseStamp(s, time.UTC, nil)
			// A stamp with an offset gets a zone of its own each time:
			// compare those by instant and zone; UTC ones exactly.
			same := got == want || want.Location() != time.UTC && got.Equal(want) && got.Location().String() == want.Location().String()
			if ok1 != ok2 || !same {
				t.Fatalf("%q after the cache held %q: %v %v; time.Date: %v %v", s, dc.date, got, ok1, want, ok2)
			}
		}
	})
}

// splitSpec splits a CSV line by the rules splitCSV documents, written
// plainly as an oracle: fields are separated by commas; a field that
// starts with a quote runs to a quote followed by a comma or the end of
// the line, a doubled quote inside standing for one; any other field may
// hold no quote.
func splitSpec(line string) ([]string, bool) {
	var out []string
	for {
		var f strings.Builder
		if strings.HasPrefix(line, `"`) {
			rest := line[1:]
			for {
				k := strings.Index(rest, `"`)
				if k < 0 {
					return nil, false
				}
				f.WriteString(rest[:k])
				rest = rest[k+1:]
				if strings.HasPrefix(rest, `"`) {
					f.WriteByte('"')
					rest = rest[1:]
					continue
				}
				break
			}
			out = append(out, f.String())
			if rest == "" {
				return out, true
			}
			if rest[0] != ',' {
				return nil, false
			}
			line = rest[1:]
			continue
		}
		field, rest, more := strings.Cut(line, ",")
		if strings.Contains(field, `"`) {
			return nil, false
		}
		out = append(out, field)
		if !more {
			return out, true
		}
		line = rest
	}
}

// FuzzSplitCSV: splitCSV gives the fields splitSpec gives, and refuses
// what it refuses.
func FuzzSplitCSV(f *testing.F) {
	for _, l := range strings.Split(masterCSV+fsCSV, "\n") {
		f.Add(l)
	}
	for _, l := range []string{``, `,`, `"",""`, `"a""b",c`, `"a`, `"a"b`, `a"b`, `"a",`, `""""`, `"a,b"",c"`} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got, err := splitCSV(line, nil)
		want, ok := splitSpec(line)
		if (err == nil) != ok {
			t.Fatalf("%q: error %v; spec ok %v", line, err, ok)
		}
		if ok && strings.Join(got, "\x00") != strings.Join(want, "\x00") || ok && len(got) != len(want) {
			t.Fatalf("%q = %q; spec %q", line, got, want)
		}
	})
}
