//go:build asterisk

// Package asterisk tests tollgate against a real Asterisk 22 started by
// the test: outbound screening through tollgate's FastAGI server with the
// shipped dialplan (deploy/asterisk), live CDRs from cdr_csv into the
// detectors, and Asterisk's security log into the attack guard. SIPp is
// the phone, the carrier and the password guesser, all on loopback.
//
// It needs TOLLGATE_ASTERISK=PREFIX (an installed Asterisk; see
// scripts/test-asterisk.sh, which builds one) and sipp. Run it with
// scripts/test-asterisk.sh, or go test -tags asterisk ./test/asterisk.
// Without TOLLGATE_ASTERISK it fails: it is never silently skipped.
package asterisk

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/agi"
	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

const adminToken = "tg_asterisk-test-admin"

// policy: tenant acme (US) may call the US and the UK, France only with a
// PIN, nothing else; international calls last at most 2 s.
const policy = `
server:
  tokens:
    - {name: admin, role: admin, secret_env: TOLLGATE_TEST_ADMIN_TOKEN}
asterisk:
  agi_listen: 127.0.0.1:%d
  pins:
    "acme/1001": "%s"
attack:
  max_failures: 3
  logs:
    - {path: %s, format: asterisk}
detectors:
  off_hours_international: {enabled: false}
  follow:
    - {path: %s, format: asterisk, timezone: UTC, poll_ms: 100}
allow_unknown_tenants: false
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow, "33": auth}
  hours:
    after_hours_international: allow
    night_international: allow
tenants:
  acme:
    limits:
      account: {max_call_duration_intl: 2}
`

type rig struct {
	t        *testing.T
	dir      string
	prefix   string
	sipp     string
	astPort  int
	uasMsgs  string
	cdrFile  string
	secLog   string
	srv      *cli.Server
	astConf  string
	ast      *testenv.Proc
	messages string
}

func newRig(t *testing.T) *rig {
	prefix := os.Getenv("TOLLGATE_ASTERISK")
	if prefix == "" {
		t.Fatal("TOLLGATE_ASTERISK is not set: this suite needs an installed Asterisk 22 (run scripts/test-asterisk.sh, which builds one)")
	}
	if _, err := os.Stat(filepath.Join(prefix, "sbin", "asterisk")); err != nil {
		t.Fatalf("TOLLGATE_ASTERISK=%s: %v", prefix, err)
	}
	sipp := testenv.SIPp(t)
	// Unix socket paths are short: keep the directory short too.
	dir, err := os.MkdirTemp("", "tgast")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("Asterisk files kept in %s", dir)
		}
	})
	r := &rig{t: t, dir: dir, prefix: prefix, sipp: sipp, astPort: testenv.FreePort(t)}
	for _, d := range []string{"etc", "lib", "spool", "run", "log/cdr-csv", "agi"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.cdrFile = filepath.Join(dir, "log/cdr-csv/Master.csv")
	r.secLog = filepath.Join(dir, "log/security")
	r.messages = filepath.Join(dir, "log/messages")

	// tollgate
	t.Setenv("TOLLGATE_TEST_ADMIN_TOKEN", adminToken)
	pinHash, err := agi.HashPIN("4711")
	if err != nil {
		t.Fatal(err)
	}
	agiPort := testenv.FreePort(t)
	cfg, err := config.Parse("asterisk-rig.yaml", []byte(fmt.Sprintf(policy, agiPort, pinHash, r.secLog, r.cdrFile)))
	if err != nil {
		t.Fatal(err)
	}
	r.srv, err = cli.Start(context.Background(), cli.Options{Config: cfg, DataDir: filepath.Join(dir, "tollgate-data"), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.srv.Shutdown(ctx)
	})

	// the carrier: a SIPp UAS answering every call
	uasPort := testenv.FreePort(t)
	r.uasMsgs = filepath.Join(dir, "uas-msgs.log")
	testenv.StartSIPpUAS(t, dir, "testdata/sipp/uas.xml", uasPort, "-trace_msg", "-message_file", r.uasMsgs)

	// Asterisk, with the shipped dialplan included as operators do
	deploy := abs(t, "../../deploy/asterisk")
	files := map[string]string{
		"asterisk.conf": fmt.Sprintf(`[directories]
astetcdir => %[1]s/etc
astmoddir => %[2]s/lib/asterisk/modules
astvarlibdir => %[1]s/lib
astdbdir => %[1]s/lib
astkeydir => %[1]s/lib
astdatadir => %[2]s/var/lib/asterisk
astagidir => %[1]s/agi
astspooldir => %[1]s/spool
astrundir => %[1]s/run
astlogdir => %[1]s/log
astsbindir => %[2]s/sbin

[options]
verbose = 3
`, dir, prefix),
		"modules.conf": "[modules]\nautoload=yes\n",
		"logger.conf":  readFile(t, filepath.Join(deploy, "logger.conf")),
		"cdr.conf":     readFile(t, filepath.Join(deploy, "cdr.conf")),
		"pjsip.conf": fmt.Sprintf(`[transport-udp]
type=transport
protocol=udp
bind=127.0.0.1:%d

; the phone placing calls: identified by its address
[1001]
type=endpoint
context=phones
accountcode=acme
dtmf_mode=info
direct_media=no
disallow=all
allow=ulaw
[1001-identify]
type=identify
endpoint=1001
match=127.0.0.4

; a phone whose calls bypass screening (only the CDR tells tollgate)
[1002]
type=endpoint
context=unscreened
accountcode=acme
direct_media=no
disallow=all
allow=ulaw
[1002-identify]
type=identify
endpoint=1002
match=127.0.0.6

; an account password guessers attack
[2001]
type=endpoint
context=phones
auth=2001-auth
aors=2001
disallow=all
allow=ulaw
[2001-auth]
type=auth
auth_type=userpass
username=2001
password=the-right-one
[2001]
type=aor
max_contacts=1

[carrier]
type=endpoint
context=from-carrier
direct_media=no
disallow=all
allow=ulaw
aors=carrier
[carrier]
type=aor
contact=sip:127.0.0.1:%d
`, r.astPort, uasPort),
		"extensions.conf": fmt.Sprintf(`[globals]
TOLLGATE_AGI=agi://127.0.0.1:%d
TOLLGATE_TRUNK=carrier

[phones]
include => tollgate-outbound

[unscreened]
exten => _X.,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()

[from-carrier]

#include "%s/extensions_tollgate.conf"
`, agiPort, deploy),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r.astConf = filepath.Join(dir, "etc", "asterisk.conf")
	ast := filepath.Join(prefix, "sbin", "asterisk")
	r.ast = testenv.StartProc(t, dir, ast, "-C", r.astConf, "-f", "-n", "-q")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(ast, "-C", r.astConf, "-rx", "core waitfullybooted").CombinedOutput()
		if err == nil && strings.Contains(string(out), "fully booted") {
			break
		}
		select {
		case <-r.ast.Done:
			t.Fatalf("asterisk exited:\n%s", testenv.Tail(r.ast.Output(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("asterisk not fully booted after 30 s: %s %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

func abs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sipp runs one SIPp client scenario from src against Asterisk; ok is
// its exit status 0 (every expected message arrived).
func (r *rig) sippRun(src, scenario string, extra []string, rows ...string) (bool, string) {
	r.t.Helper()
	inf := filepath.Join(r.dir, fmt.Sprintf("rows-%d.csv", time.Now().UnixNano()))
	os.WriteFile(inf, []byte("SEQUENTIAL\n"+strings.Join(rows, "\n")+"\n"), 0o600)
	msgs := inf + ".msgs"
	args := append([]string{"-sf", abs(r.t, filepath.Join("testdata/sipp", scenario)), "-inf", inf, "-i", src, "-p", fmt.Sprint(testenv.FreePort(r.t)), "-recv_timeout", "10000",
		"-m", fmt.Sprint(len(rows)), "-l", "1", "-r", "5", "-timeout", "40s", "-nostdin", "-trace_msg", "-message_file", msgs},
		extra...)
	args = append(args, fmt.Sprintf("127.0.0.1:%d", r.astPort))
	cmd := exec.Command(r.sipp, args...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	m, _ := os.ReadFile(msgs)
	return err == nil, string(out) + "\n" + string(m)
}

func (r *rig) api(path string, v any) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+r.srv.Addr.String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		r.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		r.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

// cdrs returns Master.csv's rows for dst.
func (r *rig) cdrs(dst string) [][]string {
	b, _ := os.ReadFile(r.cdrFile)
	rows, _ := csv.NewReader(bytes.NewReader(b)).ReadAll()
	var out [][]string
	for _, row := range rows {
		if len(row) > 14 && row[2] == dst {
			out = append(out, row)
		}
	}
	return out
}

func (r *rig) carrierGot(number string) bool {
	b, _ := os.ReadFile(r.uasMsgs)
	return bytes.Contains(b, []byte("INVITE sip:"+number+"@"))
}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAsterisk(t *testing.T) {
	r := newRig(t)

	t.Run("unscreened call reaches the detectors through its CDR", func(t *testing.T) {
		// Phone 1002's context does not screen: tollgate learns of the
		// call only from cdr_csv's Master.csv, which it follows. This runs
		// first, so nothing else can have fed the detectors.
		var before struct {
			Stats struct{ Observed, Attempts, Rejected int64 }
		}
		r.api("/v1/detection", &before)
		if before.Stats.Observed != 0 {
			t.Fatalf("detectors observed %d calls before any call", before.Stats.Observed)
		}
		ok, trace := r.sippRun("127.0.0.6", "uac_wait_bye.xml", nil, "1002;011442079460009;-;-;-;-")
		if !ok {
			t.Fatalf("unscreened call failed:\n%s", testenv.Tail(trace, 3000))
		}
		waitFor(t, "Asterisk wrote no CDR for 011442079460009", 5*time.Second, func() bool { return len(r.cdrs("011442079460009")) == 1 })
		var after struct {
			Stats struct{ Observed int64 }
		}
		waitFor(t, "the CDR did not reach the detectors (GET /v1/detection observed stayed 0)", 10*time.Second, func() bool {
			r.api("/v1/detection", &after)
			return after.Stats.Observed >= 1
		})
		var ds struct {
			Decisions []struct {
				Callee string `json:"callee"`
			} `json:"decisions"`
		}
		r.api("/v1/decisions?limit=100", &ds)
		for _, d := range ds.Decisions {
			if d.Callee == "011442079460009" {
				t.Errorf("the unscreened call has a screening decision: it was screened after all")
			}
		}
	})

	t.Run("call to a blocked destination is rejected with cause 21 (403)", func(t *testing.T) {
		ok, trace := r.sippRun("127.0.0.4", "uac_reject.xml", nil, "1001;0112526123456")
		if !ok {
			t.Fatalf("the phone got no 403 for a call to Somalia:\n%s", testenv.Tail(trace, 3000))
		}
		if r.carrierGot("0112526123456") {
			t.Error("the rejected call reached the carrier")
		}
		// tollgate's decision names Asterisk's identity of the caller
		var ds struct {
			Decisions []struct {
				CallID    string `json:"call_id"`
				Tenant    string `json:"tenant"`
				Extension string `json:"extension"`
				Callee    string `json:"callee"`
				Action    string `json:"action"`
				SourceIP  string `json:"source_ip"`
			} `json:"decisions"`
		}
		// the decision log is written in batches: wait for it
		found := false
		waitFor(t, "no decision for the blocked call in GET /v1/decisions", 5*time.Second, func() bool {
			r.api("/v1/decisions?number=0112526123456", &ds)
			return len(ds.Decisions) > 0
		})
		for _, d := range ds.Decisions {
			if d.Callee == "0112526123456" {
				found = true
				if d.Tenant != "acme" || d.Extension != "1001" || d.Action != "reject" || d.SourceIP != "127.0.0.4" {
					t.Errorf("decision %+v: want tenant acme, extension 1001, action reject, source 127.0.0.4", d)
				}
			}
		}
		if !found {
			t.Errorf("no decision for the blocked call in %+v", ds.Decisions)
		}
	})

	t.Run("allowed call is cut by Asterisk at max_duration_s", func(t *testing.T) {
		// UK calls of acme last at most 2 s; neither SIPp end hangs up.
		ok, trace := r.sippRun("127.0.0.4", "uac_wait_bye.xml", nil, "1001;011442079460001;-;-;-;-")
		if !ok {
			t.Fatalf("the phone got no BYE from Asterisk:\n%s", testenv.Tail(trace, 3000))
		}
		if !r.carrierGot("011442079460001") {
			t.Fatal("the allowed call never reached the carrier")
		}
		var rows [][]string
		waitFor(t, "no CDR for the UK call", 5*time.Second, func() bool { rows = r.cdrs("011442079460001"); return len(rows) > 0 })
		// Asterisk's own record: answered, billed 2 s (Dial's L(2000)).
		row := rows[0]
		if row[14] != "ANSWERED" || (row[13] != "2" && row[13] != "1" && row[13] != "3") {
			t.Errorf("CDR %q: want ANSWERED with billsec about 2", row)
		}
		if !strings.Contains(row[8], "L(2000)") {
			t.Errorf("Dial ran without L(2000): lastdata %q", row[8])
		}
	})

	t.Run("PIN challenge: right PIN dials, wrong PIN does not", func(t *testing.T) {
		ok, trace := r.sippRun("127.0.0.4", "uac_wait_bye.xml", nil, "1001;01133149600001;4;7;1;1")
		if !ok {
			t.Fatalf("challenged call with the right PIN did not complete:\n%s", testenv.Tail(trace, 3000))
		}
		if !r.carrierGot("01133149600001") {
			t.Errorf("the right PIN did not let the call through to the carrier")
		}
		ok, trace = r.sippRun("127.0.0.4", "uac_wait_bye.xml", nil, "1001;01133149600002;1;2;3;4")
		if !ok {
			t.Fatalf("challenged call with a wrong PIN was not hung up:\n%s", testenv.Tail(trace, 3000))
		}
		if r.carrierGot("01133149600002") {
			t.Errorf("a wrong PIN let the call through to the carrier")
		}
	})

	t.Run("three wrong-password REGISTERs ban the source", func(t *testing.T) {
		ok, trace := r.sippRun("127.0.0.5", "register_wrong.xml", []string{"-au", "2001", "-ap", "guess"}, "2001", "2001", "2001")
		if !ok {
			t.Fatalf("the guesser's REGISTERs did not each get 401:\n%s", testenv.Tail(trace, 3000))
		}
		// Asterisk 22 logs the wrong password as ChallengeResponseFailed.
		waitFor(t, "no ChallengeResponseFailed in Asterisk's security log", 5*time.Second, func() bool {
			b, _ := os.ReadFile(r.secLog)
			return bytes.Count(b, []byte(`SecurityEvent="ChallengeResponseFailed"`)) >= 3
		})
		var bans struct {
			Bans []struct {
				IP string `json:"ip"`
			} `json:"bans"`
		}
		var raw map[string]any
		waitFor(t, "127.0.0.5 not in GET /v1/bans", 10*time.Second, func() bool {
			r.api("/v1/bans", &raw)
			b, _ := json.Marshal(raw)
			_ = json.Unmarshal(b, &bans)
			return bytes.Contains(b, []byte(`"127.0.0.5"`))
		})
		b, _ := json.Marshal(raw)
		if bytes.Contains(b, []byte(`"127.0.0.4"`)) {
			t.Errorf("the phone's address was banned too: %s", b)
		}
	})
}

// TestSamplePolicy: the policy sample operators copy is valid.
func TestSamplePolicy(t *testing.T) {
	b, err := os.ReadFile("../../deploy/asterisk/tollgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("deploy/asterisk/tollgate.yaml", b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Asterisk.AGIListen == "" || len(cfg.Detect.Follow) != 1 || len(cfg.Attack.Logs) != 1 {
		t.Errorf("sample lost its Asterisk keys: %+v", cfg.Asterisk)
	}
	if h := cfg.Asterisk.PINs["acme/1001"]; !agi.VerifyPIN(h, "4711") {
		t.Errorf("the sample's PIN hash is not the 4711 its comment says")
	}
}
