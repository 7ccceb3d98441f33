package wal

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// preallocTestZeros is the Options.Preallocate of these tests: a few
// entries' worth, so that a few hundred entries grow the file again.
const preallocTestZeros = 100

func openPreallocTest(t *testing.T, dir string) *Log {
	t.Helper()
	opts := *DefaultOptions
	opts.SegmentSize = tailTestSegmentSize
	opts.Preallocate = preallocTestZeros
	l, err := Open(dir, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func sizeOf(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// wantTailFile checks that the tail segment file holds the tail's entries
// followed by zeros bytes of zeros.
func wantTailFile(t *testing.T, l *Log, zeros int) {
	t.Helper()
	s := l.segments[len(l.segments)-1]
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != l.TailSize()+zeros || !bytes.Equal(data[:l.TailSize()], s.ebuf) ||
		!bytes.Equal(data[l.TailSize():], make([]byte, zeros)) {
		t.Fatalf("tail file of %d bytes, want %d entry bytes then %d zeros", len(data), l.TailSize(), zeros)
	}
}

func TestPreallocate(t *testing.T) {
	t.Run("a write that grows the tail file is followed by zeros; writes inside them leave its size", func(t *testing.T) {
		l := openPreallocTest(t, t.TempDir())
		defer l.Close()
		writeEntries(t, l, 1, 1)
		wantTailFile(t, l, preallocTestZeros)
		size := sizeOf(t, l.segments[0].path)
		writeEntries(t, l, 2, 3)
		if got := sizeOf(t, l.segments[0].path); got != size {
			t.Fatalf("tail file grew from %d to %d inside its zeros", size, got)
		}
		readEntries(t, l, 1, 3)
	})

	t.Run("a write of Preallocate bytes or more grows the file without zeros", func(t *testing.T) {
		l := openPreallocTest(t, t.TempDir())
		defer l.Close()
		var b Batch
		for i := uint64(1); i <= 15; i++ {
			b.Write(i, []byte(fmt.Sprintf("entry %d", i)))
		}
		if err := l.WriteBatch(&b); err != nil {
			t.Fatal(err)
		}
		if l.TailSize() < preallocTestZeros {
			t.Fatalf("a batch of %d bytes, want at least %d", l.TailSize(), preallocTestZeros)
		}
		wantTailFile(t, l, 0)
		writeEntries(t, l, 16, 16)
		wantTailFile(t, l, preallocTestZeros)
		readEntries(t, l, 1, 16)
	})

	t.Run("closed segments and a closed log hold their entries only, and read back after reopen", func(t *testing.T) {
		dir := t.TempDir()
		l := openPreallocTest(t, dir)
		const last = 100
		writeEntries(t, l, 1, last)
		if len(l.segments) < 3 {
			t.Fatalf("%d segments, want several", len(l.segments))
		}
		for _, s := range l.segments[:len(l.segments)-1] {
			if data, err := os.ReadFile(s.path); err != nil || bytes.HasSuffix(data, []byte{0}) {
				t.Fatalf("closed segment %s ends with zeros (%v)", s.path, err)
			}
		}
		tail := l.segments[len(l.segments)-1].path
		entries := int64(l.TailSize())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if got := sizeOf(t, tail); got != entries {
			t.Fatalf("tail file of %d bytes after Close, want its %d entry bytes", got, entries)
		}
		l = openPreallocTest(t, dir)
		defer l.Close()
		readEntries(t, l, 1, last)
		writeEntries(t, l, last+1, last+1)
		wantTailFile(t, l, preallocTestZeros)
	})

	t.Run("truncations that rewrite the tail start its zeros again", func(t *testing.T) {
		l := openPreallocTest(t, t.TempDir())
		defer l.Close()
		writeEntries(t, l, 1, 5)
		if err := l.TruncateFront(3); err != nil {
			t.Fatal(err)
		}
		wantTailFile(t, l, 0)
		writeEntries(t, l, 6, 6)
		wantTailFile(t, l, preallocTestZeros)
		if err := l.TruncateBack(5); err != nil {
			t.Fatal(err)
		}
		wantTailFile(t, l, 0)
		writeEntries(t, l, 6, 6)
		wantTailFile(t, l, preallocTestZeros)
		readEntries(t, l, 3, 6)
	})

	t.Run("without Preallocate no zeros are written", func(t *testing.T) {
		l := openTailTest(t)
		writeEntries(t, l, 1, 3)
		wantTailFile(t, l, 0)
	})
}
