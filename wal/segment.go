package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// crcSize is the size of a record's checksum.
const crcSize = 4

// crcMaskDelta and crcMaskRotate mask a CRC as LevelDB does (see the
// package comment).
const (
	crcMaskDelta  = 0xa282ead8
	crcMaskRotate = 15
)

// readBufferSize is the read buffer of segment and snapshot scans.
const readBufferSize = 256 << 10

// segmentNameLen is the length of a segment file name: its first index in
// zero-padded decimal (tidwall's segmentName).
const segmentNameLen = 20

// Suffixes of tidwall's truncation files.
const (
	startSuffix = ".START" // TruncateFront's new first segment
	endSuffix   = ".END"   // TruncateBack's new last segment
	tempSuffix  = ".TEMP"  // a START or END file being written
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// mask turns a CRC32C into the stored checksum.
func mask(c uint32) uint32 {
	return (c>>crcMaskRotate | c<<(32-crcMaskRotate)) + crcMaskDelta
}

// checksum is the stored checksum of p.
func checksum(p []byte) uint32 {
	return mask(crc32.Checksum(p, castagnoli))
}

// appendFrame appends the data tidwall stores for rec: checksum, then rec.
func appendFrame(dst, rec []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, checksum(rec))
	return append(dst, rec...)
}

// entrySize is the number of bytes tidwall writes for data of n bytes.
func entrySize(n int) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], uint64(n)) + n
}

// segmentName is the file name of the segment whose first index is index.
func segmentName(index uint64) string {
	return fmt.Sprintf("%0*d", segmentNameLen, index)
}

// parseSegmentIndex parses the index at the start of a tidwall file name.
func parseSegmentIndex(name string) (uint64, bool) {
	if len(name) < segmentNameLen {
		return 0, false
	}
	index, err := strconv.ParseUint(name[:segmentNameLen], 10, 64)
	return index, err == nil && index > 0
}

// segmentFile is one segment file on disk.
type segmentFile struct {
	path  string
	first uint64 // index of its first record
	size  int64
}

// listSegments lists the segment files of dir in index order.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	var segs []segmentFile
	for _, e := range entries {
		name := e.Name()
		index, ok := parseSegmentIndex(name)
		if e.IsDir() || len(name) != segmentNameLen || !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("wal: %w", err)
		}
		segs = append(segs, segmentFile{path: filepath.Join(dir, name), first: index, size: info.Size()})
	}
	return segs, nil
}

// fault says why the record at an offset cannot be read.
type fault struct {
	reason string
}

func (f *fault) Error() string { return f.reason }

// entryReader reads the records of one segment file in order.
type entryReader struct {
	br   *bufio.Reader
	size int64 // file size
	off  int64 // offset of the next entry
	buf  []byte
}

// next returns the next record, valid until the following call; io.EOF at
// the clean end of the file; a *fault when the entry at r.off is
// incomplete or fails its checksum; or an I/O error.
func (r *entryReader) next() ([]byte, error) {
	if r.off == r.size {
		return nil, io.EOF
	}
	length, n, err := readUvarint(r.br)
	switch {
	case errors.Is(err, io.EOF):
		return nil, &fault{"incomplete length at the end of the file"}
	case errors.Is(err, errVarintOverflow):
		return nil, &fault{err.Error()}
	case err != nil:
		return nil, err
	case length < crcSize:
		return nil, &fault{fmt.Sprintf("entry of %d bytes is shorter than its checksum", length)}
	case length > uint64(r.size-r.off-int64(n)):
		return nil, &fault{fmt.Sprintf("entry of %d bytes runs past the end of the file", length)}
	}
	if uint64(cap(r.buf)) < length {
		r.buf = make([]byte, length)
	}
	data := r.buf[:length]
	if _, err := io.ReadFull(r.br, data); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(data) != checksum(data[crcSize:]) {
		return nil, &fault{"checksum mismatch"}
	}
	r.off += int64(n) + int64(length)
	return data[crcSize:], nil
}

var errVarintOverflow = errors.New("length overflows 64 bits")

// readUvarint reads a uvarint and returns it with the number of bytes it
// took. io.EOF means the input ended inside (or before) the uvarint.
func readUvarint(br io.ByteReader) (uint64, int, error) {
	var x uint64
	var shift uint
	for i := range binary.MaxVarintLen64 {
		b, err := br.ReadByte()
		if err != nil {
			return 0, i, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, i + 1, errVarintOverflow
			}
			return x | uint64(b)<<shift, i + 1, nil
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, binary.MaxVarintLen64, errVarintOverflow
}

// scanResult is what scanSegment found.
type scanResult struct {
	count uint64 // complete, valid records
	end   int64  // offset after the last of them
	size  int64  // file size
	fault *fault // why the entry at end is bad; nil when the file ended cleanly at end
}

// scanSegment reads the records of the segment at path in order, calling
// fn (when not nil) with each, until the end of the file or the first bad
// entry, which it describes in the result rather than as an error.
func scanSegment(path string, fn func(rec []byte) error) (scanResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("wal: %w", err)
	}
	r := entryReader{br: bufio.NewReaderSize(f, readBufferSize), size: info.Size()}
	res := scanResult{size: r.size}
	for {
		rec, err := r.next()
		var flt *fault
		switch {
		case errors.Is(err, io.EOF):
			res.end = r.off
			return res, nil
		case errors.As(err, &flt):
			res.end, res.fault = r.off, flt
			return res, nil
		case err != nil:
			return res, fmt.Errorf("wal: read %s: %w", path, err)
		}
		res.count++
		if fn != nil {
			if err := fn(rec); err != nil {
				return res, err
			}
		}
	}
}

// validEntryFollows reports whether a complete entry with a valid checksum
// starts at any offset from `from` to the end of the file at path. It
// tells a torn tail (nothing valid after the damage) from damage in the
// middle of the log.
func validEntryFollows(path string, from int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return false, fmt.Errorf("wal: %w", err)
	}
	rest, err := io.ReadAll(f)
	if err != nil {
		return false, fmt.Errorf("wal: read %s: %w", path, err)
	}
	for p := range rest {
		if validEntryAt(rest[p:]) {
			return true, nil
		}
	}
	return false, nil
}

// onlyZerosFrom reports whether the file at path holds nothing but zero
// bytes from offset from to its end.
func onlyZerosFrom(path string, from int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(io.NewSectionReader(f, from, math.MaxInt64-from), readBufferSize)
	for {
		b, err := br.ReadByte()
		switch {
		case errors.Is(err, io.EOF):
			return true, nil
		case err != nil:
			return false, fmt.Errorf("wal: read %s: %w", path, err)
		case b != 0:
			return false, nil
		}
	}
}

// validEntryAt reports whether b starts with a complete entry whose
// checksum matches.
func validEntryAt(b []byte) bool {
	length, n := binary.Uvarint(b)
	if n <= 0 || length < crcSize || length > uint64(len(b)-n) {
		return false
	}
	data := b[n : n+int(length)]
	return binary.LittleEndian.Uint32(data) == checksum(data[crcSize:])
}

// truncateFile cuts the file at path to size bytes and fsyncs it.
func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, filePerm)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
