package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/store"
	"github.com/tollgate-voip/tollgate/store/sqlite"
)

// token manages API tokens kept in the data directory's store. A running
// server picks up changes within a second.
func (e *env) token(args []string) error {
	if len(args) == 0 || args[0] != "add" && args[0] != "list" {
		return usagef("token: want 'add NAME -role admin|operator|screen|read' or 'list'")
	}
	fs := newFlags("token "+args[0], e)
	dataDir := fs.String("data", "tollgate-data", "data directory")
	role := fs.String("role", "screen", "admin, operator, screen or read")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := sqlite.Open(filepath.Join(*dataDir, "tollgate.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if args[0] == "list" {
		ts, err := st.ListTokens(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			fmt.Fprintf(e.stdout, "%-20s %-7s created %s\n", t.Name, t.Role, t.Created.Format(time.RFC3339))
		}
		return nil
	}
	if len(pos) != 1 {
		return usagef("token add: want exactly one NAME")
	}
	switch *role {
	case "admin", "operator", "screen", "read":
	default:
		return usagef("-role: want admin, operator, screen or read, got %q", *role)
	}
	secret, err := NewSecret()
	if err != nil {
		return err
	}
	t := store.Token{Name: pos[0], Role: *role, Hash: api.HashToken(secret), Created: time.Now().UTC()}
	if err := st.PutToken(ctx, t); err != nil {
		return err
	}
	details := fmt.Sprintf(`{"role":%q}`, *role)
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: "cli", Action: "token.create", Object: "token/" + pos[0], Details: []byte(details)}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "token %q (role %s) created; it is shown only now:\n%s\n", pos[0], *role, secret)
	return nil
}
