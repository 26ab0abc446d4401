package cli

import (
	"os"
	"strings"
	"testing"
)

// TestMain runs the test binary as a tollgate process when
// TOLLGATE_TEST_SERVE_CHILD holds its arguments: tests that must SIGKILL a
// node start it that way (TestClusterKilledNodeReplaysBufferedBan).
func TestMain(m *testing.M) {
	if args := os.Getenv("TOLLGATE_TEST_SERVE_CHILD"); args != "" {
		os.Exit(Main(strings.Fields(args), strings.NewReader(""), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
