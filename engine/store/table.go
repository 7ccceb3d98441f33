package store

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Accounting and sizing constants.
const (
	// entryOverhead is the accounted per-key cost on top of key and value
	// bytes: the 64-byte entry, and its index bucket with the empty buckets
	// around it (a quarter to five eighths of the index is empty). A short
	// key, counted on top though its entry holds it, stands for the
	// rounding of the value's allocation to its size class.
	entryOverhead = 80
	// minIndexSize is the smallest non-empty index of a shard.
	minIndexSize = 8
	// minSlotsCap is the capacity below which slot, TTL and free arrays are
	// not shrunk.
	minSlotsCap = 64
	// freeSlack is how many stale free-list positions are tolerated beyond
	// twice the number of real holes before the free list is rebuilt.
	freeSlack = 64
	// cacheLinePad separates neighbouring shards' mutexes.
	cacheLinePad = 64
	// entryPageLen is the number of entries of a page. A page holds
	// pointers and is larger than 512 bytes, so Go puts an 8-byte header
	// in front of it: 63 entries and the header fill a 4 KiB size class
	// (64 would take the next one, 4864 bytes). Small enough that a shard
	// with few keys wastes little, large enough that the page table of a
	// shard with a million keys stays in the cache. Divisions by it
	// compile to multiplications.
	entryPageLen = 63
)

// ttlRef is a key with a TTL. The deadline lives here rather than in the
// entry: only keys with a TTL pay for it, and expiry sampling reads
// deadlines without touching the entries.
type ttlRef struct {
	e  *entry
	at int64 // unix ms; the key is expired once now > at
}

// shard is one partition of the keyspace. Fields below mu are guarded by it;
// the atomic counters are written under mu and read without it.
type shard struct {
	mu    sync.Mutex
	store *Store
	// index is an open-addressing hash table with linear probing. A bucket
	// holds the key's 32-bit hash in its upper half and 1 + the slot
	// position in its lower half; 0 is empty. Keeping the hash in the bucket
	// lets probes skip non-matching keys without touching their entries.
	index   []uint64
	entries entrySlots
	ttls    []ttlRef
	// tick is the shard's LRU clock: it counts key accesses. Eviction
	// compares keys of one shard only, so a logical clock per shard orders
	// accesses exactly without reading the time. Idle times are compared
	// by wrapping subtraction, exact below 2^32 accesses.
	tick uint32

	count    atomic.Int64 // keys
	volatile atomic.Int64 // keys with a TTL
	hits     atomic.Int64
	misses   atomic.Int64
	expired  atomic.Int64
	evicted  atomic.Int64

	_ [cacheLinePad]byte
}

// reset empties the shard. Lock held.
func (sh *shard) reset() {
	sh.index = nil
	sh.entries = entrySlots{}
	sh.ttls = nil
	sh.count.Store(0)
	sh.volatile.Store(0)
}

// find returns the entry of key and its bucket, or nil and -1. It does not
// look at expiry. Lock held.
func (sh *shard) find(key []byte, h uint64) (*entry, int) {
	if len(sh.index) == 0 {
		return nil, -1
	}
	h32 := uint32(h)
	mask := len(sh.index) - 1
	for i := int(h32) & mask; ; i = (i + 1) & mask {
		b := sh.index[i]
		if b == 0 {
			return nil, -1
		}
		if uint32(b>>32) == h32 {
			if e := sh.entries.at(uint32(b) - 1); e.keyIs(key) {
				return e, i
			}
		}
	}
}

// bucketOf returns the index bucket of e. Lock held.
func (sh *shard) bucketOf(e *entry) int {
	mask := len(sh.index) - 1
	want := uint64(e.h)<<32 | uint64(e.slot+1)
	for i := int(e.h) & mask; ; i = (i + 1) & mask {
		if sh.index[i] == want {
			return i
		}
	}
}

// get returns the live entry of key, or nil. An expired key is deleted. The
// access clock of a found key is updated. Lock held.
func (sh *shard) get(key []byte, h uint64, clk *clock) *entry {
	e := sh.peek(key, h, clk)
	if e != nil {
		sh.tick++
		if sh.store.policy.LFU() {
			e.access = sh.store.lfuAccess(e.access)
		} else {
			e.access = sh.tick
		}
	}
	return e
}

// peek is get without the access: for inspection, which must not change
// what eviction picks. Lock held.
func (sh *shard) peek(key []byte, h uint64, clk *clock) *entry {
	e, b := sh.find(key, h)
	if e == nil {
		return nil
	}
	if sh.isExpired(e, clk) {
		sh.reclaim(e, b)
		return nil
	}
	return e
}

// read is get for commands that read the key: it counts a keyspace hit or
// miss. Lock held.
func (sh *shard) read(key []byte, h uint64, clk *clock) *entry {
	e := sh.get(key, h, clk)
	if e == nil {
		sh.misses.Add(1)
	} else {
		sh.hits.Add(1)
	}
	return e
}

// insert adds a new key holding the empty string; the caller ensured it is
// absent and at most MaxKeySize bytes, and sets the value. Lock held.
func (sh *shard) insert(key []byte, h uint64) *entry {
	sh.tick++
	if (sh.entries.live+1)*4 > len(sh.index)*3 {
		sh.resizeIndex(max(minIndexSize, len(sh.index)*2))
	}
	e, p := sh.entries.put()
	access := sh.tick
	if sh.store.policy.LFU() {
		access = sh.store.lfuNew()
	}
	*e = entry{h: uint32(h), slot: p, access: access}
	e.setKey(key)
	e.setStrValue([]byte{}, formWhole)
	sh.indexAdd(uint64(e.h)<<32 | uint64(e.slot+1))
	sh.count.Store(int64(sh.entries.live))
	sh.store.used.Add(e.size())
	return e
}

// remove deletes e. Lock held.
func (sh *shard) remove(e *entry) {
	sh.removeAt(e, sh.bucketOf(e))
}

// removeAt deletes e, found at bucket b. e is a hole afterwards: read what
// is needed of it first. Lock held.
func (sh *shard) removeAt(e *entry, b int) {
	sh.indexDelete(b)
	sh.clearTTL(e)
	sh.store.used.Add(-e.size())
	sh.entries.release(e.slot)
	sh.count.Store(int64(sh.entries.live))
	if len(sh.index) > minIndexSize && sh.entries.live*8 < len(sh.index) {
		sh.resizeIndex(len(sh.index) / 2)
	}
}

// setStr makes e a string key holding v, which the store owns, written in
// form f. Lock held.
func (sh *shard) setStr(e *entry, v []byte, f strForm) {
	old := e.size()
	e.setStrValue(v, f)
	sh.store.used.Add(e.size() - old)
}

// indexAdd stores bucket value b in the first free bucket of its probe
// sequence. Lock held.
func (sh *shard) indexAdd(b uint64) {
	mask := len(sh.index) - 1
	i := int(uint32(b>>32)) & mask
	for sh.index[i] != 0 {
		i = (i + 1) & mask
	}
	sh.index[i] = b
}

// indexDelete empties bucket i by backward-shift deletion: later buckets of
// the same cluster move back when that brings them closer to their home
// bucket, so probes never need tombstones. Lock held.
func (sh *shard) indexDelete(i int) {
	mask := len(sh.index) - 1
	for j := (i + 1) & mask; sh.index[j] != 0; j = (j + 1) & mask {
		home := int(uint32(sh.index[j]>>32)) & mask
		// The bucket at j may move to i if i lies on its probe path,
		// that is no further from home than j is.
		if (j-home)&mask >= (j-i)&mask {
			sh.index[i] = sh.index[j]
			i = j
		}
	}
	sh.index[i] = 0
}

// resizeIndex rebuilds the index with size buckets (a power of two). Lock held.
func (sh *shard) resizeIndex(size int) {
	old := sh.index
	sh.index = make([]uint64, size)
	for _, b := range old {
		if b != 0 {
			sh.indexAdd(b)
		}
	}
}

// isExpired reports whether e has a TTL that has passed. Lock held.
func (sh *shard) isExpired(e *entry, clk *clock) bool {
	return e.ttl != 0 && clk.now() > sh.ttls[e.ttl-1].at
}

// deadline returns e's expiry time in unix ms and whether it has one. Lock held.
func (sh *shard) deadline(e *entry) (int64, bool) {
	if e.ttl == 0 {
		return 0, false
	}
	return sh.ttls[e.ttl-1].at, true
}

// setTTL gives e the deadline at (unix ms). Lock held.
func (sh *shard) setTTL(e *entry, at int64) {
	if e.ttl != 0 {
		sh.ttls[e.ttl-1].at = at
		return
	}
	sh.ttls = append(sh.ttls, ttlRef{e: e, at: at})
	e.ttl = uint32(len(sh.ttls))
	sh.volatile.Store(int64(len(sh.ttls)))
}

// clearTTL removes e's deadline, if any, by swap-remove. Lock held.
func (sh *shard) clearTTL(e *entry) {
	if e.ttl == 0 {
		return
	}
	i, last := int(e.ttl-1), len(sh.ttls)-1
	if i != last {
		sh.ttls[i] = sh.ttls[last]
		sh.ttls[i].e.ttl = uint32(i + 1)
	}
	sh.ttls[last] = ttlRef{}
	sh.ttls = shrink(sh.ttls[:last])
	e.ttl = 0
	sh.volatile.Store(int64(len(sh.ttls)))
}

// slot is an element of a slots array; its zero value is a hole.
type slot interface{ isHole() bool }

// slots is an array whose elements keep their position for their whole
// life. Removing an element leaves a hole that a later element may reuse,
// and trailing holes are trimmed. This is what gives SCAN and HSCAN their
// guarantee: a cursor is a position, and an element present during a whole
// iteration sits at one position the cursor passes exactly once.
type slots[T slot] struct {
	items []T
	free  []uint32 // positions of holes; may hold stale positions (see put)
	live  int
}

// put stores v in a hole or at the end and returns its position.
func (a *slots[T]) put(v T) uint32 {
	a.live++
	// Trimming can leave stale positions (beyond the end, or refilled by
	// an append) in the free list: skip them.
	for n := len(a.free); n > 0; n = len(a.free) {
		p := a.free[n-1]
		a.free = a.free[:n-1]
		if int(p) < len(a.items) && a.items[p].isHole() {
			a.items[p] = v
			return p
		}
	}
	a.items = append(a.items, v)
	return uint32(len(a.items) - 1)
}

// release turns position p into a hole.
func (a *slots[T]) release(p uint32) {
	var zero T
	a.live--
	a.items[p] = zero
	if int(p) != len(a.items)-1 {
		a.free = append(a.free, p)
	} else {
		n := int(p)
		for n > 0 && a.items[n-1].isHole() {
			n--
		}
		a.items = shrink(a.items[:n])
	}
	if holes := len(a.items) - a.live; len(a.free) > 2*holes+freeSlack {
		a.free = slices.DeleteFunc(a.free, func(p uint32) bool {
			return int(p) >= len(a.items) || !a.items[p].isHole()
		})
		slices.Sort(a.free)
		a.free = shrink(slices.Compact(a.free))
	}
}

// entrySlots is the keyspace's slots array: positions and holes behave as in
// slots, but the entries are stored in place, in pages, rather than
// pointed to. A lookup goes from the index bucket to the entry through the
// page table, small enough to stay in the cache, instead of through an
// array of pointers as large as the keyspace: one cache miss fewer on every
// key access, and a miss costs about as much as the rest of a GET.
type entrySlots struct {
	// pages hold entryPageLen entries each, in place, so an entry never
	// moves. They are slices rather than array pointers, which Go would
	// check for nil by reading the page's first line on every lookup.
	pages [][]entry
	end   int      // one past the last position in use
	free  []uint32 // positions of holes; may hold stale positions (see put)
	live  int
}

// at returns the entry at position p, which is below end.
func (a *entrySlots) at(p uint32) *entry {
	return &a.pages[p/entryPageLen][p%entryPageLen]
}

// len returns one past the last position in use.
func (a *entrySlots) len() int { return a.end }

// get returns the entry at position p < len(), or nil for a hole.
func (a *entrySlots) get(p int) *entry {
	if e := a.at(uint32(p)); !e.isHole() {
		return e
	}
	return nil
}

// put returns a hole, reused or appended, and its position; the caller
// fills it.
func (a *entrySlots) put() (*entry, uint32) {
	a.live++
	// Trimming can leave stale positions (beyond the end, or refilled by
	// an append) in the free list: skip them.
	for n := len(a.free); n > 0; n = len(a.free) {
		p := a.free[n-1]
		a.free = a.free[:n-1]
		if int(p) < a.end {
			if e := a.at(p); e.isHole() {
				return e, p
			}
		}
	}
	if a.end == len(a.pages)*entryPageLen {
		a.pages = append(a.pages, make([]entry, entryPageLen))
	}
	p := uint32(a.end)
	a.end++
	return a.at(p), p
}

// release turns position p into a hole. Pages past the end but one are
// dropped, the spare one saving a page's churn at a page boundary.
func (a *entrySlots) release(p uint32) {
	a.live--
	*a.at(p) = entry{}
	if int(p) != a.end-1 {
		a.free = append(a.free, p)
	} else {
		for a.end = int(p); a.end > 0 && a.at(uint32(a.end-1)).isHole(); a.end-- {
		}
		if keep := (a.end+entryPageLen-1)/entryPageLen + 1; len(a.pages) > keep {
			clear(a.pages[keep:])
			a.pages = shrink(a.pages[:keep])
		}
	}
	if holes := a.end - a.live; len(a.free) > 2*holes+freeSlack {
		a.free = slices.DeleteFunc(a.free, func(p uint32) bool {
			return int(p) >= a.end || !a.at(p).isHole()
		})
		slices.Sort(a.free)
		a.free = shrink(slices.Compact(a.free))
	}
}

// shrink reallocates s when it uses less than a quarter of its capacity.
func shrink[T any](s []T) []T {
	if cap(s) <= minSlotsCap || len(s)*4 >= cap(s) {
		return s
	}
	return append(make([]T, 0, len(s)*2), s...)
}

// clone returns a copy of b that the store owns. It is never nil, so an
// empty string value is distinguishable from a missing one.
func clone(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// view returns v clipped to its length, for handing out under the
// copy-on-write invariant (see entry).
func view(v []byte) []byte {
	return v[:len(v):len(v)]
}

// clock is the time of one command. It reads the store's clock at most
// once, and only when a TTL is involved: on the hot path of a key without a
// TTL, reading the clock would cost more than the lookup itself.
type clock struct {
	s  *Store
	ms int64
	ok bool
}

func (s *Store) clock() clock { return clock{s: s} }

// now returns the command's time in unix ms.
func (c *clock) now() int64 {
	if !c.ok {
		c.ms, c.ok = c.s.nowMs(), true
	}
	return c.ms
}
