package all_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/action"
	"github.com/tollgate-voip/tollgate/blocks"
	"github.com/tollgate-voip/tollgate/check"
	"github.com/tollgate-voip/tollgate/check/all"
	"github.com/tollgate-voip/tollgate/check/ratelimit"
	"github.com/tollgate-voip/tollgate/config"
	"github.com/tollgate-voip/tollgate/screen"
	"github.com/tollgate-voip/tollgate/screen/screentest"
)

// env is a node's Env for the default policy, with the detectors' actions.
func env() *check.Env {
	cfg := config.Default()
	return &check.Env{Tenant: cfg.Defaults, System: &cfg.System, Blocks: blocks.NewLive(), Actions: action.NewLive()}
}

// Every step's name is its package's Name and the name its check reports;
// steps are unique.
func TestOrderNames(t *testing.T) {
	chain, err := check.Build(env(), all.Order)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all.Order {
		if slices.Contains(names, s.Name) {
			t.Errorf("step %q twice", s.Name)
		}
		names = append(names, s.Name)
	}
	built := chain.Checks()
	if len(built) < 8 {
		t.Fatalf("default policy built %d checks; want the policy-independent ones at least", len(built))
	}
	last := -1
	for _, c := range built {
		i := slices.Index(names, c.Name())
		if i <= last {
			t.Errorf("check %q (step %d) out of order or not in the table (after step %d)", c.Name(), i, last)
		}
		last = i
	}
}

// The recipe "add a check" of docs/architecture.md, followed once:
//  1. the check's package: Name, Setup from a check.Env, the check (here
//     the fortyTwo type below);
//  2. its line in check/all/order.go (here inserted into a copy of
//     all.Order, before ratelimit);
//  3. its policy: a field of config.Tenant with a doc comment (here the
//     prefix constant, since a test cannot add a config field).
//
// Tests go beside it, built with screen/screentest.
const fortyTwoName = "fortytwo"

type fortyTwo struct{ prefix, rule string }

func fortyTwoSetup(env *check.Env) (screen.Check, error) {
	return &fortyTwo{prefix: "4242", rule: env.Tenant.Rule("fortytwo")}, nil
}

func (*fortyTwo) Name() string { return fortyTwoName }

func (k *fortyTwo) Check(_ context.Context, c *screen.Call, v *screen.Verdict) screen.Flow {
	if c.Direction == screen.Outbound && strings.HasPrefix(c.Digits, k.prefix) {
		v.Add(screen.Reason{Check: fortyTwoName, Code: "answer_prefix", Text: "prefix +" + k.prefix + " is refused", Rule: k.rule, Action: screen.Reject, Risk: 50})
	}
	return screen.StopIfRejected
}

func TestRecipeAddACheck(t *testing.T) {
	i := slices.IndexFunc(all.Order, func(s check.Step) bool { return s.Name == ratelimit.Name })
	order := slices.Insert(slices.Clone(all.Order), i, check.Step{Name: fortyTwoName, Setup: fortyTwoSetup})
	e := env()
	// A policy that lets every destination through, so that only the new
	// check refuses (the callee's number intelligence is not looked up here).
	e.Tenant.Destinations.Default, e.Tenant.Destinations.Invalid = "allow", "allow"
	chain, err := check.Build(e, order)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 11, 0, 0, 0, time.UTC) // a Wednesday, business hours
	for _, c := range []struct {
		callee    string
		want      screen.Action
		code      string
		needsLeft bool
	}{
		// Refused by the new check: its checkpoint stops the chain before
		// the limit checks, which declare nothing.
		{"+424212345678", screen.Reject, "answer_prefix", false},
		// Any other international call passes it and reaches ratelimit.
		{"+447700900123", screen.Allow, "", true},
	} {
		call := screentest.Outbound(e.Tenant.Name, "1001", c.callee, at)
		call.International = true
		var v screen.Verdict
		chain.Run(context.Background(), call, &v)
		if v.Action != c.want || (c.code != "") != v.Has(c.code) {
			t.Errorf("%s: verdict %v %q; want %v with %q", c.callee, v.Action, screentest.Codes(&v), c.want, c.code)
		}
		if got := len(call.Needs()) > 0; got != c.needsLeft {
			t.Errorf("%s: limit checks declared needs = %v, want %v", c.callee, got, c.needsLeft)
		}
	}
}
