package attack_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/reputation/sqlite"
)

const trafficDir = "../../shared/testdata/sip-attack-traffic"

type labelled struct {
	file, line string
	n          int
	match      bool
	host       string
	time       string
}

// readLabelled reads fail2ban-style test logs: each log line follows a
// "# failJSON: {…}" label giving whether it must match and the host.
func readLabelled(t *testing.T, name string) []labelled {
	t.Helper()
	f, err := os.Open(filepath.Join(trafficDir, name))
	if err != nil {
		t.Fatalf("labelled logs missing: %v", err)
	}
	defer f.Close()
	var out []labelled
	var pending *labelled
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# failJSON:"); ok {
			var l struct {
				Match bool   `json:"match"`
				Host  string `json:"host"`
				Time  string `json:"time"`
			}
			if err := json.Unmarshal([]byte(rest), &l); err != nil {
				t.Fatalf("%s:%d: bad label: %v", name, n, err)
			}
			pending = &labelled{file: name, match: l.Match, host: l.Host, time: l.Time}
			continue
		}
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" || pending == nil {
			continue
		}
		pending.line, pending.n = line, n
		out = append(out, *pending)
		pending = nil
	}
	return out
}

// TestLabelledLogs: every labelled Asterisk and FreeSWITCH line is parsed
// and attributed to the labelled address; the one negative is not.
func TestLabelledLogs(t *testing.T) {
	ref := time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)
	total := 0
	for _, file := range []string{"fail2ban-asterisk.log", "fail2ban-freeswitch.log"} {
		for _, l := range readLabelled(t, file) {
			total++
			ev, ok := ParseLine(l.line, ref)
			if ok != l.match {
				t.Errorf("%s:%d: parsed=%v, want %v\n  %s", l.file, l.n, ok, l.match, l.line)
				continue
			}
			if !ok {
				continue
			}
			want := netip.MustParseAddr(l.host)
			if ev.IP != want {
				t.Errorf("%s:%d: IP = %v, want %v\n  %s", l.file, l.n, ev.IP, want, l.line)
			}
			if ev.Kind == "" || ev.Source == "" {
				t.Errorf("%s:%d: kind %q source %q", l.file, l.n, ev.Kind, ev.Source)
			}
			if l.time != "" && !ev.Time.IsZero() {
				// Compare month, day and clock: lines without a year get the reference year.
				wt, err := time.Parse("2006-01-02T15:04:05", l.time)
				if err == nil && ev.Time.Format("01-02T15:04:05") != wt.Format("01-02T15:04:05") {
					t.Errorf("%s:%d: time = %v, want %v", l.file, l.n, ev.Time, wt)
				}
			}
		}
	}
	if total < 55 {
		t.Fatalf("read %d labelled lines; the files hold more than 55", total)
	}
}

// TestLabelledLogsNeverBanPBX runs every labelled line through the guard
// with the PBXs' own addresses (the Local addresses and hosts of the
// logs) trusted, and with one attacker address trusted too: nothing
// trusted is ever banned, and the attackers with three or more lines are.
func TestLabelledLogsNeverBanPBX(t *testing.T) {
	pbx := []string{"92.28.73.180", "83.11.20.23", "10.0.0.1", "192.168.2.51", "148.251.134.154", "127.0.0.100", "0.0.0.0"}
	var trusted []netip.Prefix
	for _, a := range pbx {
		trusted = append(trusted, netip.MustParsePrefix(a+"/32"))
	}
	trusted = append(trusted, netip.MustParsePrefix("10.250.251.0/24")) // an attacker on the operator's allowlist
	st := openDB(t)
	g := NewGuard(Policy{CountChallenges: true}, st, NewTrust(trusted...), quiet)
	counts := map[netip.Addr]int{}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, file := range []string{"fail2ban-asterisk.log", "fail2ban-freeswitch.log"} {
		for _, l := range readLabelled(t, file) {
			ev, ok := ParseLine(l.line, now)
			if !ok {
				continue
			}
			ev.Time = now // replay as a burst: the window is what we test
			now = now.Add(time.Second)
			counts[ev.IP]++
			if _, err := g.Observe(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	bans, _ := st.Bans(context.Background(), now, true)
	banned := map[string]bool{}
	for _, b := range bans {
		banned[b.IP] = true
		for _, p := range trusted {
			if p.Contains(netip.MustParseAddr(b.IP)) {
				t.Errorf("trusted address %s banned: %s", b.IP, b.Reason)
			}
		}
	}
	for ip, n := range counts {
		trustedIP := false
		for _, p := range trusted {
			trustedIP = trustedIP || p.Contains(ip)
		}
		if n >= 3 && !trustedIP && !banned[ip.String()] {
			t.Errorf("%s had %d failures and was not banned", ip, n)
		}
	}
	if !banned["1.2.3.4"] {
		t.Errorf("the most frequent attacker 1.2.3.4 was not banned")
	}
}

func TestParseVariations(t *testing.T) {
	ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		line, ip, kind, user, dialed string
	}{
		{`[2012-02-13 17:21:54] NOTICE[1638] chan_sip.c: Registration from '<sip:301@example.com>' failed for '1.2.3.4' - Wrong password`, "1.2.3.4", KindAuthFailure, "301", ""},
		{`[2016-05-23 10:18:16] NOTICE[19388] res_pjsip/pjsip_distributor.c: Request from '"1000" <sip:1000@10.0.0.1>' failed for '1.2.3.4:48336' (callid: 276666022) - No matching endpoint found`, "1.2.3.4", KindUnknownAccount, "1000", ""},
		{`[2013-02-05 23:44:42] NOTICE[436][C-00000fa9] chan_sip.c: Call from '' (1.2.3.4:10836) to extension '0972598285108' rejected because extension not found in context 'default'.`, "1.2.3.4", KindNoRoute, "", "0972598285108"},
		{`[2024-01-01 00:00:00] NOTICE[1] chan_sip.c: Registration from '<sip:7@x>' failed for '[2001:db8::7]:5060' - Wrong password`, "2001:db8::7", KindAuthFailure, "7", ""},
		{`2013-12-31 17:39:54.767815 [WARNING] sofia_reg.c:1478 SIP auth failure (INVITE) on sofia profile 'internal' for [000972543480510@192.168.2.51] from ip 5.11.47.236`, "5.11.47.236", KindAuthFailure, "000972543480510", "000972543480510"},
	} {
		ev, ok := ParseLine(c.line, ref)
		if !ok {
			t.Errorf("not parsed: %s", c.line)
			continue
		}
		if ev.IP.String() != c.ip || ev.Kind != c.kind || ev.Username != c.user || ev.Dialed != c.dialed {
			t.Errorf("ParseLine(%q) = ip %v kind %s user %q dialed %q; want %s %s %q %q", c.line, ev.IP, ev.Kind, ev.Username, ev.Dialed, c.ip, c.kind, c.user, c.dialed)
		}
	}
	for _, line := range []string{
		"", "[2012-02-13 17:21:54] NOTICE[1638] chan_sip.c: Registration from '' failed for 'not-an-ip' - Wrong password",
		"2013-12-31 17:39:54.767815 [DEBUG] sofia.c:7954 IP 185.24.234.141 Rejected by acl \"domains\". Falling back to Digest auth.",
		"[2016-01-01 00:00:00] VERBOSE[1] pbx.c: Executing [s@default:1] Answer",
	} {
		if ev, ok := ParseLine(line, ref); ok {
			t.Errorf("ParseLine(%q) = %+v, want no event", line, ev)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, file := range []string{"fail2ban-asterisk.log", "fail2ban-freeswitch.log"} {
		b, err := os.ReadFile(filepath.Join(trafficDir, file))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := ParseLine(line, time.Now())
		if ok && !ev.IP.IsValid() {
			t.Fatalf("event without a valid IP from %q", line)
		}
	})
}

func openDB(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
