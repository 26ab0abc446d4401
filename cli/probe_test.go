package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippEcho runs SIPp's built-in UAS, echoing RTP, on loopback.
func sippEcho(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not installed (Debian package sip-tester; scripts/test.sh installs it)")
	}
	free := func() int {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	port, mport := free(), free()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-sn", "uas", "-i", "127.0.0.1", "-p", fmt.Sprint(port), "-mi", "127.0.0.1", "-mp", fmt.Sprint(mport), "-rtp_echo", "-nostdin", "-timeout", "60s", "-timeout_error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Wait until SIPp answers on its port (an OPTIONS gets some reply).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("udp", addr)
		if err == nil {
			fmt.Fprintf(c, "OPTIONS sip:x@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKp\r\nFrom: <sip:p@x>;tag=1\r\nTo: <sip:x@x>\r\nCall-ID: p\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", addr)
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			buf := make([]byte, 512)
			_, err = c.Read(buf)
			c.Close()
			if err == nil {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr
}

var probeLine = regexp.MustCompile(`setup ([0-9.]+) ms, loss ([0-9.]+) % .* MOS ([0-9.]+)`)

// TestProbeCommand: 'tollgate probe' against a real SIPp UAS reports setup
// time and MOS; with 5 % injected loss it raises a loss alert carrying the
// measured figure and exits non-zero.
func TestProbeCommand(t *testing.T) {
	target := sippEcho(t)
	var out, errb bytes.Buffer
	if code := Main([]string{"probe", target, "-duration", "2s"}, nil, &out, &errb); code != 0 {
		t.Fatalf("clean probe exit %d: %s %s", code, out.String(), errb.String())
	}
	m := probeLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no setup/loss/MOS line in %q", out.String())
	}
	setup, _ := strconv.ParseFloat(m[1], 64)
	mos, _ := strconv.ParseFloat(m[3], 64)
	if setup <= 0 || mos < 4 {
		t.Errorf("clean call: setup %v ms, MOS %v; want a positive setup time and MOS ≥ 4", setup, mos)
	}
	out.Reset()
	code := Main([]string{"probe", target, "-duration", "3s", "-impair-loss", "5"}, nil, &out, &errb)
	if code != 1 {
		t.Errorf("impaired probe exit %d, want 1 (threshold broken): %s", code, out.String())
	}
	m = probeLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no result line in %q", out.String())
	}
	loss, _ := strconv.ParseFloat(m[2], 64)
	if loss < 2 || loss > 12 {
		t.Errorf("measured loss %v %% with 5 %% injected", loss)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("ALERT loss %s %%", m[2])) {
		t.Errorf("no loss alert with the measured figure in %q", out.String())
	}
	if code := Main([]string{"probe"}, nil, &out, &errb); code != 2 {
		t.Errorf("probe without a target: exit %d, want 2", code)
	}
}
