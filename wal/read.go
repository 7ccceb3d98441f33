package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	twal "github.com/tidwall/wal"
)

// readMarkSpacing is about how many bytes of a closed segment separate two
// read marks: a read that starts in the middle of a segment reads at most
// this much before its first record.
const readMarkSpacing = 64 << 10

// readChunk is the most a read of a closed segment takes from the file at
// a time. Within it, a read takes what it expects to need: no further than
// the read mark after its last record, and no more than its remaining
// records times the mean entry size of the segment's parsed part.
const readChunk = 64 << 10

// readMark is where an entry of a closed segment starts.
type readMark struct {
	index uint64 // the entry's record index
	pos   int64  // its byte offset in the file
}

// closedSegment is a segment file tidwall closed. ReadRange reads its
// records from the file, starting at the last read mark at or before the
// first record it wants. The marks grow as reads parse the file: marks
// holds one entry start per readMarkSpacing bytes of the part already
// parsed, which ends at scanned. The marks change under readMu.
type closedSegment struct {
	first   uint64 // index of its first record
	marks   []readMark
	scanned readMark // the first entry not parsed yet
}

func newClosedSegment(first uint64) *closedSegment {
	start := readMark{index: first}
	return &closedSegment{first: first, marks: []readMark{start}, scanned: start}
}

// readView is what ReadRange needs of the segments, taken under mu.
type readView struct {
	closed    []*closedSegment
	tailFirst uint64
}

// segmentOf returns the closed segment holding index and the first index
// after it.
func (v readView) segmentOf(index uint64) (*closedSegment, uint64) {
	i := sort.Search(len(v.closed), func(i int) bool { return v.closed[i].first > index }) - 1
	end := v.tailFirst
	if i+1 < len(v.closed) {
		end = v.closed[i+1].first
	}
	return v.closed[i], end
}

// readRecords returns the n records from index on, each with its
// checksum verified and clipped to its length. Records of closed segments
// come from their files, the others from tidwall's tail in memory. readMu
// should be held.
func (l *Log) readRecords(v readView, index uint64, n int) ([][]byte, error) {
	recs := make([][]byte, 0, n)
	for len(recs) < n {
		at := index + uint64(len(recs))
		if at >= v.tailFirst {
			return l.readTail(recs, v, at, n-len(recs))
		}
		seg, end := v.segmentOf(at)
		var err error
		if recs, err = l.readClosed(recs, seg, at, min(uint64(n-len(recs)), end-at)); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// readTail appends the n records from index on, held by tidwall's tail
// segment, to recs. tidwall runs with NoCopy: each data is a slice of its
// image of the segment, whose written bytes it never changes (the tail
// grows by append past its written length; nothing here truncates the back
// of an open log), so a slice stays valid however the log moves on.
func (l *Log) readTail(recs [][]byte, v readView, index uint64, n int) ([][]byte, error) {
	for i := range uint64(n) {
		data, err := l.tl.Read(index + i)
		switch {
		case errors.Is(err, twal.ErrNotFound):
			err = ErrNotFound
		case errors.Is(err, twal.ErrClosed):
			err = ErrClosed
		case err != nil:
			err = fmt.Errorf("wal: read %s index %d: %w", l.dir, index+i, err)
		case len(data) < crcSize || binary.LittleEndian.Uint32(data) != checksum(data[crcSize:]):
			err = &CorruptError{File: filepath.Join(l.dir, segmentName(v.tailFirst)), Offset: -1, Index: index + i,
				Reason: "checksum mismatch"}
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, data[crcSize:len(data):len(data)])
	}
	return recs, nil
}

// readClosed appends the n records from index on, all held by seg, to
// recs, reading them from seg's file and adding the read marks it passes.
// Each record is a slice of a buffer the read allocated and nothing
// changes after.
func (l *Log) readClosed(recs [][]byte, seg *closedSegment, index uint64, n uint64) ([][]byte, error) {
	file, err := l.segmentFile(seg)
	if err != nil {
		return nil, err
	}
	last := index + n - 1
	// Start at the last known entry start at or before index (a mark, or
	// the end of the parsed part); stop reading at the first one past last,
	// when there is one.
	i := sort.Search(len(seg.marks), func(i int) bool { return seg.marks[i].index > index }) - 1
	at := seg.marks[i]
	if seg.scanned.index <= index {
		at = seg.scanned
	}
	stop := int64(-1)
	j := sort.Search(len(seg.marks), func(j int) bool { return seg.marks[j].index > last })
	switch {
	case j < len(seg.marks):
		stop = seg.marks[j].pos
	case seg.scanned.index > last:
		stop = seg.scanned.pos
	}
	r := segmentReader{f: file.f, path: file.path, size: file.size, stop: stop}
	defer func() { l.readBytes.Add(uint64(r.read)) }()
	if parsed := seg.scanned.index - seg.first; parsed > 0 {
		r.mean = seg.scanned.pos / int64(parsed)
	}
	for ; at.index <= last; at.index++ {
		r.left = int64(last - at.index + 1)
		data, next, err := r.entry(at)
		if err != nil {
			return nil, err
		}
		if at.index >= index {
			recs = append(recs, data[crcSize:len(data):len(data)])
		}
		if at.index == seg.scanned.index {
			if at.pos-seg.marks[len(seg.marks)-1].pos >= readMarkSpacing {
				seg.marks = append(seg.marks, at)
			}
			seg.scanned = readMark{index: at.index + 1, pos: next}
		}
		at.pos = next
	}
	return recs, nil
}

// maxOpenSegments is how many closed segment files a log keeps open for
// its reads: one per place read at once (a replay beside consumers that
// lag), since a read mostly goes on where the last one at that place
// stopped, and opening a file costs more than reading 64 KiB of it from
// the page cache. The least recently read is closed first.
const maxOpenSegments = 4

// openSegment is the file of a closed segment kept open for reads. The
// files change under readMu, which a truncation holds while it closes them
// before removing or renaming segments.
type openSegment struct {
	seg  *closedSegment
	f    *os.File
	path string
	size int64 // a closed segment's file never changes size
}

// segmentFile returns seg's file, kept open by an earlier read or opened
// now, in which case it takes the place of the least recently read one
// when maxOpenSegments are open. readMu should be held.
func (l *Log) segmentFile(seg *closedSegment) (*openSegment, error) {
	// readFiles is in the order of the reads, the most recent last.
	for i, file := range l.readFiles {
		if file.seg == seg {
			copy(l.readFiles[i:], l.readFiles[i+1:])
			l.readFiles[len(l.readFiles)-1] = file
			return file, nil
		}
	}
	path := filepath.Join(l.dir, segmentName(seg.first))
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: read %s: %w", path, err)
	}
	if len(l.readFiles) == maxOpenSegments {
		l.readFiles[0].f.Close()
		l.readFiles = append(l.readFiles[:0], l.readFiles[1:]...)
	}
	file := &openSegment{seg: seg, f: f, path: path, size: info.Size()}
	l.readFiles = append(l.readFiles, file)
	return file, nil
}

// closeSegmentFiles closes the segment files kept open for reads. readMu
// should be held.
func (l *Log) closeSegmentFiles() {
	for _, file := range l.readFiles {
		file.f.Close()
	}
	clear(l.readFiles)
	l.readFiles = l.readFiles[:0]
}

// segmentReader reads the entries of one closed segment file through a
// window of it, read with pread. A window that does not hold the next entry
// is replaced, not reused: the records handed out are slices of it.
type segmentReader struct {
	f    *os.File
	path string
	size int64 // file size
	stop int64 // where the bytes the read needs end, when known; else -1
	mean int64 // mean entry size of the segment's parsed part; 0 when unknown
	left int64 // entries the read still needs, the next one included
	win  []byte
	base int64 // file offset of win[0]
	read int   // bytes read from the file
}

// entry returns the data of the entry at, its checksum verified, and the
// offset of the next entry. Entries a read passes on its way to the first
// one it wants are verified too: where a damaged length would send the
// read to a wrong offset, their checksums stop it before it can take the
// entry at some later offset for the record it wants.
func (r *segmentReader) entry(at readMark) ([]byte, int64, error) {
	corrupt := func(reason string) error {
		return &CorruptError{File: r.path, Offset: at.pos, Index: at.index, Reason: reason}
	}
	if at.pos >= r.size {
		return nil, 0, corrupt("the segment ends before this record")
	}
	var size uint64
	n := 0
	if off := at.pos - r.base; off >= 0 && off < int64(len(r.win)) {
		size, n = binary.Uvarint(r.win[off:])
	}
	if n <= 0 {
		// The window ends inside the length, or holds no part of it.
		head, err := r.window(at.pos, int(min(binary.MaxVarintLen64, r.size-at.pos)))
		if err != nil {
			return nil, 0, err
		}
		size, n = binary.Uvarint(head)
	}
	start := at.pos + int64(n)
	switch {
	case n <= 0:
		return nil, 0, corrupt("bad entry length")
	case size < crcSize:
		return nil, 0, corrupt(fmt.Sprintf("entry of %d bytes is shorter than its checksum", size))
	case size > uint64(r.size-start):
		return nil, 0, corrupt(fmt.Sprintf("entry of %d bytes runs past the end of the file", size))
	}
	data, err := r.window(start, int(size))
	if err != nil {
		return nil, 0, err
	}
	if binary.LittleEndian.Uint32(data) != checksum(data[crcSize:]) {
		return nil, 0, corrupt("checksum mismatch")
	}
	return data, start + int64(size), nil
}

// window returns the want bytes at offset pos, all in the file, reading a
// new window when the current one does not hold them: up to stop when that
// is known, else readChunk, and want at least, within the file.
func (r *segmentReader) window(pos int64, want int) ([]byte, error) {
	if off := pos - r.base; off >= 0 && off+int64(want) <= int64(len(r.win)) {
		return r.win[off : off+int64(want)], nil
	}
	size := int64(readChunk)
	if r.mean > 0 {
		size = min(size, r.left*r.mean+binary.MaxVarintLen64)
	}
	if r.stop > pos {
		size = min(size, r.stop-pos)
	}
	win := make([]byte, min(max(int64(want), size), r.size-pos))
	got, err := readAt(r.f, win, pos)
	r.read += got
	if err != nil {
		return nil, fmt.Errorf("wal: read %s at offset %d: %w", r.path, pos, err)
	}
	r.win, r.base = win, pos
	return win[:want], nil
}
