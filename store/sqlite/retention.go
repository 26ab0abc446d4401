package sqlite

import (
	"context"
	"fmt"
	"time"
)

// DeleteAlertsBefore deletes the alerts raised before before that are no
// longer open (an open alert is kept until someone acknowledges or
// resolves it) and reports how many went.
func (s *Store) DeleteAlertsBefore(ctx context.Context, before time.Time) (int64, error) {
	if err := checkTime("before", before); err != nil {
		return 0, err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM alerts WHERE time < ? AND status <> 'open'`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete alerts: %w", err)
	}
	return res.RowsAffected()
}

// DropDecisionLog deletes every stored decision and call event, once
// they have been moved to the decision log's own files
// (decisionlog/seglog), and gives the space back.
func (s *Store) DropDecisionLog(ctx context.Context) error {
	for _, table := range []string{"decisions", "call_events"} {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM `+table); err != nil {
			return fmt.Errorf("sqlite: drop decision log: %w", err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("sqlite: vacuum: %w", err)
	}
	return nil
}
