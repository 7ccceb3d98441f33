package wal

import (
	"fmt"
	"path/filepath"
	"time"

	twal "github.com/tidwall/wal"
)

// maxRetainedBatch is the largest batch, in bytes, whose buffers the
// committer keeps for reuse; a larger burst is left to the garbage
// collector so that one spike does not pin its memory for the life of
// the log.
const maxRetainedBatch = 4 << 20

// ctlKind is a request of Compact to the committer.
type ctlKind int

const (
	// ctlSync fsyncs everything written so far.
	ctlSync ctlKind = iota
	// ctlTruncate drops the records up to and including upTo from the
	// front of the log.
	ctlTruncate
)

type ctlRequest struct {
	kind ctlKind
	upTo uint64
	done chan error // capacity 1
}

// control hands req to the committer and waits for its answer.
func (l *Log) control(kind ctlKind, upTo uint64) error {
	req := ctlRequest{kind: kind, upTo: upTo, done: make(chan error, 1)}
	select {
	case l.ctl <- req:
	case <-l.done:
		return ErrClosed
	}
	return <-req.done
}

// run is the committer goroutine: it writes records nobody waits for,
// fsyncs every second under FsyncEverySec, serves Compact's requests and
// writes what is left at Close.
func (l *Log) run() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.Fsync == FsyncEverySec {
		t := time.NewTicker(l.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.kick:
			l.commit()
			l.syncBehind()
		case <-tick:
			l.syncWritten()
		case req := <-l.ctl:
			switch req.kind {
			case ctlSync:
				req.done <- l.syncWritten()
			case ctlTruncate:
				req.done <- l.asWriter(func() error { return l.truncate(req.upTo) })
			}
		case <-l.stop:
			l.flushTimer.Stop()
			l.commit()
			l.syncWritten()
			l.mu.Lock()
			l.stopped = true
			l.cond.Broadcast()
			l.notifyDurable()
			l.mu.Unlock()
			return
		}
	}
}

// eagerFlushDivisor: once MaxPending / eagerFlushDivisor records are
// pending, Append wakes the committer at once instead of waiting for the
// idle flush, so that appenders that do not wait (a long pipeline, the
// replies of connections that closed) keep draining to disk and do not
// reach MaxPending.
const eagerFlushDivisor = 4

// armFlush makes sure the committer writes the records just appended even
// if nobody waits for them (a caller that does not wait, a connection that
// closed before its reply): within Options.IdleFlush, or at once when many
// are pending. Records somebody waits for are written by the waiter itself
// (see leadOrWait); a background appender that wants its records on disk
// sooner waits for them the same way.
//
// Hot path: the timer, once armed, runs until it fires, whoever writes the
// records meanwhile. Arming it sets a deadline earlier than the one the
// runtime's poller sleeps for, which wakes the thread sleeping there, and
// an event loop that then sleeps wakes on that thread instead of its own:
// armed for every batch, it would cost 12–15% of the CPU per job of
// jobsbench. Armed at most once per IdleFlush, its firing mostly finds
// nothing to write. Lock should be held.
func (l *Log) armFlush() {
	if l.pending >= l.opts.MaxPending/eagerFlushDivisor {
		select {
		case l.kick <- struct{}{}:
		default:
		}
		return
	}
	if !l.flushArmed {
		l.flushArmed = true
		l.flushTimer.Reset(l.opts.IdleFlush)
		testHookArmFlush()
	}
}

// testHookArmFlush is called each time armFlush arms the timer.
var testHookArmFlush = func() {}

// flushDue is the idle flush timer's function: it wakes the committer.
func (l *Log) flushDue() {
	l.mu.Lock()
	l.flushArmed = false
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// acquireWriter takes the writer role: the one goroutine at a time that
// writes to tidwall and owns the writer-only fields. Lock should be held;
// it is released while another goroutine holds the role.
func (l *Log) acquireWriter() {
	for l.writing {
		l.cond.Wait()
	}
	l.writing = true
}

// releaseWriter gives the writer role up and wakes the goroutines waiting
// for it or for what it wrote. Lock should be held.
func (l *Log) releaseWriter() {
	l.writing = false
	l.cond.Broadcast()
}

// asWriter runs fn, which takes the lock itself when it needs it, in the
// writer role.
func (l *Log) asWriter(fn func() error) error {
	l.mu.Lock()
	l.acquireWriter()
	l.mu.Unlock()
	err := fn()
	l.mu.Lock()
	l.releaseWriter()
	l.mu.Unlock()
	return err
}

// commit writes batches until nothing is pending.
func (l *Log) commit() {
	l.mu.Lock()
	l.acquireWriter()
	for l.writeBatch() {
	}
	l.releaseWriter()
	l.mu.Unlock()
}

// writeBatch writes everything appended so far as one batch (and fsyncs it
// under FsyncAlways): the records of every writer that appended while the
// previous batch was being written share one write and one fsync. It
// reports whether it wrote a batch. Lock and the writer role should be
// held; the lock is released during the write.
func (l *Log) writeBatch() bool {
	if l.failErr != nil || len(l.sizes) == 0 {
		return false
	}
	b, sizes, bytes, hi := l.fill, l.sizes, l.bytes, l.last
	l.fill, l.sizes, l.bytes = l.spare, l.spareSz[:0], 0
	l.mu.Unlock()

	err := l.tl.WriteBatch(b)
	started := l.mirrorRotation(hi-uint64(len(sizes))+1, sizes)
	rotated := len(started) > 0
	if rotated {
		closedFirst := l.tailFirst
		if len(started) > 1 {
			closedFirst = started[len(started)-2]
		}
		closed := int(started[len(started)-1] - closedFirst)
		l.tailRecords = closed + closed>>positionsHeadroomShift
	}
	if err == nil && rotated {
		// The segments as they are after the batch, which reads use once
		// its records are durable.
		l.mu.Lock()
		l.closedSegs = append(l.closedSegs, newClosedSegment(l.tailFirst))
		for _, first := range started[:len(started)-1] {
			l.closedSegs = append(l.closedSegs, newClosedSegment(first))
		}
		l.tailFirst = started[len(started)-1]
		l.mu.Unlock()
		l.dirDirty = true
		// tidwall keeps the segment it just closed in its cache, and a
		// read that began before the rotation may have asked for it:
		// free it once that read is done.
		l.readMu.Lock()
		if l.opts.WriteOnly {
			l.tl.RecycleTail()
		}
		err = l.tl.ClearCache()
		l.reserveTail()
		l.readMu.Unlock()
	}
	if err == nil && l.opts.Fsync == FsyncAlways {
		err = l.syncFiles()
	}

	if bytes > maxRetainedBatch {
		b, sizes = new(twal.Batch), nil
	}
	b.Clear()
	l.mu.Lock()
	l.spare, l.spareSz = b, sizes[:0]
	l.pending -= len(sizes)
	if err != nil {
		l.failLocked(err)
		return false
	}
	l.written = hi
	l.logSize += bytes
	l.batches++
	switch {
	case l.opts.Fsync == FsyncAlways:
		l.synced = hi
		l.fsyncs++
	case rotated:
		// tidwall fsynced the segment it closed.
		l.unsynced = int64(l.tailBytes)
	default:
		l.unsynced += bytes
		if l.unsynced >= syncBehindBytes {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	}
	l.cond.Broadcast()
	l.notifyDurable()
	return true
}

// syncWritten fsyncs what was written and not yet fsynced. A failure
// fails the log.
func (l *Log) syncWritten() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.acquireWriter()
	defer l.releaseWriter()
	failErr, written, synced := l.failErr, l.written, l.synced
	if failErr != nil {
		return failErr
	}
	if written == synced && !l.dirDirty {
		return nil
	}
	l.mu.Unlock()
	err := l.syncFiles()
	l.mu.Lock()
	if err != nil {
		l.failLocked(err)
		return l.failErr
	}
	l.synced = written
	l.fsyncs++
	l.unsynced = 0
	l.notifyDurable()
	return nil
}

// syncBehindBytes is how much the writers may write to the tail segment
// under FsyncEverySec and FsyncNo before the committer fsyncs it (see
// syncBehind).
const syncBehindBytes = 1 << 20

// syncBehind fsyncs the tail segment once syncBehindBytes were written to it
// since its last fsync, under FsyncEverySec and FsyncNo (under FsyncAlways
// every batch is fsynced). tidwall fsyncs a segment when it closes it, on
// the goroutine whose batch filled it (often an event loop), holding the
// writer role: with up to a whole segment to write, that fsync took 10–16 ms
// under a heavy write load here, and every writer waited for it. Fsynced
// behind the writers every syncBehindBytes, the segment is almost clean when
// it closes (3–4 ms). It runs on the committer, without the writer role: the
// kernel orders the fsync with the writes of the writer, and records written
// before it started are on disk once it returns. A segment created since the
// directory was last fsynced is left to the next syncWritten (dirDirty). A
// failed fsync fails the log, as any other.
func (l *Log) syncBehind() {
	l.mu.Lock()
	if l.unsynced < syncBehindBytes || l.failErr != nil {
		l.mu.Unlock()
		return
	}
	// The records up to written are in the tail segment or in segments
	// tidwall fsynced when it closed them. The tail may close meanwhile;
	// only the committer removes segment files.
	written, tail := l.written, filepath.Join(l.dir, segmentName(l.tailFirst))
	l.unsynced = 0
	l.mu.Unlock()
	err := syncFile(tail)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failLocked(err)
		return
	}
	l.synced = max(l.synced, written)
	l.fsyncs++
}

// syncFiles fsyncs the tail segment and, when a segment was created since
// the last time, the directory. tidwall fsyncs a segment when it closes it.
// Writer only.
func (l *Log) syncFiles() error {
	testHookSync()
	if l.dirDirty {
		if err := syncDir(l.dir); err != nil {
			return err
		}
		l.dirDirty = false
	}
	return l.tl.Sync()
}

// testHookSync is called each time syncFiles starts.
var testHookSync = func() {}

// mirrorRotation follows tidwall's segment rotation for a batch of entries
// of the given sizes, the first at index first, and returns the first
// index of each segment file tidwall started, in order (none when it
// started none). tidwall v1.2.1 (writeBatch) rotates a tail already larger
// than SegmentSize before a batch, and a tail that reached SegmentSize
// after each entry. Writer only.
func (l *Log) mirrorRotation(first uint64, sizes []int) (started []uint64) {
	if l.tailBytes > l.opts.SegmentSize {
		l.tailBytes, started = 0, append(started, first)
	}
	for k, n := range sizes {
		l.tailBytes += n
		if l.tailBytes >= l.opts.SegmentSize {
			l.tailBytes, started = 0, append(started, first+uint64(k)+1)
		}
	}
	return started
}

// tidwall appends every record it writes to its in-memory image of the
// tail segment and starts each segment with an empty one; grown by append,
// a 4 MiB image costs about 20 MiB of allocations and 16 MiB of copies,
// mostly into pages the kernel faults in fresh: a fifth of the server's
// CPU under pipelined QPUSH. The log gives the image its final capacity at
// Open, after each rotation and after each truncation, and a log opened
// WriteOnly hands the image of the segment that closes to the next tail
// (tidwall's RecycleTail, third_party/tidwall-wal/PATCHES.md), so it keeps
// one image instead of leaving a new one to the collector every segment.

// tailHeadroom is the room reserved past SegmentSize in the tail's image:
// tidwall closes a segment once it reaches SegmentSize, so the image ends
// at most one record past it.
const tailHeadroom = 64 << 10

// positionsHeadroomShift sizes the record positions reserved for a new
// tail: the record count of the segment before it, plus that count shifted
// right by this much (an eighth).
const positionsHeadroomShift = 3

// firstRecordBytes sizes the record positions reserved before the log has
// closed a segment: a segment's worth of records of this size (a queue's
// take or ack is about 40 bytes framed). Grown by append instead, the
// positions of a new log's first segments cost about 8 MiB of allocations
// under a queue's load, half the garbage of its first 40,000 jobs.
const firstRecordBytes = 32

// reserveTail gives tidwall's image of its tail segment room for the
// whole segment. Writer only, with readMu held or before the log is
// shared.
func (l *Log) reserveTail() {
	l.tl.ReserveTail(l.opts.SegmentSize+tailHeadroom, l.tailRecords)
}

// truncate drops the records up to and including upTo from the front of
// the log. tidwall marks itself corrupt when a truncation fails after its
// first file operation; then the log fails, otherwise the error goes back to
// Compact and the log carries on untruncated. Once tidwall has truncated, a
// failure to list or fsync the directory fails the log too. Writer only.
func (l *Log) truncate(upTo uint64) error {
	// Reads wait: TruncateFront removes files and rewrites the first one
	// it keeps under a new name.
	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.closeSegmentFiles()
	if err := l.tl.TruncateFront(upTo + 1); err != nil {
		if _, probe := l.tl.LastIndex(); probe != nil {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.failLocked(err)
			return l.failErr
		}
		return fmt.Errorf("wal: truncate %s before index %d: %w", l.dir, upTo+1, err)
	}
	// A truncation inside the tail reloads tidwall's image of it.
	l.reserveTail()
	l.mu.Lock()
	l.closedSegs = closedAfterTruncation(l.closedSegs, l.tailFirst, upTo+1)
	l.first = upTo + 1
	l.mu.Unlock()
	segs, err := listSegments(l.dir)
	if err == nil {
		err = l.truncSyncDir(l.dir)
	}
	if err != nil {
		// The files are gone but their removal may not be durable, and the
		// mirror of tidwall's tail cannot be rebuilt: as after any failed
		// fsync, the log takes no more records.
		l.mu.Lock()
		defer l.mu.Unlock()
		l.failLocked(fmt.Errorf("truncate: %w", err))
		return l.failErr
	}
	// The tail's file may hold preallocated zeros past its records.
	tailBytes := l.tl.TailSize()
	total := int64(tailBytes)
	for _, s := range segs[:max(len(segs)-1, 0)] {
		total += s.size
	}
	l.mu.Lock()
	if len(segs) > 0 {
		l.tailBytes = tailBytes
		l.tailFirst = segs[len(segs)-1].first
	}
	l.logSize = total
	l.mu.Unlock()
	return nil
}

// closedAfterTruncation returns the closed segments left when tidwall's
// TruncateFront(first) has run on closed, followed by the tail segment at
// tailFirst: the segments that end before first are gone, and the one
// holding first was rewritten as a new file starting there.
func closedAfterTruncation(closed []*closedSegment, tailFirst, first uint64) []*closedSegment {
	var kept []*closedSegment
	for i, seg := range closed {
		end := tailFirst
		if i+1 < len(closed) {
			end = closed[i+1].first
		}
		switch {
		case end <= first:
		case seg.first < first:
			kept = append(kept, newClosedSegment(first))
		default:
			kept = append(kept, seg)
		}
	}
	return kept
}
