package wal

import (
	"os"
	"strings"
	"testing"
)

// barrierEntries fills several segments of tailTestSegmentSize bytes.
const barrierEntries = 100

// listings records the names in the log's directory at each barrier until
// the test ends.
func listings(t *testing.T) *[][]string {
	t.Helper()
	var seen [][]string
	testHookBarrier = func(dir string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Error(err)
			return
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		seen = append(seen, names)
	}
	t.Cleanup(func() { testHookBarrier = func(string) {} })
	return &seen
}

func hasSuffix(names []string, suffix string) bool {
	for _, n := range names {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

func TestTruncationBarriers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		suffix   string
		truncate func(l *Log) error
	}{
		{"front", ".START", func(l *Log) error { return l.TruncateFront(barrierEntries / 2) }},
		{"back", ".END", func(l *Log) error { return l.TruncateBack(barrierEntries / 2) }},
	} {
		t.Run("a "+tc.name+" truncation makes its file durable before it removes segments, and the removals before the rename", func(t *testing.T) {
			l := openTailTest(t)
			writeEntries(t, l, 1, barrierEntries)
			entries, err := os.ReadDir(l.path)
			if err != nil {
				t.Fatal(err)
			}
			before := len(entries)
			seen := listings(t)
			if err := tc.truncate(l); err != nil {
				t.Fatal(err)
			}
			if len(*seen) != 2 {
				t.Fatalf("%d barriers, want 2", len(*seen))
			}
			first, second := (*seen)[0], (*seen)[1]
			switch {
			case !hasSuffix(first, tc.suffix) || len(first) != before+1:
				t.Fatalf("first barrier saw %v: want the %s file beside the %d segments", first, tc.suffix, before)
			case !hasSuffix(second, tc.suffix) || len(second) >= len(first)-1:
				t.Fatalf("second barrier saw %v: want the %s file and the segments it replaces gone", second, tc.suffix)
			}
			after, err := os.ReadDir(l.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range after {
				if strings.HasSuffix(e.Name(), tc.suffix) {
					t.Fatalf("%s left after the truncation", e.Name())
				}
			}
		})
	}
}
