// Package number parses integers exactly as Redis does, for the protocol
// reader, the command arguments and the values the store keeps.
package number

import "math"

// maxInt64Digits bounds the text of a 64-bit integer, sign included.
const maxInt64Digits = 20

// ParseInt parses a 64-bit integer as strictly as Redis's string2ll: an
// optional minus, digits, no spaces, no plus sign, no leading zeros.
func ParseInt(b []byte) (int64, bool) {
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
