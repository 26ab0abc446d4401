package cdr

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/screen"
)

// jsonRecord is tollgate's own JSON CDR (POST /v1/cdrs, JSON lines).
type jsonRecord struct {
	CallID      string  `json:"call_id"`
	Tenant      string  `json:"tenant"`
	Extension   string  `json:"extension"`
	Caller      string  `json:"caller"`
	Callee      string  `json:"callee"`
	Direction   string  `json:"direction"`
	SourceIP    string  `json:"source_ip"`
	Start       string  `json:"start"`
	Answer      string  `json:"answer"`
	End         string  `json:"end"`
	Duration    *int    `json:"duration_s"`
	Billsec     *int    `json:"billsec_s"`
	Disposition string  `json:"disposition"`
	Forwarded   bool    `json:"forwarded"`
	Cost        float64 `json:"cost"`

	// FreeSWITCH mod_json_cdr.
	Variables   map[string]any  `json:"variables"`
	ChannelData map[string]any  `json:"channel_data"`
	Callflow    json.RawMessage `json:"callflow"`

	duration, billsec int // what Duration and Billsec point to (scanOwnJSON)
}

// DecodeJSON reads one JSON CDR (tollgate's form or FreeSWITCH's).
func DecodeJSON(b []byte, r *Record, o Options) error {
	if o.Location == nil {
		o.Location = time.UTC
	}
	return parseJSON(string(b), r, o, nil)
}

// parseJSON reads a JSON line; dc (may be nil) is the caller's day cache
// (parseStamp).
func parseJSON(line string, r *Record, o Options, dc *dayCache) error {
	*r = Record{}
	var j jsonRecord
	if !scanOwnJSON(line, &j) {
		return parseJSONSlow(line, r, o, dc)
	}
	return ownJSON(&j, r, o, dc)
}

// parseJSONSlow decodes with encoding/json: FreeSWITCH's form and what
// scanOwnJSON leaves to it.
func parseJSONSlow(line string, r *Record, o Options, dc *dayCache) error {
	var j jsonRecord
	if err := json.Unmarshal([]byte(line), &j); err != nil {
		return &LineError{Msg: "bad JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	if j.Variables != nil {
		return fsJSON(&j, r, o)
	}
	return ownJSON(&j, r, o, dc)
}

func ownJSON(j *jsonRecord, r *Record, o Options, dc *dayCache) error {
	r.CallID, r.Tenant, r.Extension, r.Caller, r.Callee = j.CallID, j.Tenant, j.Extension, j.Caller, j.Callee
	if r.Tenant == "" {
		r.Tenant = o.Tenant
	}
	r.SourceIP, r.Forwarded, r.Cost = j.SourceIP, j.Forwarded, j.Cost
	d, ok := screen.ParseDirection(j.Direction)
	if !ok {
		return &LineError{Field: "direction", Msg: "want outbound, inbound or internal"}
	}
	r.Direction = d
	if r.Extension == "" {
		if d == screen.Inbound {
			r.Extension = r.Callee
		} else {
			r.Extension = r.Caller
		}
	}
	var err error
	if r.Start, err = jsonTime(j.Start, o.Location, dc); err != nil {
		return &LineError{Field: "start", Msg: err.Error()}
	}
	if r.Answer, err = jsonTime(j.Answer, o.Location, dc); err != nil {
		return &LineError{Field: "answer", Msg: err.Error()}
	}
	if r.End, err = jsonTime(j.End, o.Location, dc); err != nil {
		return &LineError{Field: "end", Msg: err.Error()}
	}
	if j.Duration != nil {
		r.Duration = *j.Duration
	}
	if j.Billsec != nil {
		r.Billsec = *j.Billsec
	}
	switch j.Disposition {
	case "", Answered, NoAnswer, Busy, Failed:
		r.Disposition = j.Disposition
	case "no answer", "NO ANSWER", "noanswer":
		r.Disposition = NoAnswer
	case "ANSWERED":
		r.Disposition = Answered
	default:
		return &LineError{Field: "disposition", Msg: "want answered, no_answer, busy or failed"}
	}
	return finish(r)
}

type badTime string

func (e badTime) Error() string { return string(e) }

func jsonTime(s string, loc *time.Location, dc *dayCache) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, ok := parseStamp(s, loc, dc); ok {
		return t, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 && n < 1e11 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, badTime("want RFC 3339, YYYY-MM-DD HH:MM:SS or Unix seconds, got " + quote(s))
}

// fsJSON reads FreeSWITCH mod_json_cdr: variables (uuid, start_epoch,
// answer_epoch, end_epoch, duration, billsec, hangup_cause, accountcode,
// direction) and the first caller profile of the callflow.
func fsJSON(j *jsonRecord, r *Record, o Options) error {
	v := func(k string) string {
		switch x := j.Variables[k].(type) {
		case string:
			return x
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return ""
	}
	r.CallID = v("uuid")
	r.Tenant = v("accountcode")
	if r.Tenant == "" {
		r.Tenant = o.Tenant
	}
	var prof struct {
		CallerIDNumber    string `json:"caller_id_number"`
		DestinationNumber string `json:"destination_number"`
		NetworkAddr       string `json:"network_addr"`
		Context           string `json:"context"`
	}
	cf := bytes.TrimSpace(j.Callflow)
	if len(cf) > 0 {
		var one struct {
			CallerProfile json.RawMessage `json:"caller_profile"`
		}
		if cf[0] == '[' {
			var all []struct {
				CallerProfile json.RawMessage `json:"caller_profile"`
			}
			if json.Unmarshal(cf, &all) == nil && len(all) > 0 {
				one.CallerProfile = all[len(all)-1].CallerProfile
			}
		} else {
			_ = json.Unmarshal(cf, &one)
		}
		if len(one.CallerProfile) > 0 {
			_ = json.Unmarshal(one.CallerProfile, &prof)
		}
	}
	caller := firstOf(prof.CallerIDNumber, v("caller_id_number"), v("sip_from_user"))
	callee := firstOf(prof.DestinationNumber, v("destination_number"), v("sip_to_user"))
	r.SourceIP = firstOf(prof.NetworkAddr, v("sip_received_ip"))
	dir := v("direction")
	if dir == "" {
		if s, ok := j.ChannelData["direction"].(string); ok {
			dir = s
		}
	}
	// FreeSWITCH's "inbound" is the leg coming into the switch: a call
	// placed by a user is inbound to FreeSWITCH. The context tells.
	ctx := firstOf(prof.Context, v("user_context"))
	p := Parser{opts: o}
	if p.opts.InboundContexts == nil {
		p.opts.InboundContexts = defaultInbound
	}
	switch {
	case p.inbound(ctx):
		r.Direction = screen.Inbound
		r.Caller, r.Extension, r.Callee = caller, callee, callee
	case isShort(caller) && isShort(callee):
		r.Direction = screen.Internal
		r.Caller, r.Extension, r.Callee = caller, caller, callee
	default:
		r.Direction = screen.Outbound
		r.Caller, r.Extension, r.Callee = caller, caller, callee
	}
	_ = dir
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"start_epoch", &r.Start}, {"answer_epoch", &r.Answer}, {"end_epoch", &r.End}} {
		s := v(f.name)
		if s == "" || s == "0" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1e11 {
			return &LineError{Field: "variables." + f.name, Msg: "want Unix seconds, got " + quote(s)}
		}
		*f.t = time.Unix(n, 0).UTC()
	}
	var ok bool
	if s := v("duration"); s != "" {
		if r.Duration, ok = atoi(s); !ok {
			return &LineError{Field: "variables.duration", Msg: "want seconds, got " + quote(s)}
		}
	}
	if s := v("billsec"); s != "" {
		if r.Billsec, ok = atoi(s); !ok {
			return &LineError{Field: "variables.billsec", Msg: "want seconds, got " + quote(s)}
		}
	}
	r.Disposition = hangupDisposition(v("hangup_cause"), r.Billsec)
	return finish(r)
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
