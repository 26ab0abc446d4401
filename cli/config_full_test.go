package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"gopkg.in/yaml.v3"
)

// TestConfigDefaultFull: 'config default -full' prints every key of the
// config types (walked by reflection; keys inside map entries and list
// items need an entry to show) and parses back; plain 'config default'
// still prints the built-in file as written.
func TestConfigDefaultFull(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"config", "default", "-full"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("-full output is not YAML: %v", err)
	}
	for _, k := range config.Keys() {
		if strings.Contains(k.Path, "<name>") || strings.Contains(k.Path, "[]") {
			continue
		}
		var cur any = doc
		for _, part := range strings.Split(k.Path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Errorf("-full: %s is not reachable", k.Path)
				break
			}
			if cur, ok = m[part]; !ok {
				t.Errorf("-full lacks %s", k.Path)
				break
			}
		}
	}
	if _, err := config.Parse("-full", out.Bytes()); err != nil {
		t.Errorf("-full output is not a valid policy: %v", err)
	}
	out.Reset()
	if code := Main([]string{"config", "default"}, nil, &out, &errb); code != 0 || !bytes.Equal(out.Bytes(), config.DefaultYAML()) {
		t.Errorf("config default: exit %d, output differs from the built-in file", code)
	}
	out.Reset()
	if code := Main([]string{"config", "default", "-full", "-config", "../examples/policy.yaml"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "acme-london:") {
		t.Errorf("config default -full -config: exit %d, %d bytes without the example's tenant", code, out.Len())
	}
}
