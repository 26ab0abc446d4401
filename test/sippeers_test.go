// Package test holds end-to-end tests that start tollgate with real peers.
package test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cli"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// The SIP peer tests need Debian's kamailio (with kamailio-utils-modules)
// and sip-tester (sipp); scripts/test.sh installs them. When they are
// missing the tests fail, so CI cannot pass without running them. Set
// TOLLGATE_NO_SIP_PEERS=1 to skip them on a workstation without the peers.
func needPeers(t *testing.T) (kamailio, sipp string) {
	t.Helper()
	if os.Getenv("TOLLGATE_NO_SIP_PEERS") == "1" {
		t.Skip("TOLLGATE_NO_SIP_PEERS=1: SIP peer tests skipped")
	}
	var err error
	if kamailio, err = exec.LookPath("kamailio"); err != nil {
		if _, serr := os.Stat("/usr/sbin/kamailio"); serr != nil {
			t.Fatal("kamailio not installed (apt-get install kamailio kamailio-utils-modules; or TOLLGATE_NO_SIP_PEERS=1 to skip)")
		}
		kamailio = "/usr/sbin/kamailio"
	}
	if sipp, err = exec.LookPath("sipp"); err != nil {
		t.Fatal("sipp not installed (apt-get install sip-tester; or TOLLGATE_NO_SIP_PEERS=1 to skip)")
	}
	return kamailio, sipp
}

// waitUDP waits until something answers an OPTIONS on a UDP port.
func waitUDP(t *testing.T, p *testenv.Proc, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.Done:
			t.Fatalf("%s exited early:\n%s", p.Cmd.Path, testenv.Tail(p.Output(), 4000))
		default:
		}
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		lp := c.LocalAddr().(*net.UDPAddr).Port
		fmt.Fprintf(c, "OPTIONS sip:127.0.0.1:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-probe%d;rport\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\nTo: <sip:127.0.0.1:%d>\r\nCall-ID: probe-%d@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", port, lp, time.Now().UnixNano(), port, time.Now().UnixNano())
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 2048)
		_, err = c.Read(buf)
		c.Close()
		if err == nil {
			return
		}
	}
	t.Fatalf("nothing answers on udp port %d:\n%s", port, testenv.Tail(p.Output(), 4000))
}

// rig is tollgate behind Kamailio in front of a SIPp UAS.
type rig struct {
	t       *testing.T
	dir     string
	sipp    string
	srv     *cli.Server
	kamPort int
	uasPort int
	sipPort int
	// ctl is Kamailio's control socket (kamcmd -s), uasMsgs the UAS's
	// message log, subs the subscribers by SIP username.
	ctl     string
	uasMsgs string
	subs    map[string]subscriber
}

const kamToken = "tg_kamailio-test-secret"

// rigPolicy: the built-in policy's shape, with international calls allowed
// at any hour (verdicts must not depend on the clock) and a small limit.
const rigPolicy = `
server:
  tokens:
    - {name: kamailio, role: screen, secret_env: TOLLGATE_TEST_KAMAILIO_TOKEN}
sip:
  mode: redirect
  listen: [udp:127.0.0.1:%d]
  upstream: sip:127.0.0.1:%d
  map:
    extension_header: X-Extension
    source_ip_header: X-Source-IP
    trusted_proxies: [127.0.0.1]
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
  destinations:
    default: deny
    countries: {"1": allow, "44": allow, "252": block}
  hours:
    after_hours_international: allow
    night_international: allow
  limits:
    extension:
      international_calls_per_hour: 3
      concurrent_international: 2
# The off-hours detector reads the wall clock: off, so verdicts do not
# depend on when the test runs.
detectors:
  off_hours_international: {enabled: false}
`

// subscriber is a row of Kamailio's subscriber table: digest credentials
// and the tollgate identity the proxy derives from them (empty: the
// username, and tollgate's default tenant).
type subscriber struct {
	user, password, extension, tenant string
}

// rigOptions: the policy (a format taking the SIP listener's port, then
// the UAS's), Kamailio's subscribers and its trunks (source address →
// tenant).
type rigOptions struct {
	policy string
	subs   []subscriber
	trunks map[string]string
}

func newRig(t *testing.T) *rig {
	var subs []subscriber
	for _, u := range []string{"1001", "1002", "2001", "2002"} {
		subs = append(subs, subscriber{user: u, password: "pw-" + u})
	}
	return newRigWith(t, rigOptions{policy: rigPolicy, subs: subs})
}

func newRigWith(t *testing.T, o rigOptions) *rig {
	kamailio, sipp := needPeers(t)
	r := &rig{t: t, dir: t.TempDir(), sipp: sipp, kamPort: testenv.FreePort(t), uasPort: testenv.FreePort(t), sipPort: testenv.FreePort(t), subs: map[string]subscriber{}}
	t.Setenv("TOLLGATE_TEST_KAMAILIO_TOKEN", kamToken)
	cfg, err := config.Parse("rig.yaml", []byte(fmt.Sprintf(o.policy, r.sipPort, r.uasPort)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r.srv, err = cli.Start(ctx, cli.Options{Config: cfg, DataDir: filepath.Join(r.dir, "data"), Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.srv.Shutdown(sctx)
	})

	r.uasMsgs = filepath.Join(r.dir, "uas-msgs.log")
	testenv.StartSIPpUAS(t, r.dir, "testdata/sipp/uas.xml", r.uasPort, "-trace_msg", "-message_file", r.uasMsgs)
	db := filepath.Join(r.dir, "dbtext")
	for _, s := range o.subs {
		r.subs[s.user] = s
	}
	writeKamailioDB(t, db, o.subs, o.trunks)
	r.ctl = filepath.Join(r.dir, "kamailio.ctl")
	cfgPath, _ := filepath.Abs("../deploy/kamailio/kamailio.cfg")
	kam := testenv.StartProc(t, r.dir, kamailio, "-f", cfgPath, "-DD", "-E", "-m", "64", "-M", "8",
		"-Y", r.dir, "-P", filepath.Join(r.dir, "kamailio.pid"),
		"-l", fmt.Sprintf("udp:127.0.0.1:%d", r.kamPort),
		"-A", fmt.Sprintf(`TOLLGATE_URI="sip:127.0.0.1:%d"`, r.sipPort),
		"-A", fmt.Sprintf(`TOLLGATE_EVENTS="http://%s/v1/calls/"`, r.srv.Addr),
		"-A", fmt.Sprintf(`TOLLGATE_AUTH_EVENTS="http://%s/v1/auth-events"`, r.srv.Addr),
		"-A", fmt.Sprintf(`TOLLGATE_LOCKOUTS="http://%s/v1/lockouts/account/"`, r.srv.Addr),
		"-A", fmt.Sprintf(`TOLLGATE_END_EVENTS="http://%s/v1/calls/events?poll=true&after="`, r.srv.Addr),
		"-A", fmt.Sprintf(`TOLLGATE_TOKEN="%s"`, kamToken),
		"-A", fmt.Sprintf(`DBURL="text://%s"`, db),
		"-A", fmt.Sprintf(`CTL_SOCKET="unix:%s"`, r.ctl),
		"-A", "LOG_LEVEL=2")
	waitUDP(t, kam, r.kamPort)
	return r
}

// writeKamailioDB writes the db_text tables the shipped configuration
// reads: subscriber (auth_db, with the tollgate identity columns) and
// tollgate_trunk (htable), in the schema of deploy/kamailio/dbtext.
func writeKamailioDB(t *testing.T, dir string, subs []subscriber, trunks map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	schema, _ := filepath.Abs("../deploy/kamailio/dbtext")
	for _, f := range []string{"version", "subscriber", "tollgate_trunk"} {
		b, err := os.ReadFile(filepath.Join(schema, f))
		if err != nil {
			t.Fatal(err)
		}
		var rows strings.Builder
		switch f {
		case "subscriber":
			for i, s := range subs {
				fmt.Fprintf(&rows, "%d:%s:127.0.0.1:%s:::%s:%s\n", i+1, s.user, s.password, s.extension, s.tenant)
			}
		case "tollgate_trunk":
			i := 0
			for addr, tenant := range trunks {
				i++
				fmt.Fprintf(&rows, "%d:%s:0:0:%s:0\n", i, addr, tenant)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f), append(b, rows.String()...), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// call runs a SIPp UAC scenario through Kamailio for the given
// extension;number rows, one call at a time, and returns its messages.
// When the rows' extension is a subscriber, SIPp answers the digest
// challenge with its credentials.
func (r *rig) call(scenario string, rows ...string) (ok bool, trace string) {
	r.t.Helper()
	return r.callFrom("127.0.0.1", scenario, rows...)
}

// callFrom is call from another loopback address (a trunk, a banned host).
func (r *rig) callFrom(src, scenario string, rows ...string) (ok bool, trace string) {
	r.t.Helper()
	inf := filepath.Join(r.dir, fmt.Sprintf("calls-%d.csv", time.Now().UnixNano()))
	os.WriteFile(inf, []byte("SEQUENTIAL\n"+strings.Join(rows, "\n")+"\n"), 0o600)
	var auth []string
	for _, row := range rows {
		ext, _, _ := strings.Cut(row, ";")
		if s, ok := r.subs[ext]; ok {
			if auth != nil && auth[1] != s.user {
				r.t.Fatalf("one sipp run authenticates one subscriber, got %s and %s", auth[1], s.user)
			}
			auth = []string{"-au", s.user, "-ap", s.password}
		}
	}
	sf, _ := filepath.Abs(filepath.Join("testdata/sipp", scenario))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs := filepath.Join(r.dir, fmt.Sprintf("msgs-%d.log", time.Now().UnixNano()))
	cmd := exec.CommandContext(ctx, r.sipp, "-sf", sf, "-inf", inf, "-m", fmt.Sprint(len(rows)), "-l", "1", "-r", "20",
		"-i", src, "-p", fmt.Sprint(testenv.FreePort(r.t)), "-nostdin", "-timeout", "30s", "-recv_timeout", "5000",
		"-trace_msg", "-message_file", msgs)
	cmd.Args = append(append(cmd.Args, auth...), fmt.Sprintf("127.0.0.1:%d", r.kamPort))
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	b, _ := os.ReadFile(msgs)
	if err != nil {
		r.t.Logf("sipp %s: %v\n%s", scenario, err, testenv.Tail(string(out), 3000))
	}
	return err == nil, string(b)
}
