package store

import "time"

// Condition restricts SET and MSET-like writes to missing or existing keys.
type Condition int

// Conditions of SetOptions.
const (
	Always      Condition = iota
	IfNotExists           // NX
	IfExists              // XX
)

// ExpireKind says what a write does with the key's TTL.
type ExpireKind int

// Kinds of Expiration.
const (
	NoExpire ExpireKind = iota // the key gets no TTL (an existing one is removed)
	KeepTTL                    // an existing TTL is kept
	ExpireIn                   // TTL relative to now (Expiration.In)
	ExpireAt                   // absolute deadline (Expiration.At)
)

// Expiration is a TTL change. In and At are read for ExpireIn and ExpireAt.
type Expiration struct {
	Kind ExpireKind
	In   time.Duration
	At   time.Time
}

// SetOptions are the options of SET.
type SetOptions struct {
	Cond   Condition
	Expire Expiration
	Get    bool // return the old value
}

// SetResult is the outcome of SET. Old and HadOld are only set with Get.
type SetResult struct {
	Applied bool
	Old     []byte
	HadOld  bool
}

// deadlineOf returns the absolute deadline in unix ms of an ExpireIn or
// ExpireAt expiration, saturating instead of overflowing.
func deadlineOf(e Expiration, now int64) int64 {
	if e.Kind == ExpireAt {
		return e.At.UnixMilli()
	}
	ms := e.In.Milliseconds()
	switch {
	case ms > 0 && now > maxInt64-ms:
		return maxInt64
	case ms < 0 && now < minInt64-ms:
		return minInt64
	}
	return now + ms
}

// hasDeadline reports whether e sets a TTL.
func (e Expiration) hasDeadline() bool {
	return e.Kind == ExpireIn || e.Kind == ExpireAt
}

// Get returns the value of key, or nil when it does not exist.
func (s *Store) Get(key []byte) ([]byte, error) {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, &clk)
	switch {
	case e == nil:
		return nil, nil
	case e.hash() != nil:
		return nil, ErrWrongType
	}
	return e.handOut(), nil
}

// Set is SET. With Get and an old value that is not a string it returns
// ErrWrongType and changes nothing. A deadline already past deletes the key
// (the write is applied, then expires at once).
func (s *Store) Set(key, value []byte, o SetOptions) (SetResult, error) {
	var res SetResult
	if len(value) > MaxStringSize || len(key) > MaxKeySize {
		return res, ErrTooLarge
	}
	if err := s.reserve(entryOverhead + int64(len(key)+len(value))); err != nil {
		return res, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	if o.Get && e != nil {
		if e.hash() != nil {
			return res, ErrWrongType
		}
		res.Old, res.HadOld = e.handOut(), true
	}
	switch {
	case o.Cond == IfNotExists && e != nil, o.Cond == IfExists && e == nil:
		return res, nil
	}
	res.Applied = true
	if o.Expire.hasDeadline() {
		if now := clk.now(); deadlineOf(o.Expire, now) <= now {
			if e != nil {
				sh.delete(e)
			}
			return res, nil
		}
	}
	if e == nil {
		e = sh.insert(key, h)
	}
	sh.setStr(e, clone(value), formWhole)
	sh.applyExpiration(e, o.Expire, &clk)
	s.notify(EventString, eventSet, key)
	if o.Expire.hasDeadline() {
		s.notify(EventGeneric, eventExpire, key)
	}
	return res, nil
}

// applyExpiration applies the TTL part of a write to e; a deadline in the
// past was handled by the caller. Lock held.
func (sh *shard) applyExpiration(e *entry, x Expiration, clk *clock) {
	switch x.Kind {
	case NoExpire:
		sh.clearTTL(e)
	case ExpireIn, ExpireAt:
		sh.setTTL(e, deadlineOf(x, clk.now()))
	}
}

// GetDel returns the value of key and deletes it.
func (s *Store) GetDel(key []byte) ([]byte, error) {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, &clk)
	switch {
	case e == nil:
		return nil, nil
	case e.hash() != nil:
		return nil, ErrWrongType
	}
	v := e.handOut()
	sh.delete(e)
	return v, nil
}

// GetEx returns the value of key and, when change is set, applies e to its
// TTL: NoExpire removes it (PERSIST), a past deadline deletes the key.
func (s *Store) GetEx(key []byte, x Expiration, change bool) ([]byte, error) {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, &clk)
	switch {
	case e == nil:
		return nil, nil
	case e.hash() != nil:
		return nil, ErrWrongType
	}
	v := e.handOut()
	if change {
		_, had := sh.deadline(e)
		switch now := clk.now(); {
		case x.hasDeadline() && deadlineOf(x, now) <= now:
			sh.delete(e)
		case x.hasDeadline():
			sh.applyExpiration(e, x, &clk)
			s.notify(EventGeneric, eventExpire, key)
		case x.Kind == NoExpire && had:
			sh.applyExpiration(e, x, &clk)
			s.notify(EventGeneric, eventPersist, key)
		}
	}
	return v, nil
}

// MGet returns the values of keys; an entry is nil for a missing key or one
// that is not a string. It reads all keys atomically.
func (s *Store) MGet(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out
	}
	clk := s.clock()
	m := s.lockKeys(keys)
	defer m.unlock()
	for i, k := range keys {
		if e := m.shard(i).read(k, m.hashes[i], &clk); e != nil && e.hash() == nil {
			out[i] = e.handOut()
		}
	}
	return out
}

// MSet sets every key of the key/value list pairs atomically, removing
// their TTLs.
func (s *Store) MSet(pairs [][]byte) error {
	_, err := s.mset(pairs, false)
	return err
}

// MSetNX is MSet applied only if none of the keys exists.
func (s *Store) MSetNX(pairs [][]byte) (bool, error) {
	return s.mset(pairs, true)
}

func (s *Store) mset(pairs [][]byte, nx bool) (bool, error) {
	if len(pairs)%2 != 0 {
		return false, ErrPairs
	}
	if len(pairs) == 0 {
		return true, nil
	}
	need := int64(0)
	for i := 0; i < len(pairs); i += 2 {
		if len(pairs[i+1]) > MaxStringSize || len(pairs[i]) > MaxKeySize {
			return false, ErrTooLarge
		}
		need += entryOverhead + int64(len(pairs[i])+len(pairs[i+1]))
	}
	if err := s.reserve(need); err != nil {
		return false, err
	}
	clk := s.clock()
	m := s.lockKeysStep(pairs, 2)
	defer m.unlock()
	if nx {
		for i := 0; i < len(pairs); i += 2 {
			if m.shard(i/2).get(pairs[i], m.hashes[i/2], &clk) != nil {
				return false, nil
			}
		}
	}
	for i := 0; i < len(pairs); i += 2 {
		sh, h := m.shard(i/2), m.hashes[i/2]
		e := sh.get(pairs[i], h, &clk)
		if e == nil {
			e = sh.insert(pairs[i], h)
		}
		sh.setStr(e, clone(pairs[i+1]), formWhole)
		sh.clearTTL(e)
		s.notify(EventString, eventSet, pairs[i])
	}
	return true, nil
}

// Append appends value to the string at key, creating it, and returns the
// new length.
func (s *Store) Append(key, value []byte) (int, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if err := s.reserve(entryOverhead + int64(len(key)+len(value))); err != nil {
		return 0, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	switch {
	case e == nil:
		if len(value) > MaxStringSize {
			return 0, ErrTooLarge
		}
		sh.setStr(sh.insert(key, h), clone(value), formWhole)
		s.notify(EventString, eventAppend, key)
		return len(value), nil
	case e.hash() != nil:
		return 0, ErrWrongType
	case len(e.str())+len(value) > MaxStringSize:
		return 0, ErrTooLarge
	}
	// Writes only beyond the current length (see entry).
	sh.setStr(e, append(e.str(), value...), formRaw)
	s.notify(EventString, eventAppend, key)
	return len(e.str()), nil
}

// StrLen returns the length of the string at key, 0 when missing.
func (s *Store) StrLen(key []byte) (int, error) {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, &clk)
	switch {
	case e == nil:
		return 0, nil
	case e.hash() != nil:
		return 0, ErrWrongType
	}
	return len(e.str()), nil
}

// GetRange returns the bytes of the string at key from start to end
// inclusive; negative indexes count from the end. A missing key reads as an
// empty string.
func (s *Store) GetRange(key []byte, start, end int64) ([]byte, error) {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.read(key, h, &clk)
	switch {
	case e == nil:
		return []byte{}, nil
	case e.hash() != nil:
		return nil, ErrWrongType
	}
	n := int64(len(e.str()))
	if start < 0 && end < 0 && start > end {
		return []byte{}, nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	end = min(end, n-1)
	if start > end || n == 0 {
		return []byte{}, nil
	}
	return e.handOut()[start : end+1 : end+1], nil
}

// SetRange overwrites the string at key from offset with value, padding
// with zero bytes, and returns the new length. An empty value changes
// nothing (and creates no key).
func (s *Store) SetRange(key []byte, offset int64, value []byte) (int, error) {
	if offset < 0 {
		return 0, ErrOffset
	}
	if err := checkKey(key); err != nil {
		return 0, err
	}
	// The growth is only known under the lock; reserve for the common case
	// of a write inside or at the end of the string.
	if err := s.reserve(entryOverhead + int64(len(key)+len(value))); err != nil {
		return 0, err
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(key, h, &clk)
	switch {
	case e == nil && len(value) == 0:
		return 0, nil
	case e != nil && e.hash() != nil:
		return 0, ErrWrongType
	case e != nil && len(value) == 0:
		return len(e.str()), nil
	case offset > MaxStringSize-int64(len(value)):
		return 0, ErrTooLarge
	case e == nil:
		e = sh.insert(key, h)
	}
	end := int(offset) + len(value)
	v := make([]byte, max(len(e.str()), end))
	copy(v, e.str())
	copy(v[offset:], value)
	sh.setStr(e, v, formRaw)
	s.notify(EventString, eventSetRange, key)
	return len(v), nil
}
