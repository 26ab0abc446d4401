package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/store"
)

func finding(t time.Time) detect.Finding {
	return detect.Finding{Detector: "international_burst", Code: "international_burst", Severity: "critical", Tenant: "acme", Extension: "1001", Subject: "1001", Text: "burst", Time: t}
}

func TestDedup(t *testing.T) {
	m := New(Options{Dedup: 15 * time.Minute})
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	if _, ok := m.Raise(context.Background(), finding(t0)); !ok {
		t.Fatal("first alert suppressed")
	}
	if _, ok := m.Raise(context.Background(), finding(t0.Add(5*time.Minute))); ok {
		t.Error("repeat within 15 min raised")
	}
	f := finding(t0.Add(5 * time.Minute))
	f.Extension = "1002"
	if _, ok := m.Raise(context.Background(), f); !ok {
		t.Error("another extension grouped")
	}
	if _, ok := m.Raise(context.Background(), finding(t0.Add(16*time.Minute))); !ok {
		t.Error("repeat after the window suppressed")
	}
	if s := m.Stats(); s.Raised != 3 || s.Suppressed != 1 || len(m.Alerts()) != 3 {
		t.Errorf("stats %+v, %d kept", s, len(m.Alerts()))
	}
}

// TestWebhookSignedWithRetries: a real HTTP listener that fails twice, then
// checks the HMAC signature.
func TestWebhookSignedWithRetries(t *testing.T) {
	secret := []byte("s3cret")
	var calls atomic.Int32
	got := make(chan store.Alert, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if want := Sign(secret, r.Header.Get("X-Tollgate-Timestamp"), body); r.Header.Get("X-Tollgate-Signature") != want {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var a store.Alert
		if err := json.Unmarshal(body, &a); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		got <- a
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL, Secret: secret, Retries: 3, Backoff: 10 * time.Millisecond}
	m := New(Options{Notifiers: []Notifier{wh}})
	m.Raise(context.Background(), finding(time.Now()))
	m.Close()
	select {
	case a := <-got:
		if a.Code != "international_burst" || a.Tenant != "acme" {
			t.Errorf("alert = %+v", a)
		}
	default:
		t.Fatal("webhook never accepted the alert")
	}
	if calls.Load() != 3 || m.Stats().Sent != 1 {
		t.Errorf("calls %d, stats %+v; want 3 calls, 1 sent", calls.Load(), m.Stats())
	}
	// A wrong secret is refused (401) and not retried.
	bad := &Webhook{URL: srv.URL, Secret: []byte("wrong"), Retries: 3, Backoff: time.Millisecond}
	calls.Store(10)
	if err := bad.Notify(context.Background(), store.Alert{Code: "x"}); err == nil || calls.Load() != 11 {
		t.Errorf("wrong secret: err %v after %d calls; want an error after 1", err, calls.Load()-10)
	}
}

func TestSlack(t *testing.T) {
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		json.NewDecoder(r.Body).Decode(&m)
		got <- m
	}))
	defer srv.Close()
	if err := (&Webhook{URL: srv.URL, Slack: true}).Notify(context.Background(), store.Alert{Severity: "critical", Code: "wangiri_wave", Text: "wave"}); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m["text"] != "[CRITICAL] wangiri_wave: wave" {
		t.Errorf("slack body %v", m)
	}
}

// smtpServer is a minimal real SMTP listener on loopback that keeps what
// it receives.
func smtpServer(t *testing.T) (addr string, msgs chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	msgs = make(chan string, 4)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				io.WriteString(c, "220 localhost test\r\n")
				var data strings.Builder
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						io.WriteString(c, "250-localhost\r\n250 8BITMIME\r\n")
					case cmd == "DATA":
						io.WriteString(c, "354 go on\r\n")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
							data.WriteString(l)
						}
						msgs <- data.String()
						io.WriteString(c, "250 queued\r\n")
					case cmd == "QUIT":
						io.WriteString(c, "221 bye\r\n")
						return
					default:
						io.WriteString(c, "250 ok\r\n")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), msgs
}

func TestEmail(t *testing.T) {
	addr, msgs := smtpServer(t)
	e := &Email{Addr: addr, From: "tollgate@example.com", To: []string{"noc@example.com"}}
	if err := e.Notify(context.Background(), store.Alert{ID: 7, Severity: "critical", Code: "spend_over_cap", Text: "tenant acme spent 510.00", Tenant: "acme"}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if !strings.Contains(m, "Subject: [tollgate critical] spend_over_cap: tenant acme spent 510.00") || !strings.Contains(m, "To: noc@example.com") {
			t.Errorf("message:\n%s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message arrived")
	}
}
