package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/internal/testenv"
	"github.com/tollgate-voip/tollgate/store/postgres"
)

// TestClusterNodeStartsWithPostgresDown restarts a cluster node while its
// PostgreSQL server is stopped: the node starts, answers every screening
// per its tenant's on_error (the block list cannot be confirmed), spools
// the decisions locally and, once PostgreSQL is started again, writes
// them there and decides normally.
// It runs with the detectors off and on (their action store).
func TestClusterNodeStartsWithPostgresDown(t *testing.T) {
	for _, detectors := range []bool{false, true} {
		t.Run(fmt.Sprint("detectors=", detectors), func(t *testing.T) { nodeStartsWithPostgresDown(t, detectors) })
	}
}

func nodeStartsWithPostgresDown(t *testing.T, detectors bool) {
	redis, pg := testenv.NewRedis(t), testenv.NewPostgres(t)
	dsn, err := pg.CreateDatabase("tollgate")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_TEST_PG_DSN", dsn)
	policy := fmt.Sprintf(clusterPolicy, 10, "n1", redis.Addr)
	if detectors {
		policy = strings.Replace(policy, "enabled: false   # detectors across nodes", "enabled: true   # detectors across nodes", 1)
	}
	cfg, err := config.Parse("cluster.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Detect.Enabled != detectors {
		t.Fatalf("detectors enabled %v, want %v", cfg.Detect.Enabled, detectors)
	}
	dir := t.TempDir()
	startNode := func() (*Server, *client) {
		t.Helper()
		s, err := Start(context.Background(), Options{Config: cfg, DataDir: dir, Listen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Stdout: io.Discard})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		return s, &client{t: t, base: "http://" + s.Addr.String(), token: "test"}
	}

	// A first life with PostgreSQL up: schema made, a call, a clean stop.
	s, c := startNode()
	if _, v := c.call("POST", "/v1/screen", screenBody("up-1", "acme", "1001", "+4930123456")); v["action"] != "allow" {
		t.Fatalf("with PostgreSQL up: %v", v)
	}
	stop(t, s)

	pg.Stop()
	s, c = startNode()
	defer func() { stop(t, s) }()
	want := []struct {
		id, tenant, callee, action, reason string
	}{
		{"down-closed", "acme", "+4930123456", "reject", "fail_closed"},
		{"down-open", "openco", "+4930123456", "allow", "fail_open"},
		{"down-911", "acme", "911", "allow", ""},
	}
	for _, w := range want {
		code, v := c.call("POST", "/v1/screen", screenBody(w.id, w.tenant, "1002", w.callee))
		if code != 200 || v["action"] != w.action || !strings.Contains(fmt.Sprint(v["reasons"]), w.reason) {
			t.Errorf("%s (%s) with PostgreSQL down: %d %v, want %s (%s)", w.id, w.tenant, code, v, w.action, w.reason)
		}
	}
	if n := s.cl.spool.Spooled.Load(); n == 0 {
		t.Error("nothing spooled while PostgreSQL was down")
	}

	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	// The spooled decisions reach PostgreSQL.
	deadline := time.Now().Add(30 * time.Second)
	missing := map[string]bool{"down-closed": true, "down-open": true, "down-911": true}
	for len(missing) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			continue
		}
		ds, err := db.DecisionsSince(context.Background(), time.Time{})
		db.Close()
		if err != nil {
			continue
		}
		for _, d := range ds {
			delete(missing, d.CallID)
		}
	}
	if len(missing) > 0 {
		t.Errorf("decisions taken while PostgreSQL was down never reached it: %v (spool: %d spooled, %d drained)", missing, s.cl.spool.Spooled.Load(), s.cl.spool.Drained.Load())
	}
	// And the node decides by its policy again once the block list is read.
	var v map[string]any
	for i := 0; time.Now().Before(deadline); i++ {
		if _, v = c.call("POST", "/v1/screen", screenBody(fmt.Sprint("back-", i), "acme", "1003", "+4930123456")); v["action"] == "allow" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v["action"] != "allow" {
		t.Errorf("acme still refused after PostgreSQL came back: %v", v)
	}
}
