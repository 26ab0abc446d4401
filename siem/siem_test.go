package siem

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

var t0 = time.Date(2026, 11, 23, 15, 4, 5, 123456000, time.UTC)

func decision() store.Decision {
	return store.Decision{CallID: `c"1]`, Time: t0, Tenant: "acme", Extension: "1001", Callee: "+4930123456", Action: "reject", Enforced: "reject", Risk: 90,
		Reasons: json.RawMessage(`[{"check":"destination","code":"premium"}]`)}
}

func audit() store.AuditEntry {
	return store.AuditEntry{ID: 7, Time: t0, Actor: "token:ops", Action: "block.add", Object: "extension/acme/1001", Hash: "ab"}
}

// syslogRE parses an RFC 5424 message: PRI, version, timestamp, host,
// app, procid, msgid, one SD element, MSG.
var syslogRE = regexp.MustCompile(`^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[tollgate@32473((?: [a-z_]+="(?:[^"\\\]]|\\["\\\]])*")*)\] (.*)$`)

var sdParamRE = regexp.MustCompile(`([a-z_]+)="((?:[^"\\\]]|\\["\\\]])*)"`)

type frame struct {
	pri                          int
	ts, host, app, procid, msgid string
	sd                           map[string]string
	msg                          string
}

func parse(t *testing.T, s string) frame {
	t.Helper()
	m := syslogRE.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", s)
	}
	pri, _ := strconv.Atoi(m[1])
	f := frame{pri: pri, ts: m[2], host: m[3], app: m[4], procid: m[5], msgid: m[6], sd: map[string]string{}, msg: m[8]}
	for _, p := range sdParamRE.FindAllStringSubmatch(m[7], -1) {
		f.sd[p[1]] = regexp.MustCompile(`\\(["\\\]])`).ReplaceAllString(p[2], "$1")
	}
	return f
}

// TestSyslogUDP: a real loopback UDP collector receives one RFC 5424
// message per datagram; header, structured data (with escaping) and the
// JSON message are checked.
func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := New(Options{Network: "udp", Addr: pc.LocalAddr().String(), Hostname: "edge 1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Decision(decision())
	s.Audit(audit())
	s.Close()
	var frames []frame
	buf := make([]byte, 65536)
	for range 2 {
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, parse(t, string(buf[:n])))
	}
	d := frames[0]
	if d.pri != 13*8+4 || d.ts != "2026-11-23T15:04:05.123456Z" || d.host != "edge1" || d.app != "tollgate" || d.msgid != "decision" {
		t.Errorf("decision header %+v", d)
	}
	if d.sd["call_id"] != `c"1]` || d.sd["tenant"] != "acme" || d.sd["action"] != "reject" || d.sd["risk"] != "90" {
		t.Errorf("decision SD %v", d.sd)
	}
	var got store.Decision
	if err := json.Unmarshal([]byte(d.msg), &got); err != nil || got.Callee != "+4930123456" || string(got.Reasons) != `[{"check":"destination","code":"premium"}]` {
		t.Errorf("decision msg %s (%v)", d.msg, err)
	}
	a := frames[1]
	if a.pri != 13*8+5 || a.msgid != "audit" || a.sd["actor"] != "token:ops" || a.sd["object"] != "extension/acme/1001" || a.sd["id"] != "7" {
		t.Errorf("audit frame %+v", a)
	}
	if st := s.Stats(); st.Sent != 2 || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestSyslogTCPOctetCounting: over TCP each message is "LEN SP MSG"; the
// collector reads them back by their lengths.
func TestSyslogTCPOctetCounting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var msgs []string
		for {
			n, err := r.ReadString(' ')
			if err != nil {
				break
			}
			l, err := strconv.Atoi(strings.TrimSuffix(n, " "))
			if err != nil {
				break
			}
			b := make([]byte, l)
			if _, err := io.ReadFull(r, b); err != nil {
				break
			}
			msgs = append(msgs, string(b))
		}
		got <- msgs
	}()
	s, err := New(Options{Network: "tcp", Addr: ln.Addr().String(), Hostname: "edge-1", Facility: 16})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.Decision(decision())
	}
	s.Audit(audit())
	s.Close()
	msgs := <-got
	if len(msgs) != 4 {
		t.Fatalf("%d messages: %q", len(msgs), msgs)
	}
	for i, m := range msgs {
		f := parse(t, m)
		want := "decision"
		if i == 3 {
			want = "audit"
		}
		if f.msgid != want || f.host != "edge-1" || f.pri/8 != 16 {
			t.Errorf("message %d: %+v", i, f)
		}
	}
}

// TestJSONLinesTCP: the json format sends one object per line.
func TestJSONLinesTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var lines []string
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		got <- lines
	}()
	s, err := New(Options{Network: "tcp", Addr: ln.Addr().String(), Format: "json", Hostname: "edge-1"})
	if err != nil {
		t.Fatal(err)
	}
	s.Decision(decision())
	s.Audit(audit())
	s.Close()
	lines := <-got
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var d struct {
		Type   string         `json:"type"`
		Host   string         `json:"host"`
		Record store.Decision `json:"record"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil || d.Type != "decision" || d.Host != "edge-1" || d.Record.CallID != `c"1]` {
		t.Errorf("line 0 %s (%v)", lines[0], err)
	}
	var a struct {
		Type   string           `json:"type"`
		Record store.AuditEntry `json:"record"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &a); err != nil || a.Type != "audit" || a.Record.Action != "block.add" {
		t.Errorf("line 1 %s (%v)", lines[1], err)
	}
}

// TestQueueBoundedAndCollectorAway: a full queue drops and counts without
// blocking; records for a collector that refuses connections are counted
// failed, and the stream still closes.
func TestQueueBoundedAndCollectorAway(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := newStream(Options{Network: "tcp", Addr: addr, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 { // the writer is not running yet: the queue fills
		s.Decision(decision())
	}
	go s.run()
	s.Close()
	if st := s.Stats(); st.Dropped != 6 || st.Failed != 4 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{Network: "sctp", Addr: "127.0.0.1:514"}, {Network: "udp", Addr: "nowhere"}, {Network: "udp", Addr: "127.0.0.1:514", Format: "cef"}, {Network: "udp", Addr: "127.0.0.1:514", Facility: 30}} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// BenchmarkDecisionEnqueue measures what the screening path pays to hand
// a decision to the stream (the writer drains to a UDP sink).
func BenchmarkDecisionEnqueue(b *testing.B) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	s, err := New(Options{Network: "udp", Addr: pc.LocalAddr().String(), Hostname: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	d := decision()
	b.ReportAllocs()
	for b.Loop() {
		s.Decision(d)
	}
	b.StopTimer()
	s.Close()
	st := s.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
}
