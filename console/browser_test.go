package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/store"
)

var updateShots = flag.Bool("update-screenshots", false, "write the screenshots to docs/img (the README shows them)")

const policy = `
server: {node: browser-test}
defaults: {country: US, timezone: America/New_York, on_error: fail_closed,
  destinations: {default: deny, countries: {"44": auth, "49": allow, "252": block}}}
tenants:
  acme: {}
  beta: {}
`

// serverUnderTest is a real tollgate (cli.Start) on loopback with two
// console users made by the real CLI.
type serverUnderTest struct {
	base    string
	token   string
	srv     *cli.Server
	secrets map[string][]byte
	dir     string
}

func startServer(t *testing.T) *serverUnderTest {
	t.Helper()
	cfg, err := config.Parse("policy.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := cli.Start(context.Background(), cli.Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0", Logger: log, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	s := &serverUnderTest{base: "http://" + srv.Addr.String(), srv: srv, secrets: map[string][]byte{}, dir: dir}
	if m := regexp.MustCompile(`TOLLGATE_TOKEN=(tg_\S+)`).FindStringSubmatch(out.String()); m != nil {
		s.token = m[1]
	} else {
		t.Fatalf("no admin token printed: %s", out.String())
	}
	if !strings.Contains(out.String(), "Operator console: "+s.base+"/ui/") {
		t.Errorf("serve did not print the console URL: %s", out.String())
	}
	for _, u := range [][]string{{"alice", "admin"}, {"victor", "viewer"}} {
		t.Setenv("TOLLGATE_PASSWORD", "pw of "+u[0]+" is long")
		var o, e bytes.Buffer
		if code := cli.Main([]string{"user", "add", u[0], "-role", u[1], "-data", dir}, strings.NewReader(""), &o, &e); code != 0 {
			t.Fatalf("tollgate user add %s: exit %d: %s", u[0], code, e.String())
		}
		m := regexp.MustCompile(`enter the key by hand: ([A-Z2-7]+)`).FindStringSubmatch(o.String())
		if m == nil {
			t.Fatalf("user add printed no key: %s", o.String())
		}
		if s.secrets[u[0]], err = auth.DecodeSecret(m[1]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *serverUnderTest) api(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (s *serverUnderTest) code(user string) string {
	return (&auth.TOTP{Secret: s.secrets[user]}).At(time.Now())
}

func browser(t *testing.T) context.Context {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not installed (scripts/test.sh installs Debian's chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 100*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(".error")].map(e => e.id + "=" + e.textContent).join("; ")`))
		t.Fatalf("%s: %v (page errors: %s)", what, err, state)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// clearInputs empties the login form.
var clearInputs = chromedp.Evaluate[chromedp.Void](`for (const i of ["login-user", "login-password", "login-code"]) document.getElementById(i).value = ""`)

// waitJS waits until the expression is truthy.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(10*time.Second))
}

// shot saves a screenshot; with -update-screenshots into docs/img.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	buf := get(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil || img.Bounds().Dx() < 800 {
		t.Fatalf("screenshot %s is not a proper PNG: %v", name, err)
	}
	dir := t.TempDir()
	if *updateShots {
		dir = filepath.Join("..", "docs", "img")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func login(t *testing.T, ctx context.Context, s *serverUnderTest, user string) {
	t.Helper()
	run(t, ctx, "login "+user,
		chromedp.WaitVisible(chromedp.ID("login-user")),
		clearInputs,
		chromedp.SendKeys(chromedp.ID("login-user"), user),
		chromedp.SendKeys(chromedp.ID("login-password"), "pw of "+user+" is long"),
		chromedp.SendKeys(chromedp.ID("login-code"), s.code(user)),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
}

// TestBrowser drives Debian's Chromium against a real tollgate serve:
// TOTP login, a burst whose alert appears live, the kill switch set and
// released through its confirmation dialog, and a viewer who can change
// nothing. It also checks accessibility basics and takes the screenshots
// the README shows.
func TestBrowser(t *testing.T) {
	s := startServer(t)
	ctx := browser(t)

	// A wrong code is refused and says so.
	run(t, ctx, "open", chromedp.Navigate(s.base+"/"), chromedp.WaitVisible(chromedp.ID("login-user")))
	shot(t, ctx, "console-login.png")
	run(t, ctx, "bad login",
		chromedp.SendKeys(chromedp.ID("login-user"), "alice"),
		chromedp.SendKeys(chromedp.ID("login-password"), "pw of alice is long"),
		chromedp.SendKeys(chromedp.ID("login-code"), wrongCode(s.code("alice"))),
		chromedp.Click(chromedp.ID("login-submit")),
	)
	msg := get(t, ctx, "login error", chromedp.Poll[string](`document.getElementById("login-error").textContent`, chromedp.WithPollingTimeout(5*time.Second)))
	if !strings.Contains(msg, "wrong user name, password or code") {
		t.Errorf("login error = %q", msg)
	}
	login(t, ctx, s, "alice")
	role := get(t, ctx, "role", chromedp.Text(chromedp.ID("who-role")))
	if role != "admin" {
		t.Errorf("role shown = %q, want admin", role)
	}

	t.Run("accessibility", func(t *testing.T) { accessibility(t, ctx) })

	// A burst of international calls from one extension: the detectors
	// raise an alert, and the open page shows it without a reload.
	for i := range 12 {
		callee := fmt.Sprintf("+4420794600%02d", 10+i)
		if i%3 == 2 {
			callee = fmt.Sprintf("+25261234%04d", i)
		}
		code, out := s.api(t, "POST", "/v1/screen", map[string]any{"call_id": fmt.Sprintf("burst-%d", i), "tenant": "acme", "extension": "1001", "caller": "+12125550100", "callee": callee})
		if code != 200 {
			t.Fatalf("screen: %d %v", code, out)
		}
	}
	run(t, ctx, "alert appears live", chromedp.WaitVisible(chromedp.CSS("#live-alerts li")))
	alertText := get(t, ctx, "alert text", chromedp.Text(chromedp.CSS("#live-alerts li")))
	as, err := s.srv.Store.ListAlerts(context.Background(), store.AlertQuery{Status: "open"})
	if err != nil || len(as) == 0 {
		t.Fatalf("store has no open alert (%v) but the page shows %q", err, alertText)
	}
	found := false
	for _, a := range as {
		found = found || strings.Contains(alertText, a.Code) && strings.Contains(alertText, a.Text)
	}
	if !found {
		t.Errorf("the page's alert %q is none of the store's %+v", alertText, as)
	}
	run(t, ctx, "chart", waitJS(`document.querySelector("#c-minute").textContent !== "0" && document.querySelectorAll("#chart rect").length > 0 && document.querySelectorAll("#dest-rows tr").length >= 2`))
	minute := get(t, ctx, "calls last minute", chromedp.Text(chromedp.ID("c-minute")))
	if minute != "12" {
		t.Errorf("calls in the last minute = %s, want 12", minute)
	}
	shot(t, ctx, "console-live.png")

	// Acknowledge the alert from the live view.
	// More alerts may arrive meanwhile and reorder the list: click the
	// button of the alert the test knows about.
	ackID := as[len(as)-1].ID
	sel := fmt.Sprintf(`#live-alerts li[data-alert="%d"] button`, ackID)
	run(t, ctx, "acknowledge", chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	waitStatus(t, s, ackID, "acknowledged")

	// Kill switch: confirm, see it active, calls refused; release it.
	run(t, ctx, "kill switch dialog",
		chromedp.Click(chromedp.ID("tab-kill")),
		chromedp.SendKeys(chromedp.ID("k-tenant"), "acme"),
		chromedp.SendKeys(chromedp.ID("k-reason"), "IRSF burst on 1001"),
		chromedp.Click(chromedp.ID("kill-activate")),
		chromedp.WaitVisible(chromedp.CSS("#confirm[open]")),
	)
	shot(t, ctx, "console-killswitch.png")
	run(t, ctx, "kill switch on",
		chromedp.Click(chromedp.ID("confirm-yes")),
		waitJS(`(document.querySelector('tr[data-kill="acme"]')||{}).textContent?.includes("ACTIVE") && !document.getElementById("kill-banner").hidden`),
	)
	if reason := screenReason(t, s, "ks-1"); !strings.Contains(reason, "kill") {
		t.Errorf("a call during the kill switch: reason %q, want the kill switch", reason)
	}
	// The live stream re-renders the kill-switch table every two seconds:
	// find and click its button in one evaluation, so a re-render between
	// the two cannot leave the click a node that is gone.
	run(t, ctx, "kill switch release",
		waitJS(`(() => { const b = document.querySelector('tr[data-kill="acme"] button'); if (b) b.click(); return !!b; })()`),
		chromedp.WaitVisible(chromedp.CSS("#confirm[open]")),
		chromedp.Click(chromedp.ID("confirm-yes")),
		waitJS(`(document.querySelector('tr[data-kill="acme"]')||{}).textContent?.includes("released")`),
	)
	if reason := screenReason(t, s, "ks-2"); strings.Contains(reason, "kill") {
		t.Errorf("after release the kill switch still refuses calls: %q", reason)
	}
	es, _ := s.srv.Store.ListAudit(context.Background(), time.Time{}, 1000)
	var trail []string
	for _, e := range es {
		if e.Actor == "user:alice" {
			trail = append(trail, e.Action)
		}
	}
	if got := strings.Join(trail, ","); got != "login.failed,login,alert.acknowledged,killswitch.set,killswitch.set" {
		t.Errorf("alice's audit trail = %s", got)
	}
	if err := s.srv.Store.VerifyAudit(context.Background()); err != nil {
		t.Error(err)
	}

	// The viewer sees everything and can change nothing.
	run(t, ctx, "logout", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-user")))
	login(t, ctx, s, "victor")
	run(t, ctx, "viewer controls",
		chromedp.WaitVisible(chromedp.ID("live-alerts")),
		waitJS(`document.querySelectorAll("#dest-rows tr").length > 0`),
		chromedp.Click(chromedp.ID("tab-blocks")),
		waitJS(`document.querySelectorAll("#block-rows tr").length > 0`),
	)
	controls := get(t, ctx, "count controls", chromedp.Evaluate[int](`[...document.querySelectorAll("#block-form, #kill-form, #tab-users, #tab-audit")].filter(e => e.offsetParent !== null).length +
			[...document.querySelectorAll("main button")].filter(b => b.offsetParent !== null && /Release|Acknowledge|Resolve|Add|Activate|Delete/.test(b.textContent)).length`))
	if controls != 0 {
		t.Errorf("the viewer sees %d controls that change state", controls)
	}
	shot(t, ctx, "console-viewer.png")
	status := get(t, ctx, "viewer API", chromedp.Evaluate[int](`(async () => {
		const me = await (await fetch("/ui/api/me")).json();
		const r = await fetch("/ui/api/v1/killswitch", {method: "POST", headers: {"X-CSRF-Token": me.csrf, "Content-Type": "application/json"}, body: JSON.stringify({tenant: "acme", active: true, reason: "viewer"})});
		return r.status; })()`, chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("viewer POST killswitch = %d, want 403", status)
	}
	ks, _ := s.srv.Store.KillSwitches(context.Background())
	for _, k := range ks {
		if k.Active {
			t.Errorf("kill switch %+v active after the viewer's attempt", k)
		}
	}
	// Without the CSRF token even an admin's session cannot change anything.
	csrfStatus := get(t, ctx, "no csrf", chromedp.Evaluate[int](`(async () => (await fetch("/ui/api/v1/blocks", {method: "POST", body: "{}"})).status)()`, chromedp.EvalAwaitPromise))
	if csrfStatus != http.StatusForbidden {
		t.Errorf("POST without CSRF token = %d, want 403", csrfStatus)
	}
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "tollgate_session" && (!c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict) {
			t.Errorf("session cookie flags: HttpOnly %v Secure %v SameSite %v", c.HTTPOnly, c.Secure, c.SameSite)
		}
	}
}

func wrongCode(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func waitStatus(t *testing.T, s *serverUnderTest, id int64, want string) {
	t.Helper()
	for range 50 {
		as, _ := s.srv.Store.ListAlerts(context.Background(), store.AlertQuery{})
		for _, a := range as {
			if a.ID == id && a.Status == want {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("alert %d never became %s", id, want)
}

func screenReason(t *testing.T, s *serverUnderTest, id string) string {
	t.Helper()
	code, out := s.api(t, "POST", "/v1/screen", map[string]any{"call_id": id, "tenant": "acme", "extension": "2002", "caller": "+12125550100", "callee": "+4930123456"})
	if code != 200 {
		t.Fatalf("screen: %d %v", code, out)
	}
	r, _ := out["reason"].(string)
	return strings.ToLower(r) + " " + fmt.Sprint(out["reasons"])
}

// accessibility checks the basics: every form control has a label, the
// tabs work from the keyboard, the charts have text alternatives, and
// text on the page meets WCAG AA contrast (4.5:1).
func accessibility(t *testing.T, ctx context.Context) {
	unlabelled := get(t, ctx, "labels", chromedp.Evaluate[[]string](`[...document.querySelectorAll("input, select, textarea")].filter(e => e.labels.length === 0 && !e.getAttribute("aria-label")).map(e => e.id)`))
	if len(unlabelled) > 0 {
		t.Errorf("form controls without a label: %v", unlabelled)
	}
	run(t, ctx, "keyboard tabs", chromedp.Focus(chromedp.ID("tab-live")), chromedp.KeyEvent(kb.ArrowRight))
	selected := get(t, ctx, "focused tab", chromedp.Evaluate[string](`document.activeElement.id + ":" + document.activeElement.getAttribute("aria-selected") + ":" + document.getElementById("panel-alerts").hidden`))
	run(t, ctx, "back to Live", chromedp.KeyEvent(kb.ArrowLeft))
	if selected != "tab-alerts:true:false" {
		t.Errorf("ArrowRight from Live: %s, want tab-alerts selected and its panel shown", selected)
	}
	run(t, ctx, "chart alt", waitJS(`document.querySelector("#chart svg[role=img] title") !== null && document.querySelector("#chart svg desc").textContent.length > 20`))
	low := get(t, ctx, "contrast", chromedp.Evaluate[[]string](contrastJS))
	if len(low) > 0 {
		t.Errorf("text below 4.5:1 contrast: %v", low)
	}
}

// contrastJS lists visible text elements whose colour against their
// effective background is below WCAG AA's 4.5:1.
const contrastJS = `(() => {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  const out = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!e.offsetParent || ![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.push((e.id || e.tagName) + ":" + e.textContent.trim().slice(0, 20) + ":" + ratio.toFixed(2));
  }
  return out;
})()`
