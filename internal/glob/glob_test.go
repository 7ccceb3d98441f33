package glob_test

import (
	"strings"
	"testing"

	"nexo/internal/glob"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		// Literals, '?' and '*'.
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		{"?", "a", true},
		{"?", "", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "anything", true},
		{"*", "", false}, // Redis: an empty string only matches an empty pattern
		{"**", "", false},
		{"a*", "a", true},
		{"a**", "a", true},
		{"*a", "a", true},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"user:*:name", "user:42:name", true},
		{"user:*:name", "user:42:email", false},
		{"*x*y*z*", "axbyczd", true},
		{"*?", "a", true},
		{"?*", "a", true},
		{"h?llo", "hello", true},
		{"h*llo", "heeeello", true},
		// Sets.
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[a-b]llo", "hcllo", false},
		{"[z-a]", "m", true},   // reversed range
		{"[a-c-e]", "-", true}, // after the range a-c, "-e" is two literals
		{"[a-c-e]", "e", true},
		{"[a-c-e]", "d", false},
		{"[-a]", "-", true},
		{"[]", "]", false},   // "[]" is an empty set
		{"[]]", "]", false},  // ... followed by a literal ']'
		{"[]]", "]]", false}, // the empty set never matches
		{"[^]", "x", true},   // negated empty set matches any byte
		{"[a-]", "]", true},  // "a-]" is the range ']'..'a'; the set is unterminated
		{"[a-]", "-", false},
		{"[\\]]", "]", true},
		{"[\\-]", "-", true},
		{"[a\\-z]", "b", false},
		{"[", "[", false}, // unterminated empty set
		{"[^", "x", true}, // unterminated negated empty set
		{"[ab", "b", true},
		{"[ab", "c", false},
		{"[ab", "ab", false},
		{"[\\", "\\", true},
		{"[\x80-\x01]", "\x00", true}, // signed bytes: 0x80 sorts below 0x00
		{"[\x80-\x01]", "\x7f", false},
		{"[\x00-\xff]", "a", false}, // 0xff is -1: the range is -1..0
		{"[\x00-\xff]", "\xff", true},
		// Escapes.
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"\\?", "?", true},
		{"\\[a]", "[a]", true},
		{"a\\", "a\\", true},
		{"\\", "\\", true},
		{"\\\\", "\\", true},
		{"a*\\", "ab\\", true},
		{"a\\*", "a", false},
		// Binary bytes.
		{"\x00*", "\x00\x01", true},
		{"*\xff", "a\xff", true},
	}
	for _, tt := range tests {
		if got := glob.Match([]byte(tt.pattern), []byte(tt.s)); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
		if got := redisMatch([]byte(tt.pattern), []byte(tt.s)); got != tt.want {
			t.Errorf("reference(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestMatchPathological(t *testing.T) {
	s := []byte(strings.Repeat("a", 10000))
	// Exponential for a naive backtracking matcher; quadratic at worst here.
	p := []byte(strings.Repeat("*a", 500) + "b")
	if glob.Match(p, s) {
		t.Fatal("matched a pattern that needs a 'b'")
	}
	// Redis gives up past 1000 groups of '*' unless the last one ends the pattern.
	long := []byte(strings.Repeat("*a", 1000))
	if !glob.Match(long, s) {
		t.Fatal("1000 groups of '*' should match")
	}
	if !glob.Match(append(append([]byte{}, long...), '*'), s) {
		t.Fatal("a trailing 1001st '*' should match")
	}
	if glob.Match([]byte(strings.Repeat("*a", 1001)), s) {
		t.Fatal("1001 groups of '*' followed by more pattern must not match, as in Redis")
	}
}

func FuzzMatch(f *testing.F) {
	for _, seed := range [][2]string{
		{"h*llo", "hello"},
		{"h[^e]llo", "hallo"},
		{"[a-]x", "]x"},
		{"*\\*[z-a]?", "k*m!"},
		{"[\\", "\\"},
		{"a*b*c*d", "aXbYcZd"},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, pattern, s []byte) {
		// The reference implementation recurses once per '*'; keep it cheap.
		if len(pattern) > 64 || len(s) > 64 {
			return
		}
		if got, want := glob.Match(pattern, s), redisMatch(pattern, s); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, s, got, want)
		}
	})
}

// redisMatch is a direct recursive transcription of Redis's
// stringmatchlen_impl (case-sensitive), used as the oracle. at(p, i) returns
// 0 past the end, like the NUL terminator the C code reads there.
func redisMatch(pattern, s []byte) bool {
	skipLonger := false
	return redisMatchImpl(pattern, s, &skipLonger, 0)
}

func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

func redisMatchImpl(p, s []byte, skipLonger *bool, nesting int) bool {
	if nesting > 1000 {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && at(p, 1) == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if redisMatchImpl(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			// i indexes p, which still starts with '['; like the C pointer it
			// may step one past the end and back.
			i := 1
			not := at(p, i) == '^'
			if not {
				i++
			}
			match := false
			for {
				if at(p, i) == '\\' && len(p)-i >= 2 {
					i++
					if p[i] == s[0] {
						match = true
					}
				} else if i < len(p) && p[i] == ']' {
					break
				} else if len(p)-i == 0 {
					i--
					break
				} else if len(p)-i >= 3 && p[i+1] == '-' {
					start, end, c := int(int8(p[i])), int(int8(p[i+2])), int(int8(s[0]))
					if start > end {
						start, end = end, start
					}
					i += 2
					if c >= start && c <= end {
						match = true
					}
				} else if p[i] == s[0] {
					match = true
				}
				i++
			}
			p = p[i:]
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

func TestReferenceAgreesOnCorpusShapes(t *testing.T) {
	// Every pattern shape against every string shape, both implementations.
	parts := []string{"", "a", "*", "?", "[", "]", "^", "-", "\\", "b", "\xff"}
	var pats [][]byte
	for _, x := range parts {
		for _, y := range parts {
			for _, z := range parts {
				pats = append(pats, []byte(x+y+z))
			}
		}
	}
	strs := [][]byte{{}, []byte("a"), []byte("b"), []byte("ab"), []byte("]"), []byte("-"), []byte("\\"), []byte("\xff"), []byte("a]"), []byte("*")}
	for _, p := range pats {
		for _, s := range strs {
			if got, want := glob.Match(p, s), redisMatch(p, s); got != want {
				t.Errorf("Match(%q, %q) = %v, reference says %v", p, s, got, want)
			}
		}
	}
}
