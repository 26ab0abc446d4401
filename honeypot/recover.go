package honeypot

import (
	"github.com/tollgate-voip/tollgate/internal/panics"
	"github.com/tollgate-voip/tollgate/reputation"
)

// handleSafe handles one packet under a recover: a packet that makes the
// decoy panic is dropped, logged and counted
// (tollgate_panics_recovered_total{component="honeypot"}), and the
// worker goes on with the next one.
func (s *Server) handleSafe(p packet) {
	defer func() { panics.Recovered(panics.Honeypot, s.o.Logger, recover(), "source", p.from.String()) }()
	if s.o.testHook != nil {
		s.o.testHook(p.data)
	}
	s.handle(p)
}

// foldSafe is fold under a recover, for the recorder's goroutine.
func (r *recorder) foldSafe(pending map[repKey]*reputation.Entry, q queued) {
	defer func() { panics.Recovered(panics.Honeypot, r.log, recover()) }()
	r.fold(pending, q)
}

// parseDTMFSafe is ParseDTMF under a recover, for a call's RTP reader.
func (s *Server) parseDTMFSafe(b []byte, pt int) (digit byte, ts uint32, ok bool) {
	defer func() {
		if panics.Recovered(panics.Honeypot, s.o.Logger, recover()) {
			digit, ts, ok = 0, 0, false
		}
	}()
	return ParseDTMF(b, pt)
}
