package store

import (
	"bytes"
	"math"

	"nexo/internal/glob"
)

// SCAN and HSCAN walk slot arrays whose elements never move (see slots).
// A SCAN cursor is the shard index in its upper 32 bits and the slot
// position in its lower 32 bits; an HSCAN cursor is the field position.
// Cursor 0 starts an iteration and is returned when it is complete. Every
// key present for the whole iteration is returned exactly once; keys added
// or removed meanwhile may or may not be.
const (
	// defaultScanCount is the COUNT of a SCAN that gives none.
	defaultScanCount = 10
	// scanEmptyFactor bounds the work of one call to count*scanEmptyFactor
	// positions (holes and empty shards included), like Redis's limit on
	// empty buckets visited.
	scanEmptyFactor = 10
	// cursorShardShift places the shard index in a SCAN cursor.
	cursorShardShift = 32
)

// matchAll reports whether a MATCH pattern accepts every name. Redis treats
// "*" this way, so it also matches the empty name.
func matchAll(pattern []byte) bool {
	return pattern == nil || string(pattern) == "*"
}

// scanBudget is the number of positions one call with this count may visit.
func scanBudget(count int) int {
	if count > math.MaxInt/scanEmptyFactor {
		return math.MaxInt
	}
	return count * scanEmptyFactor
}

// Scan returns the next keys of the iteration at cursor and the cursor to
// continue with (0 when complete). match filters keys with a Redis glob (nil
// = all), typ by type name ("" = any). count is a hint of how many keys one
// call looks at; count <= 0 uses the default.
func (s *Store) Scan(cursor uint64, match []byte, count int, typ string) (uint64, [][]byte) {
	if count <= 0 {
		count = defaultScanCount
	}
	si, pos := int(cursor>>cursorShardShift), int(uint32(cursor))
	if si >= len(s.shards) {
		return 0, nil
	}
	all := matchAll(match)
	var out [][]byte
	seen, budget := 0, scanBudget(count)
	for ; si < len(s.shards); si, pos = si+1, 0 {
		sh := &s.shards[si]
		if sh.count.Load() == 0 {
			// A shard empty now holds no key present for the whole
			// iteration: skip it without locking or charging the budget.
			continue
		}
		clk := s.clock()
		sh.mu.Lock()
		// The length is re-read each step: removing an expired key may trim
		// trailing holes.
		for ; pos < sh.entries.len() && seen < count && budget > 0; pos++ {
			budget--
			e := sh.entries.get(pos)
			if e == nil {
				continue
			}
			seen++
			if sh.isExpired(e, &clk) {
				sh.reclaim(e, sh.bucketOf(e))
				continue
			}
			if (typ == "" || typ == typeName(e)) && (all || glob.Match(match, e.key())) {
				out = append(out, bytes.Clone(e.key()))
			}
		}
		more := pos < sh.entries.len()
		sh.mu.Unlock()
		if more {
			return uint64(si)<<cursorShardShift | uint64(pos), out
		}
		budget--
		if seen >= count || budget <= 0 {
			if si+1 == len(s.shards) {
				return 0, out
			}
			return uint64(si+1) << cursorShardShift, out
		}
	}
	return 0, out
}

// Keys returns every live key matching pattern.
func (s *Store) Keys(pattern []byte) [][]byte {
	all := matchAll(pattern)
	var out [][]byte
	for i := range s.shards {
		sh := &s.shards[i]
		clk := s.clock()
		sh.mu.Lock()
		for pos := 0; pos < sh.entries.len(); pos++ {
			e := sh.entries.get(pos)
			switch {
			case e == nil:
			case sh.isExpired(e, &clk):
				sh.reclaim(e, sh.bucketOf(e))
			case all || glob.Match(pattern, e.key()):
				out = append(out, bytes.Clone(e.key()))
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// HScan returns field, value pairs of the hash at key from cursor, and the
// cursor to continue with (0 when complete). A small hash is returned whole
// with cursor 0, as Redis does.
func (s *Store) HScan(key []byte, cursor uint64, match []byte, count int) (uint64, [][]byte, error) {
	if count <= 0 {
		count = defaultScanCount
	}
	all := matchAll(match)
	var out [][]byte
	next := uint64(0)
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv == nil {
			return nil
		}
		items := hv.fields.items
		pos, end := 0, len(items)
		if hv.index != nil {
			pos = int(min(cursor, uint64(len(items))))
			seen, budget := 0, scanBudget(count)
			for end = pos; end < len(items) && seen < count && budget > 0; end++ {
				budget--
				if !items[end].isHole() {
					seen++
				}
			}
			if end < len(items) {
				next = uint64(end)
			}
		}
		for _, f := range items[pos:end] {
			if !f.isHole() && (all || glob.Match(match, []byte(f.name))) {
				out = append(out, []byte(f.name), view(f.val))
			}
		}
		return nil
	})
	return next, out, err
}
