package number

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

// Desc slots, in the order libphonenumber's getNumberTypeHelper tries them.
const (
	dGeneral = iota
	dPremium
	dTollFree
	dShared
	dVoIP
	dPersonal
	dPager
	dUAN
	dVoicemail
	dFixed
	dMobile
	nDesc
)

// slotType is the Type a desc slot yields (fixed and mobile are special).
var slotType = [nDesc]Type{Unknown, PremiumRate, TollFree, SharedCost, VoIP, PersonalNumber, Pager, UAN, Voicemail, FixedLine, Mobile}

func descs(m *phonenumbers.PhoneMetadata) [nDesc]*phonenumbers.PhoneNumberDesc {
	return [nDesc]*phonenumbers.PhoneNumberDesc{
		m.GetGeneralDesc(), m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(), m.GetFixedLine(), m.GetMobile(),
	}
}

// regionRules is one region's metadata reduced to automaton languages.
type regionRules struct {
	code       string
	lang       [nDesc]int     // language index per slot, -1 when absent
	lengths    [nDesc][]int32 // possible lengths per slot (empty: any)
	leading    int            // sticky bit of the leadingDigits language, -1 if none
	sameFixMob bool
}

// noRegion marks a state whose number maps to no region.
const noRegion = 0xff

// plan is what the classifier knows about one country calling code.
type plan struct {
	cc      int
	ccStr   string
	regions []string // region codes, main region first ("001" for non-geographic)
	start   int32
	main    national // the main region's parsing rules
}

// national holds one region's rules for stripping a national prefix the
// way libphonenumber's parser does.
type national struct {
	strip *stripper // nil when the region has no national prefix for parsing
	bit   uint32    // the region's bit in classifier.gen
	// general is the region's general pattern, for over-long input.
	general *regexp.Regexp
	// possible and localOnly are the region's general possible lengths.
	possible, localOnly []int32
}

// stripper removes a national prefix (and applies the transform rule).
type stripper struct {
	m       prefixMatcher
	re      *regexp.Regexp // fallback when the matcher's budget runs out
	rule    string         // national prefix transform rule
	tmpl    []tmplPart
	ngroups int
}

// tmplPart is a literal or a capture group reference of a transform rule.
type tmplPart struct {
	lit   string
	group int // -1 for a literal; group number otherwise (0 never occurs)
}

// parseTemplate splits a replacement template using regexp.Expand's rules:
// $name or ${name}; a name is a run of letters, digits and underscores;
// an all-digit name is a group number, any other name expands to nothing.
func parseTemplate(t string) []tmplPart {
	var parts []tmplPart
	lit := []byte{}
	for i := 0; i < len(t); i++ {
		if t[i] != '$' || i+1 >= len(t) {
			lit = append(lit, t[i])
			continue
		}
		if t[i+1] == '$' {
			lit = append(lit, '$')
			i++
			continue
		}
		j := i + 1
		brace := t[j] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(t) && (t[k] == '_' || t[k] >= '0' && t[k] <= '9' || t[k]|0x20 >= 'a' && t[k]|0x20 <= 'z') {
			k++
		}
		name := t[j:k]
		if name == "" || brace && (k >= len(t) || t[k] != '}') {
			lit = append(lit, t[i])
			continue
		}
		if brace {
			k++
		}
		if len(lit) > 0 {
			parts = append(parts, tmplPart{lit: string(lit), group: -1})
			lit = lit[:0]
		}
		if g, err := strconv.Atoi(name); err == nil && name[0] != '+' && name[0] != '-' {
			parts = append(parts, tmplPart{group: g})
		}
		i = k - 1
	}
	if len(lit) > 0 {
		parts = append(parts, tmplPart{lit: string(lit), group: -1})
	}
	return parts
}

// classifier is the compiled form of the library's metadata.
type classifier struct {
	trans  []int32  // 10 per state
	typ    []Type   // per state
	region []uint8  // per state: index into the plan's regions, or noRegion
	gen    []uint32 // per state: regions whose general pattern matches (ignoring length)
	plans  []plan
	// byRegion maps region codes (not "001") to their plan and rules.
	byRegion map[string]regionRef
	ccPlan   [1000]uint16 // first three digits → 1+index into plans, 0 if no calling code
	ccLen    [1000]uint8
}

func buildClassifier() (*classifier, error) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, fmt.Errorf("number: loading metadata: %w", err)
	}
	byRegion := map[string]*phonenumbers.PhoneMetadata{}
	nonGeo := map[int]*phonenumbers.PhoneMetadata{}
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "001" {
			nonGeo[int(m.GetCountryCode())] = m
		} else {
			byRegion[m.GetId()] = m
		}
	}
	c := &classifier{byRegion: map[string]regionRef{}}
	ccs := phonenumbers.GetSupportedCallingCodes()
	for cc := 1; cc < 1000; cc++ {
		if !ccs[cc] {
			continue
		}
		regions := phonenumbers.GetRegionCodesForCountryCode(cc)
		var metas []*phonenumbers.PhoneMetadata
		for _, r := range regions {
			m := byRegion[r]
			if r == "001" {
				m = nonGeo[cc]
			}
			if m == nil {
				return nil, fmt.Errorf("number: no metadata for region %s (+%d)", r, cc)
			}
			metas = append(metas, m)
		}
		if err := c.addPlan(cc, regions, metas); err != nil {
			return nil, err
		}
	}
	for p := range 1000 {
		s := fmt.Sprintf("%03d", p)
		if s[0] == '0' {
			continue
		}
		for l := 1; l <= 3; l++ {
			v, _ := strconv.Atoi(s[:l])
			if ccs[v] {
				c.ccLen[p] = uint8(l)
				for i := range c.plans {
					if c.plans[i].cc == v {
						c.ccPlan[p] = uint16(i + 1)
					}
				}
				break
			}
		}
	}
	return c, nil
}

func (c *classifier) addPlan(cc int, regions []string, metas []*phonenumbers.PhoneMetadata) error {
	if len(regions) > 32 {
		return fmt.Errorf("number: +%d has %d regions (max 32)", cc, len(regions))
	}
	var langs []lang
	full := map[string]int{}
	addLang := func(pattern string, sticky int) (int, error) {
		if sticky < 0 {
			if i, ok := full[pattern]; ok {
				return i, nil
			}
		}
		p, err := compileDigits(pattern)
		if err != nil {
			return 0, err
		}
		langs = append(langs, lang{p: p, sticky: sticky})
		if sticky < 0 {
			full[pattern] = len(langs) - 1
		}
		return len(langs) - 1, nil
	}
	rules := make([]regionRules, len(regions))
	for ri, m := range metas {
		r := &rules[ri]
		r.code = regions[ri]
		r.sameFixMob = m.GetSameMobileAndFixedLinePattern()
		r.leading = -1
		for k, d := range descs(m) {
			r.lang[k] = -1
			if d == nil {
				continue
			}
			li, err := addLang(d.GetNationalNumberPattern(), -1)
			if err != nil {
				return err
			}
			r.lang[k] = li
			r.lengths[k] = d.PossibleLength
		}
		if len(regions) > 1 && m.GetLeadingDigits() != "" {
			if _, err := addLang(m.GetLeadingDigits(), ri); err != nil {
				return err
			}
			r.leading = ri
		}
	}
	b, err := newDFABuilder(langs)
	if err != nil {
		return fmt.Errorf("number: +%d: %w", cc, err)
	}
	trans := b.build()
	off := int32(len(c.typ))
	for _, t := range trans {
		if t >= 0 {
			t += off
		}
		c.trans = append(c.trans, t)
	}
	for s := range b.states {
		acc, sticky := b.accepted(s)
		depth := b.states[s].depth
		reg, typ := decide(rules, acc, sticky, depth)
		var gen uint32
		for ri := range rules {
			if acc.has(rules[ri].lang[dGeneral]) {
				gen |= 1 << uint(ri)
			}
		}
		c.typ = append(c.typ, typ)
		c.region = append(c.region, reg)
		c.gen = append(c.gen, gen)
	}
	p := plan{cc: cc, ccStr: ccString(cc), regions: regions, start: off}
	for ri, m := range metas {
		n, err := newNational(m, uint32(1)<<uint(ri))
		if err != nil {
			return fmt.Errorf("number: +%d: %w", cc, err)
		}
		if ri == 0 {
			p.main = n
		}
		if regions[ri] == "001" {
			continue
		}
		c.byRegion[regions[ri]] = regionRef{plan: len(c.plans), nat: n, meta: m}
	}
	c.plans = append(c.plans, p)
	return nil
}

// regionRef ties a region code to its calling code plan.
type regionRef struct {
	plan int
	nat  national
	meta *phonenumbers.PhoneMetadata
}

func newNational(m *phonenumbers.PhoneMetadata, bit uint32) (national, error) {
	g := m.GetGeneralDesc()
	n := national{bit: bit, possible: g.PossibleLength, localOnly: g.PossibleLengthLocalOnly}
	var err error
	n.general, err = regexp.Compile("^(?:" + g.GetNationalNumberPattern() + ")$")
	if err != nil {
		return n, err
	}
	np := m.GetNationalPrefixForParsing()
	if np == "" {
		return n, nil
	}
	dp, err := compileDigits(np)
	if err != nil {
		return n, err
	}
	if dp.ncap >= maxCaps {
		return n, fmt.Errorf("national prefix pattern %q has %d groups", np, dp.ncap)
	}
	re, err := regexp.Compile("^(?:" + np + ")")
	if err != nil {
		return n, err
	}
	rule := m.GetNationalPrefixTransformRule()
	n.strip = &stripper{m: prefixMatcher{p: dp}, re: re, rule: rule, tmpl: parseTemplate(rule), ngroups: dp.ncap}
	return n, nil
}

// matches mirrors isNumberMatchingDesc: the length is one of the desc's
// possible lengths (when it lists any) and the pattern matches.
func (r *regionRules) matches(k int, acc langSet, depth int) bool {
	if !acc.has(r.lang[k]) {
		return false
	}
	if len(r.lengths[k]) == 0 {
		return true
	}
	for _, l := range r.lengths[k] {
		if int(l) == depth {
			return true
		}
	}
	return false
}

// typeOf mirrors getNumberTypeHelper.
func (r *regionRules) typeOf(acc langSet, depth int) Type {
	if !r.matches(dGeneral, acc, depth) {
		return Unknown
	}
	for k := dPremium; k <= dVoicemail; k++ {
		if r.matches(k, acc, depth) {
			return slotType[k]
		}
	}
	if r.matches(dFixed, acc, depth) {
		if r.sameFixMob || r.matches(dMobile, acc, depth) {
			return FixedLineOrMobile
		}
		return FixedLine
	}
	if !r.sameFixMob && r.matches(dMobile, acc, depth) {
		return Mobile
	}
	return Unknown
}

// decide mirrors GetRegionCodeForNumber followed by GetNumberType.
func decide(rules []regionRules, acc langSet, sticky uint64, depth int) (uint8, Type) {
	if len(rules) == 1 {
		return 0, rules[0].typeOf(acc, depth)
	}
	for ri := range rules {
		r := &rules[ri]
		if r.leading >= 0 {
			if sticky&(1<<uint(r.leading)) != 0 {
				return uint8(ri), r.typeOf(acc, depth)
			}
		} else if t := r.typeOf(acc, depth); t != Unknown {
			return uint8(ri), t
		}
	}
	return noRegion, Unknown
}

// walk runs the automaton from start over digits; -1 if it falls off.
func (c *classifier) walk(start int32, digits []byte) int32 {
	s := start
	for _, ch := range digits {
		d := ch - '0'
		if d > 9 || s < 0 {
			return -1
		}
		s = c.trans[int(s)*10+int(d)]
	}
	return s
}

// lengthOK mirrors the parser's test after stripping a national prefix:
// testNumberLength(UNKNOWN) is neither TOO_SHORT, INVALID_LENGTH nor
// IS_POSSIBLE_LOCAL_ONLY.
func (p *national) lengthOK(n int) bool {
	if len(p.possible) == 0 || p.possible[0] == -1 {
		return false
	}
	for _, l := range p.localOnly {
		if int(l) == n {
			return false
		}
	}
	if n < int(p.possible[0]) {
		return false
	}
	if n > int(p.possible[len(p.possible)-1]) {
		return true // TOO_LONG is accepted by the parser
	}
	for _, l := range p.possible {
		if int(l) == n {
			return true
		}
	}
	return false
}

// viable reports whether the region's general pattern matches nsn.
func (c *classifier) viable(n *national, nsn []byte, state int32) bool {
	if len(nsn) > maxNSN {
		return n.general.MatchString(string(nsn)) // rare; the copy keeps nsn on the stack
	}
	return state >= 0 && c.gen[state]&n.bit != 0
}

// maxInput is the longest digit string the classifier considers; anything
// longer cannot leave a national number of at most 17 digits.
const maxInput = 40

// resolved is the outcome of parsing E.164 digits the way
// phonenumbers.Parse("+"+digits, "") does.
type resolved struct {
	plan  *plan
	state int32
	n     int
	nsn   [maxInput + 24]byte
}

// resolve parses E.164 digits (no "+") like the library and reports
// false where the library's parser returns an error.
func (c *classifier) resolve(d string, r *resolved) bool {
	if len(d) <= 2 || len(d) > maxInput {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	k := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	pi := c.ccPlan[k]
	if pi == 0 {
		return false
	}
	p := &c.plans[pi-1]
	var raw [maxInput]byte
	nsn0 := raw[:copy(raw[:], d[c.ccLen[k]:])]
	if len(nsn0) < 2 {
		return false
	}
	s0 := c.walk(p.start, nsn0)
	out := nsn0
	state := s0
	if cand, ok := c.stripPrefix(p, &p.main, nsn0, s0, r.nsn[:0]); ok {
		out = cand
		state = c.walk(p.start, cand)
	}
	if len(out) < 2 || len(out) > maxNSN {
		return false
	}
	r.plan = p
	r.state = state
	r.n = copy(r.nsn[:], out)
	return true
}

// stripPrefix mirrors maybeStripNationalPrefixAndCarrierCode followed by
// the parser's length test on the result, for region n of plan p; state
// is the automaton state for nsn and dst provides room for a transformed
// number. It reports false when the parser would keep nsn as it is.
func (c *classifier) stripPrefix(p *plan, n *national, nsn []byte, state int32, dst []byte) ([]byte, bool) {
	st := n.strip
	if st == nil {
		return nil, false
	}
	matched, caps, ok := st.m.match(nsn)
	if !ok {
		loc := st.re.FindStringSubmatchIndex(string(nsn)) // rare; see viable
		matched = loc != nil
		for i := range caps {
			caps[i] = -1
			if i < len(loc) {
				caps[i] = loc[i]
			}
		}
	}
	if !matched {
		return nil, false
	}
	viable := c.viable(n, nsn, state)
	var cand []byte
	if st.rule == "" || caps[2*st.ngroups] < 0 {
		cand = nsn[caps[1]:]
	} else {
		cand = dst
		for _, t := range st.tmpl {
			if t.group < 0 {
				cand = append(cand, t.lit...)
			} else if t.group <= st.ngroups && caps[2*t.group] >= 0 {
				cand = append(cand, nsn[caps[2*t.group]:caps[2*t.group+1]]...)
			}
		}
		cand = append(cand, nsn[caps[1]:]...)
	}
	if viable && !c.viable(n, cand, c.walk(p.start, cand)) {
		return nil, false
	}
	return cand, n.lengthOK(len(cand))
}

// Classify answers country and type for E.164 digits (no "+", no
// separators) exactly as phonenumbers.Parse("+"+digits, "") followed by
// GetRegionCodeForNumber, GetNumberType and IsValidNumber would, without
// allocating. Where the library cannot parse the digits it returns "", 0,
// Unknown, false; region is "" also when a shared calling code matches no
// region, and "001" for non-geographic entities.
func (x *Intel) Classify(e164Digits string) (region string, cc int, t Type, valid bool) {
	var r resolved
	if !x.cls.resolve(e164Digits, &r) {
		return "", 0, Unknown, false
	}
	return x.cls.answer(&r)
}

func (c *classifier) answer(r *resolved) (region string, cc int, t Type, valid bool) {
	cc = r.plan.cc
	if r.state < 0 || r.n < 2 || r.n > maxNSN {
		if len(r.plan.regions) == 1 {
			region = r.plan.regions[0]
		}
		return region, cc, Unknown, false
	}
	if ri := c.region[r.state]; ri != noRegion {
		region = r.plan.regions[ri]
	}
	t = c.typ[r.state]
	return region, cc, t, t != Unknown
}
