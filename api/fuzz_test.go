package api

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

var (
	fuzzOnce sync.Once
	fuzzEng  *engine.Engine
)

// FuzzScreenRequest feeds arbitrary bodies through the /v1/screen path:
// JSON decoding, request checks, the engine and the response encoder must
// never panic, and whatever is encoded must be valid JSON.
func FuzzScreenRequest(f *testing.F) {
	f.Add([]byte(`{"call_id":"a","tenant":"acme","extension":"1001","callee":"+252612345678"}`))
	f.Add([]byte(`{"call_id":"b","callee":"011442071234567","time":"2026-11-23T03:00:00Z","source_ip":"192.0.2.1"}`))
	f.Add([]byte(`{"call_id":"c","callee":"911","direction":"inbound"}`))
	f.Add([]byte(`{"call_id":"\u2028","callee":"+1 (900) 555-1234","caller":"<\"x\">"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzOnce.Do(func() {
			intel, err := number.New(number.Options{})
			if err != nil {
				panic(err)
			}
			fuzzEng, err = engine.New(engine.Options{Config: config.Default(), Numbers: intel})
			if err != nil {
				panic(err)
			}
		})
		var q ScreenRequest
		if json.Unmarshal(body, &q) != nil {
			return
		}
		var c screen.Call
		if field, _ := ToCall(&q, &c); field != "" {
			return
		}
		var v screen.Verdict
		if err := fuzzEng.Screen(context.Background(), &c, &v); err != nil {
			return
		}
		out := AppendVerdict(nil, &c, &v)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON response %q", out)
		}
	})
}
