package wal

import (
	"path/filepath"
	"time"
)

// MaxOpenSegments is how many closed segment files reads keep open.
const MaxOpenSegments = maxOpenSegments

// SyncBehindBytes lets the tests write just below and just past the amount
// that makes the committer fsync the tail segment.
const SyncBehindBytes = syncBehindBytes

// TailSegment is the file the log takes for tidwall's tail segment, which
// the committer fsyncs behind the writers.
func (l *Log) TailSegment() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return filepath.Join(l.dir, segmentName(l.tailFirst))
}

// HoldWriter takes the writer role until release is called: records
// appended meanwhile stay pending, so that a test can see them so.
func (l *Log) HoldWriter() (release func()) {
	l.mu.Lock()
	l.acquireWriter()
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.releaseWriter()
		l.mu.Unlock()
	}
}

// SuppressIdleFlush keeps the committer from writing records nobody waits
// for (the idle flush timer does nothing when it fires), so that a test
// decides who writes them. Call it before the log is used.
func (l *Log) SuppressIdleFlush() {
	l.mu.Lock()
	l.flushTimer.Stop()
	l.flushTimer = time.AfterFunc(l.opts.IdleFlush, func() {})
	l.flushTimer.Stop()
	l.mu.Unlock()
}

// FlushArmed reports whether the idle flush timer is armed.
func (l *Log) FlushArmed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushArmed
}

// SetArmFlushHook makes fn run each time the idle flush timer is armed,
// until restore is called.
func SetArmFlushHook(fn func()) (restore func()) {
	testHookArmFlush = fn
	return func() { testHookArmFlush = func() {} }
}

// SetSyncHook makes fn run each time the log starts an fsync of its files,
// and SetWaitHook each time a wait finds its record not yet durable (with
// the log's lock held), until restore is called.
func SetSyncHook(fn func()) (restore func()) {
	testHookSync = fn
	return func() { testHookSync = func() {} }
}

func SetWaitHook(fn func()) (restore func()) {
	testHookWait = fn
	return func() { testHookWait = func() {} }
}

// SetDirSyncedHook makes fn run each time Open fsyncs a directory that
// holds one it created, until restore is called.
func SetDirSyncedHook(fn func(dir string)) (restore func()) {
	testHookDirSynced = fn
	return func() { testHookDirSynced = func(string) {} }
}

// FailTruncationDirSync makes the fsync of the directory after the next
// truncations fail with err. Call it before Compact.
func (l *Log) FailTruncationDirSync(err error) {
	l.truncSyncDir = func(string) error { return err }
}

// ReadMarkSpacing and ReadChunk let the tests bound what a read of a
// closed segment takes from its file.
const (
	ReadMarkSpacing = readMarkSpacing
	ReadChunk       = readChunk
)

// TailHeadroom is the room reserved past SegmentSize in tidwall's image of
// its tail segment.
const TailHeadroom = tailHeadroom

// FirstRecordBytes is the record size positions are reserved for before
// the log has closed a segment.
const FirstRecordBytes = firstRecordBytes

// TailCapacity returns the capacities of tidwall's image of its tail
// segment and of its record positions. Call it while no write is in
// progress.
func (l *Log) TailCapacity() (image, positions int) {
	l.readMu.Lock()
	defer l.readMu.Unlock()
	return l.tl.TailCapacity()
}

// PreallocateBytes is how many zeros follow the records of the tail
// segment file under FsyncAlways once a smaller write grows it.
const PreallocateBytes = preallocateBytes

// SectorSize is the unit of a torn write that recovery checks for zeros.
const SectorSize = sectorSize
