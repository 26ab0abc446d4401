package api

import (
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIListsDetectionRoutes: the routes registered in cdr.go are in
// the OpenAPI document too.
func TestOpenAPIListsDetectionRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openapi, &doc); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("cdr.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`mux\.HandleFunc\("(GET|POST|DELETE) ([^"]+)"`)
	ms := re.FindAllStringSubmatch(string(src), -1)
	if len(ms) < 7 {
		t.Fatalf("found %d routes in cdr.go; want 7", len(ms))
	}
	for _, m := range ms {
		ops, ok := doc.Paths[m[2]]
		if !ok {
			t.Errorf("route %s %s missing from openapi.yaml", m[1], m[2])
			continue
		}
		if _, ok := ops[map[string]string{"GET": "get", "POST": "post", "DELETE": "delete"}[m[1]]]; !ok {
			t.Errorf("route %s %s: method missing from openapi.yaml", m[1], m[2])
		}
	}
}
