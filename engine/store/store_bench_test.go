package store_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"nexo/engine/store"
)

const (
	// benchKeys is the size of the key set of the throughput benchmarks.
	benchKeys = 1 << 16
	// benchValueSize matches redis-benchmark -d 100.
	benchValueSize = 100
	// memoryKeys is the dataset of BenchmarkMemoryPerKey; Redis 7.0 needs
	// about 192 bytes per key for it (see PERF-NOTES.md).
	memoryKeys = 1_000_000
	// randFieldsKept are the fields BenchmarkHRandFieldAfterDeletes leaves
	// in its hashes, and randFieldsDrawn how many fields one call draws.
	randFieldsKept  = 16
	randFieldsDrawn = 16
)

// benchKeySet returns n keys shaped like redis-benchmark's "key:__rand_int__".
func benchKeySet(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%012d", i)
	}
	return keys
}

// benchOrder returns the order in which the benchmarks go through n keys,
// which benchStore added in their order: shuffled, as redis-benchmark -r
// picks them, so that an access finds nothing in the caches that the
// previous one brought in.
func benchOrder(n int) []int {
	return rand.New(rand.NewPCG(1, 2)).Perm(n)
}

// benchStore returns a store holding keys with value.
func benchStore(b *testing.B, keys [][]byte, value []byte) *store.Store {
	s := open(b, store.Config{})
	for _, k := range keys {
		if _, err := s.Set(k, value, store.SetOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkSet(b *testing.B) {
	keys := benchKeySet(benchKeys)
	order := benchOrder(benchKeys)
	value := make([]byte, benchValueSize)
	s := benchStore(b, keys, value)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Set(keys[order[i&(benchKeys-1)]], value, store.SetOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet(b *testing.B) {
	keys := benchKeySet(benchKeys)
	order := benchOrder(benchKeys)
	s := benchStore(b, keys, make([]byte, benchValueSize))
	reply := make([]byte, benchValueSize)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v, _ := s.Get(keys[order[i&(benchKeys-1)]])
		if v == nil {
			b.Fatal("missing")
		}
		copy(reply, v) // as a reply does
		i++
	}
}

func BenchmarkIncr(b *testing.B) {
	keys := benchKeySet(benchKeys)
	order := benchOrder(benchKeys)
	s := benchStore(b, keys, []byte("0"))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.IncrBy(keys[order[i&(benchKeys-1)]], 1); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	keys := benchKeySet(benchKeys)
	s := benchStore(b, keys, make([]byte, benchValueSize))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Random starting points keep goroutines off each other's shards.
		i := rand.IntN(benchKeys)
		for pb.Next() {
			_, _ = s.Get(keys[i&(benchKeys-1)])
			i += 7
		}
	})
}

func BenchmarkSetParallel(b *testing.B) {
	keys := benchKeySet(benchKeys)
	s := open(b, store.Config{})
	value := make([]byte, benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(benchKeys)
		for pb.Next() {
			_, _ = s.Set(keys[i&(benchKeys-1)], value, store.SetOptions{})
			i += 7
		}
	})
}

// BenchmarkHRandFieldAfterDeletes draws random fields from hashes of
// randFieldsKept fields that had up to a million once: the time per call
// must not grow with that peak.
func BenchmarkHRandFieldAfterDeletes(b *testing.B) {
	for _, peak := range []int{randFieldsKept, 1 << 10, 1 << 15, 1 << 20} {
		s := open(b, store.Config{})
		key := []byte("h")
		for i := range peak {
			f := strconv.AppendInt(nil, int64(i), 10)
			if _, err := s.HSet(key, [][]byte{f, f}); err != nil {
				b.Fatal(err)
			}
		}
		// The fields kept are spread over the positions, the last one
		// included, so that the deleted ones leave holes between them.
		step := peak / randFieldsKept
		for i := range peak {
			if i%step == step-1 {
				continue
			}
			if _, err := s.HDel(key, [][]byte{strconv.AppendInt(nil, int64(i), 10)}); err != nil {
				b.Fatal(err)
			}
		}
		for _, count := range []int64{-randFieldsDrawn, randFieldsDrawn / 2} {
			b.Run(fmt.Sprintf("peak=%d/count=%d", peak, count), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.HRandField(key, count, true); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMemoryPerKey loads memoryKeys keys with 100-byte values and
// reports, per key: the live heap after a full GC (heap-B/key), the growth
// of the process's resident memory (rss-B/key, Linux only; it includes the
// garbage collector's headroom and so depends on GOGC) and the store's
// accounted bytes (accounted-B/key). Redis 7.0 needs about 192 B/key RSS.
func BenchmarkMemoryPerKey(b *testing.B) {
	value := make([]byte, benchValueSize)
	var key []byte
	for b.Loop() {
		var before, after runtime.MemStats
		debug.FreeOSMemory() // start from a baseline with no retained pages
		runtime.ReadMemStats(&before)
		rssBefore := residentBytes()
		s, err := store.New(store.Config{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range memoryKeys {
			key = fmt.Appendf(key[:0], "key:%012d", i)
			if _, err := s.Set(key, value, store.SetOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/memoryKeys, "heap-B/key")
		if rss := residentBytes(); rss > 0 {
			b.ReportMetric(float64(rss-rssBefore)/memoryKeys, "rss-B/key")
		}
		b.ReportMetric(float64(s.Stats().UsedMemory)/memoryKeys, "accounted-B/key")
		runtime.KeepAlive(s)
		s.Close()
	}
}

// residentBytes returns the resident set size of this process, or 0 where
// /proc is not available.
func residentBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
