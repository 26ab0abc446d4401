package cdr

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/screen"
)

const masterCSV = `"acme","1001","011442071234567","from-internal","""Alice"" <1001>","PJSIP/1001-00000001","PJSIP/trunk-00000002","Dial","PJSIP/011442071234567@trunk,60","2026-11-23 10:00:00","2026-11-23 10:00:05","2026-11-23 10:02:05",125,120,"ANSWERED","DOCUMENTATION","1763892000.1",""
"acme","+4930123456","5551000","from-trunk","<+4930123456>","PJSIP/trunk-00000003","","Hangup","","2026-11-23 10:05:00","","2026-11-23 10:05:02",2,0,"NO ANSWER","DOCUMENTATION","1763892300.2",""
this is not a cdr
"acme","1002","1003","from-internal","","PJSIP/1002-04","PJSIP/1003-05","Dial","PJSIP/1003,30","2026-11-23 10:06:00","2026-11-23 10:06:01","2026-11-23 10:06:31",31,30,"ANSWERED","DOCUMENTATION","1763892360.3",""
"acme","1002","0044","from-internal","","PJSIP/1002-04","","Dial","","2026-13-23 10:06:00","","2026-11-23 10:06:31",31,0,"FAILED","DOCUMENTATION","x",""
"acme","+4930123456","5551000","from-trunk","","PJSIP/trunk-7","PJSIP/trunk-8","Dial","PJSIP/00390612345678@trunk,60","2026-11-23 10:07:00","2026-11-23 10:07:03","2026-11-23 10:17:03",603,600,"ANSWERED","DOCUMENTATION","1763892420.4",""
`

func readAll(t *testing.T, src string, o Options) ([]Record, Stats) {
	t.Helper()
	r := NewReader(strings.NewReader(src), o)
	var out []Record
	var rec Record
	for r.Next(&rec) {
		out = append(out, rec)
	}
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	return out, r.Stats()
}

func TestAsteriskMasterCSV(t *testing.T) {
	recs, st := readAll(t, masterCSV, Options{})
	if len(recs) != 4 || st.Malformed != 2 || st.Lines != 6 {
		t.Fatalf("got %d records, %d malformed, %d lines; want 4, 2, 6 (%+v)", len(recs), st.Malformed, st.Lines, st.Errors)
	}
	if st.Errors[0].Line != 3 || st.Errors[1].Line != 5 || st.Errors[1].Field != "start" {
		t.Errorf("errors = %+v; want line 3, then line 5 field start", st.Errors)
	}
	r := recs[0]
	want := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if r.CallID != "1763892000.1" || r.Tenant != "acme" || r.Extension != "1001" || r.Callee != "011442071234567" ||
		r.Direction != screen.Outbound || !r.Start.Equal(want) || r.Billsec != 120 || r.Duration != 125 || r.Disposition != Answered || r.Line != 1 {
		t.Errorf("record 0 = %+v", r)
	}
	if r := recs[1]; r.Direction != screen.Inbound || r.Caller != "+4930123456" || r.Extension != "5551000" || r.Disposition != NoAnswer || !r.Answer.IsZero() {
		t.Errorf("inbound record = %+v", r)
	}
	if r := recs[2]; r.Direction != screen.Internal {
		t.Errorf("internal record direction = %v", r.Direction)
	}
	if r := recs[3]; !r.Forwarded || r.Callee != "00390612345678" || r.Extension != "5551000" {
		t.Errorf("forwarded record = %+v", r)
	}
}

func TestAsteriskLocation(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, strings.SplitN(masterCSV, "\n", 2)[0], Options{Location: ny})
	if len(recs) != 1 || recs[0].Start.UTC().Hour() != 15 {
		t.Fatalf("start in New York = %v; want 15:00 UTC", recs)
	}
}

const fsCSV = `"Bob","1001","0096170123456","default","2026-11-23 03:10:00","2026-11-23 03:10:04","2026-11-23 04:40:04","5404","5400","NORMAL_CLEARING","a1b2c3","","acme","PCMU","PCMU"
"","+22501234567","1001","public","2026-11-23 03:11:00","","2026-11-23 03:11:01","1","0","ORIGINATOR_CANCEL","d4e5f6","","acme","PCMU","PCMU"
"","1001","1002","default","2026-11-23 03:12:00","","2026-11-23 03:12:09","9","0","USER_BUSY","g7","","acme","",""
"","1001","1002","default","not a time","","","9","0","USER_BUSY","g8","","acme","",""
`

func TestFreeSWITCHCSV(t *testing.T) {
	recs, st := readAll(t, fsCSV, Options{})
	if len(recs) != 3 || st.Malformed != 1 || st.Errors[0].Line != 4 || st.Errors[0].Field != "start_stamp" {
		t.Fatalf("got %d records, stats %+v", len(recs), st)
	}
	if r := recs[0]; r.CallID != "a1b2c3" || r.Tenant != "acme" || r.Billsec != 5400 || r.Direction != screen.Outbound || r.Disposition != Answered {
		t.Errorf("record 0 = %+v", r)
	}
	if r := recs[1]; r.Direction != screen.Inbound || r.Caller != "+22501234567" || r.Disposition != NoAnswer {
		t.Errorf("record 1 = %+v", r)
	}
	if r := recs[2]; r.Disposition != Busy || r.Direction != screen.Internal {
		t.Errorf("record 2 = %+v", r)
	}
}

func TestJSON(t *testing.T) {
	src := `{"call_id":"j1","tenant":"acme","extension":"1001","callee":"+442071234567","start":"2026-11-23T10:00:00Z","billsec_s":60,"disposition":"answered"}
{"call_id":"j2","tenant":"acme","caller":"+25261234567","callee":"1001","direction":"inbound","start":"2026-11-23T10:00:00+01:00","duration_s":1}
{"call_id":"j3","start":"yesterday","callee":"1"}
{"core-uuid":"x","variables":{"uuid":"fs1","accountcode":"acme","start_epoch":"1763892000","answer_epoch":"1763892002","end_epoch":"1763892062","duration":"62","billsec":"60","hangup_cause":"NORMAL_CLEARING"},"callflow":[{"caller_profile":{"caller_id_number":"1001","destination_number":"0044123456789","context":"default","network_addr":"192.0.2.7"}}]}
{"call_id":"j4",
`
	recs, st := readAll(t, src, Options{})
	if len(recs) != 3 || st.Malformed != 2 {
		t.Fatalf("got %d records, stats %+v", len(recs), st)
	}
	if st.Errors[0].Line != 3 || st.Errors[0].Field != "start" || st.Errors[1].Line != 5 {
		t.Errorf("errors = %+v", st.Errors)
	}
	if r := recs[0]; r.Billsec != 60 || r.Duration != 60 || r.Extension != "1001" {
		t.Errorf("j1 = %+v", r)
	}
	if r := recs[1]; r.Extension != "1001" || r.Direction != screen.Inbound || r.Start.UTC().Hour() != 9 || r.Disposition != NoAnswer {
		t.Errorf("j2 = %+v", r)
	}
	if r := recs[2]; r.CallID != "fs1" || r.Extension != "1001" || r.Callee != "0044123456789" || r.Billsec != 60 || r.SourceIP != "192.0.2.7" || r.Start.Unix() != 1763892000 {
		t.Errorf("fs json = %+v", r)
	}
}

func TestSplitCSV(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		bad  bool
	}{
		{`a,b,c`, []string{"a", "b", "c"}, false},
		{`"a","b ""x""",,`, []string{"a", `b "x"`, "", ""}, false},
		{`"a,b",c`, []string{"a,b", "c"}, false},
		{`"a`, nil, true},
		{`"a"b,c`, nil, true},
		{`a"b`, nil, true},
	} {
		got, err := splitCSV(c.in, nil)
		if (err != nil) != c.bad {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if !c.bad && strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestFollowerRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Master.csv")
	lines := strings.Split(strings.TrimSpace(masterCSV), "\n")
	write := func(p string, flag int, s string) {
		f, err := os.OpenFile(p, flag|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write(path, os.O_TRUNC, lines[0]+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	fl := &Follower{Path: path, Poll: 10 * time.Millisecond, FromStart: true}
	done := make(chan error, 1)
	go func() {
		done <- fl.Run(ctx, func(r *Record) { mu.Lock(); got = append(got, r.CallID); mu.Unlock() })
	}()
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("got %v; want %d records", got, n)
	}
	wait(1)
	// A line written in two pieces is read once, whole.
	half := len(lines[1]) / 2
	write(path, os.O_APPEND, lines[1][:half])
	time.Sleep(30 * time.Millisecond)
	write(path, os.O_APPEND, lines[1][half:]+"\n"+lines[2]+"\n")
	wait(2)
	// Rotate: what is appended to the old file before the rename is read,
	// then the new file from its start.
	write(path, os.O_APPEND, lines[3]+"\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	write(path, os.O_TRUNC, lines[5]+"\n")
	wait(4)
	// copytruncate
	time.Sleep(30 * time.Millisecond)
	write(path, os.O_TRUNC, lines[0]+"\n")
	wait(5)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "1763892000.1 1763892300.2 1763892360.3 1763892420.4 1763892000.1"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("followed %q; want %q", s, want)
	}
	if st := fl.Stats(); st.Malformed != 1 || st.Errors[0].Msg == "" {
		t.Errorf("stats = %+v; want the one bad line counted", st)
	}
}

// TestNegativeDurationRefused: a negative duration_s used to pass when a
// billsec was given, since Normalize raised the duration to the billsec
// before Valid looked (issue 16).
func TestNegativeDurationRefused(t *testing.T) {
	for _, in := range []string{
		`{"call_id":"neg-1","start":"2026-11-23T10:00:00Z","callee":"+4930123456","duration_s":-50,"billsec_s":30}`,
		`{"call_id":"neg-2","start":"2026-11-23T10:00:00Z","callee":"+4930123456","duration_s":-1}`,
		`{"call_id":"neg-3","start":"2026-11-23T10:00:00Z","callee":"+4930123456","duration_s":10,"billsec_s":-3}`,
	} {
		var r Record
		err := DecodeJSON([]byte(in), &r, Options{})
		var le *LineError
		if !errors.As(err, &le) || (le.Field != "duration_s" && le.Field != "billsec_s") {
			t.Errorf("DecodeJSON(%s) = %v (record %+v), want an error naming duration_s or billsec_s", in, err, r)
		}
	}
}
