package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"
)

// Text checks at the API boundary. JSON must be UTF-8 (RFC 8259 §8.1),
// but encoding/json quietly turns invalid bytes into U+FFFD and accepts
// \u0000, so a NUL or a broken byte sequence could ride an extension or a
// tenant into the decision log, an alert or a block. Every request is
// refused with 400 naming the field when any string in its JSON body, its
// query or its path holds a NUL or invalid UTF-8, or when an identifier
// (the keys in identKeys) holds any control character.

// identKeys are the fields that name something: no control characters.
var identKeys = map[string]bool{
	"tenant": true, "extension": true, "account": true, "caller": true, "callee": true,
	"number": true, "numbers": true, "call_id": true, "id": true, "subject": true, "source_ip": true,
	"value": true, "name": true, "e164": true, "prefix": true, "country": true, "node": true,
	"kind": true, "role": true, "from": true, "to": true, "label": true,
}

// textProblem says what is wrong with s as a value of key, or "".
func textProblem(key, s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "contains a NUL character"
		case identKeys[key] && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)):
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// suspectJSON reports whether raw might hold a string textProblem would
// refuse: invalid UTF-8, or an escaped control character. Most bodies
// hold neither and skip the second look.
func suspectJSON(raw []byte) bool {
	return !utf8.Valid(raw) || bytes.Contains(raw, []byte(`\u00`)) || bytes.Contains(raw, []byte(`\u007`)) ||
		bytes.Contains(raw, []byte(`\u008`)) || bytes.Contains(raw, []byte(`\u009`)) ||
		bytes.IndexByte(raw, 0x7f) >= 0 || bytes.IndexByte(raw, 0xc2) >= 0 || bytes.Contains(raw, []byte(`\n`)) || bytes.Contains(raw, []byte(`\t`)) ||
		bytes.Contains(raw, []byte(`\r`)) || bytes.Contains(raw, []byte(`\b`)) || bytes.Contains(raw, []byte(`\f`))
}

// jsonTextProblem walks a JSON document and returns the path of the
// first string (or key) textProblem refuses, and why. invalid says the
// raw bytes were not UTF-8, in which case the decoder has put U+FFFD
// where they were.
func jsonTextProblem(raw []byte, invalid bool) (field, msg string) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return "", ""
	}
	var walk func(path, key string, v any) bool
	check := func(path, key, s string) bool {
		if invalid && strings.ContainsRune(s, utf8.RuneError) {
			field, msg = path, "not valid UTF-8"
			return true
		}
		if m := textProblem(key, s); m != "" {
			field, msg = path, m
			return true
		}
		return false
	}
	walk = func(path, key string, v any) bool {
		switch x := v.(type) {
		case string:
			return check(path, key, x)
		case []any:
			for i, e := range x {
				if walk(fmt.Sprintf("%s[%d]", path, i), key, e) {
					return true
				}
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if check(p, "name", k) || walk(p, k, x[k]) {
					return true
				}
			}
		}
		return false
	}
	walk("", "", v)
	if invalid && field == "" {
		return "body", "not valid UTF-8"
	}
	return field, msg
}

// requestTextProblem checks a request's path values and query.
func requestTextProblem(r *http.Request) (field, msg string) {
	// Wildcards of the matched pattern, e.g. "GET /v1/numbers/{number}".
	for p := r.Pattern; ; {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			break
		}
		name := strings.TrimSuffix(p[i+1:i+j], "...")
		if m := textProblem(name, r.PathValue(name)); m != "" {
			return name, m
		}
		p = p[i+j:]
	}
	if m := textProblem("", r.URL.Path); m != "" {
		return "path", m
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if m := textProblem("name", k); m != "" {
			return k, m
		}
		for _, v := range q[k] {
			if m := textProblem(k, v); m != "" {
				return k, m
			}
		}
	}
	return "", ""
}
