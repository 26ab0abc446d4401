//go:build !(linux && (amd64 || arm64))

package sipfront

import (
	"context"
	"net"
)

// readUDP serves one reader of uc until it is closed; batched system
// calls (udp_linux.go) are Linux-only.
func (s *Server) readUDP(ctx context.Context, uc *net.UDPConn, _ *udpReaders, _ bool) {
	s.readUDPEach(ctx, uc)
}
