package store

import "math/rand/v2"

// evictionSamples is how many keys an LRU or TTL eviction compares, as
// Redis's maxmemory-samples. A shard with no more candidates than this
// compares all of them.
const evictionSamples = 5

// reserve makes room for a write that may grow the dataset by up to need
// bytes: while the accounted memory plus need exceeds MaxMemory it evicts
// keys by the policy. When nothing can be evicted, the write is refused with
// ErrOOM only if memory is already over the limit, as in Redis; otherwise it
// may take the store past the limit and the next write is refused.
//
// reserve runs before the write locks its shard: eviction locks other
// shards, one at a time.
func (s *Store) reserve(need int64) error {
	if s.maxMemory == 0 {
		return nil
	}
	for s.used.Load()+need > s.maxMemory {
		if !s.evictOne() {
			if s.used.Load() > s.maxMemory {
				return ErrOOM
			}
			return nil
		}
	}
	return nil
}

// evictOne deletes one key chosen by the policy, preferring an expired one
// among those it looks at, and reports whether it found any.
func (s *Store) evictOne() bool {
	if s.policy == NoEviction {
		return false
	}
	volatile := s.policy.volatile()
	for {
		sh := s.randomShard(func(sh *shard) bool {
			if volatile {
				return sh.volatile.Load() > 0
			}
			return sh.count.Load() > 0
		})
		if sh == nil {
			return false
		}
		clk := s.clock()
		sh.mu.Lock()
		victim := sh.pickVictim(s.policy, &clk)
		if victim == nil {
			// Emptied since the shard was picked.
			sh.mu.Unlock()
			continue
		}
		if sh.isExpired(victim, &clk) {
			sh.reclaim(victim, sh.bucketOf(victim))
		} else {
			s.notify(EventEvicted, eventEvicted, victim.key())
			sh.remove(victim)
			sh.evicted.Add(1)
		}
		sh.mu.Unlock()
		return true
	}
}

// pickVictim chooses the key to evict from this shard, or nil when it has
// no candidate. Lock held.
func (sh *shard) pickVictim(p Policy, clk *clock) *entry {
	var best *entry
	bestAt := int64(0)
	consider := func(e *entry, at int64) {
		if best == nil {
			best, bestAt = e, at
			return
		}
		ex, bestEx := sh.isExpired(e, clk), sh.isExpired(best, clk)
		switch {
		case ex != bestEx:
			if ex {
				best, bestAt = e, at
			}
		case p == VolatileTTL:
			if at < bestAt {
				best, bestAt = e, at
			}
		case p == AllKeysLRU || p == VolatileLRU:
			if sh.tick-e.access > sh.tick-best.access {
				best, bestAt = e, at
			}
		case p.LFU():
			if sh.store.lfuCount(e.access) < sh.store.lfuCount(best.access) {
				best, bestAt = e, at
			}
		}
	}
	samples := evictionSamples
	if p == AllKeysRandom || p == VolatileRandom {
		samples = 1
	}
	if p.volatile() {
		n := len(sh.ttls)
		switch {
		case n == 0:
		case n <= samples:
			for _, r := range sh.ttls {
				consider(r.e, r.at)
			}
		default:
			for range samples {
				r := sh.ttls[rand.IntN(n)]
				consider(r.e, r.at)
			}
		}
		return best
	}
	switch n := sh.entries.live; {
	case n == 0:
	case n <= samples:
		for p := range sh.entries.len() {
			if e := sh.entries.get(p); e != nil {
				consider(e, 0)
			}
		}
	default:
		for range samples {
			consider(sh.randomEntry(), 0)
		}
	}
	return best
}
