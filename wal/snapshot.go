package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// Snapshot file format, all integers little-endian:
//
//	header   magic "NEXOSNAP" | version uint32 | index uint64 | count uint64
//	record   uvarint(len(rec)) | checksum(rec) uint32 | rec       (count times)
//	trailer  checksum uint32 of every byte before it
//
// index is the last log index the snapshot covers. Checksums are masked
// CRC32C, as in the log. Open verifies the whole file; any damage is a
// *CorruptError.
const (
	snapshotName     = "snapshot"
	snapshotTempName = "snapshot.tmp"
	snapshotMagic    = "NEXOSNAP"
	snapshotVersion  = 1
	// snapshotHeaderSize is magic, version, index and count.
	snapshotHeaderSize = len(snapshotMagic) + 4 + 8 + 8
	// snapshotTrailerSize is the whole-file checksum.
	snapshotTrailerSize = crcSize
	// snapshotBufferSize is the write buffer of a snapshot.
	snapshotBufferSize = 256 << 10
)

// snapshotInfo describes the snapshot on disk.
type snapshotInfo struct {
	exists bool
	index  uint64 // last log index covered
	count  uint64 // records
	size   int64  // bytes
}

// Compact replaces everything up to and including index upTo by a snapshot
// made of live. The caller, holding its own lock, read upTo = LastIndex()
// and built live, the records that recreate its state as of upTo, in
// order; it may release its lock before calling Compact, and appends may
// continue meanwhile. Compact reads live and does not retain it.
//
// Compact waits until the log holds upTo on disk (fsynced, whatever the
// policy), writes the snapshot to a temporary file, fsyncs it, renames it
// over the previous one and fsyncs the directory; then the committer
// truncates the log from the front up to upTo. A crash at any point leaves
// the old or the new snapshot fully valid, and Replay skips log records the
// snapshot covers, so it returns every record exactly once.
//
// Compact with upTo equal to the current snapshot index does nothing; an
// upTo below it or above LastIndex is an error. Calls are serialised. A
// failure to write the snapshot leaves the log as it was and running.
func (l *Log) Compact(live [][]byte, upTo uint64) error {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()

	l.mu.Lock()
	closed, failErr, last, snapIndex := l.closed, l.failErr, l.last, l.snap.index
	l.used = true
	l.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case failErr != nil:
		return failErr
	case upTo > last:
		return fmt.Errorf("wal: compact up to index %d beyond the last appended %d", upTo, last)
	case upTo < snapIndex:
		return fmt.Errorf("wal: compact up to index %d below the snapshot's %d", upTo, snapIndex)
	case upTo == snapIndex:
		return nil
	}

	// The snapshot may replace log records only once they are on disk.
	if err := l.waitFor(upTo, false); err != nil {
		return err
	}
	if err := l.control(ctlSync, upTo); err != nil {
		return err
	}
	info, err := writeSnapshot(l.dir, upTo, live)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.snap = info
	l.mu.Unlock()
	return l.control(ctlTruncate, upTo)
}

// snapshotWriter writes a snapshot, keeping the whole-file checksum.
type snapshotWriter struct {
	bw   *bufio.Writer
	crc  uint32 // CRC32C of everything written
	size int64
	err  error
}

func (w *snapshotWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	w.crc = crc32.Update(w.crc, castagnoli, p)
	w.size += int64(len(p))
	_, w.err = w.bw.Write(p)
}

// writeSnapshot writes live as the snapshot covering index upTo (see
// Compact) and returns its description.
func writeSnapshot(dir string, upTo uint64, live [][]byte) (snapshotInfo, error) {
	tmp := filepath.Join(dir, snapshotTempName)
	final := filepath.Join(dir, snapshotName)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, filePerm)
	if err != nil {
		return snapshotInfo{}, fmt.Errorf("wal: snapshot: %w", err)
	}
	w := snapshotWriter{bw: bufio.NewWriterSize(f, snapshotBufferSize)}
	var field [snapshotHeaderSize]byte
	h := append(field[:0], snapshotMagic...)
	h = binary.LittleEndian.AppendUint32(h, snapshotVersion)
	h = binary.LittleEndian.AppendUint64(h, upTo)
	h = binary.LittleEndian.AppendUint64(h, uint64(len(live)))
	w.write(h)
	for _, rec := range live {
		p := binary.AppendUvarint(field[:0], uint64(len(rec)))
		p = binary.LittleEndian.AppendUint32(p, checksum(rec))
		w.write(p)
		w.write(rec)
	}
	w.write(binary.LittleEndian.AppendUint32(field[:0], mask(w.crc)))
	err = w.err
	if err == nil {
		err = w.bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return snapshotInfo{}, fmt.Errorf("wal: snapshot: %w", err)
	}
	return snapshotInfo{exists: true, index: upTo, count: uint64(len(live)), size: w.size}, nil
}

// snapshotReader reads a snapshot, verifying it as it goes.
type snapshotReader struct {
	path string
	br   *bufio.Reader
	size int64
	off  int64
	crc  uint32 // CRC32C of everything read
	buf  []byte
	one  [1]byte
}

// corrupt is a *CorruptError at the reader's offset.
func (r *snapshotReader) corrupt(reason string) error {
	return &CorruptError{File: r.path, Offset: r.off, Reason: "snapshot: " + reason}
}

// read returns the next n bytes (n no more than the bytes left), valid
// until the following call.
func (r *snapshotReader) read(n int) ([]byte, error) {
	if int64(n) > r.size-r.off {
		return nil, r.corrupt(fmt.Sprintf("%d bytes run past the end of the file", n))
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.br, p); err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", r.path, err)
	}
	r.crc = crc32.Update(r.crc, castagnoli, p)
	r.off += int64(n)
	return p, nil
}

// ReadByte reads one byte, keeping the running checksum and offset.
func (r *snapshotReader) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.one[0] = b
	r.crc = crc32.Update(r.crc, castagnoli, r.one[:])
	r.off++
	return b, nil
}

// readLength reads a record length.
func (r *snapshotReader) readLength() (uint64, error) {
	x, _, err := readUvarint(r)
	switch {
	case errors.Is(err, io.EOF):
		return 0, r.corrupt("incomplete record length at the end of the file")
	case errors.Is(err, errVarintOverflow):
		return 0, r.corrupt(err.Error())
	case err != nil:
		return 0, fmt.Errorf("wal: read %s: %w", r.path, err)
	}
	return x, nil
}

// readSnapshot verifies the snapshot at path from end to end and calls fn
// with each record, valid only during the call.
func readSnapshot(path string, fn func(rec []byte) error) error {
	_, err := scanSnapshot(path, fn)
	return err
}

// verifySnapshot verifies the snapshot at path; a missing file is no
// snapshot.
func verifySnapshot(path string) (snapshotInfo, error) {
	info, err := scanSnapshot(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return snapshotInfo{}, nil
	}
	return info, err
}

// scanSnapshot reads and verifies the snapshot at path, calling fn (when
// not nil) with each record, and returns its description.
func scanSnapshot(path string, fn func(rec []byte) error) (snapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return snapshotInfo{}, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return snapshotInfo{}, fmt.Errorf("wal: %w", err)
	}
	r := snapshotReader{path: path, br: bufio.NewReaderSize(f, readBufferSize), size: st.Size()}
	h, err := r.read(snapshotHeaderSize)
	if err != nil {
		return snapshotInfo{}, err
	}
	if string(h[:len(snapshotMagic)]) != snapshotMagic {
		r.off = 0
		return snapshotInfo{}, r.corrupt("bad magic")
	}
	h = h[len(snapshotMagic):]
	if v := binary.LittleEndian.Uint32(h); v != snapshotVersion {
		r.off = int64(len(snapshotMagic))
		return snapshotInfo{}, r.corrupt(fmt.Sprintf("unknown version %d", v))
	}
	info := snapshotInfo{
		exists: true,
		index:  binary.LittleEndian.Uint64(h[4:]),
		count:  binary.LittleEndian.Uint64(h[12:]),
		size:   r.size,
	}
	for range info.count {
		start := r.off
		length, err := r.readLength()
		if err != nil {
			return info, err
		}
		if room := r.size - r.off - crcSize - snapshotTrailerSize; room < 0 || length > uint64(room) {
			r.off = start
			return info, r.corrupt(fmt.Sprintf("record of %d bytes runs past the end of the file", length))
		}
		p, err := r.read(crcSize + int(length))
		if err != nil {
			return info, err
		}
		if binary.LittleEndian.Uint32(p) != checksum(p[crcSize:]) {
			r.off = start
			return info, r.corrupt("record checksum mismatch")
		}
		if fn != nil {
			if err := fn(p[crcSize:]); err != nil {
				return info, err
			}
		}
	}
	want := mask(r.crc)
	t, err := r.read(snapshotTrailerSize)
	if err != nil {
		return info, err
	}
	if binary.LittleEndian.Uint32(t) != want {
		r.off -= snapshotTrailerSize
		return info, r.corrupt("file checksum mismatch")
	}
	if r.off != r.size {
		return info, r.corrupt(fmt.Sprintf("%d unexpected bytes after the trailer", r.size-r.off))
	}
	return info, nil
}
