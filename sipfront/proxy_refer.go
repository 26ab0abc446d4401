package sipfront

import (
	"context"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/screen"
)

// refuseRefer screens the target of a REFER the caller sends within a
// dialog and answers it 403 when the policy refuses that call. A callee
// (a PBX) that honours a REFER places the call to its Refer-To itself,
// through its own trunk: forwarded unscreened, a transfer is a way to
// any destination from a call the policy let through. The target is
// screened as a call of the dialog's tenant and extension; one let
// through is ended at once (its slots are the PBX's new call's, not
// this one's). It reports whether it answered the REFER.
func (p *proxy) refuseRefer(ctx context.Context, w *worker) bool {
	m := &w.m
	callID := m.get(hCallID)
	sh := p.shard(callID)
	sh.mu.Lock()
	d := sh.dialogs[callID]
	var tenant, ext string
	fromCaller := d != nil && fromSide(d, m, w) == sideCaller
	if fromCaller {
		tenant, ext = d.tenant, d.extension
	}
	sh.mu.Unlock()
	if !fromCaller {
		return false // no dialog, or the callee's: inDialog handles it
	}
	refuse := func(text string) bool {
		resp, _ := w.reject(403, "refer_target", text)
		p.respond(w, clone(resp))
		return true
	}
	to := m.lookup("Refer-To")
	if to == "" {
		to = m.lookup("r")
	}
	callee, err := referTarget(to)
	if err != nil || callee == "" || len(callee) > maxCallee {
		return refuse("transfer target is not a number tollgate can screen")
	}
	num, _, _ := strings.Cut(m.get(hCSeq), " ")
	w.c = screen.Call{ID: callID + ";refer=" + trimLWS(num), Tenant: tenant, Extension: ext, Callee: callee,
		SourceIP: w.src.Addr().Unmap(), Transport: w.tr, UserAgent: clip(m.get(hUserAgent), maxUserAgent)}
	detach(&w.c)
	if err := w.s.eng.Screen(ctx, &w.c, &w.v); err != nil {
		return refuse("transfer target could not be screened")
	}
	if w.v.Unavailable || w.v.Enforced != screen.Allow {
		resp, _ := w.rejectVerdict()
		p.respond(w, clone(resp))
		return true
	}
	_, _ = w.s.eng.Event(ctx, engine.Event{CallID: w.c.ID, Type: "cancel", Time: time.Now()})
	return false
}

// referTarget is the dialed number of a Refer-To value: the user part of
// its URI, read as a Request-URI's (escapes, separators, phone-context),
// with URI headers (?Replaces=…) cut off.
func referTarget(v string) (string, error) {
	v = trimLWS(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		end := strings.IndexByte(v[i:], '>')
		if end < 0 {
			return "", mapErr(400, "malformed Refer-To")
		}
		v = v[i+1 : i+end]
	} else if j := strings.IndexByte(v, ';'); j >= 0 {
		v = v[:j] // addr-spec: what follows is header parameters
	}
	if q := strings.IndexByte(v, '?'); q >= 0 {
		v = v[:q]
	}
	return uriUser(v)
}
