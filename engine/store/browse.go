package store

import (
	"bytes"
	"math"

	"nexo/internal/glob"
)

// Browsing is for inspection tools such as the dashboard: it reports keys
// with their type, TTL, size and a bounded preview of their value. It does
// not count as an access: LRU clocks, keyspace hits and misses are left as
// they are, so looking at the store does not change what it evicts.
const (
	// browseVisitFactor bounds the slot positions one Browse call visits to
	// count*browseVisitFactor, so that a pattern matching few keys returns a
	// short page and a cursor instead of walking the whole keyspace at once.
	browseVisitFactor = 100
	// browseLockBatch is the most slot positions visited under one hold of a
	// shard's lock: browsing a huge shard never stalls the commands of that
	// shard for longer than this many positions.
	browseLockBatch = 256
)

// Preview bounds how much of a value a KeyInfo carries.
type Preview struct {
	Bytes  int // of a string value, and of each hash field's name and value
	Fields int // hash fields
}

// KeyInfo describes one key as an inspection tool shows it.
type KeyInfo struct {
	Key    []byte
	Type   string // "string" or "hash"
	PTTL   int64  // remaining TTL in ms; -1 without a TTL
	Len    int64  // string: bytes; hash: fields
	Memory int64  // accounted bytes: key, value and the per-key overhead
	// Value is the first Preview.Bytes bytes of a string value; nil for a hash.
	Value []byte
	// Fields are the first Preview.Fields fields of a hash, in HSCAN order.
	Fields []FieldInfo
}

// FieldInfo is one hash field of a KeyInfo, cut to Preview.Bytes.
type FieldInfo struct {
	Name, Value       []byte
	NameLen, ValueLen int // full lengths
}

// Browse returns up to count live keys matching match (a Redis glob; nil =
// all) from cursor, each described with a preview bounded by p, and the
// cursor to continue with (0 when the walk is complete). Cursors are SCAN's
// and so are the guarantees: every key present for a whole walk is returned
// exactly once. Unlike SCAN's hint, count bounds the keys returned; one call
// visits at most count*browseVisitFactor positions, so a page may be short
// with a non-zero cursor. count <= 0 uses SCAN's default. The store's values
// are handed out under the copy-on-write invariant (see entry).
func (s *Store) Browse(cursor uint64, match []byte, count int, p Preview) (uint64, []KeyInfo) {
	if count <= 0 {
		count = defaultScanCount
	}
	si, pos := int(cursor>>cursorShardShift), int(uint32(cursor))
	if si >= len(s.shards) {
		return 0, nil
	}
	all := matchAll(match)
	budget := math.MaxInt
	if count <= math.MaxInt/browseVisitFactor {
		budget = count * browseVisitFactor
	}
	var out []KeyInfo
	for ; si < len(s.shards); si, pos = si+1, 0 {
		sh := &s.shards[si]
		if sh.count.Load() == 0 {
			// As in Scan: a shard empty now holds no key present for the
			// whole walk.
			continue
		}
		for more := true; more; {
			clk := s.clock()
			sh.mu.Lock()
			// The length is re-read each step: removing an expired key may
			// trim trailing holes.
			for batch := 0; pos < sh.entries.len() && batch < browseLockBatch && len(out) < count && budget > 0; pos++ {
				batch++
				budget--
				e := sh.entries.get(pos)
				switch {
				case e == nil:
				case sh.isExpired(e, &clk):
					sh.reclaim(e, sh.bucketOf(e))
				case all || glob.Match(match, e.key()):
					out = append(out, sh.info(e, &clk, p))
				}
			}
			more = pos < sh.entries.len()
			sh.mu.Unlock()
			if more && (len(out) >= count || budget <= 0) {
				return uint64(si)<<cursorShardShift | uint64(pos), out
			}
		}
		if len(out) >= count || budget <= 0 {
			if si+1 == len(s.shards) {
				return 0, out
			}
			return uint64(si+1) << cursorShardShift, out
		}
	}
	return 0, out
}

// Inspect describes key with a preview bounded by p, and reports whether
// the key exists. Like Browse, it does not count as an access.
func (s *Store) Inspect(key []byte, p Preview) (KeyInfo, bool) {
	var ki KeyInfo
	ok := s.inspect(key, func(sh *shard, e *entry, clk *clock) { ki = sh.info(e, clk, p) })
	return ki, ok
}

// Present reports whether key exists. Like Inspect, it does not count as
// an access.
func (s *Store) Present(key []byte) bool {
	return s.inspect(key, func(*shard, *entry, *clock) {})
}

// inspect runs fn on key's entry under its shard's lock, without counting
// an access, and reports whether the key exists.
func (s *Store) inspect(key []byte, fn func(sh *shard, e *entry, clk *clock)) bool {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.peek(key, h, &clk)
	if e != nil {
		fn(sh, e, &clk)
	}
	return e != nil
}

// info describes e. Lock held.
func (sh *shard) info(e *entry, clk *clock, p Preview) KeyInfo {
	ki := KeyInfo{Key: bytes.Clone(e.key()), Type: typeName(e), PTTL: -1, Memory: e.size()}
	if at, ok := sh.deadline(e); ok {
		ki.PTTL = max(at-clk.now(), 0)
	}
	hv := e.hash()
	if hv == nil {
		str := e.handOut()
		ki.Len = int64(len(str))
		ki.Value = view(str[:cut(len(str), p.Bytes)])
		return ki
	}
	ki.Len = int64(hv.fields.live)
	ki.Fields = make([]FieldInfo, 0, cut(hv.fields.live, p.Fields))
	for _, f := range hv.fields.items {
		if len(ki.Fields) >= p.Fields {
			break
		}
		if f.isHole() {
			continue
		}
		ki.Fields = append(ki.Fields, FieldInfo{
			Name:     []byte(f.name[:cut(len(f.name), p.Bytes)]),
			Value:    view(f.val[:cut(len(f.val), p.Bytes)]),
			NameLen:  len(f.name),
			ValueLen: len(f.val),
		})
	}
	return ki
}

// cut is the length of a preview of n items bounded by limit (< 0 as 0).
func cut(n, limit int) int {
	return max(min(n, limit), 0)
}
