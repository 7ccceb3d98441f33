package number

import (
	"math"
	"testing"
)

func TestParseInt(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1": 1, "-1": -1, "42": 42,
		"9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64,
	}
	for in, want := range good {
		if got, ok := ParseInt([]byte(in)); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "-", "+1", " 1", "1 ", "01", "-0", "00", "1.0", "1e3", "abc", "0x10",
		"9223372036854775808", "-9223372036854775809", "99999999999999999999", "123456789012345678901",
	} {
		if got, ok := ParseInt([]byte(in)); ok {
			t.Errorf("%q: accepted as %d", in, got)
		}
	}
}
