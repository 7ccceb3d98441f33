package queue_test

import (
	"strconv"
	"testing"

	"nexo/engine/queue"
	"nexo/wal"
)

const (
	// benchPayload is the payload size of the benchmarks, as in bench/queue.
	benchPayload = 100
	// benchWaitEvery is how many changes a benchmark makes before it waits
	// for the log, which refuses more than wal.DefaultMaxPending pending.
	benchWaitEvery = 1000
)

// wait waits for the log every benchWaitEvery calls.
func wait(b *testing.B, qb *queue.Broker, i int, idx uint64) {
	if i%benchWaitEvery == 0 {
		if err := qb.Wait(idx); err != nil {
			b.Fatal(err)
		}
	}
}

func openBench(b *testing.B) *queue.Broker {
	b.Helper()
	qb, err := queue.Open(queue.Config{Dir: b.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { qb.Close() })
	return qb
}

// BenchmarkPush measures QPUSH of one payload, without waiting for the disk.
func BenchmarkPush(b *testing.B) {
	qb := openBench(b)
	payload := [][]byte{make([]byte, benchPayload)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, idx, err := qb.Push("q", payload, queue.PushOptions{})
		if err != nil {
			b.Fatal(err)
		}
		wait(b, qb, i, idx)
	}
}

// BenchmarkPopAck measures a QPOP and a QACK of one job, from a queue
// filled beforehand.
func BenchmarkPopAck(b *testing.B) {
	qb := openBench(b)
	payload := [][]byte{make([]byte, benchPayload)}
	for i := range b.N {
		_, idx, err := qb.Push("q", payload, queue.PushOptions{})
		if err != nil {
			b.Fatal(err)
		}
		wait(b, qb, i, idx)
	}
	ids := make([]uint64, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		jobs, _, err := qb.Pop("q", 1, queue.PopOptions{})
		if err != nil || len(jobs) != 1 {
			b.Fatal(err)
		}
		ids[0] = jobs[0].ID
		_, idx, err := qb.Ack("q", 1, ids, nil)
		if err != nil {
			b.Fatal(err)
		}
		wait(b, qb, i, idx)
	}
}

// BenchmarkAckBatch measures a QACK of a batch taken with one QPOP COUNT,
// per job: its cost per job should not grow with the batch.
func BenchmarkAckBatch(b *testing.B) {
	for _, batch := range []int{16, 1_000, 100_000} {
		b.Run(strconv.Itoa(batch), func(b *testing.B) {
			qb := openBench(b)
			payloads := make([][]byte, batch)
			for i := range payloads {
				payloads[i] = make([]byte, benchPayload)
			}
			ids := make([]uint64, batch)
			for b.Loop() {
				b.StopTimer()
				_, idx, err := qb.Push("q", payloads, queue.PushOptions{})
				if err == nil {
					err = qb.Wait(idx)
				}
				if err != nil {
					b.Fatal(err)
				}
				jobs, _, err := qb.Pop("q", 1, queue.PopOptions{Count: batch})
				if err != nil || len(jobs) != batch {
					b.Fatal(err)
				}
				for i, j := range jobs {
					ids[i] = j.ID
				}
				b.StartTimer()
				_, idx, err = qb.Ack("q", 1, ids, nil)
				if err == nil {
					err = qb.Wait(idx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/job")
		})
	}
}
