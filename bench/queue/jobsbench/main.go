// Command jobsbench measures end-to-end job throughput: producers push
// jobs while workers take and complete them one at a time, and the clock
// stops when the last job is completed. It drives NEXO's queue (QPUSH,
// QPOP … BLOCK, QACK) or the reliable-queue pattern on Redis (LPUSH,
// BLMOVE to a processing list, LREM), over plain RESP2 connections.
//
// Usage: jobsbench -mode nexo|redis -addr HOST:PORT [-jobs N] [-workers N]
// [-producers N] [-batch N] [-size BYTES] [-settle apart|next] [-server-pid PID].
// It prints "<mode> <jobs> jobs in <seconds> s: <jobs/s> jobs/s", then with
// -server-pid "cpu per job: server <µs> µs, client <µs> µs", the CPU time
// the server process and this client used over the timed run.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"nexo/bench/internal/cputime"
	"nexo/bench/internal/runwait"
	"nexo/internal/respclient"
)

// Defaults of the flags.
const (
	defaultJobs      = 200000
	defaultWorkers   = 8
	defaultProducers = 1
	defaultBatch     = 64
	defaultSize      = 100
	// blockSeconds is how long a worker's blocking take waits before it
	// checks whether every job is done.
	blockSeconds = 1
	// dialTimeout bounds connecting to the server.
	dialTimeout = 5 * time.Second
)

// Values of -settle.
const (
	settleApart = "apart"
	settleNext  = "next"
)

// Names of the queue (NEXO) or lists (Redis) the benchmark uses.
const (
	queueName      = "bench:jobs"
	processingList = "bench:jobs:processing"
)

func main() {
	mode := flag.String("mode", "nexo", "nexo or redis")
	addr := flag.String("addr", "127.0.0.1:6379", "server address")
	jobs := flag.Int("jobs", defaultJobs, "jobs to push and complete")
	workers := flag.Int("workers", defaultWorkers, "concurrent workers, one connection each")
	producers := flag.Int("producers", defaultProducers, "concurrent producers, one connection each")
	batch := flag.Int("batch", defaultBatch, "pushes a producer pipelines per write")
	size := flag.Int("size", defaultSize, "payload bytes")
	settle := flag.String("settle", settleApart, "when a worker completes a job: "+settleApart+" (its own round trip) or "+settleNext+" (with the next take)")
	serverPID := flag.Int("server-pid", 0, "the server's process id: also print its CPU per job and this client's (Linux)")
	flag.Parse()
	if *mode != "nexo" && *mode != "redis" {
		fail(fmt.Errorf("unknown mode %q", *mode))
	}
	if *settle != settleApart && *settle != settleNext {
		fail(fmt.Errorf("unknown settle %q", *settle))
	}
	if *jobs <= 0 || *workers <= 0 || *producers <= 0 || *batch <= 0 || *size <= 0 {
		fail(errors.New("every count must be positive"))
	}
	var meter *cputime.Meter
	if *serverPID != 0 {
		meter = cputime.NewMeter(*serverPID)
	}
	elapsed, err := run(*mode, *addr, *jobs, *workers, *producers, *batch, *size, *settle == settleNext, meter)
	if err != nil {
		fail(err)
	}
	fmt.Printf("%s %d jobs in %.3f s: %.0f jobs/s\n", *mode, *jobs, elapsed.Seconds(), float64(*jobs)/elapsed.Seconds())
	if meter != nil {
		perJob := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(*jobs) }
		fmt.Printf("cpu per job: server %.2f µs, client %.2f µs\n", perJob(meter.Server), perJob(meter.Self))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "jobsbench:", err)
	os.Exit(1)
}

// payload makes job n's payload: unique (LREM finds exactly it) and size bytes long.
func payload(n, size int) string {
	p := "job-" + strconv.Itoa(n) + "-"
	if len(p) >= size {
		return p
	}
	return p + strings.Repeat("x", size-len(p))
}

// run pushes and completes the jobs and returns the time it took; a
// non-nil meter measures the CPU used from the clock's start until the
// clients have closed.
func run(mode, addr string, jobs, workers, producers, batch, size int, settleNext bool, meter *cputime.Meter) (time.Duration, error) {
	setup, err := respclient.Dial(addr, dialTimeout)
	if err != nil {
		return 0, err
	}
	defer setup.Close()
	if mode == "nexo" {
		_, err = setup.Do("QDEL", queueName)
	} else {
		_, err = setup.Do("DEL", queueName, processingList)
	}
	if err != nil {
		return 0, err
	}

	// Workers connect before the clock starts; the clock stops when the
	// last job is completed, not when the idle workers' blocking takes
	// time out.
	conns := make([]*respclient.Client, workers)
	for w := range conns {
		if conns[w], err = respclient.Dial(addr, dialTimeout); err != nil {
			return 0, err
		}
	}
	var done atomic.Int64
	finished := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, workers+producers)
	if meter != nil {
		if err := meter.Start(); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := work(mode, c, int64(jobs), settleNext, &done, finished); err != nil && done.Load() < int64(jobs) {
				errs <- err
			}
		}()
	}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Producer p pushes jobs p, p+producers, p+2×producers…
			if err := produce(mode, addr, p, producers, jobs, batch, size); err != nil {
				errs <- err
			}
		}()
	}
	elapsed, err := runwait.Wait(start, finished, errs, &wg, conns)
	if err == nil && meter != nil {
		err = meter.Stop()
	}
	return elapsed, err
}

func produce(mode, addr string, first, step, jobs, batch, size int) error {
	c, err := respclient.Dial(addr, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	cmd := "QPUSH"
	if mode == "redis" {
		cmd = "LPUSH"
	}
	pending := 0
	for n := first; n < jobs; n += step {
		c.Send(cmd, queueName, payload(n, size))
		if pending++; pending == batch {
			if err := c.Drain(pending); err != nil {
				return err
			}
			pending = 0
		}
	}
	return c.Drain(pending)
}

// work takes and completes jobs one at a time on c until every job is
// done; the worker that completes the last one closes finished. With
// settleNext, the completion of a job leaves in the same write as the take
// of the next one, one round trip per job, as NEXO's SDK worker sends its
// acks and BullMQ's worker completes a job and fetches the next in one
// call; otherwise the take and the completion are two round trips.
func work(mode string, c *respclient.Client, jobs int64, settleNext bool, done *atomic.Int64, finished chan struct{}) error {
	// held is the job taken and not yet completed: its id on NEXO, its
	// payload (what LREM finds) on Redis.
	held := ""
	// settled reads the completion's reply.
	settled := func() error {
		if _, err := c.Read(); err != nil {
			return err
		}
		held = ""
		if done.Add(1) == jobs {
			close(finished)
		}
		return nil
	}
	for done.Load() < jobs {
		if held != "" {
			if mode == "nexo" {
				c.Send("QACK", queueName, held)
			} else {
				c.Send("LREM", processingList, "1", held)
			}
			if !settleNext {
				if err := c.Flush(); err != nil {
					return err
				}
				if err := settled(); err != nil {
					return err
				}
			}
		}
		if mode == "nexo" {
			c.Send("QPOP", queueName, "BLOCK", strconv.Itoa(blockSeconds*int(time.Second/time.Millisecond)))
		} else {
			c.Send("BLMOVE", queueName, processingList, "RIGHT", "LEFT", strconv.Itoa(blockSeconds))
		}
		if err := c.Flush(); err != nil {
			return err
		}
		if held != "" {
			if err := settled(); err != nil {
				return err
			}
		}
		v, err := c.Read()
		if err != nil {
			return err
		}
		switch job := v.(type) {
		case []any: // NEXO: id, then the job's other fields
			held = job[1].(string)
		case string: // Redis: the payload
			held = job
		}
	}
	return nil
}
