package config

import (
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Asterisk configures the FastAGI server that Asterisk dialplans call to
// screen outbound calls (package agi; deploy/asterisk has the dialplan).
// Off unless agi_listen is set.
type Asterisk struct {
	// AGIListen is where tollgate serve answers FastAGI, host:port (e.g.
	// 127.0.0.1:4573); empty = off.
	AGIListen string `yaml:"agi_listen"`
	// AGIAllow lists the addresses or networks of PBXs allowed to connect
	// (FastAGI has no authentication); empty = loopback only.
	AGIAllow []string `yaml:"agi_allow"`
	// Tenant is used when neither the dialplan nor the channel's
	// accountcode names one (empty = the default policy).
	Tenant string `yaml:"tenant"`
	// PINs maps an extension, or tenant/extension, to its PIN hash as
	// 'tollgate asterisk pin-hash' prints it; the PIN a challenged call
	// must enter.
	PINs map[string]string `yaml:"pins"`
	// PINMaxFailures wrong PINs within PINLockS lock the extension's PIN
	// (defaults 3 and 900).
	PINMaxFailures int     `yaml:"pin_max_failures"`
	PINLockS       Seconds `yaml:"pin_lock_s"`

	// Allow is AGIAllow parsed.
	Allow []netip.Prefix `yaml:"-"`
}

// validPINHash checks the form of a PIN hash (pbkdf2-sha256$iter$salt$key).
func validPINHash(h string) bool {
	p := strings.Split(h, "$")
	return len(p) == 4 && p[0] == "pbkdf2-sha256" && p[1] != "" && p[2] != "" && p[3] != ""
}

func (p *parser) asterisk(a *Asterisk, n *yaml.Node) {
	a.PINMaxFailures, a.PINLockS = 3, 900
	if n.Kind == 0 {
		return
	}
	var raw Asterisk
	p.decodeStrict(n, "asterisk", &raw)
	ln := map[string]int{}
	lines(n, "asterisk", ln)
	at := func(f string) int {
		if l, ok := ln[f]; ok {
			return l
		}
		return n.Line
	}
	a.AGIListen, a.AGIAllow, a.Tenant, a.PINs = raw.AGIListen, raw.AGIAllow, raw.Tenant, raw.PINs
	if raw.PINMaxFailures != 0 {
		a.PINMaxFailures = raw.PINMaxFailures
	}
	if raw.PINLockS != 0 {
		a.PINLockS = raw.PINLockS
	}
	if a.AGIListen != "" {
		p.hostPort(at("asterisk.agi_listen"), "asterisk.agi_listen", a.AGIListen)
	}
	for _, s := range a.AGIAllow {
		pf, err := parsePrefix(s)
		if err != nil {
			p.errorf(at("asterisk.agi_allow"), "asterisk.agi_allow", "want an address or network, got %q", s)
			continue
		}
		a.Allow = append(a.Allow, pf)
	}
	for k, h := range a.PINs {
		if k == "" || !validPINHash(h) {
			p.errorf(at("asterisk.pins"), "asterisk.pins."+k, "want a hash as 'tollgate asterisk pin-hash' prints it (pbkdf2-sha256$…), never the PIN itself")
		}
	}
	if a.PINMaxFailures < 1 || a.PINMaxFailures > 100 {
		p.errorf(at("asterisk.pin_max_failures"), "asterisk.pin_max_failures", "want 1 to 100")
	}
	if a.PINLockS < 1 {
		p.errorf(at("asterisk.pin_lock_s"), "asterisk.pin_lock_s", "want seconds > 0")
	}
}
