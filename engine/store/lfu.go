package store

import (
	"math/rand/v2"
	"time"
)

// LFU eviction, as Redis approximates it: under allkeys-lfu and
// volatile-lfu a key's access field holds, instead of the shard's LRU tick,
// a logarithmic access counter in its low 8 bits and, above them, the time
// of its last access in periods of lfuDecayTime (16 bits, wrapping). An
// access increments the counter with a probability that falls as it grows,
// and the counter loses one per lfuDecayTime of idleness, so that keys once
// hot do not stay forever. Eviction samples keys and removes the one with
// the lowest counter.
const (
	// lfuInitVal is a new key's counter: low enough to be evicted before
	// keys read a few times, high enough to survive its first minutes.
	lfuInitVal = 5
	// lfuLogFactor slows the counter's growth: it reaches 255 after about
	// a million accesses (Redis's lfu-log-factor default).
	lfuLogFactor = 10
	// lfuDecayTime is how long an idle key takes to lose one count
	// (Redis's lfu-decay-time default: one minute).
	lfuDecayTime = time.Minute
	// lfuCounterBits is the width of the counter in the access field, and
	// lfuCounterMax its largest value.
	lfuCounterBits = 8
	lfuCounterMax  = 1<<lfuCounterBits - 1
	// lfuTimeMask keeps the 16 bits of time above the counter.
	lfuTimeMask = 1<<16 - 1
)

// LFU reports whether the policy evicts by access frequency.
func (p Policy) LFU() bool { return p == AllKeysLFU || p == VolatileLFU }

// Frequency is OBJECT FREQ: the access counter of key under an LFU policy
// (see above), without counting an access, and whether the key exists.
func (s *Store) Frequency(key []byte) (int, bool) {
	var n uint32
	ok := s.inspect(key, func(_ *shard, e *entry, _ *clock) { n = s.lfuCount(e.access) })
	return int(n), ok
}

// Policy is the eviction policy.
func (s *Store) Policy() Policy { return s.policy }

// lfuPeriods is the store's time in periods of lfuDecayTime, as the access
// field keeps it.
func (s *Store) lfuPeriods() uint32 {
	return uint32(s.nowMs()/lfuDecayTime.Milliseconds()) & lfuTimeMask
}

// lfuNew is the access field of a new key.
func (s *Store) lfuNew() uint32 { return s.lfuPeriods()<<lfuCounterBits | lfuInitVal }

// lfuCount is the counter of access field a, decayed by the time since it
// was last decremented.
func (s *Store) lfuCount(a uint32) uint32 {
	counter := a & lfuCounterMax
	last := a >> lfuCounterBits
	now := s.lfuPeriods()
	elapsed := now - last
	if now < last {
		elapsed = lfuTimeMask - last + now
	}
	if elapsed >= counter {
		return 0
	}
	return counter - elapsed
}

// lfuAccess is access field a after one more access: decayed, then
// incremented with probability 1 / ((counter - lfuInitVal) * lfuLogFactor + 1).
func (s *Store) lfuAccess(a uint32) uint32 {
	counter := s.lfuCount(a)
	if counter < lfuCounterMax {
		base := max(int(counter)-lfuInitVal, 0)
		if rand.Float64() < 1/float64(base*lfuLogFactor+1) {
			counter++
		}
	}
	return s.lfuPeriods()<<lfuCounterBits | counter
}
