package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/store"
)

// TestRefreshLoopsReadTheStore: a block and a token written straight into
// the store — as another process sharing it does — reach screening and
// the API through the refresh loops (cli/refresh.go), with no request to
// this server.
func TestRefreshLoopsReadTheStore(t *testing.T) {
	s, _ := start(t, t.TempDir(), apiPolicy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: "test"}
	n := 0
	// Each call from its own extension, so no limit is what rejects it.
	screen := func() (string, string) {
		n++
		code, v := c.call("POST", "/v1/screen", screenBody(fmt.Sprint("r", n), "acme", fmt.Sprint(1000+n), "+4930123456"))
		if code != 200 {
			t.Fatalf("screen: %d %v", code, v)
		}
		return v["action"].(string), fmt.Sprint(v["reasons"])
	}
	if a, why := screen(); a != "allow" {
		t.Fatalf("before the block: %s %s, want allow", a, why)
	}
	ctx := context.Background()
	if _, err := s.Store.AddBlock(ctx, store.Block{Kind: "number", Value: "+4930123456", Reason: "pumping", Source: "manual", Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	var why string
	poll(t, "the block written to the store rejecting the number", func() bool {
		var a string
		a, why = screen()
		return a == "reject"
	})
	if !strings.Contains(why, "block") {
		t.Errorf("rejected for %s, want the block", why)
	}

	const secret = "tg_written-elsewhere"
	if code, _ := c.do("GET", "/v1/alerts", secret, nil); code != 401 {
		t.Fatalf("unknown token: %d, want 401", code)
	}
	if err := s.Store.PutToken(ctx, store.Token{Name: "elsewhere", Role: "read", Hash: api.HashToken(secret), Created: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the token written to the store accepted", func() bool {
		code, _ := c.do("GET", "/v1/alerts", secret, nil)
		return code == 200
	})
}
