package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/store"
)

// TestExitCode: the command line's one mapping from an error to an exit
// status: a wrong command (usage, configuration, or a request error of
// any domain: invalid, not found, conflict) exits 2, a failure 1.
func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want int
	}{
		{usagef("want one NUMBER"), exitUsage},
		{&config.Error{File: "p.yaml", Line: 3, Field: "tenants", Msg: "bad"}, exitUsage},
		{fmt.Errorf("revoke x: %w", store.ErrNotFound), exitUsage},
		{fmt.Errorf("import: %w: line 4", compliance.ErrInvalid), exitUsage},
		{errkind.New(errkind.Conflict, "taken"), exitUsage},
		{errkind.New(errkind.Unavailable, "redis: down"), exitError},
		{errors.New("disk on fire"), exitError},
	} {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	// End to end: revoking a token that is not there names it and exits 2.
	data := filepath.Join(t.TempDir(), "data")
	if code, out := runCLI("token", "add", "ci", "-role", "read", "-data", data); code != 0 {
		t.Fatalf("token add: %d %s", code, out)
	}
	code, out := runCLI("token", "revoke", "nosuch", "-data", data)
	if code != exitUsage || !strings.Contains(out, "not found") {
		t.Errorf("token revoke nosuch: exit %d %q, want 2 saying not found", code, out)
	}
}
