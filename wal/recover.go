package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
)

// recovery is the state of a log directory after recoverDir.
type recovery struct {
	snap      snapshotInfo
	first     uint64           // first index the segments hold (last+1 when they hold none)
	last      uint64           // last index in the log
	logSize   int64            // bytes of the segment files
	tailSize  int64            // bytes of the last segment
	tailFirst uint64           // first index of the last segment, which names its file
	closed    []*closedSegment // the segments before the last
}

// recoverDir brings dir to a state tidwall opens and that this package
// trusts: temporary files gone, tidwall's half-done truncation finished,
// snapshot verified, every segment verified, a torn tail cut, and the
// segments continuing the snapshot without a gap.
func recoverDir(dir string, log *slog.Logger) (recovery, error) {
	var r recovery
	if err := removeSnapshotTemp(dir, log); err != nil {
		return r, err
	}
	if err := finishTruncation(dir, log); err != nil {
		return r, err
	}
	snap, err := verifySnapshot(filepath.Join(dir, snapshotName))
	if err != nil {
		return r, err
	}
	r.snap = snap
	segs, err := recoverSegments(dir, log)
	if err != nil {
		return r, err
	}
	switch {
	case len(segs) == 0 && !snap.exists:
		// A new log: tidwall creates segment 1.
		r.first, r.last, r.tailFirst = 1, 0, 1
		return r, nil
	case len(segs) == 0 || lastIndex(segs) < snap.index:
		// The snapshot covers more than the log holds: a fresh log after
		// the snapshot loses nothing.
		log.Warn("wal: the log ends before the snapshot's index; starting the log after the snapshot",
			"dir", dir, "snapshot_index", snap.index, "log_last_index", lastIndex(segs))
		if err := restartAfter(dir, segs, snap.index); err != nil {
			return r, err
		}
		r.first, r.last, r.tailFirst = snap.index+1, snap.index, snap.index+1
		return r, nil
	case segs[0].first > snap.index+1 && !snap.exists:
		return r, &CorruptError{File: segs[0].path, Offset: 0, Reason: fmt.Sprintf(
			"the log starts at index %d and there is no snapshot: records 1 to %d are missing",
			segs[0].first, segs[0].first-1)}
	case segs[0].first > snap.index+1:
		return r, &CorruptError{File: segs[0].path, Offset: 0, Reason: fmt.Sprintf(
			"the log starts at index %d but the snapshot covers only up to %d: records %d to %d are missing",
			segs[0].first, snap.index, snap.index+1, segs[0].first-1)}
	}
	tail := segs[len(segs)-1]
	if err := syncFile(tail.path); err != nil {
		return r, fmt.Errorf("wal: %w", err)
	}
	r.first, r.last = segs[0].first, lastIndex(segs)
	for _, s := range segs {
		r.logSize += s.size
	}
	r.tailSize, r.tailFirst = tail.size, tail.first
	for _, s := range segs[:len(segs)-1] {
		r.closed = append(r.closed, newClosedSegment(s.first))
	}
	return r, nil
}

// recovered is a segment verified by recoverSegments.
type recovered struct {
	segmentFile
	count uint64 // records
}

// lastIndex is the index of the last record of segs (0 when none).
func lastIndex(segs []recovered) uint64 {
	if len(segs) == 0 {
		return 0
	}
	s := segs[len(segs)-1]
	return s.first + s.count - 1
}

// recoverSegments verifies every record of every segment and cuts a torn
// tail off the last one. Damage anywhere else is a *CorruptError.
func recoverSegments(dir string, log *slog.Logger) ([]recovered, error) {
	files, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	segs := make([]recovered, 0, len(files))
	for i, file := range files {
		if i > 0 {
			if want := lastIndex(segs) + 1; file.first != want {
				return nil, &CorruptError{File: file.path, Offset: 0, Reason: fmt.Sprintf(
					"segment starts at index %d, expected %d after the previous segment", file.first, want)}
			}
		}
		res, err := scanSegment(file.path, nil)
		if err != nil {
			return nil, err
		}
		s := recovered{segmentFile: file, count: res.count}
		s.size = res.size
		if res.fault != nil {
			if err := cutTornTail(file.path, res, i == len(files)-1, log); err != nil {
				return nil, err
			}
			s.size = res.end
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// cutTornTail cuts the segment at path back to res.end when the bad entry
// there is a torn tail: in the last segment, and either never written or
// with no valid entry after it.
func cutTornTail(path string, res scanResult, last bool, log *slog.Logger) error {
	bad := &CorruptError{File: path, Offset: res.end, Reason: res.fault.reason}
	if !last {
		bad.Reason += " (in a segment that is not the last one)"
		return bad
	}
	zeros, err := onlyZerosFrom(path, res.end)
	if err != nil {
		return err
	}
	if zeros {
		// What a crash leaves of the zeros written ahead of the records
		// (preallocateBytes): nothing was torn.
		if err := truncateFile(path, res.end); err != nil {
			return fmt.Errorf("wal: cut preallocated zeros of %s: %w", path, err)
		}
		log.Debug("wal: cut the zeros preallocated past the last record", "file", path,
			"offset", res.end, "bytes_cut", res.size-res.end, "records_kept", res.count)
		return nil
	}
	unwritten, err := unwrittenEntry(path, res.end)
	if err != nil {
		return err
	}
	if !unwritten {
		follows, err := validEntryFollows(path, res.end+1)
		if err != nil {
			return err
		}
		if follows {
			bad.Reason += " (valid records follow, so this is not a torn tail)"
			return bad
		}
	}
	if err := truncateFile(path, res.end); err != nil {
		return fmt.Errorf("wal: cut torn tail of %s: %w", path, err)
	}
	log.Warn("wal: cut a torn tail left by a crash", "file", path, "offset", res.end,
		"bytes_cut", res.size-res.end, "reason", res.fault.reason, "never_written", unwritten,
		"records_kept", res.count)
	return nil
}

// A power loss during an fsync can leave some pages of its batch on the
// disk and not others, in any order. In a tail segment with zeros written
// ahead (preallocateBytes), a sector that never got there reads as zeros
// from end to end, and valid records of the same unfinished fsync may
// follow it. None of them was acknowledged: an fsync that completed would
// have written the missing sector too. So a bad entry whose first byte is
// zero (a length's first byte never is), or that spans a sector holding
// nothing but zeros, marks where the writes stopped, and the tail is cut
// there whatever follows, as etcd's WAL does with its preallocated files.
// The whole sector is read, not only the entry's part of it: a written
// entry may end in zero bytes, but a sector it shares with the entry after
// it, or with the zeros past the records, is all zeros only if it was never
// written. A bad entry with no such sector is damage, and valid records
// after it fail Open.

// sectorSize is the unit of a torn write: a device writes a 512-byte
// sector whole or not at all.
const sectorSize = 512

// unwrittenEntry reports whether the bad entry at offset off of the file
// at path has a part that was never written: its first byte is zero, or
// one of the sectors it spans holds only zeros.
func unwrittenEntry(path string, off int64) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("wal: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("wal: %w", err)
	}
	size := info.Size()
	head := make([]byte, min(int64(binary.MaxVarintLen64), size-off))
	if _, err := f.ReadAt(head, off); err != nil {
		return false, fmt.Errorf("wal: read %s: %w", path, err)
	}
	if head[0] == 0 {
		return true, nil
	}
	end := size
	if length, n := binary.Uvarint(head); n > 0 && length < uint64(size-off-int64(n)) {
		end = off + int64(n) + int64(length)
	}
	// The sectors the entry spans, whole, up to the end of the file.
	first := off / sectorSize * sectorSize
	last := min(size, (end+sectorSize-1)/sectorSize*sectorSize)
	sectors := make([]byte, last-first)
	if _, err := f.ReadAt(sectors, first); err != nil {
		return false, fmt.Errorf("wal: read %s: %w", path, err)
	}
	for sector := range slices.Chunk(sectors, sectorSize) {
		if allZero(sector) {
			return true, nil
		}
	}
	return false, nil
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// restartAfter removes segs and creates the empty segment that makes
// tidwall number the next record index+1.
func restartAfter(dir string, segs []recovered, index uint64) error {
	for _, s := range segs {
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
	}
	path := filepath.Join(dir, segmentName(index+1))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, filePerm)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// removeSnapshotTemp removes a snapshot left half written by a crash
// during Compact; the previous snapshot and the log are intact.
func removeSnapshotTemp(dir string, log *slog.Logger) error {
	path := filepath.Join(dir, snapshotTempName)
	err := os.Remove(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("wal: %w", err)
	}
	log.Warn("wal: removed a snapshot left unfinished by an interrupted compaction", "file", path)
	return nil
}

// finishTruncation completes what a crash interrupted in tidwall's
// TruncateFront or TruncateBack, as tidwall's own load does, so that the
// segments can be verified before tidwall opens them: a NAME.START file is
// the new first segment (segments before it are removed), a NAME.END file
// the new last one (segments after it are removed); a *.TEMP file is one
// of those being written, and the truncation it belonged to never started.
func finishTruncation(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	var names []string // segment, START and END files in name order
	start, end := -1, -1
	changed := false
	for _, e := range entries {
		name := e.Name()
		if _, ok := parseSegmentIndex(name); e.IsDir() || !ok {
			continue
		}
		switch name[segmentNameLen:] {
		case "":
		case startSuffix:
			start = len(names)
		case endSuffix:
			if end < 0 {
				end = len(names)
			}
		case startSuffix + tempSuffix, endSuffix + tempSuffix:
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("wal: %w", err)
			}
			log.Warn("wal: removed an unfinished truncation file", "file", filepath.Join(dir, name))
			changed = true
			continue
		default:
			continue
		}
		names = append(names, name)
	}
	switch {
	case start >= 0 && end >= 0:
		return &CorruptError{File: filepath.Join(dir, names[start]), Offset: 0,
			Reason: "both a START and an END truncation file exist"}
	case start >= 0:
		if err := removeFiles(dir, names[:start]); err != nil {
			return err
		}
		if err := finishRename(dir, names[start], startSuffix, log); err != nil {
			return err
		}
		changed = true
	case end >= 0:
		if err := removeFiles(dir, names[end+1:]); err != nil {
			return err
		}
		if err := finishRename(dir, names[end], endSuffix, log); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		if err := syncDir(dir); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
	}
	return nil
}

func removeFiles(dir string, names []string) error {
	for _, name := range names {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("wal: %w", err)
		}
	}
	return nil
}

// finishRename renames a truncation file to its segment name.
func finishRename(dir, name, suffix string, log *slog.Logger) error {
	from := filepath.Join(dir, name)
	to := from[:len(from)-len(suffix)]
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	log.Warn("wal: finished a truncation interrupted by a crash", "file", to)
	return nil
}

// syncFile fsyncs the file at path.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, filePerm)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
