package cli

import (
	"errors"
	"fmt"

	"github.com/tollgate-voip/tollgate/config"
)

func isConfigError(err error) bool {
	var es config.Errors
	var ce *config.Error
	return errors.As(err, &es) || errors.As(err, &ce)
}

// loadConfigData loads the policy at path (loadConfig) and settles the
// data directory *dataDir names (dataDirOf), for the subcommands that
// open the node's state.
func loadConfigData(path string, dataDir *string) (*config.Config, error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, err
	}
	*dataDir = dataDirOf(cfg, *dataDir)
	return cfg, nil
}

// dataDirOf is the data directory: dir when given (-data), else the
// policy's server.data_dir, else ./tollgate-data.
func dataDirOf(cfg *config.Config, dir string) string {
	switch {
	case dir != "":
		return dir
	case cfg.Server.DataDir != "":
		return cfg.Server.DataDir
	}
	return "tollgate-data"
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func (e *env) config(args []string) error {
	if len(args) == 0 {
		return usagef("config: want 'check FILE' or 'default'")
	}
	switch args[0] {
	case "check":
		if len(args) != 2 {
			return usagef("config check: want exactly one FILE")
		}
		c, err := config.Load(args[1])
		if err != nil {
			if !isConfigError(err) {
				return usagef("%v", err)
			}
			return err
		}
		// The files and secrets the policy names, loaded as serve loads
		// them (cli/preflight.go).
		if err := preflight(c); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: ok (%d tenants", args[1], len(c.Tenants))
		if c.AllowUnknownTenants {
			fmt.Fprint(e.stdout, "; unknown tenants use the defaults")
		}
		fmt.Fprintln(e.stdout, ")")
		return nil
	case "default":
		fs := newFlags("config default", e)
		full := fs.Bool("full", false, "print every key with its effective value (the built-in policy, or -config's)")
		file := fs.String("config", "", "with -full: the policy file whose effective values to print")
		pos, err := parseFlags(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 0 {
			return usagef("config default: unexpected %q", pos[0])
		}
		if !*full {
			if *file != "" {
				return usagef("config default: -config needs -full")
			}
			e.stdout.Write(config.DefaultYAML())
			return nil
		}
		c, err := loadConfig(*file)
		if err != nil {
			if !isConfigError(err) {
				return usagef("%v", err)
			}
			return err
		}
		b, err := config.FullYAML(c)
		if err != nil {
			return err
		}
		src := "the built-in policy"
		if *file != "" {
			src = *file
		}
		fmt.Fprintf(e.stdout, "# Every key of %s with its effective value (docs/config.md describes each).\n# Keys left at 0 or \"\" take the built-in default their description names.\n", src)
		e.stdout.Write(b)
		return nil
	}
	return usagef("config: unknown subcommand %q", args[0])
}
