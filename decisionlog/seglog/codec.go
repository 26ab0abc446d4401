package seglog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/tollgate-voip/tollgate/store"
)

// errCorrupt reports a block whose payload does not decode; its checksum
// matched, so it was written that way (a bug), never torn.
var errCorrupt = errors.New("seglog: corrupt block")

// encoder builds one block's payload. Strings and floats go through an
// inline dictionary: the first use in a block writes the value, later
// uses write its index, so a tenant, country, verdict or reasons array
// repeated across a batch costs a byte or two per record.
type encoder struct {
	buf    []byte
	strs   map[string]uint64
	floats map[uint64]uint64
	prevT  int64
}

func (e *encoder) reset(t0 int64) {
	e.buf = e.buf[:0]
	if e.strs == nil {
		e.strs = make(map[string]uint64, 256)
		e.floats = make(map[uint64]uint64, 16)
	}
	clear(e.strs)
	clear(e.floats)
	e.prevT = t0
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }

// raw writes s as length and bytes, outside the dictionary.
func (e *encoder) raw(s string) {
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// str writes s through the dictionary: 0 then the value when new, else
// its index plus one.
func (e *encoder) str(s string) {
	if i, ok := e.strs[s]; ok {
		e.uvarint(i + 1)
		return
	}
	e.strs[s] = uint64(len(e.strs))
	e.uvarint(0)
	e.raw(s)
}

// bytes is str for a byte slice (the map lookup does not copy it).
func (e *encoder) bytes(b []byte) {
	if i, ok := e.strs[string(b)]; ok {
		e.uvarint(i + 1)
		return
	}
	e.strs[string(b)] = uint64(len(e.strs))
	e.uvarint(0)
	e.uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) float(f float64) {
	bits := math.Float64bits(f)
	if i, ok := e.floats[bits]; ok {
		e.uvarint(i + 1)
		return
	}
	e.floats[bits] = uint64(len(e.floats))
	e.uvarint(0)
	e.buf = binary.LittleEndian.AppendUint64(e.buf, bits)
}

// time writes t as the difference from the previous record's time.
func (e *encoder) time(t int64) {
	e.varint(t - e.prevT)
	e.prevT = t
}

// decoder reads a payload written by encoder.
type decoder struct {
	buf    []byte
	err    error
	strs   []string
	raws   [][]byte // the same dictionary as byte slices, made on demand
	floats []float64
	prevT  int64
}

func (d *decoder) reset(buf []byte, t0 int64) {
	d.buf, d.err, d.prevT = buf, nil, t0
	d.strs, d.raws, d.floats = d.strs[:0], d.raws[:0], d.floats[:0]
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) rawBytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) raw() string { return string(d.rawBytes()) }

// ref reads a dictionary reference and returns its index, adding a new
// entry first when the value is inline.
func (d *decoder) ref() int {
	i := d.uvarint()
	if d.err != nil {
		return -1
	}
	if i == 0 {
		d.strs = append(d.strs, d.raw())
		return len(d.strs) - 1
	}
	if i > uint64(len(d.strs)) {
		d.fail()
		return -1
	}
	return int(i - 1)
}

func (d *decoder) str() string {
	if i := d.ref(); i >= 0 {
		return d.strs[i]
	}
	return ""
}

// bytes returns a dictionary entry as bytes; records that share a value
// share its slice, which callers only read.
func (d *decoder) bytes() []byte {
	i := d.ref()
	if i < 0 {
		return nil
	}
	for len(d.raws) < len(d.strs) {
		d.raws = append(d.raws, nil)
	}
	if d.raws[i] == nil && d.strs[i] != "" {
		d.raws[i] = []byte(d.strs[i])
	}
	return d.raws[i]
}

func (d *decoder) float() float64 {
	i := d.uvarint()
	if d.err != nil {
		return 0
	}
	if i == 0 {
		if len(d.buf) < 8 {
			d.fail()
			return 0
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(d.buf))
		d.buf = d.buf[8:]
		d.floats = append(d.floats, f)
		return f
	}
	if i > uint64(len(d.floats)) {
		d.fail()
		return 0
	}
	return d.floats[i-1]
}

func (d *decoder) time() time.Time {
	d.prevT += d.varint()
	return time.Unix(0, d.prevT).UTC()
}

// Decision flags.
const (
	flagShadow  = 1 << iota
	flagReasons // Reasons is not nil
	flagIntl    // CallEvent.International
)

func encodeDecision(e *encoder, d *store.Decision) {
	e.raw(d.CallID)
	e.time(d.Time.UnixNano())
	var flags uint64
	if d.Shadow {
		flags |= flagShadow
	}
	if d.Reasons != nil {
		flags |= flagReasons
	}
	e.uvarint(flags)
	e.str(d.Tenant)
	e.str(d.Extension)
	e.str(d.Caller)
	e.str(d.Callee)
	e.str(d.E164)
	e.str(d.Country)
	e.str(d.Type)
	e.str(d.Direction)
	e.str(d.SourceIP)
	e.str(d.Action)
	e.str(d.Enforced)
	e.varint(int64(d.Risk))
	e.varint(int64(d.MaxDuration))
	e.float(d.Rate)
	if d.Reasons != nil {
		e.bytes(d.Reasons)
	}
	e.str(d.Node)
}

func decodeDecision(dec *decoder, d *store.Decision) {
	d.CallID = dec.raw()
	d.Time = dec.time()
	flags := dec.uvarint()
	d.Shadow = flags&flagShadow != 0
	d.Tenant = dec.str()
	d.Extension = dec.str()
	d.Caller = dec.str()
	d.Callee = dec.str()
	d.E164 = dec.str()
	d.Country = dec.str()
	d.Type = dec.str()
	d.Direction = dec.str()
	d.SourceIP = dec.str()
	d.Action = dec.str()
	d.Enforced = dec.str()
	d.Risk = int(dec.varint())
	d.MaxDuration = int(dec.varint())
	d.Rate = dec.float()
	d.Reasons = nil
	if flags&flagReasons != 0 {
		d.Reasons = json.RawMessage(dec.bytes())
	}
	d.Node = dec.str()
}

func encodeEvent(e *encoder, c *store.CallEvent) {
	e.raw(c.CallID)
	e.time(c.Time.UnixNano())
	var flags uint64
	if c.International {
		flags |= flagIntl
	}
	e.uvarint(flags)
	e.str(c.Type)
	e.str(c.Tenant)
	e.varint(int64(c.Duration))
	e.float(c.Cost)
}

func decodeEvent(dec *decoder, c *store.CallEvent) {
	c.CallID = dec.raw()
	c.Time = dec.time()
	flags := dec.uvarint()
	c.International = flags&flagIntl != 0
	c.Type = dec.str()
	c.Tenant = dec.str()
	c.Duration = int(dec.varint())
	c.Cost = dec.float()
}
