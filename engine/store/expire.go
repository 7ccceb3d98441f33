package store

import (
	"math/rand/v2"
	"time"
)

// Active expiry, as Redis's activeExpireCycle: every interval, each shard
// samples expireSample keys that have a TTL and deletes the expired ones; it
// samples again at once while more than expireRepeatPercent of a sample had
// expired. A cycle stops after expireBudgetPercent of the interval (real
// time, not the injected clock) and the next one resumes at the shard
// where it stopped.
const (
	expireSample        = 20
	expireRepeatPercent = 25
	expireBudgetPercent = 25
)

// ExpireCond is the NX/XX/GT/LT condition of EXPIRE.
type ExpireCond int

// Conditions of Expire. A key without a TTL counts as an infinite TTL for
// GT and LT.
const (
	ExpireAlways ExpireCond = iota
	ExpireNX                // only if the key has no TTL
	ExpireXX                // only if the key has a TTL
	ExpireGT                // only if the new deadline is later
	ExpireLT                // only if the new deadline is earlier
)

// Expire sets the TTL of key from x, which must be ExpireIn or ExpireAt
// (other kinds change nothing and return false). It returns whether the TTL
// was set. A deadline that is not in the future deletes the key and
// returns true.
func (s *Store) Expire(key []byte, x Expiration, cond ExpireCond) (bool, error) {
	if !x.hasDeadline() {
		return false, nil
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	if e == nil {
		return false, nil
	}
	now := clk.now()
	at := deadlineOf(x, now)
	cur, has := sh.deadline(e)
	switch cond {
	case ExpireNX:
		if has {
			return false, nil
		}
	case ExpireXX:
		if !has {
			return false, nil
		}
	case ExpireGT:
		if !has || at <= cur {
			return false, nil
		}
	case ExpireLT:
		if has && at >= cur {
			return false, nil
		}
	}
	if at <= now {
		sh.delete(e)
		return true, nil
	}
	sh.setTTL(e, at)
	s.notify(EventGeneric, eventExpire, key)
	return true, nil
}

// PTTL returns the remaining TTL of key in ms: -2 when the key does not
// exist, -1 when it has no TTL.
func (s *Store) PTTL(key []byte) int64 {
	clk := s.clock()
	at, ok := s.deadlineOf(key, &clk)
	switch {
	case !ok:
		return -2
	case at < 0:
		return -1
	}
	return max(at-clk.now(), 0)
}

// PExpireTime returns the deadline of key in unix ms: -2 when the key does
// not exist, -1 when it has no TTL.
func (s *Store) PExpireTime(key []byte) int64 {
	clk := s.clock()
	at, ok := s.deadlineOf(key, &clk)
	switch {
	case !ok:
		return -2
	case at < 0:
		return -1
	}
	return at
}

// deadlineOf returns the deadline of key (-1 without TTL) and whether the
// key exists.
func (s *Store) deadlineOf(key []byte, clk *clock) (int64, bool) {
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, clk)
	if e == nil {
		return 0, false
	}
	if at, ok := sh.deadline(e); ok {
		return at, true
	}
	return -1, true
}

// Persist removes the TTL of key and reports whether it had one.
func (s *Store) Persist(key []byte) bool {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	if e == nil || e.ttl == 0 {
		return false
	}
	sh.clearTTL(e)
	s.notify(EventGeneric, eventPersist, key)
	return true
}

// expireLoop runs the active expiry cycle every interval until Close.
func (s *Store) expireLoop() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	next := 0 // shard where the next cycle starts
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			next = s.expireCycle(next)
		}
	}
}

// expireCycle runs one active expiry cycle starting at shard first and
// returns the shard where the next cycle should start.
func (s *Store) expireCycle(first int) int {
	stop := time.Now().Add(s.interval * expireBudgetPercent / 100)
	n := len(s.shards)
	for i := range n {
		idx := (first + i) & (n - 1)
		sh := &s.shards[idx]
		for sh.volatile.Load() > 0 {
			sampled, expired := sh.expireSampled(s.nowMs())
			if expired*100 <= sampled*expireRepeatPercent {
				break
			}
			if time.Now().After(stop) {
				return idx
			}
		}
		if time.Now().After(stop) {
			return (idx + 1) & (n - 1)
		}
	}
	return first
}

// expireSampled checks up to expireSample keys with a TTL (all of them when
// there are no more) and deletes the expired ones. It returns how many it
// checked and how many it deleted.
func (sh *shard) expireSampled(now int64) (sampled, expired int) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.ttls) <= expireSample {
		// Walk down so that swap-removal only moves checked entries.
		for i := len(sh.ttls) - 1; i >= 0; i-- {
			sampled++
			if r := sh.ttls[i]; now > r.at {
				sh.reclaim(r.e, sh.bucketOf(r.e))
				expired++
			}
		}
	} else {
		for range expireSample {
			if len(sh.ttls) == 0 {
				break
			}
			sampled++
			if r := sh.ttls[rand.IntN(len(sh.ttls))]; now > r.at {
				sh.reclaim(r.e, sh.bucketOf(r.e))
				expired++
			}
		}
	}
	return sampled, expired
}
