// Package glob implements Redis glob-style pattern matching, as used by
// KEYS, SCAN MATCH, HSCAN MATCH and PSUBSCRIBE.
//
// The semantics are those of Redis's stringmatchlen (case-sensitive):
//
//   - '*' matches any sequence of bytes, '?' matches exactly one byte;
//   - '[abc]' matches one byte of the set, '[^abc]' one byte outside it,
//     '[a-z]' a range (a reversed range such as '[z-a]' is the same range),
//     '\x' inside a set matches x literally; an unterminated set extends to
//     the end of the pattern;
//   - '\x' outside a set matches x literally; a trailing '\' matches '\';
//   - an empty string is matched only by an empty pattern;
//   - a pattern that has to go past its maxStarGroups-th group of '*' while
//     bytes remain never matches (Redis's protection against abusive
//     patterns).
//
// Range bounds compare bytes as signed chars, as Redis does on x86-64 and
// most other platforms it is built for: a byte >= 0x80 sorts below 0x00.
package glob

// maxStarGroups is the number of '*' groups a match may pass before it is
// abandoned; Redis stops recursing at the same depth.
const maxStarGroups = 1000

// Match reports whether s matches pattern.
//
// It runs in O(len(pattern) * len(s)) time without recursion or allocation:
// every token other than '*' consumes exactly one byte, so on a mismatch it is
// enough to retry from the most recent '*', letting it absorb one more byte
// (the classic two-pointer wildcard algorithm).
func Match(pattern, s []byte) bool {
	if len(s) == 0 {
		return len(pattern) == 0
	}
	p, i := 0, 0
	starP, starI := -1, 0 // pattern position after the last '*' group, and where it started absorbing
	groups := 0
	for i < len(s) {
		if p < len(pattern) && pattern[p] == '*' {
			for p < len(pattern) && pattern[p] == '*' {
				p++
			}
			if p == len(pattern) {
				return true
			}
			groups++
			if groups > maxStarGroups {
				return false
			}
			starP, starI = p, i
			continue
		}
		if p < len(pattern) {
			if next, ok := matchToken(pattern, p, s[i]); ok {
				p, i = next, i+1
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchToken matches the single-byte token at pattern[p] (anything but '*')
// against c and returns the position after the token.
func matchToken(pattern []byte, p int, c byte) (int, bool) {
	switch pattern[p] {
	case '?':
		return p + 1, true
	case '[':
		return matchSet(pattern, p+1, c)
	case '\\':
		if p+1 < len(pattern) {
			p++
		}
	}
	return p + 1, pattern[p] == c
}

// matchSet matches c against the set that starts at pattern[p], just after
// its '[', and returns the position after the set.
func matchSet(pattern []byte, p int, c byte) (int, bool) {
	negate := p < len(pattern) && pattern[p] == '^'
	if negate {
		p++
	}
	match := false
loop:
	for ; ; p++ {
		switch {
		case remains(pattern, p, 2) && pattern[p] == '\\':
			p++
			if pattern[p] == c {
				match = true
			}
		case p < len(pattern) && pattern[p] == ']':
			break loop
		case p >= len(pattern):
			// Unterminated set: it ends with the pattern.
			p--
			break loop
		case remains(pattern, p, 3) && pattern[p+1] == '-':
			lo, hi := int8(pattern[p]), int8(pattern[p+2])
			if lo > hi {
				lo, hi = hi, lo
			}
			if v := int8(c); v >= lo && v <= hi {
				match = true
			}
			p += 2
		case pattern[p] == c:
			match = true
		}
	}
	return p + 1, match != negate
}

// remains reports whether at least n bytes remain at pattern[p:].
func remains(pattern []byte, p, n int) bool {
	return len(pattern)-p >= n
}
