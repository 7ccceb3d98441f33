package store

import (
	"bytes"
	"math/bits"
	"slices"
)

// Bitmaps: Redis's bit operations on string values. A string is an array
// of bits, bit 0 being the most significant bit of byte 0. SETBIT flips
// the bit in place unless a reader was handed the value's bytes (see
// entry), and then in a copy: a bitmap that is set and counted, never read
// whole, is set in constant time.

// MaxBitOffset is the highest bit offset SETBIT accepts: the bit must fall
// within a string of MaxStringSize bytes.
const MaxBitOffset = int64(MaxStringSize)*8 - 1

const bitsPerByte = 8

// BitOp is a BITOP operation.
type BitOp uint8

// BITOP operations.
const (
	BitAnd BitOp = iota
	BitOr
	BitXor
	BitNot // of a single source
)

// BitRange is the range of BITCOUNT and BITPOS: from Start to End
// inclusive, in bytes or (Bits) in bits, negative values counting from the
// end, as GETRANGE reads them. Whole: the whole string; NoEnd (BITPOS):
// from Start to the end of the string.
type BitRange struct {
	Whole, NoEnd, Bits bool
	Start, End         int64
}

// span resolves r against a string of n bytes to bit offsets [from, to];
// ok is false when the range is empty.
func (r BitRange) span(n int64) (from, to int64, ok bool) {
	size := n
	if r.Bits {
		size = n * bitsPerByte
	}
	start, end := r.Start, r.End
	switch {
	case r.Whole:
		start, end = 0, size-1
	case r.NoEnd:
		end = size - 1
	}
	if start < 0 {
		start += size
	}
	if end < 0 {
		end += size
	}
	// As Redis: an end still negative is 0, not an empty range.
	start, end = max(start, 0), min(max(end, 0), size-1)
	if start > end || size == 0 {
		return 0, 0, false
	}
	if r.Bits {
		return start, end, true
	}
	return start * bitsPerByte, end*bitsPerByte + bitsPerByte - 1, true
}

// bitAt is the bit at offset of b (0 past its end).
func bitAt(b []byte, offset int64) int {
	i := offset / bitsPerByte
	if i >= int64(len(b)) {
		return 0
	}
	return int(b[i]>>(bitsPerByte-1-offset%bitsPerByte)) & 1
}

// GetBit returns the bit at offset of the string at key (0 past its end or
// when the key is missing).
func (s *Store) GetBit(key []byte, offset int64) (int, error) {
	if offset < 0 || offset > MaxBitOffset {
		return 0, ErrOffset
	}
	bit := 0
	err := s.withString(key, func(v []byte, _ bool) { bit = bitAt(v, offset) })
	return bit, err
}

// withString calls fn with the string at key (nil, false when the key is
// missing) under its shard's lock, unless the key holds a hash.
func (s *Store) withString(key []byte, fn func(v []byte, found bool)) error {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, &clk)
	switch {
	case e == nil:
		fn(nil, false)
	case e.hash() != nil:
		return ErrWrongType
	default:
		fn(e.str(), true)
	}
	return nil
}

// SetBit sets (on) or clears the bit at offset of the string at key,
// creating the key and growing the string with zero bytes as needed, and
// returns the bit's previous value.
func (s *Store) SetBit(key []byte, offset int64, on bool) (int, error) {
	if offset < 0 || offset > MaxBitOffset {
		return 0, ErrOffset
	}
	if err := checkKey(key); err != nil {
		return 0, err
	}
	byteIdx := offset / bitsPerByte
	if err := s.reserve(entryOverhead + int64(len(key)) + byteIdx + 1); err != nil {
		return 0, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	var cur []byte
	switch {
	case e == nil:
		e = sh.insert(key, h)
	case e.hash() != nil:
		return 0, ErrWrongType
	default:
		cur = e.str()
	}
	old, want := bitAt(cur, offset), 0
	if on {
		want = 1
	}
	if old != want || byteIdx >= int64(len(cur)) {
		sh.setBit(e, offset, on)
		// As Redis: a bit set to what it was changes nothing, and tells
		// no watcher or subscriber.
		s.notify(EventString, eventSetBit, key)
	} else {
		// Redis still makes the string raw (see strForm).
		e.setForm(formRaw)
	}
	return old, nil
}

// setBit sets or clears the bit at offset of e's string. A bit past the
// end grows the string as APPEND does: zero bytes in the spare capacity
// when there is enough, past every reader's length, else in a larger
// buffer. A bit within the string flips in place when its buffer was never
// handed out, else in a copy. Lock held.
func (sh *shard) setBit(e *entry, offset int64, on bool) {
	cur := e.str()
	i := int(offset / bitsPerByte)
	var v []byte
	switch {
	case i >= len(cur):
		v = slices.Grow(cur, i+1-len(cur))[:i+1]
		clear(v[len(cur):])
	case e.shared():
		v = bytes.Clone(cur)
	default:
		v = cur
	}
	mask := byte(1) << (bitsPerByte - 1 - offset%bitsPerByte)
	if on {
		v[i] |= mask
	} else {
		v[i] &^= mask
	}
	sh.setStr(e, v, formRaw)
}

// BitCount counts the set bits of the string at key within r.
func (s *Store) BitCount(key []byte, r BitRange) (int64, error) {
	n := int64(0)
	err := s.withString(key, func(v []byte, _ bool) { n = countBits(v, r) })
	return n, err
}

func countBits(b []byte, r BitRange) int64 {
	from, to, ok := r.span(int64(len(b)))
	if !ok {
		return 0
	}
	n := int64(0)
	for from <= to && from%bitsPerByte != 0 {
		n += int64(bitAt(b, from))
		from++
	}
	for ; from+bitsPerByte-1 <= to; from += bitsPerByte {
		n += int64(bits.OnesCount8(b[from/bitsPerByte]))
	}
	for ; from <= to; from++ {
		n += int64(bitAt(b, from))
	}
	return n
}

// BitPos returns the offset of the first bit equal to bit in the string at
// key within r, or -1, as Redis does: looking for a 0 without an explicit
// end, the string reads as followed by zero bits, so a string of ones
// answers the bit after its end; a missing key is all zeros.
func (s *Store) BitPos(key []byte, bit int, r BitRange) (int64, error) {
	pos := int64(0)
	err := s.withString(key, func(v []byte, found bool) {
		switch {
		case found:
			pos = findBit(v, bit, r)
		case bit == 1:
			pos = -1
		}
	})
	return pos, err
}

func findBit(b []byte, bit int, r BitRange) int64 {
	from, to, ok := r.span(int64(len(b)))
	if !ok {
		return -1
	}
	// Whole bytes without the bit looked for are skipped at once.
	skip := byte(0)
	if bit == 0 {
		skip = 0xff
	}
	for i := from; i <= to; {
		if i%bitsPerByte == 0 && i+bitsPerByte-1 <= to && b[i/bitsPerByte] == skip {
			i += bitsPerByte
			continue
		}
		if bitAt(b, i) == bit {
			return i
		}
		i++
	}
	if bit == 0 && (r.Whole || r.NoEnd) {
		return to + 1
	}
	return -1
}

// BitOpStore computes op over the strings at srcs (missing keys read as
// empty strings, shorter ones as padded with zero bytes) and stores the
// result at dest, without a TTL; an empty result deletes dest. It returns
// the result's length. BitNot takes exactly one source.
func (s *Store) BitOpStore(op BitOp, dest []byte, srcs [][]byte) (int, error) {
	if len(srcs) == 0 || op > BitNot || (op == BitNot && len(srcs) != 1) {
		return 0, ErrBitOp
	}
	if err := checkKey(dest); err != nil {
		return 0, err
	}
	if err := s.reserve(entryOverhead + int64(len(dest))); err != nil {
		return 0, err
	}
	clk := s.clock()
	keys := append([][]byte{dest}, srcs...)
	m := s.lockKeys(keys)
	defer m.unlock()
	vals := make([][]byte, len(srcs))
	size := 0
	for i, k := range srcs {
		e := m.shard(i+1).get(k, m.hashes[i+1], &clk)
		switch {
		case e == nil:
		case e.hash() != nil:
			return 0, ErrWrongType
		default:
			vals[i] = e.str()
		}
		size = max(size, len(vals[i]))
	}
	dsh, dh := m.shard(0), m.hashes[0]
	d := dsh.get(dest, dh, &clk)
	if size == 0 {
		if d != nil {
			dsh.delete(d)
		}
		return 0, nil
	}
	out := make([]byte, size)
	copy(out, vals[0])
	for i := range out {
		switch op {
		case BitNot:
			out[i] = ^out[i]
		case BitAnd:
			for _, v := range vals[1:] {
				out[i] &= byteAt(v, i)
			}
		case BitOr:
			for _, v := range vals[1:] {
				out[i] |= byteAt(v, i)
			}
		case BitXor:
			for _, v := range vals[1:] {
				out[i] ^= byteAt(v, i)
			}
		}
	}
	if d == nil {
		d = dsh.insert(dest, dh)
	}
	dsh.setStr(d, out, formRaw)
	dsh.clearTTL(d)
	s.notify(EventString, eventSet, dest)
	return size, nil
}

func byteAt(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}
