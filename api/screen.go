package api

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

// ScreenRequest is the body of POST /v1/screen.
type ScreenRequest struct {
	CallID    string `json:"call_id"`
	Tenant    string `json:"tenant"`
	Extension string `json:"extension"`
	Caller    string `json:"caller"`
	Callee    string `json:"callee"`
	SourceIP  string `json:"source_ip"`
	UserAgent string `json:"user_agent"`
	Direction string `json:"direction"`
	Transport string `json:"transport"`
	Time      string `json:"time"` // RFC 3339; empty = now
	Identity  string `json:"identity"`
}

type screenState struct {
	req  ScreenRequest
	call screen.Call
	v    screen.Verdict
	buf  []byte
}

var screenPool = sync.Pool{New: func() any { return &screenState{buf: make([]byte, 0, 1024)} }}

// fieldError is a 400 naming the offending field.
func fieldError(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusBadRequest, errorBody{Error: field + ": " + msg, Field: field})
}

// ToCall checks a screen request and fills c; it returns the offending
// field and why when the request is bad.
func ToCall(q *ScreenRequest, c *screen.Call) (field, msg string) {
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{"call_id", q.CallID, 256}, {"tenant", q.Tenant, 64}, {"extension", q.Extension, 64}, {"caller", q.Caller, 128},
		{"callee", q.Callee, 64}, {"source_ip", q.SourceIP, 64}, {"user_agent", q.UserAgent, 512}, {"transport", q.Transport, 16},
		{"identity", q.Identity, 8192}} {
		if len(f.v) > f.max {
			return f.name, "longer than " + strconv.Itoa(f.max) + " bytes"
		}
	}
	if q.CallID == "" {
		return "call_id", "required"
	}
	if q.Callee == "" {
		return "callee", "required"
	}
	*c = screen.Call{ID: q.CallID, Tenant: q.Tenant, Extension: q.Extension, Caller: q.Caller, Callee: q.Callee,
		UserAgent: q.UserAgent, Transport: q.Transport, Identity: q.Identity}
	if q.SourceIP != "" {
		a, err := netip.ParseAddr(q.SourceIP)
		if err != nil {
			return "source_ip", "not an IP address"
		}
		c.SourceIP = a
	}
	d, ok := screen.ParseDirection(q.Direction)
	if !ok {
		return "direction", "want outbound, inbound or internal"
	}
	c.Direction = d
	if q.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, q.Time)
		if err != nil {
			return "time", "want RFC 3339, e.g. 2026-11-23T15:04:05Z"
		}
		c.Time = t
	}
	return "", ""
}

func (s *Server) screen(w http.ResponseWriter, r *http.Request) {
	st := screenPool.Get().(*screenState)
	defer screenPool.Put(st)
	st.req = ScreenRequest{}
	wait, ok := waitParam(w, r)
	if !ok {
		return
	}
	if !decode(w, r, &st.req) {
		return
	}
	if field, msg := ToCall(&st.req, &st.call); field != "" {
		fieldError(w, field, msg)
		return
	}
	if err := s.eng.Screen(r.Context(), &st.call, &st.v); err != nil {
		engineError(w, err)
		return
	}
	if wait {
		s.settle(w, r)
	}
	if s.durable != nil {
		_ = s.durable(r.Context()) // a late store is counted by the caller; the verdict still goes out
	}
	st.buf = AppendVerdict(st.buf[:0], &st.call, &st.v)
	h := w.Header()
	h["Content-Type"] = jsonCT
	w.Write(st.buf)
}

var jsonCT = []string{"application/json"}

// AppendVerdict appends the /v1/screen response for a screened call.
func AppendVerdict(b []byte, c *screen.Call, v *screen.Verdict) []byte {
	b = append(b, `{"call_id":`...)
	b = engine.AppendString(b, c.ID)
	b = append(b, `,"action":"`...)
	b = append(b, v.Enforced.String()...)
	b = append(b, `","decided_action":"`...)
	b = append(b, v.Action.String()...)
	b = append(b, `","shadow":`...)
	b = strconv.AppendBool(b, v.Shadow)
	b = append(b, `,"sip_code":`...)
	b = strconv.AppendInt(b, int64(engine.SIPCode(v)), 10)
	b = append(b, `,"reason":`...)
	b = engine.AppendString(b, engine.ReasonText(v))
	b = append(b, `,"risk":`...)
	b = strconv.AppendInt(b, int64(v.Risk), 10)
	b = append(b, `,"reasons":`...)
	b = engine.AppendReasonsJSON(b, v.Reasons())
	b = append(b, `,"max_duration_s":`...)
	b = strconv.AppendInt(b, int64(v.MaxDuration), 10)
	b = append(b, `,"international":`...)
	b = strconv.AppendBool(b, c.International)
	b = append(b, `,"callee_info":`...)
	b = AppendInfo(b, &c.Dest)
	return append(b, "}\n"...)
}

var kindNames = [...]string{"subscriber", "emergency", "short_code"}

// AppendInfo appends number intelligence as JSON.
func AppendInfo(b []byte, in *number.Info) []byte {
	b = append(b, `{"e164":`...)
	b = engine.AppendString(b, in.E164)
	b = append(b, `,"kind":"`...)
	if int(in.Kind) < len(kindNames) {
		b = append(b, kindNames[in.Kind]...)
	}
	b = append(b, `","country":`...)
	b = engine.AppendString(b, in.Country)
	b = append(b, `,"calling_code":`...)
	b = strconv.AppendInt(b, int64(in.CallingCode), 10)
	b = append(b, `,"type":"`...)
	b = append(b, in.Type.String()...)
	b = append(b, `","carrier":`...)
	b = engine.AppendString(b, in.Carrier)
	b = append(b, `,"valid":`...)
	b = strconv.AppendBool(b, in.Valid)
	b = append(b, `,"rate_per_min":`...)
	b = strconv.AppendFloat(b, in.Rate, 'f', -1, 64)
	b = append(b, `,"rate_prefix":`...)
	b = engine.AppendString(b, in.RatePrefix)
	if in.ServiceCode != "" {
		b = append(b, `,"service_code":`...)
		b = engine.AppendString(b, in.ServiceCode)
	}
	b = append(b, `,"risk_ranges":[`...)
	for i := range in.Risk {
		r := &in.Risk[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"prefix":`...)
		b = engine.AppendString(b, r.Prefix)
		b = append(b, `,"category":`...)
		b = engine.AppendString(b, r.Category)
		b = append(b, `,"reason":`...)
		b = engine.AppendString(b, r.Reason)
		b = append(b, `,"risk":`...)
		b = strconv.AppendInt(b, int64(r.Risk), 10)
		b = append(b, `,"action":`...)
		b = engine.AppendString(b, r.Action)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
