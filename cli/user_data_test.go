package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserAddRefusesMissingDataDir: 'user add -data <typo>' used to create
// a new, empty data directory holding a user the server never sees. It
// now refuses a directory without the server's database and creates
// nothing; -create starts one on purpose; then the directory is accepted
// without -create.
func TestUserAddRefusesMissingDataDir(t *testing.T) {
	t.Setenv("TOLLGATE_PASSWORD", "a long enough password")
	typo := filepath.Join(t.TempDir(), "tollgate-dta")
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(args, strings.NewReader(""), &out, &errb)
		return code, errb.String()
	}
	code, msg := run("user", "add", "alice", "-role", "admin", "-data", typo)
	if code == 0 || !strings.Contains(msg, "holds no tollgate database") || !strings.Contains(msg, "-create") {
		t.Fatalf("user add into a missing data dir: exit %d, %q; want a refusal naming -create", code, msg)
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Fatalf("the refused data directory was created anyway (%v)", err)
	}
	if code, msg := run("user", "list", "-data", typo); code == 0 {
		t.Errorf("user list of a missing data dir: exit 0 (%q)", msg)
	}
	if code, msg := run("user", "add", "alice", "-role", "admin", "-data", typo, "-create"); code != 0 {
		t.Fatalf("user add -create: exit %d: %s", code, msg)
	}
	if _, err := os.Stat(filepath.Join(typo, "tollgate.db")); err != nil {
		t.Fatalf("-create made no database: %v", err)
	}
	if code, msg := run("user", "add", "bob", "-role", "viewer", "-data", typo); code != 0 {
		t.Fatalf("user add into the now existing data dir: exit %d: %s", code, msg)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"user", "list", "-data", typo}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "alice") || !strings.Contains(out.String(), "bob") {
		t.Errorf("user list: exit %d, %q %q", code, out.String(), errb.String())
	}
}
