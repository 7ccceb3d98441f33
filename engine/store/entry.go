package store

import (
	"bytes"
	"math"
	"unsafe"
)

// Entry layout constants.
const (
	// entrySize is the size of an entry: one cache line.
	entrySize = 64
	// inlineKeyLen is the longest key stored in the entry itself; longer
	// keys get a buffer of their own. It is what the 64 bytes leave.
	inlineKeyLen = 20
	// hashCap marks an entry whose value is a hash in entry.vcap, where a
	// string's capacity, at most a little over MaxStringSize, never reaches it.
	hashCap = math.MaxUint32
	// sharedBit, in a string's vcap, marks a buffer handed out to a reader
	// (handOut): a string's capacity never reaches it either.
	sharedBit = 1 << 31
	// MaxKeySize is the longest key, as in Redis.
	MaxKeySize = MaxStringSize
	// formShift places a string's form in the upper bits of entry.vlen,
	// which a string's length, at most MaxStringSize, never reaches;
	// vlenMask keeps the length.
	formShift = 30
	vlenMask  = 1<<formShift - 1
)

// The length of a string must fit below its form: this fails to compile otherwise.
var _ [vlenMask - MaxStringSize]struct{}

// strForm is how a string value was last written, which decides the
// encoding OBJECT ENCODING names for it, as the same write decides it in
// Redis (see encodingOf).
type strForm uint32

// Forms of a string value.
const (
	// formWhole: written whole by SET and its kin, or by INCR and its kin.
	// Redis tries the integer encoding: int, else embstr or raw by length.
	formWhole strForm = iota
	// formText: written by INCRBYFLOAT, which Redis stores as text
	// without trying the integer encoding: embstr or raw by length.
	formText
	// formRaw: changed in place by APPEND, SETRANGE or SETBIT, or
	// written by BITOP: Redis's raw encoding, whatever the length.
	formRaw
)

// entry must fit in entrySize bytes: this fails to compile otherwise.
var _ [entrySize - unsafe.Sizeof(entry{})]struct{}

// entry is one key. It is 64 bytes, a cache line; keep it so. The 8-byte
// header of its page (see entryPageLen) moves it 8 bytes past a line's
// start, so the fields a lookup reads come first, in the 56 bytes that
// share one line, and h and slot, read when a key is added or removed,
// last.
//
// A key up to inlineKeyLen bytes lives in the entry: a lookup compares it
// without a cache miss of its own, and it costs no allocation. The value is
// a pointer and two lengths rather than a slice and a hash pointer, which
// is what makes room for it.
//
// Copy-on-write invariant: the bytes of a string value within its length
// are never modified once handed out, so getters hand out str()[:n:n]
// without copying (handOut) and the caller may read it after the shard is
// unlocked. Every change builds a new buffer, except two: APPEND (and a
// SETBIT that grows the string) may write into spare capacity beyond the
// current length, since a reader only ever sees its own, shorter length and
// the clipped capacity keeps a caller's append from reaching the spare
// bytes; and SETBIT flips a bit in place in a buffer never handed out
// (sharedBit clear), which no reader can see. Hash field values follow the same rule and are
// never extended in place. Keys are copied out, never handed out: an
// inline key is gone once its entry is reused.
type entry struct {
	val    unsafe.Pointer // a string's buffer, or its *hashValue; nil in a hole
	vlen   uint32         // length of a string, with its form above formShift
	vcap   uint32         // capacity of a string's buffer; hashCap for a hash
	kptr   *byte          // the key's buffer when longer than inlineKeyLen
	klen   uint32         // length of the key
	ttl    uint32         // 1 + position in shard.ttls; 0 when the key has no TTL
	access uint32         // shard.tick at the last access; under LFU, the counter and its time (lfu.go)
	kin    [inlineKeyLen]byte
	h      uint32 // low 32 bits of the key hash, as in the index bucket
	slot   uint32 // position in shard.entries for the whole life of the key
}

// isHole reports whether e is an unused position of its page: every key
// has a value, a string's buffer never nil (see clone) or a hash.
func (e *entry) isHole() bool { return e.val == nil }

// key returns the key's bytes; they are e's, valid while the shard is locked.
func (e *entry) key() []byte {
	if e.klen <= inlineKeyLen {
		return e.kin[:e.klen]
	}
	return unsafe.Slice(e.kptr, e.klen)
}

// keyIs reports whether e's key is k.
func (e *entry) keyIs(k []byte) bool {
	return len(k) == int(e.klen) && string(e.key()) == string(k)
}

// setKey makes k, at most MaxKeySize bytes, e's key.
func (e *entry) setKey(k []byte) {
	e.klen = uint32(len(k))
	if len(k) <= inlineKeyLen {
		copy(e.kin[:], k)
		return
	}
	e.kptr = unsafe.SliceData(bytes.Clone(k))
}

// str returns the value of a string key with its spare capacity, or nil
// for a hash.
func (e *entry) str() []byte {
	if e.vcap == hashCap {
		return nil
	}
	return unsafe.Slice((*byte)(e.val), e.vcap&^sharedBit)[:e.vlen&vlenMask]
}

// form returns how the string value was last written (see strForm).
func (e *entry) form() strForm { return strForm(e.vlen >> formShift) }

// setForm records that the string value was last written in form f.
func (e *entry) setForm(f strForm) { e.vlen = e.vlen&vlenMask | uint32(f)<<formShift }

// handOut returns the bytes of a string key for a reader that may read
// them after the shard is unlocked, clipped to their length, and marks the
// buffer shared: no byte of it within that length changes from then on.
func (e *entry) handOut() []byte {
	e.markShared()
	return view(e.str())
}

// markShared marks the string's buffer as read outside the store.
func (e *entry) markShared() {
	if e.vcap != hashCap {
		e.vcap |= sharedBit
	}
}

// shared reports whether the string's buffer may be read outside the store.
func (e *entry) shared() bool { return e.vcap != hashCap && e.vcap&sharedBit != 0 }

// hash returns the value of a hash key, or nil for a string.
func (e *entry) hash() *hashValue {
	if e.vcap == hashCap {
		return (*hashValue)(e.val)
	}
	return nil
}

// setStrValue makes v, which the store owns, e's value, written in form f.
func (e *entry) setStrValue(v []byte, f strForm) {
	if v == nil {
		v = []byte{}
	}
	p, shared := unsafe.Pointer(unsafe.SliceData(v)), uint32(0)
	if p == e.val && e.vcap != hashCap {
		// The same buffer, grown in its spare capacity: readers may
		// still hold it.
		shared = e.vcap & sharedBit
	}
	e.val, e.vlen, e.vcap = p, uint32(len(v))|uint32(f)<<formShift, uint32(cap(v))|shared
}

// setHashValue makes hv e's value.
func (e *entry) setHashValue(hv *hashValue) {
	e.val, e.vlen, e.vcap = unsafe.Pointer(hv), 0, hashCap
}

// checkKey refuses a key longer than MaxKeySize, for a write that may add it.
func checkKey(key []byte) error {
	if len(key) > MaxKeySize {
		return ErrTooLarge
	}
	return nil
}

// size is the accounted size of the entry (see Store.used).
func (e *entry) size() int64 {
	if hv := e.hash(); hv != nil {
		return entryOverhead + int64(e.klen) + hv.bytes
	}
	return entryOverhead + int64(e.klen) + int64(e.vlen&vlenMask)
}
