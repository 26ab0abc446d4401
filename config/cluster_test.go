package config

import (
	"strings"
	"testing"
)

func TestClusterSection(t *testing.T) {
	base := "defaults:\n  country: US\n  timezone: UTC\n  on_error: fail_open\n"
	cases := []struct {
		name, yaml, want string // want: "" = valid, else a substring of the error
	}{
		{"single server", "cluster:\n  redis: {addr: \"127.0.0.1:6379\"}\n  postgres: {dsn_env: PG_DSN}\n", ""},
		{"sentinel", "cluster:\n  redis: {sentinels: [\"10.0.0.1:26379\"], master_name: tg}\n  postgres: {dsn_env: PG_DSN}\n", ""},
		{"redis cluster", "cluster:\n  redis: {cluster_addrs: [\"10.0.0.1:7000\", \"10.0.0.2:7000\"]}\n  postgres: {dsn_env: PG_DSN}\n", ""},
		{"disabled", "cluster:\n  enabled: false\n", ""},
		{"two ways", "cluster:\n  redis: {addr: \"a:1\", cluster_addrs: [\"b:2\"]}\n  postgres: {dsn_env: PG_DSN}\n", "test.yaml:6: cluster.redis: want exactly one"},
		{"no port", "cluster:\n  redis: {addr: \"redis\"}\n  postgres: {dsn_env: PG_DSN}\n", "cluster.redis.addr: want host:port"},
		{"sentinel without master", "cluster:\n  redis: {sentinels: [\"a:1\"]}\n  postgres: {dsn_env: PG_DSN}\n", "cluster.redis.master_name: required"},
		{"dsn in the file", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres:\n    dsn_env: \"postgres://u:pw@h/db\"\n", "test.yaml:8: cluster.postgres.dsn_env: want an environment variable name"},
		{"no dsn", "cluster:\n  redis: {addr: \"a:1\"}\n", "cluster.postgres.dsn_env: required"},
		{"typo", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X}\n  nod: a\n", "cluster.nod"},
		{"short audit", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X, audit_retention_years: 2}\n", "cluster.postgres.audit_retention_years"},
		{"bad timeout", "cluster:\n  redis: {addr: \"a:1\", timeout_ms: 5}\n  postgres: {dsn_env: X}\n", "cluster.redis.timeout_ms"},
		{"detectors", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X}\n  detectors: {partitions: 4, lease_ms: 2000, retain_s: 600}\n", ""},
		{"zero partitions", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X}\n  detectors:\n    partitions: -1\n", "test.yaml:9: cluster.detectors.partitions"},
		{"short lease", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X}\n  detectors: {lease_ms: 10}\n", "cluster.detectors.lease_ms"},
		{"retain below lease", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X}\n  detectors: {lease_ms: 600000, retain_s: 600}\n", "cluster.detectors.retain_s"},
		{"max conns", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X, max_conns: 24}\n", ""},
		{"tiny pool", "cluster:\n  redis: {addr: \"a:1\"}\n  postgres: {dsn_env: X, max_conns: 2}\n", "cluster.postgres.max_conns"},
		{"db in cluster", "cluster:\n  redis: {cluster_addrs: [\"a:1\"], db: 2}\n  postgres: {dsn_env: X}\n", "cluster.redis.db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("test.yaml", []byte(base+tc.yaml))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tc.want)
			}
			_ = cfg
		})
	}
	cfg, err := Parse("test.yaml", []byte(base+cases[0].yaml))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if !c.Enabled || c.Redis.Prefix != "tg" || c.Redis.TimeoutMS != 250 || c.Postgres.RetentionDays != 400 || c.Postgres.AuditRetentionYears != 7 || c.Postgres.SpoolMaxMB != 1024 {
		t.Errorf("defaults: %+v", c)
	}
	if d := c.Detectors; d.Partitions != 16 || d.LeaseMS != 5000 || d.ClaimIdleMS != 5000 || d.RetainS != 3600 || d.Queue != 65536 {
		t.Errorf("detector stream defaults: %+v", d)
	}
	if cfg, _ := Parse("test.yaml", []byte(base)); cfg.Cluster.Enabled {
		t.Error("cluster mode on without a cluster section")
	}
}
