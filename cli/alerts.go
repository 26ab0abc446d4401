package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate-voip/tollgate/alert"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/store"
)

// alertSink is the node's one alert sink: an alert.Manager with the
// notifiers and incident notifiers of the alerts: section, storing
// through st. The detectors raise findings through it (cli/detect.go);
// everything else — the engine and its checks, the cluster node,
// compliance and quality, voice biometrics — gives it alerts as a
// store.Alerter (alert/sink.go).
type alertSink struct {
	*alert.Manager
	inc     *alert.Incidents // incident notifiers (Alertmanager, PagerDuty); nil without
	stopInc context.CancelFunc
}

// openAlerts builds the sink. With a spool file, alerts the store refuses
// wait there (fsynced) and are stored in order once it answers
// (alert/spool.go); without, a refused alert is logged. now is the clock
// of incident quiet periods.
func openAlerts(cfg *config.Config, st store.Alerts, spool string, now func() time.Time, log *slog.Logger) (*alertSink, error) {
	ns, err := notifiers(cfg)
	if err != nil {
		return nil, err
	}
	ins, err := incidentNotifiers(cfg)
	if err != nil {
		return nil, err
	}
	a := &alertSink{stopInc: func() {}}
	if len(ins) > 0 {
		a.inc = alert.NewIncidents(alert.IncidentOptions{Notifiers: ins, Quiet: cfg.Alerts.Incidents.QuietS.Duration(),
			Every: cfg.Alerts.Incidents.UpdateS.Duration(), Now: now, Logger: log})
		var ictx context.Context
		ictx, a.stopInc = context.WithCancel(context.Background())
		go a.inc.Run(ictx, 0)
	}
	a.Manager = alert.New(alert.Options{Store: st, Dedup: cfg.Alerts.DedupS.Duration(), Notifiers: ns, Logger: log, Incidents: a.inc,
		// The Redis outage's incident ends when Redis is back (cli/cluster.go).
		Resolves: map[string]string{"redis_recovered": "redis_unreachable"}})
	if spool != "" {
		if err := adoptSpool(spool, filepath.Join(filepath.Dir(spool), "alerts-other.spool")); err != nil {
			a.close()
			return nil, err
		}
		if err := a.SpoolTo(spool, 0); err != nil {
			a.close()
			return nil, err
		}
	}
	log.Info("alerts ready", "notifiers", len(ns), "incident_notifiers", len(ins))
	return a, nil
}

// adoptSpool moves the alerts a node of an earlier version left in old,
// the spool of the alerts raised outside the detectors when they had a
// manager of their own, to the end of the one spool, so they are stored
// too; then it removes old.
func adoptSpool(spool, old string) error {
	raw, err := os.ReadFile(old)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alert spool: %w", err)
	}
	if len(raw) > 0 {
		f, err := os.OpenFile(spool, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("alert spool: %w", err)
		}
		_, err = f.Write(raw)
		if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
			return fmt.Errorf("alert spool: %w", err)
		}
	}
	return os.Remove(old)
}

// close raises what is queued, sends what is pending to the notifiers and
// stops the incident notifiers.
func (a *alertSink) close() {
	if a.Manager != nil {
		a.Manager.Close()
	}
	a.stopInc()
	if a.inc != nil {
		a.inc.Close()
	}
}

// alertStatus tells the incident notifiers an operator changed an alert's
// status (nil without incident notifiers).
func (a *alertSink) alertStatus() func(id int64, status string) {
	inc := a.inc
	if inc == nil {
		return nil
	}
	return func(id int64, status string) { inc.SetStatus(id, status) }
}

// notifiers builds the alert notifiers of the alerts: section.
func notifiers(cfg *config.Config) ([]alert.Notifier, error) {
	a := &cfg.Alerts
	var ns []alert.Notifier
	for i, h := range a.Webhooks {
		w := &alert.Webhook{URL: h.URL, Retries: h.Retries, Min: string(h.MinSeverity)}
		if h.SecretEnv != "" {
			if !h.Secret.IsSet() {
				return nil, cfg.MissingSecret(fmt.Sprintf("alerts.webhooks[%d].secret_env", i), h.SecretEnv)
			}
			w.Secret = []byte(h.Secret.Reveal())
		}
		ns = append(ns, w)
	}
	for _, h := range a.Slack {
		ns = append(ns, &alert.Webhook{URL: h.URL, Retries: h.Retries, Min: string(h.MinSeverity), Slack: true})
	}
	if e := a.Email; e.Addr != "" {
		m := &alert.Email{Addr: e.Addr, From: e.From, To: e.To, Username: e.Username, Min: string(e.MinSeverity)}
		if e.PasswordEnv != "" {
			if !e.Password.IsSet() {
				return nil, cfg.MissingSecret("alerts.email.password_env", e.PasswordEnv)
			}
			m.Password = e.Password.Reveal()
		}
		ns = append(ns, m)
	}
	return ns, nil
}

// incidentNotifiers builds the Alertmanager and PagerDuty notifiers of
// the alerts: section; the node's name is the source of PagerDuty events.
func incidentNotifiers(cfg *config.Config) ([]alert.IncidentNotifier, error) {
	a := &cfg.Alerts
	var ns []alert.IncidentNotifier
	ext := a.Incidents.ExternalURL
	for _, t := range a.Alertmanager {
		ns = append(ns, alert.NewAlertmanager(t.URL, ext, string(t.MinSeverity), t.Retries))
	}
	for i, t := range a.PagerDuty {
		if !t.RoutingKey.IsSet() {
			return nil, cfg.MissingSecret(fmt.Sprintf("alerts.pagerduty[%d].routing_key_env", i), t.RoutingKeyEnv)
		}
		ns = append(ns, alert.NewPagerDuty(t.URL, t.RoutingKey.Reveal(), cfg.NodeName(), ext, string(t.MinSeverity), t.Retries))
	}
	return ns, nil
}
