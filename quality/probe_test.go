package quality

import (
	"context"
	"fmt"
	"math"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
)

func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// startSIPp runs SIPp's built-in UAS, echoing RTP, on loopback.
func startSIPp(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not installed (Debian package sip-tester; scripts/test.sh installs it)")
	}
	port, mport := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-sn", "uas", "-i", "127.0.0.1", "-p", fmt.Sprint(port), "-mi", "127.0.0.1", "-mp", fmt.Sprint(mport), "-rtp_echo", "-nostdin", "-timeout", "60s", "-timeout_error")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	time.Sleep(300 * time.Millisecond)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestProbeAgainstSIPp places test calls to a real SIPp UAS and checks
// the measured loss and jitter against what the sender injected.
func TestProbeAgainstSIPp(t *testing.T) {
	target := startSIPp(t)
	ctx := context.Background()
	clean := Probe(ctx, target, 2*time.Second, Impair{})
	if clean.Error != "" {
		t.Fatalf("clean probe: %+v", clean)
	}
	t.Logf("clean: %+v", clean)
	if clean.Sent != 100 || clean.LossPct > 1 || clean.SetupMS <= 0 || clean.MOS < 4.2 || clean.RTTMS < 0 || clean.RTTMS > 50 {
		t.Errorf("clean probe %+v", clean)
	}
	// 5 % loss and up to 40 ms of extra send delay, injected in the sender.
	bad := Probe(ctx, target, 4*time.Second, Impair{LossPct: 5, JitterMS: 40, Seed: 11})
	t.Logf("impaired: %+v", bad)
	if bad.Error != "" {
		t.Fatalf("impaired probe: %+v", bad)
	}
	// Exactly 5 % of the packets are withheld, so the measured loss may
	// only differ by what the network itself lost. Jitter from a uniform
	// 0–40 ms delay is at most 13 ms (mean |difference| of two uniform
	// draws is 40/3), a little less because a late packet holds back the
	// next one; seeds 1–8 and 11 measured 10.3–12.4 ms.
	if math.Abs(bad.LossPct-5) > 2.5 {
		t.Errorf("measured loss %.2f %%, injected 5 %%", bad.LossPct)
	}
	if bad.JitterMS < 8 || bad.JitterMS > 20 {
		t.Errorf("measured jitter %.2f ms, want about 13 ms for 0–40 ms uniform delay", bad.JitterMS)
	}
	al := &alerts{}
	w := New(config.Quality{WindowS: 300, MinReports: 1, AlertEveryS: 300, Thresholds: config.QualityThresholds{LossPct: 2, JitterMS: 30, RTTMS: 150, MOS: 3.6}}, al, nil)
	w.AddProbe("probe", bad)
	a := al.wait(t, "quality_threshold")
	if !strings.Contains(a.Text, fmt.Sprintf("packet loss %.1f %%", bad.LossPct)) {
		t.Errorf("alert %q lacks the measured loss %.2f", a.Text, bad.LossPct)
	}
	// A target that does not answer: the probe fails and alerts.
	dead := Probe(ctx, fmt.Sprintf("127.0.0.1:%d", freePort(t)), time.Second, Impair{})
	if dead.Error == "" {
		t.Errorf("probe to nothing succeeded: %+v", dead)
	}
}
