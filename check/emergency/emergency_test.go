package emergency_test

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/check/emergency"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/screen/screentest"
)

// refuseAll stands for every check after emergency in the order table.
type refuseAll struct{}

func (refuseAll) Name() string { return "refuse_all" }
func (refuseAll) Check(_ context.Context, _ *screen.Call, v *screen.Verdict) screen.Flow {
	v.Add(screen.Reason{Check: "refuse_all", Code: "refused", Action: screen.Reject})
	return screen.Stop
}

func TestEmergencyStopsTheChain(t *testing.T) {
	at := time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		e164   string
		kind   number.Kind
		action screen.Action
		codes  []string
	}{
		{"+112", number.Emergency, screen.Allow, []string{"emergency_number"}},
		{"+4930123456", number.Subscriber, screen.Reject, []string{"refused"}},
	} {
		call := screentest.Outbound("acme", "1001", c.e164, at)
		call.Dest.Kind = c.kind
		screentest.Expect(t, screentest.Run(call, emergency.New(), refuseAll{}), c.action, c.codes...)
	}
}
