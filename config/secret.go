package config

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Secret is a password, key, token or connection string. The policy file
// never holds one: its keys ending in _env name the environment variable
// that does, and loading reads them all here, through SecretFromEnv, into
// the Secret fields beside those keys. A Secret never prints: fmt (every
// verb), log/slog, encoding/json and YAML show [redacted]; Reveal gives the
// text to the one call that needs it (a client library, a hash).
//
// The rule for every variable is the same: an unset or empty variable is
// no secret (IsSet false). Whoever needs the secret reports that with
// (*Config).MissingSecret; whoever can do without (a Redis without a
// password) does without.
type Secret struct {
	// p is a pointer so that even a Secret held in an unexported field,
	// which fmt prints without calling its methods, shows an address.
	p *string
}

// Redacted is what a Secret prints as.
const Redacted = "[redacted]"

// SecretFromEnv reads the environment variable name; an unset or empty
// variable, or an empty name, gives the zero Secret. It is the only place
// tollgate reads a secret from the environment.
func SecretFromEnv(name string) Secret {
	if name == "" {
		return Secret{}
	}
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return Secret{}
	}
	return Secret{p: &v}
}

// IsSet reports whether the secret's variable was set and not empty.
func (s Secret) IsSet() bool { return s.p != nil }

// Reveal returns the secret's text ("" when unset).
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// String implements fmt.Stringer: always Redacted.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v): always Redacted.
func (s Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that no verb (%x, %q, %d …) shows
// the text.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalText implements encoding.TextMarshaler (JSON, and YAML): Redacted.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer: Redacted.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MissingSecret is the error for a secret that is needed but whose
// variable (env, named by field) is unset or empty.
func (c *Config) MissingSecret(field, env string) *Error {
	return &Error{File: c.File, Field: field, Msg: "environment variable " + env + " is empty or unset"}
}

// secrets reads every secret the policy names from the environment.
func (c *Config) secrets() {
	for i := range c.Server.Tokens {
		t := &c.Server.Tokens[i]
		t.Secret = SecretFromEnv(t.SecretEnv)
	}
	a := &c.Alerts
	for i := range a.Webhooks {
		a.Webhooks[i].Secret = SecretFromEnv(a.Webhooks[i].SecretEnv)
	}
	a.Email.Password = SecretFromEnv(a.Email.PasswordEnv)
	for i := range a.PagerDuty {
		a.PagerDuty[i].RoutingKey = SecretFromEnv(a.PagerDuty[i].RoutingKeyEnv)
	}
	c.Cluster.Redis.Password = SecretFromEnv(c.Cluster.Redis.PasswordEnv)
	c.Cluster.Postgres.DSN = SecretFromEnv(c.Cluster.Postgres.DSNEnv)
	c.Voice.Key = SecretFromEnv(c.Voice.KeyEnv)
	c.Voice.OldKeys = nil
	for _, name := range c.Voice.OldKeyEnvs {
		c.Voice.OldKeys = append(c.Voice.OldKeys, SecretFromEnv(name))
	}
	c.Console.AuditKey = SecretFromEnv(c.Console.AuditKeyEnv)
}
