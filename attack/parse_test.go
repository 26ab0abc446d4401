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
	"github.com/tollgate-voip/tollgate/reputation"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// trafficDir holds labelled Asterisk and FreeSWITCH log lines written for
// these tests in the formats the two write (testdata/PROVENANCE.md).
const trafficDir = "testdata"

type labelled struct {
	file, line string
	n          int
	match      bool
	host       string
	time       string
}

// readLabelled reads the labelled test logs: each log line follows a
// "# label: {…}" line giving whether it must parse and the host to blame.
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
		if rest, ok := strings.CutPrefix(line, "# label:"); ok {
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
// and attributed to the labelled address; the negatives are not.
func TestLabelledLogs(t *testing.T) {
	ref := time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)
	total := 0
	for _, file := range []string{"asterisk.log", "freeswitch.log"} {
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
	if total != 63 {
		t.Fatalf("read %d labelled lines; the files hold 63", total)
	}
}

// TestLabelledLogsNeverBanPBX runs every labelled line through the guard
// with the PBXs' own addresses (the Local addresses and hosts of the
// logs) trusted, and with one attacker address trusted too: nothing
// trusted is ever banned, and the attackers with three or more lines are.
func TestLabelledLogsNeverBanPBX(t *testing.T) {
	pbx := []string{"192.0.2.10", "192.0.2.11", "192.0.2.20", "2001:db8:1::10", "127.0.0.1", "::1", "0.0.0.0"}
	var trusted []netip.Prefix
	for _, a := range pbx {
		trusted = append(trusted, netip.PrefixFrom(netip.MustParseAddr(a), netip.MustParseAddr(a).BitLen()))
	}
	trusted = append(trusted, netip.MustParsePrefix("198.51.100.128/28")) // an attacker on the operator's allowlist
	st := openDB(t)
	g := NewGuard(Policy{CountChallenges: true}, st, NewTrust(trusted...), quiet)
	counts := map[netip.Addr]int{}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, file := range []string{"asterisk.log", "freeswitch.log"} {
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
	// An IPv6 source is banned as its /64 (Policy.IPv6Bits).
	banned := map[string]bool{}
	for _, b := range bans {
		bp, err := reputation.ParsePrefix(b.IP)
		if err != nil {
			t.Fatal(err)
		}
		for ip := range counts {
			banned[ip.String()] = banned[ip.String()] || bp.Contains(ip)
		}
		for _, p := range trusted {
			if bp.Overlaps(p) {
				t.Errorf("trusted address %s banned: %s %s", p, b.IP, b.Reason)
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
	if !banned["203.0.113.66"] {
		t.Errorf("the most frequent attacker 203.0.113.66 was not banned")
	}
	if counts[netip.MustParseAddr("198.51.100.131")] < 3 {
		t.Errorf("the allowlisted attacker has %d failures; the test needs at least 3", counts[netip.MustParseAddr("198.51.100.131")])
	}
}

func TestParseVariations(t *testing.T) {
	ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		line, ip, kind, user, dialed string
	}{
		{`[2026-02-13 07:21:54] NOTICE[1701] chan_sip.c: Registration from '<sip:612@pbx.example.net>' failed for '198.51.100.5' - Wrong password`, "198.51.100.5", KindAuthFailure, "612", ""},
		{`[2026-05-23 11:18:16] NOTICE[9120] res_pjsip/pjsip_distributor.c: Request from '"2500" <sip:2500@192.0.2.10>' failed for '198.51.100.5:40001' (callid: 55443322) - No matching endpoint found`, "198.51.100.5", KindUnknownAccount, "2500", ""},
		{`[2026-02-05 22:44:42] NOTICE[1702][C-00000b10] chan_sip.c: Call from '' (198.51.100.5:5070) to extension '00882345670009' rejected because extension not found in context 'default'.`, "198.51.100.5", KindNoRoute, "", "00882345670009"},
		{`[2026-01-01 00:00:00] NOTICE[1] chan_sip.c: Registration from '<sip:7@x>' failed for '[2001:db8::7]:5060' - Wrong password`, "2001:db8::7", KindAuthFailure, "7", ""},
		{`2026-12-31 16:39:54.123456 [WARNING] sofia_reg.c:1478 SIP auth failure (INVITE) on sofia profile 'internal' for [900882345670010@192.0.2.20] from ip 203.0.113.44`, "203.0.113.44", KindAuthFailure, "900882345670010", "900882345670010"},
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
		"", "[2026-02-13 07:21:54] NOTICE[1701] chan_sip.c: Registration from '' failed for 'not-an-ip' - Wrong password",
		"2026-12-31 16:39:54.123456 [DEBUG] sofia.c:7954 IP 203.0.113.45 Rejected by acl \"domains\". Falling back to Digest auth.",
		"[2026-01-01 00:00:00] VERBOSE[1] pbx.c: Executing [s@from-trunk:1] Answer",
	} {
		if ev, ok := ParseLine(line, ref); ok {
			t.Errorf("ParseLine(%q) = %+v, want no event", line, ev)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, file := range []string{"asterisk.log", "freeswitch.log"} {
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

func openDB(t testing.TB) *sqlite.Reputation {
	t.Helper()
	db, err := sqlite.OpenReputation(filepath.Join(t.TempDir(), "tollgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
