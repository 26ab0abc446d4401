package cli

import (
	"crypto/tls"
	"errors"
	"os"
	"strings"

	"github.com/tollgate-voip/tollgate/check/dnc"
	"github.com/tollgate-voip/tollgate/compliance"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/geoip"
	"github.com/tollgate-voip/tollgate/number"
)

// preflight loads what serve loads from the files and environment
// variables a parsed policy names — the number data (risk files, rate
// deck), the STIR/SHAKEN trust anchors and signing key, the GeoIP
// database, every tenant's DNC lists, the API's and the SIP front end's
// TLS certificates, the voice
// key and the cluster's connection secrets — without opening a store or
// a port. 'config check' runs it, so a file it passes is one serve does
// not refuse for those reasons; every problem is reported, not only the
// first.
func preflight(cfg *config.Config) error {
	var errs []error
	bad := func(field string, err error) {
		var ce *config.Error
		if errors.As(err, &ce) {
			errs = append(errs, ce)
			return
		}
		errs = append(errs, &config.Error{File: cfg.File, Field: field, Msg: err.Error()})
	}
	if _, err := number.New(number.Options{RiskFiles: cfg.Numbers.RiskFiles, RateFile: cfg.Numbers.RateDeck}); err != nil {
		bad("numbers", err)
	}
	if _, err := newVerifier(&cfg.STIR); err != nil {
		bad("stir", err)
	}
	if cfg.Attack.GeoIPDB != "" {
		if db, err := geoip.Open(cfg.Attack.GeoIPDB); err != nil {
			bad("attack.geoip_db", err)
		} else {
			db.Close()
		}
	}
	live := compliance.NewLive()
	for _, t := range append([]*config.Tenant{cfg.Defaults}, tenantsOf(cfg)...) {
		if _, err := dnc.New(t, live, nil); err != nil {
			bad(tenantPath(t)+".compliance.dnc", err)
		}
	}
	if cfg.Server.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey); err != nil {
			bad("server.tls_cert", err)
		}
	}
	for _, l := range cfg.SIP.Listen {
		if strings.HasPrefix(l, "tls:") {
			if _, err := tls.LoadX509KeyPair(cfg.SIP.TLSCert, cfg.SIP.TLSKey); err != nil {
				bad("sip.tls_cert", err)
			}
			break
		}
	}
	if cfg.Voice.Enabled {
		if _, err := voiceKeys(cfg); err != nil {
			bad("voice.key_env", err)
		}
		if cfg.Voice.Model != "" {
			if _, err := os.Stat(cfg.Voice.Model); err != nil {
				bad("voice.model", err)
			}
		}
	}
	if cfg.Cluster.Enabled {
		if err := clusterSecrets(cfg); err != nil {
			bad("cluster", err)
		}
	}
	return errors.Join(errs...)
}

func tenantPath(t *config.Tenant) string {
	if t.Name == "defaults" {
		return "defaults"
	}
	return "tenants." + t.Name
}
