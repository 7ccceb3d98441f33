package wal_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nexo/wal"
)

const (
	// testSyncInterval is the everysec period of tests that wait for it.
	testSyncInterval = 20 * time.Millisecond
	// syncMargin is added to testSyncInterval to let one tick and its
	// fsync complete under the race detector on a loaded machine.
	syncMargin = 200 * time.Millisecond
	// neverInterval is an everysec period, or an idle flush delay, no test
	// lives to see.
	neverInterval = time.Hour
	// testIdleFlush is the idle flush delay of tests that wait for it.
	testIdleFlush = 20 * time.Millisecond
	// segmentFillerSize is a segment size small enough that a test
	// closes segments with a few records.
	segmentFillerSize = 256
	// smallSegmentSize makes a log of a few hundred small records span
	// many segments.
	smallSegmentSize = 4 << 10
	// crcSize is the size of a record's checksum in the segment format.
	crcSize = 4
	// snapshotName is the snapshot's file name in the log directory.
	snapshotName = "snapshot"
	// maxNotifications bounds the calls a test's notifier can take
	// without blocking the log.
	maxNotifications = 16
	// notifyWriters goroutines each append and wait through Notify
	// notifyRounds times.
	notifyWriters = 8
	notifyRounds  = 200
	// bigRecord is a record length whose tidwall length prefix takes two
	// bytes, so that tears inside the prefix are exercised too.
	bigRecord = 200
)

// quiet discards the log's messages.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// logBuffer collects a log's messages for inspection.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// opts are the options of most tests: defaults, quiet.
func opts() wal.Options { return wal.Options{Logger: quiet} }

// smallSegments is opts with segments of smallSegmentSize.
func smallSegments() wal.Options {
	o := opts()
	o.SegmentSize = smallSegmentSize
	return o
}

func open(t testing.TB, dir string, o wal.Options) *wal.Log {
	t.Helper()
	l, err := wal.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func rec(i int) []byte { return []byte(fmt.Sprintf("record-%05d", i)) }

func recs(from, to int) [][]byte {
	var out [][]byte
	for i := from; i <= to; i++ {
		out = append(out, rec(i))
	}
	return out
}

// big is a record of bigRecord letters, distinct for each i.
func big(i int) []byte {
	p := bytes.Repeat([]byte{'a' + byte(i%26)}, bigRecord)
	copy(p, strconv.Itoa(i))
	return p
}

// bigs returns big(from) to big(to).
func bigs(from, to int) [][]byte {
	var out [][]byte
	for i := from; i <= to; i++ {
		out = append(out, big(i))
	}
	return out
}

// appendWait appends rs and waits for them.
func appendWait(t testing.TB, l *wal.Log, rs ...[]byte) uint64 {
	t.Helper()
	idx, err := l.Append(rs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

// appendEach appends rs one at a time, waiting for each before the next,
// so that every record is a batch of its own.
func appendEach(t testing.TB, l *wal.Log, rs ...[]byte) {
	t.Helper()
	for _, r := range rs {
		appendWait(t, l, r)
	}
}

func replay(t testing.TB, l *wal.Log) [][]byte {
	t.Helper()
	var out [][]byte
	if err := l.Replay(func(r []byte) error {
		out = append(out, slices.Clone(r))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// reopen opens dir and returns its replayed records; the log stays open.
func reopen(t testing.TB, dir string, o wal.Options) (*wal.Log, [][]byte) {
	t.Helper()
	l := open(t, dir, o)
	return l, replay(t, l)
}

func equalRecs(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: got %q, want %q", i, got[i], want[i])
		}
	}
}

func closeLog(t testing.TB, l *wal.Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// segments lists the segment files of dir in index order.
// openFiles lists the paths of the files the process holds open (Linux).
func openFiles(t testing.TB) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		// A descriptor closed since the listing has no link any more.
		if path, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil {
			out = append(out, path)
		}
	}
	return out
}

func segments(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if len(e.Name()) == 20 && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

func segmentName(index uint64) string { return fmt.Sprintf("%020d", index) }

// segmentFirst is the index of the first record of the segment at path.
func segmentFirst(t testing.TB, path string) uint64 {
	t.Helper()
	first, err := strconv.ParseUint(filepath.Base(path), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// entrySize is the bytes a record takes in a segment.
func entrySize(r []byte) int64 {
	return int64(len(binary.AppendUvarint(nil, uint64(crcSize+len(r)))) + crcSize + len(r))
}

// dirBytes is the size of the regular files in dir.
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
	}
	return dst
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts the byte at off of the file at path.
func flipByte(t testing.TB, path string, off int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0xff
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// wantCorrupt checks that err is a *wal.CorruptError at file and offset
// whose text names both.
func wantCorrupt(t testing.TB, err error, file string, offset int64) {
	t.Helper()
	var ce *wal.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *wal.CorruptError", err)
	}
	if ce.File != file || ce.Offset != offset {
		t.Fatalf("corruption reported at %s:%d, want %s:%d (%v)", ce.File, ce.Offset, file, offset, err)
	}
	if msg := err.Error(); !strings.Contains(msg, file) || !strings.Contains(msg, strconv.FormatInt(offset, 10)) {
		t.Fatalf("error %q does not name the file and offset", msg)
	}
}

// buildClosed writes rs to a new log, closes it and returns its directory.
func buildClosed(t testing.TB, o wal.Options, rs [][]byte) string {
	t.Helper()
	dir := t.TempDir()
	l := open(t, dir, o)
	for _, r := range rs {
		if _, err := l.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	return dir
}

// failingDir returns a log directory and options under which the write
// that follows record 1 fails: the segment tidwall creates after it, every
// record closing its segment, cannot be opened (a directory holds its name).
// Removing that directory lets the log open again.
func failingDir(t testing.TB) (string, wal.Options) {
	t.Helper()
	dir := t.TempDir()
	o := opts()
	o.SegmentSize = 1
	if err := os.Mkdir(filepath.Join(dir, segmentName(2)), 0o750); err != nil {
		t.Fatal(err)
	}
	return dir, o
}

func TestOptions(t *testing.T) {
	t.Run("fsync policies parse case-insensitively and print back", func(t *testing.T) {
		for _, f := range []wal.Fsync{wal.FsyncAlways, wal.FsyncEverySec, wal.FsyncNo} {
			for _, s := range []string{f.String(), strings.ToUpper(f.String())} {
				got, err := wal.ParseFsync(s)
				if err != nil || got != f {
					t.Fatalf("ParseFsync(%q) = %v, %v", s, got, err)
				}
			}
		}
		if wal.FsyncAlways.String() != "always" || wal.FsyncEverySec.String() != "everysec" || wal.FsyncNo.String() != "no" {
			t.Fatal("policy names differ from Redis's appendfsync values")
		}
		var zero wal.Options
		if zero.Fsync != wal.FsyncAlways {
			t.Fatal("the zero Options do not fsync always")
		}
	})

	t.Run("edge: invalid options are rejected", func(t *testing.T) {
		if _, err := wal.ParseFsync("sometimes"); err == nil {
			t.Fatal("ParseFsync accepted an unknown policy")
		}
		if s := wal.Fsync(7).String(); s != "Fsync(7)" {
			t.Fatalf("unknown policy prints %q", s)
		}
		for _, o := range []wal.Options{
			{Fsync: wal.Fsync(-1)},
			{Fsync: wal.Fsync(3)},
			{SegmentSize: -1},
			{MaxPending: -1},
			{SyncInterval: -time.Second},
			{IdleFlush: -time.Second},
		} {
			o.Logger = quiet
			if l, err := wal.Open(t.TempDir(), o); err == nil {
				l.Close()
				t.Fatalf("Open accepted %+v", o)
			}
		}
	})
}

func TestAppendReplay(t *testing.T) {
	t.Run("Open creates the missing directories and fsyncs the directory holding each", func(t *testing.T) {
		root := t.TempDir()
		var synced []string
		t.Cleanup(wal.SetDirSyncedHook(func(dir string) { synced = append(synced, dir) }))
		dir := filepath.Join(root, "a", "b", "c")
		l, err := wal.Open(dir, opts())
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		want := []string{filepath.Join(root, "a", "b"), filepath.Join(root, "a"), root}
		if !slices.Equal(synced, want) {
			t.Fatalf("fsynced %q, want %q", synced, want)
		}
		synced = nil
		open(t, dir, opts())
		if len(synced) != 0 {
			t.Fatalf("reopening fsynced %q", synced)
		}
	})

	t.Run("records come back in order after reopen", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		if got := l.LastIndex(); got != 0 {
			t.Fatalf("new log LastIndex = %d", got)
		}
		equalRecs(t, replay(t, l), nil)
		idx, err := l.Append(rec(1))
		if err != nil || idx != 1 {
			t.Fatalf("Append = %d, %v", idx, err)
		}
		idx, err = l.Append(rec(2), rec(3), rec(4))
		if err != nil || idx != 4 {
			t.Fatalf("Append of three = %d, %v", idx, err)
		}
		if err := l.Wait(idx); err != nil {
			t.Fatal(err)
		}
		st := l.Stats()
		if st.LastIndex != 4 || st.Records != 4 || st.AppendedRecords != 4 || st.SnapshotIndex != 0 || st.Failed {
			t.Fatalf("stats %+v", st)
		}
		closeLog(t, l)
		if st := l.Stats(); st.Bytes != dirBytes(t, dir) {
			t.Fatalf("Stats.Bytes = %d, files hold %d", st.Bytes, dirBytes(t, dir))
		}

		l, got := reopen(t, dir, opts())
		equalRecs(t, got, recs(1, 4))
		if st := l.Stats(); st.LastIndex != 4 || st.Records != 4 || st.AppendedRecords != 0 {
			t.Fatalf("stats after reopen %+v", st)
		}
	})

	t.Run("Append copies: the caller may reuse its buffer", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		buf := []byte("first")
		if _, err := l.Append(buf); err != nil {
			t.Fatal(err)
		}
		copy(buf, "XXXXX")
		appendWait(t, l, buf)
		closeLog(t, l)
		_, got := reopen(t, dir, opts())
		equalRecs(t, got, [][]byte{[]byte("first"), []byte("XXXXX")})
	})

	t.Run("tidwall's image of the tail segment has room for a whole segment from its first record", func(t *testing.T) {
		const batches, perBatch = 60, 20
		dir := t.TempDir()
		o := opts()
		o.SegmentSize = 4096
		check := func(l *wal.Log, when string, records int) {
			t.Helper()
			image, positions := l.TailCapacity()
			if image < o.SegmentSize+wal.TailHeadroom || positions < records {
				t.Fatalf("%s: image %d, positions %d; want at least %d and %d", when,
					image, positions, o.SegmentSize+wal.TailHeadroom, records)
			}
		}
		l := open(t, dir, o)
		check(l, "at Open", 0)
		for b := range batches {
			batch := recs(b*perBatch+1, (b+1)*perBatch)
			appendWait(t, l, batch...)
			if b == 0 {
				check(l, "after the first batch", 0)
			}
		}
		segs := segments(t, dir)
		if len(segs) < 3 {
			t.Fatalf("only %d segments", len(segs))
		}
		lastClosed := int(segmentFirst(t, segs[len(segs)-1]) - segmentFirst(t, segs[len(segs)-2]))
		check(l, "after the rotations", lastClosed)
		if err := l.Compact(nil, l.LastIndex()); err != nil {
			t.Fatal(err)
		}
		check(l, "after a compaction emptied the log", lastClosed)
		closeLog(t, l)
		l, got := reopen(t, dir, o)
		equalRecs(t, got, nil)
		check(l, "after reopen", 0)
		closeLog(t, l)
	})

	t.Run("a new log's first segment has positions for a segment of small records from its first record", func(t *testing.T) {
		dir := t.TempDir()
		o := opts()
		o.SegmentSize = smallSegmentSize
		l := open(t, dir, o)
		_, reserved := l.TailCapacity()
		if want := o.SegmentSize / wal.FirstRecordBytes; reserved < want {
			t.Fatalf("positions %d at Open, want at least %d", reserved, want)
		}
		// Records of a few bytes, framed well within FirstRecordBytes,
		// until just before the segment closes.
		for i := 1; i < o.SegmentSize/wal.FirstRecordBytes; i++ {
			appendWait(t, l, rec(i))
		}
		if segs := segments(t, dir); len(segs) != 1 {
			t.Fatalf("%d segments, want the first only", len(segs))
		}
		if _, positions := l.TailCapacity(); positions != reserved {
			t.Fatalf("positions grew from %d to %d within the first segment", reserved, positions)
		}
	})

	t.Run("a WriteOnly log reuses one image of the tail, replays every record and refuses reads", func(t *testing.T) {
		// The same writes through a log that reads and one that does not:
		// the first allocates an image per segment, the second one in all.
		const segmentSize, recordSize, rotations = 32 << 10, 1 << 10, 8
		imageBytes := func(writeOnly bool) uint64 {
			o := opts()
			o.SegmentSize = segmentSize
			o.WriteOnly = writeOnly
			l := open(t, t.TempDir(), o)
			batch := make([][]byte, segmentSize/recordSize)
			for i := range batch {
				batch[i] = make([]byte, recordSize)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range rotations {
				appendWait(t, l, batch...)
			}
			runtime.ReadMemStats(&after)
			closeLog(t, l)
			return after.TotalAlloc - before.TotalAlloc
		}
		reading, writeOnly := imageBytes(false), imageBytes(true)
		if saved := (rotations / 2) * (segmentSize + wal.TailHeadroom); writeOnly+uint64(saved) > reading {
			t.Fatalf("WriteOnly allocated %d bytes, the reading log %d: want at least %d fewer", writeOnly, reading, saved)
		}

		dir := t.TempDir()
		o := opts()
		o.SegmentSize = 256
		o.WriteOnly = true
		l := open(t, dir, o)
		for i := 1; i <= 300; i++ {
			appendWait(t, l, rec(i))
		}
		if n := len(segments(t, dir)); n < 10 {
			t.Fatalf("only %d segments", n)
		}
		if _, err := l.Read(1); !errors.Is(err, wal.ErrWriteOnly) {
			t.Fatalf("Read = %v, want ErrWriteOnly", err)
		}
		if _, err := l.ReadRange(1, 2); !errors.Is(err, wal.ErrWriteOnly) {
			t.Fatalf("ReadRange = %v, want ErrWriteOnly", err)
		}
		if err := l.Compact(recs(1, 10), 290); err != nil {
			t.Fatal(err)
		}
		appendWait(t, l, rec(301))
		closeLog(t, l)
		_, got := reopen(t, dir, o)
		equalRecs(t, got, append(recs(1, 10), recs(291, 301)...))
	})

	t.Run("edge: empty, binary, framing-like and oversized records", func(t *testing.T) {
		dir := t.TempDir()
		o := opts()
		o.SegmentSize = 1 << 10
		l := open(t, dir, o)
		framed := binary.AppendUvarint(nil, crcSize)
		framed = append(framed, 0, 0, 0, 0)
		want := [][]byte{
			{},
			{0, 0, 0, 0, 0, 0, 0, 0},
			framed,
			bytes.Repeat([]byte{0xff}, 3*o.SegmentSize),
			[]byte("after the big one"),
		}
		appendWait(t, l, want...)
		if idx, err := l.Append(); err != nil || idx != uint64(len(want)) {
			t.Fatalf("empty Append = %d, %v", idx, err)
		}
		closeLog(t, l)
		_, got := reopen(t, dir, o)
		equalRecs(t, got, want)
	})

	t.Run("edge: records spread over many segments", func(t *testing.T) {
		dir := t.TempDir()
		o := opts()
		o.SegmentSize = 256
		l := open(t, dir, o)
		for i := 1; i <= 300; i++ {
			if _, err := l.Append(rec(i)); err != nil {
				t.Fatal(err)
			}
		}
		closeLog(t, l)
		if n := len(segments(t, dir)); n < 10 {
			t.Fatalf("only %d segments", n)
		}
		if st := l.Stats(); st.Bytes != dirBytes(t, dir) {
			t.Fatalf("Stats.Bytes = %d, files hold %d", st.Bytes, dirBytes(t, dir))
		}
		l, got := reopen(t, dir, o)
		equalRecs(t, got, recs(1, 300))
		appendWait(t, l, rec(301))
		closeLog(t, l)
		_, got = reopen(t, dir, o)
		equalRecs(t, got, recs(1, 301))
	})

	t.Run("edge: Replay runs once, before Append, and stops at fn's error", func(t *testing.T) {
		dir := buildClosed(t, opts(), recs(1, 5))
		l := open(t, dir, opts())
		stop := errors.New("stop")
		n := 0
		err := l.Replay(func([]byte) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 3 {
			t.Fatalf("Replay = %v after %d records", err, n)
		}
		if err := l.Replay(func([]byte) error { return nil }); err == nil {
			t.Fatal("a second Replay succeeded")
		}
		closeLog(t, l)

		l = open(t, dir, opts())
		appendWait(t, l, rec(6))
		if err := l.Replay(func([]byte) error { return nil }); err == nil {
			t.Fatal("Replay after Append succeeded")
		}
	})

	t.Run("restart: indexes continue after Close and reopen", func(t *testing.T) {
		dir := t.TempDir()
		for round := range 3 {
			l, got := reopen(t, dir, opts())
			equalRecs(t, got, recs(1, round*2))
			if idx := appendWait(t, l, rec(round*2+1), rec(round*2+2)); idx != uint64(round*2+2) {
				t.Fatalf("round %d: index %d", round, idx)
			}
			closeLog(t, l)
			if err := l.Close(); err != nil {
				t.Fatalf("second Close = %v", err)
			}
			if _, err := l.Append(rec(0)); !errors.Is(err, wal.ErrClosed) {
				t.Fatalf("Append after Close = %v", err)
			}
		}
	})
}

// syncBehindLog opens a log under policy whose committer only the amount
// written wakes (no ticker, no idle flush, no segment closed), and returns
// a record of half of SyncBehindBytes.
func syncBehindLog(t testing.TB, policy wal.Fsync) (*wal.Log, []byte) {
	t.Helper()
	o := opts()
	o.Fsync = policy
	o.SyncInterval = neverInterval
	o.SegmentSize = 4 * wal.SyncBehindBytes
	l := open(t, t.TempDir(), o)
	l.SuppressIdleFlush()
	return l, bytes.Repeat([]byte{'x'}, wal.SyncBehindBytes/2)
}

func TestWait(t *testing.T) {
	t.Run("always: one write and one fsync for a batch, then Wait returns", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		appendWait(t, l, recs(1, 10)...)
		if st := l.Stats(); st.Fsyncs != 1 || st.Batches != 1 || st.FsyncPolicy != wal.FsyncAlways {
			t.Fatalf("stats %+v, want one batch and one fsync", st)
		}
	})

	t.Run("everysec: Wait returns once written; the ticker fsyncs", func(t *testing.T) {
		o := opts()
		o.Fsync = wal.FsyncEverySec
		o.SyncInterval = neverInterval
		l := open(t, t.TempDir(), o)
		appendWait(t, l, rec(1))
		if st := l.Stats(); st.Fsyncs != 0 || st.Batches != 1 {
			t.Fatalf("stats %+v, want a write and no fsync", st)
		}

		o.SyncInterval = testSyncInterval
		l = open(t, t.TempDir(), o)
		appendWait(t, l, rec(1))
		time.Sleep(testSyncInterval + syncMargin)
		if st := l.Stats(); st.Fsyncs != 1 {
			t.Fatalf("%d fsyncs after one interval, want 1", st.Fsyncs)
		}
		time.Sleep(testSyncInterval + syncMargin)
		if st := l.Stats(); st.Fsyncs != 1 {
			t.Fatalf("%d fsyncs with nothing new written, want 1", st.Fsyncs)
		}
	})

	t.Run("no: Wait returns once written; a few records are fsynced only by Close", func(t *testing.T) {
		o := opts()
		o.Fsync = wal.FsyncNo
		l := open(t, t.TempDir(), o)
		appendWait(t, l, rec(1), rec(2))
		if st := l.Stats(); st.Fsyncs != 0 {
			t.Fatalf("%d fsyncs before Close", st.Fsyncs)
		}
		closeLog(t, l)
		if st := l.Stats(); st.Fsyncs != 1 {
			t.Fatalf("%d fsyncs after Close, want 1", st.Fsyncs)
		}
	})

	t.Run("everysec and no: the tail segment is fsynced behind the writers once SyncBehindBytes are written to it", func(t *testing.T) {
		for _, policy := range []wal.Fsync{wal.FsyncEverySec, wal.FsyncNo} {
			l, half := syncBehindLog(t, policy)
			appendWait(t, l, half)
			time.Sleep(syncMargin)
			if st := l.Stats(); st.Fsyncs != 0 {
				t.Fatalf("%v: %d fsyncs after half of SyncBehindBytes, want 0", policy, st.Fsyncs)
			}
			appendWait(t, l, half)
			time.Sleep(syncMargin)
			if st := l.Stats(); st.Fsyncs != 1 || st.Batches != 2 {
				t.Fatalf("%v: stats %+v after SyncBehindBytes, want two writes and one fsync", policy, st)
			}
		}
	})

	t.Run("everysec: the fsync behind the writers follows the tail segment through rotations, compaction and restarts", func(t *testing.T) {
		dir := t.TempDir()
		o := opts()
		o.Fsync = wal.FsyncEverySec
		o.SyncInterval = neverInterval
		o.SegmentSize = segmentFillerSize
		tailIs := func(l *wal.Log, when string) {
			t.Helper()
			segs := segments(t, dir)
			if got, want := l.TailSegment(), segs[len(segs)-1]; got != want {
				t.Fatalf("%s: the log takes %s for the tail segment, the last file is %s", when, got, want)
			}
		}
		l := open(t, dir, o)
		tailIs(l, "new log")
		small, big := rec(1), bytes.Repeat([]byte{'x'}, 2*segmentFillerSize)
		batches := [][][]byte{{small}, {big}, {small, small}, {small, big, small}, {big, big}, recs(1, 40), {small}}
		var last uint64
		for k, b := range batches {
			last = appendWait(t, l, b...)
			tailIs(l, fmt.Sprintf("after batch %d", k))
		}
		if err := l.Compact(nil, last-1); err != nil {
			t.Fatal(err)
		}
		tailIs(l, "after compaction")
		closeLog(t, l)
		l = open(t, dir, o)
		tailIs(l, "after a restart")
		appendWait(t, l, big)
		tailIs(l, "after a restart and a rotation")
	})

	t.Run("edge: a failed fsync behind the writers fails the log", func(t *testing.T) {
		l, half := syncBehindLog(t, wal.FsyncEverySec)
		appendWait(t, l, half)
		// tidwall keeps writing through its open descriptor; the
		// committer's fsync opens the file by name and fails.
		if err := os.Remove(l.TailSegment()); err != nil {
			t.Fatal(err)
		}
		appendWait(t, l, half)
		time.Sleep(syncMargin)
		if _, err := l.Append(rec(1)); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Append after the failed fsync = %v, want ErrFailed", err)
		}
		if st := l.Stats(); !st.Failed || st.Fsyncs != 0 {
			t.Fatalf("stats %+v, want a failed log and no fsync", st)
		}
		l.Close()
	})

	t.Run("records nobody waits for are written and fsynced within the idle flush delay", func(t *testing.T) {
		o := opts()
		o.IdleFlush = testIdleFlush
		l := open(t, t.TempDir(), o)
		if _, err := l.Append(rec(1), rec(2)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(testIdleFlush + syncMargin)
		if st := l.Stats(); st.Batches != 1 || st.Fsyncs != 1 {
			t.Fatalf("stats %+v, want one batch and one fsync without a Wait", st)
		}
	})

	t.Run("the idle flush is armed once per delay, not for every batch a waiter writes", func(t *testing.T) {
		var arms atomic.Int64
		defer wal.SetArmFlushHook(func() { arms.Add(1) })()
		for _, policy := range []wal.Fsync{wal.FsyncAlways, wal.FsyncEverySec, wal.FsyncNo} {
			arms.Store(0)
			o := opts()
			o.Fsync = policy
			o.IdleFlush = neverInterval
			l := open(t, t.TempDir(), o)
			for i := 1; i <= 3; i++ {
				appendWait(t, l, rec(i))
			}
			if n := arms.Load(); n != 1 || !l.FlushArmed() {
				t.Fatalf("%v: the idle flush was armed %d times for 3 batches, and is armed: %v; want once, still armed",
					policy, n, l.FlushArmed())
			}
			if st := l.Stats(); st.Batches != 3 {
				t.Fatalf("%v: stats %+v, want the waiters' 3 batches", policy, st)
			}
			closeLog(t, l)
		}
	})

	t.Run("edge: Wait for 0, beyond the last index, after Close", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		if err := l.Wait(0); err != nil {
			t.Fatal(err)
		}
		if err := l.Wait(1); err == nil {
			t.Fatal("Wait for an index never appended succeeded")
		}
		idx, err := l.Append(rec(1))
		if err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		if err := l.Wait(idx); err != nil {
			t.Fatalf("Wait after Close for a record Close wrote = %v", err)
		}
	})

	t.Run("edge: a failed directory fsync after a truncation fails the log", func(t *testing.T) {
		dir := t.TempDir()
		o := opts()
		o.SegmentSize = segmentFillerSize
		l := open(t, dir, o)
		last := appendWait(t, l, recs(1, 40)...)
		before := len(segments(t, dir))
		injected := errors.New("injected directory fsync failure")
		l.FailTruncationDirSync(injected)
		if err := l.Compact(nil, last-1); !errors.Is(err, wal.ErrFailed) || !strings.Contains(err.Error(), injected.Error()) {
			t.Fatalf("Compact = %v, want ErrFailed from the injected failure", err)
		}
		if after := len(segments(t, dir)); after >= before {
			t.Fatalf("%d segment files before the truncation, %d after", before, after)
		}
		if _, err := l.Append(rec(41)); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Append after the failed truncation = %v, want ErrFailed", err)
		}
		// A restart finds every record the truncation kept.
		if err := l.Close(); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Close = %v, want ErrFailed", err)
		}
		l = open(t, dir, o)
		defer closeLog(t, l)
		if got, err := l.Read(last); err != nil || string(got) != string(rec(40)) {
			t.Fatalf("Read(%d) after a restart = %q, %v", last, got, err)
		}
	})

	t.Run("edge: a failed write fails the log for good", func(t *testing.T) {
		dir, o := failingDir(t)
		l := open(t, dir, o)
		idx, err := l.Append(rec(1))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Wait(idx); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Wait = %v, want ErrFailed", err)
		}
		if _, err := l.Append(rec(2)); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Append = %v, want ErrFailed", err)
		}
		if err := l.Compact(nil, idx); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Compact = %v, want ErrFailed", err)
		}
		if st := l.Stats(); !st.Failed || st.LastIndex != 1 {
			t.Fatalf("stats %+v", st)
		}
		if err := l.Close(); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Close = %v, want ErrFailed", err)
		}

		// restart: with the obstacle gone, what reached the file is there.
		if err := os.Remove(filepath.Join(dir, segmentName(2))); err != nil {
			t.Fatal(err)
		}
		l, got := reopen(t, dir, o)
		equalRecs(t, got, recs(1, 1))
		appendWait(t, l, rec(2))
		closeLog(t, l)
		_, got = reopen(t, dir, o)
		equalRecs(t, got, recs(1, 2))
	})
}

// notifier records the calls a log makes to it.
type notifier struct{ calls chan struct{} }

func newNotifier() *notifier { return &notifier{calls: make(chan struct{}, maxNotifications)} }

// Notify must not block: the log calls it with its lock held.
func (n *notifier) Notify() { n.calls <- struct{}{} }

// wait waits up to syncMargin for the next call and reports whether it
// came.
func (n *notifier) wait() bool {
	select {
	case <-n.calls:
		return true
	case <-time.After(syncMargin):
		return false
	}
}

// called fails the test unless the next call comes within syncMargin.
func (n *notifier) called(t testing.TB) {
	t.Helper()
	if !n.wait() {
		t.Fatal("the notifier was not called")
	}
}

// uncalled checks that no call is left unconsumed.
func (n *notifier) uncalled(t testing.TB) {
	t.Helper()
	if k := len(n.calls); k != 0 {
		t.Fatalf("%d unexpected calls of the notifier", k)
	}
}

func notify(t testing.TB, l *wal.Log, index uint64, n *notifier) bool {
	t.Helper()
	durable, err := l.Notify(index, n)
	if err != nil {
		t.Fatalf("Notify(%d) = %v", index, err)
	}
	return durable
}

// notifyBehindWriter appends rs while the test holds the writer role and
// registers n for the last of them, which Notify must report not durable;
// release lets the committer write them.
func notifyBehindWriter(t testing.TB, l *wal.Log, n *notifier, rs ...[]byte) (idx uint64, release func()) {
	t.Helper()
	release = l.HoldWriter()
	idx, err := l.Append(rs...)
	if err != nil {
		release()
		t.Fatal(err)
	}
	if notify(t, l, idx, n) {
		release()
		t.Fatal("a pending record reported durable")
	}
	return idx, release
}

func TestNotify(t *testing.T) {
	t.Run("always: behind a write in progress, the committer fsyncs the records and calls the notifier once", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		n := newNotifier()
		idx, release := notifyBehindWriter(t, l, n, recs(1, 3)...)
		if notify(t, l, idx-1, n) {
			t.Fatal("a pending record reported durable")
		}
		release()
		n.called(t)
		if st := l.Stats(); st.Batches != 1 || st.Fsyncs != 1 {
			t.Fatalf("stats %+v, want one batch and one fsync without a Wait", st)
		}
		if !notify(t, l, idx, n) {
			t.Fatal("records reported not durable after the notification")
		}
		closeLog(t, l)
		n.uncalled(t)
	})

	t.Run("always: with no write in progress the caller writes and fsyncs the records itself", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		l.SuppressIdleFlush()
		n := newNotifier()
		idx, err := l.Append(recs(1, 3)...)
		if err != nil {
			t.Fatal(err)
		}
		if !notify(t, l, idx, n) {
			t.Fatal("records reported not durable with nobody else writing")
		}
		if st := l.Stats(); st.Batches != 1 || st.Fsyncs != 1 {
			t.Fatalf("stats %+v, want one batch and one fsync", st)
		}
		closeLog(t, l)
		n.uncalled(t)
	})

	t.Run("always: a durable index is reported so and registers nothing", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		n := newNotifier()
		idx := appendWait(t, l, rec(1))
		if !notify(t, l, idx, n) || !notify(t, l, 0, n) {
			t.Fatal("durable records reported not durable")
		}
		closeLog(t, l)
		n.uncalled(t)
	})

	t.Run("everysec and no: Notify writes the records itself and never calls back", func(t *testing.T) {
		for _, policy := range []wal.Fsync{wal.FsyncEverySec, wal.FsyncNo} {
			o := opts()
			o.Fsync = policy
			o.SyncInterval = neverInterval
			l := open(t, t.TempDir(), o)
			n := newNotifier()
			idx, err := l.Append(rec(1), rec(2))
			if err != nil {
				t.Fatal(err)
			}
			if !notify(t, l, idx, n) {
				t.Fatalf("%v: written records reported not durable", policy)
			}
			if st := l.Stats(); st.Batches != 1 || st.Fsyncs != 0 {
				t.Fatalf("%v: stats %+v, want a write and no fsync", policy, st)
			}
			closeLog(t, l)
			n.uncalled(t)
		}
	})

	t.Run("edge: an index beyond the last is an error", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		if _, err := l.Notify(1, newNotifier()); err == nil {
			t.Fatal("Notify for an index never appended succeeded")
		}
	})

	t.Run("edge: a failed write calls the notifier, and Notify then reports the failure", func(t *testing.T) {
		dir, o := failingDir(t)
		l := open(t, dir, o)
		n := newNotifier()
		idx, release := notifyBehindWriter(t, l, n, rec(1))
		release()
		n.called(t)
		if _, err := l.Notify(idx, n); !errors.Is(err, wal.ErrFailed) {
			t.Fatalf("Notify after the failure = %v, want ErrFailed", err)
		}
		l.Close()
		n.uncalled(t)
	})

	t.Run("edge: Close calls the notifiers of the records it writes", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		n := newNotifier()
		idx, release := notifyBehindWriter(t, l, n, rec(1))
		closed := make(chan error)
		go func() { closed <- l.Close() }()
		release()
		n.called(t)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		if !notify(t, l, idx, n) {
			t.Fatal("a record Close wrote reported not durable")
		}
		n.uncalled(t)
	})

	t.Run("race: every notifier is called once its own records are durable", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		var wg sync.WaitGroup
		for w := range notifyWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := newNotifier()
				for i := range notifyRounds {
					idx, err := l.Append(rec(w*notifyRounds + i))
					if err != nil {
						t.Error(err)
						return
					}
					durable, err := l.Notify(idx, n)
					switch {
					case err != nil:
						t.Error(err)
						return
					case durable:
						continue
					case !n.wait():
						t.Errorf("no notification for index %d", idx)
						return
					}
					if durable, err := l.Notify(idx, n); !durable || err != nil {
						t.Errorf("index %d after its notification: durable %v, %v", idx, durable, err)
						return
					}
				}
				if k := len(n.calls); k != 0 {
					t.Errorf("%d unexpected calls of the notifier", k)
				}
			}()
		}
		wg.Wait()
		closeLog(t, l)
	})
}

func TestOverload(t *testing.T) {
	t.Run("an Append that would pass MaxPending changes nothing", func(t *testing.T) {
		dir := t.TempDir()
		o := opts()
		o.MaxPending = 3
		l := open(t, dir, o)
		if _, err := l.Append(recs(1, 4)...); !errors.Is(err, wal.ErrOverload) {
			t.Fatalf("Append of 4 with MaxPending 3 = %v", err)
		}
		if st := l.Stats(); st.LastIndex != 0 || st.AppendedRecords != 0 || st.Batches != 0 {
			t.Fatalf("overloaded Append left a trace: %+v", st)
		}
		if idx := appendWait(t, l, recs(1, 3)...); idx != 3 {
			t.Fatalf("index %d", idx)
		}
		closeLog(t, l)
		_, got := reopen(t, dir, o)
		equalRecs(t, got, recs(1, 3))
	})

	t.Run("race: overloaded appends leave no trace", func(t *testing.T) {
		const writers, each = 8, 50
		dir := t.TempDir()
		o := opts()
		o.MaxPending = 2
		l := open(t, dir, o)
		var mu sync.Mutex // the caller's lock: log order = accepted order
		var accepted [][]byte
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					r := []byte(fmt.Sprintf("w%d-%d", w, i))
					mu.Lock()
					idx, err := l.Append(r)
					if err == nil {
						accepted = append(accepted, r)
					}
					mu.Unlock()
					switch {
					case errors.Is(err, wal.ErrOverload):
					case err != nil:
						t.Error(err)
						return
					default:
						if err := l.Wait(idx); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		closeLog(t, l)
		_, got := reopen(t, dir, o)
		equalRecs(t, got, accepted)
	})
}

func TestGroupCommit(t *testing.T) {
	t.Run("a pipeline of appends waits for the disk once", func(t *testing.T) {
		const depth = 100
		dir := t.TempDir()
		l := open(t, dir, opts())
		var idx uint64
		for i := 1; i <= depth; i++ {
			var err error
			if idx, err = l.Append(rec(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Wait(idx); err != nil {
			t.Fatal(err)
		}
		st := l.Stats()
		if st.Fsyncs != st.Batches || st.Fsyncs >= depth {
			t.Fatalf("%d fsyncs and %d batches for %d records", st.Fsyncs, st.Batches, depth)
		}
		closeLog(t, l)
		_, got := reopen(t, dir, opts())
		equalRecs(t, got, recs(1, depth))
	})

	t.Run("race: concurrent writers share fsyncs and every acknowledged record survives", func(t *testing.T) {
		const writers, each = 16, 64
		dir := t.TempDir()
		l := open(t, dir, opts())
		var wg sync.WaitGroup
		var done atomic.Bool
		wg.Go(func() { // a reader of the counters
			for !done.Load() {
				l.Stats()
				l.LastIndex()
				runtime.Gosched() // leave the processor to the writers under -cpu 1
			}
		})
		acked := make([][]string, writers)
		var writersWG sync.WaitGroup
		for w := range writers {
			writersWG.Go(func() {
				for i := range each {
					r := fmt.Sprintf("w%02d-%03d", w, i)
					idx, err := l.Append([]byte(r))
					if err == nil {
						err = l.Wait(idx)
					}
					if err != nil {
						t.Error(err)
						return
					}
					acked[w] = append(acked[w], r)
				}
			})
		}
		writersWG.Wait()
		done.Store(true)
		wg.Wait()
		st := l.Stats()
		if st.Fsyncs >= writers*each || st.Fsyncs != st.Batches {
			t.Fatalf("%d fsyncs and %d batches for %d records", st.Fsyncs, st.Batches, writers*each)
		}
		closeLog(t, l)

		_, got := reopen(t, dir, opts())
		if len(got) != writers*each {
			t.Fatalf("%d records after reopen, want %d", len(got), writers*each)
		}
		perWriter := make([][]string, writers)
		for _, r := range got {
			w, _ := strconv.Atoi(string(r[1:3]))
			perWriter[w] = append(perWriter[w], string(r))
		}
		for w := range writers {
			if !slices.Equal(perWriter[w], acked[w]) {
				t.Fatalf("writer %d: log holds %v, acknowledged %v", w, perWriter[w], acked[w])
			}
		}
	})

	t.Run("race: Close while appending keeps every accepted record", func(t *testing.T) {
		const writers, closeAfter = 8, 200
		dir := t.TempDir()
		l := open(t, dir, opts())
		var mu sync.Mutex
		byIndex := map[uint64][]byte{}
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := 0; ; i++ {
					r := []byte(fmt.Sprintf("w%d-%d", w, i))
					mu.Lock()
					idx, err := l.Append(r)
					if err == nil {
						byIndex[idx] = r
					}
					mu.Unlock()
					switch {
					case errors.Is(err, wal.ErrClosed):
						return
					case errors.Is(err, wal.ErrOverload):
						if err := l.Wait(l.LastIndex()); err != nil && !errors.Is(err, wal.ErrClosed) {
							t.Error(err)
							return
						}
					case err != nil:
						t.Error(err)
						return
					}
				}
			})
		}
		for l.LastIndex() < closeAfter {
			if err := l.Wait(l.LastIndex()); err != nil {
				t.Fatal(err)
			}
		}
		closeLog(t, l)
		wg.Wait()

		_, got := reopen(t, dir, opts())
		if len(got) != len(byIndex) {
			t.Fatalf("%d records after reopen, %d accepted", len(got), len(byIndex))
		}
		for i, r := range got {
			if want := byIndex[uint64(i+1)]; !bytes.Equal(r, want) {
				t.Fatalf("index %d: got %q, accepted %q", i+1, r, want)
			}
		}
	})
}

// recordsBytes is the bytes rs take in a segment.
func recordsBytes(rs [][]byte) int64 {
	var n int64
	for _, r := range rs {
		n += entrySize(r)
	}
	return n
}

// preallocatedImage returns a crash image of a log under FsyncAlways that
// holds bigs(1, n), each appended and waited for, and the path of its
// tail segment in the image, which ends with preallocated zeros.
func preallocatedImage(t *testing.T, n int) (image string, rs [][]byte, tail string) {
	t.Helper()
	dir := t.TempDir()
	l := open(t, dir, opts())
	rs = bigs(1, n)
	appendEach(t, l, rs...)
	image = copyDir(t, dir)
	tail = filepath.Join(image, filepath.Base(l.TailSegment()))
	// The first record grew the file; the others landed inside its zeros.
	if got, want := fileSize(t, tail), entrySize(rs[0])+wal.PreallocateBytes; got != want {
		t.Fatalf("tail segment of the image is %d bytes, want %d", got, want)
	}
	return image, rs, tail
}

// zeroBytes overwrites the bytes [from, to) of the file at path with zeros.
func zeroBytes(t testing.TB, path string, from, to int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[from:to])
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestPreallocation(t *testing.T) {
	t.Run("always: zeros follow the records once a write grows the tail; writes inside them leave its size; Close cuts them", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		tail := l.TailSegment()
		rs := recs(1, 100)
		appendWait(t, l, rs[0])
		grown := entrySize(rs[0]) + wal.PreallocateBytes
		if got := fileSize(t, tail); got != grown {
			t.Fatalf("tail segment is %d bytes after the first record, want %d", got, grown)
		}
		appendEach(t, l, rs[1:]...)
		if got := fileSize(t, tail); got != grown {
			t.Fatalf("tail segment is %d bytes after writes inside its zeros, want %d", got, grown)
		}
		if st := l.Stats(); st.Bytes != recordsBytes(rs) {
			t.Fatalf("Stats.Bytes = %d, want the records' %d", st.Bytes, recordsBytes(rs))
		}
		closeLog(t, l)
		if got := fileSize(t, tail); got != recordsBytes(rs) {
			t.Fatalf("tail segment is %d bytes after Close, want the records' %d", got, recordsBytes(rs))
		}
		_, got := reopen(t, dir, opts())
		equalRecs(t, got, rs)
	})

	t.Run("always: a batch as large as the zeros grows the file without more; a small one after it gets them", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		appendWait(t, l, rec(1))
		batch := bigs(2, int(wal.PreallocateBytes/bigRecord)+2)
		appendWait(t, l, batch...)
		want := entrySize(rec(1)) + recordsBytes(batch)
		if got := fileSize(t, l.TailSegment()); got != want {
			t.Fatalf("tail segment is %d bytes after the large batch, want its records' %d", got, want)
		}
		appendWait(t, l, rec(2))
		want += entrySize(rec(2)) + wal.PreallocateBytes
		if got := fileSize(t, l.TailSegment()); got != want {
			t.Fatalf("tail segment is %d bytes after a small write, want %d", got, want)
		}
	})

	t.Run("everysec and no: the tail holds its records only", func(t *testing.T) {
		for _, policy := range []wal.Fsync{wal.FsyncEverySec, wal.FsyncNo} {
			o := opts()
			o.Fsync = policy
			l := open(t, t.TempDir(), o)
			rs := recs(1, 10)
			appendWait(t, l, rs...)
			if got := fileSize(t, l.TailSegment()); got != recordsBytes(rs) {
				t.Fatalf("%v: tail segment is %d bytes, want %d", policy, got, recordsBytes(rs))
			}
		}
	})

	t.Run("closed segments hold exactly their records", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, smallSegments())
		rs := bigs(1, 100)
		appendEach(t, l, rs...)
		segs := segments(t, dir)
		if len(segs) < 3 {
			t.Fatalf("%d segments, want several", len(segs))
		}
		for i, seg := range segs[:len(segs)-1] {
			held := rs[segmentFirst(t, seg)-1 : segmentFirst(t, segs[i+1])-1]
			if got := fileSize(t, seg); got != recordsBytes(held) {
				t.Fatalf("closed segment %s is %d bytes, its records %d", seg, got, recordsBytes(held))
			}
		}
	})

	t.Run("edge: a compaction that keeps the tail counts its records, not its zeros, and rotation goes on", func(t *testing.T) {
		dir := t.TempDir()
		o := smallSegments()
		l := open(t, dir, o)
		rs := bigs(1, 90)
		appendEach(t, l, rs[:45]...)
		if segs := segments(t, dir); fileSize(t, segs[len(segs)-1]) <= int64(o.SegmentSize) {
			t.Fatalf("the tail segment has no zeros to count: %d bytes", fileSize(t, segs[len(segs)-1]))
		}
		const upTo = 10
		if err := l.Compact(nil, upTo); err != nil {
			t.Fatal(err)
		}
		// Enough to close two more segments, which reads then find.
		appendEach(t, l, rs[45:]...)
		for i := upTo + 1; i <= len(rs); i++ {
			got, err := l.Read(uint64(i))
			if err != nil || !bytes.Equal(got, rs[i-1]) {
				t.Fatalf("Read(%d) = %q, %v; want %q", i, got, err, rs[i-1])
			}
		}
		bytesOpen := l.Stats().Bytes
		closeLog(t, l)
		if on := dirBytes(t, dir); on != bytesOpen {
			t.Fatalf("Stats.Bytes = %d while open, files hold %d once closed", bytesOpen, on)
		}
		_, got := reopen(t, dir, o)
		equalRecs(t, got, rs[upTo:])
	})

	t.Run("restart: a crash image keeps every record and its zeros are cut without a warning", func(t *testing.T) {
		image, rs, tail := preallocatedImage(t, 5)
		var logs logBuffer
		o := opts()
		o.Logger = logs.logger()
		l, got := reopen(t, image, o)
		equalRecs(t, got, rs)
		if fileSize(t, tail) != recordsBytes(rs) {
			t.Fatalf("tail segment is %d bytes after recovery, want %d", fileSize(t, tail), recordsBytes(rs))
		}
		if msg := logs.String(); strings.Contains(msg, "level=WARN") {
			t.Fatalf("recovery warned about preallocated zeros: %s", msg)
		}
		appendWait(t, l, big(6))
		closeLog(t, l)
		_, got = reopen(t, image, opts())
		equalRecs(t, got, append(rs, big(6)))
	})

	t.Run("restart: a last record torn inside the zeros is cut and logged", func(t *testing.T) {
		image, rs, tail := preallocatedImage(t, 5)
		end := recordsBytes(rs)
		start := end - entrySize(rs[4])
		zeroBytes(t, tail, start+entrySize(rs[4])/2, end)
		var logs logBuffer
		o := opts()
		o.Logger = logs.logger()
		_, got := reopen(t, image, o)
		equalRecs(t, got, rs[:4])
		if msg := logs.String(); !strings.Contains(msg, "level=WARN") || !strings.Contains(msg, fmt.Sprintf("offset=%d", start)) {
			t.Fatalf("the torn record was not logged at offset %d: %s", start, msg)
		}
	})

	t.Run("restart: a page never written, with records of its unfinished fsync after it, is cut there and logged", func(t *testing.T) {
		image, rs, tail := preallocatedImage(t, 5)
		start := recordsBytes(rs[:2])
		zeroBytes(t, tail, start, start+entrySize(rs[2]))
		var logs logBuffer
		o := opts()
		o.Logger = logs.logger()
		l, got := reopen(t, image, o)
		equalRecs(t, got, rs[:2])
		if msg := logs.String(); !strings.Contains(msg, "level=WARN") || !strings.Contains(msg, "never_written=true") ||
			!strings.Contains(msg, fmt.Sprintf("offset=%d", start)) {
			t.Fatalf("the cut was not logged as never written at offset %d: %s", start, msg)
		}
		if idx := appendWait(t, l, big(30)); idx != 3 {
			t.Fatalf("next index %d, want 3", idx)
		}
	})

	t.Run("restart: a sector never written inside a record cuts it and what follows", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		large := bytes.Repeat([]byte("x"), 3*wal.SectorSize)
		rs := [][]byte{rec(1), large, rec(3)}
		appendEach(t, l, rs...)
		image := copyDir(t, dir)
		tail := filepath.Join(image, filepath.Base(l.TailSegment()))
		// The second sector of the file lies inside the large record.
		zeroBytes(t, tail, wal.SectorSize, 2*wal.SectorSize)
		_, got := reopen(t, image, opts())
		equalRecs(t, got, rs[:1])
	})

	t.Run("restart: a power loss during an fsync, whatever sectors of its batch reached the disk, opens and keeps every acknowledged record", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		acked := bigs(1, 3)
		appendEach(t, l, acked...)
		tail := l.TailSegment()
		before, err := os.ReadFile(tail)
		if err != nil {
			t.Fatal(err)
		}
		// One batch, inside the zeros the first record's write left.
		batch := bigs(4, 20)
		appendWait(t, l, batch...)
		after, err := os.ReadFile(tail)
		if err != nil {
			t.Fatal(err)
		}
		start := recordsBytes(acked)
		end := start + recordsBytes(batch)
		if int64(len(before)) < end || len(after) != len(before) {
			t.Fatalf("the batch did not land inside the zeros: %d bytes before, %d after, batch ends at %d", len(before), len(after), end)
		}
		firstSector, lastSector := start/wal.SectorSize, (end-1)/wal.SectorSize
		sectors := int(lastSector - firstSector + 1)
		for reached := 0; reached < 1<<sectors; reached++ {
			// The disk holds the batch's version of the sectors that
			// reached it and the version before of the others.
			image := slices.Clone(before)
			written := func(sector int64) bool { return reached&(1<<(sector-firstSector)) != 0 }
			for sector := firstSector; sector <= lastSector; sector++ {
				if written(sector) {
					copy(image[sector*wal.SectorSize:], after[sector*wal.SectorSize:min((sector+1)*wal.SectorSize, end)])
				}
			}
			// Recovery keeps the batch's records up to the first one a
			// missing sector touches.
			want := slices.Clone(acked)
			for at, r := range batch {
				from := start + recordsBytes(batch[:at])
				intact := true
				for sector := from / wal.SectorSize; sector <= (from+entrySize(r)-1)/wal.SectorSize; sector++ {
					intact = intact && written(sector)
				}
				if !intact {
					break
				}
				want = append(want, r)
			}
			crashed := t.TempDir()
			if err := os.WriteFile(filepath.Join(crashed, filepath.Base(tail)), image, 0o640); err != nil {
				t.Fatal(err)
			}
			cl, err := wal.Open(crashed, opts())
			if err != nil {
				t.Fatalf("sectors reached %b: %v", reached, err)
			}
			equalRecs(t, replay(t, cl), want)
			closeLog(t, cl)
		}
	})

	t.Run("restart: damage that is not zeros, with valid records after it, still fails Open", func(t *testing.T) {
		image, rs, tail := preallocatedImage(t, 5)
		start := recordsBytes(rs[:2])
		flipByte(t, tail, start+entrySize(rs[2])/2)
		_, err := wal.Open(image, opts())
		wantCorrupt(t, err, tail, start)
	})

	t.Run("restart: damage to a record that ends in zeros, in a sector it shares with the next record, still fails Open", func(t *testing.T) {
		// The second record is text, then zeros up to its last byte, which
		// lies pastSector bytes into the file's second sector; the third
		// record follows it there.
		const pastSector = 8
		first := rec(1)
		second := []byte("a payload that ends in zeros")
		for recordsBytes([][]byte{first, second}) < wal.SectorSize+pastSector {
			second = append(second, 0)
		}
		if end := recordsBytes([][]byte{first, second}); end != wal.SectorSize+pastSector {
			t.Fatalf("the second record ends at %d, want %d", end, wal.SectorSize+pastSector)
		}
		dir := t.TempDir()
		l := open(t, dir, opts())
		rs := [][]byte{first, second, rec(3)}
		appendEach(t, l, rs...)
		image := copyDir(t, dir)
		tail := filepath.Join(image, filepath.Base(l.TailSegment()))
		start := recordsBytes(rs[:1])
		// A byte of the payload's text, in the first sector.
		flipByte(t, tail, start+entrySize(second)-int64(len(second)))
		_, err := wal.Open(image, opts())
		wantCorrupt(t, err, tail, start)
	})
}

func TestCompact(t *testing.T) {
	// keep picks the live records of a model where every tenth record
	// stays live and the rest were acknowledged or expired.
	keep := func(rs [][]byte) [][]byte {
		var live [][]byte
		for i, r := range rs {
			if i%10 == 0 {
				live = append(live, r)
			}
		}
		return live
	}

	t.Run("a mostly dead log shrinks to its live records", func(t *testing.T) {
		const n = 2000
		dir := t.TempDir()
		o := smallSegments()
		l := open(t, dir, o)
		all := recs(1, n)
		for _, r := range all {
			if _, err := l.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		upTo := l.LastIndex()
		if err := l.Wait(upTo); err != nil {
			t.Fatal(err)
		}
		before := l.Stats().Bytes
		live := keep(all)
		if err := l.Compact(live, upTo); err != nil {
			t.Fatal(err)
		}
		st := l.Stats()
		if st.SnapshotIndex != upTo || st.Records != 0 || st.Bytes > before/5 {
			t.Fatalf("after Compact %+v; %d bytes before", st, before)
		}
		if on := dirBytes(t, dir); on != st.Bytes {
			t.Fatalf("Stats.Bytes = %d, files hold %d", st.Bytes, on)
		}
		appendWait(t, l, rec(n+1), rec(n+2))
		closeLog(t, l)

		l, got := reopen(t, dir, o)
		equalRecs(t, got, append(slices.Clone(live), rec(n+1), rec(n+2)))
		if st := l.Stats(); st.LastIndex != n+2 || st.SnapshotIndex != n || st.Records != 2 {
			t.Fatalf("stats after reopen %+v", st)
		}
	})

	t.Run("records after upTo stay in the log, after the snapshot", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		appendWait(t, l, recs(1, 10)...)
		if err := l.Compact(keep(recs(1, 6)), 6); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Records != 4 || st.SnapshotIndex != 6 {
			t.Fatalf("stats %+v", st)
		}
		closeLog(t, l)
		_, got := reopen(t, dir, opts())
		equalRecs(t, got, append(keep(recs(1, 6)), recs(7, 10)...))
	})

	t.Run("edge: twice, empty live set, nothing new, bad ranges", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		if err := l.Compact(nil, 0); err != nil {
			t.Fatalf("Compact of an empty log = %v", err)
		}
		appendWait(t, l, recs(1, 5)...)
		if err := l.Compact(nil, 6); err == nil {
			t.Fatal("Compact beyond LastIndex succeeded")
		}
		if err := l.Compact([][]byte{rec(3)}, 3); err != nil {
			t.Fatal(err)
		}
		if err := l.Compact(nil, 2); err == nil {
			t.Fatal("Compact below the snapshot succeeded")
		}
		if err := l.Compact(nil, 3); err != nil {
			t.Fatalf("Compact at the snapshot's index = %v", err)
		}
		if err := l.Compact(nil, 5); err != nil {
			t.Fatal(err)
		}
		if st := l.Stats(); st.Records != 0 || st.SnapshotIndex != 5 {
			t.Fatalf("stats %+v", st)
		}
		closeLog(t, l)
		if err := l.Compact(nil, 5); !errors.Is(err, wal.ErrClosed) {
			t.Fatalf("Compact after Close = %v", err)
		}
		l, got := reopen(t, dir, opts())
		equalRecs(t, got, nil)
		if idx := appendWait(t, l, rec(6)); idx != 6 {
			t.Fatalf("first index after an emptying Compact = %d", idx)
		}
	})

	t.Run("race: appends continue while Compact runs", func(t *testing.T) {
		const n, rounds = 3000, 6
		dir := t.TempDir()
		o := opts()
		o.SegmentSize = 2 << 10
		l := open(t, dir, o)
		var mu sync.Mutex // the caller's lock
		var state [][]byte
		var lastUpTo uint64
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				mu.Lock()
				idx, err := l.Append(rec(i))
				state = append(state, rec(i))
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if err := l.Wait(idx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		wg.Go(func() {
			for range rounds {
				mu.Lock()
				upTo := l.LastIndex()
				live := keep(state[:upTo])
				mu.Unlock()
				if err := l.Compact(live, upTo); err != nil {
					t.Error(err)
					return
				}
				lastUpTo = upTo
			}
		})
		wg.Wait()
		closeLog(t, l)
		_, got := reopen(t, dir, o)
		equalRecs(t, got, append(keep(state[:lastUpTo]), state[lastUpTo:]...))
	})

	t.Run("restart: a log compacted, appended and compacted again across restarts", func(t *testing.T) {
		dir := t.TempDir()
		var model [][]byte
		for round := range 3 {
			l, got := reopen(t, dir, opts())
			equalRecs(t, got, model)
			base := round * 10
			appendWait(t, l, recs(base+1, base+10)...)
			model = append(model, recs(base+1, base+10)...)
			model = keep(model)
			if err := l.Compact(model, l.LastIndex()); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l)
		}
		_, got := reopen(t, dir, opts())
		equalRecs(t, got, model)
	})
}

func TestRead(t *testing.T) {
	// readAll reads indexes from..to and compares them with want.
	readAll := func(t *testing.T, l *wal.Log, from uint64, want [][]byte) {
		t.Helper()
		for i, w := range want {
			got, err := l.Read(from + uint64(i))
			if err != nil {
				t.Fatalf("Read(%d): %v", from+uint64(i), err)
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("Read(%d) = %q, want %q", from+uint64(i), got, w)
			}
		}
	}
	// segmented opens a log of small segments holding rs, all written, and
	// returns it with its directory.
	segmented := func(t *testing.T, rs [][]byte) (*wal.Log, string) {
		t.Helper()
		dir := t.TempDir()
		l := open(t, dir, smallSegments())
		appendWait(t, l, rs...)
		return l, dir
	}

	t.Run("every appended record reads back, written or still pending", func(t *testing.T) {
		o := smallSegments()
		dir := t.TempDir()
		l := open(t, dir, o)
		rs := bigs(1, 300)
		last, err := l.Append(rs...)
		if err != nil {
			t.Fatal(err)
		}
		// No Wait: Read waits for the committer on its own.
		readAll(t, l, 1, rs)
		if last != uint64(len(rs)) || l.FirstIndex() != 1 {
			t.Fatalf("last %d, FirstIndex %d", last, l.FirstIndex())
		}
		if n := len(segments(t, dir)); n < 2 {
			t.Fatalf("%d segments; the test wants reads across several", n)
		}
	})

	t.Run("under always a record written and not yet fsynced is read only once fsynced", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		syncing, release := make(chan struct{}), make(chan struct{})
		var once, released sync.Once
		t.Cleanup(wal.SetSyncHook(func() {
			once.Do(func() {
				close(syncing)
				<-release
			})
		}))
		unhold := func() { released.Do(func() { close(release) }) }
		// Before the log's Close, should the test end first.
		t.Cleanup(unhold)
		idx, err := l.Append(rec(1))
		if err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- l.Wait(idx) }()
		<-syncing
		// The record is written, and its fsync held.
		waiting := make(chan struct{}, 1)
		t.Cleanup(wal.SetWaitHook(func() {
			select {
			case waiting <- struct{}{}:
			default:
			}
		}))
		read := make(chan []byte, 1)
		go func() {
			got, err := l.Read(idx)
			if err != nil {
				t.Error(err)
			}
			read <- got
		}()
		select {
		case <-read:
			t.Fatal("the record was read before its fsync")
		case <-waiting:
		}
		unhold()
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		if got := <-read; !bytes.Equal(got, rec(1)) {
			t.Fatalf("Read = %q", got)
		}
	})

	t.Run("ReadRange returns a range across segments in one call, pending records included", func(t *testing.T) {
		o := smallSegments()
		l := open(t, t.TempDir(), o)
		rs := bigs(1, 300)
		if _, err := l.Append(rs...); err != nil {
			t.Fatal(err)
		}
		const from, n = 7, 250
		got, err := l.ReadRange(from, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("ReadRange(%d, %d) returned %d records", from, n, len(got))
		}
		for i, g := range got {
			if !bytes.Equal(g, rs[from-1+i]) {
				t.Fatalf("record %d = %q, want %q", from+i, g, rs[from-1+i])
			}
		}
		// Records are clipped: growing one must not overwrite the next.
		_ = append(got[0], 'X')
		if !bytes.Equal(got[1], rs[from]) {
			t.Fatalf("appending to record %d changed record %d", from, from+1)
		}
	})

	t.Run("records of closed segments are read from the files, about what each read returns, at any place", func(t *testing.T) {
		o := opts()
		o.SegmentSize = 256 << 10
		dir := t.TempDir()
		l := open(t, dir, o)
		const records, batch = 3000, 10
		rs := make([][]byte, records)
		for i := range rs {
			rs[i] = bytes.Repeat([]byte{'a' + byte(i%26)}, 1<<10)
			copy(rs[i], strconv.Itoa(i+1))
		}
		appendWait(t, l, rs...)
		segs := segments(t, dir)
		if len(segs) < 4 {
			t.Fatalf("%d segments; the test wants three closed ones", len(segs))
		}
		entry := entrySize(rs[0])
		perSegment := o.SegmentSize/int(entry) + 1
		read := func(from uint64, n int) int64 {
			t.Helper()
			before := l.Stats().ReadBytes
			got, err := l.ReadRange(from, n)
			if err != nil {
				t.Fatal(err)
			}
			equalRecs(t, got, rs[from-1:int(from)-1+n])
			return int64(l.Stats().ReadBytes - before)
		}
		// The first read deep into the third segment parses it from its
		// start; reading the same records again starts at a read mark.
		deep := uint64(2*perSegment + perSegment*3/4)
		if got := read(deep, batch); got > int64(o.SegmentSize)+wal.ReadChunk {
			t.Fatalf("a first read in a segment took %d bytes, more than the segment", got)
		}
		near := 2*wal.ReadMarkSpacing + batch*entry
		if got := read(deep, batch); got > near {
			t.Fatalf("a read at a place read before took %d bytes, want at most %d", got, near)
		}
		// The first segment, read in order in batches, is read about once.
		var total int64
		for from := 1; from+batch <= perSegment; from += batch {
			total += read(uint64(from), batch)
		}
		if limit := int64(o.SegmentSize) + wal.ReadChunk; total > limit {
			t.Fatalf("reading the first segment in order took %d bytes, want at most %d", total, limit)
		}
		// Two readers far apart in segments already read take turns: each
		// read takes about what it returns, never a whole segment.
		a, b := uint64(1), uint64(2*perSegment+1)
		for range 20 {
			for _, from := range []*uint64{&a, &b} {
				if got := read(*from, batch); got > near {
					t.Fatalf("a read at %d took %d bytes, want at most %d", *from, got, near)
				}
				*from += batch
			}
		}
		// Records of the tail come from memory.
		if got := read(records-batch+1, batch); got != 0 {
			t.Fatalf("a read of the tail segment took %d bytes from files", got)
		}
	})

	t.Run("a record read stays the same while the log moves on", func(t *testing.T) {
		o := smallSegments()
		l := open(t, t.TempDir(), o)
		rs := bigs(1, 60)
		first := appendWait(t, l, rs[:len(rs)/2]...)
		// Records of a closed segment and of the tail segment, written and
		// still pending.
		closed, err := l.ReadRange(1, 2)
		if err != nil {
			t.Fatal(err)
		}
		tail, err := l.Read(first)
		if err != nil {
			t.Fatal(err)
		}
		last, err := l.Append(rs[len(rs)/2:]...)
		if err != nil {
			t.Fatal(err)
		}
		pending, err := l.Read(last)
		if err != nil {
			t.Fatal(err)
		}
		// The tail grows past its segment, other segments are loaded in
		// the reads' cache, and the front is compacted away.
		for i := range 20 {
			appendWait(t, l, big(len(rs)+1+i))
		}
		readAll(t, l, 1, rs)
		if err := l.Wait(last); err != nil {
			t.Fatal(err)
		}
		if err := l.Compact(nil, last); err != nil {
			t.Fatal(err)
		}
		equalRecs(t, [][]byte{closed[0], closed[1], tail, pending}, [][]byte{rs[0], rs[1], rs[first-1], rs[last-1]})
	})

	t.Run("reads keep the files of the closed segments read last open; compaction and Close close them", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("open files are listed from /proc/self/fd")
		}
		l, dir := segmented(t, bigs(1, 400))
		segs := segments(t, dir)
		// The closed segments, all but the tail.
		closed := segs[:len(segs)-1]
		if len(closed) < wal.MaxOpenSegments+2 {
			t.Fatalf("%d closed segments; the test wants %d", len(closed), wal.MaxOpenSegments+2)
		}
		// readSegment reads the first record of the closed segment at path.
		readSegment := func(path string) {
			t.Helper()
			first, err := strconv.ParseUint(filepath.Base(path), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, l, first, bigs(int(first), int(first)))
		}
		// wantOpen checks which files of dir the process holds open, but
		// the tail segment, which tidwall keeps open for its writes.
		wantOpen := func(when string, want ...string) {
			t.Helper()
			var got []string
			for _, path := range openFiles(t) {
				if filepath.Dir(path) == dir && path != l.TailSegment() {
					got = append(got, path)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("%s the open files are %q, want %q", when, got, want)
			}
		}
		for _, path := range closed[:wal.MaxOpenSegments] {
			readSegment(path)
		}
		wantOpen("after reading as many segments as are kept open", closed[:wal.MaxOpenSegments]...)
		// The first segment becomes the most recently read: the next new
		// one takes the place of the second.
		readSegment(closed[0])
		readSegment(closed[wal.MaxOpenSegments])
		wantOpen("after reading the first segment again, then one more",
			append([]string{closed[0]}, closed[2:wal.MaxOpenSegments+1]...)...)
		first, err := strconv.ParseUint(filepath.Base(closed[1]), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Compact(nil, first); err != nil {
			t.Fatal(err)
		}
		wantOpen("after a compaction")
		readSegment(closed[wal.MaxOpenSegments+1])
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wantOpen("after Close")
	})

	t.Run("edge: indexes out of range are ErrNotFound; Read after Close is ErrClosed", func(t *testing.T) {
		l := open(t, t.TempDir(), opts())
		for _, idx := range []uint64{0, 1} {
			if _, err := l.Read(idx); !errors.Is(err, wal.ErrNotFound) {
				t.Fatalf("Read(%d) on an empty log: %v", idx, err)
			}
		}
		appendWait(t, l, rec(1), rec(2))
		if _, err := l.Read(3); !errors.Is(err, wal.ErrNotFound) {
			t.Fatalf("Read(3) past the end: %v", err)
		}
		if _, err := l.ReadRange(2, 2); !errors.Is(err, wal.ErrNotFound) {
			t.Fatalf("ReadRange(2, 2) past the end: %v", err)
		}
		if _, err := l.ReadRange(1, 0); err == nil {
			t.Fatal("ReadRange of 0 records succeeded")
		}
		if err := l.Compact(nil, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Read(1); !errors.Is(err, wal.ErrNotFound) {
			t.Fatalf("Read(1) compacted: %v", err)
		}
		if l.FirstIndex() != 2 {
			t.Fatalf("FirstIndex = %d, want 2", l.FirstIndex())
		}
		readAll(t, l, 2, [][]byte{rec(2)})
		closeLog(t, l)
		if _, err := l.Read(2); !errors.Is(err, wal.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	})

	t.Run("edge: empty and oversized records", func(t *testing.T) {
		o := smallSegments()
		l := open(t, t.TempDir(), o)
		rs := [][]byte{{}, bytes.Repeat([]byte("z"), 3*o.SegmentSize), {0}}
		appendWait(t, l, rs...)
		readAll(t, l, 1, rs)
	})

	t.Run("edge: a record damaged after Open is a CorruptError naming its file and index", func(t *testing.T) {
		rs := bigs(1, 100)
		l, dir := segmented(t, rs)
		seg := segments(t, dir)[0]
		// The first segment is closed: Read takes the record from its file.
		flipByte(t, seg, entrySize(rs[0])-1)
		_, err := l.Read(1)
		var ce *wal.CorruptError
		if !errors.As(err, &ce) || ce.File != seg || ce.Index != 1 || ce.Offset != 0 {
			t.Fatalf("Read of a damaged record: %v", err)
		}
		// The records after it in its segment are found by passing it: they
		// fail with it, and the next segment reads.
		if _, err := l.Read(2); !errors.As(err, &ce) || ce.Index != 1 {
			t.Fatalf("Read of a record behind a damaged one: %v", err)
		}
		second := segments(t, dir)[1]
		first := segmentFirst(t, second)
		readAll(t, l, first, rs[first-1:first])
		// Damage past what reads parsed before: its own offset and index.
		flipByte(t, second, 3*entrySize(rs[0])-1)
		_, err = l.ReadRange(first+1, 2)
		if !errors.As(err, &ce) || ce.File != second || ce.Index != first+2 || ce.Offset != 2*entrySize(rs[0]) {
			t.Fatalf("ReadRange over a damaged record: %v", err)
		}
		readAll(t, l, first+1, rs[first:first+1])
	})

	t.Run("edge: a closed segment cut short or with a bad length is a CorruptError, never a huge read", func(t *testing.T) {
		rs := bigs(1, 100)
		l, dir := segmented(t, rs)
		segs := segments(t, dir)
		// A length prefix of 0xff bytes claims an entry of about 2^63 bytes.
		f, err := os.OpenFile(segs[0], os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 9), entrySize(rs[0])); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, err = l.Read(2)
		wantCorrupt(t, err, segs[0], entrySize(rs[0]))
		// The second segment loses its last record.
		if err := os.Truncate(segs[1], fileSize(t, segs[1])-1); err != nil {
			t.Fatal(err)
		}
		second, third := segmentFirst(t, segs[1]), segmentFirst(t, segs[2])
		var ce *wal.CorruptError
		if _, err := l.Read(third - 1); !errors.As(err, &ce) || ce.File != segs[1] || ce.Index != third-1 {
			t.Fatalf("Read of a record cut short: %v", err)
		}
		readAll(t, l, second, rs[second-1:second])
	})

	t.Run("race: reads of appended records while appending and compacting", func(t *testing.T) {
		const writers, perWriter = 4, 300
		o := smallSegments()
		o.Fsync = wal.FsyncNo
		l := open(t, t.TempDir(), o)
		var wg, writing sync.WaitGroup
		var done atomic.Bool
		errc := make(chan error, writers+1)
		for w := range writers {
			writing.Go(func() {
				for i := range perWriter {
					r := rec(w*perWriter + i)
					idx, err := l.Append(r)
					if err != nil {
						errc <- err
						return
					}
					got, err := l.Read(idx)
					if errors.Is(err, wal.ErrNotFound) && idx <= l.Stats().SnapshotIndex {
						continue // a concurrent Compact dropped it
					}
					if err != nil || !bytes.Equal(got, r) {
						errc <- fmt.Errorf("Read(%d) = %q, %v; want %q", idx, got, err, r)
						return
					}
				}
			})
		}
		wg.Go(func() {
			for !done.Load() {
				upTo := l.LastIndex() / 2
				if upTo <= l.Stats().SnapshotIndex {
					runtime.Gosched()
					continue
				}
				if err := l.Compact(nil, upTo); err != nil {
					errc <- err
					return
				}
			}
		})
		writing.Wait()
		done.Store(true)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
	})

	t.Run("edge: a compaction that rewrites a segment read before: its records read back from the new file", func(t *testing.T) {
		o := smallSegments()
		l := open(t, t.TempDir(), o)
		rs := bigs(1, 200)
		appendWait(t, l, rs...)
		// Read marks over every closed segment, then a cut in the middle
		// of one.
		readAll(t, l, 1, rs)
		const upTo = 50
		if err := l.Compact(nil, upTo); err != nil {
			t.Fatal(err)
		}
		readAll(t, l, upTo+1, rs[upTo:])
		readAll(t, l, upTo+7, rs[upTo+6:upTo+8])
	})

	t.Run("race: reads at random places while appending, rotating and compacting", func(t *testing.T) {
		const readers, appends = 4, 3000
		o := smallSegments()
		o.Fsync = wal.FsyncNo
		l := open(t, t.TempDir(), o)
		var wg sync.WaitGroup
		var done atomic.Bool
		errc := make(chan error, readers+2)
		wg.Go(func() {
			defer done.Store(true)
			for i := 1; i <= appends; i++ {
				if _, err := l.Append(rec(i)); err != nil {
					errc <- err
					return
				}
			}
		})
		wg.Go(func() {
			for !done.Load() {
				if upTo := l.LastIndex() / 2; upTo > l.Stats().SnapshotIndex {
					if err := l.Compact(nil, upTo); err != nil {
						errc <- err
						return
					}
				}
				runtime.Gosched()
			}
		})
		for r := range readers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), 0))
				for !done.Load() {
					first, last := l.FirstIndex(), l.LastIndex()
					if last < first {
						runtime.Gosched()
						continue
					}
					from := first + rng.Uint64N(last-first+1)
					n := 1 + rng.IntN(int(min(last-from+1, 50)))
					got, err := l.ReadRange(from, n)
					if errors.Is(err, wal.ErrNotFound) && from <= l.Stats().SnapshotIndex {
						continue // a concurrent Compact dropped it
					}
					if err != nil {
						errc <- fmt.Errorf("ReadRange(%d, %d): %v", from, n, err)
						return
					}
					for j, g := range got {
						if want := rec(int(from) + j); !bytes.Equal(g, want) {
							errc <- fmt.Errorf("record %d = %q, want %q", int(from)+j, g, want)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
	})

	t.Run("restart: records read back after reopen and after compaction", func(t *testing.T) {
		rs := recs(1, 500)
		l, dir := segmented(t, rs)
		if err := l.Compact(nil, 100); err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		l, _ = reopen(t, dir, smallSegments())
		if l.FirstIndex() != 101 {
			t.Fatalf("FirstIndex after reopen = %d, want 101", l.FirstIndex())
		}
		if _, err := l.Read(100); !errors.Is(err, wal.ErrNotFound) {
			t.Fatalf("Read(100) after reopen: %v", err)
		}
		readAll(t, l, 101, rs[100:])
		idx := appendWait(t, l, rec(501))
		readAll(t, l, idx, [][]byte{rec(501)})
	})
}

// lastRecordSpan builds a closed log of n records whose last one is big,
// and returns its directory, the records, the last segment and the span
// [a, b) of the last record in it.
func lastRecordSpan(t *testing.T, n int) (dir string, rs [][]byte, seg string, a, b int64) {
	t.Helper()
	rs = append(recs(1, n-1), big(n))
	dir = buildClosed(t, opts(), rs)
	segs := segments(t, dir)
	seg = segs[len(segs)-1]
	b = fileSize(t, seg)
	return dir, rs, seg, b - entrySize(rs[n-1]), b
}

func TestCrashRecovery(t *testing.T) {
	t.Run("a last record torn at every offset: every earlier record survives", func(t *testing.T) {
		const n = 5
		dir, rs, seg, a, b := lastRecordSpan(t, n)
		for off := a; off < b; off++ {
			crashed := copyDir(t, dir)
			path := filepath.Join(crashed, filepath.Base(seg))
			if err := os.Truncate(path, off); err != nil {
				t.Fatal(err)
			}
			l, got := reopen(t, crashed, opts())
			equalRecs(t, got, rs[:n-1])
			if fileSize(t, path) != a {
				t.Fatalf("offset %d: segment is %d bytes after repair, want %d", off, fileSize(t, path), a)
			}
			if idx := appendWait(t, l, rec(100)); idx != n {
				t.Fatalf("offset %d: next index %d, want %d", off, idx, n)
			}
			closeLog(t, l)
			_, got = reopen(t, crashed, opts())
			equalRecs(t, got, append(slices.Clone(rs[:n-1]), rec(100)))
		}
	})

	t.Run("any byte of the last record damaged: it is cut and logged", func(t *testing.T) {
		const n = 5
		dir, rs, seg, a, b := lastRecordSpan(t, n)
		for off := a; off < b; off++ {
			crashed := copyDir(t, dir)
			path := filepath.Join(crashed, filepath.Base(seg))
			flipByte(t, path, off)
			var logs logBuffer
			o := opts()
			o.Logger = logs.logger()
			_, got := reopen(t, crashed, o)
			equalRecs(t, got, rs[:n-1])
			msg := logs.String()
			if !strings.Contains(msg, "level=WARN") || !strings.Contains(msg, path) ||
				!strings.Contains(msg, fmt.Sprintf("offset=%d", a)) || !strings.Contains(msg, fmt.Sprintf("bytes_cut=%d", b-a)) {
				t.Fatalf("offset %d: the cut was not logged with file, offset and size: %s", off, msg)
			}
		}
	})

	t.Run("edge: a record torn as the first of its segment leaves an empty segment", func(t *testing.T) {
		o := opts()
		o.SegmentSize = int(3 * entrySize(rec(1))) // three records per segment
		rs := recs(1, 7)
		dir := buildClosed(t, o, rs)
		segs := segments(t, dir)
		last := segs[len(segs)-1]
		if filepath.Base(last) != segmentName(7) {
			t.Fatalf("segments %v", segs)
		}
		if err := os.Truncate(last, entrySize(rs[6])-1); err != nil {
			t.Fatal(err)
		}
		l, got := reopen(t, dir, o)
		equalRecs(t, got, rs[:6])
		if idx := appendWait(t, l, rec(70)); idx != 7 {
			t.Fatalf("next index %d", idx)
		}
		closeLog(t, l)
		_, got = reopen(t, dir, o)
		equalRecs(t, got, append(slices.Clone(rs[:6]), rec(70)))
	})

	t.Run("edge: an empty last segment left by a rotation", func(t *testing.T) {
		o := opts()
		o.SegmentSize = int(3 * entrySize(rec(1)))
		dir := buildClosed(t, o, recs(1, 6))
		segs := segments(t, dir)
		if last := segs[len(segs)-1]; filepath.Base(last) != segmentName(7) || fileSize(t, last) != 0 {
			t.Fatalf("segments %v", segs)
		}
		l, got := reopen(t, dir, o)
		equalRecs(t, got, recs(1, 6))
		if idx := appendWait(t, l, rec(7)); idx != 7 {
			t.Fatalf("next index %d", idx)
		}
	})

	t.Run("edge: damage with valid records after it fails Open with file and offset", func(t *testing.T) {
		rs := recs(1, 5)
		dir := buildClosed(t, opts(), rs)
		seg := segments(t, dir)[0]
		start := 2 * entrySize(rs[0]) // record 3
		for off := start; off < start+entrySize(rs[2]); off++ {
			crashed := copyDir(t, dir)
			path := filepath.Join(crashed, filepath.Base(seg))
			flipByte(t, path, off)
			_, err := wal.Open(crashed, opts())
			wantCorrupt(t, err, path, start)
		}
	})

	t.Run("edge: damage in a segment that is not the last fails Open", func(t *testing.T) {
		o := opts()
		o.SegmentSize = int(3 * entrySize(rec(1)))
		rs := recs(1, 8)
		dir := buildClosed(t, o, rs)
		first := segments(t, dir)[0]
		off := 2 * entrySize(rs[0]) // its last record
		flipByte(t, first, off+entrySize(rs[2])-1)
		_, err := wal.Open(dir, o)
		wantCorrupt(t, err, first, off)

		dir = buildClosed(t, o, rs)
		first = segments(t, dir)[0]
		if err := os.Truncate(first, fileSize(t, first)-1); err != nil {
			t.Fatal(err)
		}
		_, err = wal.Open(dir, o)
		wantCorrupt(t, err, first, off)
	})

	t.Run("edge: a damaged or truncated snapshot fails Open", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		appendWait(t, l, recs(1, 4)...)
		if err := l.Compact([][]byte{rec(2), {}, big(4)}, 4); err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		snap := filepath.Join(dir, snapshotName)
		size := fileSize(t, snap)
		for off := range size {
			for _, damage := range []string{"flip", "truncate"} {
				crashed := copyDir(t, dir)
				path := filepath.Join(crashed, snapshotName)
				if damage == "flip" {
					flipByte(t, path, off)
				} else if err := os.Truncate(path, off); err != nil {
					t.Fatal(err)
				}
				_, err := wal.Open(crashed, opts())
				var ce *wal.CorruptError
				if !errors.As(err, &ce) || ce.File != path || !strings.Contains(err.Error(), path) {
					t.Fatalf("%s at %d: Open = %v, want a CorruptError naming the snapshot", damage, off, err)
				}
			}
		}
	})

	t.Run("edge: a gap between snapshot and log fails Open", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		appendWait(t, l, recs(1, 6)...)
		if err := l.Compact(nil, 4); err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		if err := os.Remove(filepath.Join(dir, snapshotName)); err != nil {
			t.Fatal(err)
		}
		_, err := wal.Open(dir, opts())
		wantCorrupt(t, err, filepath.Join(dir, segmentName(5)), 0)
	})

	t.Run("edge: a log that lost records the snapshot covers restarts after it", func(t *testing.T) {
		dir := t.TempDir()
		l := open(t, dir, opts())
		appendWait(t, l, recs(1, 6)...)
		if err := l.Compact([][]byte{rec(6)}, 6); err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		for _, s := range segments(t, dir) {
			if err := os.Remove(s); err != nil {
				t.Fatal(err)
			}
		}
		l, got := reopen(t, dir, opts())
		equalRecs(t, got, recs(6, 6))
		if idx := appendWait(t, l, rec(7)); idx != 7 {
			t.Fatalf("next index %d", idx)
		}
		if segs := segments(t, dir); l.TailSegment() != segs[len(segs)-1] {
			t.Fatalf("the log takes %s for the tail segment, the last file is %s", l.TailSegment(), segs[len(segs)-1])
		}
	})

	t.Run("edge: tidwall truncation files are finished as tidwall would", func(t *testing.T) {
		// END: a TruncateBack to record 3 that crashed before its rename.
		rs := recs(1, 5)
		dir := buildClosed(t, opts(), rs)
		seg := segments(t, dir)[0]
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		end := 3 * entrySize(rs[0])
		if err := os.WriteFile(seg+".END", data[:end], 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(seg+".END.TEMP", []byte("half"), 0o640); err != nil {
			t.Fatal(err)
		}
		_, got := reopen(t, dir, opts())
		equalRecs(t, got, rs[:3])
		if _, err := os.Stat(seg + ".END.TEMP"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the TEMP file is still there: %v", err)
		}
	})

	t.Run("restart: a crash at each step of Compact replays every record once", func(t *testing.T) {
		const upTo = 7
		all := recs(1, 10)
		live := [][]byte{[]byte("live-a"), []byte("live-b")}
		want := append(slices.Clone(live), all[upTo:]...)

		pre := buildClosed(t, opts(), all) // before Compact
		post := copyDir(t, pre)            // after Compact
		l := open(t, post, opts())
		if err := l.Compact(live, upTo); err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
		postSeg := filepath.Join(post, segmentName(upTo+1))
		if segs := segments(t, post); len(segs) != 1 || segs[0] != postSeg {
			t.Fatalf("segments after Compact %v", segs)
		}

		check := func(t *testing.T, dir string, want [][]byte) {
			t.Helper()
			l, got := reopen(t, dir, opts())
			equalRecs(t, got, want)
			if idx := appendWait(t, l, rec(11)); idx != 11 {
				t.Fatalf("next index %d", idx)
			}
			if err := l.Compact(live, 8); err != nil {
				t.Fatal(err)
			}
			closeLog(t, l)
			_, got = reopen(t, dir, opts())
			equalRecs(t, got, append(slices.Clone(live), rec(9), rec(10), rec(11)))
			if n := len(segments(t, dir)); n != 1 {
				t.Fatalf("%d segments", n)
			}
		}

		t.Run("snapshot half written", func(t *testing.T) {
			dir := copyDir(t, pre)
			if err := os.WriteFile(filepath.Join(dir, snapshotName+".tmp"), []byte("NEXOSNAP partial"), 0o640); err != nil {
				t.Fatal(err)
			}
			check(t, dir, all)
			if _, err := os.Stat(filepath.Join(dir, snapshotName+".tmp")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the temporary snapshot is still there: %v", err)
			}
		})
		t.Run("new snapshot half written over an old one", func(t *testing.T) {
			dir := copyDir(t, post)
			copyFile(t, filepath.Join(post, snapshotName), filepath.Join(dir, snapshotName+".tmp"))
			if err := os.Truncate(filepath.Join(dir, snapshotName+".tmp"), 10); err != nil {
				t.Fatal(err)
			}
			check(t, dir, want)
		})
		t.Run("snapshot renamed, log not truncated", func(t *testing.T) {
			dir := copyDir(t, pre)
			copyFile(t, filepath.Join(post, snapshotName), filepath.Join(dir, snapshotName))
			check(t, dir, want)
		})
		t.Run("tidwall's START file written", func(t *testing.T) {
			dir := copyDir(t, pre)
			copyFile(t, filepath.Join(post, snapshotName), filepath.Join(dir, snapshotName))
			copyFile(t, postSeg, filepath.Join(dir, segmentName(upTo+1)+".START"))
			check(t, dir, want)
		})
		t.Run("tidwall's START file half written", func(t *testing.T) {
			dir := copyDir(t, pre)
			copyFile(t, filepath.Join(post, snapshotName), filepath.Join(dir, snapshotName))
			if err := os.WriteFile(filepath.Join(dir, segmentName(upTo+1)+".START.TEMP"), []byte{1, 2}, 0o640); err != nil {
				t.Fatal(err)
			}
			check(t, dir, want)
		})
		t.Run("overlapping segments are rejected", func(t *testing.T) {
			dir := copyDir(t, pre)
			copyFile(t, filepath.Join(post, snapshotName), filepath.Join(dir, snapshotName))
			copyFile(t, postSeg, filepath.Join(dir, segmentName(upTo+1)))
			// Overlapping segments (1..10 and 8..10), a state tidwall
			// never leaves, are rejected rather than replayed twice.
			_, err := wal.Open(dir, opts())
			wantCorrupt(t, err, filepath.Join(dir, segmentName(upTo+1)), 0)
		})
	})
}

// FuzzRecover opens a log whose only segment file holds the input, as a
// crash or a failing disk may leave it: Open either recovers a log whose
// every record reads back and that takes new records, or fails with an
// error; it never panics.
func FuzzRecover(f *testing.F) {
	for _, rs := range [][][]byte{recs(1, 3), bigs(1, 2), nil} {
		dir := buildClosed(f, opts(), rs)
		seg, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seg)
	}
	// A segment as a crash leaves it under FsyncAlways: its records, then
	// the zeros written ahead of them.
	l := open(f, f.TempDir(), opts())
	appendWait(f, l, recs(1, 3)...)
	seg, err := os.ReadFile(l.TailSegment())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg)
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, segmentName(1)), seg, 0o640); err != nil {
			t.Fatal(err)
		}
		l, err := wal.Open(dir, wal.Options{Fsync: wal.FsyncNo, Logger: quiet})
		if err != nil {
			return
		}
		defer l.Close()
		for i := l.FirstIndex(); i <= l.LastIndex(); i++ {
			if _, err := l.Read(i); err != nil {
				t.Fatalf("record %d of a recovered log: %v", i, err)
			}
		}
		appendWait(t, l, rec(0))
	})
}

// FuzzReadDamaged writes the fuzzer's bytes over a closed segment of an open
// log (at an offset taken modulo the file size; a negative one cuts the
// file there instead) and reads every record: a read returns the record
// appended or a *CorruptError, and nothing panics.
func FuzzReadDamaged(f *testing.F) {
	f.Add(int64(0), []byte{0xff})
	f.Add(int64(1), bytes.Repeat([]byte{0xff}, 10))
	f.Add(int64(3), []byte{0, 0, 0, 0})
	f.Add(int64(-300), []byte(nil))
	f.Fuzz(func(t *testing.T, off int64, damage []byte) {
		o := opts()
		o.SegmentSize = 4 * bigRecord
		o.Fsync = wal.FsyncNo
		dir := t.TempDir()
		l := open(t, dir, o)
		rs := bigs(1, 30)
		appendWait(t, l, rs...)
		seg := segments(t, dir)[0]
		size := fileSize(t, seg)
		if off < 0 {
			if err := os.Truncate(seg, (-off)%size); err != nil {
				t.Fatal(err)
			}
		} else {
			file, err := os.OpenFile(seg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = file.WriteAt(damage, off%size)
			file.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range rs {
			got, err := l.Read(uint64(i + 1))
			var ce *wal.CorruptError
			switch {
			case errors.As(err, &ce):
			case err != nil:
				t.Fatalf("Read(%d): %v, want the record or a *wal.CorruptError", i+1, err)
			case !bytes.Equal(got, want):
				t.Fatalf("Read(%d) = %q, want %q", i+1, got, want)
			}
		}
	})
}
