package store

import (
	"bytes"
	"math/rand/v2"

	"nexo/internal/number"
)

// randomProbes is how many random slot positions are tried before falling
// back to a linear walk when picking a random key of a shard.
const randomProbes = 8

// Del deletes keys atomically and returns how many existed.
func (s *Store) Del(keys [][]byte) int {
	if len(keys) == 0 {
		return 0
	}
	clk := s.clock()
	m := s.lockKeys(keys)
	defer m.unlock()
	n := 0
	for i, k := range keys {
		sh := m.shard(i)
		if e := sh.get(k, m.hashes[i], &clk); e != nil {
			sh.delete(e)
			n++
		}
	}
	return n
}

// Exists returns how many of keys exist; a key given twice counts twice.
func (s *Store) Exists(keys [][]byte) int {
	return s.countLive(keys)
}

// Touch updates the access time of keys and returns how many exist.
func (s *Store) Touch(keys [][]byte) int {
	return s.countLive(keys)
}

func (s *Store) countLive(keys [][]byte) int {
	if len(keys) == 0 {
		return 0
	}
	clk := s.clock()
	m := s.lockKeys(keys)
	defer m.unlock()
	n := 0
	for i, k := range keys {
		if m.shard(i).read(k, m.hashes[i], &clk) != nil {
			n++
		}
	}
	return n
}

// Type returns "none", "string" or "hash".
func (s *Store) Type(key []byte) string {
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return typeName(sh.read(key, h, &clk))
}

// Encoding names, as OBJECT ENCODING reports them: Redis's names for the
// same shapes of value.
const (
	encodingInt       = "int"       // a string in formWhole that is a 64-bit integer
	encodingEmbstr    = "embstr"    // another string of at most embstrMaxLen bytes, unless in formRaw
	encodingRaw       = "raw"       // a longer string, or one in formRaw
	encodingListpack  = "listpack"  // a hash of at most hashSmallFields fields, searched linearly
	encodingHashtable = "hashtable" // a larger hash, with an index
	// embstrMaxLen is the longest string Redis stores as an embstr.
	embstrMaxLen = 44
)

// Encoding names the shape of key's value as Redis's OBJECT ENCODING does,
// and reports whether the key exists. It does not count as an access.
func (s *Store) Encoding(key []byte) (string, bool) {
	var enc string
	ok := s.inspect(key, func(_ *shard, e *entry, _ *clock) { enc = encodingOf(e) })
	return enc, ok
}

// encodingOf names the shape of e's value (see Encoding). Lock held.
func encodingOf(e *entry) string {
	if hv := e.hash(); hv != nil {
		if hv.index == nil {
			return encodingListpack
		}
		return encodingHashtable
	}
	str, form := e.str(), e.form()
	if form == formWhole {
		if _, isInt := number.ParseInt(str); isInt {
			return encodingInt
		}
	}
	if form != formRaw && len(str) <= embstrMaxLen {
		return encodingEmbstr
	}
	return encodingRaw
}

// isHash reports whether key holds a hash.
func (s *Store) isHash(key []byte) bool { return s.Type(key) == typeHash }

// Type names, as TYPE reports them.
const (
	typeNone   = "none"
	typeHash   = "hash"
	typeString = "string"
)

func typeName(e *entry) string {
	switch {
	case e == nil:
		return typeNone
	case e.hash() != nil:
		return typeHash
	}
	return typeString
}

// Rename moves src to dst, replacing dst, and keeps the TTL.
func (s *Store) Rename(src, dst []byte) error {
	_, err := s.rename(src, dst, false)
	return err
}

// RenameNX is Rename applied only if dst does not exist.
func (s *Store) RenameNX(src, dst []byte) (bool, error) {
	return s.rename(src, dst, true)
}

func (s *Store) rename(src, dst []byte, nx bool) (bool, error) {
	if err := checkKey(dst); err != nil {
		return false, err
	}
	clk := s.clock()
	m := s.lockKeys([][]byte{src, dst})
	defer m.unlock()
	ssh, dsh := m.shard(0), m.shard(1)
	e := ssh.get(src, m.hashes[0], &clk)
	if e == nil {
		return false, ErrNoSuchKey
	}
	if string(src) == string(dst) {
		return !nx, nil
	}
	if d := dsh.get(dst, m.hashes[1], &clk); d != nil {
		if nx {
			return false, nil
		}
		dsh.remove(d)
	}
	at, hasTTL := ssh.deadline(e)
	str, form, hash, shared := e.str(), e.form(), e.hash(), e.shared()
	s.notify(EventGeneric, eventRenameFrom, src)
	ssh.remove(e)
	n := dsh.insert(dst, m.hashes[1])
	dsh.setValue(n, str, form, hash)
	if shared {
		n.markShared()
	}
	if hasTTL {
		dsh.setTTL(n, at)
	}
	s.notify(EventGeneric, eventRenameTo, dst)
	return true, nil
}

// setValue gives e the value of another entry: a hash, or a string with
// its form. Lock held.
func (sh *shard) setValue(e *entry, str []byte, f strForm, hash *hashValue) {
	old := e.size()
	if hash != nil {
		e.setHashValue(hash)
	} else {
		e.setStrValue(str, f)
	}
	sh.store.used.Add(e.size() - old)
}

// Copy copies src to dst with its TTL. Without replace an existing dst
// makes it fail (false). Source and destination must differ (ErrSameKey).
func (s *Store) Copy(src, dst []byte, replace bool) (bool, error) {
	if string(src) == string(dst) {
		return false, ErrSameKey
	}
	if err := checkKey(dst); err != nil {
		return false, err
	}
	if err := s.reserve(0); err != nil {
		return false, err
	}
	clk := s.clock()
	m := s.lockKeys([][]byte{src, dst})
	defer m.unlock()
	ssh, dsh := m.shard(0), m.shard(1)
	e := ssh.get(src, m.hashes[0], &clk)
	if e == nil {
		return false, nil
	}
	if d := dsh.get(dst, m.hashes[1], &clk); d != nil {
		if !replace {
			return false, nil
		}
		dsh.remove(d)
	}
	// Strings share their bytes, handed out as to a reader: the clipped
	// capacity keeps an APPEND to either key from reaching the other, and
	// neither changes them in place (see entry).
	var str []byte
	hash := e.hash()
	if hash != nil {
		hash = hash.clone()
	} else {
		str = e.handOut()
	}
	at, hasTTL := ssh.deadline(e)
	n := dsh.insert(dst, m.hashes[1])
	dsh.setValue(n, str, e.form(), hash)
	n.markShared()
	if hasTTL {
		dsh.setTTL(n, at)
	}
	s.notify(EventGeneric, eventCopyTo, dst)
	return true, nil
}

// RandomKey returns a random live key, or nil when the store is empty.
func (s *Store) RandomKey() []byte {
	clk := s.clock()
	for {
		sh := s.randomShard(func(sh *shard) bool { return sh.count.Load() > 0 })
		if sh == nil {
			return nil
		}
		sh.mu.Lock()
		if sh.entries.live == 0 {
			sh.mu.Unlock()
			continue
		}
		e := sh.randomEntry()
		if sh.isExpired(e, &clk) {
			// Every retry reclaims a key, so the loop ends.
			sh.reclaim(e, sh.bucketOf(e))
			sh.mu.Unlock()
			continue
		}
		k := bytes.Clone(e.key())
		sh.mu.Unlock()
		return k
	}
}

// randomShard returns a shard that satisfies ok, starting from a random
// one, or nil if none does. ok is called without the shard's lock.
func (s *Store) randomShard(ok func(*shard) bool) *shard {
	n := len(s.shards)
	start := rand.IntN(n)
	for i := range n {
		if sh := &s.shards[(start+i)&(n-1)]; ok(sh) {
			return sh
		}
	}
	return nil
}

// randomEntry returns a random key of the shard, which has one. Lock held.
func (sh *shard) randomEntry() *entry {
	n := sh.entries.len()
	for range randomProbes {
		if e := sh.entries.get(rand.IntN(n)); e != nil {
			return e
		}
	}
	start := rand.IntN(n)
	for i := range n {
		if e := sh.entries.get((start + i) % n); e != nil {
			return e
		}
	}
	return nil
}
