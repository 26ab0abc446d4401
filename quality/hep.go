// Package quality watches call quality: it decodes HEPv3 packets (RTCP
// and SIP, as Kamailio's siptrace, rtpengine and Asterisk's HEP modules
// send them), RTCP report blocks (SR, RR, XR VoIP metrics) and RFC 6035
// vq-rtcpxr reports, estimates MOS with a simplified ITU-T G.107 E-model,
// aggregates per call, route, trunk, tenant and destination, and raises
// alerts on thresholds and on a sudden collapse of one route.
package quality

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// HEP protocol types this package reads.
const (
	HEPProtoSIP  = 1
	HEPProtoRTCP = 5
)

// HEP is one decoded HEPv3 packet. Payload aliases the input buffer.
type HEP struct {
	Family   uint8
	Proto    uint8 // IP protocol (17 = UDP)
	Src, Dst netip.AddrPort
	Time     time.Time
	Type     uint8 // HEP protocol type: 1 SIP, 5 RTCP, …
	AgentID  uint32
	CallID   string // correlation id chunk
	Payload  []byte
}

// Errors of DecodeHEP.
var (
	ErrNotHEP   = errors.New("quality: not a HEPv3 packet")
	ErrTruncHEP = errors.New("quality: truncated HEPv3 packet")
)

// DecodeHEP decodes one HEPv3 packet: "HEP3", the total length, then
// chunks of vendor id, type id, length (header included) and value.
// Unknown chunks are skipped.
func DecodeHEP(b []byte) (*HEP, error) {
	if len(b) < 6 || string(b[:4]) != "HEP3" {
		return nil, ErrNotHEP
	}
	total := int(binary.BigEndian.Uint16(b[4:6]))
	if total < 6 || total > len(b) {
		return nil, fmt.Errorf("%w: length %d, have %d bytes", ErrTruncHEP, total, len(b))
	}
	h := &HEP{}
	var srcIP, dstIP netip.Addr
	var srcPort, dstPort uint16
	var sec, usec uint32
	for p := 6; p < total; {
		if total-p < 6 {
			return nil, fmt.Errorf("%w: chunk header at byte %d", ErrTruncHEP, p)
		}
		vendor := binary.BigEndian.Uint16(b[p:])
		typ := binary.BigEndian.Uint16(b[p+2:])
		n := int(binary.BigEndian.Uint16(b[p+4:]))
		if n < 6 || p+n > total {
			return nil, fmt.Errorf("%w: chunk %d at byte %d has length %d", ErrTruncHEP, typ, p, n)
		}
		v := b[p+6 : p+n]
		p += n
		if vendor != 0 {
			continue
		}
		bad := func() error { return fmt.Errorf("quality: HEP chunk %d: length %d is wrong", typ, len(v)) }
		switch typ {
		case 1, 2, 11:
			if len(v) != 1 {
				return nil, bad()
			}
			switch typ {
			case 1:
				h.Family = v[0]
			case 2:
				h.Proto = v[0]
			case 11:
				h.Type = v[0]
			}
		case 3, 4:
			if len(v) != 4 {
				return nil, bad()
			}
			a := netip.AddrFrom4([4]byte(v))
			if typ == 3 {
				srcIP = a
			} else {
				dstIP = a
			}
		case 5, 6:
			if len(v) != 16 {
				return nil, bad()
			}
			a := netip.AddrFrom16([16]byte(v))
			if typ == 5 {
				srcIP = a
			} else {
				dstIP = a
			}
		case 7, 8:
			if len(v) != 2 {
				return nil, bad()
			}
			if typ == 7 {
				srcPort = binary.BigEndian.Uint16(v)
			} else {
				dstPort = binary.BigEndian.Uint16(v)
			}
		case 9, 10, 12:
			if len(v) != 4 {
				return nil, bad()
			}
			x := binary.BigEndian.Uint32(v)
			switch typ {
			case 9:
				sec = x
			case 10:
				usec = x
			case 12:
				h.AgentID = x
			}
		case 15:
			h.Payload = v
		case 17:
			if len(v) > 256 {
				v = v[:256]
			}
			h.CallID = string(v)
		}
	}
	if usec >= 1e6 {
		return nil, fmt.Errorf("quality: HEP chunk 10: %d microseconds", usec)
	}
	if sec != 0 {
		h.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
	}
	h.Src = netip.AddrPortFrom(srcIP, srcPort)
	h.Dst = netip.AddrPortFrom(dstIP, dstPort)
	return h, nil
}

// EncodeHEP builds a HEPv3 packet; it is what tests and the probe send.
func EncodeHEP(h *HEP) []byte {
	b := []byte("HEP3\x00\x00")
	chunk := func(typ uint16, v []byte) {
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(6+len(v)))
		b = append(b, v...)
	}
	fam, srcT, dstT := byte(2), uint16(3), uint16(4)
	src, dst := h.Src.Addr(), h.Dst.Addr()
	if src.Is6() && !src.Is4In6() {
		fam, srcT, dstT = 10, 5, 6
	}
	chunk(1, []byte{fam})
	chunk(2, []byte{17})
	if fam == 2 {
		s4, d4 := src.Unmap().As4(), dst.Unmap().As4()
		chunk(srcT, s4[:])
		chunk(dstT, d4[:])
	} else {
		s16, d16 := src.As16(), dst.As16()
		chunk(srcT, s16[:])
		chunk(dstT, d16[:])
	}
	chunk(7, binary.BigEndian.AppendUint16(nil, h.Src.Port()))
	chunk(8, binary.BigEndian.AppendUint16(nil, h.Dst.Port()))
	chunk(9, binary.BigEndian.AppendUint32(nil, uint32(h.Time.Unix())))
	chunk(10, binary.BigEndian.AppendUint32(nil, uint32(h.Time.Nanosecond()/1000)))
	chunk(11, []byte{h.Type})
	chunk(12, binary.BigEndian.AppendUint32(nil, h.AgentID))
	if h.CallID != "" {
		chunk(17, []byte(h.CallID))
	}
	chunk(15, h.Payload)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	return b
}
