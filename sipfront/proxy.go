package sipfront

import (
	"context"
	"errors"
	"net/netip"
)

type proxy struct{}

func newProxy(*Server) (*proxy, error) {
	return nil, errors.New("sipfront: proxy mode is not built yet")
}

func (p *proxy) start(context.Context) error                  { return nil }
func (p *proxy) close()                                       {}
func (p *proxy) feed(b []byte, src netip.AddrPort, tr string) {}
