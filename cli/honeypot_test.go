package cli

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeHoneypotBansAndCLI: serve with honeypot.listen runs the decoy;
// a scanner's REGISTER to it bans the scanner (seen through the API), a
// trusted address is never banned, and the reputation and bans commands
// read and change the same database.
func TestServeHoneypotBansAndCLI(t *testing.T) {
	dir := t.TempDir()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hpAddr := pc.LocalAddr().String()
	pc.Close()
	policy := "defaults:\n  country: US\n  on_error: fail_closed\n  destinations:\n    default: allow\n" +
		"honeypot:\n  listen: udp:" + hpAddr + "\nattack:\n  trusted: [127.0.0.3]\n"
	s, tok := start(t, dir, policy)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	send := func(src, ua string) {
		conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, net.UDPAddrFromAddrPort(mustAddrPort(t, hpAddr)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		msg := "REGISTER sip:" + hpAddr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-1;rport\r\n" +
			"From: <sip:100@x>;tag=1\r\nTo: <sip:100@x>\r\nCall-ID: c" + src + "\r\nCSeq: 1 REGISTER\r\nUser-Agent: " + ua + "\r\nContent-Length: 0\r\n\r\n"
		conn.Write([]byte(msg))
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 401") || !strings.Contains(string(buf[:n]), "WWW-Authenticate: Digest") {
			t.Fatalf("decoy reply to %s: %q %v", src, buf[:n], err)
		}
	}
	send("127.0.0.2", "friendly-scanner")
	send("127.0.0.3", "friendly-scanner")
	deadline := time.Now().Add(5 * time.Second)
	var bans []any
	for time.Now().Before(deadline) {
		_, out := c.call("GET", "/v1/bans", nil)
		bans, _ = out["bans"].([]any)
		if len(bans) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(bans) != 1 || bans[0].(map[string]any)["ip"] != "127.0.0.2" {
		t.Fatalf("bans = %v, want only the untrusted scanner 127.0.0.2", bans)
	}
	// The screening chain refuses the banned scanner (the snapshot is
	// refreshed right after the ban is stored).
	var v map[string]any
	for i := 0; ; i++ {
		var code int
		code, v = c.call("POST", "/v1/screen", map[string]any{"call_id": "x1-" + strconv.Itoa(i), "callee": "12125550123", "source_ip": "127.0.0.2"})
		if code == 200 && v["action"] == "reject" {
			break
		}
		if i == 40 {
			t.Fatalf("screen from the banned scanner: %d %v", code, v)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The CLI works on the same database while the server runs.
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(args, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	feed := filepath.Join(dir, "feed.csv")
	os.WriteFile(feed, []byte("kind,value,score\nnumber,+442079460123,90\nip,127.0.0.3,90\n"), 0o600)
	cfgFile := filepath.Join(dir, "p.yaml")
	os.WriteFile(cfgFile, []byte(policy), 0o600)
	if code, out, errs := run("reputation", "import", feed, "-data", dir, "-config", cfgFile); code != 0 || !strings.Contains(out, "imported 1 entries, skipped 1") || !strings.Contains(errs, "127.0.0.3 skipped: covers a trusted address") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	for i := 0; ; i++ { // the decoy's sightings are written in batches
		code, out, _ := run("reputation", "list", "-data", dir)
		if code == 0 && strings.Contains(out, "+442079460123") && strings.Contains(out, "127.0.0.2 ") {
			break
		}
		if i == 50 {
			t.Fatalf("list: %d %q", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, errs := run("reputation", "add", "ipv9", "x", "-data", dir); code != 2 || !strings.Contains(errs, "kind") {
		t.Fatalf("bad add: %d %q", code, errs)
	}
	if code, out, _ := run("bans", "export", "-format", "nft", "-data", dir); code != 0 || !strings.Contains(out, "add element inet tollgate banned4 { 127.0.0.2 timeout") {
		t.Fatalf("bans export: %d %q", code, out)
	}
	id := int(bans[0].(map[string]any)["id"].(float64))
	// The trusted address's scan taught nothing: a call from it is allowed.
	if _, v := c.call("POST", "/v1/screen", map[string]any{"call_id": "t1", "callee": "12125550123", "source_ip": "127.0.0.3"}); v["action"] != "allow" {
		t.Fatalf("call from the trusted address that scanned the decoy: %v", v)
	}
	if code, out, errs := run("reputation", "list", "-data", dir, "-status", "maybe"); code != 2 || !strings.Contains(errs, "-status") {
		t.Fatalf("list -status maybe: %d %q %q", code, out, errs)
	}
	if code, out, _ := run("reputation", "show", "ip", "127.0.0.2", "-data", dir); code != 0 || !strings.Contains(out, "status    confirmed") || !strings.Contains(out, "source    honeypot") {
		t.Fatalf("show: %d %q", code, out)
	}
	// Releasing the ban releases the address entry the decoy learned.
	if code, out, _ := run("bans", "release", strconv.Itoa(id), "-data", dir); code != 0 || !strings.Contains(out, "released") || !strings.Contains(out, "learned entry ip/127.0.0.2") {
		t.Fatalf("bans release: %d %q", code, out)
	}
	// Within a second the running server drops the released ban and the
	// freed entry (the scanner's next call is allowed, not sent to the
	// decoy), and picks up the imported number.
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, v = c.call("POST", "/v1/screen", map[string]any{"call_id": "x2-" + time.Now().String(), "callee": "011442079460123", "source_ip": "192.0.2.1"})
		_, v2 := c.call("POST", "/v1/screen", map[string]any{"call_id": "x3-" + time.Now().String(), "callee": "12125550123", "source_ip": "127.0.0.2"})
		if v["action"] == "reject" && v2["action"] == "allow" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after import and release: number %v, scanner %v", v, v2)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
