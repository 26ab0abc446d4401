package honeypot

import (
	"context"
	"time"
)

// Event kinds.
const (
	EvOptions      = "options"       // OPTIONS probe
	EvRegister     = "register"      // REGISTER without credentials (challenged)
	EvRegisterAuth = "register_auth" // REGISTER with a credential guess (refused)
	EvRegisterOK   = "register_ok"   // a guess "accepted" by the decoy
	EvUnknownUser  = "unknown_user"  // REGISTER for a user the decoy does not have (404)
	EvInvite       = "invite"        // call attempt (answered)
	EvBusy         = "busy"          // call attempt refused: too many decoy calls
	EvDTMF         = "dtmf"          // digits collected during a call
	EvHangup       = "hangup"        // call over (by us or them)
	EvBye          = "bye"
	EvCancel       = "cancel"
	EvOther        = "other"     // any other method
	EvMalformed    = "malformed" // not parseable as SIP
)

// Event is one thing an attacker did to the honeypot, with the SIP
// message as evidence.
type Event struct {
	ID         int64     `json:"id,omitempty"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	SourceIP   string    `json:"source_ip"`
	SourcePort int       `json:"source_port"`
	Transport  string    `json:"transport"`
	Method     string    `json:"method,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	RequestURI string    `json:"request_uri,omitempty"`
	CallID     string    `json:"call_id,omitempty"`
	Dialed     string    `json:"dialed,omitempty"` // user part of the Request-URI of an INVITE
	E164       string    `json:"e164,omitempty"`   // Dialed normalized by number intelligence
	Username   string    `json:"username,omitempty"`
	Password   string    `json:"password,omitempty"` // recovered from the digest when it is a common one
	Digits     string    `json:"digits,omitempty"`   // RFC 4733 DTMF collected
	Detail     string    `json:"detail,omitempty"`
	Message    []byte    `json:"message,omitempty"` // the SIP message as received
}

// EventQuery filters recorded events. Zero fields match everything.
type EventQuery struct {
	SourceIP string
	Kind     string
	Since    time.Time
	Limit    int // default 1000, at most 10000
}

// EventStore keeps honeypot events.
type EventStore interface {
	AppendEvents(ctx context.Context, evs []Event) error
	Events(ctx context.Context, q EventQuery) ([]Event, error)
}
