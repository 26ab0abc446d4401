package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/baseline"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/cdr"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/detect"
	"github.com/tollgate-voip/tollgate/detect/all"
	"github.com/tollgate-voip/tollgate/detect/pipeline"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/incident"
	"github.com/tollgate-voip/tollgate/node"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/sipfront"
	"github.com/tollgate-voip/tollgate/store"
)

// detection is the CDR → baseline → detectors → alerts → actions
// pipeline of a running server.
type detection struct {
	pipe   *pipeline.Pipeline
	act    *action.Manager
	acts   action.Store
	res    *lateResolver
	api    *api.Detection
	log    *slog.Logger
	stream *detectorStream // cluster mode (cli/cluster.go)
	// followers read detectors.follow; stopFollow ends them.
	stopFollow context.CancelFunc
	followers  sync.WaitGroup
}

// lateResolver lets the pipeline exist before the screening engine does
// (the engine needs the pipeline's recorder); it is bound before traffic.
type lateResolver struct{ eng *engine.Engine }

func (l *lateResolver) Tenant(name string) (*config.Tenant, error) { return l.eng.Tenant(name) }
func (l *lateResolver) Lookup(dialed, tenant string) (number.Info, error) {
	return l.eng.Lookup(dialed, tenant)
}

// startDetection builds the pipeline. Its action snapshot and learned
// limits reach the screening checks through the engine's check.Env
// (detection.actions, detection.limits). It returns nil when detectors:
// enabled is false.
func startDetection(ctx context.Context, cfg *config.Config, state *node.State, st store.Store, live *blocks.Live, am *alertSink, dataDir string, log *slog.Logger) (*detection, error) {
	if !cfg.Detect.Enabled {
		return nil, nil
	}
	acts, err := state.Actions(ctx) // the state owns and closes it
	if err != nil {
		return nil, err
	}
	actLive := action.NewLive()
	if err := action.Refresh(ctx, acts, actLive, time.Now()); startsWithout(err, log, "detector actions") {
		return nil, err
	}
	act := &action.Manager{Blocks: st, Audit: st, Actions: acts, BlockLive: live, ActionLive: actLive, Alerts: am.Manager, Log: log, Clock: live.Clock(),
		Remember: cfg.Detect.Wangiri.RememberS.Duration()}
	bfile := cfg.Detect.Baseline.File
	if bfile == "" {
		bfile = filepath.Join(dataDir, "baseline.json")
	}
	base, err := pipeline.LoadBaseline(bfile)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", bfile, err)
	}
	res := &lateResolver{}
	dets := all.Build(&cfg.Detect, base)
	eng := detect.NewEngine(&cfg.Detect, res, base, dets, pipeline.Sink(act, log))
	archive := filepath.Join(dataDir, "cdrs")
	stream, err := openDetectorStream(cfg, log)
	if err != nil {
		return nil, err
	}
	pipe := pipeline.New(pipeline.Options{Engine: eng, Actions: act, Logger: log, ArchiveDir: archive, BaselineFile: bfile, Feed: stream.feed()})
	ends := action.NewEndStream()
	act.AddEnder(ends)
	d := &detection{pipe: pipe, act: act, acts: acts, res: res, stream: stream, log: log}
	d.api = &api.Detection{Pipeline: pipe, Actions: act, Incident: &incident.Source{Store: st, ArchiveDir: archive}, Detectors: eng.Detectors(), Ends: ends,
		AlertStatus: am.alertStatus()}
	log.Info("detection pipeline ready", "detectors", len(dets), "followed_files", len(cfg.Detect.Follow))
	return d, nil
}

// follow starts one cdr.Follower per detectors.follow entry, feeding the
// pipeline (waiting for room in its queue rather than dropping: the file
// keeps what was not read yet). It runs from bind, once tenants resolve.
func (d *detection) follow(fs []config.Follow, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	d.stopFollow = cancel
	for _, f := range fs {
		format := cdr.Auto
		if f.Format != "" {
			format, _ = cdr.ParseFormat(f.Format) // validated with the config
		}
		loc := time.UTC
		if f.Timezone != "" {
			if l, err := time.LoadLocation(f.Timezone); err == nil { // validated with the config
				loc = l
			}
		}
		path := f.Path
		fl := &cdr.Follower{Path: path, Opts: cdr.Options{Format: format, Location: loc, Tenant: f.Tenant}, FromStart: f.FromStart,
			Poll: f.PollMS.Duration(),
			Malformed: func(e cdr.LineError) {
				log.Warn("detection: malformed CDR line skipped", "file", path, "line", e.Line, "field", e.Field, "err", e.Msg)
			}}
		d.followers.Add(1)
		go func() {
			defer d.followers.Done()
			batch := make([]cdr.Record, 1)
			err := fl.Run(ctx, func(r *cdr.Record) {
				batch[0] = *r
				_, _, _ = d.pipe.Enqueue(ctx, batch)
			})
			if err != nil {
				log.Error("detection: following a CDR file stopped", "file", path, "err", err)
			}
		}()
	}
}

// proxyEnder ends calls through the SIP proxy: BYE to both legs.
type proxyEnder struct{ s *sipfront.Server }

func (p proxyEnder) EndCall(_, callID, _ string, _ time.Time) { p.s.Disconnect(callID) }

// tee sends the engine's decisions and call events to the detectors too.
func (d *detection) tee(next engine.Recorder) engine.Recorder {
	if d == nil {
		return next
	}
	return d.pipe.Tee(next)
}

func (d *detection) bind(eng *engine.Engine) {
	if d != nil {
		d.res.eng = eng
		d.stream.start(d.pipe) // the detectors can resolve tenants from here on
		d.follow(d.res.eng.Config().Detect.Follow, d.log)
	}
}

// actions is the detectors' action snapshot, for the check "detected"
// (nil without detection).
func (d *detection) actions() *action.Live {
	if d == nil {
		return nil
	}
	return d.act.ActionLive
}

// limits are the rate limits learned from the baselines, for the check
// "ratelimit" (nil without detection).
func (d *detection) limits() *baseline.LiveLimits {
	if d == nil {
		return nil
	}
	return d.pipe.Limits()
}

func (d *detection) apiOptions() *api.Detection {
	if d == nil {
		return nil
	}
	return d.api
}

func (d *detection) close() {
	if d == nil {
		return
	}
	if d.stopFollow != nil {
		d.stopFollow()
		d.followers.Wait()
	}
	d.stream.stop()
	d.pipe.Close()
	d.stream.close()
}
