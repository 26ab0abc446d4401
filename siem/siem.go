// Package siem streams screening decisions and audit entries to a SIEM
// collector as RFC 5424 syslog messages or JSON lines, over UDP or TCP.
// It is off the screening path: records go into a bounded queue (a full
// queue drops and counts), one goroutine formats and writes them, and a
// lost connection is redialled with a doubling delay.
//
// Framing: over UDP one message per datagram; over TCP syslog uses
// octet counting (RFC 6587: "LEN SP MSG"), JSON lines a newline.
package siem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// Options configures New.
type Options struct {
	Network string // udp or tcp
	Addr    string // the collector's host:port
	Format  string // rfc5424 (default) or json
	// Facility is the syslog facility (default 13, log audit).
	Facility int
	Hostname string // default the host name
	Queue    int    // records waiting (default 4096)
	Logger   *slog.Logger
}

// Stats counts what the stream did.
type Stats struct {
	Sent    int64 `json:"sent"`
	Dropped int64 `json:"dropped"` // the queue was full
	Failed  int64 `json:"failed"`  // could not be written (collector away)
}

type rec struct {
	dec   store.Decision
	audit store.AuditEntry
	kind  byte // 'd' or 'a'
}

// Stream sends records to one collector. Decision and Audit never block.
type Stream struct {
	o    Options
	q    chan rec
	log  *slog.Logger
	pid  string
	done chan struct{}

	conn    net.Conn
	backoff time.Duration
	retryAt time.Time

	closeOnce             sync.Once
	sent, dropped, failed atomic.Int64
}

// New checks the options and starts the writer; Close stops it.
func New(o Options) (*Stream, error) {
	s, err := newStream(o)
	if err != nil {
		return nil, err
	}
	go s.run()
	return s, nil
}

func newStream(o Options) (*Stream, error) {
	switch o.Network {
	case "udp", "tcp":
	default:
		return nil, fmt.Errorf("siem: network %q: want udp or tcp", o.Network)
	}
	switch o.Format {
	case "":
		o.Format = "rfc5424"
	case "rfc5424", "json":
	default:
		return nil, fmt.Errorf("siem: format %q: want rfc5424 or json", o.Format)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return nil, fmt.Errorf("siem: addr %q: %w", o.Addr, err)
	}
	if o.Facility == 0 {
		o.Facility = 13
	}
	if o.Facility < 0 || o.Facility > 23 {
		return nil, fmt.Errorf("siem: facility %d: want 0–23", o.Facility)
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	o.Hostname = header(o.Hostname, 255)
	if o.Queue <= 0 {
		o.Queue = 4096
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Stream{o: o, q: make(chan rec, o.Queue), log: o.Logger, pid: strconv.Itoa(os.Getpid()), done: make(chan struct{})}, nil
}

// Decision queues a screening decision.
func (s *Stream) Decision(d store.Decision) {
	s.put(rec{kind: 'd', dec: d})
}

// Audit queues an audit entry.
func (s *Stream) Audit(e store.AuditEntry) {
	s.put(rec{kind: 'a', audit: e})
}

func (s *Stream) put(r rec) {
	select {
	case s.q <- r:
	default:
		s.dropped.Add(1)
	}
}

// Stats returns the counts so far.
func (s *Stream) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Dropped: s.dropped.Load(), Failed: s.failed.Load()}
}

// Close writes what is queued (one attempt each) and stops.
func (s *Stream) Close() {
	s.closeOnce.Do(func() {
		close(s.q)
		<-s.done
	})
}

func (s *Stream) run() {
	defer close(s.done)
	var buf bytes.Buffer
	for r := range s.q {
		buf.Reset()
		if err := s.format(&buf, r); err != nil {
			s.failed.Add(1)
			continue
		}
		if err := s.write(buf.Bytes()); err != nil {
			s.failed.Add(1)
			continue
		}
		s.sent.Add(1)
	}
	if s.conn != nil {
		s.conn.Close()
	}
}

// write sends one framed message, dialling when needed; while the
// collector is away it fails fast until the retry time.
func (s *Stream) write(msg []byte) error {
	if s.conn == nil {
		if time.Now().Before(s.retryAt) {
			return errors.New("collector unreachable")
		}
		c, err := net.DialTimeout(s.o.Network, s.o.Addr, 5*time.Second)
		if err != nil {
			s.fail(err)
			return err
		}
		s.conn, s.backoff = c, 0
	}
	s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	var err error
	if s.o.Network == "tcp" && s.o.Format == "rfc5424" {
		_, err = s.conn.Write(append([]byte(strconv.Itoa(len(msg))+" "), msg...))
	} else if s.o.Network == "tcp" {
		_, err = s.conn.Write(append(msg, '\n'))
	} else {
		_, err = s.conn.Write(msg)
	}
	if err != nil {
		s.conn.Close()
		s.conn = nil
		s.fail(err)
	}
	return err
}

func (s *Stream) fail(err error) {
	if s.backoff == 0 {
		s.backoff = 500 * time.Millisecond
		s.log.Warn("siem: collector unreachable", "addr", s.o.Addr, "err", err)
	} else if s.backoff < 30*time.Second {
		s.backoff *= 2
	}
	s.retryAt = time.Now().Add(s.backoff)
}

// Syslog severities.
const (
	sevWarning = 4
	sevNotice  = 5
	sevInfo    = 6
)

func (s *Stream) format(b *bytes.Buffer, r rec) error {
	var (
		t     time.Time
		msgID string
		sev   int
		body  any
		sd    [][2]string
	)
	switch r.kind {
	case 'd':
		d := &r.dec
		t, msgID, body = d.Time, "decision", d
		switch d.Action {
		case "allow":
			sev = sevInfo
		case "reject", "block":
			sev = sevWarning
		default:
			sev = sevNotice
		}
		sd = [][2]string{{"call_id", d.CallID}, {"tenant", d.Tenant}, {"extension", d.Extension}, {"action", d.Action}, {"enforced", d.Enforced}, {"risk", strconv.Itoa(d.Risk)}}
	default:
		e := &r.audit
		t, msgID, sev, body = e.Time, "audit", sevNotice, e
		sd = [][2]string{{"id", strconv.FormatInt(e.ID, 10)}, {"actor", e.Actor}, {"action", e.Action}, {"object", e.Object}}
	}
	js, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if s.o.Format == "json" {
		b.WriteString(`{"type":"` + msgID + `","host":`)
		h, _ := json.Marshal(s.o.Hostname)
		b.Write(h)
		b.WriteString(`,"record":`)
		b.Write(js)
		b.WriteString("}")
		return nil
	}
	// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
	fmt.Fprintf(b, "<%d>1 %s %s tollgate %s %s [tollgate@32473", s.o.Facility*8+sev, t.UTC().Format("2006-01-02T15:04:05.000000Z"), s.o.Hostname, s.pid, msgID)
	for _, p := range sd {
		b.WriteString(" " + p[0] + `="`)
		b.WriteString(sdEscape(p[1]))
		b.WriteString(`"`)
	}
	b.WriteString("] ")
	b.Write(js)
	return nil
}

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdEscape(v string) string {
	if !strings.ContainsAny(v, `"\]`) {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		if r == '"' || r == '\\' || r == ']' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// header makes a header field: printable US-ASCII without spaces, at
// most n bytes, "-" when empty.
func header(v string, n int) string {
	v = strings.Map(func(r rune) rune {
		if r < 33 || r > 126 {
			return -1
		}
		return r
	}, v)
	if len(v) > n {
		v = v[:n]
	}
	if v == "" {
		return "-"
	}
	return v
}
