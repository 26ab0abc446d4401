package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeText: whatever the body, decode never panics, a body that is
// not UTF-8 is refused, and nothing it accepts holds a NUL, or a control
// character under an identifier key (issue 16).
func FuzzDecodeText(f *testing.F) {
	f.Add([]byte(`{"tenant":"acme","extension":"1001","reason":"two\nlines"}`))
	f.Add([]byte(`{"extension":"10\u000001"}`))
	f.Add([]byte("{\"extension\":\"1\xff\"}"))
	f.Add([]byte(`{"a":[{"call_id":"x\u0007"}],"b":{"value":"\u0085"}}`))
	f.Add([]byte(`{"ok\\u0000":"\\\\u0000"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var v any
		w := httptest.NewRecorder()
		r, _ := http.NewRequest("POST", "/v1/x", bytes.NewReader(body))
		if !decode(w, r, &v) {
			if w.Code != 400 && w.Code != 413 {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted a body that is not UTF-8: %q", body)
		}
		var walk func(key string, v any)
		walk = func(key string, v any) {
			switch x := v.(type) {
			case string:
				if m := textProblem(key, x); m != "" {
					t.Fatalf("accepted %q under %q: %s", x, key, m)
				}
			case []any:
				for _, e := range x {
					walk(key, e)
				}
			case map[string]any:
				for k, e := range x {
					if strings.ContainsRune(k, 0) {
						t.Fatalf("accepted a NUL in key %q", k)
					}
					walk(k, e)
				}
			}
		}
		walk("", v)
	})
}
