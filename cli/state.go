package cli

import (
	"context"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/node"
)

// openState opens the node's state for a sub-command (node.Open: the data
// directory's files, or the cluster's PostgreSQL when cfg says cluster)
// and, through get (a method such as (*node.State).Records), the domain
// store it works on. Closing the state closes the store.
func openState[T any](ctx context.Context, cfg *config.Config, dataDir string, mustExist bool, get func(*node.State, context.Context) (T, error)) (*node.State, T, error) {
	var zero T
	state, err := node.Open(ctx, cfg, dataDir, node.Options{Node: cfg.Server.Node, MustExist: mustExist})
	if err != nil {
		return nil, zero, err
	}
	v, err := get(state, ctx)
	if err != nil {
		state.Close()
		return nil, zero, err
	}
	return state, v, nil
}
