package config

import (
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	c, err := Parse("p.yaml", []byte(retentionBase+"server:\n  memory_limit_mb: 256\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MemoryLimitMB != 256 {
		t.Errorf("memory_limit_mb = %d, want 256", c.Server.MemoryLimitMB)
	}
	c, err = Parse("p.yaml", []byte(retentionBase+"server:\n  memory_limit_mb: -1\n"))
	if err != nil || c.Server.MemoryLimitMB != -1 {
		t.Errorf("memory_limit_mb -1 (none): err %v", err)
	}
	for _, bad := range []string{"-2", "63", "1048577"} {
		_, err := Parse("p.yaml", []byte(retentionBase+"server:\n  memory_limit_mb: "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "p.yaml:5") || !strings.Contains(err.Error(), "server.memory_limit_mb") {
			t.Errorf("memory_limit_mb %s: %v, want an error at p.yaml:5 naming the key", bad, err)
		}
	}
}
