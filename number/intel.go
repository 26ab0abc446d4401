// Package number normalizes dialed strings to E.164 and answers country, line type, carrier, risk and rate for them.
package number

import (
	"fmt"
	"time"

	"github.com/tollgate-voip/tollgate/internal/errkind"
)

// ErrInvalid is returned (wrapped) for dialed strings that cannot be a
// phone number: empty, with characters other than digits and visual
// separators, or longer than MaxDigits digits.
var ErrInvalid = errkind.New(errkind.Invalid, "number: invalid dialed string")

// MaxDigits is the longest dialed string, in digits, Lookup accepts.
const MaxDigits = 20

// Options configures New.
type Options struct {
	// RiskFiles are CSV files of risk ranges applied over the embedded
	// defaults in order; a later file wins for the same prefix.
	RiskFiles []string
	// NoDefaultRisk drops the embedded default risk ranges.
	NoDefaultRisk bool
	// RateFile is a CSV rate deck replacing the embedded coarse deck.
	RateFile string
	// NoCarrier skips building the carrier table.
	NoCarrier bool
}

// Intel answers number intelligence questions. It is immutable after New
// and safe for concurrent use.
type Intel struct {
	cls     *classifier
	short   *shortTable
	intl    map[string]*prefixMatcher // default international prefix per region
	risk    *riskTable
	rates   *rateDeck
	carrier *carrierTable

	// BuildTime is how long New took to compile the metadata.
	BuildTime time.Duration
}

// New compiles libphonenumber's metadata and loads the risk and rate tables.
func New(opts Options) (*Intel, error) {
	t0 := time.Now()
	cls, err := buildClassifier()
	if err != nil {
		return nil, err
	}
	x := &Intel{cls: cls, intl: map[string]*prefixMatcher{}}
	for region, ref := range cls.byRegion {
		ip := ref.meta.GetInternationalPrefix()
		if ip == "" {
			continue
		}
		p, err := compileDigits(ip)
		if err != nil {
			return nil, fmt.Errorf("number: %s international prefix: %w", region, err)
		}
		x.intl[region] = &prefixMatcher{p: p}
	}
	if x.short, err = loadShort(); err != nil {
		return nil, err
	}
	if x.risk, err = loadRisk(!opts.NoDefaultRisk, opts.RiskFiles); err != nil {
		return nil, err
	}
	if x.rates, err = loadRates(opts.RateFile); err != nil {
		return nil, err
	}
	if !opts.NoCarrier {
		if x.carrier, err = loadCarriers(); err != nil {
			return nil, err
		}
	}
	x.BuildTime = time.Since(t0)
	return x, nil
}
