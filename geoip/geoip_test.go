package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/geoip"
	"github.com/tollgate-voip/tollgate/geoip/geoiptest"
)

func TestCountry(t *testing.T) {
	path := geoiptest.Write(t, map[string]string{
		"192.0.2.0/24":    "RU",
		"198.51.100.0/25": "US",
		"2001:db8::/32":   "DE",
	})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.7", "RU"},
		{"::ffff:192.0.2.7", "RU"}, // IPv4-mapped, as dual-stack sockets report it
		{"198.51.100.1", "US"},
		{"198.51.100.200", ""}, // the other half of the /24 is not listed
		{"2001:db8::5", "DE"},
		{"10.0.0.1", ""},
	} {
		for range 2 { // the second look-up comes from the record cache
			if got := db.Country(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Errorf("Country(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		}
	}
	if got := db.Country(netip.Addr{}); got != "" {
		t.Errorf("invalid address placed in %q", got)
	}
	var nilDB *geoip.DB
	if got := nilDB.Country(netip.MustParseAddr("192.0.2.7")); got != "" {
		t.Errorf("nil database placed an address in %q", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mmdb")
	os.WriteFile(junk, []byte("this is not a MaxMind database"), 0o600)
	for _, p := range []string{filepath.Join(dir, "missing.mmdb"), junk} {
		if _, err := geoip.Open(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("Open(%s): %v, want an error naming the file", p, err)
		}
	}
}

func BenchmarkCountry(b *testing.B) {
	db, err := geoip.Open(geoiptest.Write(b, map[string]string{"192.0.2.0/24": "RU", "198.51.100.0/24": "US"}))
	if err != nil {
		b.Fatal(err)
	}
	a := netip.MustParseAddr("192.0.2.7")
	b.ReportAllocs()
	for b.Loop() {
		if db.Country(a) != "RU" {
			b.Fatal("wrong country")
		}
	}
}
