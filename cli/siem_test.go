package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSIEMStream: a real server with server.siem pointing at a loopback
// TCP collector streams a screening decision and the audit entry of a
// block added through the API as JSON lines.
func TestSIEMStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lines := make(chan string, 100)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	policy := `
server:
  node: edge-7
  siem: {addr: "` + ln.Addr().String() + `", network: tcp, format: json}
defaults:
  country: US
  timezone: America/New_York
  on_error: fail_closed
tenants:
  acme: {}
`
	s, tok := start(t, t.TempDir(), policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: tok}
	if code, v := c.call("POST", "/v1/screen", map[string]any{"call_id": "siem-1", "tenant": "acme", "extension": "1001", "callee": "2125551234"}); code != 200 {
		t.Fatalf("screen = %d %v", code, v)
	}
	if code, v := c.call("POST", "/v1/blocks", map[string]any{"kind": "number", "value": "+4930999999", "reason": "pumping"}); code != 200 && code != 201 {
		t.Fatalf("block = %d %v", code, v)
	}
	var dec, aud bool
	deadline := time.After(10 * time.Second)
	for !dec || !aud {
		select {
		case l := <-lines:
			var m struct {
				Type   string         `json:"type"`
				Host   string         `json:"host"`
				Record map[string]any `json:"record"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil || m.Host != "edge-7" {
				t.Fatalf("line %q (%v)", l, err)
			}
			switch {
			case m.Type == "decision" && m.Record["call_id"] == "siem-1":
				dec = true
			case m.Type == "audit" && m.Record["action"] == "block.add" && strings.Contains(fmt.Sprint(m.Record["details"]), "+4930999999"):
				aud = true
			}
		case <-deadline:
			t.Fatalf("decision seen %v, audit seen %v", dec, aud)
		}
	}
}
