package wal_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nexo/wal"
)

// benchRecord is the payload size of the benchmarks, a small job.
const benchRecord = 128

// BenchmarkAppendWait measures acknowledged appends: writers goroutines,
// each appending depth records and waiting for the last of them, until
// b.N records are acknowledged. It reports records/s, fsyncs per record
// and records per batch.
func BenchmarkAppendWait(b *testing.B) {
	for _, policy := range []wal.Fsync{wal.FsyncAlways, wal.FsyncEverySec} {
		for _, c := range []struct{ writers, depth int }{{1, 1}, {8, 1}, {64, 1}, {1, 16}} {
			name := fmt.Sprintf("fsync=%s/writers=%d/pipeline=%d", policy, c.writers, c.depth)
			b.Run(name, func(b *testing.B) {
				benchAppendWait(b, policy, c.writers, c.depth)
			})
		}
	}
}

func benchAppendWait(b *testing.B, policy wal.Fsync, writers, depth int) {
	o := opts()
	o.Fsync = policy
	l, err := wal.Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := make([]byte, benchRecord)
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for {
				n := min(left.Add(-int64(depth))+int64(depth), int64(depth))
				if n <= 0 {
					return
				}
				var idx uint64
				for range n {
					var err error
					if idx, err = l.Append(payload); err != nil {
						b.Error(err)
						return
					}
				}
				if err := l.Wait(idx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(st.Fsyncs)/float64(b.N), "fsyncs/record")
	b.ReportMetric(float64(b.N)/float64(max(st.Batches, 1)), "records/batch")
}
