// Package deploy holds deployment files; its test checks the systemd unit.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSystemdUnitHardened runs systemd's own analysis on the node unit:
// 'systemd-analyze security' must rate its exposure at most 2.5 (it was
// 9.2, UNSAFE, before the hardening), and 'systemd-analyze verify' must
// find nothing wrong with it but the binary this machine has not
// installed (the test points ExecStart at a stand-in).
func TestSystemdUnitHardened(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatalf("systemd-analyze not found (Debian package systemd): %v", err)
	}
	src, err := os.ReadFile("cluster/tollgate@.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "tollgate@tg1.service")
	if err := os.WriteFile(unit, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure %.1f", score)
	if score > 2.5 {
		t.Errorf("exposure %.1f, want ≤ 2.5:\n%s", score, out)
	}
	stand := strings.Replace(string(src), "/usr/local/bin/tollgate", "/bin/true", 1)
	if err := os.WriteFile(unit, []byte(stand), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=tollgate/%i", "ProtectSystem=strict", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "-data ${STATE_DIRECTORY}"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}
