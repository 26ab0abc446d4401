package quality

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/config"
)

// FuzzDecodeHEP: any datagram decodes or fails cleanly, and the watcher
// survives it.
func FuzzDecodeHEP(f *testing.F) {
	f.Add(EncodeHEP(&HEP{Src: netip.MustParseAddrPort("192.0.2.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"), Time: time.Unix(1e9, 0), Type: HEPProtoRTCP, CallID: "c", Payload: rr(1, 2, 13, 5, 80, 7, 9)}))
	f.Add(EncodeHEP(&HEP{Src: netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::1]:2"), Type: HEPProtoSIP, Payload: []byte("PUBLISH sip:x SIP/2.0\r\nContent-Type: application/vq-rtcpxr\r\n\r\nVQSessionReport: x\r\nPacketLoss: NLR=3\r\n")}))
	f.Add([]byte("HEP3\x00\x06"))
	w := New(config.Quality{WindowS: 60, MinReports: 1, AlertEveryS: 60}, nil, nil)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHEP(b)
		if err == nil && h == nil {
			t.Fatal("nil packet without error")
		}
		w.HandleHEP(b, nil)
	})
}

// FuzzParseRTCP: report values stay in their ranges whatever the input.
func FuzzParseRTCP(f *testing.F) {
	f.Add(rr(1, 2, 13, -3, 80, 1, 2))
	f.Add(xr(1, 2, 26, 180, 80, 39))
	f.Add(append(rr(1, 2, 0, 0, 0, 0, 0), xr(3, 4, 255, 65535, 127, 127)...))
	at := time.Unix(1.8e9, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, _ := ParseRTCP(b, at)
		for _, x := range bs {
			if x.LossPct < 0 || x.LossPct > 100 || x.RTTMS >= 60000 || (x.MOS != -1 && (x.MOS < 1 || x.MOS > 5)) {
				t.Fatalf("block out of range: %+v", x)
			}
			_, mos := EModel(x.LossPct, x.JitterMS, x.RTTMS)
			if mos < 1 || mos > 4.5 {
				t.Fatalf("MOS %g", mos)
			}
		}
	})
}

// FuzzParseVQ: vq-rtcpxr bodies never panic and values stay in range.
func FuzzParseVQ(f *testing.F) {
	f.Add([]byte("VQSessionReport: CallTerm\r\nCallID: a\r\nPacketLoss: NLR=5.0\r\nDelay: RTD=200 IAJ=3\r\nQualityEst: MOSCQ=3.6\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, x, err := ParseVQ(b)
		if err != nil {
			return
		}
		if x.LossPct > 100 || (x.MOS != -1 && (x.MOS < 1 || x.MOS > 5)) {
			t.Fatalf("out of range: %+v", x)
		}
	})
}
