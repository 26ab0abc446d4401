package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/tollgate-voip/tollgate/api"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/engine"
	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/screen"
)

func (e *env) check(args []string) error {
	fs := newFlags("check", e)
	cfgPath := fs.String("config", "", "policy file (default: the built-in policy)")
	tenant := fs.String("tenant", "", "tenant whose dial plan and policy apply")
	ext := fs.String("extension", "1000", "calling extension")
	at := fs.String("at", "", "time of the call, RFC 3339 or 'YYYY-MM-DD HH:MM' in the tenant's zone (default: now)")
	asJSON := fs.Bool("json", false, "print the /v1/screen response as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("check: want exactly one NUMBER")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	intel, err := number.New(number.Options{RiskFiles: cfg.Numbers.RiskFiles, RateFile: cfg.Numbers.RateDeck})
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Options{Config: cfg, Numbers: intel, Env: check.Env{Timezones: number.Timezones}})
	if err != nil {
		return err
	}
	ten, err := eng.Tenant(*tenant)
	if err != nil {
		return usagef("-tenant: %v", err)
	}
	c := screen.Call{ID: "check-" + time.Now().Format("150405.000000"), Tenant: *tenant, Extension: *ext, Caller: *ext, Callee: pos[0]}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			t, err = time.ParseInLocation("2006-01-02 15:04", *at, ten.Location)
		}
		if err != nil {
			return usagef("-at: want RFC 3339 or 'YYYY-MM-DD HH:MM', got %q", *at)
		}
		c.Time = t
	}
	var v screen.Verdict
	if err := eng.Screen(context.Background(), &c, &v); err != nil {
		return usagef("%s: %v", pos[0], err)
	}
	if *asJSON {
		out := api.AppendVerdict(nil, &c, &v)
		var pretty any
		if json.Unmarshal(out, &pretty) == nil {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(pretty)
		}
		_, err := e.stdout.Write(out)
		return err
	}
	e.printCheck(&c, &v, ten.Name)
	return nil
}

func countryName(iso string) string {
	if iso == "" || iso == "001" {
		return "international network"
	}
	r, err := language.ParseRegion(iso)
	if err != nil {
		return iso
	}
	if n := display.English.Regions().Name(r); n != "" {
		return n
	}
	return iso
}

func (e *env) printCheck(c *screen.Call, v *screen.Verdict, tenant string) {
	d := &c.Dest
	w := e.stdout
	fmt.Fprintf(w, "number      %s (dialed %q by tenant %s, extension %s)\n", d.E164, c.Callee, tenant, c.Extension)
	switch d.Kind {
	case number.Emergency:
		fmt.Fprintf(w, "kind        emergency number\n")
	case number.ShortCode:
		fmt.Fprintf(w, "kind        short code\n")
	}
	fmt.Fprintf(w, "country     %s (%s, +%d)\n", countryName(d.Country), d.Country, d.CallingCode)
	valid := "valid"
	if !d.Valid {
		valid = "NOT valid"
	}
	fmt.Fprintf(w, "type        %s, %s\n", strings.ReplaceAll(d.Type.String(), "_", " "), valid)
	if d.Carrier != "" {
		fmt.Fprintf(w, "carrier     %s\n", d.Carrier)
	}
	if d.RatePrefix != "" {
		fmt.Fprintf(w, "rate        %.4g/min (rate deck prefix +%s)\n", d.Rate, d.RatePrefix)
	}
	for _, r := range d.Risk {
		fmt.Fprintf(w, "risk range  +%s %s: %s\n", r.Prefix, r.Category, r.Reason)
	}
	fmt.Fprintf(w, "time        %s\n", c.Local.Format("Mon 2006-01-02 15:04 MST"))
	verdict := v.Enforced.String()
	if v.Shadow {
		verdict += " (shadow mode; policy says " + v.Action.String() + ")"
	}
	fmt.Fprintf(w, "verdict     %s — SIP %d, risk %d", verdict, engine.SIPCode(v), v.Risk)
	if v.MaxDuration > 0 {
		fmt.Fprintf(w, ", max duration %ds", v.MaxDuration)
	}
	fmt.Fprintln(w)
	if p, ok := v.Primary(); ok {
		fmt.Fprintf(w, "reason      %s (%s)\n", p.Text, strings.ReplaceAll(p.Code, "_", " "))
	}
	for _, r := range v.Reasons() {
		fmt.Fprintf(w, "  %-9s %-24s %s  [%s]\n", r.Action, r.Code, r.Text, r.Rule)
	}
}
