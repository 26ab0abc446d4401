package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// secretPolicy names a secret in every key that can hold one.
const secretPolicy = `server:
  tokens:
    - {name: ops, role: admin, secret_env: TG_TEST_TOKEN}
alerts:
  webhooks: [{url: "https://hooks.example/a", secret_env: TG_TEST_HOOK}]
  email: {addr: "smtp.example:587", from: a@example.com, to: [b@example.com], password_env: TG_TEST_SMTP}
  pagerduty: [{routing_key_env: TG_TEST_PD}]
cluster:
  redis: {addr: "127.0.0.1:6379", password_env: TG_TEST_REDIS}
  postgres: {dsn_env: TG_TEST_DSN}
voice:
  enabled: true
  key_env: TG_TEST_VOICE
  old_key_envs: [TG_TEST_VOICE_OLD]
console:
  audit_key_env: TG_TEST_AUDIT
defaults: {country: US, on_error: fail_open}
`

// secretValues are the texts the variables hold: none may appear in any
// printed, logged or marshalled form of the loaded policy.
var secretValues = map[string]string{
	"TG_TEST_TOKEN":     "tok-s3cret-1",
	"TG_TEST_HOOK":      "hook-s3cret-2",
	"TG_TEST_SMTP":      "smtp-s3cret-3",
	"TG_TEST_PD":        "pd-s3cret-4",
	"TG_TEST_REDIS":     "redis-s3cret-5",
	"TG_TEST_DSN":       "postgres://u:dsn-s3cret-6@db/tg",
	"TG_TEST_VOICE":     "voice-s3cret-7",
	"TG_TEST_VOICE_OLD": "voice-s3cret-8",
	"TG_TEST_AUDIT":     "audit-s3cret-9",
}

// TestSecretsNeverPrint loads a policy whose every secret is set, checks
// that loading read each one (Reveal), then prints the whole config with
// every fmt verb, logs it through slog's text and JSON handlers, and
// marshals it to JSON and YAML: no secret's text may appear anywhere.
func TestSecretsNeverPrint(t *testing.T) {
	for k, v := range secretValues {
		t.Setenv(k, v)
	}
	c, err := Parse("s.yaml", []byte(secretPolicy))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Secret{
		"TG_TEST_TOKEN": c.Server.Tokens[0].Secret, "TG_TEST_HOOK": c.Alerts.Webhooks[0].Secret,
		"TG_TEST_SMTP": c.Alerts.Email.Password, "TG_TEST_PD": c.Alerts.PagerDuty[0].RoutingKey,
		"TG_TEST_REDIS": c.Cluster.Redis.Password, "TG_TEST_DSN": c.Cluster.Postgres.DSN,
		"TG_TEST_VOICE": c.Voice.Key, "TG_TEST_VOICE_OLD": c.Voice.OldKeys[0], "TG_TEST_AUDIT": c.Console.AuditKey,
	}
	for k, s := range got {
		if !s.IsSet() || s.Reveal() != secretValues[k] {
			t.Errorf("%s: loaded %v set=%v, want it read from the environment", k, s, s.IsSet())
		}
	}

	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", c)
		fmt.Fprintf(&out, verb+"\n", *c)
		for _, s := range got {
			fmt.Fprintf(&out, verb+"\n", s)
		}
	}
	fmt.Fprintln(&out, c.Cluster, c.Alerts, c.Server.Tokens, c.Voice)
	// A Secret held where fmt cannot call its methods (an unexported
	// field) shows a pointer, not the text.
	fmt.Fprintf(&out, "%+v\n", struct{ s Secret }{c.Cluster.Postgres.DSN})
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		l := slog.New(h)
		l.Info("loaded", "config", c, "cluster", c.Cluster, "dsn", c.Cluster.Postgres.DSN, "tokens", c.Server.Tokens)
		l.Info("group", slog.Group("g", "key", c.Voice.Key, "email", c.Alerts.Email))
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(y)
	full, err := FullYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(full)

	for k, v := range secretValues {
		if strings.Contains(out.String(), v) {
			t.Errorf("the text of %s (%q) was printed", k, v)
		}
		for _, part := range []string{"s3cret", fmt.Sprintf("%x", v)} {
			if strings.Contains(out.String(), part) {
				t.Errorf("%q (from %s) was printed", part, k)
			}
		}
	}
	if !strings.Contains(out.String(), Redacted) {
		t.Errorf("output never says %s", Redacted)
	}
}

// TestEmptyVariableIsUnset: the one rule for every secret variable: set
// to "" is the same as unset, and so is an empty name.
func TestEmptyVariableIsUnset(t *testing.T) {
	t.Setenv("TG_TEST_EMPTY", "")
	t.Setenv("TG_TEST_SET", " x ")
	for _, name := range []string{"TG_TEST_EMPTY", "TG_TEST_NEVER_SET_ANYWHERE", ""} {
		if s := SecretFromEnv(name); s.IsSet() || s.Reveal() != "" {
			t.Errorf("SecretFromEnv(%q) = set %v, %q; want unset", name, s.IsSet(), s.Reveal())
		}
	}
	if s := SecretFromEnv("TG_TEST_SET"); !s.IsSet() || s.Reveal() != " x " {
		t.Errorf("SecretFromEnv(TG_TEST_SET) = %v, %q; want set, the text as is", s.IsSet(), s.Reveal())
	}
	c, err := Parse("s.yaml", []byte("cluster:\n  redis: {addr: \"127.0.0.1:6379\", password_env: TG_TEST_EMPTY}\n  postgres: {dsn_env: TG_TEST_EMPTY}\ndefaults: {country: US, on_error: fail_open}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Postgres.DSN.IsSet() || c.Cluster.Redis.Password.IsSet() {
		t.Error("an empty variable loaded as a set secret")
	}
	e := c.MissingSecret("cluster.postgres.dsn_env", c.Cluster.Postgres.DSNEnv)
	if want := "s.yaml: cluster.postgres.dsn_env: environment variable TG_TEST_EMPTY is empty or unset"; e.Error() != want {
		t.Errorf("MissingSecret = %q, want %q", e, want)
	}
}
