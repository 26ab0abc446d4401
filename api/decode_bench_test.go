package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkDecodeScreenBody measures decode, the JSON boundary of every
// API route, on a typical POST /v1/screen body (issue 16: bodies are now
// read into a pooled buffer and scanned for NUL, invalid UTF-8 and
// control characters before decoding).
func BenchmarkDecodeScreenBody(b *testing.B) {
	body := []byte(`{"call_id":"bench-1","tenant":"acme","extension":"1001","caller":"+12125550100","callee":"+4930123456","direction":"outbound","source_ip":"192.0.2.10"}`)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		r, _ := http.NewRequest("POST", "/v1/screen", bytes.NewReader(body))
		var q ScreenRequest
		if !decode(w, r, &q) {
			b.Fatal("refused")
		}
	}
}
