package store

import (
	"math/rand/v2"

	"nexo/internal/number"
)

const (
	// hashFieldOverhead is the accounted per-field cost on top of name and
	// value bytes: the field record, its share of the field index and its
	// place in the draw list.
	hashFieldOverhead = 64
	// hashSmallFields is the number of fields up to which a hash is a dense
	// array searched linearly, without an index (Redis's listpack).
	hashSmallFields = 32
	// maxRandomCount bounds |count| of HRANDFIELD with a negative count,
	// whose reply may repeat fields and so is not bounded by the hash size.
	maxRandomCount = 1 << 20
)

// hashField is a field of a hash. In a large hash a nil val marks a hole;
// stored values are never nil (see clone).
type hashField struct {
	name string
	val  []byte
}

func (f hashField) isHole() bool { return f.val == nil }

// hashValue is the value of a hash key. A small hash keeps its fields dense
// in fields.items (no holes) and has no index; once it grows past
// hashSmallFields it gets an index and its fields keep their positions for
// life, which HSCAN relies on. Deleted fields leave holes behind, so a hash
// that was large once may have far more positions than fields: HRANDFIELD
// draws from the draw list, which holds the position of every field of a
// large hash and no hole, so its cost follows the fields the hash has now.
type hashValue struct {
	fields slots[hashField]
	index  map[string]fieldRef // field name -> its places; nil while small
	draw   []uint32            // positions of the fields, in no order; nil while small
	bytes  int64               // accounted size of names, values and overhead
}

// fieldRef is where a field of a large hash is: its position in
// fields.items and its index in the draw list.
type fieldRef struct {
	pos, draw uint32
}

func fieldSize(name string, val []byte) int64 {
	return hashFieldOverhead + int64(len(name)+len(val))
}

// find returns the position of field name, or -1.
func (hv *hashValue) find(name []byte) int {
	if hv.index != nil {
		if r, ok := hv.index[string(name)]; ok {
			return int(r.pos)
		}
		return -1
	}
	for i, f := range hv.fields.items {
		if f.name == string(name) {
			return i
		}
	}
	return -1
}

func (hv *hashValue) get(name []byte) ([]byte, bool) {
	if p := hv.find(name); p >= 0 {
		return hv.fields.items[p].val, true
	}
	return nil, false
}

// set stores val (owned by the store) under name and reports whether the
// field is new.
func (hv *hashValue) set(name []byte, val []byte) bool {
	if p := hv.find(name); p >= 0 {
		f := &hv.fields.items[p]
		hv.bytes += int64(len(val) - len(f.val))
		f.val = val
		return false
	}
	f := hashField{name: string(name), val: val}
	hv.bytes += fieldSize(f.name, val)
	p := hv.fields.put(f)
	switch {
	case hv.index != nil:
		hv.index[f.name] = fieldRef{pos: p, draw: uint32(len(hv.draw))}
		hv.draw = append(hv.draw, p)
	case hv.fields.live > hashSmallFields:
		hv.index = make(map[string]fieldRef, hv.fields.live)
		hv.draw = make([]uint32, len(hv.fields.items))
		for i, f := range hv.fields.items {
			hv.index[f.name] = fieldRef{pos: uint32(i), draw: uint32(i)}
			hv.draw[i] = uint32(i)
		}
	}
	return true
}

// del removes field name and reports whether it existed.
func (hv *hashValue) del(name []byte) bool {
	if hv.index != nil {
		return hv.delLarge(name)
	}
	p := hv.find(name)
	if p < 0 {
		return false
	}
	f := hv.fields.items[p]
	hv.bytes -= fieldSize(f.name, f.val)
	// Small hashes stay dense: move the last field into the gap.
	items := hv.fields.items
	last := len(items) - 1
	items[p] = items[last]
	items[last] = hashField{}
	hv.fields.items = items[:last]
	hv.fields.live--
	return true
}

// delLarge is del for a large hash: the field's position becomes a hole,
// and the last entry of the draw list moves into the field's entry.
func (hv *hashValue) delLarge(name []byte) bool {
	r, ok := hv.index[string(name)]
	if !ok {
		return false
	}
	f := hv.fields.items[r.pos]
	hv.bytes -= fieldSize(f.name, f.val)
	delete(hv.index, f.name)
	if last := uint32(len(hv.draw) - 1); r.draw != last {
		moved := hv.draw[last]
		hv.draw[r.draw] = moved
		hv.index[hv.fields.items[moved].name] = fieldRef{pos: moved, draw: r.draw}
	}
	hv.draw = shrink(hv.draw[:len(hv.draw)-1])
	hv.fields.release(r.pos)
	return true
}

// all returns the field/value pairs (or only names or values) in position order.
func (hv *hashValue) all(names, values bool) [][]byte {
	per := 0
	if names {
		per++
	}
	if values {
		per++
	}
	out := make([][]byte, 0, hv.fields.live*per)
	for _, f := range hv.fields.items {
		if f.isHole() {
			continue
		}
		if names {
			out = append(out, []byte(f.name))
		}
		if values {
			out = append(out, view(f.val))
		}
	}
	return out
}

// clone copies the hash structure. Names and values are shared: neither is
// ever modified in place (see entry).
func (hv *hashValue) clone() *hashValue {
	c := &hashValue{bytes: hv.bytes}
	c.fields.items = append([]hashField(nil), hv.fields.items...)
	c.fields.free = append([]uint32(nil), hv.fields.free...)
	c.fields.live = hv.fields.live
	if hv.index != nil {
		c.index = make(map[string]fieldRef, len(hv.index))
		for k, v := range hv.index {
			c.index[k] = v
		}
		c.draw = append([]uint32(nil), hv.draw...)
	}
	return c
}

// random returns the position of a random field, in constant time; the
// hash is not empty.
func (hv *hashValue) random() int {
	if hv.index != nil {
		return int(hv.draw[rand.IntN(len(hv.draw))])
	}
	return rand.IntN(len(hv.fields.items))
}

// positions returns the positions of the fields in a new slice, in no
// order, in time proportional to their number.
func (hv *hashValue) positions() []int {
	ps := make([]int, hv.fields.live)
	if hv.index == nil {
		for i := range ps {
			ps[i] = i
		}
		return ps
	}
	for i, p := range hv.draw {
		ps[i] = int(p)
	}
	return ps
}

// hashOp runs fn on the hash at key under the shard lock. fn gets nil when
// the key does not exist; a key of another type is ErrWrongType. With
// create, a missing key is created as an empty hash, and deleted again if fn
// leaves it empty; a hash that existed and that fn leaves empty is deleted
// (a del event). Memory changes made by fn are accounted.
func (s *Store) hashOp(key []byte, create, read bool, fn func(hv *hashValue) error) error {
	if create {
		if err := checkKey(key); err != nil {
			return err
		}
	}
	clk := s.clock()
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var e *entry
	if read {
		e = sh.read(key, h, &clk)
	} else {
		e = sh.get(key, h, &clk)
	}
	existed := e != nil
	switch {
	case e != nil && e.hash() == nil:
		return ErrWrongType
	case e == nil && !create:
		return fn(nil)
	case e == nil:
		e = sh.insert(key, h)
		old := e.size()
		e.setHashValue(&hashValue{})
		sh.store.used.Add(e.size() - old)
	}
	before := e.size()
	err := fn(e.hash())
	sh.store.used.Add(e.size() - before)
	switch {
	case e.hash().fields.live > 0:
	case existed:
		sh.delete(e)
	default:
		sh.remove(e)
	}
	return err
}

// HSet sets the fields of the field/value list pairs and returns how many
// were new.
func (s *Store) HSet(key []byte, pairs [][]byte) (int, error) {
	if len(pairs)%2 != 0 {
		return 0, ErrPairs
	}
	if len(pairs) == 0 {
		return 0, nil
	}
	need := int64(entryOverhead + len(key))
	for i := 0; i < len(pairs); i += 2 {
		need += hashFieldOverhead + int64(len(pairs[i])+len(pairs[i+1]))
	}
	if err := s.reserve(need); err != nil {
		return 0, err
	}
	added := 0
	err := s.hashOp(key, true, false, func(hv *hashValue) error {
		for i := 0; i < len(pairs); i += 2 {
			if hv.set(pairs[i], clone(pairs[i+1])) {
				added++
			}
		}
		s.notify(EventHash, eventHSet, key)
		return nil
	})
	return added, err
}

// HSetNX sets field only if it does not exist.
func (s *Store) HSetNX(key, field, value []byte) (bool, error) {
	if err := s.reserve(entryOverhead + hashFieldOverhead + int64(len(key)+len(field)+len(value))); err != nil {
		return false, err
	}
	set := false
	err := s.hashOp(key, true, false, func(hv *hashValue) error {
		if hv.find(field) < 0 {
			set = hv.set(field, clone(value))
			s.notify(EventHash, eventHSet, key)
		}
		return nil
	})
	return set, err
}

// HGet returns the value of field, or nil.
func (s *Store) HGet(key, field []byte) ([]byte, error) {
	var v []byte
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv != nil {
			if val, ok := hv.get(field); ok {
				v = view(val)
			}
		}
		return nil
	})
	return v, err
}

// HMGet returns the values of fields; an entry is nil for a missing field.
func (s *Store) HMGet(key []byte, fields [][]byte) ([][]byte, error) {
	out := make([][]byte, len(fields))
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv != nil {
			for i, f := range fields {
				if val, ok := hv.get(f); ok {
					out[i] = view(val)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HDel deletes fields and returns how many existed. A hash left empty is deleted.
func (s *Store) HDel(key []byte, fields [][]byte) (int, error) {
	n := 0
	err := s.hashOp(key, false, false, func(hv *hashValue) error {
		if hv != nil {
			for _, f := range fields {
				if hv.del(f) {
					n++
				}
			}
		}
		if n > 0 {
			s.notify(EventHash, eventHDel, key)
		}
		return nil
	})
	return n, err
}

// HLen returns the number of fields.
func (s *Store) HLen(key []byte) (int, error) {
	n := 0
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv != nil {
			n = hv.fields.live
		}
		return nil
	})
	return n, err
}

// HExists reports whether field exists.
func (s *Store) HExists(key, field []byte) (bool, error) {
	ok := false
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		ok = hv != nil && hv.find(field) >= 0
		return nil
	})
	return ok, err
}

// HGetAll returns field, value, field, value...
func (s *Store) HGetAll(key []byte) ([][]byte, error) {
	return s.hashAll(key, true, true)
}

// HKeys returns the field names.
func (s *Store) HKeys(key []byte) ([][]byte, error) {
	return s.hashAll(key, true, false)
}

// HVals returns the values.
func (s *Store) HVals(key []byte) ([][]byte, error) {
	return s.hashAll(key, false, true)
}

func (s *Store) hashAll(key []byte, names, values bool) ([][]byte, error) {
	var out [][]byte
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv != nil {
			out = hv.all(names, values)
		}
		return nil
	})
	return out, err
}

// HIncrBy adds delta to the integer in field (0 when missing).
func (s *Store) HIncrBy(key, field []byte, delta int64) (int64, error) {
	if err := s.reserve(entryOverhead + hashFieldOverhead + int64(len(key)+len(field)) + maxInt64Len); err != nil {
		return 0, err
	}
	var n int64
	err := s.hashOp(key, true, false, func(hv *hashValue) error {
		cur := int64(0)
		if v, ok := hv.get(field); ok {
			if cur, ok = number.ParseInt(v); !ok {
				return ErrHashNotInteger
			}
		}
		var ok bool
		if n, ok = addInt(cur, delta); !ok {
			return ErrOverflow
		}
		hv.set(field, formatInt(n))
		s.notify(EventHash, eventHIncrBy, key)
		return nil
	})
	return n, err
}

// HIncrByFloat adds the number incr (text, parsed as Redis parses it) to
// the number in field (0 when missing) and returns the stored text. An
// infinite incr is ErrInfiniteIncrement, whatever the key holds.
func (s *Store) HIncrByFloat(key, field, incr []byte) ([]byte, error) {
	delta, ok := parseLongDouble(incr)
	switch {
	case !ok:
		return nil, ErrNotFloat
	case delta.IsInf():
		return nil, ErrInfiniteIncrement
	}
	if err := s.reserve(entryOverhead + hashFieldOverhead + int64(len(key)+len(field)) + maxFloatLen); err != nil {
		return nil, err
	}
	var out []byte
	err := s.hashOp(key, true, false, func(hv *hashValue) error {
		cur := zeroLongDouble()
		if v, ok := hv.get(field); ok {
			if cur, ok = parseLongDouble(v); !ok {
				return ErrHashNotFloat
			}
		}
		r, err := addLongDouble(cur, delta)
		if err != nil {
			return err
		}
		v := formatLongDouble(r)
		hv.set(field, v)
		out = view(v)
		s.notify(EventHash, eventHIncrByFloat, key)
		return nil
	})
	return out, err
}

// HStrLen returns the length of the value of field, 0 when missing.
func (s *Store) HStrLen(key, field []byte) (int, error) {
	n := 0
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv != nil {
			v, _ := hv.get(field)
			n = len(v)
		}
		return nil
	})
	return n, err
}

// HRandField returns random fields (with their values when withValues, as
// field, value pairs). A positive count returns distinct fields, at most
// all of them; a negative count returns |count| fields that may repeat.
// |count| beyond maxRandomCount with a negative count is ErrNotInteger. The
// cost follows count and the number of fields, however many the hash had
// before (see hashValue).
func (s *Store) HRandField(key []byte, count int64, withValues bool) ([][]byte, error) {
	if count < -maxRandomCount {
		return nil, ErrNotInteger
	}
	var out [][]byte
	err := s.hashOp(key, false, true, func(hv *hashValue) error {
		if hv == nil || count == 0 {
			return nil
		}
		items := hv.fields.items
		pick := func(p int) {
			out = append(out, []byte(items[p].name))
			if withValues {
				out = append(out, view(items[p].val))
			}
		}
		if count < 0 {
			for range -count {
				pick(hv.random())
			}
			return nil
		}
		// Distinct positions by a partial Fisher-Yates shuffle of the
		// positions of the fields.
		ps := hv.positions()
		for i := range int(min(count, int64(len(ps)))) {
			j := i + rand.IntN(len(ps)-i)
			ps[i], ps[j] = ps[j], ps[i]
			pick(ps[i])
		}
		return nil
	})
	return out, err
}
