package sipfront

import (
	"context"
	"github.com/tollgate-voip/tollgate/attack"
	"github.com/tollgate-voip/tollgate/check/callerid"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/screen"
)

// request handles, in proxy mode, what is not an out-of-dialog request
// the redirect path also answers: ACK, CANCEL and in-dialog requests. It
// reports whether it took the request.
func (p *proxy) request(ctx context.Context, w *worker) bool {
	m := &w.m
	switch {
	case m.method == "ACK":
		p.ack(w)
		return true
	case m.method == "CANCEL":
		return p.cancel(w)
	case tagOf(m.get(hTo)) != "":
		if m.method == "REFER" && p.refuseRefer(ctx, w) {
			return true
		}
		p.inDialog(w)
		return true
	}
	return false
}

// respond sends a response built by the worker back to the sender.
func (p *proxy) respond(w *worker, b []byte) {
	_ = p.sendFn(w.replyFlow(), b)
}

// invite screens an initial INVITE and forwards it to the verdict's next
// hop, or answers it.
func (p *proxy) invite(ctx context.Context, w *worker) {
	m := &w.m
	if mf := m.get(hMaxForwards); mf != "" {
		if n, _ := atoiBounded(mf, 255); n == 0 {
			p.respond(w, clone(w.simple(483, "Too Many Hops", "")))
			return
		}
	}
	if p.looped(m) {
		p.respond(w, clone(w.simple(482, "Loop Detected", "")))
		return
	}
	if pr := m.get(hProxyRequire); pr != "" {
		p.respond(w, clone(w.simple(420, "Bad Extension", "Unsupported: "+strings.Join(strings.Fields(strings.ReplaceAll(pr, ",", " ")), ", ")+"\r\n")))
		return
	}
	if ct := m.get(hContentType); m.body != "" && ct != "" && !acceptedType(ct) {
		p.respond(w, clone(w.simple(415, "Unsupported Media Type", "Accept: application/sdp\r\n")))
		return
	}
	key := serverKey(m)
	callID := m.get(hCallID)
	reply := w.replyFlow()
	now := p.now()
	sh := p.shard(callID)
	sh.mu.Lock()
	if tx := sh.server[key]; tx != nil {
		// A retransmission: the last answer again, never a second screening.
		last := tx.last
		sh.mu.Unlock()
		if last != nil {
			_ = p.sendFn(reply, last)
		}
		return
	}
	if sh.dialogs[callID] != nil {
		sh.mu.Unlock()
		// The same call arriving by another path (RFC 3261 8.2.2.2).
		p.respond(w, clone(w.simple(482, "Loop Detected", "")))
		return
	}
	if p.full() {
		sh.mu.Unlock()
		// Full: an honest 503 with Retry-After, never silence. Nothing is
		// kept for it (a retransmission gets another 503).
		p.s.stats.Full.Add(1)
		p.respond(w, clone(w.unavailableResp("proxy at its call limit")))
		return
	}
	tx := &inviteTx{serverKey: key, in: reply, scannerUA: w.scannerUA}
	if p.s.reporter != nil {
		tx.src, tx.ua = w.reportSource(), strings.Clone(clip(m.get(hUserAgent), 256))
		tx.authUser, tx.creds = m.authUser()
		tx.authUser = strings.Clone(clip(tx.authUser, 128))
		tx.tenant = strings.Clone(w.reportTenant())
	}
	p.addServer(sh, tx)
	sh.mu.Unlock()

	resp, _ := w.screenInvite(ctx)
	var tg target
	if resp == nil {
		v := &w.v
		switch {
		case v.Unavailable:
			resp, _ = w.unavailable(engine.ReasonText(v))
		case v.Enforced == screen.Reject || p.targets[v.Enforced].uri == "":
			resp, _ = w.rejectVerdict()
		default:
			tg = p.targets[v.Enforced]
		}
	}
	if resp != nil {
		sh.mu.Lock()
		p.finishTx(tx, clone(resp), statusCode(resp), now)
		p.schedTx(sh, tx)
		last := tx.last
		sh.mu.Unlock()
		_ = p.sendFn(reply, last)
		return
	}

	ruri := string(appendTarget(nil, tg.uri, m.ruri))
	branch := p.branchFor(m, m.ruri)
	out := flow{tr: tg.tr, addr: tg.addr}
	if out.tr == "udp" {
		out.udp = p.udp
	}
	rr := []string{p.ourRoute(tg.tr)}
	if in := p.ourRoute(w.tr); in != rr[0] {
		rr = append(rr, in) // RFC 5658: one for each side
	}
	req, routes := w.appendForward(nil, ruri, p.ourVia(tg.tr, branch), rr, string(w.appendVerdict(nil, "")))
	trying := clone(w.simple(100, "Trying", ""))
	cseq, _ := atoiBounded(trimLWS(strings.SplitN(m.get(hCSeq), " ", 2)[0]), 1<<31-1)
	c := &w.c
	d := &dialog{callID: callID, callerTag: tagOf(m.get(hFrom)), tenant: c.Tenant, extension: c.Extension, callee: c.Callee,
		intl: c.International, outbound: c.Direction == screen.Outbound, maxDur: w.v.MaxDuration, tx: tx,
		callerFrom: m.get(hFrom), callerURI: contactURI(m.get(hContact)), calleeFlow: out, callerFlow: reply,
		callerCSeq: uint32(cseq)}
	if d.callerFlow.tr != "udp" {
		// A stream caller is reached on its connection, else at its Contact.
		if ap, ok := uriAddr(d.callerURI); ok {
			d.callerFlow.addr = ap
		}
	}
	if ap, ok := routeAddr(firstRecordRoute(m)); ok && !p.ours[ap] {
		// The caller's side has proxies of its own: BYEs go through them.
		d.callerFlow = flow{tr: uriTransport(firstRecordRoute(m)), addr: ap, udp: p.udp}
		if d.callerFlow.tr != "udp" {
			d.callerFlow.udp = nil
		}
	}
	d.callerRoute = reverseRoutes(recordRoutes(m))

	sh.mu.Lock()
	tx.branch, tx.out, tx.dlg, tx.req, tx.ruri = branch, out, d, req, ruri
	tx.from, tx.to, tx.callID, tx.cseq, tx.routes = m.get(hFrom), m.get(hTo), callID, strconv.Itoa(cseq), routes
	tx.last, tx.sent = trying, now
	if out.tr == "udp" {
		tx.aAt, tx.aIval = now.Add(t1), t1
	}
	cancelled := tx.cancelled
	if cancelled {
		// CANCELled while it was being screened: never forwarded.
		p.finishTx(tx, restatus(trying, 487, "Request Terminated"), 487, now)
	} else {
		sh.client[branch] = tx
		p.addDialog(sh, d)
	}
	p.schedTx(sh, tx)
	last := tx.last
	sh.mu.Unlock()
	if cancelled {
		_ = p.sendFn(reply, last)
		var e effects
		e.event(callID, "cancel", now)
		p.apply(&e)
		return
	}
	_ = p.sendFn(reply, trying)
	p.s.stats.Forwarded.Add(1)
	if err := p.sendFn(out, req); err != nil {
		p.log.Warn("sipfront: next hop unreachable", "to", tg.uri, "err", err)
		sh.mu.Lock()
		if tx.final == 0 {
			p.delDialog(sh, d)
			p.finishTx(tx, restatus(trying, 503, "Service Unavailable"), 503, now)
			p.schedTx(sh, tx)
		}
		last := tx.last
		sh.mu.Unlock()
		_ = p.sendFn(reply, last)
		var e effects
		e.event(callID, "failed", now)
		p.apply(&e)
	}
}

// finishTx records tollgate's own final answer to the caller; over UDP it
// is repeated until the caller ACKs it (Timer G). Called with the
// shard's lock held; the caller reschedules the transaction (schedTx).
func (p *proxy) finishTx(tx *inviteTx, resp []byte, code int, now time.Time) {
	tx.last, tx.final, tx.finalAt = resp, code, now
	tx.aAt = time.Time{}
	if tx.in.tr == "udp" && code >= 300 {
		tx.gAt, tx.gIval = now.Add(t1), t1
	}
}

// unavailableResp is a 503 for when the proxy itself is full.
func (w *worker) unavailableResp(text string) []byte {
	w.s.stats.Unavailable.Add(1)
	b := w.begin(503, "Service Unavailable")
	b = append(b, "Retry-After: "...)
	b = strconv.AppendInt(b, int64(w.s.cfg.RetryAfter), 10)
	b = append(b, "\r\n"...)
	b = appendReason(b, 503, text)
	w.out = b
	resp, _ := w.end()
	return resp
}

// ack absorbs the ACK of a non-2xx answer (hop by hop; tollgate ACKed the
// callee itself) and relays the ACK of a 2xx within the dialog.
func (p *proxy) ack(w *worker) {
	key := serverKey(&w.m)
	sh := p.shard(w.m.get(hCallID))
	sh.mu.Lock()
	if tx := sh.server[key]; tx != nil && tx.final >= 300 {
		tx.acked, tx.gAt = true, time.Time{}
		sh.mu.Unlock()
		return
	}
	sh.mu.Unlock()
	if tagOf(w.m.get(hTo)) != "" {
		p.inDialog(w)
	}
}

// cancel answers a CANCEL and cancels the forwarded INVITE.
func (p *proxy) cancel(w *worker) bool {
	key := serverKey(&w.m)
	var e effects
	sh := p.shard(w.m.get(hCallID))
	sh.mu.Lock()
	tx := sh.server[key]
	if tx == nil {
		sh.mu.Unlock()
		return false // 481
	}
	if tx.final == 0 && !tx.cancelled {
		tx.cancelled = true
		if tx.provisional {
			p.sendCancel(sh, tx, &e)
		}
	}
	sh.mu.Unlock()
	p.respond(w, clone(w.simple(200, "OK", "")))
	p.apply(&e)
	return true
}

// sendCancel cancels the forwarded INVITE (RFC 3261 9.1: once a
// provisional answer came). Called with the shard's lock held.
func (p *proxy) sendCancel(sh *shard, tx *inviteTx, e *effects) {
	if tx.cancelSent || tx.branch == "" {
		return
	}
	tx.cancelSent = true
	b := make([]byte, 0, 512)
	b = appendLine(b, "CANCEL ", tx.ruri, " SIP/2.0")
	b = appendLine(b, "Via: ", p.ourVia(tx.out.tr, tx.branch))
	b = append(b, tx.routes...)
	b = appendLine(b, "From: ", tx.from)
	b = appendLine(b, "To: ", tx.to)
	b = appendLine(b, "Call-ID: ", tx.callID)
	b = appendLine(b, "CSeq: ", tx.cseq, " CANCEL")
	b = append(b, "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"...)
	p.own(sh, tx.branch+"|CANCEL", tx.out, b, e)
}

// own sends a request tollgate originates and keeps it for retransmission
// over UDP (Timer E) until a final response. Called with the shard's
// lock held.
func (p *proxy) own(sh *shard, key string, f flow, b []byte, e *effects) {
	now := p.now()
	r := &relay{own: true, req: b, out: f, expires: now.Add(p.keepDone)}
	if f.tr == "udp" {
		r.retrans, r.ival = now.Add(t1), t1
	}
	sh.relays[key] = r
	p.schedRelay(sh, key, r)
	e.send(f, b)
}

// inDialog forwards a request within a dialog to the other side.
func (p *proxy) inDialog(w *worker) {
	m := &w.m
	isACK := m.method == "ACK"
	if mf := m.get(hMaxForwards); mf != "" && !isACK {
		if n, _ := atoiBounded(mf, 255); n == 0 {
			p.respond(w, clone(w.simple(483, "Too Many Hops", "")))
			return
		}
	}
	callID := m.get(hCallID)
	now := p.now()
	var e effects
	var dst flow
	sh := p.shard(callID)
	sh.mu.Lock()
	d := sh.dialogs[callID]
	if d != nil {
		num, _, _ := strings.Cut(m.get(hCSeq), " ")
		n, _ := atoiBounded(trimLWS(num), 1<<31-1)
		switch fromSide(d, m, w) {
		case sideCaller:
			dst = d.calleeFlow
			d.callerCSeq = max(d.callerCSeq, uint32(n))
		case sideCallee:
			dst = d.callerFlow
			d.calleeCSeq = max(d.calleeCSeq, uint32(n))
		default:
			// Not this dialog's tags, or the callee's tags from
			// elsewhere than the callee: a caller must not be able to
			// send itself a BYE "from the callee" and answer it.
			sh.mu.Unlock()
			if !isACK {
				p.respond(w, clone(w.simple(481, "Call/Transaction Does Not Exist", "")))
			}
			return
		}
	} else {
		// Not a dialog this node knows (it ended, or tollgate restarted):
		// a BYE or ACK routed through tollgate still follows its
		// Request-URI when that is an address, so a call can end: toward
		// a next hop, or from one toward the caller; never from anyone
		// to any address, which would make tollgate an open relay of
		// forged BYEs. Nothing else passes unscreened.
		f, ok := flowTo(m.ruri)
		if !ok || !p.hasListener(f.tr) || (m.method != "BYE" && !isACK) || !p.routedHere(m) ||
			!p.isNextHop(f.tr, f.addr) && !p.isNextHop(w.tr, w.src) {
			sh.mu.Unlock()
			if !isACK {
				p.respond(w, clone(w.simple(481, "Call/Transaction Does Not Exist", "")))
			}
			return
		}
		if f.tr == "udp" {
			f.udp = p.udp
		}
		dst = f
	}
	branch := p.branchFor(m, m.ruri)
	req, _ := w.appendForward(nil, m.ruri, p.ourVia(dst.tr, branch), nil, "")
	if !isACK && sh.relays[branch] == nil {
		ttl := p.keepDone
		if m.method == "INVITE" {
			ttl = timerC + p.keepDone
		}
		r := &relay{in: w.replyFlow(), out: dst, invite: m.method == "INVITE", expires: now.Add(ttl)}
		if m.method == "BYE" && d != nil {
			// The call ends when the other side accepts the BYE
			// (response), not when it is sent: one the callee refuses
			// leaves the call up, and so must tollgate's record of it.
			r.byeOf = callID
		}
		sh.relays[branch] = r
		p.schedRelay(sh, branch, r)
	}
	e.send(dst, req)
	p.sendLocked(&e)
	sh.mu.Unlock()
	p.apply(&e)
}

// Sides of a dialog an in-dialog request may come from.
const (
	sideNone = iota
	sideCaller
	sideCallee
)

// fromSide says which side of d sent the in-dialog request m from src:
// the caller's tag in From (and, once answered, the callee's in To), or
// the callee's tag in From and the caller's in To from the callee itself:
// the next hop's address tollgate sent the INVITE to (any port, or over
// a stream its connection), and not the caller's own flow (when both sit
// on one host). Anything else is no request of this dialog.
func fromSide(d *dialog, m *message, w *worker) int {
	from, to := tagOf(m.get(hFrom)), tagOf(m.get(hTo))
	switch {
	case from == d.callerTag && (d.calleeTag == "" || to == d.calleeTag):
		return sideCaller
	case d.calleeTag != "" && from == d.calleeTag && to == d.callerTag && fromCallee(d, w):
		return sideCallee
	}
	return sideNone
}

func fromCallee(d *dialog, w *worker) bool {
	f, c := &d.calleeFlow, &d.callerFlow
	if w.conn != nil && w.conn == f.conn {
		return true
	}
	unmap := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
	if w.src.Addr().Unmap() != f.addr.Addr().Unmap() {
		return false
	}
	if w.conn != nil {
		return w.conn != c.conn
	}
	return unmap(w.src) == unmap(f.addr) || unmap(w.src) != unmap(c.addr)
}

// isNextHop reports whether a is one of the proxy's next hops (upstream,
// challenge, honeypot) over transport tr: over UDP its address and port,
// over a stream its address (a connection from it has any port).
func (p *proxy) isNextHop(tr string, a netip.AddrPort) bool {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	for _, t := range p.targets {
		if !t.addr.IsValid() {
			continue
		}
		ta := netip.AddrPortFrom(t.addr.Addr().Unmap(), t.addr.Port())
		if tr == "udp" && a == ta || tr != "udp" && a.Addr() == ta.Addr() {
			return true
		}
	}
	return false
}

// routedHere reports whether the request's top Route is tollgate's.
func (p *proxy) routedHere(m *message) bool {
	top, _ := splitComma(m.get(hRoute))
	ap, ok := routeAddr(top)
	return ok && p.ours[ap]
}

// response routes a response by its top Via: ours, or it is dropped.
func (p *proxy) response(w *worker) {
	m := &w.m
	top, _ := splitComma(m.get(hVia))
	br, _ := viaParam(top, "branch")
	if !strings.HasPrefix(br, branchPrefix) {
		return
	}
	code := statusCode([]byte(m.raw))
	if code < 100 || code > 699 {
		return
	}
	_, meth, _ := strings.Cut(m.get(hCSeq), " ")
	meth = trimLWS(meth)
	var e effects
	sh := p.shard(m.get(hCallID))
	sh.mu.Lock()
	switch tx := sh.client[br]; {
	case tx != nil && meth == "INVITE":
		p.inviteResponse(sh, w, tx, code, &e)
		p.schedTx(sh, tx)
		if tx.dlg != nil {
			p.schedDialog(sh, tx.dlg)
		}
	case meth == "CANCEL":
		if r := sh.relays[br+"|CANCEL"]; r != nil && code >= 200 {
			r.done = true
		}
	default:
		r := sh.relays[br]
		switch {
		case r == nil:
		case r.own:
			if code >= 200 {
				r.done = true
			}
		default:
			if w.conn != nil {
				r.out.conn = w.conn
			}
			e.send(r.in, w.appendRelayed(nil))
			// A BYE accepted, or answered that the dialog is gone
			// (481) or unreachable (408), ends the call.
			if d := sh.dialogs[r.byeOf]; r.byeOf != "" && d != nil && d.state != ending && code >= 200 &&
				(code < 300 || code == 481 || code == 408) {
				d.state, d.endedAt = ending, p.now()
				p.schedDialog(sh, d)
				e.event(d.callID, "end", d.endedAt)
			}
		}
	}
	p.sendLocked(&e)
	sh.mu.Unlock()
	p.apply(&e)
}

// inviteResponse handles the callee's answer to a forwarded INVITE.
// Called with the shard's lock held; the caller reschedules tx and its
// dialog.
func (p *proxy) inviteResponse(sh *shard, w *worker, tx *inviteTx, code int, e *effects) {
	m := &w.m
	now := p.now()
	if w.conn != nil {
		tx.out.conn = w.conn
	}
	tx.aAt = time.Time{}
	d := tx.dlg
	if d != nil && w.conn != nil {
		d.calleeFlow.conn = w.conn
	}
	if code < 200 {
		tx.lastProv = now
		if !tx.provisional {
			tx.provisional = true
			if tx.cancelled {
				p.sendCancel(sh, tx, e)
			}
		}
		if code == 100 || tx.final != 0 {
			return // 100 is hop by hop
		}
		tx.last = w.appendRelayed(nil)
		e.send(tx.in, tx.last)
		return
	}
	if code < 300 {
		fwd := w.appendRelayed(nil)
		e.send(tx.in, fwd) // retransmitted 2xx are relayed too: the UAS repeats them until the ACK
		if tx.final != 0 {
			return
		}
		tx.final, tx.finalAt, tx.last = code, now, fwd
		p.s.stats.Answered.Add(1)
		p.reportAnswer(tx, code)
		if d == nil || d.state != early {
			return
		}
		d.state, d.answered = confirmed, now
		d.calleeTag, d.calleeTo, d.calleeURI = tagOf(m.get(hTo)), m.get(hTo), contactURI(m.get(hContact))
		rrs := recordRoutes(m)
		first, last := -1, -1
		for i, r := range rrs {
			if ap, ok := routeAddr(r); ok && p.ours[ap] {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first >= 0 {
			d.calleeRoute = routeLines(rrs[:first])
			d.callerRoute = reverseRoutes(rrs[last+1:])
		}
		e.event(d.callID, "answer", now)
		if d.killWhy != "" {
			p.teardown(sh, d, d.killWhy, e)
		}
		return
	}
	if tx.ackFor != nil {
		e.send(tx.out, tx.ackFor) // the callee repeats its answer: our ACK was lost
		return
	}
	// A non-2xx final answer: ACK it hop by hop, pass it on unless the
	// caller already has tollgate's own final answer (Timer B or C).
	b := make([]byte, 0, 512)
	b = appendLine(b, "ACK ", tx.ruri, " SIP/2.0")
	b = appendLine(b, "Via: ", p.ourVia(tx.out.tr, tx.branch))
	b = append(b, tx.routes...)
	b = appendLine(b, "From: ", tx.from)
	b = appendLine(b, "To: ", m.get(hTo))
	b = appendLine(b, "Call-ID: ", tx.callID)
	b = appendLine(b, "CSeq: ", tx.cseq, " ACK")
	b = append(b, "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"...)
	tx.ackFor = b
	e.send(tx.out, b)
	if tx.final != 0 {
		return
	}
	p.finishTx(tx, w.appendRelayed(nil), code, now)
	e.send(tx.in, tx.last)
	p.reportAnswer(tx, code)
	if d != nil {
		p.delDialog(sh, d)
		e.event(d.callID, endType(code), now)
	}
}

// reportAnswer tells the attack guard what the next hop's final answer
// says about the caller (report.go): no such user, failed credentials, or
// credentials accepted.
func (p *proxy) reportAnswer(tx *inviteTx, code int) {
	if p.s.reporter == nil || tx.scannerUA {
		return
	}
	ev := attack.Event{IP: tx.src, Port: int(tx.in.addr.Port()), Transport: tx.in.tr, UserAgent: tx.ua, Dialed: tx.ruri, Tenant: tx.tenant}
	switch {
	case code >= 200 && code < 300:
		if !tx.creds || tx.authUser == "" {
			return
		}
		// The next hop accepted the credentials: the source is the
		// account's own (a lockout will allow it).
		ev.Kind, ev.Username, ev.Text = attack.KindAuthSuccess, tx.authUser, "credentials accepted by the next hop ("+strconv.Itoa(code)+")"
	case code == 404 || code == 484 || code == 604:
		ev.Kind, ev.Text = attack.KindNoRoute, "the next hop answered "+strconv.Itoa(code)
	case code == 401 || code == 407:
		if tx.creds {
			ev.Kind, ev.Username, ev.Text = attack.KindAuthFailure, tx.authUser, "credentials refused by the next hop ("+strconv.Itoa(code)+")"
		} else {
			ev.Kind, ev.Text = attack.KindChallenge, "challenged by the next hop ("+strconv.Itoa(code)+")"
		}
	default:
		return
	}
	p.s.send(ev)
}

// endType is the call event for a final answer that ended a call.
func endType(code int) string {
	switch code {
	case 486, 600:
		return "busy"
	case 487:
		return "cancel"
	case 408, 480:
		return "noanswer"
	}
	return "failed"
}

// Teardown reasons.
const (
	WhyMaxDuration = "max_duration"
	WhyKillSwitch  = "kill_switch"
	WhyDisconnect  = "disconnect"
)

var whyText = map[string]string{
	WhyMaxDuration: "maximum call duration reached",
	WhyKillSwitch:  "kill switch: international calling disabled",
	WhyDisconnect:  "disconnected by an operator",
}

// teardown ends a call: BYE to both sides once it is answered, CANCEL
// while it rings. Called with the shard's lock held.
func (p *proxy) teardown(sh *shard, d *dialog, why string, e *effects) {
	now := p.now()
	switch d.state {
	case early:
		if d.killWhy == "" {
			d.killWhy = why
		}
		if tx := d.tx; tx != nil && tx.final == 0 && !tx.cancelled {
			tx.cancelled = true
			if tx.provisional {
				p.sendCancel(sh, tx, e)
			}
		}
	case confirmed:
		d.state, d.endedAt = ending, now
		p.s.stats.TornDown.Add(1)
		extra := "Reason: Q.850;cause=16;text=\"tollgate: " + whyText[why] + "\"\r\nX-Tollgate-Teardown: " + why + "\r\n"
		toCallee := p.bye(d.calleeURI, d.calleeFlow, d.calleeRoute, d.callerFrom, d.calleeTo, d.callID, d.callerCSeq+1, extra)
		toCaller := p.bye(d.callerURI, d.callerFlow, d.callerRoute, d.calleeTo, d.callerFrom, d.callID, d.calleeCSeq+1, extra)
		d.callerCSeq++
		d.calleeCSeq++
		br1, br2 := newBranch(), newBranch()
		p.own(sh, br1, d.calleeFlow, setBranch(toCallee, br1), e)
		p.own(sh, br2, d.callerFlow, setBranch(toCaller, br2), e)
		p.schedDialog(sh, d)
		e.event(d.callID, "end", now)
		p.log.Info("sipfront: call torn down", "call_id", d.callID, "tenant", d.tenant, "extension", d.extension, "why", why)
	}
}

// bye builds a BYE of tollgate's own; the branch placeholder is set by
// setBranch.
func (p *proxy) bye(ruri string, f flow, routes, from, to, callID string, cseq uint32, extra string) []byte {
	b := make([]byte, 0, 640)
	b = appendLine(b, "BYE ", ruri, " SIP/2.0")
	b = appendLine(b, "Via: ", p.ourVia(f.tr, "\x00"))
	b = append(b, routes...)
	b = appendLine(b, "From: ", from)
	b = appendLine(b, "To: ", to)
	b = appendLine(b, "Call-ID: ", callID)
	b = appendLine(b, "CSeq: ", strconv.FormatUint(uint64(cseq), 10), " BYE")
	b = append(b, "Max-Forwards: 70\r\n"...)
	b = append(b, extra...)
	return append(b, "Content-Length: 0\r\n\r\n"...)
}

func setBranch(b []byte, branch string) []byte {
	i := strings.IndexByte(string(b), 0)
	if i < 0 {
		return b
	}
	return slices.Concat(b[:i], []byte(branch), b[i+1:])
}

// timers runs retransmissions, timeouts, the maximum duration and the
// kill switch watch.
func (p *proxy) timers(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stop:
			return
		case <-t.C:
			p.onTick(p.now())
		}
	}
}

// maxDialogAge bounds how long an answered call without a maximum
// duration is remembered.
const maxDialogAge = 24 * time.Hour

// onTick runs, shard by shard, the timers that are due at now, and when
// the kill switches changed, tears down the calls they cover. It returns
// how many timers it ran (stale entries not counted).
func (p *proxy) onTick(now time.Time) int {
	ran := 0
	killChanged := false
	if p.blocks != nil {
		if s := p.blocks.Load(); s != p.lastSet {
			p.lastSet, killChanged = s, true
		}
	}
	for i := range p.shards {
		sh := &p.shards[i]
		var e effects
		sh.mu.Lock()
		t0 := time.Now()
		ran += p.tickShard(sh, now, &e)
		if killChanged && p.lastSet != nil {
			for _, d := range sh.dialogs {
				if d.state != ending && d.intl && d.outbound && p.lastSet.Kill(d.tenant) != nil {
					p.teardown(sh, d, WhyKillSwitch, &e)
				}
			}
		}
		p.sendLocked(&e)
		if p.holds != nil {
			*p.holds = append(*p.holds, time.Since(t0))
		}
		sh.mu.Unlock()
		p.apply(&e)
	}
	return ran
}

// CallInfo describes a call the proxy carries.
type CallInfo struct {
	CallID        string    `json:"call_id"`
	Tenant        string    `json:"tenant"`
	Extension     string    `json:"extension"`
	Callee        string    `json:"callee"`
	International bool      `json:"international"`
	State         string    `json:"state"` // ringing, answered, ending
	Answered      time.Time `json:"answered,omitzero"`
	MaxDuration   int       `json:"max_duration_s,omitempty"`
}

// Calls lists the calls the proxy carries (nil in redirect mode).
func (s *Server) Calls() []CallInfo {
	p := s.proxy
	if p == nil {
		return nil
	}
	out := []CallInfo{}
	for i := range p.shards {
		sh := &p.shards[i]
		sh.mu.Lock()
		for _, d := range sh.dialogs {
			ci := CallInfo{CallID: d.callID, Tenant: d.tenant, Extension: d.extension, Callee: d.callee,
				International: d.intl, State: [...]string{"ringing", "answered", "ending"}[d.state], Answered: d.answered, MaxDuration: d.maxDur}
			out = append(out, ci)
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b CallInfo) int { return strings.Compare(a.CallID, b.CallID) })
	return out
}

// Proxying reports whether the front end is a proxy that can end calls.
func (s *Server) Proxying() bool { return s.proxy != nil }

// Disconnect ends one call the proxy carries; false when it carries no
// such call (or it is already ending).
func (s *Server) Disconnect(callID string) bool {
	return s.disconnect(func(d *dialog) bool { return d.callID == callID }) > 0
}

// DisconnectExtension ends every call of one extension of a tenant and
// returns how many.
func (s *Server) DisconnectExtension(tenant, extension string) int {
	return s.disconnect(func(d *dialog) bool { return d.tenant == tenant && d.extension == extension })
}

func (s *Server) disconnect(match func(*dialog) bool) int {
	p := s.proxy
	if p == nil {
		return 0
	}
	n := 0
	for i := range p.shards {
		sh := &p.shards[i]
		var e effects
		sh.mu.Lock()
		for _, d := range sh.dialogs {
			if d.state != ending && d.killWhy == "" && match(d) {
				p.teardown(sh, d, WhyDisconnect, &e)
				n++
			}
		}
		p.sendLocked(&e)
		sh.mu.Unlock()
		p.apply(&e)
	}
	return n
}

// ---- message building ----

// clone copies a response the worker built (its buffer is reused); the
// destination the redirect path returns alongside is ignored.
func clone(b []byte, _ ...netip.AddrPort) []byte { return append([]byte(nil), b...) }

func appendLine(b []byte, parts ...string) []byte {
	for _, s := range parts {
		b = append(b, s...)
	}
	return append(b, "\r\n"...)
}

// statusCode reads the code of a status line.
func statusCode(b []byte) int {
	s := string(b[:min(len(b), 16)])
	rest, ok := strings.CutPrefix(s, "SIP/2.0 ")
	if !ok || len(rest) < 3 {
		return 0
	}
	n, _ := atoiBounded(rest[:3], 999)
	return n
}

// restatus turns a response tollgate built (its 100 Trying) into another
// status, adding a To tag for a final one.
func restatus(resp []byte, code int, text string) []byte {
	s := string(resp)
	_, rest, _ := strings.Cut(s, "\r\n")
	b := make([]byte, 0, len(s)+32)
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, text...)
	b = append(b, "\r\n"...)
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\r\n")
		b = append(b, line...)
		if k, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(trimLWS(k), "To") || strings.EqualFold(trimLWS(k), "t")) && tagOf(v) == "" {
			b = append(b, ";tag=tg"...)
			b = append(b, newBranch()[len(branchPrefix):]...)
		}
		b = append(b, "\r\n"...)
	}
	return b
}

// appendForward writes the worker's request as forwarded: the new
// Request-URI, our Via on top of the sender's (received and rport filled
// in), Max-Forwards one less, our own Route entries dropped, rr on top of
// the Record-Routes and extra lines. It returns the Route lines kept.
func (w *worker) appendForward(b []byte, ruri, via string, rr []string, extra string) ([]byte, string) {
	m := &w.m
	b = appendLine(b, m.method, " ", ruri, " SIP/2.0")
	b = appendLine(b, "Via: ", via)
	var routes []byte
	popping := true
	firstVia, hasMF := true, false
	// The caller-ID verification result rides in the identity the PBX will
	// show: P-Asserted-Identity, or From when there is none.
	vs := callerid.Verstat(&w.v)
	// With no check's result to write, a verstat the caller sent is its
	// own claim (TN-Validation-Passed on a spoofed number): removed,
	// unless it comes from a named trusted proxy (an upstream SBC that
	// verified it).
	strip := vs == "" && !trusted(w.s.cfg.Map.Trusted, w.src.Addr().Unmap())
	hasPAI := m.get(hPAI) != ""
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != hVia && rr != nil {
			// Ours goes on top of the Record-Routes, after the Vias.
			for _, r := range rr {
				b = appendLine(b, "Record-Route: ", r)
			}
			rr = nil
		}
		switch f.id {
		case hVia:
			b = append(b, f.name...)
			b = append(b, ": "...)
			if firstVia {
				b = w.appendTopVia(b, f.value)
				firstVia = false
			} else {
				b = append(b, f.value...)
			}
			b = append(b, "\r\n"...)
		case hMaxForwards:
			n, _ := atoiBounded(f.value, 255)
			b = append(b, "Max-Forwards: "...)
			b = strconv.AppendInt(b, int64(max(n-1, 0)), 10)
			b = append(b, "\r\n"...)
			hasMF = true
		case hRoute:
			var kept []string
			for v := f.value; v != ""; {
				var one string
				one, v = splitComma(v)
				one = trimLWS(one)
				if popping {
					if ap, ok := routeAddr(one); ok && w.s.proxy.ours[ap] {
						continue
					}
					popping = false
				}
				if one != "" {
					kept = append(kept, one)
				}
			}
			if len(kept) > 0 {
				line := appendLine(nil, "Route: ", strings.Join(kept, ", "))
				routes = append(routes, line...)
				b = append(b, line...)
			}
		case hContentLength:
		case hOther:
			// X-Tollgate-* are tollgate's to write (extra): a caller's
			// own would sit beside them, and a PBX reading the first
			// X-Tollgate-Verdict would believe the caller's.
			if len(f.name) >= 11 && strings.EqualFold(f.name[:11], "X-Tollgate-") {
				continue
			}
			b = appendLine(b, f.name, ": ", f.value)
		case hPAI:
			if vs != "" {
				b = appendLine(b, f.name, ": ", withVerstat(f.value, vs))
			} else if strip {
				b = appendLine(b, f.name, ": ", withoutVerstat(f.value))
			} else {
				b = appendLine(b, f.name, ": ", f.value)
			}
		case hFrom:
			if vs != "" && !hasPAI {
				b = appendLine(b, f.name, ": ", withVerstat(f.value, vs))
			} else if strip {
				b = appendLine(b, f.name, ": ", withoutVerstat(f.value))
			} else {
				b = appendLine(b, f.name, ": ", f.value)
			}
		default:
			b = appendLine(b, f.name, ": ", f.value)
		}
	}
	if !hasMF {
		b = append(b, "Max-Forwards: 70\r\n"...)
	}
	b = append(b, extra...)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(m.body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, m.body...), string(routes)
}

// appendRelayed writes the worker's response without our top Via.
func (w *worker) appendRelayed(b []byte) []byte {
	m := &w.m
	line, _, _ := cutLine(m.raw)
	b = appendLine(b, line)
	firstVia := true
	for i := range m.fields {
		f := &m.fields[i]
		switch {
		case f.id == hVia && firstVia:
			firstVia = false
			if _, rest := splitComma(f.value); trimLWS(rest) != "" {
				b = appendLine(b, f.name, ": ", trimLWS(rest))
			}
		case f.id == hContentLength:
		default:
			b = appendLine(b, f.name, ": ", f.value)
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(m.body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, m.body...)
}

// recordRoutes lists the Record-Route entries of a message in order.
func recordRoutes(m *message) []string {
	var out []string
	for i := range m.fields {
		f := &m.fields[i]
		if f.id != hRecordRoute {
			continue
		}
		for v := f.value; v != ""; {
			var one string
			one, v = splitComma(v)
			if one = trimLWS(one); one != "" {
				out = append(out, one)
			}
		}
	}
	return out
}

func firstRecordRoute(m *message) string {
	if rr := recordRoutes(m); len(rr) > 0 {
		return rr[0]
	}
	return ""
}

func routeLines(rs []string) string {
	if len(rs) == 0 {
		return ""
	}
	return "Route: " + strings.Join(rs, ", ") + "\r\n"
}

func reverseRoutes(rs []string) string {
	rs = slices.Clone(rs)
	slices.Reverse(rs)
	return routeLines(rs)
}
