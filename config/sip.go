package config

// SIP configures the SIP front end (package sipfront). It is validated by
// (*parser).sip; an empty section means no SIP listeners.
type SIP struct {
	// Mode is redirect (answer 302/403/503) or proxy (be the hop).
	Mode string `yaml:"mode"`
	// Listen lists listeners as transport:host:port, e.g. udp:127.0.0.1:5060.
	Listen []string `yaml:"listen"`
}

func (p *parser) sip(s *SIP, ln map[string]int) {
	switch s.Mode {
	case "", "redirect", "proxy":
	default:
		p.errorf(ln["sip.mode"], "sip.mode", "want redirect or proxy, got %q", s.Mode)
	}
}
