package store

import (
	"bytes"
	"math/big"
	"strings"
)

// Redis computes INCRBYFLOAT and HINCRBYFLOAT in the C long double, an
// 80-bit x87 float on the platforms it ships for, and prints the result
// with "%.17Lf" before trimming trailing zeros. The store does the same
// arithmetic with big.Float at that precision and range, so that 0.1 + 0.2
// is stored as "0.3", exactly as Redis stores it.
const (
	longDoublePrec = 64 // mantissa bits of the x87 extended format
	// longDoubleMaxExp and longDoubleMinExp bound big.Float's MantExp
	// (x = mant * 2^exp, 0.5 <= |mant| < 1) for finite long doubles,
	// subnormals included.
	longDoubleMaxExp = 16384
	longDoubleMinExp = -16444
	// incrFloatDecimals are the decimals Redis prints before trimming.
	incrFloatDecimals = 17
)

// parseLongDouble parses b as Redis's string2ld does (strtold): decimal or
// hexadecimal, "inf" and "infinity" in any case with an optional sign; no
// spaces, no NaN, no binary or octal prefix (which big.ParseFloat would
// take), nothing that overflows or underflows the long double.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= maxFloatLen || isSpace(b[0]) || bytes.IndexByte(b, '_') >= 0 {
		return nil, false
	}
	s := string(b)
	unsigned := s
	if s[0] == '+' || s[0] == '-' {
		unsigned = s[1:]
	}
	unsigned = strings.ToLower(unsigned)
	switch {
	case unsigned == "inf" || unsigned == "infinity":
		return new(big.Float).SetInf(s[0] == '-'), true
	case unsigned == "nan", strings.HasPrefix(unsigned, "0b"), strings.HasPrefix(unsigned, "0o"):
		return nil, false
	}
	f, _, err := big.ParseFloat(s, 0, longDoublePrec, big.ToNearestEven)
	if err != nil || !inLongDoubleRange(f) {
		return nil, false
	}
	return f, true
}

// inLongDoubleRange reports whether a finite f neither overflows nor
// underflows the long double.
func inLongDoubleRange(f *big.Float) bool {
	if f.IsInf() || f.Sign() == 0 {
		return true
	}
	exp := f.MantExp(nil)
	return exp <= longDoubleMaxExp && exp >= longDoubleMinExp
}

// addLongDouble returns cur + incr, or ErrNaN when the sum is infinite, as
// Redis refuses it.
func addLongDouble(cur, incr *big.Float) (*big.Float, error) {
	if incr.IsInf() || cur.IsInf() {
		return nil, ErrNaN
	}
	sum := new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven).Add(cur, incr)
	if sum.MantExp(nil) > longDoubleMaxExp {
		return nil, ErrNaN
	}
	return sum, nil
}

// formatLongDouble returns the text Redis stores for f: "%.17Lf" with the
// trailing zeros and point removed, and "0" rather than "-0".
func formatLongDouble(f *big.Float) []byte {
	b := f.Append(nil, 'f', incrFloatDecimals)
	if bytes.IndexByte(b, '.') >= 0 {
		b = bytes.TrimRight(b, "0")
		b = bytes.TrimSuffix(b, []byte("."))
	}
	if string(b) == "-0" {
		b = b[1:]
	}
	return b
}

// zeroLongDouble is the value of a missing key or field.
func zeroLongDouble() *big.Float { return new(big.Float).SetPrec(longDoublePrec) }
