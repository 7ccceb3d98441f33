package commands

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

// maxInt64Digits bounds the text of a 64-bit integer, sign included.
const maxInt64Digits = 20

// parseInt parses a 64-bit integer as strictly as Redis's string2ll: an
// optional minus, digits, no spaces, no plus sign, no leading zeros.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxInt64Digits {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	var u uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	switch {
	case neg && u <= uint64(math.MaxInt64)+1:
		return int64(-u), true
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	}
	return 0, false
}

// parseFloat parses a float as Redis does for INCRBYFLOAT and friends: no
// spaces, no NaN; "inf" and "-inf" are numbers.
func parseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || b[0] == ' ' || b[len(b)-1] == ' ' || bytes.ContainsRune(b, '_') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// is reports whether an argument is the option word (any letter case).
func is(arg []byte, word string) bool {
	return len(arg) == len(word) && strings.EqualFold(string(arg), word)
}
