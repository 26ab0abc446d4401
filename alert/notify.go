package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// Webhook posts each alert as JSON. With a secret, the body is signed:
// header X-Tollgate-Signature is "sha256=" + hex HMAC-SHA256(secret,
// timestamp + "." + body), with the timestamp in X-Tollgate-Timestamp
// (Unix seconds), so a receiver can reject replays.
type Webhook struct {
	URL     string
	Secret  []byte
	Retries int           // attempts after the first; default 0
	Backoff time.Duration // first retry delay, doubling; default 1 s
	Min     string
	// Slack sends {"text": …} for Slack-compatible incoming webhooks
	// instead of the alert object.
	Slack  bool
	Client *http.Client
}

// Name implements Notifier.
func (w *Webhook) Name() string {
	if w.Slack {
		return "slack"
	}
	return "webhook"
}

// MinSeverity implements Notifier.
func (w *Webhook) MinSeverity() string { return w.Min }

// Sign returns the signature header value for a body.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, a store.Alert) error {
	var body []byte
	var err error
	if w.Slack {
		body, err = json.Marshal(map[string]string{"text": fmt.Sprintf("[%s] %s: %s", strings.ToUpper(a.Severity), a.Code, a.Text)})
	} else {
		body, err = json.Marshal(a)
	}
	if err != nil {
		return err
	}
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	delay := w.Backoff
	if delay <= 0 {
		delay = time.Second
	}
	var last error
	for attempt := 0; attempt <= w.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(last, ctx.Err())
			case <-time.After(delay):
			}
			delay *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "tollgate-alert")
		if len(w.Secret) > 0 {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			req.Header.Set("X-Tollgate-Timestamp", ts)
			req.Header.Set("X-Tollgate-Signature", Sign(w.Secret, ts, body))
		}
		resp, err := c.Do(req)
		if err != nil {
			last = err
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil
		}
		last = fmt.Errorf("%s answered %s", w.Name(), resp.Status)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return last // the request is wrong; retrying will not help
		}
	}
	return last
}

// Email sends alerts over SMTP (STARTTLS when the server offers it).
type Email struct {
	Addr     string
	From     string
	To       []string
	Username string
	Password string
	Min      string
}

// Name implements Notifier.
func (e *Email) Name() string { return "email" }

// MinSeverity implements Notifier.
func (e *Email) MinSeverity() string { return e.Min }

// Notify implements Notifier.
func (e *Email) Notify(ctx context.Context, a store.Alert) error {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return err
	}
	var auth smtp.Auth
	if e.Username != "" {
		auth = smtp.PlainAuth("", e.Username, e.Password, host)
	}
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: [tollgate %s] %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		e.From, strings.Join(e.To, ", "), a.Severity, oneLine(a.Code+": "+a.Text, 120), time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&msg, "%s\r\n\r\nalert %d, %s, tenant %s, extension %s, at %s\r\n", a.Text, a.ID, a.Code, a.Tenant, a.Extension, a.Time.UTC().Format(time.RFC3339))
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(e.Addr, auth, e.From, e.To, msg.Bytes()) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}
