package quality

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RTCP packet types read here (RFC 3550, RFC 3611).
const (
	rtcpSR = 200
	rtcpRR = 201
	rtcpXR = 207
)

// Block is what one RTCP report block, XR VoIP-metrics block or vq-rtcpxr
// report says about one media stream. Unknown values are negative.
type Block struct {
	Kind      string // "sr", "rr", "xr", "vq"
	Reporter  uint32 // SSRC of the reporter
	Source    uint32 // SSRC of the stream reported on
	LossPct   float64
	CumLost   int32
	JitterMS  float64
	RTTMS     float64
	MOS       float64 // as reported (XR MOS-CQ, vq MOSCQ); -1 if not
	RFactor   float64 // as reported; -1 if not
	HighSeq   uint32
	Timestamp time.Time
}

// ErrNotRTCP is returned for input that is not an RTCP compound packet.
var ErrNotRTCP = errors.New("quality: not RTCP")

// ClockRate is the RTP clock rate used to turn RTCP jitter (in timestamp
// units) into milliseconds: 8000 Hz, the rate of G.711 and most telephony
// codecs.
const ClockRate = 8000

// ParseRTCP decodes the report blocks of an RTCP compound packet. at is
// when the packet arrived (for the round-trip time from LSR and DLSR);
// the zero time leaves RTT unknown.
func ParseRTCP(b []byte, at time.Time) ([]Block, error) {
	if len(b) < 8 || b[0]>>6 != 2 {
		return nil, ErrNotRTCP
	}
	var out []Block
	for p := 0; p < len(b); {
		if len(b)-p < 8 {
			return out, fmt.Errorf("quality: RTCP: %d trailing bytes at %d", len(b)-p, p)
		}
		if b[p]>>6 != 2 {
			return out, fmt.Errorf("quality: RTCP: version %d at byte %d", b[p]>>6, p)
		}
		count := int(b[p] & 0x1f)
		pt := b[p+1]
		n := (int(binary.BigEndian.Uint16(b[p+2:])) + 1) * 4
		if p+n > len(b) {
			return out, fmt.Errorf("quality: RTCP: packet type %d at byte %d claims %d bytes, %d left", pt, p, n, len(b)-p)
		}
		pkt := b[p : p+n]
		p += n
		if len(pkt) < 8 {
			continue // a header without an SSRC carries no report
		}
		reporter := binary.BigEndian.Uint32(pkt[4:])
		switch pt {
		case rtcpSR, rtcpRR:
			off, kind := 8, "rr"
			if pt == rtcpSR {
				off, kind = 28, "sr"
			}
			if off+24*count > len(pkt) {
				return out, fmt.Errorf("quality: RTCP %s: %d report blocks do not fit in %d bytes", kind, count, len(pkt))
			}
			for i := 0; i < count; i++ {
				out = append(out, reportBlock(kind, reporter, pkt[off+24*i:off+24*i+24], at))
			}
		case rtcpXR:
			for q := 8; q+4 <= len(pkt); {
				bt := pkt[q]
				bl := (int(binary.BigEndian.Uint16(pkt[q+2:])) + 1) * 4
				if q+bl > len(pkt) {
					return out, fmt.Errorf("quality: RTCP XR block type %d overruns the packet", bt)
				}
				if bt == 7 && bl == 36 {
					out = append(out, voipMetrics(reporter, pkt[q:q+bl], at))
				}
				q += bl
			}
		}
	}
	return out, nil
}

func reportBlock(kind string, reporter uint32, rb []byte, at time.Time) Block {
	bl := Block{Kind: kind, Reporter: reporter, Source: binary.BigEndian.Uint32(rb), MOS: -1, RFactor: -1, RTTMS: -1, Timestamp: at}
	bl.LossPct = float64(rb[4]) * 100 / 256
	cum := int32(uint32(rb[5])<<16 | uint32(rb[6])<<8 | uint32(rb[7]))
	if cum&0x800000 != 0 {
		cum -= 1 << 24
	}
	bl.CumLost = cum
	bl.HighSeq = binary.BigEndian.Uint32(rb[8:])
	bl.JitterMS = float64(binary.BigEndian.Uint32(rb[12:])) * 1000 / ClockRate
	lsr, dlsr := binary.BigEndian.Uint32(rb[16:]), binary.BigEndian.Uint32(rb[20:])
	if lsr != 0 && !at.IsZero() {
		// RFC 3550 §6.4.1: RTT = A − LSR − DLSR in the middle 32 bits of
		// NTP time (1/65536 s).
		rtt := int64(compactNTP(at)) - int64(lsr) - int64(dlsr)
		if rtt < 0 {
			rtt += 1 << 32
		}
		if ms := float64(rtt) * 1000 / 65536; ms < 60000 {
			bl.RTTMS = ms
		}
	}
	return bl
}

// compactNTP returns the middle 32 bits of t's NTP timestamp.
func compactNTP(t time.Time) uint32 {
	const ntpEpochOffset = 2208988800
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint32(sec<<16 | frac>>16)
}

// CompactNTP is compactNTP for senders building LSR values.
func CompactNTP(t time.Time) uint32 { return compactNTP(t) }

// voipMetrics reads an RFC 3611 §4.7 VoIP Metrics block.
func voipMetrics(reporter uint32, v []byte, at time.Time) Block {
	bl := Block{Kind: "xr", Reporter: reporter, Source: binary.BigEndian.Uint32(v[4:]), MOS: -1, RFactor: -1, RTTMS: -1, JitterMS: -1, Timestamp: at}
	bl.LossPct = float64(v[8]) * 100 / 256
	if rtd := binary.BigEndian.Uint16(v[16:]); rtd != 0 && rtd < 60000 {
		bl.RTTMS = float64(rtd)
	}
	if r := v[26]; r != 127 {
		bl.RFactor = float64(r)
	}
	if mos := v[29]; mos != 127 && mos >= 10 && mos <= 50 {
		bl.MOS = float64(mos) / 10
	}
	return bl
}

// ParseVQ reads an RFC 6035 vq-rtcpxr report (the body of a SIP PUBLISH
// with Content-Type application/vq-rtcpxr). It returns the call id and a
// block with what the report states; fields it lacks stay negative.
func ParseVQ(body []byte) (callID string, bl Block, err error) {
	bl = Block{Kind: "vq", MOS: -1, RFactor: -1, RTTMS: -1, JitterMS: -1, LossPct: -1}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 4096), 4096)
	seen := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "vqsessionreport", "vqintervalreport", "vqalertreport":
			seen = true
		case "callid":
			if len(v) > 256 {
				v = v[:256]
			}
			callID = v
		case "packetloss":
			if x, ok := metric(v, "NLR"); ok && x <= 100 {
				bl.LossPct = x
			}
		case "delay":
			if x, ok := metric(v, "RTD"); ok {
				bl.RTTMS = x
			}
			if x, ok := metric(v, "IAJ"); ok {
				bl.JitterMS = x
			}
		case "qualityest":
			if x, ok := metric(v, "MOSCQ"); ok && x >= 1 && x <= 5 {
				bl.MOS = x
			} else if x, ok := metric(v, "MOSLQ"); ok && x >= 1 && x <= 5 {
				bl.MOS = x
			}
			if x, ok := metric(v, "RCQ"); ok && x <= 120 {
				bl.RFactor = x
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", bl, fmt.Errorf("quality: vq-rtcpxr: %w", err)
	}
	if !seen {
		return "", bl, errors.New("quality: vq-rtcpxr: no VQSessionReport, VQIntervalReport or VQAlertReport line")
	}
	return callID, bl, nil
}

// metric finds NAME=value among space-separated pairs.
func metric(s, name string) (float64, bool) {
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if ok && strings.EqualFold(k, name) {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				return 0, false
			}
			return x, true
		}
	}
	return 0, false
}

// sipVQ extracts the vq-rtcpxr body of a SIP PUBLISH, if it is one.
func sipVQ(msg []byte) ([]byte, bool) {
	if !bytes.HasPrefix(msg, []byte("PUBLISH ")) {
		return nil, false
	}
	head, body, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		return nil, false
	}
	for _, ln := range bytes.Split(head, []byte("\r\n")) {
		k, v, ok := bytes.Cut(ln, []byte(":"))
		if !ok {
			continue
		}
		k = bytes.TrimSpace(k)
		if (bytes.EqualFold(k, []byte("Content-Type")) || bytes.EqualFold(k, []byte("c"))) &&
			bytes.Contains(bytes.ToLower(v), []byte("application/vq-rtcpxr")) {
			return body, true
		}
	}
	return nil, false
}
