package cli

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/decisionlog/seglog"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// recordsDir is where an embedded node's decision and call-event log
// lives, beside tollgate.db.
func recordsDir(dataDir string) string { return filepath.Join(dataDir, "records") }

// openEmbedded opens an embedded node's store: SQLite for blocks, kill
// switches, alerts, the audit log and tokens; the decision and call-event
// log in segment files (decisionlog/seglog), pruned by r. readOnly opens
// the log for queries beside a serving process (CLI commands).
func openEmbedded(ctx context.Context, dataDir string, r config.Retention, readOnly bool, log *slog.Logger) (store.Store, error) {
	db, err := sqlite.Open(filepath.Join(dataDir, "tollgate.db"))
	if err != nil {
		return nil, err
	}
	l, err := seglog.Open(recordsDir(dataDir), seglog.Options{ReadOnly: readOnly, DeferSync: !readOnly, Logger: log}) // decisionlog.Writer syncs
	if err != nil {
		db.Close()
		return nil, err
	}
	day := 24 * time.Hour
	st, err := seglog.Wrap(ctx, db, l, seglog.Policy{Decisions: time.Duration(r.DecisionsDays) * day,
		Events: time.Duration(r.CallEventsDays) * day, Alerts: time.Duration(r.AlertsDays) * day}, log)
	if err != nil {
		return nil, errors.Join(err, l.Close(), db.Close())
	}
	return st, nil
}
