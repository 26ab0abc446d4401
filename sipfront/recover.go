package sipfront

import (
	"context"
	"net/netip"

	"github.com/tollgate-voip/tollgate/internal/panics"
)

// handleSafe is handle under a recover: a message that makes the front
// end panic gets no answer, is logged (source and transport, never its
// contents) and counted in
// tollgate_panics_recovered_total{component="sipfront"}, and the reader
// goes on with the next one, on UDP and stream transports alike.
func (w *worker) handleSafe(ctx context.Context, raw []byte, src netip.AddrPort, transport string) (resp []byte, dst netip.AddrPort) {
	defer func() {
		// The source is formatted only after a panic: the arguments of a
		// call in a deferred function are evaluated on every message (two
		// allocations each, 11 % of serve's allocations, pprof allocs).
		if v := recover(); v != nil && panics.Recovered(panics.SIPFront, w.s.log, v, "source", src.String(), "transport", transport) {
			resp, dst = nil, src
		}
	}()
	if w.s.testHook != nil {
		w.s.testHook(raw)
	}
	return w.handle(ctx, raw, src, transport)
}
