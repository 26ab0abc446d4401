package stir

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FetchPolicy says which x5u URLs may be fetched and how.
type FetchPolicy struct {
	// AllowHosts, when not empty, lists the only hosts x5u may name; an
	// entry "*.example.net" allows every subdomain of example.net.
	AllowHosts []string
	// Ports allowed in x5u; default 443 and 8443.
	Ports []int
	// Timeout bounds one fetch, connection to last byte; default 2 s.
	Timeout time.Duration
	// MaxBytes bounds the certificate file; default 64 KiB.
	MaxBytes int64
	// AllowSpecialAddrs turns off the guard that refuses to connect to
	// special-purpose addresses (RFC 6890: loopback, private, link-local,
	// documentation, multicast…). Only tests set it.
	AllowSpecialAddrs bool
	// RootCAs verifies the x5u server's TLS certificate; nil = the system's.
	RootCAs *x509.CertPool
}

// Defaults.
const (
	DefaultFetchTimeout = 2 * time.Second
	DefaultMaxCertBytes = 64 << 10
)

// CheckURL applies the x5u rules before any network I/O: https only, an
// allowed port, no userinfo, query or fragment, a host on the allowlist
// when there is one, and no IP literal in a special-purpose range.
func (p *FetchPolicy) CheckURL(raw string) (*url.URL, error) {
	bad := func(why string) (*url.URL, error) { return nil, &Error{Code: 436, Reason: "x5u " + why} }
	if raw == "" {
		return bad("is empty")
	}
	if len(raw) > 2048 {
		return bad("longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a URL")
	}
	switch {
	case u.Scheme != "https":
		return bad("must be https, got " + strconv.Quote(u.Scheme))
	case u.User != nil:
		return bad("must not carry userinfo")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("must not carry a query")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not carry a fragment")
	case u.Opaque != "" || u.Host == "":
		return bad("has no host")
	}
	port := 443
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil {
			return bad("has a bad port")
		}
		port = n
	}
	ports := p.Ports
	if len(ports) == 0 {
		ports = []int{443, 8443}
	}
	okPort := false
	for _, q := range ports {
		okPort = okPort || q == port
	}
	if !okPort {
		return bad("port " + strconv.Itoa(port) + " is not allowed")
	}
	host := strings.ToLower(u.Hostname())
	if len(p.AllowHosts) > 0 && !hostAllowed(host, p.AllowHosts) {
		return bad("host " + host + " is not on the allowlist")
	}
	if a, err := netip.ParseAddr(host); err == nil && !p.AllowSpecialAddrs && IsSpecialPurpose(a) {
		return bad("host " + host + " is a special-purpose address")
	}
	return u, nil
}

func hostAllowed(host string, allow []string) bool {
	for _, h := range allow {
		h = strings.ToLower(h)
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// specialPurpose lists the RFC 6890 special-purpose blocks and their
// later additions that an x5u host must never resolve to.
var specialPurpose = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24",
		"192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// IsSpecialPurpose reports whether a is in a special-purpose block
// (RFC 6890 and its updates): loopback, private, shared, link-local,
// documentation, benchmarking, multicast, reserved, translation prefixes.
func IsSpecialPurpose(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range specialPurpose {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fetcher downloads x5u certificates under a FetchPolicy.
type fetcher struct {
	p      FetchPolicy
	client *http.Client
}

func newFetcher(p FetchPolicy) *fetcher {
	if p.Timeout <= 0 {
		p.Timeout = DefaultFetchTimeout
	}
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxCertBytes
	}
	d := &net.Dialer{Timeout: p.Timeout}
	if !p.AllowSpecialAddrs {
		// The guard runs on the address actually dialled, after DNS, so a
		// name that resolves (or re-resolves) to a private address fails.
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("unparsable address %q", address)
			}
			if IsSpecialPurpose(ap.Addr()) {
				return &guardError{ap.Addr()}
			}
			return nil
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs},
		TLSHandshakeTimeout:   p.Timeout,
		ResponseHeaderTimeout: p.Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
	}
	return &fetcher{p: p, client: &http.Client{
		Transport: tr,
		Timeout:   p.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirects are not followed")
		},
	}}
}

type guardError struct{ a netip.Addr }

func (e *guardError) Error() string {
	return "refusing to connect to special-purpose address " + e.a.String()
}

// fetchResult is one download: the certificates and how long to keep them.
type fetchResult struct {
	body []byte
	ttl  time.Duration // from Cache-Control; 0 = not said
}

func (f *fetcher) fetch(ctx context.Context, u *url.URL) (*fetchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, f.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Code: 436, Reason: "x5u: " + err.Error()}
	}
	req.Header.Set("Accept", "application/pem-certificate-chain, application/pkix-cert;q=0.9, */*;q=0.1")
	resp, err := f.client.Do(req)
	if err != nil {
		var ge *guardError
		if errors.As(err, &ge) {
			return nil, &Error{Code: 436, Reason: "x5u host resolves to a special-purpose address (" + ge.a.String() + ")"}
		}
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return nil, &Error{Code: 436, Reason: "x5u fetch timed out after " + f.p.Timeout.String()}
		}
		return nil, &Error{Code: 436, Reason: "x5u fetch failed: " + shortErr(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Code: 436, Reason: "x5u answered HTTP " + strconv.Itoa(resp.StatusCode)}
	}
	if resp.ContentLength > f.p.MaxBytes {
		return nil, &Error{Code: 436, Reason: "x5u certificate larger than " + strconv.FormatInt(f.p.MaxBytes, 10) + " bytes"}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.p.MaxBytes+1))
	if err != nil {
		if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			return nil, &Error{Code: 436, Reason: "x5u fetch timed out after " + f.p.Timeout.String()}
		}
		return nil, &Error{Code: 436, Reason: "x5u read failed: " + shortErr(err)}
	}
	if int64(len(body)) > f.p.MaxBytes {
		return nil, &Error{Code: 436, Reason: "x5u certificate larger than " + strconv.FormatInt(f.p.MaxBytes, 10) + " bytes"}
	}
	return &fetchResult{body: body, ttl: cacheTTL(resp.Header.Get("Cache-Control"))}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// cacheTTL reads max-age from a Cache-Control value; no-store and
// no-cache give -1 (keep only for the minimum time); 0 = not said.
func cacheTTL(cc string) time.Duration {
	if cc == "" {
		return 0
	}
	ttl := time.Duration(0)
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return -1
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(strings.Trim(d[len("max-age="):], `"`), 10, 64)
			if err == nil && n >= 0 {
				if n == 0 {
					return -1
				}
				if n > 1<<31 {
					n = 1 << 31
				}
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	return ttl
}
