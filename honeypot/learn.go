package honeypot

import (
	"crypto/subtle"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/tollgate-voip/tollgate/number"
	"github.com/tollgate-voip/tollgate/reputation"
)

// EvAck is a caller acknowledging the decoy's answer to its INVITE, with
// the To tag only that answer carried, from the address the INVITE came
// from: proof the address is the caller's own, not forged.
const EvAck = "ack"

// Learning decides what the decoy learns from the numbers attackers
// dial. One datagram can carry any source address, so a dialed number is
// learned as suspected (risk only) and confirmed only when sources in
// enough distinct networks proved their addresses by completing a call
// to it (see reputation.Evidence), spread over time. Numbers the
// operator protects are never learned.
type Learning struct {
	// Need confirms an ordinary number (3 networks over 10 minutes).
	Need reputation.Need
	// HighCost confirms a number of a high-cost class (2 networks over
	// 10 minutes): a lower bar, since such numbers are what fraud pays
	// for and rarely what a business needs its callers to reach.
	HighCost reputation.Need
	// Classify returns a number's high-cost class ("" for none) and
	// whether the operator protects it. nil: no classes, none protected.
	// NumberClassifier builds one from number intelligence.
	Classify func(e164 string) (class string, protected bool)
}

func (l *Learning) defaults() {
	if l.Need.Networks <= 0 {
		l.Need = reputation.Need{Networks: 3, SpanS: 600}
	}
	if l.HighCost.Networks <= 0 {
		l.HighCost = reputation.Need{Networks: 2, SpanS: 600}
	}
}

// HighCostCategories are the risk-layer categories (number/data/risk.csv)
// that make a dialed number high-cost.
var HighCostCategories = []string{"premium", "satellite", "irsf"}

// NumberClassifier returns a Learning.Classify reading numbers with
// number intelligence in plan: emergency numbers and short codes, numbers of the
// protected types and numbers starting with a protected prefix (E.164
// digits without "+": the operator's DIDs) are protected; premium-rate
// numbers and numbers in a premium, satellite or IRSF risk range are
// high-cost.
func NumberClassifier(lookup Lookup, plan number.DialPlan, protectedTypes []number.Type, protectedPrefixes []string) func(string) (string, bool) {
	return func(e164 string) (string, bool) {
		d := strings.TrimPrefix(e164, "+")
		for _, p := range protectedPrefixes {
			if p != "" && strings.HasPrefix(d, p) {
				return "", true
			}
		}
		info, err := lookup(e164, &plan) // as dialed when it has no "+"
		if err != nil {
			return "", false
		}
		if info.Kind != number.Subscriber || slices.Contains(protectedTypes, info.Type) {
			return "", true // emergency numbers and short codes too
		}
		if info.Type == number.PremiumRate {
			return number.PremiumRate.String(), false
		}
		// The most specific high-cost range wins (Risk is shortest first).
		for i := len(info.Risk) - 1; i >= 0; i-- {
			if slices.Contains(HighCostCategories, info.Risk[i].Category) {
				return info.Risk[i].Category, false
			}
		}
		return "", false
	}
}

// answers remembers the decoy's answered calls for as long as their ACK
// may come (64×T1, 32 s), also after the call ended: a caller that ACKs
// and hangs up at once sends the BYE right behind the ACK, and the two
// are handled in parallel. Bounded: when full of live entries, a new
// call is not remembered (its ACK proves nothing).
type answers struct {
	mu sync.Mutex
	m  map[string]answer // by Call-ID
}

type answer struct {
	peer  netip.Addr
	tag   string
	base  Event
	until time.Time
}

const (
	maxAnswers = 4096
	ackWindow  = 32 * time.Second
)

// answered remembers c's answer (called before the 200 is sent).
func (s *Server) answered(c *call) {
	tag, _ := c.ok.To().Params.Get("tag")
	if tag == "" || c.base.E164 == "" {
		return
	}
	now := time.Now()
	a := &s.answers
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]answer{}
	}
	if len(a.m) >= maxAnswers {
		for k, v := range a.m {
			if now.After(v.until) {
				delete(a.m, k)
			}
		}
		if len(a.m) >= maxAnswers {
			return
		}
	}
	a.m[c.id] = answer{peer: c.sipPeer.Addr().Unmap(), tag: tag, base: c.base, until: now.Add(ackWindow)}
}

// acked records the ACK of a decoy call's answer as proof of the
// caller's address: it must come from the INVITE's source address within
// the ACK window and carry the To tag of the decoy's 200 (random per
// call), which a forger who never received that answer cannot know.
// Anything else is ignored, as before. One proof per call.
func (s *Server) acked(p packet, req *sip.Request) {
	id := req.CallID().Value()
	a := &s.answers
	a.mu.Lock()
	ans, ok := a.m[id]
	a.mu.Unlock()
	if !ok || time.Now().After(ans.until) || ans.peer != p.from.Addr().Unmap() {
		return
	}
	tag, _ := req.To().Params.Get("tag")
	if subtle.ConstantTimeCompare([]byte(tag), []byte(ans.tag)) != 1 {
		return
	}
	a.mu.Lock()
	_, first := a.m[id]
	delete(a.m, id)
	a.mu.Unlock()
	if !first {
		return // a retransmitted ACK handled in parallel
	}
	ev := ans.base
	ev.Time, ev.Kind, ev.Method, ev.SourcePort = p.at.UTC(), EvAck, string(req.Method), int(p.from.Port())
	ev.Detail = "acknowledged the decoy's answer: the source address is the caller's own"
	ev.Message = p.data
	s.rec.add(ev, "")
}

// learn folds one sighting of a dialed number into pending: suspected,
// with the source's network as evidence (proven when the source
// acknowledged the decoy's answer, or sent the INVITE over TCP, whose
// handshake a forged source cannot complete). Protected numbers are not
// learned.
func (r *recorder) learn(pending map[repKey]*reputation.Entry, ev Event, a netip.Addr, proven bool) {
	class, protected := "", false
	if r.o.Learning.Classify != nil {
		class, protected = r.o.Learning.Classify(ev.E164)
	}
	if protected {
		r.protected.Add(1)
		return
	}
	need := r.o.Learning.Need
	if class != "" {
		need = r.o.Learning.HighCost
	}
	s := reputation.Sighting{Network: reputation.NetworkOf(a).String(), Addr: a.String(), First: ev.Time, Last: ev.Time, Hits: 1}
	reason := "dialed by an attacker at the honeypot (as " + truncate(ev.Dialed, 32) + ")"
	if proven {
		s.Proven = ev.Time
		reason = "a decoy call to it was answered and acknowledged from " + a.String()
	}
	e := reputation.Entry{Kind: reputation.KindNumber, Value: ev.E164, Source: reputation.SourceHoneypot, Reason: reason,
		FirstSeen: ev.Time, LastSeen: ev.Time, Hits: 1, Score: 90, Expires: ev.Time.Add(r.o.NumberTTL),
		Status: reputation.StatusSuspected, Evidence: &reputation.Evidence{Sightings: []reputation.Sighting{s}, Class: class, Need: need}}
	k := repKey{e.Kind, e.Value}
	if old := pending[k]; old != nil {
		m := reputation.Merge(*old, e)
		*old = m
		return
	}
	if len(pending) >= maxPending {
		return
	}
	pending[k] = &e
}
