package config

import (
	"bytes"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// fileLayout is a policy file's top level with the resolved values, in
// the order docs/config.md describes them. It is what
// 'tollgate config default -full' prints and what the key reference walks.
type fileLayout struct {
	Server              Server             `yaml:"server"`
	SIP                 SIP                `yaml:"sip"`
	Numbers             Numbers            `yaml:"numbers"`
	System              System             `yaml:"system"`
	AllowUnknownTenants bool               `yaml:"allow_unknown_tenants"`
	Defaults            *Tenant            `yaml:"defaults"`
	Tenants             map[string]*Tenant `yaml:"tenants"`
	Honeypot            Honeypot           `yaml:"honeypot"`
	Attack              Attack             `yaml:"attack"`
	STIR                STIR               `yaml:"stir"`
	Detectors           Detect             `yaml:"detectors"`
	Alerts              Alerts             `yaml:"alerts"`
	Quality             Quality            `yaml:"quality"`
	Console             Console            `yaml:"console"`
	Cluster             Cluster            `yaml:"cluster"`
	Voice               Voice              `yaml:"voice"`
	Asterisk            Asterisk           `yaml:"asterisk"`
}

// FullYAML renders c as a policy file holding every key with its
// effective value: what the file set, and the default for everything it
// left out. The output parses back to the same policy.
func FullYAML(c *Config) ([]byte, error) {
	l := fileLayout{
		Server: c.Server, SIP: c.SIP, Numbers: c.Numbers, System: c.System,
		AllowUnknownTenants: c.AllowUnknownTenants, Defaults: c.Defaults, Tenants: c.Tenants,
		Honeypot: c.Honeypot, Attack: c.Attack, STIR: c.STIR, Detectors: c.Detect, Alerts: c.Alerts,
		Quality: c.Quality, Console: c.Console, Cluster: c.Cluster, Voice: c.Voice, Asterisk: c.Asterisk,
	}
	if l.Tenants == nil {
		l.Tenants = map[string]*Tenant{}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&l); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Key is one configuration key of the reference: its dotted path (map
// entries as <name>, list items as []) and its type as the file writes it.
type Key struct {
	Path string
	Type string

	owner, field string // the Go struct and field, for the reference
}

// Keys lists every key a policy file may hold, walked from the config
// types by reflection, in file order.
func Keys() []Key {
	var out []Key
	walkKeys(reflect.TypeOf(fileLayout{}), "", &out, map[reflect.Type]bool{})
	return out
}

func walkKeys(t reflect.Type, prefix string, out *[]Key, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if inline(f) {
			walkKeys(f.Type, prefix, out, seen)
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		*out = append(*out, Key{Path: path, Type: typeName(f.Type), owner: t.Name(), field: f.Name})
		walkInto(f.Type, path, out, seen)
	}
}

// walkInto descends into structs, map values and list items.
func walkInto(t reflect.Type, path string, out *[]Key, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == limitType || t == amountType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		walkKeys(t, path, out, seen)
	case reflect.Map:
		if isStructish(t.Elem()) {
			walkInto(t.Elem(), path+".<name>", out, seen)
		}
	case reflect.Slice:
		if isStructish(t.Elem()) {
			walkInto(t.Elem(), path+"[]", out, seen)
		}
	}
}

func isStructish(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && t != limitType && t != amountType
}

// typeName is a key's type in the reference's words.
func typeName(t reflect.Type) string {
	ptr := false
	for t.Kind() == reflect.Pointer {
		t, ptr = t.Elem(), true
	}
	opt := ""
	if ptr {
		opt = " (optional)"
	}
	switch {
	case t == limitType:
		return "limit (number or \"off\")" + opt
	case t == amountType:
		return "amount (number)" + opt
	}
	switch t.Kind() {
	case reflect.String:
		return "string" + opt
	case reflect.Bool:
		return "bool" + opt
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer" + opt
	case reflect.Float32, reflect.Float64:
		return "number" + opt
	case reflect.Struct:
		return "mapping" + opt
	case reflect.Map:
		if isStructish(t.Elem()) {
			return "map of name → mapping"
		}
		return "map of " + strings.TrimSuffix(typeName(t.Key()), opt) + " → " + typeName(t.Elem())
	case reflect.Slice:
		if isStructish(t.Elem()) {
			return "list of mappings"
		}
		return "list of " + typeName(t.Elem())
	}
	return t.String()
}

// DefaultValues maps each key path of the built-in policy's -full output
// to its value as YAML text (scalars and empty collections only).
func DefaultValues() map[string]string {
	b, err := FullYAML(Default())
	if err != nil {
		panic(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		panic(err)
	}
	out := map[string]string{}
	flatten(n.Content[0], "", out)
	return out
}

func flatten(n *yaml.Node, path string, out map[string]string) {
	switch n.Kind {
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			out[path] = "{}"
		}
		keys := make([]string, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys = append(keys, n.Content[i].Value)
		}
		sort.Strings(keys)
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			flatten(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			out[path] = "[]"
			return
		}
		var vals []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				out[path] = "(list)"
				return
			}
			vals = append(vals, c.Value)
		}
		out[path] = "[" + strings.Join(vals, ", ") + "]"
	case yaml.ScalarNode:
		v := n.Value
		if n.Tag == "!!null" {
			v = "(unset)"
		} else if n.Tag == "!!str" && v == "" {
			v = `""`
		}
		out[path] = v
	}
}
