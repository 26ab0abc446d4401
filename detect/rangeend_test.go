package detect_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/screen"
)

// TestRangeDialingEndsTrippingCall (issue 15, held-out seed 218): the
// call that completes a range-dialing pattern at its start goes to the
// range the finding blocks. It is ended with the block; left up, it ran
// to the per-call cost limit. Calls judged from their CDR (already over)
// name nothing to end.
func TestRangeDialingEndsTrippingCall(t *testing.T) {
	det, got, at := spreadEngine(t)
	for i := 1; i <= 4; i++ {
		r := cdr.Record{CallID: fmt.Sprintf("r%d", i), Tenant: "acme", Extension: fmt.Sprintf("10%02d", i), Callee: fmt.Sprintf("+2213010%03d", 120+i),
			Direction: screen.Outbound, Start: at.Add(time.Duration(i) * time.Minute), SourceIP: "192.0.2.10"}
		if err := det.Start(&r); err != nil {
			t.Fatal(err)
		}
	}
	var ends []string
	n := 0
	for _, f := range *got {
		if f.Code == "range_dialing" {
			n++
			ends = f.EndCalls
		}
	}
	if n != 1 || !slices.Equal(ends, []string{"r4"}) {
		t.Fatalf("range_dialing findings %d, ends %v; want one ending r4 (all: %+v)", n, ends, *got)
	}

	// The same pattern seen only in CDRs: the calls are over.
	det, got, at = spreadEngine(t)
	for i := 1; i <= 4; i++ {
		s := at.Add(time.Duration(i) * time.Minute)
		r := cdr.Record{CallID: fmt.Sprintf("c%d", i), Tenant: "acme", Extension: fmt.Sprintf("10%02d", i), Callee: fmt.Sprintf("+2213010%03d", 120+i),
			Direction: screen.Outbound, Start: s, End: s.Add(40 * time.Second), Duration: 40, Billsec: 30, Disposition: cdr.Answered, SourceIP: "192.0.2.10"}
		if err := det.Observe(&r); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range *got {
		if f.Code == "range_dialing" && len(f.EndCalls) != 0 {
			t.Errorf("a finding from ended calls ends %v", f.EndCalls)
		}
	}
}
