package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/console"
	"github.com/tollgate-voip/tollgate/console/auth"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/metrics"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/store"
)

// authPolicy turns the console section into login rules.
func authPolicy(c config.Console) auth.Policy {
	p := auth.DefaultPolicy()
	p.RequireMFA = c.RequireMFA
	if c.LockoutFailures > 0 {
		p.MaxFailures = c.LockoutFailures
	}
	if c.LockoutS > 0 {
		p.LockFor = c.LockoutS.Duration()
	}
	if c.LockoutMaxS > 0 {
		p.MaxLock = c.LockoutMaxS.Duration()
	}
	if c.SourceFailures > 0 {
		p.SourceMaxFailures = c.SourceFailures
	}
	if c.SourceWindowS > 0 {
		p.SourceWindow = c.SourceWindowS.Duration()
	}
	if c.SessionIdleS > 0 {
		p.IdleTimeout = c.SessionIdleS.Duration()
	}
	if c.SessionMaxS > 0 {
		p.MaxAge = c.SessionMaxS.Duration()
	}
	return p
}

// uiParts is the operator console as serve wires it; nil when the console
// is off, and every method is then a no-op.
type uiParts struct {
	cfg   config.Console
	live  *console.Live
	users auth.Store
	auth  *auth.Service
	con   *console.Console
	log   *slog.Logger
	// addFirst is the command that makes the first admin (cluster mode
	// names the policy file instead of the data directory).
	addFirst string
}

// setupConsole builds the console on the users and sessions of the
// node's state (which owns and closes the store).
func setupConsole(ctx context.Context, cfg *config.Config, dataDir string, state *node.State, st store.Store, log *slog.Logger) (*uiParts, error) {
	if !cfg.Console.Enabled {
		return nil, nil
	}
	users, err := state.Users(ctx)
	if err != nil {
		return nil, err
	}
	addFirst := "tollgate user add admin -role admin -data " + dataDir
	if state.Cluster() {
		f := cfg.File
		if f == "" {
			f = "POLICY.yaml"
		}
		addFirst = "tollgate user add admin -role admin -config " + f
	}
	return &uiParts{cfg: cfg.Console, users: users, auth: auth.NewService(users, st, authPolicy(cfg.Console)), log: log, addFirst: addFirst}, nil
}

// recorder puts the live view's counter in front of next.
func (u *uiParts) recorder(next engine.Recorder) engine.Recorder {
	if u == nil {
		return next
	}
	u.live = console.NewLive(next)
	return u.live
}

// mount serves the console at / and /ui/ beside the API.
func (u *uiParts) mount(a *api.Server, eng *engine.Engine, st store.Store) http.Handler {
	if u == nil {
		return a
	}
	u.con = console.New(console.Options{API: a, Engine: eng, Store: st, Auth: u.auth, Live: u.live, Config: u.cfg, Logger: u.log})
	return console.Mount(a, u.con)
}

// stop ends the event streams so that http.Server.Shutdown can finish.
func (u *uiParts) stop() {
	if u != nil && u.con != nil {
		u.con.Close()
	}
}

// metrics returns the console's metrics, read at each scrape: the
// console is mounted after the API is made.
func (u *uiParts) metrics() prometheus.Collector {
	return metrics.Later(func() prometheus.Collector {
		if u != nil && u.con != nil {
			return u.con.Metrics()
		}
		return nil
	})
}

// announce prints where the console is and, with no users yet, how to
// make the first one.
func (u *uiParts) announce(scheme string, addr net.Addr, out io.Writer) {
	if u == nil {
		return
	}
	url := scheme + "://" + addr.String() + "/ui/"
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		url = fmt.Sprintf("%s://127.0.0.1:%d/ui/", scheme, tcp.Port)
	}
	u.log.Info("operator console", "url", url)
	if out == nil {
		return
	}
	fmt.Fprintf(out, "Operator console: %s\n", url)
	if us, err := u.users.Users(context.Background()); err == nil && len(us) == 0 {
		fmt.Fprintf(out, "No console users yet. Create the first admin (prints a QR code for your authenticator app):\n\n    %s\n\n", u.addFirst)
	}
}

// prune drops expired sessions.
func (u *uiParts) prune(now time.Time) {
	if u == nil {
		return
	}
	p := u.auth.Policy
	if err := u.users.PruneSessions(context.Background(), now.Add(-p.IdleTimeout), now.Add(-p.MaxAge)); err != nil {
		u.log.Error("console: pruning sessions", "err", err)
	}
}

func (u *uiParts) close() {
	if u == nil {
		return
	}
	if u.live != nil {
		u.live.Close()
	}
}
