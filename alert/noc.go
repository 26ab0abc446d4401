package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// poster sends a JSON body with retries: on a network error, a 5xx or a
// 429 it waits Backoff (doubling) and tries again, up to Retries times;
// another 4xx is final (the request itself is wrong).
type poster struct {
	name    string
	Retries int
	Backoff time.Duration // first retry delay; default 1 s
	Client  *http.Client
	// Wait waits d or until ctx ends; default a timer. Tests record it.
	Wait func(ctx context.Context, d time.Duration) error
}

func (p *poster) post(ctx context.Context, u string, body []byte, hdr http.Header) error {
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	wait := p.Wait
	if wait == nil {
		wait = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	delay := p.Backoff
	if delay <= 0 {
		delay = time.Second
	}
	var last error
	for attempt := 0; attempt <= p.Retries; attempt++ {
		if attempt > 0 {
			if err := wait(ctx, delay); err != nil {
				return errors.Join(last, err)
			}
			delay *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, redactURL(err))
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "tollgate-alert")
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			last = fmt.Errorf("%s: %w", p.name, redactURL(err))
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil
		}
		last = fmt.Errorf("%s answered %s", p.name, resp.Status)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return last
		}
	}
	return last
}

// redactURL drops the URL from a *url.Error (it could carry credentials
// in its user info or query).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Alertmanager posts incidents to a Prometheus Alertmanager (API v2,
// POST /api/v2/alerts). An incident is one alert whose labels stay the
// same while it lasts (alertname, tenant, code, scope, severity at
// trigger, source=tollgate); its growth goes into the annotations, its
// endsAt is Last + Quiet while it fires (so the Alertmanager ends it by
// itself if tollgate stops) and the resolve time once resolved.
type Alertmanager struct {
	URL string // base URL, e.g. http://alertmanager:9093
	// ExternalURL is where the alert's generatorURL points (tollgate's API
	// or console); empty = no generatorURL.
	ExternalURL string
	Min         string
	poster
	labels map[string]map[string]string // dedup key → labels at trigger; worker-only
}

// NewAlertmanager returns an Alertmanager notifier.
func NewAlertmanager(base, externalURL, min string, retries int) *Alertmanager {
	return &Alertmanager{URL: base, ExternalURL: externalURL, Min: min, poster: poster{name: "alertmanager", Retries: retries}}
}

// Name implements IncidentNotifier.
func (a *Alertmanager) Name() string { return "alertmanager" }

// MinSeverity implements IncidentNotifier.
func (a *Alertmanager) MinSeverity() string { return a.Min }

// AMAlert is one element of the Alertmanager API v2 postable alerts.
type AMAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// AMPayload builds the body for an incident event; labels are those the
// incident was triggered with (nil: from the incident).
func (a *Alertmanager) AMPayload(in Incident, labels map[string]string) []AMAlert {
	if labels == nil {
		labels = map[string]string{"alertname": in.Code, "source": "tollgate", "tenant": in.Tenant, "code": in.Code, "scope": in.Scope, "severity": in.Severity}
	}
	ann := map[string]string{
		"summary":        in.summary(),
		"description":    in.Text,
		"incident":       in.DedupKey,
		"alerts":         strconv.Itoa(in.Alerts),
		"calls":          strconv.Itoa(in.Calls),
		"cost":           strconv.FormatFloat(in.Cost, 'f', 2, 64),
		"severity":       in.Severity,
		"first_alert_id": strconv.FormatInt(in.FirstID, 10),
		"last_alert_id":  strconv.FormatInt(in.LastID, 10),
	}
	if len(in.Extensions) > 0 {
		ann["extensions"] = strings.Join(in.Extensions, ",")
	}
	end := in.Last.Add(in.Quiet)
	if in.Action == ActionResolve {
		end = in.End
		ann["resolved_by"] = in.Reason
	}
	if in.Action == ActionAcknowledge {
		ann["acknowledged"] = "true"
	}
	al := AMAlert{Labels: labels, Annotations: ann, StartsAt: in.Start.UTC(), EndsAt: end.UTC()}
	if a.ExternalURL != "" {
		al.GeneratorURL = strings.TrimRight(a.ExternalURL, "/") + "/v1/alerts?tenant=" + url.QueryEscape(in.Tenant)
	}
	return []AMAlert{al}
}

// Send implements IncidentNotifier.
func (a *Alertmanager) Send(ctx context.Context, in Incident) error {
	if a.labels == nil {
		a.labels = map[string]map[string]string{}
	}
	lb := a.labels[in.DedupKey]
	p := a.AMPayload(in, lb)
	if lb == nil && in.Action != ActionResolve {
		if len(a.labels) > 100000 {
			clear(a.labels)
		}
		a.labels[in.DedupKey] = p[0].Labels
	}
	if in.Action == ActionResolve {
		delete(a.labels, in.DedupKey)
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return a.post(ctx, strings.TrimRight(a.URL, "/")+"/api/v2/alerts", body, nil)
}

// PagerDutyEventsURL is the PagerDuty Events API v2 endpoint.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty sends incidents as PagerDuty Events API v2 events: trigger on
// the first alert, trigger again (same dedup_key: PagerDuty adds it to
// the open incident) as the attack grows, acknowledge and resolve. The
// routing key is a secret: it is never logged nor put in an error.
type PagerDuty struct {
	URL        string // default PagerDutyEventsURL
	routingKey string
	Source     string // payload.source: this node's name
	// ExternalURL becomes client_url (tollgate's API or console).
	ExternalURL string
	Min         string
	poster
}

// NewPagerDuty returns a PagerDuty notifier.
func NewPagerDuty(u, routingKey, source, externalURL, min string, retries int) *PagerDuty {
	if u == "" {
		u = PagerDutyEventsURL
	}
	return &PagerDuty{URL: u, routingKey: routingKey, Source: source, ExternalURL: externalURL, Min: min, poster: poster{name: "pagerduty", Retries: retries}}
}

// Name implements IncidentNotifier.
func (p *PagerDuty) Name() string { return "pagerduty" }

// MinSeverity implements IncidentNotifier.
func (p *PagerDuty) MinSeverity() string { return p.Min }

// String keeps the routing key out of %v.
func (p *PagerDuty) String() string { return "pagerduty(" + p.URL + ", routing key redacted)" }

// LogValue keeps the routing key out of structured logs.
func (p *PagerDuty) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", p.URL), slog.String("routing_key", "redacted"))
}

// PDEvent is a PagerDuty Events API v2 event.
type PDEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *PDPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
}

// PDPayload is the payload of a trigger event.
type PDPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning, info
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Event builds the PagerDuty event for an incident event.
func (p *PagerDuty) Event(in Incident) PDEvent {
	ev := PDEvent{RoutingKey: p.routingKey, DedupKey: in.DedupKey}
	switch in.Action {
	case ActionAcknowledge, ActionResolve:
		ev.EventAction = in.Action
		return ev
	}
	ev.EventAction = "trigger"
	sev := in.Severity
	if sev != "critical" && sev != "warning" && sev != "info" {
		sev = "warning"
	}
	src := p.Source
	if src == "" {
		src = "tollgate"
	}
	summary := in.summary()
	if len(summary) > 1024 {
		summary = summary[:1024]
	}
	ev.Payload = &PDPayload{Summary: summary, Source: src, Severity: sev, Timestamp: in.Start.UTC().Format(time.RFC3339), Component: in.Tenant, Group: in.Scope, Class: in.Code,
		CustomDetails: map[string]any{"alerts": in.Alerts, "calls": in.Calls, "cost": in.Cost, "last": in.Last.UTC().Format(time.RFC3339),
			"first_alert_id": in.FirstID, "last_alert_id": in.LastID, "extensions": in.Extensions, "text": in.Text}}
	ev.Client = "tollgate"
	if p.ExternalURL != "" {
		ev.ClientURL = strings.TrimRight(p.ExternalURL, "/") + "/v1/alerts?tenant=" + url.QueryEscape(in.Tenant)
	}
	return ev
}

// Send implements IncidentNotifier.
func (p *PagerDuty) Send(ctx context.Context, in Incident) error {
	body, err := json.Marshal(p.Event(in))
	if err != nil {
		return err
	}
	return p.post(ctx, p.URL, body, nil)
}
