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
		fmt.Fprintf(e.stdout, "%s: ok (%d tenants", args[1], len(c.Tenants))
		if c.AllowUnknownTenants {
			fmt.Fprint(e.stdout, "; unknown tenants use the defaults")
		}
		fmt.Fprintln(e.stdout, ")")
		return nil
	case "default":
		e.stdout.Write(config.DefaultYAML())
		return nil
	}
	return usagef("config: unknown subcommand %q", args[0])
}
