package store

import (
	"bytes"
	"math"
	"strconv"
)

const (
	maxInt64 = math.MaxInt64
	minInt64 = math.MinInt64
	// maxInt64Len is the length of the longest decimal int64, "-9223372036854775808".
	maxInt64Len = 20
	// maxFloatLen bounds the text Redis accepts as a float (MAX_LONG_DOUBLE_CHARS).
	maxFloatLen = 5 * 1024
)

// IncrBy adds delta to the integer at key (0 when missing) and returns the
// result. The TTL is kept.
func (s *Store) IncrBy(key []byte, delta int64) (int64, error) {
	if err := s.reserve(entryOverhead + int64(len(key)) + maxInt64Len); err != nil {
		return 0, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	cur := int64(0)
	if e != nil {
		if e.hash != nil {
			return 0, ErrWrongType
		}
		v, ok := parseInt(e.str)
		if !ok {
			return 0, ErrNotInteger
		}
		cur = v
	}
	n, ok := addInt(cur, delta)
	if !ok {
		return 0, ErrOverflow
	}
	if e == nil {
		e = sh.insert(key, h)
	}
	sh.setStr(e, formatInt(n))
	return n, nil
}

// IncrByFloat adds delta to the number at key (0 when missing) and returns
// the stored text. The TTL is kept.
func (s *Store) IncrByFloat(key []byte, delta float64) ([]byte, error) {
	if err := s.reserve(entryOverhead + int64(len(key)) + maxFloatText); err != nil {
		return nil, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	cur := 0.0
	if e != nil {
		if e.hash != nil {
			return nil, ErrWrongType
		}
		v, ok := parseFloat(e.str)
		if !ok {
			return nil, ErrNotFloat
		}
		cur = v
	}
	r := cur + delta
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return nil, ErrNaN
	}
	if e == nil {
		e = sh.insert(key, h)
	}
	v := formatFloat(r)
	sh.setStr(e, v)
	return view(v), nil
}

// maxFloatText is the longest text formatFloat produces ('f' format of the
// largest float64: 309 digits), used to reserve memory.
const maxFloatText = 330

// parseInt parses b exactly as Redis's string2ll: an optional '-', no '+',
// no spaces, no leading zeros (except "0" itself), no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxInt64Len {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	switch {
	case neg && v > 1<<63:
		return 0, false
	case neg:
		return int64(-v), true
	case v > maxInt64:
		return 0, false
	}
	return int64(v), true
}

// parseFloat parses b as Redis's string2ld does: no leading space, no
// trailing bytes, no NaN, no overflow to infinity; "inf" is accepted.
func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) >= maxFloatLen || isSpace(b[0]) || bytes.IndexByte(b, '_') >= 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// addInt returns a+b and whether it did not overflow.
func addInt(a, b int64) (int64, bool) {
	if (b > 0 && a > maxInt64-b) || (b < 0 && a < minInt64-b) {
		return 0, false
	}
	return a + b, true
}

// formatInt returns the decimal text of n in a buffer the store owns.
func formatInt(n int64) []byte {
	var buf [maxInt64Len]byte
	return clone(strconv.AppendInt(buf[:0], n, 10))
}

// formatFloat returns the text Redis stores for an INCRBYFLOAT result: no
// exponent, no trailing zeros, and "0" rather than "-0".
func formatFloat(f float64) []byte {
	var buf [maxFloatText]byte
	b := strconv.AppendFloat(buf[:0], f, 'f', -1, 64)
	if string(b) == "-0" {
		b = b[1:]
	}
	return clone(b)
}
