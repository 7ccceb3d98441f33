package wal

// NEXO patch (PATCHES.md): sizing and reusing the in-memory image of the
// tail segment.
//
// The log appends every entry it writes to the image of its tail segment
// (segment.ebuf) and the entry's position to segment.epos, and starts each
// segment with both empty. Grown by append, at 1.25 times per step past a
// few hundred bytes, a 4 MiB image costs about 20 MiB of allocations and
// 16 MiB of copies, mostly into pages the kernel faults in fresh.

// ReserveTail gives the image of the tail segment room for imageCap bytes
// and its entry positions room for entries entries, keeping what they
// hold.
func (l *Log) ReserveTail(imageCap, entries int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segments) == 0 {
		return
	}
	s := l.segments[len(l.segments)-1]
	if cap(s.ebuf) < imageCap {
		ebuf := make([]byte, len(s.ebuf), imageCap)
		copy(ebuf, s.ebuf)
		s.ebuf = ebuf
	}
	if cap(s.epos) < entries {
		epos := make([]bpos, len(s.epos), entries)
		copy(epos, s.epos)
		s.epos = epos
	}
}

// RecycleTail moves the image and the positions of the segment closed last
// to the tail segment, which keeps what it holds, so that a log keeps one
// image instead of allocating one per segment. Only for a log whose closed
// segments nobody reads: the closed segment is left without its image. It
// leaves an image that could not hold what the tail holds where it is.
func (l *Log) RecycleTail() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segments) < 2 {
		return
	}
	closed, tail := l.segments[len(l.segments)-2], l.segments[len(l.segments)-1]
	if cap(closed.ebuf) >= len(tail.ebuf) {
		ebuf := closed.ebuf[:len(tail.ebuf)]
		copy(ebuf, tail.ebuf)
		tail.ebuf, closed.ebuf = ebuf, nil
	}
	if cap(closed.epos) >= len(tail.epos) {
		epos := closed.epos[:len(tail.epos)]
		copy(epos, tail.epos)
		tail.epos, closed.epos = epos, nil
	}
}

// TailCapacity returns the capacities of the image of the tail segment and
// of its entry positions.
func (l *Log) TailCapacity() (image, entries int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segments) == 0 {
		return 0, 0
	}
	s := l.segments[len(l.segments)-1]
	return cap(s.ebuf), cap(s.epos)
}
