package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/store"
)

// token manages API tokens kept in the store: the data directory's, or
// the cluster's PostgreSQL with -config in cluster mode. A running server
// picks up changes within a second (a revocation through the API is
// refused at once on every node of a cluster).
//
//	tollgate token add NAME -role R [-expires 720h]
//	tollgate token revoke NAME
//	tollgate token list
func (e *env) token(args []string) error {
	const want = "token: want 'add NAME -role admin|operator|screen|read [-expires DURATION]', 'revoke NAME' or 'list' (each with -data DIR, or -config POLICY in cluster mode)"
	if len(args) == 0 {
		return usagef(want)
	}
	sub := args[0]
	switch sub {
	case "add", "revoke", "list":
	default:
		return usagef(want)
	}
	fs := newFlags("token "+sub, e)
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "policy file (env TOLLGATE_CONFIG); in cluster mode tokens live in the cluster's PostgreSQL")
	dataDir := fs.String("data", "", "data directory (default: server.data_dir, else ./tollgate-data)")
	role := fs.String("role", "screen", "add: admin, operator, screen or read")
	expires := fs.Duration("expires", 0, "add: the token stops working this long from now, e.g. 720h (default: never)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if sub != "list" && len(pos) != 1 {
		return usagef("token %s: want exactly one NAME", sub)
	}
	if *expires < 0 {
		return usagef("-expires: want a positive duration, e.g. 720h")
	}
	cfg, err := loadConfigData(*cfgPath, dataDir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	state, st, err := openState(ctx, cfg, *dataDir, false, (*node.State).Records)
	if err != nil {
		return err
	}
	defer state.Close()
	now := time.Now().UTC()
	switch sub {
	case "list":
		ts, err := st.ListTokens(ctx)
		if err != nil {
			return err
		}
		stamp := func(t time.Time, none string) string {
			if t.IsZero() {
				return none
			}
			return t.Format(time.RFC3339)
		}
		fmt.Fprintf(e.stdout, "%-20s %-8s %-8s %-20s %-20s %-20s\n", "NAME", "ROLE", "STATE", "CREATED", "EXPIRES", "LAST USED")
		for _, t := range ts {
			state := "active"
			switch {
			case !t.Revoked.IsZero():
				state = "revoked"
			case !t.Expires.IsZero() && !now.Before(t.Expires):
				state = "expired"
			}
			fmt.Fprintf(e.stdout, "%-20s %-8s %-8s %-20s %-20s %-20s\n", t.Name, t.Role, state, stamp(t.Created, "-"), stamp(t.Expires, "never"), stamp(t.LastUsed, "never"))
		}
		return nil
	case "revoke":
		if err := st.RevokeToken(ctx, pos[0], now); err != nil {
			return err
		}
		if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: now, Actor: "cli", Action: "token.revoke", Object: "token/" + pos[0], Details: []byte(`{}`)}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %q revoked; servers refuse it within a second\n", pos[0])
		return nil
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
	t := store.Token{Name: pos[0], Role: *role, Hash: api.HashToken(secret), Created: now}
	if *expires > 0 {
		t.Expires = now.Add(*expires)
	}
	if err := st.PutToken(ctx, t); err != nil {
		return err
	}
	details := fmt.Sprintf(`{"role":%q}`, *role)
	if !t.Expires.IsZero() {
		details = fmt.Sprintf(`{"role":%q,"expires":%q}`, *role, t.Expires.Format(time.RFC3339))
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: now, Actor: "cli", Action: "token.create", Object: "token/" + pos[0], Details: []byte(details)}); err != nil {
		return err
	}
	until := ""
	if !t.Expires.IsZero() {
		until = ", expires " + t.Expires.Format(time.RFC3339)
	}
	fmt.Fprintf(e.stdout, "token %q (role %s%s) created; it is shown only now:\n%s\n", pos[0], *role, until, secret)
	return nil
}
