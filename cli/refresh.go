package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/internal/refresh"
)

// refreshLoops are the server's loops that keep a list shared through the
// store current (internal/refresh), each in its own goroutine: blocks and
// kill switches, re-read every second, and API tokens, every tokenEvery
// (at least a second); in cluster mode a change notice from any node
// re-reads at once. The compliance lists (cli/compliance.go) and the
// reputation database (cli/honeypot.go) run the same loop.
func (s *Server) refreshLoops(live *blocks.Live) []refresh.Loop {
	return []refresh.Loop{{
		Name: "blocks", Every: time.Second, Notices: s.cl.changesC(), Logger: s.log,
		Run: func(ctx context.Context, now time.Time) error {
			if err := blocks.Refresh(ctx, s.Store, live, now); err != nil {
				return fmt.Errorf("%w (the list in use is %s old)", err, live.Age(now).Round(time.Second))
			}
			return nil
		},
	}, {
		// A token revoked on some node is refused here at its notice.
		Name: "tokens", Every: max(s.tokenEvery, time.Second), Notices: s.cl.noticesC("tokens"), Logger: s.log,
		Run: func(ctx context.Context, _ time.Time) error { return s.ReloadTokens(ctx) },
	}}
}
