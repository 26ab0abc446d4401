package voice

// G.711 companding (ITU-T G.711): µ-law (PCMU) and A-law (PCMA). The
// decoders are 256-entry tables; the encoders follow the segment search of
// the recommendation.

var ulawTable, alawTable [256]int16

func init() {
	for i := range 256 {
		ulawTable[i] = ulawDecode(byte(i))
		alawTable[i] = alawDecode(byte(i))
	}
}

func ulawDecode(u byte) int16 {
	u = ^u
	sign := u & 0x80
	exp := (u >> 4) & 7
	mant := int32(u & 0x0f)
	v := ((mant << 3) + 0x84) << exp
	v -= 0x84
	if sign != 0 {
		return int16(-v)
	}
	return int16(v)
}

func alawDecode(a byte) int16 {
	a ^= 0x55
	sign := a & 0x80
	exp := (a >> 4) & 7
	mant := int32(a & 0x0f)
	var v int32
	if exp == 0 {
		v = mant<<4 + 8
	} else {
		v = (mant<<4 + 0x108) << (exp - 1)
	}
	if sign != 0 {
		return int16(v)
	}
	return int16(-v)
}

// UlawEncode compands one 16-bit sample to µ-law.
func UlawEncode(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int32(s)
	sign := byte(0)
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := byte(7)
	for mask := int32(0x4000); exp > 0 && v&mask == 0; mask >>= 1 {
		exp--
	}
	mant := byte(v>>(exp+3)) & 0x0f
	return ^(sign | exp<<4 | mant)
}

// AlawEncode compands one 16-bit sample to A-law.
func AlawEncode(s int16) byte {
	v := int32(s)
	sign := byte(0x80)
	if v < 0 {
		v = -v - 1
		sign = 0
	}
	v >>= 3 // 13-bit magnitude
	if v > 0xfff {
		v = 0xfff
	}
	var out byte
	if v < 32 {
		out = byte(v >> 1)
	} else {
		exp := byte(1)
		for t := v >> 5; t > 1; t >>= 1 {
			exp++
		}
		out = exp<<4 | byte(v>>exp)&0x0f
	}
	return (out | sign) ^ 0x55
}

// EncodeG711 compands audio to a raw µ-law (CodecPCMU) or A-law payload.
func EncodeG711(a Audio, c Codec) []byte {
	out := make([]byte, len(a.Samples))
	for i, s := range a.Samples {
		if c == CodecPCMA {
			out[i] = AlawEncode(toInt16(s))
		} else {
			out[i] = UlawEncode(toInt16(s))
		}
	}
	return out
}
