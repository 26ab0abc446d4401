package action

import (
	"sort"
	"sync"
	"time"
)

// EndEvent asks whoever carries a call to end it now.
type EndEvent struct {
	Seq    int64     `json:"seq"`
	Type   string    `json:"type"` // "end_call"
	Tenant string    `json:"tenant,omitempty"`
	CallID string    `json:"call_id"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"` // event time of the finding
}

// EndStream is the end-call event stream of redirect mode: in-call
// findings publish "end call <id>" here, and a proxy or PBX subscribed to
// GET /v1/calls/events acts on it (the SIP proxy of proxy mode tears calls
// down itself). It keeps the last events for subscribers that reconnect
// (Last-Event-ID) and never blocks a publisher: a subscriber too slow to
// keep up loses events (and is told how many).
type EndStream struct {
	mu     sync.Mutex
	seq    int64
	recent []EndEvent
	subs   map[*EndSub]struct{}
	// pending: calls asked to end whose end has not been reported yet
	// (by event time of the request); the API's event and CDR answers
	// repeat them as "disconnect" until the call's end arrives.
	pending map[string]time.Time
	// timers: answered calls to end at a moment (EndCallAt), until their
	// end arrives; the API's answer response gives it as max_duration_s.
	timers map[string]time.Time
}

// EndSub is one subscriber.
type EndSub struct {
	C       chan EndEvent
	dropped int64
	mu      sync.Mutex
}

// Dropped is how many events this subscriber missed for being slow.
func (s *EndSub) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

const keepEndEvents = 1024

// NewEndStream returns an empty stream.
func NewEndStream() *EndStream {
	return &EndStream{subs: map[*EndSub]struct{}{}, pending: map[string]time.Time{}, timers: map[string]time.Time{}}
}

// EndCallAt implements action.CallTimer: the call is to end at at.
func (s *EndStream) EndCallAt(callID string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.timers) >= maxPending { // ends lost: forget the earliest timer
		var first string
		var ft time.Time
		for id, t := range s.timers {
			if first == "" || t.Before(ft) {
				first, ft = id, t
			}
		}
		delete(s.timers, first)
	}
	s.timers[callID] = at
}

// Timer returns when a call is to end (EndCallAt), if it has a timer.
func (s *EndStream) Timer(callID string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.timers[callID]
	return t, ok
}

// maxPending bounds the calls asked to end and not yet ended.
const maxPending = 4096

// Ended reports that a call's end arrived: it is no longer pending.
func (s *EndStream) Ended(callID string) {
	s.mu.Lock()
	delete(s.pending, callID)
	delete(s.timers, callID)
	s.mu.Unlock()
}

// Pending returns the calls asked to end whose end has not arrived, by
// call id.
func (s *EndStream) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.pending))
	for id := range s.pending {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// EndCall implements CallEnder.
func (s *EndStream) EndCall(tenant, callID, reason string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	ev := EndEvent{Seq: s.seq, Type: "end_call", Tenant: tenant, CallID: callID, Reason: reason, Time: at.UTC()}
	if len(s.recent) == keepEndEvents {
		s.recent = append(s.recent[:0], s.recent[1:]...)
	}
	s.recent = append(s.recent, ev)
	if len(s.pending) >= maxPending { // ends lost: forget the oldest requests
		var oldest string
		var ot time.Time
		for id, t := range s.pending {
			if oldest == "" || t.Before(ot) {
				oldest, ot = id, t
			}
		}
		delete(s.pending, oldest)
	}
	s.pending[callID] = at
	for sub := range s.subs {
		select {
		case sub.C <- ev:
		default:
			sub.mu.Lock()
			sub.dropped++
			sub.mu.Unlock()
		}
	}
}

// Subscribe returns a subscriber that first gets the kept events after
// seq (0: none) and then every new one; cancel ends it.
func (s *EndStream) Subscribe(after int64) (sub *EndSub, cancel func()) {
	sub = &EndSub{C: make(chan EndEvent, keepEndEvents+256)}
	s.mu.Lock()
	if after > 0 {
		for _, ev := range s.recent {
			if ev.Seq > after {
				sub.C <- ev
			}
		}
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub, func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}
}

// Recent returns the kept events after seq.
func (s *EndStream) Recent(after int64) []EndEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []EndEvent
	for _, ev := range s.recent {
		if ev.Seq > after {
			out = append(out, ev)
		}
	}
	return out
}
