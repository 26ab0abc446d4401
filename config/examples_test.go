package config

import (
	"path/filepath"
	"testing"
)

// TestShippedPolicies: the policy files the README points people at load
// without errors, so a copy-and-edit starts from something valid.
func TestShippedPolicies(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example policies found")
	}
	for _, f := range files {
		c, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(c.Tenants) == 0 {
			t.Errorf("%s: no tenants", f)
		}
	}
}
