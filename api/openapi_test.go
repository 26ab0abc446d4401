package api

import (
	"bytes"
	"os"
	"regexp"
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
	src, err := os.ReadFile("api.go")
	if err != nil {
		t.Fatal(err)
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
