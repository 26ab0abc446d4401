package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/stir"
)

// newVerifier builds the STIR/SHAKEN verification service from the stir
// section; nil when no trust anchors are configured.
func newVerifier(s *config.STIR) (*stir.Verifier, error) {
	if s.TrustAnchors == "" {
		return nil, nil
	}
	trust, err := stir.LoadTrust(s.TrustAnchors, s.CRLs)
	if err != nil {
		return nil, err
	}
	return stir.NewVerifier(verifierOptions(s, trust))
}

func verifierOptions(s *config.STIR, trust *stir.Trust) stir.Options {
	o := stir.Options{
		Trust: trust,
		Fetch: stir.FetchPolicy{
			AllowHosts: s.X5UAllowHosts,
			Timeout:    s.FetchTimeoutMS.Duration(),
			MaxBytes:   int64(s.MaxCertBytes),
		},
		MaxAge:      s.IATMaxAgeS.Duration(),
		CacheTTL:    s.CacheTTLS.Duration(),
		NegativeTTL: s.NegativeTTLS.Duration(),
		MaxEntries:  s.CacheMaxEntries,
	}
	if s.FetchWaitMS != nil {
		o.Wait = (*s.FetchWaitMS).Duration()
	}
	if s.RequireTNAuthList != nil {
		o.RequireTNAuthList = *s.RequireTNAuthList
	}
	return o
}

func (e *env) stir(args []string) error {
	if len(args) == 0 {
		return usagef("stir: want sign or verify")
	}
	switch args[0] {
	case "sign":
		return e.stirSign(args[1:])
	case "verify":
		return e.stirVerify(args[1:])
	}
	return usagef("stir: unknown subcommand %q (want sign or verify)", args[0])
}

func parseAt(s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if u, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(u, 0), nil
	}
	return time.Time{}, usagef("-at: want RFC 3339 or Unix seconds, got %q", s)
}

func (e *env) stirSign(args []string) error {
	fs := newFlags("stir sign", e)
	cfgPath := fs.String("config", "", "policy file: stir.sign_key, stir.sign_x5u and the tenant's number ownership")
	tenant := fs.String("tenant", "", "tenant whose caller_id.own_numbers/customer_numbers give the attestation")
	keyPath := fs.String("key", "", "SPC private key, PEM P-256 (default: stir.sign_key)")
	x5u := fs.String("x5u", "", "https URL of the SPC certificate (default: stir.sign_x5u)")
	orig := fs.String("orig", "", "calling number, E.164 (required)")
	dest := fs.String("dest", "", "called number, E.164 (required)")
	attest := fs.String("attest", "", "A, B or C (default: from the tenant's number ownership, else C)")
	origID := fs.String("origid", "", "origination identifier (default: a random UUID)")
	at := fs.String("at", "", "iat: RFC 3339 or Unix seconds (default: now)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *orig == "" || *dest == "" {
		return usagef("stir sign: -orig and -dest are required")
	}
	var cfg *config.Config
	if *cfgPath != "" {
		c, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		cfg = c
		if *keyPath == "" {
			*keyPath = cfg.STIR.SignKey
		}
		if *x5u == "" {
			*x5u = cfg.STIR.SignX5U
		}
	}
	if *keyPath == "" || *x5u == "" {
		return usagef("stir sign: need -key and -x5u (or stir.sign_key and stir.sign_x5u in -config)")
	}
	kb, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	key, err := stir.ParsePrivateKey(kb)
	if err != nil {
		return err
	}
	signer, err := stir.NewSigner(key, *x5u)
	if err != nil {
		return usagef("%v", err)
	}
	iat, err := parseAt(*at)
	if err != nil {
		return err
	}
	if *attest == "" {
		*attest = "C"
		if cfg != nil {
			t := cfg.Defaults
			if *tenant != "" {
				if tt, ok := cfg.Tenants[*tenant]; ok {
					t = tt
				} else if !cfg.AllowUnknownTenants {
					return usagef("-tenant: unknown tenant %q", *tenant)
				}
			}
			*attest = t.CallerID.Attestation(*orig)
		}
	}
	h, err := signer.Sign(*orig, *dest, strings.ToUpper(*attest), *origID, iat)
	if err != nil {
		return usagef("%v", err)
	}
	fmt.Fprintln(e.stdout, h)
	return nil
}

func (e *env) stirVerify(args []string) error {
	fs := newFlags("stir verify", e)
	cfgPath := fs.String("config", "", "policy file: the stir section (trust anchors, CRLs, x5u rules)")
	anchors := fs.String("anchors", "", "STI-CA trust anchors: PEM file or directory (default: stir.trust_anchors)")
	crls := fs.String("crls", "", "CRL file or directory (default: stir.crls)")
	identity := fs.String("identity", "", "the Identity header value (default: read from standard input)")
	certPath := fs.String("cert", "", "use this certificate (PEM chain) for the token's x5u instead of fetching it")
	orig := fs.String("orig", "", "caller to compare with orig.tn (E.164; empty: not compared)")
	dest := fs.String("dest", "", "called number to compare with dest.tn (E.164; empty: not compared)")
	at := fs.String("at", "", "time of the call: RFC 3339 or Unix seconds (default: now)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	s := &config.STIR{}
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		s = &cfg.STIR
	} else {
		// The defaults a policy file would get.
		cfg, err := config.Parse("flags", []byte("defaults: {country: US, on_error: fail_open}\n"))
		if err != nil {
			return err
		}
		s = &cfg.STIR
	}
	if *anchors != "" {
		s.TrustAnchors = *anchors
	}
	if *crls != "" {
		s.CRLs = *crls
	}
	if s.TrustAnchors == "" {
		return usagef("stir verify: need -anchors (or stir.trust_anchors in -config)")
	}
	trust, err := stir.LoadTrust(s.TrustAnchors, s.CRLs)
	if err != nil {
		return err
	}
	o := verifierOptions(s, trust)
	o.Wait = s.FetchTimeoutMS.Duration() + time.Second // a command line waits for the fetch
	ver, err := stir.NewVerifier(o)
	if err != nil {
		return err
	}
	hdr := *identity
	if hdr == "" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, stir.MaxIdentity+1))
		if err != nil {
			return err
		}
		hdr = strings.TrimSpace(string(b))
		hdr = strings.TrimSpace(strings.TrimPrefix(hdr, "Identity:"))
	}
	if *certPath != "" {
		id, err := stir.ParseIdentity(hdr)
		if err != nil {
			return e.printVerify(stir.Result{Verstat: stir.Failed, Code: 438, Reason: err.(*stir.Error).Reason}, *asJSON)
		}
		b, err := os.ReadFile(*certPath)
		if err != nil {
			return err
		}
		cs, err := stir.ParseCertificates(b)
		if err != nil {
			return fmt.Errorf("-cert: %w", err)
		}
		ver.Pin(id.Header.X5U, cs)
	}
	t, err := parseAt(*at)
	if err != nil {
		return err
	}
	r := ver.Verify(context.Background(), &stir.Request{Identity: hdr, Orig: *orig, Dest: *dest, Time: t})
	return e.printVerify(r, *asJSON)
}

var errNotVerified = errors.New("caller identity not verified")

func (e *env) printVerify(r stir.Result, asJSON bool) error {
	if asJSON {
		b, _ := json.Marshal(struct {
			Verstat string `json:"verstat"`
			Attest  string `json:"attest,omitempty"`
			Code    int    `json:"code,omitempty"`
			Reason  string `json:"reason"`
			OrigTN  string `json:"orig_tn,omitempty"`
			X5U     string `json:"x5u,omitempty"`
			SPC     string `json:"spc,omitempty"`
		}{r.Verstat.String(), r.Attest, r.Code, r.Reason, r.OrigTN, r.X5U, r.SPC})
		fmt.Fprintln(e.stdout, string(b))
	} else {
		fmt.Fprintf(e.stdout, "verstat     %s\n", r.Verstat)
		if r.Attest != "" {
			fmt.Fprintf(e.stdout, "attest      %s\n", r.Attest)
		}
		if r.Code != 0 {
			fmt.Fprintf(e.stdout, "error       %d %s\n", r.Code, stir.Phrase(r.Code))
		}
		fmt.Fprintf(e.stdout, "reason      %s\n", r.Reason)
		if r.OrigTN != "" {
			fmt.Fprintf(e.stdout, "orig.tn     %s\n", r.OrigTN)
		}
		if r.X5U != "" {
			fmt.Fprintf(e.stdout, "x5u         %s\n", r.X5U)
		}
		if r.SPC != "" {
			fmt.Fprintf(e.stdout, "spc         %s\n", r.SPC)
		}
	}
	if r.Verstat != stir.Passed {
		return errNotVerified
	}
	return nil
}
