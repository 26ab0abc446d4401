package test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// TestKamailioRedirect runs the reference integration end to end: SIPp
// UAC → Kamailio (deploy/kamailio/kamailio.cfg) → tollgate redirect →
// Kamailio follows the 302 → SIPp UAS, with call events posted back.
func TestKamailioRedirect(t *testing.T) {
	r := newRig(t)
	eng := r.srv.Engine

	t.Run("allowed call reaches the UAS", func(t *testing.T) {
		ok, trace := r.call("uac_auth_call.xml", "1001;+12125550100")
		if !ok {
			t.Fatalf("allowed call failed:\n%s", testenv.Tail(trace, 3000))
		}
		if !strings.Contains(trace, "X-Tollgate-Verdict") && r.srv.SIP.Stats().Redirected.Load() == 0 {
			t.Errorf("tollgate redirected no call")
		}
	})

	t.Run("call to Somalia rejected with the reason", func(t *testing.T) {
		ok, trace := r.call("uac_auth_reject.xml", "1002;+25261234567")
		if !ok {
			t.Fatalf("rejected-call scenario failed:\n%s", testenv.Tail(trace, 3000))
		}
		if !strings.Contains(trace, `Reason: SIP;cause=403;text="`) || !strings.Contains(trace, "252") {
			t.Errorf("UAC did not see a Reason naming the destination:\n%s", testenv.Tail(trace, 3000))
		}
	})

	t.Run("international burst rejected at the limit", func(t *testing.T) {
		// international_calls_per_hour is 3: three calls go through …
		ok, trace := r.call("uac_auth_call.xml", "2001;+442079460001", "2001;+442079460002", "2001;+442079460003")
		if !ok {
			t.Fatalf("first three international calls failed:\n%s", testenv.Tail(trace, 3000))
		}
		// … and the fourth and fifth are refused.
		ok, trace = r.call("uac_auth_reject.xml", "2001;+442079460004", "2001;+442079460005")
		if !ok {
			t.Fatalf("calls over the limit were not rejected:\n%s", testenv.Tail(trace, 3000))
		}
		// Another extension is not affected. (Its number is in another
		// range: after four numbers of +44 20 7946 0… the call-pattern
		// detector blocks that range for the tenant as range dialing.)
		if ok, trace = r.call("uac_auth_call.xml", "2002;+441614960006"); !ok {
			t.Fatalf("another extension's international call failed:\n%s", testenv.Tail(trace, 3000))
		}
	})

	t.Run("counters back to zero after hangups", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for eng.LiveCalls() != 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := eng.LiveCalls(); n != 0 {
			t.Fatalf("LiveCalls = %d after every call hung up, want 0 (Kamailio's end events lost?)", n)
		}
		// The calls ended because Kamailio said so: five answered calls,
		// five answer and five end events through the events API.
		var answers, ends int
		for time.Now().Before(deadline) {
			es, err := r.srv.Store.CallEventsSince(t.Context(), time.Now().Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			answers, ends = 0, 0
			for _, e := range es {
				switch e.Type {
				case "answer":
					answers++
				case "end":
					ends++
				}
			}
			if answers >= 5 && ends >= 5 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if answers != 5 || ends != 5 {
			t.Errorf("events from Kamailio: %d answer, %d end; want 5 and 5", answers, ends)
		}
	})
}
