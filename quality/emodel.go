package quality

import "math"

// EModel estimates the R factor and MOS of a narrow-band G.711 call with
// packet-loss concealment, from a simplified ITU-T G.107 E-model:
//
//	R = R0 − Id − Ie,eff            (Is and the advantage factor A are 0)
//	R0 = 93.2                        (G.107 default values)
//	d  = RTT/2 + 2·jitter + 10 ms    (one-way delay: half the round trip,
//	                                  a jitter buffer of twice the jitter,
//	                                  one 10 ms frame of codec delay)
//	Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)
//	                                 (the Cole–Rosenbluth fit of Idd + Idte
//	                                  for default echo loss)
//	Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl)
//	         with Ie = 0, Bpl = 25.1 (G.711 with PLC, ITU-T G.113) and
//	         BurstR = 1 (random loss)
//	MOS = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶   for 0 < R < 100
//
// Unknown RTT or jitter (negative) count as 0. The best a call can score
// is R 93.2, MOS 4.41.
func EModel(lossPct, jitterMS, rttMS float64) (r, mos float64) {
	lossPct = clamp(lossPct, 0, 100)
	jitterMS = clamp(jitterMS, 0, 10000)
	rttMS = clamp(rttMS, 0, 60000)
	d := rttMS/2 + 2*jitterMS + 10
	id := 0.024 * d
	if d > 177.3 {
		id += 0.11 * (d - 177.3)
	}
	const ie, bpl, burstR = 0.0, 25.1, 1.0
	ieEff := ie + (95-ie)*lossPct/(lossPct/burstR+bpl)
	r = 93.2 - id - ieEff
	return r, MOSFromR(r)
}

// MOSFromR maps an R factor to a MOS (ITU-T G.107 Annex B).
func MOSFromR(r float64) float64 {
	switch {
	case math.IsNaN(r) || r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	// The polynomial dips just below 1 for R under about 6.5.
	return max(1, 1+0.035*r+r*(r-60)*(100-r)*7e-6)
}

func clamp(x, lo, hi float64) float64 {
	if math.IsNaN(x) || x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}
