package cli

import (
	"log/slog"

	"github.com/tollgate-voip/tollgate/internal/pgschema"
)

// startsWithout reports whether err stops the start. A cluster node that
// starts while PostgreSQL cannot be reached does not stop: what it failed
// to read (what) is logged, read again by the node's refresh loops once
// the database answers, and screening meanwhile answers per on_error
// (the block list was never confirmed fresh); the PostgreSQL stores bring
// their schemas up to date in the background (pgschema.WhenDown), and
// decisions and call events wait in the local spool.
func startsWithout(err error, log *slog.Logger, what string) (stop bool) {
	if err == nil {
		return false
	}
	if pgschema.Unreachable(err) {
		log.Warn("PostgreSQL unreachable at start: starting without "+what+"; read again once it answers", "err", err)
		return false
	}
	return true
}
