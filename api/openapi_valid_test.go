package api

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIValid checks that docs/openapi.yaml (the same bytes the server
// embeds and serves) is a structurally valid OpenAPI 3.0 document, the way
// an OpenAPI validator reads it: the root fields, every path item and
// operation, responses, parameters (every path template variable declared
// as a required path parameter), schemas (known keywords and types only),
// every $ref resolving inside the document, and no key without a value —
// which is what an unquoted comma inside a flow mapping produces
// ("{description: a, b}" is a description "a" and a key "b" with no value).
func TestOpenAPIValid(t *testing.T) {
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	errs := validateOpenAPI(b)
	for _, e := range errs {
		t.Error(e)
	}
}

// TestOpenAPIValidatorCatches feeds the validator documents with one defect
// each: it must name every one (a validator that accepts everything would
// pass TestOpenAPIValid too).
func TestOpenAPIValidatorCatches(t *testing.T) {
	const good = `openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /v1/things/{id}:
    get:
      summary: one thing
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: the thing
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
components:
  schemas:
    Thing:
      type: object
      properties:
        n: {type: integer, description: "a count, never negative"}
`
	if errs := validateOpenAPI([]byte(good)); len(errs) != 0 {
		t.Fatalf("valid document refused: %v", errs)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"unquoted comma", `description: "a count, never negative"`, `description: a count, never negative`, "no value"},
		{"dangling ref", `#/components/schemas/Thing'`, `#/components/schemas/Thin'`, "does not resolve"},
		{"bad version", `openapi: 3.0.3`, `openapi: 2.0`, "openapi"},
		{"no responses", "      responses:\n        \"200\":\n          description: the thing\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Thing'}\n", "", "responses"},
		{"undeclared path parameter", `{name: id, in: path, required: true, schema: {type: string}}`, `{name: idx, in: query, schema: {type: string}}`, "path parameter"},
		{"unknown schema keyword", `n: {type: integer,`, `n: {type: integer, maximun: 3,`, "maximun"},
		{"bad type", `n: {type: integer,`, `n: {type: int,`, "type"},
		{"unknown operation key", `      summary: one thing`, `      sumary: one thing`, "sumary"},
		{"response without description", `          description: the thing`, `          x-note: the thing`, "description"},
		{"bad status", `        "200":`, `        "2000":`, "status"},
	} {
		doc := strings.Replace(good, c.from, c.to, 1)
		if doc == good {
			t.Fatalf("%s: the mutation did not apply", c.name)
		}
		errs := validateOpenAPI([]byte(doc))
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e, c.want)
		}
		if !found {
			t.Errorf("%s: want an error mentioning %q, got %v", c.name, c.want, errs)
		}
	}
}

// TestOpenAPIRoutesBothWays: every route the API registers (the
// mux.HandleFunc calls of the package's files — the route table) is in the
// document with its method, and every operation in the document is a
// registered route.
func TestOpenAPIRoutesBothWays(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	b, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	routes := registeredRoutes(t)
	if len(routes) < 40 {
		t.Fatalf("found %d routes in the route table; the pattern no longer matches the source", len(routes))
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(httpMethods, m) {
				documented[strings.ToUpper(m)+" "+path] = true
			}
		}
	}
	for r := range routes {
		if !documented[r] {
			t.Errorf("route %s is registered but not in docs/openapi.yaml", r)
		}
	}
	for d := range documented {
		if !routes[d] {
			t.Errorf("docs/openapi.yaml documents %s, which no route serves", d)
		}
	}
}

// registeredRoutes reads "METHOD /path" of every mux.HandleFunc call in
// the package's non-test files (the catch-all "/" is not an API route).
func registeredRoutes(t *testing.T) map[string]bool {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`mux\.HandleFunc\("(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) ([^"]+)"`)
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			out[m[1]+" "+m[2]] = true
		}
	}
	return out
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

var (
	rootKeys      = []string{"openapi", "info", "servers", "paths", "components", "security", "tags", "externalDocs"}
	infoKeys      = []string{"title", "description", "termsOfService", "contact", "license", "version"}
	pathItemKeys  = append([]string{"$ref", "summary", "description", "servers", "parameters"}, httpMethods...)
	operationKeys = []string{"tags", "summary", "description", "externalDocs", "operationId", "parameters", "requestBody", "responses", "callbacks", "deprecated", "security", "servers"}
	responseKeys  = []string{"description", "headers", "content", "links"}
	paramKeys     = []string{"name", "in", "description", "required", "deprecated", "allowEmptyValue", "style", "explode", "allowReserved", "schema", "example", "examples", "content"}
	bodyKeys      = []string{"description", "content", "required"}
	mediaKeys     = []string{"schema", "example", "examples", "encoding"}
	schemaKeys    = []string{"title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
		"maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum", "type", "allOf", "oneOf", "anyOf", "not",
		"items", "properties", "additionalProperties", "description", "format", "default", "nullable", "discriminator", "readOnly", "writeOnly",
		"xml", "externalDocs", "example", "deprecated"}
	componentKeys = []string{"schemas", "responses", "parameters", "examples", "requestBodies", "headers", "securitySchemes", "links", "callbacks"}
	schemaTypes   = []string{"string", "number", "integer", "boolean", "array", "object"}
	statusRE      = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]XX|default)$`)
	templateRE    = regexp.MustCompile(`\{([^}]+)\}`)
)

// validateOpenAPI returns one message per defect, each with its line.
func validateOpenAPI(b []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return []string{"not YAML: " + err.Error()}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return []string{"the document is not a mapping"}
	}
	v := &oaValidator{root: root.Content[0]}
	v.noEmptyValues(v.root, "")
	v.keys(v.root, "document root", rootKeys)
	if ver := v.get(v.root, "openapi"); ver == nil || ver.Kind != yaml.ScalarNode || !regexp.MustCompile(`^3\.[0-9]+\.[0-9]+$`).MatchString(ver.Value) {
		v.errf(v.root, "openapi: want a 3.x.y version string")
	}
	if info := v.get(v.root, "info"); info == nil || info.Kind != yaml.MappingNode {
		v.errf(v.root, "info: missing")
	} else {
		v.keys(info, "info", infoKeys)
		for _, k := range []string{"title", "version"} {
			if n := v.get(info, k); n == nil || n.Kind != yaml.ScalarNode || n.Value == "" {
				v.errf(info, "info.%s: missing", k)
			}
		}
	}
	paths := v.get(v.root, "paths")
	if paths == nil || paths.Kind != yaml.MappingNode || len(paths.Content) == 0 {
		v.errf(v.root, "paths: missing or empty")
	} else {
		for i := 0; i+1 < len(paths.Content); i += 2 {
			v.pathItem(paths.Content[i].Value, paths.Content[i+1])
		}
	}
	if comp := v.get(v.root, "components"); comp != nil {
		v.keys(comp, "components", componentKeys)
		if s := v.get(comp, "schemas"); s != nil {
			v.eachValue(s, func(name string, n *yaml.Node) { v.schema(n, "components.schemas."+name) })
		}
		if r := v.get(comp, "responses"); r != nil {
			v.eachValue(r, func(name string, n *yaml.Node) { v.response(n, "components.responses."+name) })
		}
		if p := v.get(comp, "parameters"); p != nil {
			v.eachValue(p, func(name string, n *yaml.Node) { v.parameter(n, "components.parameters."+name) })
		}
	}
	v.refs(v.root)
	return v.errs
}

type oaValidator struct {
	root *yaml.Node
	errs []string
}

func (v *oaValidator) errf(n *yaml.Node, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("line %d: %s", n.Line, fmt.Sprintf(format, args...)))
}

func (v *oaValidator) get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (v *oaValidator) eachValue(m *yaml.Node, f func(string, *yaml.Node)) {
	if m.Kind != yaml.MappingNode {
		v.errf(m, "want a mapping")
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		f(m.Content[i].Value, m.Content[i+1])
	}
}

// keys reports keys outside allowed (extensions x-… are allowed).
func (v *oaValidator) keys(m *yaml.Node, where string, allowed []string) {
	if m.Kind != yaml.MappingNode {
		v.errf(m, "%s: want a mapping", where)
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i].Value
		if !slices.Contains(allowed, k) && !strings.HasPrefix(k, "x-") {
			v.errf(m.Content[i], "%s: unknown field %q", where, k)
		}
	}
}

// noEmptyValues reports keys with no value: nothing in an OpenAPI document
// is null except examples and defaults.
func (v *oaValidator) noEmptyValues(n *yaml.Node, parent string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" && k.Value != "example" && k.Value != "default" {
				v.errf(k, "key %q has no value (an unquoted comma in a flow mapping? quote the text)", k.Value)
			}
			if k.Value != "example" && k.Value != "examples" {
				v.noEmptyValues(val, k.Value)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			v.noEmptyValues(c, parent)
		}
	}
}

func (v *oaValidator) isRef(n *yaml.Node, where string) bool {
	r := v.get(n, "$ref")
	if r == nil {
		return false
	}
	if len(n.Content) != 2 {
		v.errf(n, "%s: $ref beside other fields", where)
	}
	return true
}

func (v *oaValidator) pathItem(path string, item *yaml.Node) {
	where := "paths." + path
	if !strings.HasPrefix(path, "/") {
		v.errf(item, "%s: a path must start with /", where)
	}
	v.keys(item, where, pathItemKeys)
	if item.Kind != yaml.MappingNode {
		return
	}
	declared := v.params(v.get(item, "parameters"), where)
	ops := 0
	for _, m := range httpMethods {
		op := v.get(item, m)
		if op == nil {
			continue
		}
		ops++
		ow := where + "." + m
		v.keys(op, ow, operationKeys)
		pathParams := maps2(declared, v.params(v.get(op, "parameters"), ow))
		for _, tm := range templateRE.FindAllStringSubmatch(path, -1) {
			if !pathParams[tm[1]] {
				v.errf(op, "%s: path parameter {%s} is not declared (in: path, required: true)", ow, tm[1])
			}
		}
		if rb := v.get(op, "requestBody"); rb != nil && !v.isRef(rb, ow+".requestBody") {
			v.keys(rb, ow+".requestBody", bodyKeys)
			v.content(v.get(rb, "content"), ow+".requestBody")
			if v.get(rb, "content") == nil {
				v.errf(rb, "%s.requestBody: content missing", ow)
			}
		}
		resp := v.get(op, "responses")
		if resp == nil || resp.Kind != yaml.MappingNode || len(resp.Content) == 0 {
			v.errf(op, "%s: responses missing", ow)
			continue
		}
		for i := 0; i+1 < len(resp.Content); i += 2 {
			code := resp.Content[i].Value
			if !statusRE.MatchString(code) {
				v.errf(resp.Content[i], "%s: response status %q is not a status code", ow, code)
			}
			v.response(resp.Content[i+1], ow+".responses."+code)
		}
	}
	if ops == 0 {
		v.errf(item, "%s: no operations", where)
	}
}

func maps2(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// params checks a parameter list and returns the names of its required
// path parameters.
func (v *oaValidator) params(list *yaml.Node, where string) map[string]bool {
	out := map[string]bool{}
	if list == nil {
		return out
	}
	if list.Kind != yaml.SequenceNode {
		v.errf(list, "%s.parameters: want a list", where)
		return out
	}
	for _, p := range list.Content {
		if r := v.get(p, "$ref"); r != nil {
			p = v.resolve(r.Value)
			if p == nil {
				continue // reported by refs
			}
		}
		v.parameter(p, where+".parameters")
		if in := v.get(p, "in"); in != nil && in.Value == "path" {
			if req := v.get(p, "required"); req != nil && req.Value == "true" {
				out[v.get(p, "name").Value] = true
			}
		}
	}
	return out
}

func (v *oaValidator) parameter(p *yaml.Node, where string) {
	if v.isRef(p, where) {
		return
	}
	v.keys(p, where, paramKeys)
	name, in := v.get(p, "name"), v.get(p, "in")
	if name == nil || name.Value == "" {
		v.errf(p, "%s: parameter without a name", where)
	}
	if in == nil || !slices.Contains([]string{"query", "header", "path", "cookie"}, in.Value) {
		v.errf(p, "%s: parameter 'in' must be query, header, path or cookie", where)
	}
	if s := v.get(p, "schema"); s != nil {
		v.schema(s, where+".schema")
	} else if v.get(p, "content") == nil {
		v.errf(p, "%s: parameter needs a schema or content", where)
	}
}

func (v *oaValidator) response(r *yaml.Node, where string) {
	if v.isRef(r, where) {
		return
	}
	v.keys(r, where, responseKeys)
	if d := v.get(r, "description"); d == nil || d.Kind != yaml.ScalarNode {
		v.errf(r, "%s: a response needs a description", where)
	}
	if c := v.get(r, "content"); c != nil {
		v.content(c, where)
	}
}

func (v *oaValidator) content(c *yaml.Node, where string) {
	if c == nil {
		return
	}
	v.eachValue(c, func(mt string, m *yaml.Node) {
		if !strings.Contains(mt, "/") {
			v.errf(m, "%s: %q is not a media type", where, mt)
		}
		v.keys(m, where+"."+mt, mediaKeys)
		if s := v.get(m, "schema"); s != nil {
			v.schema(s, where+"."+mt+".schema")
		}
	})
}

func (v *oaValidator) schema(s *yaml.Node, where string) {
	if s.Kind != yaml.MappingNode {
		v.errf(s, "%s: a schema must be a mapping", where)
		return
	}
	if v.isRef(s, where) {
		return
	}
	v.keys(s, where, schemaKeys)
	if ty := v.get(s, "type"); ty != nil && !slices.Contains(schemaTypes, ty.Value) {
		v.errf(ty, "%s: type %q is not one of %v", where, ty.Value, schemaTypes)
	}
	if p := v.get(s, "properties"); p != nil {
		v.eachValue(p, func(name string, n *yaml.Node) { v.schema(n, where+".properties."+name) })
	}
	if it := v.get(s, "items"); it != nil {
		v.schema(it, where+".items")
	}
	if ap := v.get(s, "additionalProperties"); ap != nil && ap.Kind == yaml.MappingNode {
		v.schema(ap, where+".additionalProperties")
	}
	for _, k := range []string{"allOf", "oneOf", "anyOf"} {
		if l := v.get(s, k); l != nil {
			if l.Kind != yaml.SequenceNode {
				v.errf(l, "%s.%s: want a list", where, k)
				continue
			}
			for _, c := range l.Content {
				v.schema(c, where+"."+k)
			}
		}
	}
	if req := v.get(s, "required"); req != nil && req.Kind != yaml.SequenceNode {
		v.errf(req, "%s.required: want a list of property names", where)
	}
}

// resolve follows a local JSON pointer ("#/components/schemas/X").
func (v *oaValidator) resolve(ref string) *yaml.Node {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	n := v.root
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		n = v.get(n, part)
		if n == nil {
			return nil
		}
	}
	return n
}

func (v *oaValidator) refs(n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "$ref" {
				if v.resolve(n.Content[i+1].Value) == nil {
					v.errf(n.Content[i+1], "$ref %q does not resolve inside the document", n.Content[i+1].Value)
				}
				continue
			}
			v.refs(n.Content[i+1])
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			v.refs(c)
		}
	}
}
