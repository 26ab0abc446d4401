package console

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/store"
)

// countryName returns the English name of an ISO 3166 region code.
func countryName(iso string) string {
	if iso == "" || iso == "001" {
		return "international network"
	}
	r, err := language.ParseRegion(iso)
	if err != nil {
		return iso
	}
	if n := display.English.Regions().Name(r); n != "" {
		return n
	}
	return iso
}

// LivePayload is what the live view shows; the event stream pushes it.
type LivePayload struct {
	Time         time.Time          `json:"time"`
	Stats        Stats              `json:"stats"`
	Chart        string             `json:"chart_svg"`
	LiveCalls    int                `json:"live_calls"` // -1: not shown to tenant-scoped users
	InFlight     int64              `json:"in_flight"`
	Alerts       []store.Alert      `json:"alerts"`
	OpenAlerts   int                `json:"open_alerts"`
	KillSwitches []store.KillSwitch `json:"kill_switches"`
	Blocks       int                `json:"blocks"`
}

func (c *Console) payload(ctx context.Context, u auth.User) (LivePayload, error) {
	now := time.Now()
	p := LivePayload{Time: now.UTC(), LiveCalls: -1}
	if c.o.Live != nil {
		p.Stats = c.o.Live.Snapshot(u.Tenant, now)
		for i := range p.Stats.Countries {
			p.Stats.Countries[i].Name = countryName(p.Stats.Countries[i].Key)
		}
	}
	p.Chart = VerdictChart(p.Stats)
	if u.Tenant == "" && c.o.Engine != nil {
		p.LiveCalls = c.o.Engine.LiveCalls()
		p.InFlight = c.o.Engine.InFlight()
	}
	as, err := c.o.Store.ListAlerts(ctx, store.AlertQuery{Tenant: u.Tenant, Limit: 200})
	if err != nil {
		return p, err
	}
	p.Alerts = []store.Alert{}
	for _, a := range as {
		if u.Tenant != "" && a.Tenant != u.Tenant {
			continue
		}
		if a.Status != "resolved" && len(p.Alerts) < 50 {
			p.Alerts = append(p.Alerts, a)
		}
		if a.Status == "open" {
			p.OpenAlerts++
		}
	}
	if p.KillSwitches, err = c.visibleKills(ctx, u); err != nil {
		return p, err
	}
	bs, err := c.o.Store.ListBlocks(ctx, now)
	if err != nil {
		return p, err
	}
	for _, b := range bs {
		if u.Tenant == "" || b.Tenant == u.Tenant || b.Tenant == "" {
			p.Blocks++
		}
	}
	return p, nil
}

func (c *Console) liveJSON(w http.ResponseWriter, r *http.Request) {
	p, err := c.payload(r.Context(), current(r).user)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// events streams the live view as server-sent events: "live" every two
// seconds and at once when alerts, blocks or kill switches change (the
// store is polled each second, so changes made by other nodes or by the
// detectors show too).
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	u := current(r).user
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	c.streams.Add(1)
	defer c.streams.Add(-1)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastState [32]byte
	lastSent := time.Time{}
	idle := c.o.Config.SessionIdleS.Duration()
	started := time.Now()
	for {
		p, err := c.payload(r.Context(), u)
		if err == nil {
			raw, _ := json.Marshal(p)
			state := sha256.Sum256(stateOf(p))
			if state != lastState || time.Since(lastSent) >= 2*time.Second {
				_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := fmt.Fprintf(w, "event: live\ndata: %s\n\n", raw); err != nil {
					return
				}
				if err := rc.Flush(); err != nil {
					return
				}
				lastState, lastSent = state, time.Now()
			}
		}
		// A stream is not a session keep-alive: end it with the session's
		// idle time so the browser reconnects and re-checks its cookie.
		if idle > 0 && time.Since(started) > idle {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stateOf is the part of the payload whose change is pushed at once.
func stateOf(p LivePayload) []byte {
	raw, _ := json.Marshal([]any{p.Alerts, p.KillSwitches, p.Blocks})
	return raw
}

// TimelineItem is one mark on an extension's timeline.
type TimelineItem struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // call, alert, action
	Action string    `json:"action,omitempty"`
	Text   string    `json:"text"`
	CallID string    `json:"call_id,omitempty"`
	Risk   int       `json:"risk,omitempty"`
}

// timeline returns an extension's calls, verdicts, alerts and the actions
// taken on it (blocks and releases from the audit log) on one time axis,
// with an SVG of the same.
func (c *Console) timeline(w http.ResponseWriter, r *http.Request) {
	u := current(r).user
	q := r.URL.Query()
	tenant, ext := q.Get("tenant"), q.Get("extension")
	if u.Tenant != "" {
		if tenant != "" && tenant != u.Tenant {
			writeError(w, http.StatusForbidden, "you may see only tenant "+u.Tenant)
			return
		}
		tenant = u.Tenant
	}
	if ext == "" || len(ext) > 64 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "extension: required (1–64 characters)", "field": "extension"})
		return
	}
	hours, err := strconv.Atoi(q.Get("hours"))
	if q.Get("hours") == "" {
		hours, err = 24, nil
	}
	if err != nil || hours < 1 || hours > 24*31 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "hours: want 1–744", "field": "hours"})
		return
	}
	now := time.Now().UTC()
	from := now.Add(-time.Duration(hours) * time.Hour)
	ctx := r.Context()
	items := []TimelineItem{}
	ds, err := c.o.Store.QueryDecisions(ctx, store.DecisionQuery{Tenant: tenant, Extension: ext, From: from, Limit: 2000})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	for _, d := range ds {
		items = append(items, TimelineItem{Time: d.Time, Kind: "call", Action: d.Action, CallID: d.CallID, Risk: d.Risk, Text: fmt.Sprintf("%s → %s (%s)", d.Tenant+"/"+d.Extension, d.E164, d.Country)})
	}
	as, err := c.o.Store.ListAlerts(ctx, store.AlertQuery{Tenant: tenant, Since: from, Limit: 1000})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	for _, a := range as {
		if a.Extension == ext && (tenant == "" || a.Tenant == tenant) {
			items = append(items, TimelineItem{Time: a.Time, Kind: "alert", Action: a.Severity, Text: a.Code + ": " + a.Text})
		}
	}
	es, err := c.o.Store.ListAudit(ctx, from, 10000)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	for _, e := range es {
		var b store.Block
		if !strings.HasPrefix(e.Action, "block.") || json.Unmarshal(e.Details, &b) != nil {
			continue
		}
		if b.Kind == store.BlockExtension && b.Value == ext && (tenant == "" || b.Tenant == tenant) {
			items = append(items, TimelineItem{Time: e.Time, Kind: "action", Action: e.Action, Text: fmt.Sprintf("%s by %s: %s", e.Action, e.Actor, b.Reason)})
		}
	}
	sortItems(items)
	writeJSON(w, http.StatusOK, map[string]any{"tenant": tenant, "extension": ext, "from": from, "to": now, "items": items, "svg": TimelineSVG(items, from, now)})
}

func sortItems(items []TimelineItem) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].Time.Before(items[j-1].Time); j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

// TimelineSVG draws calls (by verdict), alerts and actions as three lanes
// on one time axis.
func TimelineSVG(items []TimelineItem, from, to time.Time) string {
	const w, h, left = 720, 130, 70
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return left + (w-left-10)*t.Sub(from).Seconds()/span }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="tl-title" class="chart"><title id="tl-title">Timeline: %d calls, alerts and actions</title>`, w, h, len(items))
	lanes := map[string]int{"call": 25, "alert": 60, "action": 95}
	for name, y := range lanes {
		fmt.Fprintf(&b, `<text x="4" y="%d" font-size="12" fill="#3a3f45">%ss</text><line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#d0d4d9"/>`, y+4, name, left, w-10, y, y)
	}
	for _, it := range items {
		xx := x(it.Time)
		y := lanes[it.Kind]
		tip := html.EscapeString(it.Time.Format("2006-01-02 15:04:05") + " " + it.Text)
		switch it.Kind {
		case "call":
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="4" fill="%s"><title>%s: %s</title></circle>`, xx, y, verdictColour[verdictIndex(it.Action)], html.EscapeString(it.Action), tip)
		case "alert":
			fmt.Fprintf(&b, `<path d="M%.1f %dl6 10h-12z" fill="#c62828"><title>%s</title></path>`, xx, y-6, tip)
		default:
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="8" height="8" transform="rotate(45 %.1f %d)" fill="#1565c0"><title>%s</title></rect>`, xx-4, y-4, xx, y, tip)
		}
	}
	for i := 0; i <= 4; i++ {
		t := from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / 4))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#3a3f45">%s</text>`, x(t), h-4, t.Format("01-02 15:04"))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func (c *Console) mfaNew(w http.ResponseWriter, r *http.Request) {
	u := current(r).user
	secret, err := auth.NewSecret()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	t := auth.TOTP{Secret: secret}
	uri := t.URI(c.o.Auth.Policy.Issuer, u.Name)
	svg, err := auth.QRSVG(uri, "QR code to scan with an authenticator app")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": auth.EncodeSecret(secret), "uri": uri, "qr_svg": svg})
}

// mfaSet enrols a new TOTP secret once the user proves their app has it
// and proves it is them: their password and, when a second factor is
// already set up, a current code from it. A session alone is not enough
// to replace the second factor.
func (c *Console) mfaSet(w http.ResponseWriter, r *http.Request) {
	u := current(r).user
	var q struct {
		Secret      string `json:"secret"`
		Code        string `json:"code"`
		Password    string `json:"password"`
		CurrentCode string `json:"current_code"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "want JSON {secret, code, password, current_code}")
		return
	}
	if q.Password == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "your password is required to change two-factor authentication", "field": "password"})
		return
	}
	if u.MFA() && q.CurrentCode == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "a code from your current authenticator is required to replace it", "field": "current_code"})
		return
	}
	secret, err := auth.DecodeSecret(q.Secret)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": "secret"})
		return
	}
	t := auth.TOTP{Secret: secret}
	if _, ok := t.Verify(q.Code, time.Now(), 0); !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "that code does not match: check the app's clock and try the next code", "field": "code"})
		return
	}
	err = c.o.Auth.ReplaceTOTP(r.Context(), u.Name, q.Password, q.CurrentCode, c.clientIP(r), secret)
	switch {
	case errors.Is(err, auth.ErrBadLogin):
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "wrong password or current code", "field": "password"})
		return
	case errors.Is(err, auth.ErrThrottled):
		writeError(w, http.StatusTooManyRequests, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"mfa": true})
}

func (c *Console) users(w http.ResponseWriter, r *http.Request) {
	if _, ok := unscopedOnly(w, r, current(r).user); !ok {
		return
	}
	us, err := c.o.Auth.Store.Users(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := make([]map[string]any, 0, len(us))
	for _, u := range us {
		out = append(out, map[string]any{"name": u.Name, "role": u.Role, "tenant": u.Tenant, "mfa": u.MFA(), "failed_logins": u.Failed, "locked_until": u.LockedUntil, "created": u.Created})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

// addUser creates a user with a TOTP secret and shows its QR code once,
// for the admin to hand over.
func (c *Console) addUser(w http.ResponseWriter, r *http.Request) {
	admin := current(r).user
	if _, ok := unscopedOnly(w, r, admin); !ok {
		return
	}
	var q struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Tenant   string `json:"tenant"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8192))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		writeError(w, http.StatusBadRequest, "want JSON {name, role, tenant, password}")
		return
	}
	if q.Tenant != "" && c.o.Engine != nil {
		if _, err := c.o.Engine.Tenant(q.Tenant); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": "tenant"})
			return
		}
	}
	secret, err := auth.NewSecret()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	u := auth.User{Name: q.Name, Role: auth.Role(q.Role), Tenant: q.Tenant, TOTPSecret: secret}
	if err := c.o.Auth.AddUser(r.Context(), "user:"+admin.Name, u, q.Password); err != nil {
		writeError(w, kindStatus(err, http.StatusBadRequest), err.Error())
		return
	}
	uri := (&auth.TOTP{Secret: secret}).URI(c.o.Auth.Policy.Issuer, u.Name)
	svg, _ := auth.QRSVG(uri, "QR code for "+u.Name+"'s authenticator app")
	writeJSON(w, http.StatusCreated, map[string]any{"name": u.Name, "secret": auth.EncodeSecret(secret), "uri": uri, "qr_svg": svg})
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request) {
	admin := current(r).user
	if _, ok := unscopedOnly(w, r, admin); !ok {
		return
	}
	name := r.PathValue("name")
	if name == admin.Name {
		writeError(w, http.StatusBadRequest, "you cannot delete yourself")
		return
	}
	if err := c.o.Auth.DeleteUser(r.Context(), "user:"+admin.Name, name); err != nil {
		writeError(w, kindStatus(err, http.StatusServiceUnavailable), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}

// kindStatus is the status of err's kind (errkind.HTTPStatus: a name
// taken 409, an unknown one 404…), or fallback for an error without one.
func kindStatus(err error, fallback int) int {
	if code, ok := errkind.HTTPStatus(err); ok {
		return code
	}
	return fallback
}
