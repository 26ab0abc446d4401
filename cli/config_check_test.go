package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const checkPolicy = `defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
numbers:
  rate_deck: rates.csv
tenants:
  outreach:
    compliance:
      campaign: {extensions: ["5*"]}
      dnc:
        lists:
          national: {file: dnc/national.txt}
`

// TestConfigCheckLoadsWhatServeLoads: a policy whose DNC list file is
// missing passed 'config check' and then made 'serve' refuse to start.
// check now loads the same files: it fails naming the field, and passes
// once the file exists. The rate deck and the DNC list are given relative
// to the policy file and are found there, wherever tollgate runs from.
func TestConfigCheckLoadsWhatServeLoads(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, []byte(checkPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rates.csv"), []byte("prefix,price_per_min\n44,0.02\n8823,4.20\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(args, nil, &out, &errb)
		return code, out.String() + errb.String()
	}
	code, out := run("config", "check", pol)
	if code == 0 || !strings.Contains(out, "tenants.outreach.compliance.dnc") || !strings.Contains(out, "national.txt") {
		t.Fatalf("config check with the DNC list missing: exit %d, %q; want a failure naming the list", code, out)
	}
	// serve refuses the same file (the behaviour check must match).
	code, serveOut := run("serve", "-config", pol, "-data", filepath.Join(dir, "data"), "-listen", "127.0.0.1:0")
	if code == 0 || !strings.Contains(serveOut, "national.txt") {
		t.Fatalf("serve with the DNC list missing: exit %d, %q", code, serveOut)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dnc"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dnc", "national.txt"), []byte("+12125550100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The working directory is the package's, not the policy's folder.
	if code, out := run("config", "check", pol); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("config check with the list and the deck beside the policy: exit %d, %q", code, out)
	}
	// The rate deck beside the policy is the one in force.
	code, out = run("check", "+88234567890", "-config", pol, "-json")
	if code != 0 || !strings.Contains(out, "4.2") {
		t.Errorf("check +8823… with the policy's rate deck: exit %d, %q; want its price 4.20", code, out)
	}
}
