package store

import (
	"math"
	"strconv"

	"nexo/internal/number"
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
	if err := checkKey(key); err != nil {
		return 0, err
	}
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
		if e.hash() != nil {
			return 0, ErrWrongType
		}
		v, ok := number.ParseInt(e.str())
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
	sh.setStr(e, formatInt(n), formWhole)
	s.notify(EventString, eventIncrBy, key)
	return n, nil
}

// IncrByFloat adds the number incr (text, parsed as Redis parses it) to
// the number at key (0 when missing) and returns the stored text. The TTL
// is kept.
func (s *Store) IncrByFloat(key, incr []byte) ([]byte, error) {
	delta, ok := parseLongDouble(incr)
	if !ok {
		// As Redis: a key of another type answers that first.
		if s.isHash(key) {
			return nil, ErrWrongType
		}
		return nil, ErrNotFloat
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := s.reserve(entryOverhead + int64(len(key)) + maxFloatLen); err != nil {
		return nil, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	cur := zeroLongDouble()
	if e != nil {
		if e.hash() != nil {
			return nil, ErrWrongType
		}
		if cur, ok = parseLongDouble(e.str()); !ok {
			return nil, ErrNotFloat
		}
	}
	r, err := addLongDouble(cur, delta)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = sh.insert(key, h)
	}
	sh.setStr(e, formatLongDouble(r), formText)
	s.notify(EventString, eventIncrByFloat, key)
	return e.handOut(), nil
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
