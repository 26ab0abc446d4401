package honeypot_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/honeypot"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

var quiet = slog.New(slog.DiscardHandler)

// rig is a decoy with its store, guard and number intelligence, on
// loopback.
type rig struct {
	db    *sqlite.Reputation
	guard *attack.Guard
	hp    *honeypot.Server
	intel *number.Intel
	port  string
}

func newRig(t *testing.T, trusted ...netip.Prefix) *rig {
	t.Helper()
	return newRigWith(t, nil, trusted...)
}

// newRigWith is newRig with the decoy's options adjusted by opt.
func newRigWith(t *testing.T, opt func(*honeypot.Options), trusted ...netip.Prefix) *rig {
	t.Helper()
	db, err := sqlite.OpenReputation(filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	intel, err := number.New(number.Options{NoCarrier: true})
	if err != nil {
		t.Fatal(err)
	}
	trust := attack.NewTrust(trusted...)
	g := attack.NewGuard(attack.Policy{}, db, trust, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	o := honeypot.Options{
		Listen: "127.0.0.1:0", Events: db, Reputation: db, Reporter: g, CallDuration: 3 * time.Second,
		Normalize: honeypot.Normalizer(intel.Lookup, number.DialPlan{Country: "US"}), Logger: quiet,
		// As serve wires it: trusted sources teach nothing; numbers are
		// classified by number intelligence, the default types protected.
		Trusted: trust.Contains,
		Learning: honeypot.Learning{Classify: honeypot.NumberClassifier(intel.Lookup, number.DialPlan{Country: "US"},
			[]number.Type{number.TollFree, number.SharedCost, number.UAN}, nil)},
	}
	if opt != nil {
		opt(&o)
	}
	hp, err := honeypot.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hp.Close() })
	return &rig{db: db, guard: g, hp: hp, intel: intel, port: strconv.Itoa(int(hp.Addr().Port()))}
}

// run starts a real attack tool, bounded in time.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: still running after %s\n%s", name, args, timeout, out)
	}
	if err != nil {
		t.Logf("%s exited: %v", name, err)
	}
	return string(out)
}

// waitFor polls until cond holds (events are written asynchronously).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rig) events(t *testing.T, ip string) []honeypot.Event {
	t.Helper()
	evs, err := r.db.Events(context.Background(), honeypot.EventQuery{SourceIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (r *rig) banned(t *testing.T, ip string) *reputation.Ban {
	t.Helper()
	bans, err := r.db.Bans(context.Background(), time.Now(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bans {
		if b.IP == ip {
			return &b
		}
	}
	return nil
}

// TestSIPViciousAndSIPp runs SIPVicious's svmap, svwar and svcrack and a
// SIPp call at a fresh decoy, each from its own loopback address: every
// scan is recorded with the message, the scanners are banned within a
// few packets, credential guesses show up, the allowlisted address is
// never banned, and the number dialed through the decoy turns a normal
// tenant's call to it into a reject.
func TestSIPViciousAndSIPp(t *testing.T) {
	for _, tool := range []string{"svmap", "svwar", "svcrack", "sipp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/test.sh installs sipvicious and sip-tester): %v", tool, err)
		}
	}
	allow := netip.MustParsePrefix("127.0.0.9/32")
	r := newRig(t, allow)

	// svmap: an OPTIONS sweep. The decoy must look like a PBX to it.
	out := run(t, 60*time.Second, "svmap", "-b", "127.0.0.5", "-p", r.port, "127.0.0.1")
	if !strings.Contains(out, "Asterisk PBX") {
		t.Errorf("svmap did not fingerprint the decoy as Asterisk:\n%s", out)
	}
	waitFor(t, "svmap's OPTIONS recorded", func() bool { return len(r.events(t, "127.0.0.5")) > 0 })
	ev := r.events(t, "127.0.0.5")[0]
	if ev.Kind != honeypot.EvOptions || ev.UserAgent != "friendly-scanner" || !strings.HasPrefix(string(ev.Message), "OPTIONS sip:") || ev.Transport != "udp" {
		t.Errorf("svmap event = %+v", ev)
	}
	waitFor(t, "svmap's source banned", func() bool { return r.banned(t, "127.0.0.5") != nil })
	if b := r.banned(t, "127.0.0.5"); !strings.Contains(b.Reason, "friendly-scanner") || b.Source != attack.SourceHoneypot {
		t.Errorf("svmap ban = %+v", b)
	}
	if n := len(r.events(t, "127.0.0.5")); n > 3 {
		t.Errorf("svmap sent %d packets before the ban; want a handful", n)
	}

	// svwar: extension enumeration with REGISTER. (svwar and svcrack
	// ignore -b, so they come from 127.0.0.1.)
	out = run(t, 60*time.Second, "svwar", "-p", r.port, "-e", "100-104", "127.0.0.1")
	for _, ext := range []string{"100", "104"} {
		if !strings.Contains(out, ext) {
			t.Errorf("svwar did not find extension %s:\n%s", ext, out)
		}
	}
	waitFor(t, "svwar's REGISTERs recorded", func() bool { return len(r.events(t, "127.0.0.1")) >= 6 })
	users := map[string]bool{}
	for _, e := range r.events(t, "127.0.0.1") {
		users[e.Username] = true
	}
	if !users["100"] || !users["104"] {
		t.Errorf("svwar's guessed users not recorded: %v", users)
	}
	waitFor(t, "svwar's source banned", func() bool { return r.banned(t, "127.0.0.1") != nil })

	// svcrack: password guessing for extension 100.
	out = run(t, 60*time.Second, "svcrack", "-p", r.port, "-u", "100", "-r", "1-9", "127.0.0.1")
	if !strings.Contains(out, "100") {
		t.Errorf("svcrack output:\n%s", out)
	}
	waitFor(t, "svcrack's guesses recorded", func() bool {
		for _, e := range r.events(t, "127.0.0.1") {
			if e.Kind == honeypot.EvRegisterOK {
				return true
			}
		}
		return false
	})
	guessed := map[string]bool{}
	for _, e := range r.events(t, "127.0.0.1") {
		if e.Kind == honeypot.EvRegisterAuth || e.Kind == honeypot.EvRegisterOK {
			if e.Username != "100" {
				t.Errorf("svcrack guess recorded for user %q", e.Username)
			}
			guessed[e.Password] = true
		}
	}
	if !guessed["1"] || !guessed["2"] || !guessed["3"] {
		t.Errorf("passwords recovered from svcrack's digests: %v; want 1, 2, 3 among them", guessed)
	}

	// The allowlisted address scans too: recorded, never banned.
	run(t, 60*time.Second, "svmap", "-b", "127.0.0.9", "-p", r.port, "127.0.0.1")
	run(t, 60*time.Second, "svmap", "-b", "127.0.0.9", "-p", r.port, "-m", "REGISTER", "127.0.0.1")
	run(t, 60*time.Second, "svmap", "-b", "127.0.0.9", "-p", r.port, "-m", "INVITE", "127.0.0.1")
	waitFor(t, "allowlisted scans recorded", func() bool { return len(r.events(t, "127.0.0.9")) >= 3 })

	// SIPp: a call to an international number with DTMF 1 and 2; the
	// decoy answers, plays its prompt and hangs up.
	scenario, _ := filepath.Abs("testdata/uac_dtmf.xml")
	out = run(t, 60*time.Second, "sipp", "-sf", scenario, "-s", "011442079460123", "-i", "127.0.0.8", "-mi", "127.0.0.8",
		"-p", "0", "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "sipp.err"),
		"127.0.0.1:"+r.port)
	waitFor(t, "the decoy call hung up", func() bool {
		for _, e := range r.events(t, "127.0.0.8") {
			if e.Kind == honeypot.EvHangup {
				return true
			}
		}
		return false
	})
	var invite, hangup honeypot.Event
	for _, e := range r.events(t, "127.0.0.8") {
		switch e.Kind {
		case honeypot.EvInvite:
			invite = e
		case honeypot.EvHangup:
			hangup = e
		}
	}
	if invite.Dialed != "011442079460123" || invite.E164 != "+442079460123" || !strings.Contains(string(invite.Message), "m=audio") {
		t.Errorf("INVITE event = %+v", invite)
	}
	if hangup.Digits != "12" || !strings.Contains(hangup.Detail, "decoy hung up") {
		t.Errorf("hangup event: digits %q detail %q; want 12 and the decoy hanging up\nsipp:\n%s", hangup.Digits, hangup.Detail, out)
	}

	ctx := context.Background()
	if b := r.banned(t, "127.0.0.9"); b != nil {
		t.Errorf("allowlisted address banned: %+v", b)
	}
	// The dialed number is in the reputation database…
	waitFor(t, "the dialed number in the reputation database", func() bool {
		_, err := r.db.Get(ctx, reputation.KindNumber, "+442079460123")
		return err == nil
	})
	if e, _ := r.db.Get(ctx, reputation.KindIP, "127.0.0.5"); e.Source != reputation.SourceHoneypot {
		t.Errorf("svmap source reputation = %+v", e)
	}
	if _, err := r.db.Get(ctx, reputation.KindUA, "friendly-scanner"); err != nil {
		t.Errorf("scanner User-Agent not fingerprinted: %v", err)
	}

	// …as suspected: one caller from one network proved its address by
	// acknowledging the answer, which is one network of the three the
	// rule needs. The proof is kept as evidence.
	if e, _ := r.db.Get(ctx, reputation.KindNumber, "+442079460123"); !e.Suspected() || e.Evidence == nil ||
		len(e.Evidence.Sightings) != 1 || e.Evidence.Sightings[0].Network != "127.0.0.0/24" || e.Evidence.Sightings[0].Proven.IsZero() {
		t.Errorf("number learned from one SIPp call: %+v %+v; want suspected, proven from 127.0.0.0/24", e, e.Evidence)
	}
	// It raises a normal tenant's risk for that number without refusing it.
	cfg, err := config.Parse("t.yaml", []byte("defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\n"))
	if err != nil {
		t.Fatal(err)
	}
	live := reputation.NewLive(reputation.DefaultPolicy)
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: r.intel, Env: check.Env{Reputation: live}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	screenCall := func(id, callee, src string) *screen.Verdict {
		c := &screen.Call{ID: id, Tenant: "acme", Extension: "1001", Caller: "+12125550100", Callee: callee, SourceIP: netip.MustParseAddr(src), Time: time.Now()}
		var v screen.Verdict
		if err := eng.Screen(ctx, c, &v); err != nil {
			t.Fatal(err)
		}
		return &v
	}
	if v := screenCall("before", "011442079460123", "192.0.2.10"); v.Action != screen.Allow {
		t.Fatalf("before the reputation refresh: %v %+v, want allow", v.Action, v.Reasons())
	}
	if err := reputation.Refresh(ctx, r.db, live, time.Now()); err != nil {
		t.Fatal(err)
	}
	if v := screenCall("after", "011442079460123", "192.0.2.10"); v.Action != screen.Allow || !v.Has("suspected_dialed_number") || v.Risk == 0 {
		t.Errorf("after: %v %+v, want allow with risk for suspected_dialed_number", v.Action, v.Reasons())
	}
	if v := screenCall("other", "011442079460124", "192.0.2.10"); v.Action != screen.Allow {
		t.Errorf("neighbouring number: %v, want allow", v.Action)
	}
	if v := screenCall("banned", "12125550199", "127.0.0.5"); v.Action != screen.Reject || !v.Has("banned_ip") {
		t.Errorf("call from the banned scanner: %v %+v, want reject for banned_ip", v.Action, v.Reasons())
	}
	if v := screenCall("allowlisted", "12125550199", "127.0.0.9"); v.Has("banned_ip") {
		t.Errorf("allowlisted scanner: %+v, want no ban", v.Reasons())
	}
	for _, e := range r.events(t, "") {
		if e.Kind == honeypot.EvMalformed {
			t.Logf("malformed from %s: %s\n%q", e.SourceIP, e.Detail, e.Message)
		}
	}
	st := r.hp.Stats()
	if st.Malformed != 0 || st.DroppedRate != 0 || st.EventsDropped != 0 {
		t.Errorf("stats %+v: nothing should be dropped at this rate", st)
	}
}
