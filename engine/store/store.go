// Package store is NEXO's STORE broker: an in-memory, Redis-compatible
// keyspace of strings and hashes with TTLs, active expiry and eviction under
// a memory limit.
//
// The keyspace is split into shards, each behind its own mutex; a key lives
// in the shard chosen by its hash. Single-key commands lock one shard;
// multi-key commands lock every shard they touch in ascending order, so they
// are atomic and cannot deadlock. The store knows nothing of RESP: errors are
// plain sentinels that the commands layer maps to Redis wording.
//
// Lock order: shard mutexes in ascending shard index. No other lock of the
// store is taken while a shard mutex is held; the injected clock may be
// called under one.
//
// Values returned by getters may share memory with the store; callers must
// not modify them (see the copy-on-write note on entry).
package store

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and limits of Config.
const (
	// DefaultExpireInterval is the period of the active expiry cycle
	// (Redis runs it 10 times a second).
	DefaultExpireInterval = 100 * time.Millisecond
	// DefaultShards is the number of keyspace shards.
	DefaultShards = 256
	// MaxShards bounds Config.Shards; SCAN cursors carry the shard index in
	// their upper 32 bits.
	MaxShards = 1 << 16
	// MaxStringSize is the largest string value, as Redis's proto-max-bulk-len.
	MaxStringSize = 512 << 20
)

// Sentinel errors. They carry no wire syntax.
var (
	ErrWrongType      = errors.New("operation against a key holding the wrong kind of value")
	ErrNotInteger     = errors.New("value is not an integer or out of range")
	ErrNotFloat       = errors.New("value is not a valid float")
	ErrOverflow       = errors.New("increment or decrement would overflow")
	ErrNaN            = errors.New("increment would produce NaN or Infinity")
	ErrHashNotInteger = errors.New("hash value is not an integer")
	ErrHashNotFloat   = errors.New("hash value is not a float")
	ErrNoSuchKey      = errors.New("no such key")
	ErrOOM            = errors.New("command not allowed when used memory > 'maxmemory'")
	ErrTooLarge       = errors.New("string exceeds maximum allowed size")
	ErrOffset         = errors.New("offset is out of range")
	// ErrSameKey is returned by Copy when source and destination are the same key.
	ErrSameKey = errors.New("source and destination objects are the same")
	// ErrPairs is returned when a key/value or field/value list has an odd length.
	ErrPairs = errors.New("wrong number of arguments")
	// ErrBitOp is returned by BitOpStore without a source key, with an
	// unknown operation, or with BitNot of more than one source.
	ErrBitOp = errors.New("BITOP takes source keys, and NOT exactly one")
	// ErrInfiniteIncrement is returned by HIncrByFloat for an infinite
	// increment, which Redis refuses before it looks at the key.
	ErrInfiniteIncrement = errors.New("value is NaN or Infinity")
)

// Policy is the eviction policy applied when MaxMemory is reached.
type Policy int

// Eviction policies, named as Redis's maxmemory-policy values.
const (
	NoEviction Policy = iota
	AllKeysLRU
	VolatileLRU
	AllKeysRandom
	VolatileTTL
	VolatileRandom
	AllKeysLFU
	VolatileLFU
)

var policyNames = [...]string{
	NoEviction:     "noeviction",
	AllKeysLRU:     "allkeys-lru",
	VolatileLRU:    "volatile-lru",
	AllKeysRandom:  "allkeys-random",
	VolatileTTL:    "volatile-ttl",
	VolatileRandom: "volatile-random",
	AllKeysLFU:     "allkeys-lfu",
	VolatileLFU:    "volatile-lfu",
}

// ParsePolicy parses a Redis maxmemory-policy name, case-insensitively.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if strings.EqualFold(s, name) {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("unknown eviction policy %q", s)
}

func (p Policy) String() string {
	if p < 0 || int(p) >= len(policyNames) {
		return fmt.Sprintf("Policy(%d)", int(p))
	}
	return policyNames[p]
}

// volatile reports whether the policy only evicts keys that have a TTL.
func (p Policy) volatile() bool {
	return p == VolatileLRU || p == VolatileTTL || p == VolatileRandom || p == VolatileLFU
}

// Config configures a Store. The zero value is usable.
type Config struct {
	MaxMemory      int64            // accounted dataset bytes; 0 = unlimited
	Policy         Policy           // eviction policy once MaxMemory is reached
	Now            func() time.Time // clock; nil = time.Now
	ExpireInterval time.Duration    // active expiry period; 0 = DefaultExpireInterval
	Shards         int              // power of two; 0 = DefaultShards
}

// Stats is a snapshot of the store's counters.
type Stats struct {
	Keys           int64 // keys, including expired ones not reclaimed yet
	Expires        int64 // keys with a TTL
	UsedMemory     int64 // accounted dataset bytes
	MaxMemory      int64
	Policy         Policy
	EvictedKeys    int64
	ExpiredKeys    int64
	KeyspaceHits   int64
	KeyspaceMisses int64
}

// Store is the STORE broker. All methods are safe for concurrent use.
type Store struct {
	maxMemory int64
	policy    Policy
	now       func() time.Time
	interval  time.Duration
	seed      maphash.Seed
	shards    []shard
	shift     uint // key hash >> shift = shard index

	used     atomic.Int64             // accounted bytes, see entry.size
	notifier atomic.Pointer[notifier] // told the store's events (events.go); nil: none
	// frozen is the time in unix ms while the clock is frozen
	// (FreezeClock); nil while it runs.
	frozen atomic.Pointer[int64]

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New validates cfg, builds the store and starts its active expiry cycle.
func New(cfg Config) (*Store, error) {
	if cfg.Shards == 0 {
		cfg.Shards = DefaultShards
	}
	if cfg.ExpireInterval == 0 {
		cfg.ExpireInterval = DefaultExpireInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Shards < 1 || cfg.Shards > MaxShards || cfg.Shards&(cfg.Shards-1) != 0:
		return nil, fmt.Errorf("store: shards must be a power of two between 1 and %d, got %d", MaxShards, cfg.Shards)
	case cfg.MaxMemory < 0:
		return nil, fmt.Errorf("store: negative maxmemory %d", cfg.MaxMemory)
	case cfg.Policy < 0 || int(cfg.Policy) >= len(policyNames):
		return nil, fmt.Errorf("store: unknown eviction policy %d", int(cfg.Policy))
	case cfg.ExpireInterval < 0:
		return nil, fmt.Errorf("store: negative expire interval %v", cfg.ExpireInterval)
	}
	s := &Store{
		maxMemory: cfg.MaxMemory,
		policy:    cfg.Policy,
		now:       cfg.Now,
		interval:  cfg.ExpireInterval,
		seed:      maphash.MakeSeed(),
		shards:    make([]shard, cfg.Shards),
		shift:     uint(64 - bits.TrailingZeros(uint(cfg.Shards))),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].store = s
	}
	go s.expireLoop()
	return s, nil
}

// Close stops the active expiry cycle. It is idempotent. The data stays
// readable and writable; only active expiry stops.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
	})
}

// nowMs is the current time of the injected clock in unix milliseconds,
// or the time the clock is frozen at.
func (s *Store) nowMs() int64 {
	if at := s.frozen.Load(); at != nil {
		return *at
	}
	return s.now().UnixMilli()
}

// FreezeClock stops the store's time at now until the returned function is
// called: every expiry is judged at that one instant, by commands and by
// the active expiry cycle alike, as Redis does while a transaction or a
// script runs, so that a key that exists for one of its commands exists
// for the next. Freezes may not overlap.
func (s *Store) FreezeClock() (thaw func()) {
	at := s.now().UnixMilli()
	s.frozen.Store(&at)
	return func() { s.frozen.Store(nil) }
}

// locate returns the shard of key and the key's hash. The top bits of the
// hash pick the shard, the low 32 bits the bucket inside the shard's index.
func (s *Store) locate(key []byte) (*shard, uint64) {
	h := maphash.Bytes(s.seed, key)
	return &s.shards[h>>s.shift], h
}

// multi is a set of keys whose shards are locked together.
type multi struct {
	s      *Store
	hashes []uint64
	order  []int // distinct shard indexes, ascending
}

// lockKeys locks the shards of keys in ascending order, deduplicated.
func (s *Store) lockKeys(keys [][]byte) *multi {
	return s.lockKeysStep(keys, 1)
}

// lockKeysStep locks the shards of keys[0], keys[step], keys[2*step]...
// (step 2 picks the keys of a key/value list).
func (s *Store) lockKeysStep(keys [][]byte, step int) *multi {
	n := (len(keys) + step - 1) / step
	m := &multi{s: s, hashes: make([]uint64, n), order: make([]int, n)}
	for i := range n {
		h := maphash.Bytes(s.seed, keys[i*step])
		m.hashes[i] = h
		m.order[i] = int(h >> s.shift)
	}
	slices.Sort(m.order)
	m.order = slices.Compact(m.order)
	for _, i := range m.order {
		s.shards[i].mu.Lock()
	}
	return m
}

// shard returns the (locked) shard of the i-th key.
func (m *multi) shard(i int) *shard {
	return &m.s.shards[m.hashes[i]>>m.s.shift]
}

func (m *multi) unlock() {
	for _, i := range slices.Backward(m.order) {
		m.s.shards[i].mu.Unlock()
	}
}

// lockAll locks every shard in ascending order.
func (s *Store) lockAll() {
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
}

func (s *Store) unlockAll() {
	for i := len(s.shards) - 1; i >= 0; i-- {
		s.shards[i].mu.Unlock()
	}
}

// DBSize returns the number of keys, including expired keys that neither an
// access nor the active expiry cycle has reclaimed yet (as Redis does).
func (s *Store) DBSize() int {
	n := int64(0)
	for i := range s.shards {
		n += s.shards[i].count.Load()
	}
	return int(n)
}

// Flush deletes every key.
func (s *Store) Flush() {
	s.lockAll()
	defer s.unlockAll()
	for i := range s.shards {
		s.shards[i].reset()
	}
	s.used.Store(0)
}

// Stats returns a snapshot of the counters. It takes no lock, so counters
// may be mutually inconsistent under concurrent writes.
func (s *Store) Stats() Stats {
	st := Stats{
		UsedMemory: s.used.Load(),
		MaxMemory:  s.maxMemory,
		Policy:     s.policy,
	}
	for i := range s.shards {
		sh := &s.shards[i]
		st.Keys += sh.count.Load()
		st.Expires += sh.volatile.Load()
		st.EvictedKeys += sh.evicted.Load()
		st.ExpiredKeys += sh.expired.Load()
		st.KeyspaceHits += sh.hits.Load()
		st.KeyspaceMisses += sh.misses.Load()
	}
	return st
}
