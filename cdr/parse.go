package cdr

import (
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/screen"
)

// Format is a CDR file format.
type Format uint8

// Formats. Auto looks at each line: '{' starts JSON, otherwise the field
// count and the position of the first time stamp tell Asterisk from
// FreeSWITCH.
const (
	Auto Format = iota
	Asterisk
	FreeSWITCH
	JSON
)

var formatNames = [...]string{"auto", "asterisk", "freeswitch", "json"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "unknown"
}

// ParseFormat maps a name (auto, asterisk, freeswitch, json) to a Format.
func ParseFormat(s string) (Format, bool) {
	for i, n := range formatNames {
		if n == s {
			return Format(i), true
		}
	}
	return Auto, false
}

// Options says how to read CDRs.
type Options struct {
	Format Format
	// Location is the zone of time stamps without an offset (Asterisk
	// writes local time unless usegmtime is set). Default UTC.
	Location *time.Location
	// Tenant is used when a record names none (empty accountcode).
	Tenant string
	// InboundContexts are dialplan contexts whose calls come in from the
	// outside; default from-trunk, from-pstn, from-external, from-did,
	// inbound, public.
	InboundContexts []string
}

var defaultInbound = []string{"from-trunk", "from-pstn", "from-external", "from-did", "inbound", "public"}

// Parser turns lines into records. It is not safe for concurrent use.
type Parser struct {
	opts   Options
	fields []string
	days   dayCache
}

// NewParser returns a parser.
func NewParser(o Options) *Parser {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.InboundContexts == nil {
		o.InboundContexts = defaultInbound
	}
	return &Parser{opts: o, fields: make([]string, 0, 24)}
}

// errHeader marks a header line, skipped without counting it malformed.
var errHeader = &LineError{Msg: "header"}

// Parse reads one line (without its newline) into r. It returns a
// *LineError (Line not set) for a malformed line.
func (p *Parser) Parse(line string, r *Record) error {
	*r = Record{}
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return &LineError{Msg: "empty line"}
	}
	f := p.opts.Format
	if f == Auto && (line[0] == '{' || line[0] == '[') {
		f = JSON
	}
	if f == JSON {
		return parseJSON(line, r, p.opts, &p.days)
	}
	fs, err := splitCSV(line, p.fields)
	p.fields = fs
	if err != nil {
		return &LineError{Msg: err.Error()}
	}
	if f == Auto {
		switch {
		case len(fs) > 0 && (fs[0] == "accountcode" || fs[0] == "caller_id_name"):
			return errHeader
		case len(fs) >= 16 && (looksStamp(fs[9]) || !looksStamp(fs[4])):
			f = Asterisk
		case len(fs) >= 11:
			f = FreeSWITCH
		default:
			return &LineError{Msg: "not an Asterisk or FreeSWITCH CDR line (" + itoa(len(fs)) + " fields, no start time where expected)"}
		}
	}
	if f == Asterisk {
		return p.asterisk(fs, r)
	}
	return p.freeswitch(fs, r)
}

func looksStamp(s string) bool { return len(s) >= 19 && s[4] == '-' && s[13] == ':' }

func (p *Parser) inbound(context string) bool {
	for _, c := range p.opts.InboundContexts {
		if context == c || len(context) > len(c) && context[len(c)] == '-' && strings.HasPrefix(context, c) { // c or c-…
			return true
		}
	}
	return false
}

// asterisk reads cdr-csv's Master.csv columns: accountcode, src, dst,
// dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer,
// end, duration, billsec, disposition, amaflags[, uniqueid[, userfield …]].
func (p *Parser) asterisk(fs []string, r *Record) error {
	if len(fs) < 16 {
		return &LineError{Msg: "Asterisk CDR: want at least 16 fields, got " + itoa(len(fs))}
	}
	if fs[0] == "accountcode" && fs[1] == "src" {
		return errHeader
	}
	var ok bool
	r.Tenant = fs[0]
	if r.Tenant == "" {
		r.Tenant = p.opts.Tenant
	}
	src, dst, ctx := fs[1], fs[2], fs[3]
	if r.Start, ok = parseStamp(fs[9], p.opts.Location, &p.days); !ok || r.Start.IsZero() {
		return &LineError{Field: "start", Msg: "want YYYY-MM-DD HH:MM:SS, got " + quote(fs[9])}
	}
	if r.Answer, ok = parseStamp(fs[10], p.opts.Location, &p.days); !ok {
		return &LineError{Field: "answer", Msg: "want YYYY-MM-DD HH:MM:SS, got " + quote(fs[10])}
	}
	if r.End, ok = parseStamp(fs[11], p.opts.Location, &p.days); !ok {
		return &LineError{Field: "end", Msg: "want YYYY-MM-DD HH:MM:SS, got " + quote(fs[11])}
	}
	if r.Duration, ok = atoi(fs[12]); !ok {
		return &LineError{Field: "duration", Msg: "want seconds, got " + quote(fs[12])}
	}
	if r.Billsec, ok = atoi(fs[13]); !ok {
		return &LineError{Field: "billsec", Msg: "want seconds, got " + quote(fs[13])}
	}
	switch fs[14] {
	case "ANSWERED":
		r.Disposition = Answered
	case "NO ANSWER":
		r.Disposition = NoAnswer
	case "BUSY":
		r.Disposition = Busy
	case "FAILED", "CONGESTION":
		r.Disposition = Failed
	default:
		return &LineError{Field: "disposition", Msg: "want ANSWERED, NO ANSWER, BUSY, FAILED or CONGESTION, got " + quote(fs[14])}
	}
	if len(fs) > 16 && fs[16] != "" {
		r.CallID = fs[16]
	} else {
		r.CallID = fs[5] + "@" + fs[9]
	}
	switch {
	case p.inbound(ctx):
		r.Direction = screen.Inbound
		r.Caller, r.Extension, r.Callee = src, dst, dst
		if fwd := forwardTarget(fs[7], fs[8]); fwd != "" {
			r.Forwarded, r.Callee = true, fwd
		}
	case isShort(dst) && isShort(src):
		r.Direction = screen.Internal
		r.Caller, r.Extension, r.Callee = src, src, dst
	default:
		r.Direction = screen.Outbound
		r.Caller, r.Extension, r.Callee = src, src, dst
	}
	return finish(r)
}

// freeswitch reads mod_cdr_csv's default template: caller_id_name,
// caller_id_number, destination_number, context, start_stamp,
// answer_stamp, end_stamp, duration, billsec, hangup_cause, uuid,
// bleg_uuid, accountcode[, read_codec, write_codec].
func (p *Parser) freeswitch(fs []string, r *Record) error {
	if len(fs) < 11 {
		return &LineError{Msg: "FreeSWITCH CDR: want at least 11 fields, got " + itoa(len(fs))}
	}
	var ok bool
	if r.Start, ok = parseStamp(fs[4], p.opts.Location, &p.days); !ok || r.Start.IsZero() {
		return &LineError{Field: "start_stamp", Msg: "want YYYY-MM-DD HH:MM:SS, got " + quote(fs[4])}
	}
	if r.Answer, ok = parseStamp(fs[5], p.opts.Location, &p.days); !ok {
		return &LineError{Field: "answer_stamp", Msg: "want YYYY-MM-DD HH:MM:SS, got " + quote(fs[5])}
	}
	if r.End, ok = parseStamp(fs[6], p.opts.Location, &p.days); !ok {
		return &LineError{Field: "end_stamp", Msg: "want YYYY-MM-DD HH:MM:SS, got " + quote(fs[6])}
	}
	if r.Duration, ok = atoi(fs[7]); !ok {
		return &LineError{Field: "duration", Msg: "want seconds, got " + quote(fs[7])}
	}
	if r.Billsec, ok = atoi(fs[8]); !ok {
		return &LineError{Field: "billsec", Msg: "want seconds, got " + quote(fs[8])}
	}
	r.Disposition = hangupDisposition(fs[9], r.Billsec)
	r.CallID = fs[10]
	if len(fs) > 12 {
		r.Tenant = fs[12]
	}
	if r.Tenant == "" {
		r.Tenant = p.opts.Tenant
	}
	src, dst := fs[1], fs[2]
	switch {
	case p.inbound(fs[3]):
		r.Direction = screen.Inbound
		r.Caller, r.Extension, r.Callee = src, dst, dst
	case isShort(dst) && isShort(src):
		r.Direction = screen.Internal
		r.Caller, r.Extension, r.Callee = src, src, dst
	default:
		r.Direction = screen.Outbound
		r.Caller, r.Extension, r.Callee = src, src, dst
	}
	return finish(r)
}

func hangupDisposition(cause string, billsec int) string {
	switch {
	case billsec > 0:
		return Answered
	case cause == "USER_BUSY":
		return Busy
	case cause == "NO_ANSWER" || cause == "NO_USER_RESPONSE" || cause == "ORIGINATOR_CANCEL" || cause == "NORMAL_CLEARING" || cause == "ALLOTTED_TIMEOUT":
		return NoAnswer
	}
	return Failed
}

func finish(r *Record) error {
	// Before Normalize, which would hide a negative duration behind a
	// positive billsec.
	if r.Duration < 0 {
		return &LineError{Field: "duration_s", Msg: "negative"}
	}
	if r.Billsec < 0 {
		return &LineError{Field: "billsec_s", Msg: "negative"}
	}
	r.Normalize()
	if f, m := r.Valid(); f != "" {
		return &LineError{Field: f, Msg: m}
	}
	return nil
}

// isShort reports whether s looks like an internal extension: 2–6 digits.
func isShort(s string) bool {
	if len(s) < 2 || len(s) > 6 {
		return false
	}
	_, ok := atoi(s)
	return ok
}

// forwardTarget finds the number an inbound call was sent off-net to, in
// Dial's arguments (e.g. "PJSIP/011442071234567@trunk,60"), or "".
func forwardTarget(app, data string) string {
	if app != "Dial" {
		return ""
	}
	best := ""
	run := 0
	for i := 0; i <= len(data); i++ {
		if i < len(data) && (data[i] >= '0' && data[i] <= '9' || data[i] == '+' && run == 0) {
			run++
			continue
		}
		if run >= 8 && run > len(best) {
			best = data[i-run : i]
		}
		run = 0
	}
	return best
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}
