package alert

import (
	"context"

	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/store"
)

// intakeSize bounds the alerts Alert holds before Raise takes them.
const intakeSize = 1024

// Alert makes the manager the node's one alert sink (store.Alerter): an
// alert raised outside the detectors (the engine's spend threshold, the
// cluster's Redis state, compliance and quality checks, voice
// biometrics) is raised as a finding of the "system" detector — grouped,
// stored (spooled when the store refuses it) and sent to the notifiers
// and incidents like the detectors' own. It never blocks: alerts wait in
// a bounded queue for one goroutine; one that finds the queue full, or
// the manager closed, is logged and dropped.
func (m *Manager) Alert(a store.Alert) {
	m.inMu.Lock()
	defer m.inMu.Unlock()
	if m.inClosed {
		m.log.Warn("alert after shutdown; logged only", "code", a.Code, "severity", a.Severity, "text", a.Text)
		return
	}
	if m.in == nil {
		m.in, m.inDone = make(chan store.Alert, intakeSize), make(chan struct{})
		go m.intake()
	}
	select {
	case m.in <- a:
	default:
		m.dropped.Add(1)
		m.log.Warn("alert queue full; alert logged only", "code", a.Code, "severity", a.Severity, "text", a.Text)
	}
}

// intake raises the alerts given to Alert, in order.
func (m *Manager) intake() {
	defer close(m.inDone)
	for a := range m.in {
		m.raise(context.Background(), detect.Finding{Detector: "system", Code: a.Code, Severity: a.Severity, Tenant: a.Tenant,
			Extension: a.Extension, Text: a.Text, Time: a.Time, Action: "alert"}, a.Details)
		m.log.Warn("alert", "code", a.Code, "severity", a.Severity, "text", a.Text)
		if code, ok := m.resolves[a.Code]; ok {
			m.inc.Resolve("", code, "", "recovered")
		}
	}
}

// closeIntake raises what Alert queued and stops its goroutine.
func (m *Manager) closeIntake() {
	m.inMu.Lock()
	started := m.in != nil && !m.inClosed
	m.inClosed = true
	if started {
		close(m.in)
	}
	m.inMu.Unlock()
	if started {
		<-m.inDone
	}
}
