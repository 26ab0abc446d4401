package config

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// loadedGolden is examples/policy.yaml as loaded (every key of
// FullYAML, one "path = value" line each), written by the parser before
// words, durations and secrets became types (commit 0e2f41f): the file
// format and the loaded values did not change with them.
const loadedGolden = "testdata/examples-policy.loaded"

// TestExamplePolicyLoadsUnchanged: every key and value of the golden is
// still what examples/policy.yaml loads to. Keys added since are not
// errors (the golden is a floor, so new config fields need no update);
// a renamed key, a changed default or a value read differently is.
// -update rewrites the golden (review its diff).
func TestExamplePolicyLoadsUnchanged(t *testing.T) {
	c, err := Load("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := loadedLines(t, c)
	if *update {
		if err := os.WriteFile(loadedGolden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(loadedGolden)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(want) < 500 {
		t.Fatalf("%s holds only %d keys", loadedGolden, len(want))
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			t.Errorf("examples/policy.yaml no longer loads %s", w)
		}
	}
}

// loadedLines flattens FullYAML(c) into sorted "path = value" lines.
func loadedLines(t *testing.T, c *Config) []string {
	t.Helper()
	b, err := FullYAML(c)
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.MappingNode:
			if len(n.Content) == 0 {
				out = append(out, path+" = {}")
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], join(path, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			if len(n.Content) == 0 {
				out = append(out, path+" = []")
			}
			for i, c := range n.Content {
				walk(c, path+"["+strconv.Itoa(i)+"]")
			}
		default:
			out = append(out, path+" = "+n.Value)
		}
	}
	walk(&n, "")
	slices.Sort(out)
	return out
}

// TestRepoPoliciesLoad: every policy file kept in the repository (the
// example, the deployment samples, the simulator's and the detector
// scenarios') loads unchanged in format: no key renamed, no word or
// duration read differently enough to fail.
func TestRepoPoliciesLoad(t *testing.T) {
	var files []string
	for _, g := range []string{"../examples/*.yaml", "../deploy/*/*.yaml", "../simulate/*.yaml", "../detect/testdata/*/policy.yaml"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d policy files found", len(files))
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}
