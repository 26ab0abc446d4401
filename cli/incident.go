package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/incident"
	"github.com/tollgate-voip/tollgate/node"
)

func (e *env) incident(args []string) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "damage" && args[0] != "timeline") {
		return usagef("incident: want export, damage or timeline")
	}
	sub := args[0]
	fs := newFlags("incident "+sub, e)
	data := fs.String("data", "tollgate-data", "data directory of the server")
	cfgPath := fs.String("config", os.Getenv("TOLLGATE_CONFIG"), "the policy in force (copied into the bundle; in cluster mode the records are read from the cluster's PostgreSQL)")
	fromS := fs.String("from", "", "start, RFC 3339 (default 24 h ago)")
	toS := fs.String("to", "", "end, RFC 3339 (default now)")
	tenant := fs.String("tenant", "", "only this tenant")
	ext := fs.String("extension", "", "the extension (timeline)")
	out := fs.String("out", "", "bundle directory (export; default incident-FROM)")
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	to := time.Now().UTC()
	from := to.Add(-24 * time.Hour)
	var err error
	if *fromS != "" {
		if from, err = time.Parse(time.RFC3339, *fromS); err != nil {
			return usagef("incident: -from: want RFC 3339, e.g. 2026-11-23T00:00:00Z")
		}
	}
	if *toS != "" {
		if to, err = time.Parse(time.RFC3339, *toS); err != nil {
			return usagef("incident: -to: want RFC 3339")
		}
	}
	if to.Before(from) {
		return usagef("incident: -to is before -from")
	}
	// The records are read where the server keeps them: the data
	// directory's, or the cluster's PostgreSQL when -config says cluster.
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	state, st, err := openState(ctx, cfg, *data, false, (*node.State).Records)
	if err != nil {
		return err
	}
	defer state.Close()
	src := &incident.Source{Store: st, ArchiveDir: filepath.Join(*data, "cdrs")}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "damage":
		d, err := src.Assess(ctx, from, to, *tenant)
		if err != nil {
			return err
		}
		return enc.Encode(d)
	case "timeline":
		if *tenant == "" || *ext == "" {
			return usagef("incident timeline: -tenant and -extension are required")
		}
		ev, err := src.Timeline(ctx, *tenant, *ext, from, to)
		if err != nil {
			return err
		}
		for _, x := range ev {
			fmt.Fprintf(e.stdout, "%s  %-8s %s\n", x.Time.UTC().Format("2006-01-02 15:04:05"), x.Kind, x.Text)
		}
		return nil
	}
	pol := config.DefaultYAML()
	if *cfgPath != "" {
		if pol, err = os.ReadFile(*cfgPath); err != nil {
			return err
		}
	}
	if *out == "" {
		*out = "incident-" + from.UTC().Format("20060102T150405Z")
	}
	files, err := src.Export(ctx, *out, from, to, *tenant, pol)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %d files to %s (verify: cd %s && sha256sum -c MANIFEST.sha256)\n", len(files), *out, *out)
	return nil
}
