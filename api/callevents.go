package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-voip/tollgate/action"
)

// ends is the end-call event stream, nil when detection is off.
func (s *Server) ends() *action.EndStream {
	if s.det == nil {
		return nil
	}
	return s.det.Ends
}

// callEvents serves GET /v1/calls/events: the end-call event stream of
// redirect mode. A proxy or PBX holding a screen token subscribes and ends
// the calls named (in proxy mode tollgate's own SIP proxy tears them down
// and the stream still says so). As Server-Sent Events (Accept:
// text/event-stream, the default): "event: end_call", the event's seq as
// the SSE id (Last-Event-ID resumes after it), data the JSON EndEvent, and
// a comment line every 15 s to keep the connection open. With ?poll=true it
// answers at once with {"events": [...]} after ?after=seq.
func (s *Server) callEvents(w http.ResponseWriter, r *http.Request) {
	st := s.det.Ends
	if st == nil {
		writeError(w, http.StatusNotFound, "no end-call event stream (detectors are off)")
		return
	}
	after := int64(0)
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "after: want a sequence number ≥ 0", Field: "after"})
			return
		}
		after = n
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			after = n
		}
	}
	if r.URL.Query().Get("poll") == "true" {
		evs := st.Recent(after)
		if evs == nil {
			evs = []action.EndEvent{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": evs})
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	sub, cancel := st.Subscribe(after)
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": tollgate end-call events\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev := <-sub.C:
			b, _ := json.Marshal(ev)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, b); err != nil {
				return
			}
		case <-keep.C:
			if _, err := fmt.Fprintf(w, ": keep-alive dropped=%d\n\n", sub.Dropped()); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
