package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// Errors returned by stores.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "compliance: not found")
	ErrInvalid  = errkind.New(errkind.Invalid, "compliance: invalid")
)

// OptOut is an entry of the internal do-not-call list: the callee asked
// not to be called again. Tenant "" applies to every tenant.
type OptOut struct {
	ID     int64     `json:"id"`
	Tenant string    `json:"tenant,omitempty"`
	Number string    `json:"number"` // E.164
	Reason string    `json:"reason,omitempty"`
	Source string    `json:"source,omitempty"` // e.g. ivr, agent, sms-stop, api
	By     string    `json:"by"`
	Time   time.Time `json:"time"`
}

// Consent is a callee's permission for a tenant to call: express written
// consent, an established business relationship and so on.
type Consent struct {
	ID      int64     `json:"id"`
	Tenant  string    `json:"tenant"`
	Number  string    `json:"number"` // E.164
	Type    string    `json:"type"`   // e.g. express_written, express, ebr
	Source  string    `json:"source"` // where it was captured: web form URL, recording id…
	Time    time.Time `json:"time"`   // when it was given
	Expires time.Time `json:"expires,omitzero"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
}

// CheckNumber reports whether number is E.164 as stored: "+" and digits.
func CheckNumber(number string) error {
	if _, ok := Key(number); !ok || number[0] != '+' {
		return fmt.Errorf("%w: number %q is not E.164", ErrInvalid, number)
	}
	return nil
}

// Normalize checks an opt-out before it is stored and stamps it: a zero
// Time becomes now; times are UTC without a monotonic reading.
func (o *OptOut) Normalize(now time.Time) error {
	if err := CheckNumber(o.Number); err != nil {
		return err
	}
	if o.Time.IsZero() {
		o.Time = now
	}
	o.Time = o.Time.UTC().Round(0)
	return nil
}

// Normalize checks a consent before it is stored and stamps it: it needs
// an E.164 number, tenant, type, source and time, and an expiry (if any)
// after the time; Created becomes now; times are UTC without a monotonic
// reading.
func (c *Consent) Normalize(now time.Time) error {
	if err := CheckNumber(c.Number); err != nil {
		return err
	}
	if c.Tenant == "" || c.Type == "" || c.Source == "" || c.Time.IsZero() {
		return fmt.Errorf("%w: consent needs tenant, type, source and time", ErrInvalid)
	}
	if !c.Expires.IsZero() && !c.Expires.After(c.Time) {
		return fmt.Errorf("%w: consent expires before it was given", ErrInvalid)
	}
	c.Time = c.Time.UTC().Round(0)
	if !c.Expires.IsZero() {
		c.Expires = c.Expires.UTC().Round(0)
	}
	c.Created = now.UTC().Round(0)
	return nil
}

// ValidAt reports whether the consent covers a call at t.
func (c *Consent) ValidAt(t time.Time) bool {
	return !t.Before(c.Time) && (c.Expires.IsZero() || t.Before(c.Expires))
}

// ConsentQuery filters consent records. Zero fields match everything.
type ConsentQuery struct {
	Tenant string
	Number string
	Limit  int
}

// Store keeps opt-outs and consent records where every node can see them.
// Implementations must be safe for concurrent use.
type Store interface {
	AddOptOut(ctx context.Context, o OptOut) (OptOut, error)
	// RemoveOptOut deletes the opt-outs of a number for one tenant ("" =
	// the every-tenant entry) and returns what it removed.
	RemoveOptOut(ctx context.Context, tenant, number string) ([]OptOut, error)
	OptOuts(ctx context.Context) ([]OptOut, error)
	AddConsent(ctx context.Context, c Consent) (Consent, error)
	Consents(ctx context.Context, q ConsentQuery) ([]Consent, error)
	// Version changes whenever opt-outs or consents change, so a reader
	// can tell cheaply whether to reload.
	Version(ctx context.Context) (int64, error)
}
