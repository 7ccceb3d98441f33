package wal

// NEXO patch (PATCHES.md): zeros written ahead of the tail segment's end.
//
// An fsync of a file that grew since the last one writes the inode as well
// as the data: on ext4 a second device write and wait per fsync, about a
// third of its time and CPU. With Options.Preallocate set, a write that
// grows the tail segment file, and is smaller than that, is followed by
// that many zero bytes, so the writes after it land inside the file and
// their fsyncs write data only (syncTail uses fdatasync where the platform
// has it). Zeros are written, not allocated with fallocate: a write into
// an allocated but unwritten extent changes the extent tree, metadata
// again. A segment is cut back to its entries when it closes (cycle,
// Close); a log that crashed keeps its zeros, which the caller must cut
// before Open, since a zero byte reads as an empty entry.

// zeroBlockSize is the most zeroAhead writes in one call.
const zeroBlockSize = 64 << 10

// zeroBlock is what zeroAhead writes from.
var zeroBlock [zeroBlockSize]byte

// zeroAhead writes Options.Preallocate zero bytes after end, the end of
// the tail segment's entries, when the write of n bytes that ended there
// grew the file past its zeros. A write of Preallocate bytes or more gets
// none: the writes that follow it are likely as large and would grow the
// file anyway, each sharing its size's write among many entries, and the
// zeros would be written for nothing.
func (l *Log) zeroAhead(end, n int64) error {
	if l.opts.Preallocate <= 0 || end <= l.fileEnd {
		return nil
	}
	l.fileEnd = end
	if n >= int64(l.opts.Preallocate) {
		return nil
	}
	for target := end + int64(l.opts.Preallocate); l.fileEnd < target; {
		block := zeroBlock[:]
		if left := target - l.fileEnd; left < int64(len(block)) {
			block = block[:left]
		}
		n, err := l.sfile.WriteAt(block, l.fileEnd)
		l.fileEnd += int64(n)
		if err != nil {
			return err
		}
	}
	return nil
}

// cutZeros cuts the zeros past the tail segment's entries off its file.
func (l *Log) cutZeros() error {
	end := int64(len(l.segments[len(l.segments)-1].ebuf))
	if l.fileEnd <= end {
		return nil
	}
	if err := l.sfile.Truncate(end); err != nil {
		return err
	}
	l.fileEnd = end
	return nil
}

// TailSize returns the bytes of the tail segment's entries, which its
// file holds followed by up to Options.Preallocate zero bytes.
func (l *Log) TailSize() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segments) == 0 {
		return 0
	}
	return len(l.segments[len(l.segments)-1].ebuf)
}
