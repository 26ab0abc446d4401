package cli

import (
	"fmt"
	"reflect"

	"github.com/tollgate-voip/tollgate/config"
)

// Reload re-reads the policy file at path (SIGHUP) and, once it has
// passed the same checks as 'tollgate config check', hands its tenants,
// limits and system section to the engine. A file that fails them
// changes nothing: the error, with file and line, is returned and the
// running policy stays. Sections that are read only at start (listeners,
// stores, SIP, honeypot, cluster, console, voice, number data) are not
// applied; Reload names those that changed so the operator knows a
// restart is due.
func (s *Server) Reload(path string) (restartNeeded []string, err error) {
	if path == "" {
		return nil, fmt.Errorf("no policy file to reload (serve runs the built-in policy)")
	}
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	if err := preflight(cfg); err != nil {
		return nil, err
	}
	old := s.Engine.Config()
	if err := s.Engine.Reload(cfg); err != nil {
		return nil, err
	}
	return startOnlyChanges(old, cfg), nil
}

// startOnlyChanges lists the sections read only at start that differ
// between a and b.
func startOnlyChanges(a, b *config.Config) []string {
	var out []string
	for _, c := range []struct {
		name string
		a, b any
	}{
		{"server", a.Server, b.Server}, {"sip", a.SIP, b.SIP}, {"numbers", a.Numbers, b.Numbers},
		{"honeypot", a.Honeypot, b.Honeypot}, {"attack", a.Attack, b.Attack}, {"stir", a.STIR, b.STIR},
		{"detect", a.Detect, b.Detect}, {"alerts", a.Alerts, b.Alerts}, {"quality", a.Quality, b.Quality},
		{"console", a.Console, b.Console}, {"cluster", a.Cluster, b.Cluster}, {"voice", a.Voice, b.Voice},
	} {
		if !reflect.DeepEqual(c.a, c.b) {
			out = append(out, c.name)
		}
	}
	return out
}
