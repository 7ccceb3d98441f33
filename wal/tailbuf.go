package wal

import (
	"reflect"
	"unsafe"

	twal "github.com/tidwall/wal"
)

// tidwall appends every record it writes to its in-memory image of the
// tail segment (segment.ebuf) and the record's position to segment.epos,
// and starts each segment with both slices empty. Grown by append, at 1.25
// times per step past a few hundred bytes, a 4 MiB image costs about 20 MiB
// of allocations and 16 MiB of copies, mostly into pages the kernel faults
// in fresh: a fifth of the server's CPU under pipelined QPUSH. tidwall has
// no option to size them, so tailReserver gives the tail's slices their
// final capacity, reaching the two fields by reflection. The layout is
// checked against tidwall's types once, at Open; if it is not the one
// described here, the reserver is nil and tidwall grows its slices itself.
// In a log opened WriteOnly, the slices of the segment that closes become
// the next tail's, so the log keeps reusing one image instead of leaving a
// new one to the collector every segment.

// tailHeadroom is the room reserved past SegmentSize in the tail's image:
// tidwall closes a segment once it reaches SegmentSize, so the image ends
// at most one record past it.
const tailHeadroom = 64 << 10

// positionsHeadroomShift sizes the positions reserved for a new tail: the
// record count of the segment before it, plus that count shifted right by
// this much (an eighth).
const positionsHeadroomShift = 3

// tailReserver reaches the slices of tidwall's tail segment. The writer
// calls it with readMu held, so neither tidwall's writes nor its reads run
// meanwhile.
type tailReserver struct {
	segments reflect.Value // tidwall's Log.segments, settable: []*segment
	ebuf     int           // index of segment.ebuf ([]byte)
	epos     int           // index of segment.epos ([]struct{pos, end int})
}

// newTailReserver returns the reserver of tl, or nil when tidwall's Log
// does not hold its segments as tailReserver expects.
func newTailReserver(tl *twal.Log) *tailReserver {
	segments := reflect.ValueOf(tl).Elem().FieldByName("segments")
	if !segments.IsValid() || segments.Kind() != reflect.Slice ||
		segments.Type().Elem().Kind() != reflect.Pointer ||
		segments.Type().Elem().Elem().Kind() != reflect.Struct {
		return nil
	}
	seg := segments.Type().Elem().Elem()
	ebuf, ok := seg.FieldByName("ebuf")
	if !ok || ebuf.Type != reflect.TypeFor[[]byte]() {
		return nil
	}
	epos, ok := seg.FieldByName("epos")
	if !ok || !isPositions(epos.Type) {
		return nil
	}
	return &tailReserver{segments: settable(segments), ebuf: ebuf.Index[0], epos: epos.Index[0]}
}

// isPositions reports whether t is a slice of struct{pos, end int}.
func isPositions(t reflect.Type) bool {
	if t.Kind() != reflect.Slice || t.Elem().Kind() != reflect.Struct || t.Elem().NumField() != 2 {
		return false
	}
	for i, name := range []string{"pos", "end"} {
		f := t.Elem().Field(i)
		if f.Name != name || f.Type.Kind() != reflect.Int {
			return false
		}
	}
	return true
}

// settable returns v, an addressable value reached through unexported
// fields, as a value that can be set.
func settable(v reflect.Value) reflect.Value {
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// reserve gives the tail segment's image room for imageCap bytes and its
// positions room for records entries, keeping what they hold. A nil
// reserver does nothing.
func (r *tailReserver) reserve(imageCap, records int) {
	if r == nil || r.segments.Len() == 0 {
		return
	}
	seg := r.segments.Index(r.segments.Len() - 1).Elem()
	grow(settable(seg.Field(r.ebuf)), imageCap)
	grow(settable(seg.Field(r.epos)), records)
}

// recycle moves the image and positions of the segment closed last to the
// tail, which keeps what it holds: in a log nobody reads, nothing else
// refers to them once the segment is closed. It does nothing when they
// could not hold what the tail holds, or with a nil reserver.
func (r *tailReserver) recycle() {
	if r == nil || r.segments.Len() < 2 {
		return
	}
	closed := r.segments.Index(r.segments.Len() - 2).Elem()
	tail := r.segments.Index(r.segments.Len() - 1).Elem()
	for _, field := range []int{r.ebuf, r.epos} {
		from, to := settable(closed.Field(field)), settable(tail.Field(field))
		if from.Cap() < to.Len() {
			continue
		}
		reused := from.Slice(0, to.Len())
		reflect.Copy(reused, to)
		to.Set(reused)
		from.SetZero()
	}
}

// grow replaces the slice s by a copy with capacity n when it has less.
func grow(s reflect.Value, n int) {
	if s.Cap() >= n {
		return
	}
	c := reflect.MakeSlice(s.Type(), s.Len(), n)
	reflect.Copy(c, s)
	s.Set(c)
}
