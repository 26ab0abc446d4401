package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLiveServeRefusesSkewedTimes: with server.max_clock_skew_s a live
// server answers 400, naming the setting and the replay, to a screening
// or call event stamped further from its clock, and serves those within.
func TestLiveServeRefusesSkewedTimes(t *testing.T) {
	policy := strings.Replace(apiPolicy, "server:\n", "server:\n  max_clock_skew_s: 60\n", 1)
	s, _ := start(t, t.TempDir(), policy)
	defer stop(t, s)
	c := &client{t: t, base: "http://" + s.Addr.String(), token: "test"}
	now := time.Now().UTC()
	body := func(id string, at time.Time) map[string]any {
		b := screenBody(id, "acme", "1001", "+4930123456")
		b["time"] = at.Format(time.RFC3339Nano)
		return b
	}
	for _, tc := range []struct {
		at   time.Duration
		code int
		want string
	}{
		{-10 * time.Second, 200, ""},
		{-5 * time.Minute, 400, "behind this node's clock"},
		{5 * time.Minute, 400, "ahead of this node's clock"},
		{-26 * time.Hour, 400, "tollgate replay"},
	} {
		code, v := c.call("POST", "/v1/screen", body(fmt.Sprint("skew", tc.at), now.Add(tc.at)))
		if code != tc.code {
			t.Errorf("call stamped %s: %d %v, want %d", tc.at, code, v, tc.code)
			continue
		}
		if tc.want != "" && (!strings.Contains(fmt.Sprint(v["error"]), tc.want) || !strings.Contains(fmt.Sprint(v["error"]), "max_clock_skew_s")) {
			t.Errorf("call stamped %s: error %q, want it to say %q and name max_clock_skew_s", tc.at, v["error"], tc.want)
		}
	}
	id := fmt.Sprint("skew", -10*time.Second)
	if code, v := c.call("POST", "/v1/calls/"+id+"/events", map[string]any{"type": "end", "time": now.Add(10 * time.Minute).Format(time.RFC3339)}); code != 400 {
		t.Errorf("end stamped 10 min ahead: %d %v, want 400", code, v)
	}
	if code, v := c.call("POST", "/v1/calls/"+id+"/events", map[string]any{"type": "end"}); code != 200 {
		t.Errorf("end stamped by the server: %d %v, want 200", code, v)
	}
}
