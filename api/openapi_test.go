package api

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRoutes keeps the document honest: it parses, the copy
// in docs/ is identical, and every route the server registers is in it.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil || !bytes.Equal(docs, openapi) {
		t.Errorf("docs/openapi.yaml differs from api/openapi.yaml (cp api/openapi.yaml docs/)")
	}
	// Every non-test file of the package registers routes (api.go and
	// the route files that add their own, like reputation.go).
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var src []byte
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	re := regexp.MustCompile(`mux\.HandleFunc\("(GET|POST|DELETE) ([^"]+)"`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		method, path := m[1], m[2]
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("route %s %s missing from openapi.yaml", method, path)
			continue
		}
		if _, ok := ops[map[string]string{"GET": "get", "POST": "post", "DELETE": "delete"}[method]]; !ok {
			t.Errorf("route %s %s: method missing from openapi.yaml", method, path)
		}
	}
}
