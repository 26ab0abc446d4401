// Package incident answers "what happened and what did it cost": the
// damage assessment (estimated cost of the calls flagged by detectors), a
// per-extension timeline, and the evidence bundle (CDRs, decisions, call
// events, alerts, audit entries, the configuration in force and a SHA-256
// manifest).
package incident

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/store"
)

// Source is where evidence is read from.
type Source struct {
	Store      store.Store
	ArchiveDir string // the detection pipeline's CDR archive (DIR/YYYY-MM-DD.jsonl)
}

// CDRs returns archived CDRs that started in [from, to], of one tenant
// ("" = all).
func (s *Source) CDRs(from, to time.Time, tenant string) ([]cdr.Record, error) {
	var out []cdr.Record
	if s.ArchiveDir == "" {
		return nil, nil
	}
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to); d = d.Add(24 * time.Hour) {
		f, err := os.Open(filepath.Join(s.ArchiveDir, d.Format("2006-01-02")+".jsonl"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), cdr.MaxLine)
		for sc.Scan() {
			var r cdr.Record
			if cdr.DecodeJSON(sc.Bytes(), &r, cdr.Options{}) != nil {
				continue
			}
			if r.Start.Before(from) || r.Start.After(to) || tenant != "" && r.Tenant != tenant {
				continue
			}
			out = append(out, r)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// Flagged is one extension the detectors flagged.
type Flagged struct {
	Tenant    string    `json:"tenant"`
	Extension string    `json:"extension"`
	Since     time.Time `json:"since"` // start of the earliest evidence window
	Alerts    int       `json:"alerts"`
	Codes     []string  `json:"codes"`
	Calls     int       `json:"calls"`
	Cost      float64   `json:"cost"`
}

// Damage is the damage assessment of a period.
type Damage struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Tenant     string    `json:"tenant,omitempty"`
	Alerts     int       `json:"alerts"`
	Extensions []Flagged `json:"extensions"`
	Calls      int       `json:"flagged_calls"`
	Cost       float64   `json:"estimated_cost"`
}

// Assess estimates the cost of flagged calls: the calls of every extension
// a detector alerted on, from the start of the earliest alert's evidence
// window to the end of the period.
func (s *Source) Assess(ctx context.Context, from, to time.Time, tenant string) (*Damage, error) {
	as, err := s.alerts(ctx, from, to, tenant)
	if err != nil {
		return nil, err
	}
	dm := &Damage{From: from, To: to, Tenant: tenant, Alerts: len(as), Extensions: []Flagged{}}
	idx := map[[2]string]*Flagged{}
	for _, a := range as {
		if a.Extension == "" {
			continue
		}
		k := [2]string{a.Tenant, a.Extension}
		fl := idx[k]
		if fl == nil {
			fl = &Flagged{Tenant: a.Tenant, Extension: a.Extension, Since: a.Time}
			idx[k] = fl
		}
		var d struct {
			Since time.Time `json:"window_start"`
		}
		if json.Unmarshal(a.Details, &d) == nil && !d.Since.IsZero() && d.Since.Before(fl.Since) {
			fl.Since = d.Since
		}
		if a.Time.Before(fl.Since) {
			fl.Since = a.Time
		}
		fl.Alerts++
		if !contains(fl.Codes, a.Code) {
			fl.Codes = append(fl.Codes, a.Code)
		}
	}
	if len(idx) > 0 {
		recs, err := s.CDRs(from.Add(-24*time.Hour), to, tenant)
		if err != nil {
			return nil, err
		}
		for i := range recs {
			r := &recs[i]
			fl := idx[[2]string{r.Tenant, r.Extension}]
			if fl == nil || r.Start.Before(fl.Since) || r.Billsec == 0 {
				continue
			}
			fl.Calls++
			fl.Cost += r.Cost
		}
	}
	for _, fl := range idx {
		dm.Extensions = append(dm.Extensions, *fl)
		dm.Calls += fl.Calls
		dm.Cost += fl.Cost
	}
	sort.Slice(dm.Extensions, func(i, j int) bool { return dm.Extensions[i].Cost > dm.Extensions[j].Cost })
	return dm, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Source) alerts(ctx context.Context, from, to time.Time, tenant string) ([]store.Alert, error) {
	as, err := s.Store.ListAlerts(ctx, store.AlertQuery{Tenant: tenant, Since: from, Limit: 10000})
	if err != nil {
		return nil, err
	}
	out := as[:0]
	for _, a := range as {
		if !a.Time.Before(from) && !a.Time.After(to) {
			out = append(out, a)
		}
	}
	return out, nil
}

// Event is one line of a timeline.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // cdr, decision, alert
	CallID string    `json:"call_id,omitempty"`
	Text   string    `json:"text"`
	Cost   float64   `json:"cost,omitempty"`
}

// Timeline lists what happened to one extension in [from, to]: its calls,
// the screening decisions and the alerts, in time order.
func (s *Source) Timeline(ctx context.Context, tenant, ext string, from, to time.Time) ([]Event, error) {
	var out []Event
	recs, err := s.CDRs(from, to, tenant)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Extension != ext {
			continue
		}
		out = append(out, Event{Time: r.Start, Kind: "cdr", CallID: r.CallID, Cost: r.Cost,
			Text: fmt.Sprintf("%s %s → %s, %s, %ds billed", r.Direction, r.Caller, r.Callee, r.Disposition, r.Billsec)})
	}
	ds, err := s.Store.QueryDecisions(ctx, store.DecisionQuery{Tenant: tenant, Extension: ext, From: from, To: to, Limit: 10000})
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		out = append(out, Event{Time: d.Time, Kind: "decision", CallID: d.CallID, Text: fmt.Sprintf("screened %s (%s): %s", d.Callee, d.Country, d.Enforced)})
	}
	as, err := s.alerts(ctx, from, to, tenant)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.Extension == ext {
			out = append(out, Event{Time: a.Time, Kind: "alert", Text: fmt.Sprintf("[%s] %s: %s", a.Severity, a.Code, a.Text)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Export writes the evidence bundle for [from, to] into dir (created; it
// must not exist yet) and returns the files written. config is the policy
// in force (its YAML).
func (s *Source) Export(ctx context.Context, dir string, from, to time.Time, tenant string, config []byte) ([]string, error) {
	if err := os.Mkdir(dir, 0o750); err != nil {
		return nil, err
	}
	var files []string
	put := func(name string, write func(w io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		bw := bufio.NewWriter(f)
		err = write(bw)
		if ferr := bw.Flush(); err == nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		files = append(files, name)
		return err
	}
	lines := func(v []any) func(io.Writer) error {
		return func(w io.Writer) error {
			enc := json.NewEncoder(w)
			for _, x := range v {
				if err := enc.Encode(x); err != nil {
					return err
				}
			}
			return nil
		}
	}
	recs, err := s.CDRs(from, to, tenant)
	if err != nil {
		return nil, err
	}
	ds, err := s.Store.QueryDecisions(ctx, store.DecisionQuery{Tenant: tenant, From: from, To: to, Limit: 10000})
	if err != nil {
		return nil, err
	}
	es, err := s.Store.CallEventsSince(ctx, from)
	if err != nil {
		return nil, err
	}
	as, err := s.alerts(ctx, from, to, tenant)
	if err != nil {
		return nil, err
	}
	au, err := s.Store.ListAudit(ctx, from, 100000)
	if err != nil {
		return nil, err
	}
	dm, err := s.Assess(ctx, from, to, tenant)
	if err != nil {
		return nil, err
	}
	var v []any
	for i := range recs {
		v = append(v, struct {
			cdr.Record
			Direction string `json:"direction"`
		}{recs[i], recs[i].Direction.String()})
	}
	steps := []struct {
		name string
		w    func(io.Writer) error
	}{
		{"cdrs.jsonl", lines(v)},
		{"decisions.jsonl", lines(anys(ds))},
		{"call_events.jsonl", lines(anys(filterEvents(es, to, tenant)))},
		{"alerts.jsonl", lines(anys(as))},
		{"audit.jsonl", lines(anys(filterAudit(au, to)))},
		{"damage.json", func(w io.Writer) error { e := json.NewEncoder(w); e.SetIndent("", "  "); return e.Encode(dm) }},
		{"config.yaml", func(w io.Writer) error { _, err := w.Write(config); return err }},
		{"README.txt", func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "tollgate evidence bundle\nperiod: %s to %s\ntenant: %s\nexported: %s\n\nVerify with: sha256sum -c MANIFEST.sha256\n",
				from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), or(tenant, "all"), time.Now().UTC().Format(time.RFC3339))
			return err
		}},
	}
	for _, st := range steps {
		if err := put(st.name, st.w); err != nil {
			return files, err
		}
	}
	var man strings.Builder
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return files, err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&man, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST.sha256"), []byte(man.String()), 0o640); err != nil {
		return files, err
	}
	return append(files, "MANIFEST.sha256"), nil
}

func or(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i := range xs {
		out[i] = xs[i]
	}
	return out
}

func filterEvents(es []store.CallEvent, to time.Time, tenant string) []store.CallEvent {
	out := es[:0]
	for _, e := range es {
		if !e.Time.After(to) && (tenant == "" || e.Tenant == tenant) {
			out = append(out, e)
		}
	}
	return out
}

func filterAudit(as []store.AuditEntry, to time.Time) []store.AuditEntry {
	out := as[:0]
	for _, a := range as {
		if !a.Time.After(to) {
			out = append(out, a)
		}
	}
	return out
}
