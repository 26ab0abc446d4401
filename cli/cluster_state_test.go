package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// clusterStatePolicy is a cluster node's policy for the sub-commands that
// only read the shared state (no Redis is contacted by them).
const clusterStatePolicy = `
cluster:
  node: ops
  redis: {addr: "127.0.0.1:1"}
  postgres: {dsn_env: TOLLGATE_TEST_PG_DSN}
defaults:
  country: US
  on_error: fail_closed
tenants:
  acme: {}
`

// TestClusterAuditAndIncidentReadPostgres: with -config naming a cluster
// policy, 'audit verify', 'audit export' and 'incident damage' read the
// cluster's PostgreSQL (where every node writes), not an SQLite file in
// the data directory, which here does not even exist.
func TestClusterAuditAndIncidentReadPostgres(t *testing.T) {
	pg := testenv.NewPostgres(t)
	dsn, err := pg.CreateDatabase("tollgate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_PG_DSN", dsn)
	ctx := t.Context()
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	var last store.AuditEntry
	for i := range 3 {
		if last, err = st.AppendAudit(ctx, store.AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "node1", Action: "block.add",
			Object: fmt.Sprintf("block/%d", i), Details: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddAlert(ctx, store.Alert{Time: t0, Tenant: "acme", Extension: "1001", Severity: "critical", Code: "burst", Text: "burst of calls", Status: "open"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(policy, []byte(clusterStatePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "no-such-data")

	code, out := runCLI("audit", "verify", "-config", policy, "-data", data, "-expect", last.Hash)
	if code != 0 || !strings.Contains(out, "audit log intact: 3 entries") {
		t.Errorf("audit verify -config (cluster) = %d\n%s", code, out)
	}
	code, out = runCLI("audit", "export", "-config", policy, "-data", data)
	if n := strings.Count(out, `"actor":"node1"`); code != 0 || n != 3 {
		t.Errorf("audit export -config (cluster) = %d with %d entries of node1, want 3\n%s", code, n, out)
	}
	code, out = runCLI("incident", "damage", "-config", policy, "-data", data,
		"-from", t0.Add(-time.Hour).Format(time.RFC3339), "-to", t0.Add(time.Hour).Format(time.RFC3339))
	var dm struct {
		Alerts     int `json:"alerts"`
		Extensions []struct {
			Extension string `json:"extension"`
		} `json:"extensions"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &dm) != nil || dm.Alerts != 1 || len(dm.Extensions) != 1 || dm.Extensions[0].Extension != "1001" {
		t.Errorf("incident damage -config (cluster) = %d %+v, want the one alert on 1001 stored in PostgreSQL\n%s", code, dm, out)
	}
	if _, err := os.Stat(filepath.Join(data, "tollgate.db")); err == nil {
		t.Errorf("a cluster sub-command created %s", filepath.Join(data, "tollgate.db"))
	}
}
