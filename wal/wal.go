// Package wal is NEXO's durable record log, shared by every persistent
// broker. It sits on github.com/tidwall/wal and adds what that library
// lacks: a checksum on every record, repair of a tail torn by a crash,
// group commit under an fsync policy, and compaction through snapshots.
//
// # Files
//
// A log owns one directory:
//   - tidwall's segment files, each named by the index of its first record
//     in 20 digits. tidwall stores an entry as uvarint(len(data)) followed by
//     data; this package's data is a 4-byte little-endian checksum of the
//     record followed by the record. Under FsyncAlways the tail segment's
//     records are followed by up to preallocateBytes of zeros while the log
//     is open (see preallocateBytes), cut when the segment closes.
//   - snapshot: the records that recreate the caller's state as of a log
//     index (see Compact and the format in snapshot.go).
//   - transient files: snapshot.tmp while a snapshot is written, and
//     tidwall's NAME.START, NAME.END and NAME.*.TEMP during its truncations.
//
// The checksum is CRC32C (Castagnoli), masked as LevelDB masks its CRCs
// (rotated 15 bits and offset by a constant), so that a record whose
// payload is empty does not carry the checksum 0 and short runs of ordinary
// bytes do not pass for a valid record when recovery looks for records
// after a damaged one.
//
// # Recovery
//
// Open verifies the snapshot and every record of every segment. Zeros after
// the last record of the last segment, which a crash leaves of those written
// ahead, are cut without a warning. When the last segment ends in an
// incomplete record or one that fails its checksum, and either no valid
// record follows it or a part of it was never written (zeros; see
// unwrittenEntry), the write was torn by a crash: the file is cut back to
// the last complete record and the cut is logged at WARN. Any other damage
// (in an earlier segment, a damaged record followed by valid ones, a bad
// snapshot, a gap between snapshot and log) is a *CorruptError naming the
// file and byte offset; nothing is skipped silently.
//
// # Writing
//
// Append frames the records into the pending batch under the log's mutex and
// returns at once. The first Wait (or Read) that finds its record pending
// and no write in progress becomes the writer: it takes everything pending,
// writes it with one tidwall WriteBatch (tidwall runs with NoSync), fsyncs
// once under FsyncAlways, and wakes every Wait whose record is now durable;
// records appended meanwhile go in the next batch, written by the next
// waiter. A caller that must not wait for another goroutine's write (an
// event loop) uses Notify instead: under FsyncAlways, while a write is in
// progress, the committer goroutine writes and fsyncs its records next and
// calls it back. The committer also writes the records nobody waits for
// within Options.IdleFlush, fsyncs under FsyncEverySec, fsyncs the tail
// segment behind the writers under FsyncEverySec and FsyncNo (syncBehind)
// and serves Compact.
// A failed write or fsync makes the log refuse everything from then on
// (ErrFailed): after a failed fsync the kernel may have dropped the dirty
// pages, so retrying could acknowledge data that is not on disk.
//
// # Memory
//
// Append copies the records into the pending batch; the batch buffers are
// reused, except after a burst larger than maxRetainedBatch. tidwall keeps
// the tail segment (up to SegmentSize plus one batch) in memory, in an
// image the log sizes for a whole segment; a log opened WriteOnly hands the
// image of a closing segment to the next tail (commit.go, reserveTail). Read
// serves the records of closed segments from their files with pread,
// reading about what it returns: it starts at the read mark before the
// first record it wants, one kept per readMarkSpacing bytes of each closed
// segment already read (16 bytes each), so that readers at many places in
// a log neither load whole segments nor hold them in memory. Open and
// Replay stream the files, holding one record at a time.
//
// # Locking
//
// Lock order: compactMu, then readMu, then mu. mu is never held
// during I/O. Only the goroutine holding the writer role (the writing flag,
// under mu) writes to, fsyncs or truncates the tidwall log, and only it
// touches the fields marked "writer only".
package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	twal "github.com/tidwall/wal"
)

// Defaults of Options.
const (
	// DefaultSegmentSize is the size at which a segment file is closed and
	// the next one started. tidwall keeps the whole tail segment in memory
	// and a front truncation rewrites the segment it cuts, so this also
	// bounds the log's resident buffer and the cost of one compaction step.
	DefaultSegmentSize = 4 << 20
	// DefaultMaxPending bounds the records appended but not yet written.
	DefaultMaxPending = 1 << 16
	// DefaultSyncInterval is the fsync period under FsyncEverySec.
	DefaultSyncInterval = time.Second
	// DefaultIdleFlush bounds how long records nobody waits for stay in
	// memory before the committer writes them (see armFlush).
	DefaultIdleFlush = 100 * time.Millisecond
)

// Permissions of the files and directory the log creates.
const (
	dirPerm  = 0o750
	filePerm = 0o640
)

// tidwallSegmentCache is the number of closed segments tidwall may keep
// in memory. Read asks tidwall only for records of its tail segment, which
// tidwall holds apart from this cache; a closed segment gets there only
// when a read races with the rotation that closed it, and the rotation
// then clears it.
const tidwallSegmentCache = 1

// preallocateBytes is how many zero bytes follow the records of the tail
// segment file under FsyncAlways once a smaller write grows it (tidwall's
// Options.Preallocate, third_party/tidwall-wal/PATCHES.md): the fsyncs of
// the writes that land inside them write data only, where an fsync of a
// grown file also writes its inode, a second device write. Small batches
// grow the file once per this many bytes, larger ones grow it themselves;
// it is also the most disk a log holds beyond its records, per log (a
// stream has one per partition).
// Under the other policies an fsync comes once per second or megabyte, and
// the zeros would only be written twice.
const preallocateBytes = 64 << 10

// Sentinel errors. They carry no wire syntax.
var (
	// ErrOverload is returned by Append when the pending queue is full; the
	// call changed nothing.
	ErrOverload = errors.New("wal: too many records waiting for the disk")
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("wal: log closed")
	// ErrFailed is returned (wrapped with its cause) once a write or fsync
	// has failed: the log accepts nothing more.
	ErrFailed = errors.New("wal: log failed")
	// ErrNotFound is returned by Read for an index not in the log: not
	// appended yet, or at or before the snapshot's index.
	ErrNotFound = errors.New("wal: no record at this index")
	// ErrWriteOnly is returned by a read of a log opened WriteOnly.
	ErrWriteOnly = errors.New("wal: log opened write-only")
)

// CorruptError reports damage that recovery must not repair silently, or
// that Read found in a record.
type CorruptError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset of the damaged record or field; -1 when unknown
	Index  uint64 // index of the damaged record; 0 when unknown
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("wal: %s is corrupt at record %d: %s", e.File, e.Index, e.Reason)
	}
	return fmt.Sprintf("wal: %s is corrupt at byte offset %d: %s", e.File, e.Offset, e.Reason)
}

// Fsync is the policy that decides when written records are fsynced.
type Fsync int

// Fsync policies, named as Redis's appendfsync values.
const (
	// FsyncAlways acknowledges a record only once it is fsynced.
	FsyncAlways Fsync = iota
	// FsyncEverySec acknowledges a record once written to the OS and
	// fsyncs every Options.SyncInterval, and behind the writers after
	// every syncBehindBytes written (see syncBehind).
	FsyncEverySec
	// FsyncNo acknowledges a record once written to the OS and fsyncs on
	// Close, behind the writers after every syncBehindBytes written, and
	// when tidwall closes a full segment.
	FsyncNo
)

var fsyncNames = [...]string{
	FsyncAlways:   "always",
	FsyncEverySec: "everysec",
	FsyncNo:       "no",
}

// ParseFsync parses "always", "everysec" or "no", case-insensitively.
func ParseFsync(s string) (Fsync, error) {
	for f, name := range fsyncNames {
		if strings.EqualFold(s, name) {
			return Fsync(f), nil
		}
	}
	return 0, fmt.Errorf("wal: unknown fsync policy %q (want always, everysec or no)", s)
}

func (f Fsync) String() string {
	if f < 0 || int(f) >= len(fsyncNames) {
		return fmt.Sprintf("Fsync(%d)", int(f))
	}
	return fsyncNames[f]
}

// Options configures a Log. The zero value is usable: FsyncAlways and the
// defaults above.
type Options struct {
	Fsync        Fsync
	SegmentSize  int           // bytes; 0 = DefaultSegmentSize
	MaxPending   int           // records appended but not yet written; 0 = DefaultMaxPending
	SyncInterval time.Duration // FsyncEverySec period; 0 = DefaultSyncInterval
	IdleFlush    time.Duration // longest stay in memory of records nobody waits for; 0 = DefaultIdleFlush
	Logger       *slog.Logger  // nil = slog.Default()
	// WriteOnly declares that the log is never read while open (Replay
	// still is): Read and ReadRange return ErrWriteOnly, and tidwall's
	// image of a segment that closes becomes the image of the next tail
	// instead of garbage (commit.go, reserveTail).
	WriteOnly bool
}

// MaxAppend is the most records one Append takes under o: more get
// ErrOverload whatever the load (Options.MaxPending).
func (o Options) MaxAppend() int {
	if o.MaxPending == 0 {
		return DefaultMaxPending
	}
	return o.MaxPending
}

func (o Options) withDefaults() (Options, error) {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	o.MaxPending = o.MaxAppend()
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.IdleFlush == 0 {
		o.IdleFlush = DefaultIdleFlush
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.Fsync < 0 || int(o.Fsync) >= len(fsyncNames):
		return o, fmt.Errorf("wal: unknown fsync policy %d", int(o.Fsync))
	case o.SegmentSize < 0:
		return o, fmt.Errorf("wal: negative segment size %d", o.SegmentSize)
	case o.MaxPending < 0:
		return o, fmt.Errorf("wal: negative max pending %d", o.MaxPending)
	case o.SyncInterval < 0:
		return o, fmt.Errorf("wal: negative sync interval %v", o.SyncInterval)
	case o.IdleFlush < 0:
		return o, fmt.Errorf("wal: negative idle flush %v", o.IdleFlush)
	}
	return o, nil
}

// Stats is a snapshot of the log's counters.
type Stats struct {
	Records         uint64 // records in the log segments, appended ones included; the snapshot's are not counted
	Bytes           int64  // bytes on disk: written records in the segments plus the snapshot (not the zeros preallocated after the tail's records)
	LastIndex       uint64 // index of the last appended record
	SnapshotIndex   uint64 // last index the snapshot covers; 0 = no snapshot
	Fsyncs          uint64 // fsyncs of the log (tidwall also fsyncs each segment it closes)
	Batches         uint64 // batches written
	AppendedRecords uint64 // records appended since Open
	Failed          bool   // a write or fsync failed; the log accepts nothing more
	FsyncPolicy     Fsync
	ReadBytes       uint64 // bytes Read took from the files of closed segments since Open
}

// Log is a durable record log. All methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options
	log  *slog.Logger
	tl   *twal.Log

	compactMu sync.Mutex // serialises Compact
	// readMu serialises reads, which add read marks to closed segments.
	// A truncation holds it, so that no read opens a file it removes or
	// renames; a rotation takes it to clear tidwall's cache once the reads
	// that may have filled it are done.
	readMu    sync.Mutex
	readFiles []*openSegment // under readMu; see segmentFile
	readBytes atomic.Uint64  // Stats.ReadBytes

	mu      sync.Mutex   // guards the fields up to "Committer only"
	cond    sync.Cond    // on mu; broadcast when written, synced, failErr or stopped change
	fill    *twal.Batch  // framed records appended and not yet taken by a writer
	sizes   []int        // tidwall entry size of each record in fill
	bytes   int64        // sum of sizes
	spare   *twal.Batch  // the other batch, being written or idle
	spareSz []int        // the other sizes slice
	scratch []byte       // framing buffer of Append
	pending int          // records in fill plus those being written
	last    uint64       // index of the last appended record
	written uint64       // last index handed to the OS (write(2) done)
	synced  uint64       // last index fsynced
	first   uint64       // first index held by the segments
	snap    snapshotInfo // the snapshot on disk
	logSize int64        // bytes of the segment files
	failErr error        // wraps ErrFailed once a write or fsync failed
	closed  bool         // Close was called: Append refuses
	stopped bool         // the committer has exited
	used    bool         // Append or Compact was called: Replay refuses
	replay  bool         // Replay was called
	fsyncs  uint64
	batches uint64
	appends uint64
	writing bool // a goroutine holds the writer role (see acquireWriter)
	// unsynced: about how many bytes were written to the tail segment
	// since it was last fsynced, under FsyncEverySec and FsyncNo (see
	// syncBehind).
	unsynced int64
	// tailFirst: the first index of tidwall's tail segment, which names
	// its file (see mirrorRotation).
	tailFirst uint64
	// closedSegs: the segments before the tail, in index order (see read.go).
	closedSegs []*closedSegment
	// notifiers: the registrations of Notify not yet called, one per
	// Notifier at the lowest index it asked for.
	notifiers []notifyRequest
	// flushArmed: flushTimer will wake the committer for records nobody waits for.
	flushArmed bool

	// Writer only: the goroutine holding the writer role.
	tailBytes int  // size of tidwall's tail segment, mirrored (see mirrorRotation)
	dirDirty  bool // a segment file was created since the directory was last fsynced
	// tailRecords is the record count reserveTail reserves positions
	// for: that of the segment closed last, plus headroom.
	tailRecords int
	// truncSyncDir fsyncs the directory after a truncation: syncDir, which
	// the tests replace to make it fail.
	truncSyncDir func(dir string) error

	flushTimer *time.Timer     // runs flushDue Options.IdleFlush after armFlush
	kick       chan struct{}   // wakes the committer; capacity 1
	ctl        chan ctlRequest // sync and truncate requests of Compact
	stop       chan struct{}   // closed by Close
	done       chan struct{}   // closed by the committer when it exits
	closeOnce  sync.Once
	closeErr   error
}

// makeDir creates dir and its missing parents, as os.MkdirAll does, and
// fsyncs the directory that holds each one it created: a crash of the
// machine that lost a new directory's entry would lose every log below it,
// acknowledged records included. dir is absolute.
func makeDir(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		_, err := os.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	for _, d := range missing {
		parent := filepath.Dir(d)
		if err := syncDir(parent); err != nil {
			return err
		}
		testHookDirSynced(parent)
	}
	return nil
}

// testHookDirSynced is called by makeDir after each directory it fsyncs.
var testHookDirSynced = func(string) {}

// Open opens the log in dir, creating dir if needed. It removes leftover
// temporary files, finishes a truncation tidwall left half done, verifies
// the snapshot and every record's checksum, repairs a torn tail (see the
// package comment) and starts the committer.
func Open(dir string, o Options) (*Log, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	r, err := recoverDir(dir, o.Logger)
	if err != nil {
		return nil, err
	}
	tl, err := twal.Open(dir, &twal.Options{
		NoSync:           true,
		SegmentSize:      o.SegmentSize,
		LogFormat:        twal.Binary,
		SegmentCacheSize: tidwallSegmentCache,
		NoCopy:           true,
		AllowEmpty:       true,
		DirPerms:         dirPerm,
		FilePerms:        filePerm,
		Preallocate:      preallocation(o.Fsync),
	})
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	first, err := tl.FirstIndex()
	if err == nil {
		var last uint64
		last, err = tl.LastIndex()
		if err == nil && (first != r.first || last != r.last) {
			err = fmt.Errorf("tidwall sees indexes %d..%d where recovery found %d..%d", first, last, r.first, r.last)
		}
	}
	if err == nil {
		// tidwall creates the first segment of a new log without making
		// its directory entry durable.
		err = syncDir(dir)
	}
	if err != nil {
		tl.Close()
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	l := &Log{
		dir:          dir,
		truncSyncDir: syncDir,
		opts:         o,
		log:          o.Logger,
		tl:           tl,
		fill:         new(twal.Batch),
		spare:        new(twal.Batch),
		last:         r.last,
		written:      r.last,
		synced:       r.last,
		first:        r.first,
		snap:         r.snap,
		logSize:      r.logSize,
		tailBytes:    int(r.tailSize),
		tailRecords:  o.SegmentSize / firstRecordBytes,
		tailFirst:    r.tailFirst,
		closedSegs:   r.closed,
		kick:         make(chan struct{}, 1),
		ctl:          make(chan ctlRequest),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	l.cond.L = &l.mu
	l.reserveTail()
	l.flushTimer = time.AfterFunc(l.opts.IdleFlush, l.flushDue)
	l.flushTimer.Stop()
	go l.run()
	return l, nil
}

// preallocation is tidwall's Options.Preallocate under policy f (see
// preallocateBytes).
func preallocation(f Fsync) int {
	if f == FsyncAlways {
		return preallocateBytes
	}
	return 0
}

// Replay calls fn for every live record in order: the snapshot's records,
// then every log record after the snapshot's index. rec is valid only
// during the call. Replay reads the files as it goes, holding one record
// in memory. It may be called once, after Open and before any Append or
// Compact; it stops at the first error of fn and returns it.
func (l *Log) Replay(fn func(rec []byte) error) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.replay:
		l.mu.Unlock()
		return errors.New("wal: Replay called twice")
	case l.used:
		l.mu.Unlock()
		return errors.New("wal: Replay called after Append or Compact")
	}
	l.replay = true
	snap := l.snap
	l.mu.Unlock()

	if snap.exists {
		if err := readSnapshot(filepath.Join(l.dir, snapshotName), fn); err != nil {
			return err
		}
	}
	segs, err := listSegments(l.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		index := s.first
		res, err := scanSegment(s.path, func(rec []byte) error {
			index++
			if index-1 <= snap.index {
				return nil
			}
			return fn(rec)
		})
		if err != nil {
			return err
		}
		if res.fault != nil {
			return &CorruptError{File: s.path, Offset: res.end, Reason: res.fault.reason}
		}
	}
	return nil
}

// Append adds recs to the log in order and returns the index of the last
// one. It frames (copies) each record into the pending batch, so the caller
// may reuse its buffers as soon as Append returns. It does not wait for the
// disk (see Wait) and never blocks on I/O.
//
// It returns ErrOverload, having changed nothing, when accepting recs would
// put more than Options.MaxPending records in the pending queue (so a
// single call with more records than that always gets ErrOverload);
// ErrClosed after Close; and an error wrapping ErrFailed after a failed
// write or fsync. Callers append under their own lock, so that log order
// equals the order in which their state changed. With no records, Append
// returns LastIndex.
func (l *Log) Append(recs ...[]byte) (uint64, error) {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return 0, ErrClosed
	case l.failErr != nil:
		err := l.failErr
		l.mu.Unlock()
		return 0, err
	case l.pending+len(recs) > l.opts.MaxPending:
		l.mu.Unlock()
		return 0, ErrOverload
	}
	l.used = true
	for _, rec := range recs {
		l.last++
		l.scratch = appendFrame(l.scratch[:0], rec)
		l.fill.Write(l.last, l.scratch)
		size := entrySize(len(l.scratch))
		l.sizes = append(l.sizes, size)
		l.bytes += int64(size)
	}
	if cap(l.scratch) > maxRetainedBatch {
		l.scratch = nil
	}
	l.pending += len(recs)
	l.appends += uint64(len(recs))
	if len(recs) > 0 {
		l.armFlush()
	}
	last := l.last
	l.mu.Unlock()
	return last, nil
}

// Wait blocks until every record up to index is durable: fsynced under
// FsyncAlways, written to the OS (write(2) done) under FsyncEverySec and
// FsyncNo. All waiters of a batch are woken by its one write and one fsync.
// It returns an error wrapping ErrFailed when the log failed before the
// record was durable, and an error for an index not appended yet.
func (l *Log) Wait(index uint64) error {
	return l.waitFor(index, l.opts.Fsync == FsyncAlways)
}

// A Notifier is told by Notify that records it waits for are durable.
type Notifier = interface{ Notify() }

type notifyRequest struct {
	n     Notifier
	index uint64
}

// Notify reports whether every record up to index is durable, as Wait
// defines it, without waiting for another goroutine's write. Under
// FsyncAlways, when no write is in progress, the caller writes and fsyncs
// the pending records itself, as Wait does; when one is, Notify registers n
// and reports false: the committer goroutine writes the records after the
// write in progress and calls n.Notify once they are durable, or once the
// log has failed or closed (Notify or Wait then tell which). An event loop
// waits for the disk this way: it never sits idle behind another loop's
// fsync, and a lone client's reply costs no wake-up of the committer.
// n.Notify is called on a goroutine of the log with its lock held, so it
// must return at once and must not call the log. The log keeps one
// registration per Notifier, at the lowest index asked for, and forgets it
// once called.
//
// Under FsyncEverySec and FsyncNo a record is durable once handed to the
// OS: Notify then waits as Wait does and never calls n back, since waiting
// for another goroutine's write(2) costs less than waking the committer and
// then the caller. Errors are those of Wait.
func (l *Log) Notify(index uint64, n Notifier) (bool, error) {
	if l.opts.Fsync != FsyncAlways {
		if err := l.Wait(index); err != nil {
			return false, err
		}
		return true, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case index > l.last:
		return false, fmt.Errorf("wal: wait for index %d beyond the last appended %d", index, l.last)
	case l.synced >= index:
		return true, nil
	case l.failErr != nil:
		return false, l.failErr
	case l.stopped:
		return false, ErrClosed
	}
	if l.lead() {
		switch {
		case l.synced >= index:
			return true, nil
		case l.failErr != nil:
			return false, l.failErr
		}
	}
	registered := false
	for i := range l.notifiers {
		if l.notifiers[i].n == n {
			l.notifiers[i].index = min(l.notifiers[i].index, index)
			registered = true
			break
		}
	}
	if !registered {
		l.notifiers = append(l.notifiers, notifyRequest{n: n, index: index})
	}
	if len(l.sizes) > 0 {
		// The records are still pending: the committer writes them after
		// the batch in progress.
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return false, nil
}

// notifyDurable calls the notifiers whose records are now durable, or all
// of them once the log has failed or stopped. Lock should be held.
func (l *Log) notifyDurable() {
	if len(l.notifiers) == 0 {
		return
	}
	done, all := l.synced, l.failErr != nil || l.stopped
	kept := l.notifiers[:0]
	for _, r := range l.notifiers {
		if all || r.index <= done {
			r.n.Notify()
			continue
		}
		kept = append(kept, r)
	}
	clear(l.notifiers[len(kept):])
	l.notifiers = kept
}

// waitFor blocks until index is fsynced (synced) or written.
func (l *Log) waitFor(index uint64, synced bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if index > l.last {
		return fmt.Errorf("wal: wait for index %d beyond the last appended %d", index, l.last)
	}
	for {
		done := l.written
		if synced {
			done = l.synced
		}
		switch {
		case done >= index:
			return nil
		case l.failErr != nil:
			return l.failErr
		case l.stopped:
			return ErrClosed
		}
		testHookWait()
		l.leadOrWait()
	}
}

// testHookWait is called each time waitFor finds its record not yet
// durable, before it writes or waits. Lock is held.
var testHookWait = func() {}

// leadOrWait is how a goroutine waits for records to be written: when no
// writer is active and records are pending, it writes them itself (one
// batch, everything appended so far) rather than wake the committer and
// sleep until it is done, which would cost two goroutine switches per
// batch on the path of every durable reply. Otherwise it sleeps until the
// writer's broadcast. Lock should be held.
func (l *Log) leadOrWait() {
	if !l.lead() {
		l.cond.Wait()
	}
}

// lead writes the pending records as one batch, in the writer role, when
// records are pending and no write is in progress; it reports whether it
// did. Lock should be held; it is released during the write.
func (l *Log) lead() bool {
	if l.writing || len(l.sizes) == 0 {
		return false
	}
	l.writing = true
	l.writeBatch()
	l.releaseWriter()
	return true
}

// Read returns the record at index, verifying its checksum. The record is
// memory the log never changes: the caller may keep it but must not modify
// it. A record of the tail segment is a slice of tidwall's image of that
// segment, and keeping it keeps the image in memory; a record of a closed
// segment is a slice of the bytes its read took from the file. A record is
// returned only once it is durable, as Wait defines it, and Read waits for
// that as Wait does (writing the pending records itself when nobody is
// writing): a reader never sees a record that a crash could take back,
// whose index a later record would then take. It returns ErrNotFound
// for an index beyond LastIndex, before FirstIndex or covered by the
// snapshot (also when a concurrent Compact drops it); a *CorruptError
// naming the segment file and the index when the record is damaged (and
// its byte offset, for a closed segment); an error wrapping ErrFailed when
// the log failed before the record was durable; ErrClosed after Close;
// ErrWriteOnly, whatever the index, for a log opened WriteOnly.
func (l *Log) Read(index uint64) ([]byte, error) {
	recs, err := l.ReadRange(index, 1)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// ReadRange returns the n records from index on, as Read does, with the
// locks taken once: the way to read many records in order. Every record of
// the range must exist.
func (l *Log) ReadRange(index uint64, n int) ([][]byte, error) {
	switch {
	case l.opts.WriteOnly:
		return nil, ErrWriteOnly
	case n < 1:
		return nil, fmt.Errorf("wal: read of %d records", n)
	}
	last := index + uint64(n) - 1
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return nil, ErrClosed
	case index == 0 || index < l.first || index <= l.snap.index || last > l.last:
		l.mu.Unlock()
		return nil, ErrNotFound
	}
	l.mu.Unlock()
	if err := l.Wait(last); err != nil {
		return nil, err
	}

	l.readMu.Lock()
	defer l.readMu.Unlock()
	l.mu.Lock()
	v := readView{closed: l.closedSegs, tailFirst: l.tailFirst}
	closed, gone := l.closed, index < l.first || index <= l.snap.index
	l.mu.Unlock()
	switch {
	case closed:
		// Close may have closed the segment files kept open for reads
		// already: this read must not open more.
		return nil, ErrClosed
	case gone:
		// Compact dropped it meanwhile.
		return nil, ErrNotFound
	}
	return l.readRecords(v, index, n)
}

// FirstIndex is the index of the first record Read can return: the one
// after the snapshot's index or the first held by the segments, whichever
// is later. It is LastIndex+1 when the log holds no record.
func (l *Log) FirstIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.first, l.snap.index+1)
}

// LastIndex is the index of the last appended record (0 when none).
func (l *Log) LastIndex() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Stats returns the log's counters. It may be called after Close.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var records uint64
	if l.last >= l.first {
		records = l.last - l.first + 1
	}
	return Stats{
		Records:         records,
		Bytes:           l.logSize + l.snap.size,
		LastIndex:       l.last,
		SnapshotIndex:   l.snap.index,
		Fsyncs:          l.fsyncs,
		Batches:         l.batches,
		AppendedRecords: l.appends,
		Failed:          l.failErr != nil,
		FsyncPolicy:     l.opts.Fsync,
		ReadBytes:       l.readBytes.Load(),
	}
}

// Close writes what is pending, fsyncs whatever the policy, stops the
// committer and closes the files. It is idempotent and returns the same
// result every time: nil, or the failure that stopped the log.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.stop)
		<-l.done
		err := l.tl.Close()
		// A read that began before closed was set may still hold readMu.
		l.readMu.Lock()
		l.closeSegmentFiles()
		l.readMu.Unlock()
		l.mu.Lock()
		switch {
		case l.failErr != nil:
			l.closeErr = l.failErr
		case err != nil:
			l.closeErr = fmt.Errorf("wal: close %s: %w", l.dir, err)
		}
		l.mu.Unlock()
	})
	return l.closeErr
}

// failLocked records the first write or fsync error and wakes every
// waiter; the log accepts nothing more. Lock should be held.
func (l *Log) failLocked(err error) {
	if l.failErr == nil {
		l.failErr = fmt.Errorf("%w: %v", ErrFailed, err)
		l.log.Error("wal: write failed, the log accepts no more records", "dir", l.dir, "err", err)
	}
	l.cond.Broadcast()
	l.notifyDurable()
}
