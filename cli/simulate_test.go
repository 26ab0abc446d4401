package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/simulate"
)

// simPolicy returns the simulation's policy with its rate deck written
// into dir.
func simPolicy(t *testing.T, dir string) string {
	t.Helper()
	rates := filepath.Join(dir, "rates.csv")
	if err := os.WriteFile(rates, simulate.Rates, 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(simulate.Policy), "rate_deck: rates.csv", "rate_deck: "+rates, 1)
}

// TestSimulateAgainstServer is the done-when check: 'tollgate
// simulate -url' drives a real server (cli.Start on loopback) in simulated
// time — six tenants, eight extensions each, ten days with every labelled
// attack — and the attacks are stopped and alerted while legitimate
// traffic flows.
func TestSimulateAgainstServer(t *testing.T) {
	dir := t.TempDir()
	s, tok := start(t, filepath.Join(dir, "data"), simPolicy(t, dir))
	defer stop(t, s)
	base := "http://" + s.Addr.String()
	var out, errb bytes.Buffer
	if rc := Main([]string{"simulate", "-url", base, "-token", tok, "-tenants", "6", "-extensions", "8", "-days", "10", "-seed", "1", "-json"}, nil, &out, &errb); rc != 0 {
		t.Fatalf("simulate = %d: %s", rc, errb.String())
	}
	var tally map[string]Tally
	if err := json.Unmarshal(out.Bytes(), &tally); err != nil {
		t.Fatalf("simulate -json: %v\n%s", err, out.String())
	}
	t.Logf("tally: %+v", tally)
	// Which tenant each attack hits (simulate.attacks: tenant i for the
	// i-th attack).
	tenantOf := map[string]string{}
	for i, a := range simulate.Attacks {
		tenantOf[a] = fmt.Sprintf("t%02d", i)
	}
	for _, a := range simulate.Attacks {
		x := tally[a]
		if x.Stopped+x.Challenged == 0 {
			t.Errorf("%s: no call stopped (%+v)", a, x)
		}
	}
	// The attacks that make money by volume are mostly stopped, not only
	// touched.
	for _, a := range []string{simulate.WeekendIRSF, simulate.SlowDrip, simulate.OffHoursHack} {
		if x := tally[a]; x.Stopped+x.Challenged < 2*x.Through {
			t.Errorf("%s: %d calls through, %d stopped or challenged; want most stopped", a, x.Through, x.Stopped+x.Challenged)
		}
	}
	legit := tally[Legitimate]
	if legit.Through < 3000 || float64(legit.Stopped) > 0.01*float64(legit.Through+legit.Stopped) {
		t.Errorf("legitimate traffic: %+v; want thousands of calls, at most 1 %% stopped", legit)
	}
	c := &client{t: t, base: base, token: tok}
	// Every attacked tenant has a warning or critical alert; the wave has
	// its own.
	_, res := c.call("GET", "/v1/alerts?limit=1000", nil)
	alerts, _ := res["alerts"].([]any)
	serious := map[string][]string{}
	for _, x := range alerts {
		a := x.(map[string]any)
		if a["severity"] != "info" {
			serious[a["tenant"].(string)] = append(serious[a["tenant"].(string)], a["code"].(string))
		}
	}
	for _, a := range simulate.Attacks {
		if len(serious[tenantOf[a]]) == 0 {
			t.Errorf("%s: no warning or critical alert for tenant %s", a, tenantOf[a])
		}
	}
	if !strings.Contains(fmt.Sprint(serious[tenantOf[simulate.WangiriWave]]), "wangiri_wave") {
		t.Errorf("no wangiri_wave alert: %v", serious)
	}
	// The refusals are in the decision log, with the detectors' blocks as
	// their reasons.
	for _, a := range []string{simulate.WeekendIRSF, simulate.SlowDrip, simulate.WangiriWave} {
		_, res := c.call("GET", "/v1/decisions?action=reject&limit=500&from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z&tenant="+tenantOf[a], nil)
		ds, _ := res["decisions"].([]any)
		if len(ds) == 0 {
			t.Errorf("%s: no rejected decision for tenant %s", a, tenantOf[a])
			continue
		}
		if r := fmt.Sprint(ds); !strings.Contains(r, "blocklist") && !strings.Contains(r, "detected") {
			t.Errorf("%s: rejections not by the detectors' blocks or actions: %.400s", a, r)
		}
	}
	// Nothing was dropped or lost on the way.
	_, res = c.call("GET", "/v1/detection", nil)
	st, _ := res["stats"].(map[string]any)
	if st["dropped"] != 0.0 || st["errors"] != 0.0 || st["observed"].(float64) < float64(legit.Through) {
		t.Errorf("detection stats = %v", st)
	}
}

// TestReplayPrintsReport: 'tollgate replay' of an Asterisk Master.csv
// (the simulator's, with one malformed line spliced in) prints its
// report: counts, the malformed line by number, alerts, actions, the
// estimated fraud cost and the top lists.
func TestReplayPrintsReport(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(simPolicy(t, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := simulate.Generate(simulate.Options{Seed: 1, Tenants: 6, Exts: 8, Days: 10, Attacks: true})
	var b bytes.Buffer
	if err := simulate.WriteAsterisk(&b, calls); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(b.String(), "\n")
	csv := strings.Join(lines[:100], "") + "\"t00\",\"1001\",\"12125550100\",\"from-internal\",\"\",\"x\",\"\",\"Dial\",\"\",\"not a time\",\"\",\"\",1,1,\"ANSWERED\",\"DOCUMENTATION\",\"bad\",\"\"\n" + strings.Join(lines[100:], "")
	file := filepath.Join(dir, "Master.csv")
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if rc := Main([]string{"replay", "-config", pol, "-q", file}, nil, &out, &errb); rc != 0 {
		t.Fatalf("replay = %d: %s", rc, errb.String())
	}
	rep := out.String()
	t.Log("\n" + rep)
	for _, want := range []string{
		fmt.Sprintf("replayed   %d CDRs from 1 file(s)", len(calls)),
		fmt.Sprintf("malformed  1 of %d lines", len(calls)+1),
		"Master.csv:101: start: want YYYY-MM-DD HH:MM:SS, got \"not a time\"",
		"by code  call_forwarding 1,",
		"wangiri_callback 40",
		"wangiri_wave", "call_forwarding", "off_hours_international", "high_risk_country",
		"block            t00 extension:1007",
		"leaked over",
		"enforced   ",
		"top extensions (by cost)\n  ",
		"top international destinations (by cost)\n  ",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	var total, fraud float64
	var flagged int
	for _, l := range strings.Split(rep, "\n") {
		if strings.HasPrefix(l, "cost ") {
			if _, err := fmt.Sscanf(l, "cost       %f in total; %f leaked over %d flagged calls", &total, &fraud, &flagged); err != nil {
				t.Errorf("cost line %q: %v", l, err)
			}
		}
	}
	// What leaked is what the flagged calls cost as played: screening with
	// the detectors' actions stops the simulator's attack calls (since the
	// in-call cost per destination class and the night-range PINs, all of
	// them), so it is at most a small part of the total. That a leak is
	// counted when there is one is TestReplayGolden's (attackgen streams
	// with leaked > 0).
	if fraud < 0 || fraud > 0.05*total || total <= 0 || flagged < 20 {
		t.Errorf("leaked %.2f of %.2f over %d flagged calls; want at most 5 %% of the total over the attacks' calls", fraud, total, flagged)
	}
	if !strings.Contains(rep, "calls refused at their start") || strings.Contains(rep, "enforced   0 calls refused") {
		t.Errorf("the replay refused no call at its start:\n%s", rep)
	}
	// Without -q and stderr not a terminal (a log file, a journal): no
	// progress bar, no \r frames anywhere.
	out.Reset()
	errb.Reset()
	if rc := Main([]string{"replay", "-config", pol, file}, nil, &out, &errb); rc != 0 || strings.Contains(errb.String(), "\r") || strings.Contains(out.String(), "[###") {
		t.Errorf("replay, stderr not a terminal = %d; stderr %q", rc, errb.String())
	}
}

// TestSimulateHelpHidesToken: the API token taken from TOLLGATE_TOKEN is
// not the -token flag's default, which -h would print.
func TestSimulateHelpHidesToken(t *testing.T) {
	const tok = "tok-never-printed-42"
	t.Setenv("TOLLGATE_TOKEN", tok)
	var out, errb bytes.Buffer
	Main([]string{"simulate", "-h"}, nil, &out, &errb)
	if !strings.Contains(out.String()+errb.String(), "-token") {
		t.Fatalf("help lacks -token:\n%s%s", out.String(), errb.String())
	}
	if strings.Contains(out.String()+errb.String(), tok) {
		t.Errorf("help prints the token from TOLLGATE_TOKEN:\n%s%s", out.String(), errb.String())
	}
}
