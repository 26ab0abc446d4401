package number

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

const exampleNumbers = "testdata/libphonenumber/example_numbers.csv"

var (
	testIntelOnce sync.Once
	testIntel     *Intel
	testIntelErr  error
)

func newTestIntel(t testing.TB) *Intel {
	t.Helper()
	testIntelOnce.Do(func() { testIntel, testIntelErr = New(Options{}) })
	if testIntelErr != nil {
		t.Fatal(testIntelErr)
	}
	return testIntel
}

var libTypes = map[phonenumbers.PhoneNumberType]Type{
	phonenumbers.FIXED_LINE:           FixedLine,
	phonenumbers.MOBILE:               Mobile,
	phonenumbers.FIXED_LINE_OR_MOBILE: FixedLineOrMobile,
	phonenumbers.TOLL_FREE:            TollFree,
	phonenumbers.PREMIUM_RATE:         PremiumRate,
	phonenumbers.SHARED_COST:          SharedCost,
	phonenumbers.VOIP:                 VoIP,
	phonenumbers.PERSONAL_NUMBER:      PersonalNumber,
	phonenumbers.PAGER:                Pager,
	phonenumbers.UAN:                  UAN,
	phonenumbers.VOICEMAIL:            Voicemail,
	phonenumbers.UNKNOWN:              Unknown,
}

// classification is one answer, from the library or from Classify.
type classification struct {
	Region string
	CC     int
	Type   Type
	Valid  bool
}

func (c classification) String() string {
	return fmt.Sprintf("%q +%d %v valid=%v", c.Region, c.CC, c.Type, c.Valid)
}

// libClassify is the reference: the library's parser and classifiers.
func libClassify(digits string) (c classification, panicked any) {
	defer func() { panicked = recover() }()
	num, err := phonenumbers.Parse("+"+digits, "")
	if err != nil {
		return classification{}, nil
	}
	return classification{
		Region: phonenumbers.GetRegionCodeForNumber(num),
		CC:     int(num.GetCountryCode()),
		Type:   libTypes[phonenumbers.GetNumberType(num)],
		Valid:  phonenumbers.IsValidNumber(num),
	}, nil
}

func classifyOf(x *Intel, digits string) classification {
	r, cc, t, v := x.Classify(digits)
	return classification{r, cc, t, v}
}

func readExamples(t testing.TB) [][]string {
	t.Helper()
	f, err := os.Open(exampleNumbers)
	if err != nil {
		t.Fatalf("example numbers (testdata/libphonenumber, see its PROVENANCE.md): %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows[1:]
}

func TestClassifyExamples(t *testing.T) {
	x := newTestIntel(t)
	rows := readExamples(t)
	for _, row := range rows {
		digits := strings.TrimPrefix(row[5], "+")
		want, p := libClassify(digits)
		if p != nil {
			t.Fatalf("library panicked on %s: %v", digits, p)
		}
		if got := classifyOf(x, digits); got != want {
			t.Errorf("Classify(%s) = %v; library says %v", digits, got, want)
		}
		if !want.Valid {
			t.Logf("library: example %s (%s %s) not valid", row[5], row[0], row[3])
		}
	}
	t.Logf("%d example numbers agree", len(rows))
}

// randomDigits draws digit strings that stress the classifier: uniform
// noise, real calling codes with random national numbers, and mutations
// of example numbers (random tails, truncations, inserted national prefixes).
type randomDigits struct {
	r        *rand.Rand
	ccs      []string
	examples []string
	buf      []byte
}

func newRandomDigits(seed uint64, examples []string) *randomDigits {
	g := &randomDigits{r: rand.New(rand.NewPCG(seed, 0x70117a7e)), examples: examples}
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		g.ccs = append(g.ccs, strconv.Itoa(cc))
	}
	// Map iteration order is random; keep the draw deterministic.
	sortStrings(g.ccs)
	return g
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (g *randomDigits) digits(n int) {
	for range n {
		g.buf = append(g.buf, byte('0'+g.r.IntN(10)))
	}
}

func (g *randomDigits) next() string {
	g.buf = g.buf[:0]
	switch g.r.IntN(4) {
	case 0:
		g.digits(1 + g.r.IntN(22))
	case 1:
		g.buf = append(g.buf, g.ccs[g.r.IntN(len(g.ccs))]...)
		if g.r.IntN(4) == 0 {
			g.buf = append(g.buf, "0180"[g.r.IntN(4)])
		}
		g.digits(g.r.IntN(16))
	default:
		if len(g.examples) == 0 {
			g.digits(1 + g.r.IntN(22))
			break
		}
		ex := g.examples[g.r.IntN(len(g.examples))]
		keep := g.r.IntN(len(ex) + 1)
		g.buf = append(g.buf, ex[:keep]...)
		if g.r.IntN(3) == 0 {
			g.buf = append(g.buf, ex[keep:]...)
			g.buf = g.buf[:max(1, len(g.buf)-g.r.IntN(3))]
			g.digits(g.r.IntN(3))
		} else {
			g.digits(len(ex) - keep + g.r.IntN(3) - 1)
		}
	}
	return string(g.buf)
}

func TestClassifyRandom(t *testing.T) {
	x := newTestIntel(t)
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	if raceEnabled {
		n = 200_000
	}
	var examples []string
	for _, row := range readExamples(t) {
		examples = append(examples, strings.TrimPrefix(row[5], "+"))
	}
	g := newRandomDigits(1, examples)
	valid, fails := 0, 0
	for range n {
		d := g.next()
		want, p := libClassify(d)
		if p != nil {
			continue // the library's own bug; Classify must simply not panic
		}
		got := classifyOf(x, d)
		if got != want {
			fails++
			if fails <= 20 {
				t.Errorf("Classify(%s) = %v; library says %v", d, got, want)
			}
		}
		if want.Valid {
			valid++
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d random numbers disagree", fails, n)
	}
	t.Logf("%d random numbers agree (%d valid)", n, valid)
}

func TestBuildCost(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("New: %v; %d automaton states; live heap +%.1f MiB", x.BuildTime, len(x.cls.typ), float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	runtime.KeepAlive(x)
}
