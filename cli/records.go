package cli

import (
	"context"
	"log/slog"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/store"
)

// openEmbedded opens an embedded node's records store (node.Embedded):
// SQLite for blocks, kill switches, alerts, the audit log and tokens; the
// decision and call-event log in segment files, pruned by r. readOnly
// opens the log for queries beside a serving process.
func openEmbedded(ctx context.Context, dataDir string, r config.Retention, readOnly bool, log *slog.Logger) (store.Store, error) {
	return node.Embedded{Dir: dataDir, Retention: r, Serving: !readOnly, Logger: log}.Records(ctx)
}
