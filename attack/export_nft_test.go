package attack_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/reputation"
)

// TestNFTExportDrops applies the nft export to a real kernel — a private
// network namespace (unshare -rn: its own loopback, no privilege on the
// host) — and sends UDP datagrams to a socket on 127.0.0.1 from a banned
// and an unbanned source address: the banned one must be dropped, the other
// delivered. Before the drop rule, the export made sets that nothing read.
// It then applies an export without that ban, as a re-run would, and the
// address gets through again (the script replaces, it does not add).
func TestNFTExportDrops(t *testing.T) {
	for _, tool := range []string{"unshare", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (Debian packages util-linux and nftables; scripts/test.sh installs them): %v", tool, err)
		}
	}
	now := time.Now()
	dir := t.TempDir()
	write := func(name string, bans []reputation.Ban) string {
		var b bytes.Buffer
		if err := WriteBans(&b, ExportNFT, bans, now); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	banned := write("banned.nft", []reputation.Ban{
		{IP: "127.0.0.2", Created: now, Expires: now.Add(time.Hour)},
		{IP: "2001:db8::/64", Created: now, Expires: now.Add(time.Hour)},
	})
	released := write("released.nft", []reputation.Ban{
		{IP: "2001:db8::/64", Created: now, Expires: now.Add(time.Hour)},
	})
	// The probe is this test binary again, inside the namespace.
	script := fmt.Sprintf(`set -e
ip link set lo up 2>/dev/null || true
nft -f %[1]s
echo "== banned"
TOLLGATE_NFT_PROBE=1 %[3]s -test.run '^TestNFTProbe$'
nft -f %[2]s
echo "== released"
TOLLGATE_NFT_PROBE=1 %[3]s -test.run '^TestNFTProbe$'
nft list table inet tollgate
`, banned, released, os.Args[0])
	out, err := exec.Command("unshare", "-rn", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare -rn (user and network namespaces must be allowed): %v\n%s", err, out)
	}
	text := string(out)
	_, rest, _ := strings.Cut(text, "== banned")
	first, second, _ := strings.Cut(rest, "== released")
	if !strings.Contains(first, "from 127.0.0.3: delivered") || !strings.Contains(first, "from 127.0.0.2: dropped") {
		t.Errorf("with 127.0.0.2 banned, want it dropped and 127.0.0.3 delivered:\n%s", text)
	}
	if !strings.Contains(second, "from 127.0.0.2: delivered") {
		t.Errorf("after the export without its ban was applied, 127.0.0.2 should get through:\n%s", text)
	}
	if strings.Count(second, "ip saddr @banned4 drop") != 1 {
		t.Errorf("the drop rule should appear once after two applications:\n%s", second)
	}
}

// TestNFTProbe runs only inside TestNFTExportDrops's namespace: it sends
// one datagram from 127.0.0.2 and one from 127.0.0.3 to a socket on
// 127.0.0.1 and says which arrived.
func TestNFTProbe(t *testing.T) {
	if os.Getenv("TOLLGATE_NFT_PROBE") == "" {
		return // a helper, run by TestNFTExportDrops
	}
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, srv.LocalAddr().(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(src))
		c.Close()
		srv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 64)
		n, from, err := srv.ReadFromUDP(buf)
		switch {
		case err != nil:
			fmt.Printf("from %s: dropped\n", src)
		case string(buf[:n]) == src && from.IP.String() == src:
			fmt.Printf("from %s: delivered\n", src)
		default:
			fmt.Printf("from %s: unexpected %q from %v\n", src, buf[:n], from)
		}
	}
}
