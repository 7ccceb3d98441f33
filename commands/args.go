package commands

import (
	"bytes"
	"math"
	"strconv"
	"strings"
)

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
