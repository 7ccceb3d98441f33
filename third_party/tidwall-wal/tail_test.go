package wal

import (
	"fmt"
	"testing"
)

// tailTestSegmentSize is small enough for a few hundred entries to fill
// several segments.
const tailTestSegmentSize = 256

func openTailTest(t *testing.T) *Log {
	t.Helper()
	opts := *DefaultOptions
	opts.NoSync = true
	opts.SegmentSize = tailTestSegmentSize
	l, err := Open(t.TempDir(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func writeEntries(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		if err := l.Write(i, []byte(fmt.Sprintf("entry %d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func readEntries(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		data, err := l.Read(i)
		if err != nil || string(data) != fmt.Sprintf("entry %d", i) {
			t.Fatalf("entry %d: %q, %v", i, data, err)
		}
	}
}

func TestTail(t *testing.T) {
	t.Run("ReserveTail sizes the image and the positions and keeps the entries", func(t *testing.T) {
		l := openTailTest(t)
		writeEntries(t, l, 1, 3)
		l.ReserveTail(4096, 100)
		if image, entries := l.TailCapacity(); image < 4096 || entries < 100 {
			t.Fatalf("capacities %d, %d", image, entries)
		}
		writeEntries(t, l, 4, 5)
		readEntries(t, l, 1, 5)
	})

	t.Run("RecycleTail hands the closed segment's image to the tail", func(t *testing.T) {
		l := openTailTest(t)
		l.ReserveTail(tailTestSegmentSize*2, 64)
		image := &l.segments[0].ebuf[:1][0]
		last := uint64(0)
		for len(l.segments) < 2 {
			last++
			writeEntries(t, l, last, last)
		}
		l.RecycleTail()
		tail := l.segments[len(l.segments)-1]
		if &tail.ebuf[:1][0] != image || l.segments[0].ebuf != nil {
			t.Fatal("the tail did not take the closed segment's image")
		}
		writeEntries(t, l, last+1, last+3)
		if l.TruncateFront(l.segments[len(l.segments)-1].index) != nil {
			t.Fatal("truncate")
		}
		readEntries(t, l, l.segments[0].index, last+3)
	})

	t.Run("an empty log reports no capacity and ignores RecycleTail", func(t *testing.T) {
		l := openTailTest(t)
		l.RecycleTail()
		if image, entries := l.TailCapacity(); image != 0 || entries != 0 {
			t.Fatalf("capacities %d, %d", image, entries)
		}
	})
}
