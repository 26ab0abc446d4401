package cli

import (
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
)

// TestRedisPassword: the Redis password comes from the variable
// cluster.redis.password_env names, read where the node connects; named
// but empty is a config error, checked by 'config check' too.
func TestRedisPassword(t *testing.T) {
	cfg := config.Default()
	opts, err := redisOptions(cfg)
	if err != nil {
		t.Fatalf("no password_env: %v", err)
	}
	if opts.Password != "" {
		t.Errorf("no password_env: password %q; want none", opts.Password)
	}
	cfg.Cluster.Redis.PasswordEnv = "TG_TEST_REDIS_PW"
	t.Setenv("TG_TEST_REDIS_PW", "")
	cfg.Cluster.Redis.Password = config.SecretFromEnv("TG_TEST_REDIS_PW") // as config.Parse reads it
	if _, err := redisOptions(cfg); err == nil || !strings.Contains(err.Error(), "cluster.redis.password_env") {
		t.Errorf("empty password variable: %v, want an error naming cluster.redis.password_env", err)
	}
	cfg.Cluster.Postgres.DSNEnv = "TG_TEST_PG_DSN"
	t.Setenv("TG_TEST_PG_DSN", "postgres://127.0.0.1/x")
	cfg.Cluster.Postgres.DSN = config.SecretFromEnv("TG_TEST_PG_DSN")
	if err := clusterSecrets(cfg); err == nil || !strings.Contains(err.Error(), "cluster.redis.password_env") {
		t.Errorf("clusterSecrets with an empty password variable: %v", err)
	}
	t.Setenv("TG_TEST_REDIS_PW", "s3cret")
	cfg.Cluster.Redis.Password = config.SecretFromEnv("TG_TEST_REDIS_PW")
	if opts, err = redisOptions(cfg); err != nil {
		t.Fatalf("password set: %v", err)
	}
	if opts.Password != "s3cret" {
		t.Errorf("password set: %q; want s3cret", opts.Password)
	}
	if err := clusterSecrets(cfg); err != nil {
		t.Errorf("clusterSecrets with both set: %v", err)
	}
}
