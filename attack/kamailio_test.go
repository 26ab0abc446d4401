package attack_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/reputation"
)

// kamailioCfg refuses sources found in the tollgate_ban htable whose
// stored expiry (a Unix time) is still ahead, and answers 404 otherwise.
const kamailioCfg = `#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:%d
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "htable.so"
loadmodule "ctl.so"
loadmodule "jsonrpcs.so"
modparam("htable", "htable", "` + KamailioTable + `=>size=8;")
modparam("ctl", "binrpc", "unix:%s")
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:%d")
request_route {
	if ($sht(` + KamailioTable + `=>$si) != $null && $sht(` + KamailioTable + `=>$si) > $Ts) {
		sl_send_reply("403", "Banned by tollgate");
		exit;
	}
	sl_send_reply("404", "Not Here");
	exit;
}
`

// TestExportsBiteInKamailio starts a real Kamailio on loopback, loads
// tollgate's ban exports into it (kamcmd lines through its ctl socket,
// JSON-RPC lines as datagrams to its JSON-RPC socket) and checks that banned sources get 403
// and others do not.
func TestExportsBiteInKamailio(t *testing.T) {
	if _, err := exec.LookPath("kamailio"); err != nil {
		t.Fatalf("kamailio not installed (scripts/test.sh installs it): %v", err)
	}
	dir := t.TempDir()
	freeUDP := func() int {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	port, rpcPort := freeUDP(), freeUDP()
	ctl := filepath.Join(dir, "ctl.sock")
	cfg := filepath.Join(dir, "kamailio.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf(kamailioCfg, port, ctl, rpcPort)), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logf, err := os.Create(filepath.Join(dir, "kamailio.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	klog := kamLog(filepath.Join(dir, "kamailio.log"))
	cmd := exec.CommandContext(ctx, "kamailio", "-f", cfg, "-DD", "-E", "-Y", dir, "-w", dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so the children it forks go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ctl); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not start:\n%s", klog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	now := time.Now()
	bans := []reputation.Ban{
		{IP: "127.0.0.5", Created: now, Expires: now.Add(time.Hour)},
		{IP: "127.0.0.8", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}, // over: not exported
	}
	var b bytes.Buffer
	if err := WriteBans(&b, ExportKamcmd, bans, now); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "kamcmd" {
			t.Fatalf("export line %q is not a kamcmd command", line)
		}
		out, err := exec.CommandContext(ctx, "kamcmd", append([]string{"-s", "unix:" + ctl}, f[1:]...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v %s", line, err, out)
		}
	}
	// The JSON-RPC form, one request per datagram to the jsonrpcs socket.
	b.Reset()
	if err := WriteBans(&b, ExportJSONRPC, []reputation.Ban{{IP: "127.0.0.7", Created: now, Expires: now.Add(time.Hour)}}, now); err != nil {
		t.Fatal(err)
	}
	rpc, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: rpcPort})
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		rpc.Write([]byte(line))
		rpc.SetReadDeadline(time.Now().Add(3 * time.Second))
		reply := make([]byte, 1024)
		n, err := rpc.Read(reply)
		if err != nil || strings.Contains(string(reply[:n]), "error") {
			t.Fatalf("JSON-RPC %s: %q %v\n%s", line, reply[:n], err, klog.String())
		}
	}

	ask := func(src string) string {
		t.Helper()
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + c.LocalAddr().String() + ";branch=z9hG4bK-7\r\nMax-Forwards: 70\r\n" +
			"From: <sip:a@" + src + ">;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: k" + src + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer from kamailio to %s: %v\n%s", src, err, klog.String())
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return line
	}
	for src, want := range map[string]string{"127.0.0.5": "SIP/2.0 403", "127.0.0.7": "SIP/2.0 403", "127.0.0.6": "SIP/2.0 404", "127.0.0.8": "SIP/2.0 404"} {
		if got := ask(src); !strings.HasPrefix(got, want) {
			t.Errorf("from %s: %q, want %s", src, got, want)
		}
	}
}

// kamLog reads Kamailio's log file for failure messages.
type kamLog string

func (k kamLog) String() string {
	b, _ := os.ReadFile(string(k))
	return string(b)
}
