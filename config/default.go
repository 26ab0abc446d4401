package config

import _ "embed"

//go:embed default.yaml
var defaultPolicy []byte

// DefaultYAML returns the built-in policy.
func DefaultYAML() []byte { return append([]byte(nil), defaultPolicy...) }

// Default returns the built-in policy, parsed.
func Default() *Config {
	c, err := Parse("(built-in policy)", defaultPolicy)
	if err != nil {
		panic("config: built-in policy is invalid: " + err.Error())
	}
	return c
}
