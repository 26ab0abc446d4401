package stir

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Verstat is the outcome ATIS-1000074 has the verification service put in
// the verstat parameter of P-Asserted-Identity.
type Verstat uint8

// Outcomes.
const (
	NoValidation Verstat = iota // No-TN-Validation: nothing (usable) to verify
	Passed                      // TN-Validation-Passed
	Failed                      // TN-Validation-Failed
)

var verstatNames = [...]string{"No-TN-Validation", "TN-Validation-Passed", "TN-Validation-Failed"}

func (v Verstat) String() string {
	if int(v) < len(verstatNames) {
		return verstatNames[v]
	}
	return "No-TN-Validation"
}

// Result is what verification found.
type Result struct {
	Verstat Verstat
	Attest  string // A, B or C when the PASSporT was readable
	// Code is the RFC 8224 response code of a failure (403 Stale Date,
	// 428, 436, 437, 438); 0 when verification passed or was not tried.
	Code   int
	Reason string
	OrigTN string
	OrigID string
	X5U    string
	SPC    string // the service provider code of the signing certificate
	// Pending is set when the certificate was not cached and its fetch did
	// not finish within the wait: the call is No-TN-Validation and the
	// fetch goes on, so the next call from that signer finds it cached.
	Pending bool
}

// Request is one call to verify.
type Request struct {
	Identity string
	// Orig and Dest are the caller (P-Asserted-Identity or From) and the
	// dialed number, normalized to E.164 (with or without "+"); empty
	// skips that comparison.
	Orig, Dest string
	// Time is when the call arrived: iat freshness and certificate
	// validity are judged at this time.
	Time time.Time
	// Date is the SIP Date header, when the request had one.
	Date time.Time
}

// Options configures a Verifier.
type Options struct {
	Trust *Trust
	Fetch FetchPolicy
	// MaxAge is how far iat may be from the call's time, in either
	// direction (a future iat is as suspect as an old one); default 60 s.
	MaxAge time.Duration
	// RequireTNAuthList refuses signing certificates without TNAuthList.
	RequireTNAuthList bool
	// Wait is how long Verify waits for a certificate that is not cached.
	// 0 never waits: the call is No-TN-Validation (Pending) and the fetch
	// fills the cache in the background.
	Wait time.Duration
	// CacheTTL is how long a certificate is kept when its server says
	// nothing (default 1 h); MinTTL and MaxTTL clamp what it says
	// (default 5 min and 24 h). NegativeTTL keeps a failed fetch (60 s).
	CacheTTL, MinTTL, MaxTTL, NegativeTTL time.Duration
	// MaxEntries bounds the certificate cache (default 10000).
	MaxEntries int
	// Now is the wall clock for cache expiry; default time.Now.
	Now func() time.Time
}

// Verifier is the verification service. It is safe for concurrent use;
// it does network I/O only to fetch certificates not yet cached, off the
// caller's path unless Options.Wait lets the caller wait.
type Verifier struct {
	o     Options
	fetch *fetcher

	mu      sync.Mutex
	entries map[string]*entry

	hits, misses, fetches, fetchErrs atomic.Int64
}

type entry struct {
	ready   chan struct{} // closed when the fetch is done
	certs   []*x509.Certificate
	err     *Error
	expires time.Time
	pinned  bool
	cred    atomic.Pointer[Credential]
	stale   *entry // the expired entry this one refreshes, served meanwhile
}

// NewVerifier returns a Verifier.
func NewVerifier(o Options) (*Verifier, error) {
	if o.Trust == nil {
		return nil, errors.New("stir: verifier needs trust anchors")
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 60 * time.Second
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Hour
	}
	if o.MinTTL <= 0 {
		o.MinTTL = 5 * time.Minute
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = 24 * time.Hour
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = time.Minute
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{o: o, fetch: newFetcher(o.Fetch), entries: map[string]*entry{}}, nil
}

// Stats are cache and fetch counters.
type Stats struct {
	Hits, Misses, Fetches, FetchErrors int64
	Entries                            int
}

// Stats returns the verifier's counters.
func (v *Verifier) Stats() Stats {
	v.mu.Lock()
	n := len(v.entries)
	v.mu.Unlock()
	return Stats{v.hits.Load(), v.misses.Load(), v.fetches.Load(), v.fetchErrs.Load(), n}
}

// Pin puts certificates in the cache for url for good, as if fetched
// (the chain is still validated at each call's time).
func (v *Verifier) Pin(url string, certs []*x509.Certificate) {
	e := &entry{ready: make(chan struct{}), certs: certs, pinned: true}
	close(e.ready)
	v.mu.Lock()
	v.entries[url] = e
	v.mu.Unlock()
}

func fail(code int, reason string) Result {
	return Result{Verstat: Failed, Code: code, Reason: reason}
}

// Verify checks a call's Identity header. It never returns an error: the
// Result says what was found.
func (v *Verifier) Verify(ctx context.Context, r *Request) Result {
	if strings.TrimSpace(r.Identity) == "" {
		return Result{Verstat: NoValidation, Reason: "no Identity header"}
	}
	id, err := ParseIdentity(r.Identity)
	if err != nil {
		return errResult(err)
	}
	res := Result{Attest: id.Claims.Attest, OrigTN: id.Claims.Orig, OrigID: id.Claims.OrigID, X5U: id.Header.X5U}
	bad := func(code int, reason string) Result {
		res.Verstat, res.Code, res.Reason = Failed, code, reason
		return res
	}
	switch {
	case id.Alg != "" && id.Alg != "ES256":
		return bad(438, "alg parameter "+quote(id.Alg)+" is not ES256")
	case id.PPT != "" && id.PPT != "shaken":
		return bad(438, "ppt parameter "+quote(id.PPT)+" is not shaken")
	case id.Header.Alg != "ES256":
		return bad(438, "PASSporT alg "+quote(id.Header.Alg)+" is not ES256")
	case id.Header.Typ != "passport":
		return bad(438, "PASSporT typ "+quote(id.Header.Typ)+" is not passport")
	case id.Header.PPT != "shaken":
		return bad(438, "PASSporT ppt "+quote(id.Header.PPT)+" is not shaken")
	case id.Header.X5U == "":
		return bad(438, "PASSporT has no x5u")
	case id.Info == "":
		return bad(438, "Identity has no info parameter")
	case id.Info != id.Header.X5U:
		return bad(438, "info parameter does not match x5u")
	case id.Compact:
		return bad(438, "compact form: SHAKEN's attest and origid cannot be rebuilt from SIP")
	case id.Claims.Attest != "A" && id.Claims.Attest != "B" && id.Claims.Attest != "C":
		return bad(438, "attest "+quote(id.Claims.Attest)+" is not A, B or C")
	case id.Claims.Orig == "":
		return bad(438, "PASSporT has no orig.tn")
	case id.Claims.OrigID == "":
		return bad(438, "PASSporT has no origid")
	case len(id.sig) != 64:
		return bad(438, "signature is not 64 octets of JOSE r||s (got "+itoa(len(id.sig))+")")
	}
	now := r.Time
	if now.IsZero() {
		now = v.o.Now()
	}
	iat := time.Unix(id.Claims.IAT, 0)
	if d := now.Sub(iat); d > v.o.MaxAge {
		return bad(403, "iat is "+d.Round(time.Second).String()+" old (at most "+v.o.MaxAge.String()+")")
	} else if -d > v.o.MaxAge {
		return bad(403, "iat is "+(-d).Round(time.Second).String()+" in the future (at most "+v.o.MaxAge.String()+")")
	}
	if !r.Date.IsZero() {
		if d := absDur(now.Sub(r.Date)); d > v.o.MaxAge {
			return bad(403, "SIP Date is "+d.Round(time.Second).String()+" away from now")
		}
		if d := absDur(iat.Sub(r.Date)); d > v.o.MaxAge {
			return bad(403, "iat is "+d.Round(time.Second).String()+" away from the SIP Date")
		}
	}
	if r.Orig != "" && canonicalTN(r.Orig) != canonicalTN(id.Claims.Orig) {
		return bad(438, "orig.tn "+id.Claims.Orig+" does not match the caller "+r.Orig)
	}
	if r.Dest != "" && len(id.Claims.Dest) > 0 {
		want, ok := canonicalTN(r.Dest), false
		for _, d := range id.Claims.Dest {
			ok = ok || canonicalTN(d) == want
		}
		if !ok {
			return bad(438, "dest.tn does not match the called number "+r.Dest)
		}
	}
	u, err := v.o.Fetch.CheckURL(id.Header.X5U)
	if err != nil {
		return bad(436, err.(*Error).Reason)
	}
	e := v.lookup(ctx, u.String())
	if e == nil {
		res.Verstat, res.Pending, res.Reason = NoValidation, true, "certificate not cached yet; fetching "+id.Header.X5U
		return res
	}
	if e.err != nil {
		return bad(e.err.Code, e.err.Reason)
	}
	cred := e.cred.Load()
	if cred == nil || !cred.ValidAt(now) {
		c, err := v.o.Trust.Validate(e.certs, now, v.o.RequireTNAuthList)
		if err != nil {
			var se *Error
			errors.As(err, &se)
			return bad(se.Code, se.Reason)
		}
		e.cred.Store(c)
		cred = c
	}
	if cred.TNAuth != nil && len(cred.TNAuth.SPCs) > 0 {
		res.SPC = cred.TNAuth.SPCs[0]
	}
	if !verifyES256(cred.Key, id.signing, id.sig) {
		return bad(438, "signature does not verify with the x5u certificate")
	}
	res.Verstat, res.Reason = Passed, "TN-Validation-Passed, attestation "+id.Claims.Attest
	return res
}

func errResult(err error) Result {
	var se *Error
	if errors.As(err, &se) {
		return fail(se.Code, se.Reason)
	}
	return fail(438, err.Error())
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func quote(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s) + `"`
}

// lookup returns the cache entry for url once its fetch is done, starting
// the fetch when there is no fresh entry; nil when the fetch did not
// finish within Options.Wait (or ctx).
func (v *Verifier) lookup(ctx context.Context, url string) *entry {
	now := v.o.Now()
	v.mu.Lock()
	e := v.entries[url]
	if e != nil {
		select {
		case <-e.ready:
			if e.pinned || now.Before(e.expires) {
				v.mu.Unlock()
				v.hits.Add(1)
				return e
			}
		default: // a fetch is running
			stale := e.stale
			v.mu.Unlock()
			if stale != nil {
				v.hits.Add(1)
				return stale
			}
			v.misses.Add(1)
			return v.wait(ctx, e)
		}
	}
	v.misses.Add(1)
	old := e
	e = &entry{ready: make(chan struct{})}
	if old != nil && old.err == nil {
		e.stale = old
	}
	if old != nil {
		// A re-fetch keeps the last validation so a good certificate that
		// is fetched again does not need its chain checked again.
		if c := old.cred.Load(); c != nil {
			e.cred.Store(c)
		}
	}
	if len(v.entries) >= v.o.MaxEntries {
		v.evictLocked(now)
	}
	v.entries[url] = e
	stale := e.stale
	v.mu.Unlock()
	go v.fill(url, e)
	if stale != nil {
		// Serve the expired certificate while it is fetched again, so a
		// signer's calls are not left unverified at each refresh.
		return stale
	}
	return v.wait(ctx, e)
}

func (v *Verifier) wait(ctx context.Context, e *entry) *entry {
	if v.o.Wait <= 0 {
		select {
		case <-e.ready:
			return e
		default:
			return nil
		}
	}
	t := time.NewTimer(v.o.Wait)
	defer t.Stop()
	select {
	case <-e.ready:
		return e
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// evictLocked makes room: expired entries first, then any finished one.
func (v *Verifier) evictLocked(now time.Time) {
	for k, e := range v.entries {
		select {
		case <-e.ready:
			if !e.pinned && !now.Before(e.expires) {
				delete(v.entries, k)
			}
		default:
		}
	}
	for k, e := range v.entries {
		if len(v.entries) < v.o.MaxEntries {
			return
		}
		select {
		case <-e.ready:
			if !e.pinned {
				delete(v.entries, k)
			}
		default:
		}
	}
}

// fill fetches and parses a certificate for e, then marks it ready.
func (v *Verifier) fill(url string, e *entry) {
	defer func() {
		close(e.ready)
		v.mu.Lock()
		e.stale = nil // let the old certificates go
		v.mu.Unlock()
	}()
	v.fetches.Add(1)
	u, err := v.o.Fetch.CheckURL(url)
	var fr *fetchResult
	if err == nil {
		fr, err = v.fetch.fetch(context.Background(), u)
	}
	if err == nil {
		e.certs, err = ParseCertificates(fr.body)
		if err != nil {
			err = &Error{Code: 436, Reason: "x5u content is not a PEM or DER certificate"}
		}
	}
	now := v.o.Now()
	if err != nil {
		v.fetchErrs.Add(1)
		var se *Error
		if !errors.As(err, &se) {
			se = &Error{Code: 436, Reason: err.Error()}
		}
		e.err, e.certs, e.expires = se, nil, now.Add(v.o.NegativeTTL)
		e.cred.Store(nil)
		return
	}
	ttl := fr.ttl
	switch {
	case ttl == 0:
		ttl = v.o.CacheTTL
	case ttl < v.o.MinTTL:
		ttl = v.o.MinTTL
	case ttl > v.o.MaxTTL:
		ttl = v.o.MaxTTL
	}
	if c := e.cred.Load(); c != nil && (len(e.certs) == 0 || !c.Leaf.Equal(e.certs[0])) {
		e.cred.Store(nil) // a different certificate now: validate it afresh
	}
	e.expires = now.Add(ttl)
}
