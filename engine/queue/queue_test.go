package queue_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nexo/engine/queue"
	"nexo/internal/crashimage"
	"nexo/wal"
)

const (
	// timerVisibility is the visibility timeout of tests that wait for
	// the broker's own timer in real time.
	timerVisibility = 50 * time.Millisecond
	// neverIdleFlush is a log idle flush delay no test lives to see: only
	// a Wait writes the records.
	neverIdleFlush = time.Hour
	// timerMargin is added to a real-time deadline before a test expects
	// its effect, to let the timer goroutine run under the race detector
	// on a loaded machine.
	timerMargin = 500 * time.Millisecond
	// blockTimeout bounds a blocking pop that a test expects to be served.
	blockTimeout = 10 * time.Second
	// backoffDelay is the first retry delay of the test defaults.
	backoffDelay = time.Second
	// scheduleRounds is how many times each goroutine of the schedule race
	// sets and deletes its schedule.
	scheduleRounds = 200
	// eventRounds is how many jobs each goroutine of the events race
	// pushes, takes and acks.
	eventRounds = 200
	// cronFuzzYears bounds the next fire time the fuzz target accepts: the
	// search bound of the broker plus the year it starts in.
	cronFuzzYears = 6
	// randomSeeds is how many sequences of random operations the random
	// restart test applies, each from its own seed.
	randomSeeds = 6
	// randomOps is how many operations each sequence applies.
	randomOps = 1500
	// randomRestartOdds is one in how many operations is followed by a
	// restart.
	randomRestartOdds = 50
	// randomNoBackgroundCompaction is a CompactMinRecords no random
	// sequence reaches: its compactions are the ones it asks for, so that
	// an image of the files is never taken in the middle of one.
	randomNoBackgroundCompaction = 1 << 30
	// randomRaceWorkers, randomRaceOps and randomRaceRounds shape the
	// concurrent random test: that many goroutines apply that many random
	// operations each, then the broker restarts, that many times.
	randomRaceWorkers = 4
	randomRaceOps     = 300
	randomRaceRounds  = 4
	// randomMaxAdvance bounds the clock's random steps and the random
	// delays, visibilities and extensions, a few times the backoffs the
	// random settings choose, so that jobs come due, time out and expire
	// between operations.
	randomMaxAdvance = 4 * time.Second
	// randomFew bounds the jobs, payloads and ids of one random operation.
	randomFew = 3
	// randomPriorities is how many priorities random pushes use.
	randomPriorities = 3
	// randomDedupIDs is how many deduplication ids random pushes share.
	randomDedupIDs = 4
	// randomUnknownOdds is one in how many ids an operation names is a job
	// never pushed.
	randomUnknownOdds = 10
)

// notifier receives Notify's calls.
type notifier chan struct{}

func (n notifier) Notify() { n <- struct{}{} }

// clock is an injectable clock that only moves when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a broker on a temporary directory with a fake clock, and
// helpers that fail the test on unexpected errors.
type fixture struct {
	t     *testing.T
	clock *clock
	cfg   queue.Config
	b     *queue.Broker
}

// testSettings are the defaults with a fixed backoff and no jitter, so
// retry times are exact.
func testSettings() queue.Settings {
	s := queue.DefaultSettings()
	s.Backoff = queue.Fixed
	s.BackoffDelay = backoffDelay
	s.BackoffJitter = 0
	return s
}

func newFixture(t *testing.T, mutate ...func(*queue.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock()}
	f.cfg = queue.Config{
		Dir:      t.TempDir(),
		WAL:      wal.Options{Fsync: wal.FsyncNo},
		Defaults: testSettings(),
		Now:      f.clock.Now,
	}
	for _, m := range mutate {
		m(&f.cfg)
	}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	b, err := queue.Open(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.b = b
	f.t.Cleanup(func() { b.Close() })
}

// reopen closes the broker and opens a new one on the same directory.
func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.b.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) wait(idx uint64, err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.b.Wait(idx); err != nil {
		f.t.Fatal(err)
	}
}

// waitN is wait for calls that also return a count.
func (f *fixture) waitN(n int, idx uint64, err error) int {
	f.t.Helper()
	f.wait(idx, err)
	return n
}

// waitOK is wait for calls that also report success.
func (f *fixture) waitOK(ok bool, idx uint64, err error) bool {
	f.t.Helper()
	f.wait(idx, err)
	return ok
}

func (f *fixture) push(name string, o queue.PushOptions, payloads ...string) []uint64 {
	f.t.Helper()
	ids, idx, err := f.b.Push(name, bs(payloads...), o)
	f.wait(idx, err)
	return ids
}

func (f *fixture) push1(name, payload string) uint64 {
	f.t.Helper()
	return f.push(name, queue.PushOptions{}, payload)[0]
}

func (f *fixture) pop(name string, consumer int64, count int) []queue.Job {
	f.t.Helper()
	jobs, idx, err := f.b.Pop(name, consumer, queue.PopOptions{Count: count})
	f.wait(idx, err)
	return jobs
}

// crashed opens a broker on an image of f's files as a kill -9 would leave
// them now, closed when the test ends.
func (f *fixture) crashed() *queue.Broker {
	f.t.Helper()
	cfg := f.cfg
	cfg.Dir = crashimage.Of(f.t, f.cfg.Dir)
	b, err := queue.Open(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { b.Close() })
	return b
}

func (f *fixture) pop1(name string, consumer int64) queue.Job {
	f.t.Helper()
	jobs := f.pop(name, consumer, 1)
	if len(jobs) != 1 {
		f.t.Fatalf("pop %s: got %d jobs, want 1", name, len(jobs))
	}
	return jobs[0]
}

func (f *fixture) popNone(name string, consumer int64) {
	f.t.Helper()
	if jobs := f.pop(name, consumer, 1); len(jobs) != 0 {
		f.t.Fatalf("pop %s: got job %d (%q), want none", name, jobs[0].ID, jobs[0].Payload)
	}
}

func (f *fixture) ack(name string, consumer int64, ids ...uint64) {
	f.t.Helper()
	n, idx, err := f.b.Ack(name, consumer, ids, nil)
	f.wait(idx, err)
	if n != len(ids) {
		f.t.Fatalf("ack %v: acked %d", ids, n)
	}
}

func (f *fixture) nack(name string, consumer int64, id uint64, o queue.NackOptions) queue.State {
	f.t.Helper()
	st, idx, err := f.b.Nack(name, consumer, id, o)
	f.wait(idx, err)
	return st
}

func (f *fixture) configure(name string, kv ...string) {
	f.t.Helper()
	var pairs [][2]string
	for i := 0; i < len(kv); i += 2 {
		pairs = append(pairs, [2]string{kv[i], kv[i+1]})
	}
	idx, err := f.b.Configure(name, pairs)
	f.wait(idx, err)
}

// peek returns the next n ready jobs, as QPEEK does.
func (f *fixture) peek(name string, n int) []queue.JobInfo {
	f.t.Helper()
	return f.jobs(name, queue.Ready, n)
}

func (f *fixture) wantLen(name string, want queue.Counts) {
	f.t.Helper()
	if got := f.counts(name); got != want {
		f.t.Fatalf("len %s = %+v, want %+v", name, got, want)
	}
}

// The read helpers below call the facade's reads and wait for the log
// index each returns, as a reply does.

func (f *fixture) counts(name string) queue.Counts {
	f.t.Helper()
	n, idx := f.b.Len(name)
	f.wait(idx, nil)
	return n
}

func (f *fixture) info(name string) queue.QueueInfo {
	f.t.Helper()
	in, idx := f.b.Info(name)
	f.wait(idx, nil)
	return in
}

func (f *fixture) list() []queue.QueueInfo {
	f.t.Helper()
	list, idx := f.b.List()
	f.wait(idx, nil)
	return list
}

func (f *fixture) job(name string, id uint64) (queue.JobInfo, bool) {
	f.t.Helper()
	in, ok, idx := f.b.Job(name, id)
	f.wait(idx, nil)
	return in, ok
}

func (f *fixture) jobs(name string, state queue.State, count int) []queue.JobInfo {
	f.t.Helper()
	jobs, idx, err := f.b.Jobs(name, state, count)
	f.wait(idx, err)
	return jobs
}

func (f *fixture) deadLetters(name string, count int) []queue.JobInfo {
	f.t.Helper()
	dead, idx := f.b.DeadLetters(name, count)
	f.wait(idx, nil)
	return dead
}

func (f *fixture) settings(name string) queue.Settings {
	f.t.Helper()
	s, idx := f.b.Settings(name)
	f.wait(idx, nil)
	return s
}

func (f *fixture) repeats(name string) []queue.Repeat {
	f.t.Helper()
	rs, idx := f.b.Repeats(name)
	f.wait(idx, nil)
	return rs
}

// drain pops every ready job one by one and returns the payloads in order.
func (f *fixture) drain(name string, consumer int64) []string {
	f.t.Helper()
	var out []string
	for {
		jobs := f.pop(name, consumer, 1)
		if len(jobs) == 0 {
			return out
		}
		out = append(out, string(jobs[0].Payload))
	}
}

// waitBlocked waits until n consumers are blocked on the queue.
func (f *fixture) waitBlocked(name string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(blockTimeout)
	for f.info(name).Consumers != n {
		if time.Now().After(deadline) {
			f.t.Fatalf("%d consumers never blocked on %s", n, name)
		}
		time.Sleep(time.Millisecond)
	}
}

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func payloads(jobs []queue.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = string(j.Payload)
	}
	return out
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func wantJobErr(t *testing.T, err, want error, id uint64) {
	t.Helper()
	var je *queue.JobError
	if !errors.As(err, &je) || !errors.Is(err, want) || je.ID != id {
		t.Fatalf("error %v, want %v for job %d", err, want, id)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func parallel(n int, fn func(g int)) {
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(g)
		}()
	}
	wg.Wait()
}

func TestConfig(t *testing.T) {
	t.Run("settings read and parse by name", func(t *testing.T) {
		s := queue.DefaultSettings()
		want := map[string]string{
			"visibility-timeout": "30000", "max-attempts": "5", "backoff": "exponential", "backoff-delay": "1000",
			"backoff-max": "3600000", "backoff-jitter": "0.2", "dead-letter-max": "10000", "release-on-disconnect": "yes",
			"rate-limit": "0", "rate-window": "1000", "max-in-flight": "0", "events": "no", "keep-completed": "0", "keep-completed-age": "0",
		}
		for _, name := range queue.Params() {
			got, err := s.Get(name)
			if err != nil || got != want[name] {
				t.Fatalf("%s = %q (%v), want %q", name, got, err, want[name])
			}
		}
		for name, v := range map[string]string{"VISIBILITY-TIMEOUT": "100", "max-attempts": "0", "backoff": "FIXED",
			"backoff-jitter": "0.5", "release-on-disconnect": "no", "dead-letter-max": "0", "rate-limit": "10", "rate-window": "250"} {
			if err := s.Set(name, v); err != nil {
				t.Fatalf("set %s %s: %v", name, v, err)
			}
		}
		if s.Visibility != 100*time.Millisecond || s.MaxAttempts != 0 || s.Backoff != queue.Fixed || s.BackoffJitter != 0.5 ||
			s.ReleaseOnDisconnect || s.DeadLetterMax != 0 || s.RateLimit != 10 || s.RateWindow != 250*time.Millisecond {
			t.Fatalf("settings after Set: %+v", s)
		}
	})
	t.Run("edge: invalid settings are refused and change nothing", func(t *testing.T) {
		s := queue.DefaultSettings()
		for _, kv := range [][2]string{{"visibility-timeout", "0"}, {"visibility-timeout", "-1"}, {"visibility-timeout", "1.5"},
			{"max-attempts", "-1"}, {"backoff", "linear"}, {"backoff-delay", "abc"}, {"backoff-jitter", "1.5"},
			{"backoff-jitter", "NaN"}, {"release-on-disconnect", "maybe"}, {"backoff-max", "999999999999999"},
			{"rate-limit", "-1"}, {"rate-window", "0"}, {"max-in-flight", "-1"}, {"events", "maybe"}} {
			wantErr(t, s.Set(kv[0], kv[1]), queue.ErrInvalidValue)
		}
		wantErr(t, s.Set("colour", "blue"), queue.ErrUnknownParam)
		if s != queue.DefaultSettings() {
			t.Fatalf("refused values changed the settings: %+v", s)
		}
		_, err := queue.Open(queue.Config{})
		if err == nil {
			t.Fatal("Open without a directory succeeded")
		}
		bad := queue.DefaultSettings()
		bad.Visibility = 0
		if _, err := queue.Open(queue.Config{Dir: t.TempDir(), Defaults: bad}); !errors.Is(err, queue.ErrInvalidValue) {
			t.Fatalf("Open with a zero visibility: %v", err)
		}
	})
}

func TestPush(t *testing.T) {
	t.Run("jobs get increasing ids and are taken in push order", func(t *testing.T) {
		f := newFixture(t)
		ids := f.push("q", queue.PushOptions{}, "a", "b", "c")
		if len(ids) != 3 || ids[1] != ids[0]+1 || ids[2] != ids[1]+1 {
			t.Fatalf("ids %v", ids)
		}
		next := f.push1("other", "x")
		if next <= ids[2] {
			t.Fatalf("ids are global: %d after %v", next, ids)
		}
		f.wantLen("q", queue.Counts{Ready: 3})
		wantStrings(t, "order", f.drain("q", 1), []string{"a", "b", "c"})
	})
	t.Run("higher priority first, FIFO within a priority", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "low1")
		f.push("q", queue.PushOptions{Priority: 5}, "high1", "high2")
		f.push("q", queue.PushOptions{Priority: -3}, "neg")
		f.push("q", queue.PushOptions{}, "low2")
		f.push("q", queue.PushOptions{Priority: 5}, "high3")
		wantStrings(t, "order", f.drain("q", 1), []string{"high1", "high2", "high3", "low1", "low2", "neg"})
	})
	t.Run("delayed jobs become ready when due", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{Delay: 2 * time.Second}, "later")
		f.push1("q", "now")
		f.wantLen("q", queue.Counts{Ready: 1, Delayed: 1})
		wantStrings(t, "before due", f.drain("q", 1), []string{"now"})
		f.clock.Advance(2 * time.Second)
		f.wantLen("q", queue.Counts{Ready: 1, InFlight: 1})
		if j := f.pop1("q", 1); string(j.Payload) != "later" {
			t.Fatalf("got %q", j.Payload)
		}
	})
	t.Run("a deduplication id returns the waiting or running job", func(t *testing.T) {
		f := newFixture(t)
		first := f.push("q", queue.PushOptions{Dedup: "order-1"}, "v1")[0]
		if again := f.push("q", queue.PushOptions{Dedup: "order-1"}, "v2")[0]; again != first {
			t.Fatalf("dedup push got id %d, want %d", again, first)
		}
		other := f.push("other", queue.PushOptions{Dedup: "order-1"}, "v1")[0]
		if other == first {
			t.Fatal("dedup ids are per queue")
		}
		j := f.pop1("q", 1)
		if again := f.push("q", queue.PushOptions{Dedup: "order-1"}, "v3")[0]; again != first {
			t.Fatalf("dedup while running got id %d, want %d", again, first)
		}
		f.wantLen("q", queue.Counts{InFlight: 1})
		if string(j.Payload) != "v1" {
			t.Fatalf("payload %q", j.Payload)
		}
	})
	t.Run("edge: a delay is due at exactly its end", func(t *testing.T) {
		f := newFixture(t)
		const delay = 1500 * time.Millisecond
		f.push("q", queue.PushOptions{Delay: delay}, "d")
		f.clock.Advance(delay - time.Millisecond)
		f.popNone("q", 1)
		f.clock.Advance(time.Millisecond)
		f.pop1("q", 1)
	})
	t.Run("edge: a due job takes its place by due time among ready jobs of its priority", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{Delay: time.Second}, "delayed")
		f.clock.Advance(500 * time.Millisecond)
		f.push1("q", "before-due")
		f.clock.Advance(time.Second)
		f.push1("q", "after-due")
		f.push("q", queue.PushOptions{Priority: 1}, "urgent")
		wantStrings(t, "order", f.drain("q", 1), []string{"urgent", "before-due", "delayed", "after-due"})
	})
	t.Run("edge: a deduplication id is free again after ack, dead letter or purge", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		id := f.push("q", queue.PushOptions{Dedup: "k"}, "v")[0]
		f.ack("q", 1, f.pop1("q", 1).ID)
		id2 := f.push("q", queue.PushOptions{Dedup: "k"}, "v")[0]
		if id2 == id {
			t.Fatal("dedup after ack returned the acked job")
		}
		if st := f.nack("q", 1, f.pop1("q", 1).ID, queue.NackOptions{}); st != queue.Dead {
			t.Fatalf("state %v", st)
		}
		id3 := f.push("q", queue.PushOptions{Dedup: "k"}, "v")[0]
		if id3 == id2 {
			t.Fatal("dedup after dead letter returned the dead job")
		}
		n, idx, err := f.b.Purge("q")
		f.wait(idx, err)
		if n != 1 {
			t.Fatalf("purged %d", n)
		}
		if id4 := f.push("q", queue.PushOptions{Dedup: "k"}, "v")[0]; id4 == id3 {
			t.Fatal("dedup after purge returned the purged job")
		}
	})
	t.Run("edge: a deduplication id is free once its job times out into a dead letter, before the timer runs", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		id := f.push("q", queue.PushOptions{Dedup: "k"}, "v")[0]
		f.pop1("q", 1)
		// The fake clock moves past the visibility timeout; the timer
		// sleeps on the real clock and has not run.
		f.clock.Advance(queue.DefaultSettings().Visibility)
		if again := f.push("q", queue.PushOptions{Dedup: "k"}, "v")[0]; again == id {
			t.Fatal("dedup answered with the job that timed out into a dead letter")
		}
		f.wantLen("q", queue.Counts{Ready: 1, Dead: 1})
	})
	t.Run("edge: a job keeps its payload when the pusher reuses its buffers", func(t *testing.T) {
		f := newFixture(t)
		// The command layer reuses a command's argument buffers once it
		// returns; the jobs, and the log they are replayed from, keep copies.
		buf := []byte("first")
		_, idx, err := f.b.Push("q", [][]byte{buf, buf[:0]}, queue.PushOptions{})
		f.wait(idx, err)
		copy(buf, "reuse")
		_, idx, err = f.b.Push("q", [][]byte{buf}, queue.PushOptions{})
		f.wait(idx, err)
		copy(buf, "later")
		want := []string{"first", "", "reuse"}
		wantStrings(t, "payloads", f.drain("q", 1), want)
		f.reopen()
		wantStrings(t, "payloads replayed", f.drain("q", 1), want)
	})
	t.Run("edge: bad input is refused and changes nothing", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.MaxPayload = 8 })
		_, _, err := f.b.Push("q", bs("ok", "123456789"), queue.PushOptions{})
		wantErr(t, err, queue.ErrPayloadTooBig)
		_, _, err = f.b.Push("q", bs("a", "b"), queue.PushOptions{Dedup: "k"})
		wantErr(t, err, queue.ErrDedupMulti)
		_, _, err = f.b.Push("q", bs("a"), queue.PushOptions{Delay: -time.Millisecond})
		wantErr(t, err, queue.ErrInvalidValue)
		_, _, err = f.b.Push("q", bs("a"), queue.PushOptions{Delay: queue.MaxDuration + time.Millisecond})
		wantErr(t, err, queue.ErrInvalidValue)
		_, _, err = f.b.Push("q", nil, queue.PushOptions{})
		wantErr(t, err, queue.ErrInvalidValue)
		_, _, err = f.b.Push("", bs("a"), queue.PushOptions{})
		wantErr(t, err, queue.ErrInvalidName)
		_, _, err = f.b.Push(string(make([]byte, queue.MaxNameLen+1)), bs("a"), queue.PushOptions{})
		wantErr(t, err, queue.ErrInvalidName)
		if n := len(f.list()); n != 0 {
			t.Fatalf("refused pushes created %d queues", n)
		}
		f.push("q", queue.PushOptions{}, "12345678", "")
		wantStrings(t, "payloads at the limit and empty", f.drain("q", 1), []string{"12345678", ""})
	})
	t.Run("race: concurrent producers get distinct ids and lose no job", func(t *testing.T) {
		f := newFixture(t)
		const producers, each = 8, 200
		var mu sync.Mutex
		seen := map[uint64]bool{}
		parallel(producers, func(g int) {
			for i := range each {
				ids, idx, err := f.b.Push("q", bs(fmt.Sprintf("%d-%d", g, i)), queue.PushOptions{Priority: int64(i % 3)})
				if err == nil {
					err = f.b.Wait(idx)
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[ids[0]] = true
				mu.Unlock()
			}
		})
		if len(seen) != producers*each {
			t.Fatalf("%d distinct ids, want %d", len(seen), producers*each)
		}
		f.wantLen("q", queue.Counts{Ready: producers * each})
	})
	t.Run("restart: ready, delayed and deduplicated jobs survive", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{Priority: 2}, "p2")
		f.push("q", queue.PushOptions{Delay: time.Minute}, "delayed")
		dedup := f.push("q", queue.PushOptions{Dedup: "k"}, "dedup")[0]
		f.push1("q", "plain")
		f.reopen()
		f.wantLen("q", queue.Counts{Ready: 3, Delayed: 1})
		if id := f.push("q", queue.PushOptions{Dedup: "k"}, "again")[0]; id != dedup {
			t.Fatalf("dedup after restart got %d, want %d", id, dedup)
		}
		wantStrings(t, "order", f.drain("q", 1), []string{"p2", "dedup", "plain"})
		f.clock.Advance(time.Minute)
		wantStrings(t, "due", f.drain("q", 1), []string{"delayed"})
	})
}

func TestPop(t *testing.T) {
	t.Run("a job carries its id, payload, attempt and metadata", func(t *testing.T) {
		f := newFixture(t)
		pushedAt := f.clock.Now()
		id := f.push("q", queue.PushOptions{Priority: 7}, "payload")[0]
		f.clock.Advance(time.Second)
		j := f.pop1("q", 1)
		want := queue.Job{ID: id, Queue: "q", Payload: []byte("payload"), Attempt: 1, Priority: 7,
			Enqueued: pushedAt, Deadline: f.clock.Now().Add(queue.DefaultVisibility)}
		if j.ID != want.ID || j.Queue != want.Queue || string(j.Payload) != "payload" || j.Attempt != 1 || j.Priority != 7 ||
			!j.Enqueued.Equal(want.Enqueued) || !j.Deadline.Equal(want.Deadline) {
			t.Fatalf("job %+v, want %+v", j, want)
		}
		f.wantLen("q", queue.Counts{InFlight: 1})
		f.popNone("q", 2)
	})
	t.Run("count takes several jobs in order; a visibility per pop", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		jobs, idx, err := f.b.Pop("q", 1, queue.PopOptions{Count: 5, Visibility: 10 * time.Second})
		f.wait(idx, err)
		wantStrings(t, "jobs", payloads(jobs), []string{"a", "b", "c"})
		for _, j := range jobs {
			if !j.Deadline.Equal(f.clock.Now().Add(10 * time.Second)) {
				t.Fatalf("deadline %v", j.Deadline)
			}
		}
	})
	t.Run("PopAppend appends to the caller's slice, reusing its room", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		buf := make([]queue.Job, 1, 4)
		buf[0] = queue.Job{Payload: []byte("kept")}
		jobs, idx, err := f.b.PopAppend(buf, "q", 1, queue.PopOptions{Count: 2})
		f.wait(idx, err)
		wantStrings(t, "jobs", payloads(jobs), []string{"kept", "a", "b"})
		if &jobs[0] != &buf[0] {
			t.Fatal("PopAppend did not append in the slice's room")
		}
		none, _, err := f.b.PopAppend(buf[:0], "nosuch", 1, queue.PopOptions{})
		if err != nil || len(none) != 0 || cap(none) != cap(buf) {
			t.Fatalf("no job: %d jobs, capacity %d, %v; want the empty slice given", len(none), cap(none), err)
		}
	})
	t.Run("a paused queue hands out nothing until resumed", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		f.wait(f.b.Pause("q", true))
		f.popNone("q", 1)
		f.push1("q", "b")
		if in := f.info("q"); !in.Paused || in.Ready != 2 {
			t.Fatalf("info %+v", in)
		}
		f.wait(f.b.Pause("q", false))
		wantStrings(t, "after resume", f.drain("q", 1), []string{"a", "b"})
	})
	t.Run("edge: an unknown queue has no job; bad options and names are refused", func(t *testing.T) {
		f := newFixture(t)
		f.popNone("nosuch", 1)
		_, _, err := f.b.Pop("q", 1, queue.PopOptions{Count: -1})
		wantErr(t, err, queue.ErrInvalidValue)
		_, _, err = f.b.Pop("q", 1, queue.PopOptions{Visibility: -time.Second})
		wantErr(t, err, queue.ErrInvalidValue)
		// As a blocking take refuses them.
		for _, name := range []string{"", strings.Repeat("n", queue.MaxNameLen+1)} {
			_, _, err = f.b.Pop(name, 1, queue.PopOptions{})
			wantErr(t, err, queue.ErrInvalidName)
			_, _, err = f.b.PopWait(t.Context(), name, 1, queue.PopOptions{})
			wantErr(t, err, queue.ErrInvalidName)
		}
		if n := len(f.list()); n != 0 {
			t.Fatalf("pops created %d queues", n)
		}
	})
	t.Run("edge: the pop's log index follows the push's", func(t *testing.T) {
		f := newFixture(t)
		_, pushIdx, err := f.b.Push("q", bs("a"), queue.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, popIdx, err := f.b.Pop("q", 1, queue.PopOptions{})
		if err != nil || popIdx <= pushIdx {
			t.Fatalf("pop index %d after push index %d (%v)", popIdx, pushIdx, err)
		}
		f.wait(popIdx, nil)
	})
	t.Run("race: concurrent consumers never get the same job", func(t *testing.T) {
		f := newFixture(t)
		const jobs, consumers = 1000, 8
		for i := range jobs {
			f.push1("q", strconv.Itoa(i))
		}
		var mu sync.Mutex
		got := map[uint64]int64{}
		parallel(consumers, func(g int) {
			for {
				js, idx, err := f.b.Pop("q", int64(g), queue.PopOptions{Count: 1 + g%3})
				if err == nil {
					err = f.b.Wait(idx)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if len(js) == 0 {
					return
				}
				mu.Lock()
				for _, j := range js {
					if prev, dup := got[j.ID]; dup {
						t.Errorf("job %d delivered to %d and %d", j.ID, prev, g)
					}
					got[j.ID] = int64(g)
				}
				mu.Unlock()
			}
		})
		if len(got) != jobs {
			t.Fatalf("%d jobs delivered, want %d", len(got), jobs)
		}
	})
	t.Run("restart: jobs in flight are ready again, first in line, attempt kept", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		first := f.pop1("q", 1)
		f.reopen()
		f.wantLen("q", queue.Counts{Ready: 3})
		j := f.pop1("q", 1)
		if j.ID != first.ID || j.Attempt != 2 {
			t.Fatalf("after restart got job %d attempt %d, want %d attempt 2", j.ID, j.Attempt, first.ID)
		}
		_, _, err := f.b.Ack("q", 1, []uint64{first.ID}, nil)
		if err != nil {
			t.Fatalf("the new holder acks: %v", err)
		}
	})
}

func TestAck(t *testing.T) {
	t.Run("ack removes the jobs", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		jobs := f.pop("q", 1, 3)
		f.ack("q", 1, jobs[0].ID, jobs[2].ID)
		f.wantLen("q", queue.Counts{InFlight: 1})
		f.ack("q", 1, jobs[1].ID)
		f.wantLen("q", queue.Counts{})
		st := f.b.Stats()
		if st.Pushed != 3 || st.Delivered != 3 || st.Acked != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("edge: an ack of a job not held (waiting, unknown, another's, acked) is an error and acks nothing", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		a, b := f.pop1("q", 1), f.pop1("q", 2)
		ready := f.peek("q", 1)[0].ID
		_, _, err := f.b.Ack("q", 1, []uint64{a.ID, b.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, b.ID)
		_, _, err = f.b.Ack("q", 1, []uint64{ready}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, ready)
		_, _, err = f.b.Ack("q", 1, []uint64{a.ID, 999}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, 999)
		_, _, err = f.b.Ack("nosuch", 1, []uint64{a.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, a.ID)
		f.wantLen("q", queue.Counts{Ready: 1, InFlight: 2})
		f.ack("q", 1, a.ID)
		_, _, err = f.b.Ack("q", 1, []uint64{a.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, a.ID)
	})
	t.Run("edge: a repeated id is acked once", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		n, idx, err := f.b.Ack("q", 1, []uint64{j.ID, j.ID}, nil)
		f.wait(idx, err)
		if n != 1 {
			t.Fatalf("acked %d", n)
		}
	})
	t.Run("edge: a long id list with repeats acks each job once, in one record", func(t *testing.T) {
		f := newFixture(t)
		// Longer than the lists searched by scanning: the set path.
		const jobs = 1000
		f.push("q", queue.PushOptions{}, make([]string, jobs)...)
		taken := f.pop("q", 1, jobs)
		ids := make([]uint64, 0, 2*jobs)
		for _, j := range taken {
			ids = append(ids, j.ID, taken[0].ID)
		}
		before := f.b.Stats().LogRecords
		n, idx, err := f.b.Ack("q", 1, ids, nil)
		f.wait(idx, err)
		if n != jobs {
			t.Fatalf("acked %d, want %d", n, jobs)
		}
		if records := f.b.Stats().LogRecords - before; records != 1 {
			t.Fatalf("the ack wrote %d records, want 1", records)
		}
		f.wantLen("q", queue.Counts{})
	})
	t.Run("edge: a long id list naming a job not held acks nothing", func(t *testing.T) {
		f := newFixture(t)
		const jobs = 100
		f.push("q", queue.PushOptions{}, make([]string, jobs)...)
		taken := f.pop("q", 1, jobs)
		ids := make([]uint64, 0, jobs+1)
		for _, j := range taken {
			ids = append(ids, j.ID, j.ID)
		}
		ids = append(ids, 999_999)
		_, _, err := f.b.Ack("q", 1, ids, nil)
		wantJobErr(t, err, queue.ErrNotHeld, 999_999)
		f.wantLen("q", queue.Counts{InFlight: jobs})
	})
	t.Run("edge: an ack after the visibility timeout is refused, never a double completion", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "visibility-timeout", "1000", "backoff-delay", "0")
		f.push1("q", "a")
		first := f.pop1("q", 1)
		f.clock.Advance(time.Second)
		_, _, err := f.b.Ack("q", 1, []uint64{first.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, first.ID)
		second := f.pop1("q", 2)
		if second.ID != first.ID || second.Attempt != 2 {
			t.Fatalf("redelivery %+v", second)
		}
		_, _, err = f.b.Ack("q", 1, []uint64{first.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, first.ID)
		f.ack("q", 2, second.ID)
	})
	t.Run("restart: acked jobs stay gone", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b")
		f.ack("q", 1, f.pop1("q", 1).ID)
		f.reopen()
		wantStrings(t, "after restart", f.drain("q", 1), []string{"b"})
	})
}

// ackResult acks one job with a result and waits for it.
func (f *fixture) ackResult(name string, consumer int64, id uint64, result string) {
	f.t.Helper()
	var r []byte
	if result != "" {
		r = []byte(result)
	}
	if n := f.waitN(f.b.Ack(name, consumer, []uint64{id}, r)); n != 1 {
		f.t.Fatalf("ack %d: acked %d", id, n)
	}
}

// wantCompleted checks a completed job by id: its result ("" for none) and
// completion time.
func (f *fixture) wantCompleted(name string, id uint64, result string, at time.Time) {
	f.t.Helper()
	in, ok := f.job(name, id)
	if !ok || in.State != queue.Completed || string(in.Result) != result || (result == "") != (in.Result == nil) ||
		!in.Due.Equal(at) {
		f.t.Fatalf("job %d: found %v, %+v; want completed at %v with result %q", id, ok, in, at, result)
	}
}

func TestCompleted(t *testing.T) {
	t.Run("with keep-completed, acked jobs stay completed with their results, the newest kept", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "keep-completed", "2")
		ids := f.push("q", queue.PushOptions{}, "a", "b", "c")
		jobs := f.pop("q", 1, 3)
		f.ackResult("q", 1, jobs[0].ID, "ra")
		acked := f.clock.Now()
		f.ackResult("q", 1, jobs[1].ID, "rb")
		f.clock.Advance(time.Second)
		f.ackResult("q", 1, jobs[2].ID, "")
		f.wantLen("q", queue.Counts{Completed: 2})
		if _, ok := f.job("q", ids[0]); ok {
			t.Fatal("the oldest completed job is still found past keep-completed")
		}
		f.wantCompleted("q", ids[1], "rb", acked)
		f.wantCompleted("q", ids[2], "", acked.Add(time.Second))
		listed := f.jobs("q", queue.Completed, 0)
		if len(listed) != 2 || listed[0].ID != ids[1] || string(listed[0].Result) != "rb" || listed[1].ID != ids[2] {
			t.Fatalf("Jobs(completed) = %+v", listed)
		}
		if st := f.b.Stats(); st.Acked != 3 || st.Completed != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("without keep-completed, an ack with a result removes the job; its completed event carries the result", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "events", "yes")
		l := newEventLog(f.b)
		id := f.push1("q", "a")
		f.pop1("q", 1)
		l.take()
		f.ackResult("q", 1, id, `{"sent":true}`)
		f.wantLen("q", queue.Counts{})
		if _, ok := f.job("q", id); ok {
			t.Fatal("an acked job is found without keep-completed")
		}
		events := l.take()
		if len(events) != 1 || events[0].Kind != queue.EventCompleted || string(events[0].Result) != `{"sent":true}` {
			t.Fatalf("events %+v", events)
		}
	})
	t.Run("a completed job's deduplication id is free again", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "keep-completed", "10")
		first := f.push("q", queue.PushOptions{Dedup: "order-1"}, "a")[0]
		f.ackResult("q", 1, f.pop1("q", 1).ID, "done")
		if again := f.push("q", queue.PushOptions{Dedup: "order-1"}, "a")[0]; again == first {
			t.Fatalf("push after completion returned the completed job %d", first)
		}
		in, _ := f.job("q", first)
		if in.State != queue.Completed || in.Dedup != "order-1" {
			t.Fatalf("completed job %+v", in)
		}
	})
	t.Run("keep-completed-age drops a completed job that long after its completion", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "keep-completed", "10", "keep-completed-age", "1000")
		ids := f.push("q", queue.PushOptions{}, "a", "b")
		jobs := f.pop("q", 1, 2)
		f.ackResult("q", 1, jobs[0].ID, "ra")
		first := f.clock.Now()
		f.clock.Advance(500 * time.Millisecond)
		f.ackResult("q", 1, jobs[1].ID, "rb")
		f.clock.Advance(499 * time.Millisecond)
		f.wantCompleted("q", ids[0], "ra", first)
		f.clock.Advance(time.Millisecond)
		if _, ok := f.job("q", ids[0]); ok {
			t.Fatal("a completed job outlived keep-completed-age")
		}
		f.wantCompleted("q", ids[1], "rb", first.Add(500*time.Millisecond))
		f.clock.Advance(500 * time.Millisecond)
		f.wantLen("q", queue.Counts{})
	})
	t.Run("the timer drops an aged completed job without any call", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.Now = time.Now })
		f.configure("q", "keep-completed", "10", "keep-completed-age", strconv.Itoa(int(timerVisibility.Milliseconds())))
		id := f.push1("q", "a")
		f.pop1("q", 1)
		f.ackResult("q", 1, id, "r")
		if st := f.b.Stats(); st.Completed != 1 {
			t.Fatalf("completed %d right after the ack", st.Completed)
		}
		time.Sleep(timerVisibility + timerMargin)
		if st := f.b.Stats(); st.Completed != 0 {
			t.Fatalf("completed %d past keep-completed-age", st.Completed)
		}
	})
	t.Run("edge: lowering keep-completed drops the oldest at once; 0 drops them all", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "keep-completed", "3")
		ids := f.push("q", queue.PushOptions{}, "a", "b", "c")
		for _, j := range f.pop("q", 1, 3) {
			f.ackResult("q", 1, j.ID, "r")
		}
		f.configure("q", "keep-completed", "1")
		f.wantLen("q", queue.Counts{Completed: 1})
		f.wantCompleted("q", ids[2], "r", f.clock.Now())
		f.configure("q", "keep-completed", "0")
		f.wantLen("q", queue.Counts{})
	})
	t.Run("edge: an empty result is none; a result over the payload limit is refused and acks nothing", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.MaxPayload = 4 })
		f.configure("q", "keep-completed", "1")
		id := f.push1("q", "a")
		f.pop1("q", 1)
		if _, _, err := f.b.Ack("q", 1, []uint64{id}, []byte("12345")); !errors.Is(err, queue.ErrPayloadTooBig) {
			t.Fatalf("ack with an oversized result: %v", err)
		}
		f.wantLen("q", queue.Counts{InFlight: 1})
		if n := f.waitN(f.b.Ack("q", 1, []uint64{id}, []byte{})); n != 1 {
			t.Fatalf("acked %d", n)
		}
		f.wantCompleted("q", id, "", f.clock.Now())
	})
	t.Run("race: consumers ack with results while keep-completed bounds the completed jobs", func(t *testing.T) {
		const consumers, perConsumer, keep = 8, 50, 10
		f := newFixture(t)
		f.configure("q", "keep-completed", strconv.Itoa(keep))
		payloads := make([]string, consumers*perConsumer)
		for i := range payloads {
			payloads[i] = strconv.Itoa(i)
		}
		f.push("q", queue.PushOptions{}, payloads...)
		var wg sync.WaitGroup
		for c := range consumers {
			wg.Go(func() {
				for range perConsumer {
					jobs, _, err := f.b.Pop("q", int64(c), queue.PopOptions{Count: 1})
					if err != nil || len(jobs) != 1 {
						t.Errorf("pop: %v, %d jobs", err, len(jobs))
						return
					}
					if _, idx, err := f.b.Ack("q", int64(c), []uint64{jobs[0].ID}, jobs[0].Payload); err != nil || f.b.Wait(idx) != nil {
						t.Errorf("ack: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		f.wantLen("q", queue.Counts{Completed: keep})
		listed := f.jobs("q", queue.Completed, 0)
		for _, in := range listed {
			if string(in.Result) != string(in.Payload) {
				t.Fatalf("job %d: result %q, payload %q", in.ID, in.Result, in.Payload)
			}
		}
	})
	t.Run("restart: completed jobs and their results survive restarts and compaction", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "keep-completed", "2")
		ids := f.push("q", queue.PushOptions{}, "a", "b", "c")
		at := f.clock.Now()
		for k, j := range f.pop("q", 1, 3) {
			f.ackResult("q", 1, j.ID, fmt.Sprintf("r%d", k))
		}
		f.reopen()
		f.wantLen("q", queue.Counts{Completed: 2})
		f.wantCompleted("q", ids[1], "r1", at)
		f.wantCompleted("q", ids[2], "r2", at)
		if err := f.b.Compact(); err != nil {
			t.Fatal(err)
		}
		f.reopen()
		f.wantLen("q", queue.Counts{Completed: 2})
		f.wantCompleted("q", ids[1], "r1", at)
		f.wantCompleted("q", ids[2], "r2", at)
		if _, ok := f.job("q", ids[0]); ok {
			t.Fatal("a completed job dropped past the bound came back")
		}
		f.configure("q", "keep-completed-age", "60000")
		f.clock.Advance(time.Minute)
		f.reopen()
		f.wantLen("q", queue.Counts{})
	})
}

func TestLookupCancelPromote(t *testing.T) {
	t.Run("a job is found by id in every state", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		ready := f.push1("q", "ready")
		delayed := f.push("q", queue.PushOptions{Delay: time.Minute}, "delayed")[0]
		taken := f.pop1("q", 1)
		f.push1("q", "dies")
		dead := f.pop1("q", 1)
		f.nack("q", 1, dead.ID, queue.NackOptions{Message: "boom"})
		for id, want := range map[uint64]queue.State{delayed: queue.Delayed, taken.ID: queue.InFlight, dead.ID: queue.Dead} {
			j, ok := f.job("q", id)
			if !ok || j.ID != id || j.State != want {
				t.Fatalf("job %d: %+v %v, want state %v", id, j, ok, want)
			}
		}
		if taken.ID != ready {
			t.Fatalf("took %d, want %d", taken.ID, ready)
		}
		if j, _ := f.job("q", dead.ID); j.FailureCount != 1 || j.Failures[0].Message != "boom" {
			t.Fatalf("dead letter %+v", j)
		}
		f.ack("q", 1, taken.ID)
		if _, ok := f.job("q", taken.ID); ok {
			t.Fatal("an acked job is still found")
		}
	})
	t.Run("cancel removes waiting jobs, ready and delayed", func(t *testing.T) {
		f := newFixture(t)
		ids := f.push("q", queue.PushOptions{}, "a", "b", "c")
		later := f.push("q", queue.PushOptions{Delay: time.Minute, Dedup: "d"}, "later")[0]
		n := f.waitN(f.b.Cancel("q", []uint64{ids[1], later}))
		if n != 2 {
			t.Fatalf("cancelled %d", n)
		}
		f.wantLen("q", queue.Counts{Ready: 2})
		wantStrings(t, "left", f.drain("q", 1), []string{"a", "c"})
		if again := f.push("q", queue.PushOptions{Dedup: "d"}, "again")[0]; again == later {
			t.Fatal("a cancelled job's deduplication id still answers")
		}
		if st := f.b.Stats(); st.Cancelled != 2 {
			t.Fatalf("cancelled counter %d", st.Cancelled)
		}
	})
	t.Run("promote makes delayed jobs ready at once, behind the ready jobs", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "backoff-delay", "60000")
		later := f.push("q", queue.PushOptions{Delay: time.Minute}, "later")[0]
		f.push1("q", "first")
		retry := f.pop1("q", 1)
		f.nack("q", 1, retry.ID, queue.NackOptions{})
		f.push1("q", "second")
		f.clock.Advance(time.Millisecond)
		if n := f.waitN(f.b.Promote("q", []uint64{later, retry.ID, later})); n != 2 {
			t.Fatalf("promoted %d", n)
		}
		wantStrings(t, "order", f.drain("q", 1), []string{"second", "later", "first"})
		_, _, err := f.b.Promote("q", []uint64{later})
		wantJobErr(t, err, queue.ErrNotDelayed, later)
	})
	t.Run("edge: a delayed job that became due is found ready", func(t *testing.T) {
		f := newFixture(t)
		id := f.push("q", queue.PushOptions{Delay: time.Second}, "a")[0]
		f.clock.Advance(time.Second)
		if j, ok := f.job("q", id); !ok || j.State != queue.Ready {
			t.Fatalf("job %+v %v", j, ok)
		}
	})
	t.Run("edge: once looked up, a queue's lookups stay exact through pushes, takes, acks, delays and purges", func(t *testing.T) {
		f := newFixture(t)
		first := f.push1("q", "first")
		if _, ok := f.job("q", first); !ok {
			t.Fatal("first job not found")
		}
		later := f.push("q", queue.PushOptions{Delay: time.Second}, "later")[0]
		taken := f.pop1("q", 1)
		f.ack("q", 1, taken.ID)
		f.clock.Advance(time.Second)
		purged := f.push1("q", "purged")
		want := map[uint64]bool{first: false, later: true, purged: true}
		for id, found := range want {
			if j, ok := f.job("q", id); ok != found || (ok && j.State != queue.Ready) {
				t.Fatalf("job %d: %+v found %v, want found %v", id, j, ok, found)
			}
		}
		f.waitN(f.b.Purge("q"))
		for id := range want {
			if j, ok := f.job("q", id); ok {
				t.Fatalf("job %d found after purge: %+v", id, j)
			}
		}
	})
	t.Run("edge: unknown ids and queues find nothing", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		for _, c := range []struct {
			queue string
			id    uint64
		}{{"q", 999}, {"nosuch", 1}} {
			if j, ok := f.job(c.queue, c.id); ok {
				t.Fatalf("%s %d found %+v", c.queue, c.id, j)
			}
		}
	})
	t.Run("edge: an id not waiting (in flight, dead, unknown) refuses the whole cancel", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		ids := f.push("q", queue.PushOptions{}, "held", "dies", "waits")
		held := f.pop1("q", 1)
		dead := f.pop1("q", 1)
		f.nack("q", 1, dead.ID, queue.NackOptions{})
		for _, bad := range []uint64{held.ID, dead.ID, 999} {
			_, _, err := f.b.Cancel("q", []uint64{ids[2], bad})
			wantJobErr(t, err, queue.ErrNotWaiting, bad)
		}
		_, _, err := f.b.Cancel("nosuch", []uint64{ids[2]})
		wantJobErr(t, err, queue.ErrNotWaiting, ids[2])
		f.wantLen("q", queue.Counts{Ready: 1, InFlight: 1, Dead: 1})
		f.ack("q", 1, held.ID)
	})
	t.Run("edge: a repeated id is cancelled once", func(t *testing.T) {
		f := newFixture(t)
		id := f.push1("q", "a")
		if n := f.waitN(f.b.Cancel("q", []uint64{id, id})); n != 1 {
			t.Fatalf("cancelled %d", n)
		}
	})
	t.Run("race: a cancel and a take of the same job: exactly one wins", func(t *testing.T) {
		f := newFixture(t)
		const jobs = 200
		ids := f.push("q", queue.PushOptions{}, make([]string, jobs)...)
		var wg sync.WaitGroup
		var cancelled, taken atomic.Int64
		wg.Add(2)
		go func() {
			defer wg.Done()
			for _, id := range ids {
				if n, _, err := f.b.Cancel("q", []uint64{id}); err == nil {
					cancelled.Add(int64(n))
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range jobs {
				got, _, err := f.b.Pop("q", 1, queue.PopOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				taken.Add(int64(len(got)))
			}
		}()
		wg.Wait()
		if cancelled.Load()+taken.Load() != jobs {
			t.Fatalf("cancelled %d + taken %d != %d", cancelled.Load(), taken.Load(), jobs)
		}
	})
	t.Run("restart: cancelled jobs stay gone, promoted ones ready; the others are found by id", func(t *testing.T) {
		f := newFixture(t)
		ids := f.push("q", queue.PushOptions{}, "a", "b")
		f.waitN(f.b.Cancel("q", ids[:1]))
		taken := f.pop1("q", 1)
		f.reopen()
		if _, ok := f.job("q", ids[0]); ok {
			t.Fatal("a cancelled job came back")
		}
		later := f.push("q", queue.PushOptions{Delay: time.Hour}, "later")[0]
		f.waitN(f.b.Promote("q", []uint64{later}))
		f.reopen()
		if j, ok := f.job("q", later); !ok || j.State != queue.Ready {
			t.Fatalf("a promoted job after a restart: %+v %v", j, ok)
		}
		if j, ok := f.job("q", taken.ID); !ok || j.State != queue.Ready || j.Attempt != 1 {
			t.Fatalf("job in flight at the restart: %+v %v", j, ok)
		}
	})
}

func TestProgress(t *testing.T) {
	t.Run("the holder's progress shows with the job until it leaves flight", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "backoff-delay", "0")
		f.push("q", queue.PushOptions{}, "a", "b")
		a, b := f.pop1("q", 1), f.pop1("q", 1)
		for _, j := range []queue.Job{a, b} {
			if err := f.b.Progress("q", 1, j.ID, []byte(`{"pct":50}`)); err != nil {
				t.Fatal(err)
			}
		}
		if j, _ := f.job("q", a.ID); string(j.Progress) != `{"pct":50}` {
			t.Fatalf("progress %q", j.Progress)
		}
		f.ack("q", 1, a.ID)
		f.nack("q", 1, b.ID, queue.NackOptions{})
		if j, ok := f.job("q", b.ID); !ok || j.State != queue.Ready || j.Progress != nil {
			t.Fatalf("a failed job keeps no progress: %+v", j)
		}
	})
	t.Run("progress is an event of a queue with events on", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "events", "yes")
		f.push1("q", "a")
		j := f.pop1("q", 1)
		l := newEventLog(f.b)
		if err := f.b.Progress("q", 1, j.ID, []byte("3/4")); err != nil {
			t.Fatal(err)
		}
		if es := l.take(); len(es) != 1 || es[0].Kind != queue.EventProgress || string(es[0].Progress) != "3/4" || es[0].Attempt != 1 {
			t.Fatalf("events %+v", es)
		}
	})
	t.Run("edge: progress of a job not held, or too long, is refused", func(t *testing.T) {
		f := newFixture(t)
		id := f.push1("q", "a")
		wantJobErr(t, f.b.Progress("q", 1, id, []byte("x")), queue.ErrNotHeld, id)
		f.pop1("q", 1)
		wantJobErr(t, f.b.Progress("q", 2, id, []byte("x")), queue.ErrNotHeld, id)
		wantJobErr(t, f.b.Progress("nosuch", 1, id, []byte("x")), queue.ErrNotHeld, id)
		wantErr(t, f.b.Progress("q", 1, id, make([]byte, queue.MaxProgress+1)), queue.ErrTooLong)
		if j, _ := f.job("q", id); j.Progress != nil {
			t.Fatalf("refused progress kept: %q", j.Progress)
		}
	})
	t.Run("restart: a job in flight starts over, without its progress", func(t *testing.T) {
		f := newFixture(t)
		id := f.push1("q", "a")
		f.pop1("q", 1)
		if err := f.b.Progress("q", 1, id, []byte("half")); err != nil {
			t.Fatal(err)
		}
		f.reopen()
		if j, ok := f.job("q", id); !ok || j.State != queue.Ready || j.Progress != nil {
			t.Fatalf("after a restart: %+v", j)
		}
	})
}

func TestRetries(t *testing.T) {
	t.Run("a nack returns the job after the backoff with its error kept", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		if st := f.nack("q", 1, j.ID, queue.NackOptions{Message: "smtp timeout"}); st != queue.Delayed {
			t.Fatalf("state %v", st)
		}
		f.wantLen("q", queue.Counts{Delayed: 1})
		f.clock.Advance(backoffDelay - time.Millisecond)
		f.popNone("q", 1)
		f.clock.Advance(time.Millisecond)
		again := f.pop1("q", 1)
		if again.ID != j.ID || again.Attempt != 2 {
			t.Fatalf("retry %+v", again)
		}
		f.nack("q", 1, again.ID, queue.NackOptions{HasDelay: true, Delay: 0})
		in := f.peek("q", 1)[0]
		if in.FailureCount != 2 || len(in.Failures) != 2 || in.Failures[0].Message != "smtp timeout" ||
			in.Failures[0].Reason != queue.Nacked || in.Failures[0].Attempt != 1 || in.Failures[1].Attempt != 2 {
			t.Fatalf("history %+v", in)
		}
	})
	t.Run("a nack with a delay uses it instead of the backoff", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.nack("q", 1, j.ID, queue.NackOptions{HasDelay: true, Delay: 5 * time.Second})
		f.clock.Advance(5*time.Second - time.Millisecond)
		f.popNone("q", 1)
		f.clock.Advance(time.Millisecond)
		f.pop1("q", 1)
	})
	t.Run("exponential backoff doubles up to its cap and jitter shortens it", func(t *testing.T) {
		r := 0.0
		f := newFixture(t, func(c *queue.Config) { c.Rand = func() float64 { return r } })
		f.configure("q", "backoff", "exponential", "backoff-delay", "100", "backoff-max", "350", "max-attempts", "0")
		f.push1("q", "a")
		for _, want := range []time.Duration{100, 200, 350, 350} {
			j := f.pop1("q", 1)
			f.nack("q", 1, j.ID, queue.NackOptions{})
			f.clock.Advance(want*time.Millisecond - time.Millisecond)
			f.popNone("q", 1)
			f.clock.Advance(time.Millisecond)
			f.wantLen("q", queue.Counts{Ready: 1})
		}
		f.configure("q", "backoff-jitter", "0.5")
		r = 0.5
		j := f.pop1("q", 1)
		f.nack("q", 1, j.ID, queue.NackOptions{})
		// 350 ms reduced by 0.5 × 0.5 of itself, in whole milliseconds: 262.
		f.clock.Advance(261 * time.Millisecond)
		f.popNone("q", 1)
		f.clock.Advance(time.Millisecond)
		f.pop1("q", 1)
	})
	t.Run("edge: max attempts reached exactly makes a dead letter", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "3", "backoff-delay", "0")
		f.push1("q", "a")
		for attempt := 1; attempt <= 3; attempt++ {
			j := f.pop1("q", 1)
			if j.Attempt != attempt {
				t.Fatalf("attempt %d, want %d", j.Attempt, attempt)
			}
			want := queue.Ready
			if attempt == 3 {
				want = queue.Dead
			}
			if st := f.nack("q", 1, j.ID, queue.NackOptions{Message: "e" + strconv.Itoa(attempt)}); st != want {
				t.Fatalf("attempt %d: state %v, want %v", attempt, st, want)
			}
		}
		f.wantLen("q", queue.Counts{Dead: 1})
		if st := f.b.Stats(); st.DeadLettered != 1 || st.Nacked != 3 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("edge: unlimited attempts never make a dead letter", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "0", "backoff-delay", "0")
		f.push1("q", "a")
		for range 20 {
			f.nack("q", 1, f.pop1("q", 1).ID, queue.NackOptions{})
		}
		f.wantLen("q", queue.Counts{Ready: 1})
	})
	t.Run("edge: a nack of a job not held, or with a bad delay, changes nothing", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		_, _, err := f.b.Nack("q", 2, j.ID, queue.NackOptions{})
		wantJobErr(t, err, queue.ErrNotHeld, j.ID)
		_, _, err = f.b.Nack("q", 1, j.ID, queue.NackOptions{HasDelay: true, Delay: -time.Millisecond})
		wantErr(t, err, queue.ErrInvalidValue)
		_, _, err = f.b.Nack("q", 1, 12345, queue.NackOptions{})
		wantJobErr(t, err, queue.ErrNotHeld, 12345)
		f.wantLen("q", queue.Counts{InFlight: 1})
	})
	t.Run("restart: a nacked job keeps its due time, attempts and history", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.nack("q", 1, j.ID, queue.NackOptions{Message: "boom"})
		f.reopen()
		f.wantLen("q", queue.Counts{Delayed: 1})
		f.clock.Advance(backoffDelay)
		again := f.pop1("q", 1)
		if again.Attempt != 2 {
			t.Fatalf("attempt %d", again.Attempt)
		}
		f.nack("q", 1, again.ID, queue.NackOptions{HasDelay: true})
		if h := f.peek("q", 1)[0]; h.FailureCount != 2 || h.Failures[0].Message != "boom" {
			t.Fatalf("history %+v", h)
		}
	})
}

func TestVisibility(t *testing.T) {
	t.Run("a job not settled in time returns with the reason timeout", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "visibility-timeout", "2000")
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.clock.Advance(2*time.Second - time.Millisecond)
		f.wantLen("q", queue.Counts{InFlight: 1})
		f.clock.Advance(time.Millisecond)
		f.wantLen("q", queue.Counts{Delayed: 1})
		f.clock.Advance(backoffDelay)
		again := f.pop1("q", 2)
		if again.ID != j.ID || again.Attempt != 2 {
			t.Fatalf("redelivery %+v", again)
		}
		in := f.info("q")
		if in.Failed != 1 || f.b.Stats().TimedOut != 1 {
			t.Fatalf("info %+v", in)
		}
		f.nack("q", 2, again.ID, queue.NackOptions{HasDelay: true})
		if h := f.peek("q", 1)[0]; h.Failures[0].Reason != queue.TimedOut || h.Failures[1].Reason != queue.Nacked {
			t.Fatalf("history %+v", h.Failures)
		}
	})
	t.Run("touch extends the deadline", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j, idx, err := f.b.Pop("q", 1, queue.PopOptions{Visibility: time.Second})
		f.wait(idx, err)
		f.clock.Advance(900 * time.Millisecond)
		deadline, idx, err := f.b.Touch("q", 1, j[0].ID, 5*time.Second)
		f.wait(idx, err)
		if !deadline.Equal(f.clock.Now().Add(5 * time.Second)) {
			t.Fatalf("deadline %v", deadline)
		}
		f.clock.Advance(4 * time.Second)
		deadline, idx, err = f.b.Touch("q", 1, j[0].ID, 0)
		f.wait(idx, err)
		if !deadline.Equal(f.clock.Now().Add(time.Second)) {
			t.Fatalf("touch without a time reuses the pop's visibility: %v", deadline)
		}
		f.clock.Advance(time.Second - time.Millisecond)
		f.ack("q", 1, j[0].ID)
	})
	t.Run("the timer returns a timed-out job to a waiting consumer without any call", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.Now = time.Now })
		f.configure("q", "visibility-timeout", strconv.Itoa(int(timerVisibility.Milliseconds())), "backoff-delay", "0")
		f.push1("q", "a")
		first := f.pop1("q", 1)
		ctx, cancel := context.WithTimeout(context.Background(), timerVisibility+timerMargin)
		defer cancel()
		jobs, idx, err := f.b.PopWait(ctx, "q", 2, queue.PopOptions{})
		f.wait(idx, err)
		if len(jobs) != 1 || jobs[0].ID != first.ID || jobs[0].Attempt != 2 {
			t.Fatalf("the waiter got %+v", jobs)
		}
	})
	t.Run("edge: while the clock is frozen nothing times out, becomes due or fires", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "visibility-timeout", "1000", "backoff-delay", "0")
		f.push1("q", "held")
		f.pop1("q", 1)
		f.push("q", queue.PushOptions{Delay: time.Second}, "later")
		f.setRepeat("q", queue.Repeat{Name: "s", Every: time.Second, Payload: []byte("fired")})
		thaw := f.b.FreezeClock()
		f.clock.Advance(2 * time.Second)
		f.wantLen("q", queue.Counts{Delayed: 1, InFlight: 1})
		thaw()
		f.wantLen("q", queue.Counts{Ready: 3})
	})
	t.Run("edge: touch of a job not held, or with a bad time, is refused", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		_, _, err := f.b.Touch("q", 2, j.ID, time.Second)
		wantJobErr(t, err, queue.ErrNotHeld, j.ID)
		_, _, err = f.b.Touch("q", 1, j.ID, -time.Second)
		wantErr(t, err, queue.ErrInvalidValue)
		f.clock.Advance(queue.DefaultVisibility)
		_, _, err = f.b.Touch("q", 1, j.ID, time.Second)
		wantJobErr(t, err, queue.ErrNotHeld, j.ID)
	})
	t.Run("restart: a touched job in flight is ready after a restart", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		_, idx, err := f.b.Touch("q", 1, j.ID, time.Hour)
		f.wait(idx, err)
		f.reopen()
		if again := f.pop1("q", 2); again.ID != j.ID || again.Attempt != 2 {
			t.Fatalf("after restart %+v", again)
		}
	})
}

func TestWorkerGone(t *testing.T) {
	t.Run("a released consumer's jobs return at once as a failed attempt", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b")
		f.push1("other", "c")
		a, b, c := f.pop1("q", 1), f.pop1("q", 2), f.pop1("other", 1)
		if err := f.b.Release(1); err != nil {
			t.Fatal(err)
		}
		f.wantLen("q", queue.Counts{Delayed: 1, InFlight: 1})
		f.wantLen("other", queue.Counts{Delayed: 1})
		f.clock.Advance(backoffDelay)
		again := f.pop1("q", 3)
		if again.ID != a.ID || again.Attempt != 2 {
			t.Fatalf("redelivery %+v", again)
		}
		f.ack("q", 2, b.ID)
		_, _, err := f.b.Ack("other", 1, []uint64{c.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, c.ID)
		if st := f.b.Stats(); st.Released != 2 {
			t.Fatalf("released %d", st.Released)
		}
		f.nack("q", 3, again.ID, queue.NackOptions{HasDelay: true})
		if h := f.peek("q", 1)[0]; h.Failures[0].Reason != queue.WorkerGone {
			t.Fatalf("history %+v", h.Failures)
		}
	})
	t.Run("with release-on-disconnect off the jobs wait out their visibility", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "release-on-disconnect", "no", "visibility-timeout", "3000")
		f.push1("q", "a")
		f.pop1("q", 1)
		if err := f.b.Release(1); err != nil {
			t.Fatal(err)
		}
		f.wantLen("q", queue.Counts{InFlight: 1})
		f.clock.Advance(3 * time.Second)
		f.wantLen("q", queue.Counts{Delayed: 1})
	})
	t.Run("edge: releasing a consumer that holds nothing changes nothing", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		if err := f.b.Release(42); err != nil {
			t.Fatal(err)
		}
		j := f.pop1("q", 1)
		f.ack("q", 1, j.ID)
		if err := f.b.Release(1); err != nil {
			t.Fatal(err)
		}
		f.wantLen("q", queue.Counts{})
	})
	t.Run("edge: a failed attempt of a job on its last attempt makes a dead letter", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		f.push1("q", "a")
		f.pop1("q", 1)
		if err := f.b.Release(1); err != nil {
			t.Fatal(err)
		}
		f.wantLen("q", queue.Counts{Dead: 1})
	})
}

func TestDeadLetters(t *testing.T) {
	// kill pushes payloads and fails each once on a queue with one attempt.
	kill := func(f *fixture, name string, ps ...string) []uint64 {
		f.t.Helper()
		var ids []uint64
		for _, p := range ps {
			f.push1(name, p)
			j := f.pop1(name, 1)
			f.nack(name, 1, j.ID, queue.NackOptions{Message: "failed " + p})
			f.clock.Advance(time.Millisecond)
			ids = append(ids, j.ID)
		}
		return ids
	}
	t.Run("dead letters keep their history; list, requeue and purge", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		start := f.clock.Now()
		ids := kill(f, "q", "a", "b", "c", "d")
		dead := f.deadLetters("q", 0)
		if len(dead) != 4 || dead[0].ID != ids[0] || dead[0].State != queue.Dead || dead[0].Attempt != 1 ||
			dead[0].FailureCount != 1 || dead[0].Failures[0].Message != "failed a" || !dead[0].FirstFailure.Equal(start) ||
			!dead[0].Due.Equal(start) {
			t.Fatalf("dead letters %+v", dead)
		}
		if got := f.deadLetters("q", 2); len(got) != 2 || got[1].ID != ids[1] {
			t.Fatalf("first two %+v", got)
		}
		n, idx, err := f.b.Requeue("q", "q", []uint64{ids[1]})
		f.wait(idx, err)
		if n != 1 {
			t.Fatalf("requeued %d", n)
		}
		j := f.pop1("q", 1)
		if j.ID != ids[1] || j.Attempt != 1 {
			t.Fatalf("requeued job %+v", j)
		}
		n, idx, err = f.b.Requeue("q", "retry", nil)
		f.wait(idx, err)
		if n != 3 {
			t.Fatalf("requeued %d", n)
		}
		wantStrings(t, "moved to another queue", f.drain("retry", 1), []string{"a", "c", "d"})
		f.configure("q", "max-attempts", "5")
		kill(f, "q")
		f.configure("q", "max-attempts", "1")
		ids = kill(f, "q", "e", "f", "g")
		n, idx, err = f.b.PurgeDead("q", []uint64{ids[0]})
		f.wait(idx, err)
		if n != 1 {
			t.Fatalf("purged %d", n)
		}
		n, idx, err = f.b.PurgeDead("q", nil)
		f.wait(idx, err)
		if n != 2 || f.counts("q").Dead != 0 {
			t.Fatalf("purged %d, left %+v", n, f.counts("q"))
		}
	})
	t.Run("edge: the bound drops the oldest dead letters", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1", "dead-letter-max", "2")
		ids := kill(f, "q", "a", "b", "c")
		dead := f.deadLetters("q", 0)
		if len(dead) != 2 || dead[0].ID != ids[1] || dead[1].ID != ids[2] {
			t.Fatalf("dead letters %+v", dead)
		}
		f.configure("q", "dead-letter-max", "1")
		if dead := f.deadLetters("q", 0); len(dead) != 1 || dead[0].ID != ids[2] {
			t.Fatalf("after lowering the bound %+v", dead)
		}
		if st := f.b.Stats(); st.DeadDropped != 2 {
			t.Fatalf("dropped %d", st.DeadDropped)
		}
		f.configure("q", "dead-letter-max", "0")
		f.wantLen("q", queue.Counts{})
	})
	t.Run("edge: ids that are not dead letters refuse the whole call", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		ids := kill(f, "q", "a")
		ready := f.push1("q", "b")
		_, _, err := f.b.Requeue("q", "q", []uint64{ids[0], ready})
		wantJobErr(t, err, queue.ErrNotDead, ready)
		_, _, err = f.b.PurgeDead("q", []uint64{ids[0], 777})
		wantJobErr(t, err, queue.ErrNotDead, 777)
		_, _, err = f.b.Requeue("nosuch", "nosuch", []uint64{1})
		wantJobErr(t, err, queue.ErrNotDead, 1)
		f.wantLen("q", queue.Counts{Ready: 1, Dead: 1})
		if n, _, err := f.b.Requeue("empty", "empty", nil); n != 0 || err != nil {
			t.Fatalf("requeue of nothing: %d %v", n, err)
		}
	})
	t.Run("edge: a requeue that moves nothing leaves no target queue behind; an empty target name is refused", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		ids := kill(f, "q", "a")
		objects := queue.QueueObjects(f.b)
		_, _, err := f.b.Requeue("q", "target", []uint64{ids[0] + 1})
		wantJobErr(t, err, queue.ErrNotDead, ids[0]+1)
		f.waitN(f.b.Requeue("q", "q", nil))
		if n, _, err := f.b.Requeue("q", "target", nil); n != 0 || err != nil {
			t.Fatalf("requeue of no dead letter: %d %v", n, err)
		}
		if got := queue.QueueObjects(f.b); got != objects {
			t.Fatalf("%d queue objects after requeues that moved nothing, want %d", got, objects)
		}
		_, _, err = f.b.Requeue("q", "", nil)
		wantErr(t, err, queue.ErrInvalidName)
	})
	t.Run("edge: a requeued job whose deduplication id is taken loses it", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		first := f.push("q", queue.PushOptions{Dedup: "k"}, "first")[0]
		f.nack("q", 1, f.pop1("q", 1).ID, queue.NackOptions{})
		second := f.push("q", queue.PushOptions{Dedup: "k"}, "second")[0]
		f.waitN(f.b.Requeue("q", "q", nil))
		if id := f.push("q", queue.PushOptions{Dedup: "k"}, "third")[0]; id != second {
			t.Fatalf("dedup id went to %d, want %d", id, second)
		}
		f.wantLen("q", queue.Counts{Ready: 2})
		// It keeps its failure history.
		in, ok := f.job("q", first)
		if !ok || in.Dedup != "" || in.FailureCount != 1 || len(in.Failures) != 1 {
			t.Fatalf("requeued job %+v (found %v), want no dedup id and one failure", in, ok)
		}
	})
	t.Run("edge: a job's deduplication id and failure history leave with it", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		f.push("q", queue.PushOptions{Dedup: "a"}, "a")
		f.push("q", queue.PushOptions{Dedup: "b"}, "b")
		f.push1("q", "plain")
		wantExtras := func(name string, want int) {
			t.Helper()
			if n := queue.ExtraCount(f.b, name); n != want {
				t.Fatalf("%s holds %d jobs' extras, want %d", name, n, want)
			}
		}
		wantExtras("q", 2)
		f.ack("q", 1, f.pop1("q", 1).ID)
		f.nack("q", 1, f.pop1("q", 1).ID, queue.NackOptions{})
		f.ack("q", 1, f.pop1("q", 1).ID)
		wantExtras("q", 1) // the dead letter's id and history
		f.waitN(f.b.Requeue("q", "other", nil))
		wantExtras("q", 0)
		wantExtras("other", 1)
		f.ack("other", 1, f.pop1("other", 1).ID)
		wantExtras("other", 0)
	})
	t.Run("restart: dead letters survive with their history", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		ids := kill(f, "q", "a", "b")
		f.reopen()
		dead := f.deadLetters("q", 0)
		if len(dead) != 2 || dead[0].ID != ids[0] || dead[1].Failures[0].Message != "failed b" {
			t.Fatalf("dead letters %+v", dead)
		}
	})
}

func TestRateLimit(t *testing.T) {
	t.Run("at most rate-limit jobs per window, across consumers", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "rate-limit", "2", "rate-window", "1000")
		f.push("q", queue.PushOptions{}, "a", "b", "c", "d", "e")
		if jobs := f.pop("q", 1, 5); len(jobs) != 2 {
			t.Fatalf("first window handed out %d", len(jobs))
		}
		f.popNone("q", 2)
		f.clock.Advance(999 * time.Millisecond)
		f.popNone("q", 2)
		f.clock.Advance(time.Millisecond)
		if jobs := f.pop("q", 2, 1); len(jobs) != 1 || string(jobs[0].Payload) != "c" {
			t.Fatalf("second window %+v", jobs)
		}
		if jobs := f.pop("q", 1, 5); len(jobs) != 1 || string(jobs[0].Payload) != "d" {
			t.Fatalf("rest of the second window %+v", jobs)
		}
		f.popNone("q", 1)
		f.wantLen("q", queue.Counts{Ready: 1, InFlight: 4})
	})
	t.Run("a waiting consumer is served by the timer when the window ends", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.Now = time.Now })
		f.configure("q", "rate-limit", "1", "rate-window", strconv.Itoa(int(timerVisibility.Milliseconds())))
		f.push("q", queue.PushOptions{}, "a", "b")
		f.pop1("q", 1)
		ctx, cancel := context.WithTimeout(context.Background(), timerVisibility+timerMargin)
		defer cancel()
		jobs, idx, err := f.b.PopWait(ctx, "q", 2, queue.PopOptions{})
		f.wait(idx, err)
		if len(jobs) != 1 || string(jobs[0].Payload) != "b" {
			t.Fatalf("the waiter got %+v", jobs)
		}
	})
	t.Run("edge: a redelivery counts against the limit; lifting the limit serves at once", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "rate-limit", "1", "backoff-delay", "0")
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.nack("q", 1, j.ID, queue.NackOptions{})
		f.popNone("q", 1)
		f.configure("q", "rate-limit", "default")
		if again := f.pop1("q", 1); again.ID != j.ID || again.Attempt != 2 {
			t.Fatalf("redelivery %+v", again)
		}
	})
	t.Run("restart: the setting survives; a restart opens a new window", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "rate-limit", "1")
		f.push("q", queue.PushOptions{}, "a", "b")
		f.pop1("q", 1)
		f.popNone("q", 1)
		f.reopen()
		if jobs := f.pop("q", 1, 5); len(jobs) != 1 {
			t.Fatalf("after the restart: %d jobs, want the 1 of a new window", len(jobs))
		}
		f.popNone("q", 1)
	})
}

func TestMaxInFlight(t *testing.T) {
	t.Run("at most max-in-flight jobs are held at once, across consumers", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-in-flight", "2")
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		if jobs := f.pop("q", 1, 3); len(jobs) != 2 {
			t.Fatalf("took %d", len(jobs))
		}
		f.popNone("q", 2)
		f.wantLen("q", queue.Counts{Ready: 1, InFlight: 2})
	})
	t.Run("a waiting consumer is served when a job in flight is settled", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-in-flight", "1")
		f.push("q", queue.PushOptions{}, "a", "b")
		held := f.pop1("q", 1)
		got := make(chan []queue.Job, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
			defer cancel()
			jobs, _, err := f.b.PopWait(ctx, "q", 2, queue.PopOptions{})
			if err != nil {
				t.Error(err)
			}
			got <- jobs
		}()
		f.waitBlocked("q", 1)
		f.ack("q", 1, held.ID)
		if jobs := <-got; len(jobs) != 1 || string(jobs[0].Payload) != "b" {
			t.Fatalf("the waiter got %+v", jobs)
		}
	})
	t.Run("edge: a limit lowered below the jobs in flight hands out nothing until they settle", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		jobs := f.pop("q", 1, 2)
		f.configure("q", "max-in-flight", "1")
		f.popNone("q", 1)
		f.ack("q", 1, jobs[0].ID)
		f.popNone("q", 1)
		f.ack("q", 1, jobs[1].ID)
		f.pop1("q", 1)
	})
	t.Run("restart: the setting survives", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-in-flight", "1")
		f.push("q", queue.PushOptions{}, "a", "b")
		f.reopen()
		if jobs := f.pop("q", 1, 2); len(jobs) != 1 {
			t.Fatalf("took %d after a restart", len(jobs))
		}
	})
}

// eventLog records the events a broker's notifier is told.
type eventLog struct {
	mu     sync.Mutex
	events []queue.Event
}

func newEventLog(b *queue.Broker) *eventLog {
	l := &eventLog{}
	b.SetNotifier(func(e queue.Event) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	})
	return l
}

// take returns the events told so far and forgets them.
func (l *eventLog) take() []queue.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// want checks the events told so far, by kind, id and attempt, and forgets them.
func (l *eventLog) want(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	for _, e := range l.take() {
		got = append(got, fmt.Sprintf("%s %s %d/%d", e.Queue, e.Kind, e.ID, e.Attempt))
	}
	wantStrings(t, "events", got, want)
}

func TestEvents(t *testing.T) {
	t.Run("a queue with events on tells each step of its jobs' lives", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "events", "yes", "max-attempts", "2", "backoff-delay", "0")
		l := newEventLog(f.b)
		id := f.push1("q", "a")
		later := f.push("q", queue.PushOptions{Delay: time.Minute}, "b")[0]
		f.pop1("q", 1)
		f.nack("q", 1, id, queue.NackOptions{Message: "smtp down"})
		f.pop1("q", 1)
		f.nack("q", 1, id, queue.NackOptions{})
		f.waitN(f.b.Cancel("q", []uint64{later}))
		f.waitN(f.b.Requeue("q", "q", nil))
		f.ack("q", 1, f.pop1("q", 1).ID)
		l.want(t, fmt.Sprintf("q waiting %d/0", id), fmt.Sprintf("q delayed %d/0", later),
			fmt.Sprintf("q active %d/1", id), fmt.Sprintf("q failed %d/1", id),
			fmt.Sprintf("q active %d/2", id), fmt.Sprintf("q failed %d/2", id),
			fmt.Sprintf("q removed %d/0", later), fmt.Sprintf("q waiting %d/0", id),
			fmt.Sprintf("q active %d/1", id), fmt.Sprintf("q completed %d/1", id))
	})
	t.Run("a failed event carries its reason, the error and whether the job is dead", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "events", "yes", "max-attempts", "2", "visibility-timeout", "1000", "backoff-delay", "0")
		l := newEventLog(f.b)
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.nack("q", 1, j.ID, queue.NackOptions{Message: "boom"})
		f.pop1("q", 1)
		f.clock.Advance(time.Second)
		f.wantLen("q", queue.Counts{Dead: 1})
		var failed []queue.Event
		for _, e := range l.take() {
			if e.Kind == queue.EventFailed {
				failed = append(failed, e)
			}
		}
		if len(failed) != 2 || failed[0].Reason != queue.Nacked || failed[0].Error != "boom" || failed[0].Dead ||
			failed[1].Reason != queue.TimedOut || !failed[1].Dead {
			t.Fatalf("failed events %+v", failed)
		}
	})
	t.Run("repeatable jobs tell waiting as they fire", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "events", "yes")
		l := newEventLog(f.b)
		f.setRepeat("q", queue.Repeat{Name: "s", Every: time.Second, Payload: []byte("x")})
		f.clock.Advance(time.Second)
		jobs := f.peek("q", 1)
		l.want(t, fmt.Sprintf("q waiting %d/0", jobs[0].ID))
	})
	t.Run("edge: a queue with events off tells nothing; nor do purge and delete", func(t *testing.T) {
		f := newFixture(t)
		l := newEventLog(f.b)
		f.push1("q", "a")
		f.ack("q", 1, f.pop1("q", 1).ID)
		l.want(t)
		f.configure("q", "events", "yes")
		f.push("q", queue.PushOptions{}, "b", "c")
		l.take()
		f.waitN(f.b.Purge("q"))
		f.waitOK(f.b.Delete("q"))
		l.want(t)
	})
	t.Run("race: each job's events come in the order of its life", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "events", "yes")
		l := newEventLog(f.b)
		parallel(4, func(g int) {
			for range eventRounds {
				ids, _, err := f.b.Push("q", bs("x"), queue.PushOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				jobs, _, err := f.b.Pop("q", int64(g), queue.PopOptions{})
				if err != nil || len(jobs) != 1 {
					t.Error(ids, jobs, err)
					return
				}
				if _, _, err := f.b.Ack("q", int64(g), []uint64{jobs[0].ID}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
		next := map[uint64]queue.EventKind{}
		order := map[queue.EventKind]queue.EventKind{queue.EventWaiting: queue.EventActive, queue.EventActive: queue.EventCompleted}
		for _, e := range l.take() {
			if want, seen := next[e.ID]; (seen && e.Kind != want) || (!seen && e.Kind != queue.EventWaiting) {
				t.Fatalf("job %d: %s out of order", e.ID, e.Kind)
			}
			next[e.ID] = order[e.Kind]
		}
		if len(next) != 4*eventRounds {
			t.Fatalf("%d jobs told, want %d", len(next), 4*eventRounds)
		}
	})
}

// setRepeat sets a schedule and waits for its record.
func (f *fixture) setRepeat(name string, r queue.Repeat) {
	f.t.Helper()
	idx, err := f.b.SetRepeat(name, r)
	f.wait(idx, err)
}

// nextFire is the next fire time of the queue's only schedule.
func (f *fixture) nextFire(name string) time.Time {
	f.t.Helper()
	rs := f.repeats(name)
	if len(rs) != 1 {
		f.t.Fatalf("schedules of %s: %+v", name, rs)
	}
	return rs[0].Next
}

// clockAt moves the fixture's clock to t, which must not be in its past.
func (f *fixture) clockAt(t time.Time) {
	f.clock.Advance(t.Sub(f.clock.Now()))
}

func TestRepeat(t *testing.T) {
	t.Run("an interval schedule pushes its payload at each multiple of the interval", func(t *testing.T) {
		f := newFixture(t)
		f.setRepeat("q", queue.Repeat{Name: "tick", Every: time.Second, Priority: 3, Payload: []byte("ping")})
		first := f.nextFire("q")
		if first.UnixMilli()%1000 != 0 || !first.After(f.clock.Now()) || first.Sub(f.clock.Now()) > time.Second {
			t.Fatalf("first fire %v at %v", first, f.clock.Now())
		}
		f.clockAt(first)
		f.wantLen("q", queue.Counts{Ready: 1})
		f.clock.Advance(time.Second)
		jobs := f.pop("q", 1, 2)
		if len(jobs) != 2 || string(jobs[0].Payload) != "ping" || jobs[0].Priority != 3 || jobs[0].ID >= jobs[1].ID {
			t.Fatalf("fired jobs %+v", jobs)
		}
		if next := f.nextFire("q"); !next.Equal(first.Add(2 * time.Second)) {
			t.Fatalf("next fire %v, want %v", next, first.Add(2*time.Second))
		}
		if st := f.b.Stats(); st.Repeated != 2 || st.Pushed != 2 {
			t.Fatalf("stats %+v", st)
		}
		if in := f.info("q"); in.Repeats != 1 || in.Pushed != 2 {
			t.Fatalf("info %+v", in)
		}
	})
	t.Run("a cron schedule fires at the times its expression names, in UTC", func(t *testing.T) {
		from := time.Date(2026, 11, 27, 10, 15, 30, 0, time.UTC) // a Friday
		for _, c := range []struct{ cron, want string }{
			{"*/15 * * * *", "2026-11-27T10:30:00Z"},
			{"0 9 * * mon-fri", "2026-11-30T09:00:00Z"},
			{"0 0 1 1 *", "2027-01-01T00:00:00Z"},
			{"@hourly", "2026-11-27T11:00:00Z"},
			{"30 * * * * *", "2026-11-27T10:16:30Z"},
			{"0 12 13 * 5", "2026-11-27T12:00:00Z"},
			{"0 12 13 * *", "2026-12-13T12:00:00Z"},
			{"0 0 29 2 *", "2028-02-29T00:00:00Z"},
			{"5,10-12/2 3 * DEC 0", "2026-12-06T03:05:00Z"},
			{"0 0 * * 7", "2026-11-29T00:00:00Z"},
			// Both day fields restricted: a day matching either fires.
			// Whether a field is restricted is read from its set, as
			// cron-parser does: "*/2" is, "1-31" and "0-6" are not.
			{"0 0 */2 * 1", "2026-11-29T00:00:00Z"},
			{"0 0 1/2 * 1", "2026-11-29T00:00:00Z"},
			{"0 0 1-31 * 1", "2026-11-30T00:00:00Z"},
			{"0 0 1 * 0-6", "2026-12-01T00:00:00Z"},
		} {
			f := newFixture(t)
			f.clockAt(from)
			f.setRepeat("q", queue.Repeat{Name: "c", Cron: c.cron, Payload: []byte("x")})
			if got := f.nextFire("q").UTC().Format(time.RFC3339); got != c.want {
				t.Fatalf("%q after %v: %s, want %s", c.cron, from, got, c.want)
			}
			f.clockAt(f.nextFire("q"))
			f.wantLen("q", queue.Counts{Ready: 1})
		}
	})
	t.Run("a cron schedule with a time zone fires at its local times, across DST changes", func(t *testing.T) {
		for _, c := range []struct{ tz, cron, from, want string }{
			// 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
			{"Europe/Paris", "0 9 * * *", "2026-01-10T12:00:00Z", "2026-01-11T08:00:00Z"},
			{"Europe/Paris", "0 9 * * *", "2026-07-10T12:00:00Z", "2026-07-11T07:00:00Z"},
			// 02:30 does not exist on 29 March in Paris: that day does not fire.
			{"Europe/Paris", "30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"},
			// 02:30 happens twice on 25 October: it fires at the first.
			{"Europe/Paris", "30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
			{"Asia/Kolkata", "0 * * * *", "2026-01-10T12:00:00Z", "2026-01-10T12:30:00Z"},
			{"America/New_York", "0 0 1 * *", "2026-11-27T12:00:00Z", "2026-12-01T05:00:00Z"},
		} {
			f := newFixture(t)
			from, _ := time.Parse(time.RFC3339, c.from)
			f.clockAt(from)
			f.setRepeat("q", queue.Repeat{Name: "c", Cron: c.cron, TZ: c.tz, Payload: []byte("x")})
			if got := f.nextFire("q").UTC().Format(time.RFC3339); got != c.want {
				t.Fatalf("%q in %s after %s: %s, want %s", c.cron, c.tz, c.from, got, c.want)
			}
		}
		f := newFixture(t)
		from, _ := time.Parse(time.RFC3339, "2026-10-24T12:00:00Z")
		f.clockAt(from)
		f.setRepeat("q", queue.Repeat{Name: "c", Cron: "30 2 * * *", TZ: "Europe/Paris", Payload: []byte("x")})
		f.clockAt(f.nextFire("q"))
		f.wantLen("q", queue.Counts{Ready: 1})
		if next := f.nextFire("q").UTC().Format(time.RFC3339); next != "2026-10-26T01:30:00Z" {
			t.Fatalf("after the repeated 02:30: %s", next)
		}
	})
	t.Run("the timer fires a schedule without any call", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.Now = time.Now })
		f.setRepeat("q", queue.Repeat{Name: "tick", Every: timerVisibility, Payload: []byte("x")})
		ctx, cancel := context.WithTimeout(context.Background(), timerVisibility+timerMargin)
		defer cancel()
		jobs, idx, err := f.b.PopWait(ctx, "q", 1, queue.PopOptions{})
		f.wait(idx, err)
		if len(jobs) != 1 || string(jobs[0].Payload) != "x" {
			t.Fatalf("the waiter got %+v", jobs)
		}
	})
	t.Run("a deleted schedule fires no more; the jobs it pushed stay", func(t *testing.T) {
		f := newFixture(t)
		f.setRepeat("q", queue.Repeat{Name: "a", Every: time.Second, Payload: []byte("a")})
		f.setRepeat("q", queue.Repeat{Name: "b", Every: time.Second, Payload: []byte("b")})
		f.clock.Advance(time.Second)
		if n := f.waitN(f.b.DeleteRepeats("q", []string{"a", "a", "nosuch"})); n != 1 {
			t.Fatalf("deleted %d", n)
		}
		f.clock.Advance(time.Second)
		wantStrings(t, "jobs", f.drain("q", 1), []string{"a", "b", "b"})
		if rs := f.repeats("q"); len(rs) != 1 || rs[0].Name != "b" {
			t.Fatalf("schedules %+v", rs)
		}
		if n, _, err := f.b.DeleteRepeats("nosuch", []string{"b"}); n != 0 || err != nil {
			t.Fatalf("delete of an unknown queue: %d %v", n, err)
		}
	})
	t.Run("edge: a schedule set again is replaced, not doubled", func(t *testing.T) {
		f := newFixture(t)
		f.setRepeat("q", queue.Repeat{Name: "s", Every: time.Second, Payload: []byte("old")})
		f.setRepeat("q", queue.Repeat{Name: "s", Cron: "@daily", Payload: []byte("new")})
		rs := f.repeats("q")
		if len(rs) != 1 || rs[0].Cron != "@daily" || rs[0].Every != 0 || string(rs[0].Payload) != "new" {
			t.Fatalf("schedules %+v", rs)
		}
		f.clock.Advance(time.Second)
		f.wantLen("q", queue.Counts{})
	})
	t.Run("edge: fire times missed meanwhile are not made up: one job, then the next fire time", func(t *testing.T) {
		f := newFixture(t)
		f.setRepeat("q", queue.Repeat{Name: "s", Every: time.Second, Payload: []byte("x")})
		f.clock.Advance(10 * time.Second)
		f.wantLen("q", queue.Counts{Ready: 1})
		if next := f.nextFire("q"); !next.After(f.clock.Now()) || next.Sub(f.clock.Now()) > time.Second {
			t.Fatalf("next fire %v at %v", next, f.clock.Now())
		}
	})
	t.Run("edge: bad schedules are refused and change nothing", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.MaxPayload = 4 })
		for _, r := range []queue.Repeat{
			{Name: "", Every: time.Second},
			{Name: "s"},
			{Name: "s", Every: time.Second, Cron: "* * * * *"},
			{Name: "s", Every: -time.Second},
			{Name: "s", Every: time.Microsecond},
			{Name: "s", Every: queue.MaxDuration + time.Millisecond},
			{Name: "s", Cron: "* * * *"},
			{Name: "s", Cron: "60 * * * *"},
			{Name: "s", Cron: "* * * foo *"},
			{Name: "s", Cron: "*/0 * * * *"},
			{Name: "s", Cron: "5-1 * * * *"},
			{Name: "s", Cron: "0 0 30 2 *"},
			{Name: "s", Cron: "* * * * *", TZ: "Mars/Olympus"},
			{Name: "s", Cron: "* * * * *", TZ: "Local"},
			{Name: "s", Every: time.Second, TZ: "Europe/Paris"},
		} {
			_, err := f.b.SetRepeat("q", r)
			wantErr(t, err, queue.ErrInvalidValue)
		}
		_, err := f.b.SetRepeat("q", queue.Repeat{Name: "s", Every: time.Second, Payload: []byte("large")})
		wantErr(t, err, queue.ErrPayloadTooBig)
		_, err = f.b.SetRepeat("", queue.Repeat{Name: "s", Every: time.Second})
		wantErr(t, err, queue.ErrInvalidName)
		if rs := f.repeats("q"); len(rs) != 0 {
			t.Fatalf("schedules %+v", rs)
		}
	})
	t.Run("race: schedules set, fired, listed and deleted while jobs are pushed and taken", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.Now = time.Now })
		parallel(4, func(g int) {
			name := strconv.Itoa(g)
			for i := range scheduleRounds {
				if _, err := f.b.SetRepeat("q", queue.Repeat{Name: name, Every: time.Millisecond, Payload: []byte(name)}); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := f.b.Push("q", bs(name), queue.PushOptions{}); err != nil {
					t.Error(err)
					return
				}
				f.repeats("q")
				if _, _, err := f.b.Pop("q", int64(g), queue.PopOptions{Count: i}); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := f.b.DeleteRepeats("q", []string{name}); err != nil {
					t.Error(err)
					return
				}
			}
		})
		if rs := f.repeats("q"); len(rs) != 0 {
			t.Fatalf("schedules left %+v", rs)
		}
	})
	t.Run("restart: schedules and their next fire times survive restart and compaction; a fire missed while down pushes one job", func(t *testing.T) {
		f := newFixture(t)
		f.setRepeat("q", queue.Repeat{Name: "s", Every: time.Second, Priority: 2, Payload: []byte("x")})
		f.setRepeat("q", queue.Repeat{Name: "gone", Cron: "@daily", Payload: []byte("y")})
		f.waitN(f.b.DeleteRepeats("q", []string{"gone"}))
		f.clockAt(f.nextFire("q"))
		f.wantLen("q", queue.Counts{Ready: 1})
		next := f.nextFire("q")
		f.reopen()
		if got := f.nextFire("q"); !got.Equal(next) {
			t.Fatalf("next fire after restart %v, want %v", got, next)
		}
		if err := f.b.Compact(); err != nil {
			t.Fatal(err)
		}
		f.reopen()
		if rs := f.repeats("q"); len(rs) != 1 || rs[0].Name != "s" || rs[0].Priority != 2 || !rs[0].Next.Equal(next) {
			t.Fatalf("schedules after compaction and restart %+v", rs)
		}
		f.clock.Advance(5 * time.Second)
		f.wantLen("q", queue.Counts{Ready: 2})
		ids := f.pop("q", 1, 2)
		if ids[0].ID >= ids[1].ID {
			t.Fatalf("ids after restart %d, %d", ids[0].ID, ids[1].ID)
		}
	})
	t.Run("restart: a schedule keeps its time zone through restart and compaction", func(t *testing.T) {
		f := newFixture(t)
		f.setRepeat("q", queue.Repeat{Name: "tz", Cron: "0 9 * * *", TZ: "Europe/Paris", Payload: []byte("z")})
		next := f.nextFire("q")
		if err := f.b.Compact(); err != nil {
			t.Fatal(err)
		}
		f.reopen()
		f.clockAt(next)
		f.wantLen("q", queue.Counts{Ready: 1})
		if rs := f.repeats("q"); len(rs) != 1 || rs[0].TZ != "Europe/Paris" || !rs[0].Next.Equal(next.Add(24*time.Hour)) {
			t.Fatalf("after a restart: %+v, want the next fire %v", rs, next.Add(24*time.Hour))
		}
	})
}

// replayRecordLen is the size of the length prefix of each record in a
// FuzzReplay input.
const replayRecordLen = 2

// replayWAL are the log options of a FuzzReplay run: a log reserves memory
// for a segment at open, which at the default size took most of a run's
// time, and the fuzzer runs thousands.
var replayWAL = wal.Options{Fsync: wal.FsyncNo, SegmentSize: 64 << 10}

// sessionRecords returns the log records of a session that uses every
// kind of record, as FuzzReplay's seeds: the log before its compaction,
// and the log at the end, which starts with the snapshot.
func sessionRecords(f *testing.F) [][][]byte {
	dir := f.TempDir()
	clk := newClock()
	cfg := queue.Config{Dir: dir, WAL: wal.Options{Fsync: wal.FsyncNo}, Defaults: testSettings(), Now: clk.Now}
	b, err := queue.Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	ids, _, _ := b.Push("q", bs("a", "b"), queue.PushOptions{Priority: 2})
	later, _, _ := b.Push("q", bs("c"), queue.PushOptions{Delay: time.Minute, Dedup: "d"})
	b.Pop("q", 1, queue.PopOptions{})
	b.Touch("q", 1, ids[0], time.Second)
	b.Nack("q", 1, ids[0], queue.NackOptions{Message: "boom"})
	b.Promote("q", later)
	b.Cancel("q", ids[1:])
	b.Push("plain", bs("p"), queue.PushOptions{})
	plain, _, _ := b.Pop("plain", 1, queue.PopOptions{})
	b.Ack("plain", 1, []uint64{plain[0].ID}, nil)
	complete := func() {
		b.Push("done", bs("z"), queue.PushOptions{})
		jobs, _, _ := b.Pop("done", 1, queue.PopOptions{})
		b.Ack("done", 1, []uint64{jobs[0].ID}, []byte("result"))
	}
	b.Configure("done", [][2]string{{"keep-completed", "2"}})
	complete()
	b.Configure("q", [][2]string{{"max-attempts", "1"}})
	// With max-attempts 1, the job nacked here and "c", taken with it and
	// timed out by the clock below, become dead letters: the first is
	// requeued to another queue, the other purged.
	dead, _, _ := b.Push("q", bs("dead"), queue.PushOptions{})
	b.Pop("q", 1, queue.PopOptions{Count: 2})
	b.Nack("q", 1, dead[0], queue.NackOptions{})
	b.Pause("q", true)
	b.SetRepeat("q", queue.Repeat{Name: "r", Cron: "@hourly", Payload: []byte("x")})
	b.SetRepeat("q", queue.Repeat{Name: "e", Every: time.Second, Payload: []byte("y")})
	clk.Advance(time.Hour)
	b.Len("q")
	b.DeleteRepeats("q", []string{"r"})
	b.Requeue("q", "other", dead)
	b.PurgeDead("q", nil)
	b.Purge("q")
	// A job in flight at the compaction (a snapshot in flight) and at the
	// restart after it (the restart record).
	b.Push("held", bs("h"), queue.PushOptions{})
	b.Pop("held", 1, queue.PopOptions{})
	if err := b.Wait(b.Stats().LogIndex); err != nil {
		f.Fatal(err)
	}
	beforeCompaction := logRecords(f, crashimage.Of(f, dir))
	b.Compact()
	if err := b.Close(); err != nil {
		f.Fatal(err)
	}
	if b, err = queue.Open(cfg); err != nil {
		f.Fatal(err)
	}
	complete()
	b.Configure("done", [][2]string{{"keep-completed-age", strconv.FormatInt(time.Second.Milliseconds(), 10)}})
	clk.Advance(time.Second)
	b.Len("done") // drops the completed jobs for their age
	b.Delete("other")
	if err := b.Close(); err != nil {
		f.Fatal(err)
	}
	return [][][]byte{beforeCompaction, logRecords(f, dir)}
}

// logRecords returns the records of the queue log in dir.
func logRecords(f *testing.F, dir string) [][]byte {
	l, err := wal.Open(dir, wal.Options{Fsync: wal.FsyncNo})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	var recs [][]byte
	if err := l.Replay(func(rec []byte) error {
		recs = append(recs, bytes.Clone(rec))
		return nil
	}); err != nil {
		f.Fatal(err)
	}
	return recs
}

// FuzzReplay checks that the broker opens a log of any records without a
// panic: a record it cannot read is an error. The records are checksummed,
// so only a bug could write such a log; it must still not take the server
// down. The input is records, each after a 2-byte little-endian length.
func FuzzReplay(f *testing.F) {
	for _, recs := range sessionRecords(f) {
		var seed []byte
		for _, rec := range recs {
			seed = binary.LittleEndian.AppendUint16(seed, uint16(len(rec)))
			seed = append(seed, rec...)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs [][]byte
		for len(data) >= replayRecordLen {
			n := int(binary.LittleEndian.Uint16(data))
			data = data[replayRecordLen:]
			n = min(n, len(data))
			recs = append(recs, data[:n])
			data = data[n:]
		}
		dir := t.TempDir()
		l, err := wal.Open(dir, replayWAL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(recs...); err != nil {
			t.Skip(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := queue.Open(queue.Config{Dir: dir, WAL: replayWAL, Now: newClock().Now})
		if err != nil {
			return
		}
		list, _ := b.List()
		for _, in := range list {
			b.Info(in.Name)
			b.Repeats(in.Name)
			b.Jobs(in.Name, queue.Ready, 0)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// cronSeeds are cron expressions of every form, for the fuzz target.
var cronSeeds = []string{"*/15 * * * *", "0 9 * * mon-fri", "@hourly", "30 * * * * *", "0 12 13 * 5",
	"0 0 29 2 *", "5,10-12/2 3 * DEC 0", "0 0 30 2 *", "61 * * * *", "*/0 * * * *", "1-2-3 * * * *", ""}

// cronZones are time zones for the fuzz target: UTC, zones with DST
// changes of an hour and of half an hour, one with a half-hour offset.
var cronZones = []string{"", "Europe/Paris", "Australia/Lord_Howe", "Asia/Kolkata", "America/New_York"}

// FuzzCron checks that any cron expression, in any time zone, is either
// refused as an invalid value or scheduled after now, within the search
// bound, without a panic.
func FuzzCron(f *testing.F) {
	for i, c := range cronSeeds {
		f.Add(c, cronZones[i%len(cronZones)])
	}
	b, err := queue.Open(queue.Config{Dir: f.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}, Now: newClock().Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { b.Close() })
	now := newClock().Now()
	f.Fuzz(func(t *testing.T, expr, tz string) {
		_, err := b.SetRepeat("q", queue.Repeat{Name: "fuzz", Cron: expr, TZ: tz})
		if err != nil {
			if !errors.Is(err, queue.ErrInvalidValue) {
				t.Fatalf("%q: %v", expr, err)
			}
			return
		}
		rs, _ := b.Repeats("q")
		if len(rs) != 1 || !rs[0].Next.After(now) || rs[0].Next.After(now.AddDate(cronFuzzYears, 0, 0)) {
			t.Fatalf("%q: schedules %+v after %v", expr, rs, now)
		}
	})
}

func TestBlocking(t *testing.T) {
	// waitFor starts a blocking pop and returns a channel with its result.
	type result struct {
		jobs []queue.Job
		err  error
	}
	waitFor := func(f *fixture, ctx context.Context, name string, consumer int64) chan result {
		out := make(chan result, 1)
		go func() {
			jobs, idx, err := f.b.PopWait(ctx, name, consumer, queue.PopOptions{})
			if err == nil {
				err = f.b.Wait(idx)
			}
			out <- result{jobs, err}
		}()
		return out
	}
	receive := func(f *fixture, ch chan result) []queue.Job {
		f.t.Helper()
		select {
		case r := <-ch:
			if r.err != nil {
				f.t.Fatal(r.err)
			}
			return r.jobs
		case <-time.After(blockTimeout):
			f.t.Fatal("blocking pop not served")
		}
		return nil
	}
	t.Run("a blocked consumer gets the next job pushed", func(t *testing.T) {
		f := newFixture(t)
		ch := waitFor(f, context.Background(), "q", 1)
		f.waitBlocked("q", 1)
		if n := len(f.list()); n != 0 {
			t.Fatalf("a waiter made the queue appear in the list (%d)", n)
		}
		id := f.push1("q", "a")
		if jobs := receive(f, ch); len(jobs) != 1 || jobs[0].ID != id {
			t.Fatalf("got %+v", jobs)
		}
		f.wantLen("q", queue.Counts{InFlight: 1})
		if st := f.b.Stats(); st.Blocked != 0 {
			t.Fatalf("blocked %d", st.Blocked)
		}
	})
	t.Run("waiters are served first come, first served", func(t *testing.T) {
		f := newFixture(t)
		var chans []chan result
		for c := range 5 {
			chans = append(chans, waitFor(f, context.Background(), "q", int64(c)))
			f.waitBlocked("q", c+1)
		}
		for i := range 5 {
			f.push1("q", strconv.Itoa(i))
		}
		for i, ch := range chans {
			if jobs := receive(f, ch); string(jobs[0].Payload) != strconv.Itoa(i) {
				t.Fatalf("waiter %d got %q", i, jobs[0].Payload)
			}
		}
	})
	t.Run("a cancelled wait leaves at once and takes nothing", func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(context.Background())
		ch := waitFor(f, ctx, "q", 1)
		f.waitBlocked("q", 1)
		cancel()
		if jobs := receive(f, ch); len(jobs) != 0 {
			t.Fatalf("cancelled wait got %+v", jobs)
		}
		f.waitBlocked("q", 0)
		f.push1("q", "a")
		f.wantLen("q", queue.Counts{Ready: 1})
	})
	t.Run("resume and requeue serve waiters", func(t *testing.T) {
		f := newFixture(t)
		f.wait(f.b.Pause("q", true))
		f.push1("q", "a")
		ch := waitFor(f, context.Background(), "q", 1)
		f.waitBlocked("q", 1)
		f.wait(f.b.Pause("q", false))
		j := receive(f, ch)[0]
		f.configure("q", "max-attempts", "1")
		f.nack("q", 1, j.ID, queue.NackOptions{})
		ch = waitFor(f, context.Background(), "q", 2)
		f.waitBlocked("q", 1)
		f.waitN(f.b.Requeue("q", "q", nil))
		if again := receive(f, ch); again[0].ID != j.ID {
			t.Fatalf("got %+v", again)
		}
	})
	t.Run("a delayed job wakes a waiter when due, by the timer", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.Now = time.Now })
		ch := waitFor(f, context.Background(), "q", 1)
		f.waitBlocked("q", 1)
		f.push("q", queue.PushOptions{Delay: timerVisibility}, "later")
		select {
		case r := <-ch:
			if r.err != nil || string(r.jobs[0].Payload) != "later" {
				t.Fatalf("got %+v %v", r.jobs, r.err)
			}
		case <-time.After(timerVisibility + timerMargin):
			t.Fatal("the delayed job did not wake the waiter")
		}
	})
	t.Run("edge: a deleted queue keeps its waiters", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "a")
		f.pop1("q", 9)
		ch := waitFor(f, context.Background(), "q", 1)
		f.waitBlocked("q", 1)
		ok, idx, err := f.b.Delete("q")
		f.wait(idx, err)
		if !ok {
			t.Fatal("delete reported no queue")
		}
		f.push1("q", "b")
		if jobs := receive(f, ch); string(jobs[0].Payload) != "b" {
			t.Fatalf("got %+v", jobs)
		}
	})
	t.Run("race: blocked consumers and producers: every job delivered exactly once", func(t *testing.T) {
		f := newFixture(t)
		const producers, consumers, each = 4, 8, 100
		var delivered sync.Map
		var count atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for c := range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					jobs, idx, err := f.b.PopWait(ctx, "q", int64(c), queue.PopOptions{Count: 2})
					if err == nil {
						err = f.b.Wait(idx)
					}
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					for _, j := range jobs {
						if _, dup := delivered.LoadOrStore(j.ID, c); dup {
							t.Errorf("job %d delivered twice", j.ID)
						}
						ids := []uint64{j.ID}
						if _, idx, err := f.b.Ack("q", int64(c), ids, nil); err != nil || f.b.Wait(idx) != nil {
							t.Errorf("ack %d: %v", j.ID, err)
						}
						if count.Add(1) == producers*each {
							cancel()
						}
					}
				}
			}()
		}
		parallel(producers, func(g int) {
			for i := range each {
				if _, idx, err := f.b.Push("q", bs(fmt.Sprint(g, i)), queue.PushOptions{}); err != nil || f.b.Wait(idx) != nil {
					t.Error(err)
				}
			}
		})
		wg.Wait()
		if n := count.Load(); n != producers*each {
			t.Fatalf("%d jobs acked, want %d", n, producers*each)
		}
		f.wantLen("q", queue.Counts{})
	})
}

func TestManage(t *testing.T) {
	t.Run("len, info, list, peek, purge, delete", func(t *testing.T) {
		f := newFixture(t)
		f.push("q", queue.PushOptions{}, "a", "b")
		f.push("q", queue.PushOptions{Delay: time.Minute}, "c")
		f.pop1("q", 1)
		f.push1("b-queue", "x")
		f.wantLen("q", queue.Counts{Ready: 1, Delayed: 1, InFlight: 1})
		in := f.info("q")
		if in.Name != "q" || in.Ready != 1 || in.Pushed != 3 || in.Delivered != 1 || in.Settings != testSettings() {
			t.Fatalf("info %+v", in)
		}
		list := f.list()
		if len(list) != 2 || list[0].Name != "b-queue" || list[1].Name != "q" || list[1].InFlight != 1 {
			t.Fatalf("list %+v", list)
		}
		peek := f.peek("q", 10)
		if len(peek) != 1 || string(peek[0].Payload) != "b" || peek[0].State != queue.Ready {
			t.Fatalf("peek %+v", peek)
		}
		f.wantLen("q", queue.Counts{Ready: 1, Delayed: 1, InFlight: 1})
		n, idx, err := f.b.Purge("q")
		f.wait(idx, err)
		if n != 2 {
			t.Fatalf("purged %d", n)
		}
		f.wantLen("q", queue.Counts{InFlight: 1})
		ok, idx, err := f.b.Delete("q")
		f.wait(idx, err)
		if !ok || len(f.list()) != 1 {
			t.Fatalf("delete %v, list %+v", ok, f.list())
		}
		f.wantLen("q", queue.Counts{})
	})
	t.Run("jobs lists each state in its order without taking anything", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		f.push("q", queue.PushOptions{}, "a", "b", "c")
		f.push("q", queue.PushOptions{Delay: 2 * time.Minute}, "late")
		f.push("q", queue.PushOptions{Delay: time.Minute}, "soon")
		f.pop1("q", 1)
		dead := f.pop1("q", 1)
		f.nack("q", 1, dead.ID, queue.NackOptions{Message: "boom"})
		payloads := func(state queue.State, count int) []string {
			t.Helper()
			jobs := f.jobs("q", state, count)
			out := []string{}
			for _, j := range jobs {
				if j.State != state {
					t.Fatalf("%v listed a %v job", state, j.State)
				}
				out = append(out, string(j.Payload))
			}
			return out
		}
		for _, c := range []struct {
			state queue.State
			count int
			want  []string
		}{
			{queue.Ready, 0, []string{"c"}},
			{queue.Delayed, 0, []string{"soon", "late"}},
			{queue.Delayed, 1, []string{"soon"}},
			{queue.InFlight, 0, []string{"a"}},
			{queue.Dead, 0, []string{"b"}},
		} {
			if got := payloads(c.state, c.count); !slices.Equal(got, c.want) {
				t.Fatalf("%v (count %d): %q, want %q", c.state, c.count, got, c.want)
			}
		}
		f.wantLen("q", queue.Counts{Ready: 1, Delayed: 2, InFlight: 1, Dead: 1})
		for _, name := range []string{"ready", "delayed", "inflight", "dead"} {
			if st, err := queue.ParseState(name); err != nil || st.String() != name {
				t.Fatalf("ParseState(%q) = %v, %v", name, st, err)
			}
		}
	})
	t.Run("per-queue settings override the defaults and can be restored", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "visibility-timeout", "5000", "MAX-ATTEMPTS", "9")
		s := f.settings("q")
		if s.Visibility != 5*time.Second || s.MaxAttempts != 9 {
			t.Fatalf("settings %+v", s)
		}
		if in := f.info("q"); !slices.Equal(in.Overrides, []string{"visibility-timeout", "max-attempts"}) {
			t.Fatalf("overrides %v", in.Overrides)
		}
		f.configure("q", "max-attempts", "default")
		if s := f.settings("q"); s.MaxAttempts != testSettings().MaxAttempts || s.Visibility != 5*time.Second {
			t.Fatalf("after restoring: %+v", s)
		}
		if s := f.settings("other"); s != testSettings() {
			t.Fatalf("unknown queue settings %+v", s)
		}
	})
	t.Run("edge: jobs of an unknown queue or in an unknown state", func(t *testing.T) {
		f := newFixture(t)
		if jobs := f.jobs("nope", queue.Ready, 0); len(jobs) != 0 {
			t.Fatalf("unknown queue: %v", jobs)
		}
		f.push1("q", "a")
		if _, _, err := f.b.Jobs("q", queue.Completed+1, 0); !errors.Is(err, queue.ErrInvalidValue) {
			t.Fatalf("unknown state: %v", err)
		}
		if _, err := queue.ParseState("Ready "); !errors.Is(err, queue.ErrInvalidValue) {
			t.Fatalf("ParseState: %v", err)
		}
	})
	t.Run("edge: unknown queues read as empty; bad settings change nothing", func(t *testing.T) {
		f := newFixture(t)
		f.wantLen("nosuch", queue.Counts{})
		if in := f.info("nosuch"); in.Settings != testSettings() || in.Ready != 0 {
			t.Fatalf("info %+v", in)
		}
		if p := f.peek("nosuch", 1); p != nil {
			t.Fatalf("peek %+v", p)
		}
		if n, idx, err := f.b.Purge("nosuch"); n != 0 || idx != 0 || err != nil {
			t.Fatal(n, idx, err)
		}
		if ok, _, err := f.b.Delete("nosuch"); ok || err != nil {
			t.Fatal(ok, err)
		}
		_, err := f.b.Configure("q", [][2]string{{"max-attempts", "3"}, {"visibility-timeout", "0"}})
		wantErr(t, err, queue.ErrInvalidValue)
		_, err = f.b.Configure("q", [][2]string{{"colour", "blue"}})
		wantErr(t, err, queue.ErrUnknownParam)
		if s := f.settings("q"); s != testSettings() || len(f.list()) != 0 {
			t.Fatalf("refused configuration applied: %+v", s)
		}
	})
	t.Run("edge: a deleted queue comes back empty with the defaults", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.wait(f.b.Pause("q", true))
		f.waitOK(f.b.Delete("q"))
		_, _, err := f.b.Ack("q", 1, []uint64{j.ID}, nil)
		wantJobErr(t, err, queue.ErrNotHeld, j.ID)
		f.push1("q", "b")
		if in := f.info("q"); in.Paused || in.Settings != testSettings() || in.Ready != 1 || in.Pushed != 1 {
			t.Fatalf("info %+v", in)
		}
	})
	t.Run("restart: settings, pause and deletions survive", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "visibility-timeout", "1234")
		f.wait(f.b.Pause("q", true))
		f.push1("gone", "x")
		f.waitOK(f.b.Delete("gone"))
		f.configure("empty", "max-attempts", "2")
		f.reopen()
		if in := f.info("q"); !in.Paused || in.Settings.Visibility != 1234*time.Millisecond {
			t.Fatalf("info %+v", in)
		}
		list := f.list()
		if len(list) != 2 || list[0].Name != "empty" || list[1].Name != "q" {
			t.Fatalf("list %+v", list)
		}
	})
}

func TestDurability(t *testing.T) {
	t.Run("every change returns a log index that Wait accepts", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.WAL.Fsync = wal.FsyncAlways })
		before := f.b.Stats().LogIndex
		f.push1("q", "a")
		j := f.pop1("q", 1)
		f.ack("q", 1, j.ID)
		st := f.b.Stats()
		if st.LogIndex != before+3 || st.WAL.Fsyncs == 0 || st.ReadOnly {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("Notify reports a change durable at once or calls back once it is", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.WAL.Fsync = wal.FsyncAlways })
		_, idx, err := f.b.Push("q", bs("a"), queue.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := make(notifier, 1)
		durable, err := f.b.Notify(idx, n)
		if err != nil {
			t.Fatal(err)
		}
		if !durable {
			select {
			case <-n:
			case <-time.After(timerMargin):
				t.Fatal("no notification")
			}
		}
		if durable, err := f.b.Notify(idx, n); !durable || err != nil {
			t.Fatalf("after the notification: durable %v, %v", durable, err)
		}
		if durable, err := f.b.Notify(0, n); !durable || err != nil {
			t.Fatalf("index 0: durable %v, %v", durable, err)
		}
	})
	t.Run("edge: a change that finds nothing to do answers with the last record's index, so its reply waits for what it found", func(t *testing.T) {
		// Another connection's pause, purge or push may not be durable
		// yet when a call finds it has nothing left to do.
		f := newFixture(t)
		f.push1("q", "a")
		paused, err := f.b.Pause("q", true)
		if err != nil {
			t.Fatal(err)
		}
		if idx, err := f.b.Pause("q", true); idx != paused || err != nil {
			t.Fatalf("a second pause answered index %d, %v; want %d", idx, err, paused)
		}
		n, purged, err := f.b.Purge("q")
		if n != 1 || err != nil {
			t.Fatalf("purge: %d, %v", n, err)
		}
		noops := map[string]func() (uint64, error){
			"purge":              func() (uint64, error) { _, idx, err := f.b.Purge("q"); return idx, err },
			"purge of no queue":  func() (uint64, error) { _, idx, err := f.b.Purge("nosuch"); return idx, err },
			"delete of no queue": func() (uint64, error) { _, idx, err := f.b.Delete("nosuch"); return idx, err },
			"repeat delete": func() (uint64, error) {
				_, idx, err := f.b.DeleteRepeats("q", []string{"none"})
				return idx, err
			},
			"dead letter purge":   func() (uint64, error) { _, idx, err := f.b.PurgeDead("q", nil); return idx, err },
			"dead letter requeue": func() (uint64, error) { _, idx, err := f.b.Requeue("q", "q", nil); return idx, err },
		}
		for name, call := range noops {
			if idx, err := call(); idx != purged || err != nil {
				t.Fatalf("%s answered index %d, %v; want %d", name, idx, err, purged)
			}
		}
		_, pushed, err := f.b.Push("q", bs("b"), queue.PushOptions{Dedup: "d"})
		if err != nil {
			t.Fatal(err)
		}
		if _, idx, err := f.b.Push("q", bs("c"), queue.PushOptions{Dedup: "d"}); idx != pushed || err != nil {
			t.Fatalf("a push deduplicated answered index %d, %v; want %d", idx, err, pushed)
		}
	})
	t.Run("edge: a read answers with the last record's index, so its reply waits for what it shows", func(t *testing.T) {
		// Another connection's change may not be durable yet when a read
		// shows it, the deletion of a queue included.
		f := newFixture(t)
		f.configure("q", "max-attempts", "1")
		f.push1("q", "a")
		_, pushed, err := f.b.Push("q", bs("b"), queue.PushOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, deleted, err := f.b.Delete("gone")
		if err != nil {
			t.Fatal(err)
		}
		reads := map[string]func() uint64{
			"len":           func() uint64 { _, idx := f.b.Len("q"); return idx },
			"info":          func() uint64 { _, idx := f.b.Info("q"); return idx },
			"list":          func() uint64 { _, idx := f.b.List(); return idx },
			"job":           func() uint64 { _, _, idx := f.b.Job("q", 1); return idx },
			"jobs":          func() uint64 { _, idx, _ := f.b.Jobs("q", queue.Ready, 0); return idx },
			"dead letters":  func() uint64 { _, idx := f.b.DeadLetters("q", 0); return idx },
			"settings":      func() uint64 { _, idx := f.b.Settings("q"); return idx },
			"repeats":       func() uint64 { _, idx := f.b.Repeats("q"); return idx },
			"unknown queue": func() uint64 { _, idx := f.b.Len("nosuch"); return idx },
		}
		for name, read := range reads {
			if idx := read(); idx < max(pushed, deleted) {
				t.Fatalf("%s answered index %d, before the push (%d) and the delete (%d) it follows", name, idx, pushed, deleted)
			}
		}
	})
	t.Run("edge: a full log refuses a change, which changes nothing", func(t *testing.T) {
		const held = 4097 // more jobs than one failure record lists
		f := newFixture(t, func(c *queue.Config) { c.WAL.MaxPending = 1 })
		for i := range held {
			f.push1("q", strconv.Itoa(i))
		}
		if jobs := f.pop("q", 1, held); len(jobs) != held {
			t.Fatalf("took %d", len(jobs))
		}
		wantErr(t, f.b.Release(1), queue.ErrOverload)
		f.wantLen("q", queue.Counts{InFlight: held})
		if st := f.b.Stats(); st.OverloadRejections != 1 || st.ReadOnly {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("edge: a closed broker refuses changes, and creates no queue for them", func(t *testing.T) {
		f := newFixture(t)
		f.b.Close()
		_, _, err := f.b.Push("q", bs("a"), queue.PushOptions{})
		wantErr(t, err, queue.ErrClosed)
		_, err = f.b.Configure("c", [][2]string{{"max-attempts", "3"}})
		wantErr(t, err, queue.ErrClosed)
		_, err = f.b.Pause("p", true)
		wantErr(t, err, queue.ErrClosed)
		if got := queue.QueueObjects(f.b); got != 0 {
			t.Fatalf("%d queue objects after refused changes", got)
		}
	})
	t.Run("restart: every stage of a job's life survives close and reopen", func(t *testing.T) {
		f := newFixture(t)
		f.configure("q", "max-attempts", "2")
		id := f.push1("q", "job")
		f.reopen()
		f.wantLen("q", queue.Counts{Ready: 1})
		j := f.pop1("q", 1)
		f.reopen()
		f.wantLen("q", queue.Counts{Ready: 1})
		j = f.pop1("q", 1)
		if j.ID != id || j.Attempt != 2 {
			t.Fatalf("after a restart in flight: %+v", j)
		}
		f.nack("q", 1, j.ID, queue.NackOptions{HasDelay: true, Delay: 0, Message: "last"})
		f.reopen()
		dead := f.deadLetters("q", 0)
		if len(dead) != 1 || dead[0].ID != id || dead[0].Failures[0].Message != "last" {
			t.Fatalf("dead %+v", dead)
		}
		f.waitN(f.b.Requeue("q", "q", nil))
		f.reopen()
		j = f.pop1("q", 1)
		if j.ID != id || j.Attempt != 1 {
			t.Fatalf("requeued %+v", j)
		}
		f.ack("q", 1, j.ID)
		f.reopen()
		f.wantLen("q", queue.Counts{})
		if next := f.push1("q", "new"); next <= id {
			t.Fatalf("id %d reused after %d", next, id)
		}
	})
	t.Run("restart: compaction keeps the state and ids, and shrinks the log", func(t *testing.T) {
		const jobs, keep = 300, 10
		f := newFixture(t, func(c *queue.Config) { c.CompactMinRecords = 100 })
		f.configure("q", "backoff-delay", "777")
		for i := range jobs {
			f.push1("q", strconv.Itoa(i))
		}
		for range jobs - keep {
			f.ack("q", 1, f.pop1("q", 1).ID)
		}
		f.push("q", queue.PushOptions{Delay: time.Hour}, "delayed")
		last := f.push1("q", "last")
		if err := f.b.Compact(); err != nil {
			t.Fatal(err)
		}
		st := f.b.Stats()
		if st.Compactions == 0 || st.LogRecords > 2*(keep+2)+4 {
			t.Fatalf("after compaction: %d compactions, %d records", st.Compactions, st.LogRecords)
		}
		f.pop1("q", 1)
		f.reopen()
		f.wantLen("q", queue.Counts{Ready: keep + 1, Delayed: 1})
		if s := f.settings("q"); s.BackoffDelay != 777*time.Millisecond {
			t.Fatalf("settings %+v", s)
		}
		ids := f.push("q", queue.PushOptions{}, "after")
		if ids[0] <= last {
			t.Fatalf("id %d reused after %d", ids[0], last)
		}
		if n := len(f.drain("q", 1)); n != keep+2 {
			t.Fatalf("drained %d", n)
		}
	})
	t.Run("restart: ids are never reused when every job was acked", func(t *testing.T) {
		f := newFixture(t)
		id := f.push1("q", "a")
		f.ack("q", 1, f.pop1("q", 1).ID)
		if err := f.b.Compact(); err != nil {
			t.Fatal(err)
		}
		f.reopen()
		if next := f.push1("q", "b"); next <= id {
			t.Fatalf("id %d reused after %d", next, id)
		}
	})
	t.Run("restart: the timer writes its changes itself: an image of the files taken right after has them", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) {
			c.Now = time.Now
			c.WAL.IdleFlush = neverIdleFlush
		})
		f.configure("q", "max-attempts", "1")
		f.push1("q", "job")
		jobs, idx, err := f.b.Pop("q", 1, queue.PopOptions{Visibility: timerVisibility})
		f.wait(idx, err)
		if len(jobs) != 1 {
			t.Fatalf("took %+v", jobs)
		}
		time.Sleep(timerVisibility + timerMargin)
		if n, _ := f.crashed().Len("q"); n != (queue.Counts{Dead: 1}) {
			t.Fatalf("after the crash: %+v, want the timed-out job dead", n)
		}
	})
	t.Run("restart: Release writes the failures itself: an image of the files taken right after has them", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.WAL.IdleFlush = neverIdleFlush })
		f.configure("q", "max-attempts", "1")
		f.push1("q", "job")
		f.pop1("q", 1)
		if err := f.b.Release(1); err != nil {
			t.Fatal(err)
		}
		if n, _ := f.crashed().Len("q"); n != (queue.Counts{Dead: 1}) {
			t.Fatalf("after the crash: %+v, want the released job dead", n)
		}
	})
	t.Run("restart: a read that times a job out answers with the index of the dead letter it wrote", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.WAL.IdleFlush = neverIdleFlush })
		f.configure("q", "max-attempts", "1")
		f.push1("q", "job")
		f.pop1("q", 1)
		// The fake clock moves past the visibility timeout; the timer
		// sleeps on the real clock and has not run, so the read does what
		// time asks of the queue, and nobody else writes its records.
		f.clock.Advance(queue.DefaultSettings().Visibility)
		n, idx := f.b.Len("q")
		if n != (queue.Counts{Dead: 1}) {
			t.Fatalf("len %+v, want the timed-out job dead", n)
		}
		f.wait(idx, nil)
		if n, _ := f.crashed().Len("q"); n != (queue.Counts{Dead: 1}) {
			t.Fatalf("after the crash: %+v, want the timed-out job dead", n)
		}
	})
	t.Run("restart: a job in flight at a restart and purged after it stays gone", func(t *testing.T) {
		f := newFixture(t)
		f.push1("q", "held")
		f.pop1("q", 1)
		f.reopen()
		f.wantLen("q", queue.Counts{Ready: 1})
		if n := f.waitN(f.b.Purge("q")); n != 1 {
			t.Fatalf("purged %d", n)
		}
		f.reopen()
		f.wantLen("q", queue.Counts{})
	})
	t.Run("restart: a job in flight at a compaction outlives a purge and a nack", func(t *testing.T) {
		f := newFixture(t)
		id := f.push1("q", "held")
		f.push1("q", "waiting")
		f.pop1("q", 1)
		if err := f.b.Compact(); err != nil {
			t.Fatal(err)
		}
		if n := f.waitN(f.b.Purge("q")); n != 1 {
			t.Fatalf("purged %d, want the waiting job and not the one in flight", n)
		}
		f.nack("q", 1, id, queue.NackOptions{HasDelay: true})
		f.reopen()
		if j := f.pop1("q", 1); j.ID != id || j.Attempt != 2 {
			t.Fatalf("after the restart: %+v", j)
		}
	})
	t.Run("restart: completed jobs dropped for their age stay dropped once the bound is lifted", func(t *testing.T) {
		const age = time.Second
		f := newFixture(t)
		f.configure("q", "keep-completed", "10", "keep-completed-age", strconv.FormatInt(age.Milliseconds(), 10))
		f.push1("q", "done")
		f.ack("q", 1, f.pop1("q", 1).ID)
		f.wantLen("q", queue.Counts{Completed: 1})
		f.clock.Advance(age)
		f.wantLen("q", queue.Counts{})
		f.configure("q", "keep-completed-age", "0")
		f.reopen()
		f.wantLen("q", queue.Counts{})
	})
	t.Run("restart: random operations leave the same state after every reopen, crash and compaction", func(t *testing.T) {
		for seed := range uint64(randomSeeds) {
			t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
				newRandomRun(t, seed).run()
			})
		}
	})
}

func TestRaces(t *testing.T) {
	t.Run("race: producers, consumers, nacks and timeouts: every job done once while held", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.CompactMinRecords = 500 })
		f.configure("q", "backoff-delay", "0", "max-attempts", "0")
		const producers, consumers, each = 4, 6, 150
		total := producers * each
		var done atomic.Int64
		var mu sync.Mutex
		holder := map[uint64]int64{} // job -> consumer holding it now
		completed := map[uint64]bool{}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		for c := range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					jobs, idx, err := f.b.PopWait(ctx, "q", int64(c), queue.PopOptions{})
					if err == nil {
						err = f.b.Wait(idx)
					}
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					j := jobs[0]
					mu.Lock()
					if other, held := holder[j.ID]; held {
						t.Errorf("job %d delivered to %d while %d holds it", j.ID, c, other)
					}
					holder[j.ID] = int64(c)
					mu.Unlock()
					if i%5 == 0 {
						mu.Lock()
						delete(holder, j.ID)
						mu.Unlock()
						if _, idx, err := f.b.Nack("q", int64(c), j.ID, queue.NackOptions{Message: "retry"}); err != nil || f.b.Wait(idx) != nil {
							t.Errorf("nack: %v", err)
						}
						continue
					}
					mu.Lock()
					delete(holder, j.ID)
					if completed[j.ID] {
						t.Errorf("job %d completed twice", j.ID)
					}
					completed[j.ID] = true
					mu.Unlock()
					if _, idx, err := f.b.Ack("q", int64(c), []uint64{j.ID}, nil); err != nil || f.b.Wait(idx) != nil {
						t.Errorf("ack: %v", err)
					}
					if done.Add(1) == int64(total) {
						cancel()
					}
				}
			}()
		}
		parallel(producers, func(g int) {
			for i := range each {
				if _, idx, err := f.b.Push("q", bs(fmt.Sprint(g, "-", i)), queue.PushOptions{Priority: int64(i % 2)}); err != nil || f.b.Wait(idx) != nil {
					t.Error(err)
				}
			}
		})
		wg.Wait()
		if n := done.Load(); n != int64(total) {
			t.Fatalf("%d completed, want %d", n, total)
		}
		f.wantLen("q", queue.Counts{})
		f.reopen()
		f.wantLen("q", queue.Counts{})
	})
	t.Run("race: stats, lists and compaction while the queues change", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.CompactMinRecords = 50 })
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f.b.Stats()
				f.list()
				f.peek("q0", 3)
				if err := f.b.Compact(); err != nil {
					t.Error(err)
				}
			}
		}()
		parallel(4, func(g int) {
			name := "q" + strconv.Itoa(g%2)
			for i := range 200 {
				_, idx, err := f.b.Push(name, bs(strconv.Itoa(i)), queue.PushOptions{})
				if err == nil {
					err = f.b.Wait(idx)
				}
				if err != nil {
					t.Error(err)
					return
				}
				jobs, _, err := f.b.Pop(name, int64(g), queue.PopOptions{})
				if err != nil || len(jobs) != 1 {
					t.Errorf("pop: %d jobs, %v", len(jobs), err)
					return
				}
				if _, idx, err = f.b.Ack(name, int64(g), []uint64{jobs[0].ID}, nil); err == nil {
					err = f.b.Wait(idx)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
		close(stop)
		wg.Wait()
		f.reopen()
		f.wantLen("q0", queue.Counts{})
		f.wantLen("q1", queue.Counts{})
	})
	t.Run("race: random operations from many goroutines leave the state every restart finds", func(t *testing.T) {
		f := newFixture(t, func(c *queue.Config) { c.CompactMinRecords = randomNoBackgroundCompaction })
		for round := range uint64(randomRaceRounds) {
			parallel(randomRaceWorkers, func(g int) {
				w := newRandomWorker(f, round, uint64(g))
				for op := range randomRaceOps {
					what, idx, err := w.apply(op)
					switch {
					case errors.Is(err, queue.ErrReadOnly), errors.Is(err, queue.ErrOverload), errors.Is(err, queue.ErrClosed):
						t.Errorf("worker %d op %d, %s: %v", g, op, what, err)
						return
					case err == nil:
						if err := f.b.Wait(idx); err != nil {
							t.Errorf("worker %d op %d, %s: wait: %v", g, op, what, err)
							return
						}
					}
				}
			})
			if t.Failed() {
				return
			}
			newRandomWorker(f, round, randomRaceWorkers).restart(int(round))
		}
	})
}

// randomRun applies random operations to three queues from three
// consumers, moving a fake clock, and after every few restarts the broker,
// by a clean close or from an image of its files taken as a kill -9 would
// leave them, and compares what it holds with what it held. An operation
// that fails must change nothing.
type randomRun struct {
	*fixture
	r    *rand.Rand
	held map[int64][]uint64 // ids each consumer took, acked or not since
	ids  []uint64           // every id pushed
	last uint64             // the largest id pushed
}

var (
	randomQueues    = []string{"a", "b", "c"}
	randomConsumers = []int64{1, 2, 3}
	// randomSettings are the settings the random operations set, each
	// with the values they choose from.
	randomSettings = [][]string{
		{"max-attempts", "1", "2", "3", "0", "default"},
		{"backoff", "fixed", "exponential"},
		{"backoff-delay", "0", "500", "1500"},
		{"backoff-max", "0", "2000"},
		{"visibility-timeout", "1000", "3000", "default"},
		{"dead-letter-max", "0", "2", "100", "default"},
		{"keep-completed", "0", "3", "100"},
		{"keep-completed-age", "0", "1000", "5000"},
		{"max-in-flight", "0", "2"},
		{"release-on-disconnect", "yes", "no"},
	}
)

func newRandomRun(t *testing.T, seed uint64) *randomRun {
	f := newFixture(t, func(c *queue.Config) { c.CompactMinRecords = randomNoBackgroundCompaction })
	return newRandomWorker(f, seed, seed)
}

// newRandomWorker returns a randomRun on f's broker with a generator of
// its own, for one of several goroutines: their runs share the broker, and
// each draws from the ids it pushed and took.
func newRandomWorker(f *fixture, seed, stream uint64) *randomRun {
	return &randomRun{fixture: f, r: rand.New(rand.NewPCG(seed, stream)), held: map[int64][]uint64{}}
}

func (x *randomRun) run() {
	for op := range randomOps {
		before := x.dump()
		what, idx, err := x.apply(op)
		switch {
		case errors.Is(err, queue.ErrReadOnly), errors.Is(err, queue.ErrOverload), errors.Is(err, queue.ErrClosed):
			x.t.Fatalf("op %d, %s: %v", op, what, err)
		case err != nil:
			if d := dumpDiff(x.dump(), before); d != "" {
				x.t.Fatalf("op %d, %s failed (%v) and changed the state: %s", op, what, err, d)
			}
			continue
		}
		x.wait(idx, nil)
		if x.r.IntN(randomRestartOdds) == 0 {
			x.restart(op)
		}
	}
	x.restart(randomOps)
}

// randomOp is one kind of random operation, with its weight: its share of
// the operations a sequence applies. apply says what it did.
type randomOp struct {
	weight int
	apply  func(x *randomRun, op int, name string, consumer int64) (what string, idx uint64, err error)
}

// randomOpTable lists the operations; pushes and takes dominate so that
// the queues hold jobs in every state.
var randomOpTable = []randomOp{
	{24, (*randomRun).push},
	{18, (*randomRun).pop},
	{12, (*randomRun).ack},
	{8, (*randomRun).nack},
	{4, (*randomRun).touch},
	{3, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		ids := x.someIDs(0)
		_, idx, err := x.b.Cancel(name, ids)
		return fmt.Sprintf("cancel %s %v", name, ids), idx, err
	}},
	{3, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		ids := x.someIDs(0)
		_, idx, err := x.b.Promote(name, ids)
		return fmt.Sprintf("promote %s %v", name, ids), idx, err
	}},
	{4, (*randomRun).requeue},
	{2, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		ids := x.maybeIDs()
		_, idx, err := x.b.PurgeDead(name, ids)
		return fmt.Sprintf("purge dead %s %v", name, ids), idx, err
	}},
	{6, (*randomRun).configure},
	{2, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		paused := x.coin()
		idx, err := x.b.Pause(name, paused)
		return fmt.Sprintf("pause %s %v", name, paused), idx, err
	}},
	{2, func(x *randomRun, _ int, _ string, consumer int64) (string, uint64, error) {
		err := x.b.Release(consumer)
		return fmt.Sprintf("release %d", consumer), x.b.Stats().LogIndex, err
	}},
	{1, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		_, idx, err := x.b.Purge(name)
		return fmt.Sprintf("purge %s", name), idx, err
	}},
	{1, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		_, idx, err := x.b.Delete(name)
		return fmt.Sprintf("delete %s", name), idx, err
	}},
	{2, func(x *randomRun, op int, name string, _ int64) (string, uint64, error) {
		r := queue.Repeat{Name: x.repeatName(), Every: time.Millisecond + x.duration(),
			Priority: int64(x.r.IntN(randomPriorities)), Payload: fmt.Appendf(nil, "repeat %d", op)}
		idx, err := x.b.SetRepeat(name, r)
		return fmt.Sprintf("repeat %s %+v", name, r), idx, err
	}},
	{1, func(x *randomRun, _ int, name string, _ int64) (string, uint64, error) {
		names := make([]string, x.few())
		for i := range names {
			names[i] = x.repeatName()
		}
		_, idx, err := x.b.DeleteRepeats(name, names)
		return fmt.Sprintf("delete repeats %s %q", name, names), idx, err
	}},
	{2, func(x *randomRun, _ int, _ string, _ int64) (string, uint64, error) {
		return "compact", 0, x.b.Compact()
	}},
	{8, func(x *randomRun, _ int, _ string, _ int64) (string, uint64, error) {
		d := x.duration()
		x.clock.Advance(d)
		return fmt.Sprintf("advance %v", d), 0, nil
	}},
}

// apply applies one random operation and says what it was.
func (x *randomRun) apply(op int) (string, uint64, error) {
	total := 0
	for _, o := range randomOpTable {
		total += o.weight
	}
	name := randomQueues[x.r.IntN(len(randomQueues))]
	consumer := randomConsumers[x.r.IntN(len(randomConsumers))]
	n := x.r.IntN(total)
	for _, o := range randomOpTable {
		if n < o.weight {
			return o.apply(x, op, name, consumer)
		}
		n -= o.weight
	}
	panic("unreachable: n is below the total weight")
}

func (x *randomRun) push(op int, name string, _ int64) (string, uint64, error) {
	var o queue.PushOptions
	if x.coin() {
		o.Delay = x.duration()
	}
	o.Priority = int64(x.r.IntN(randomPriorities))
	payloads := make([]string, x.few())
	for i := range payloads {
		payloads[i] = fmt.Sprintf("job %d.%d", op, i)
	}
	if x.coin() {
		o.Dedup = "dedup " + strconv.Itoa(x.r.IntN(randomDedupIDs))
		payloads = payloads[:1]
	}
	ids, idx, err := x.b.Push(name, bs(payloads...), o)
	for _, id := range ids {
		if id > x.last {
			x.last = id
			x.ids = append(x.ids, id)
		}
	}
	return fmt.Sprintf("push %s %+v %q = %v", name, o, payloads, ids), idx, err
}

func (x *randomRun) pop(_ int, name string, consumer int64) (string, uint64, error) {
	o := queue.PopOptions{Count: x.few()}
	if x.coin() {
		o.Visibility = time.Millisecond + x.duration()
	}
	jobs, idx, err := x.b.Pop(name, consumer, o)
	ids := make([]uint64, len(jobs))
	for k, j := range jobs {
		ids[k] = j.ID
	}
	x.held[consumer] = append(x.held[consumer], ids...)
	return fmt.Sprintf("pop %s by %d %+v = %v", name, consumer, o, ids), idx, err
}

func (x *randomRun) ack(op int, name string, consumer int64) (string, uint64, error) {
	ids := x.someIDs(consumer)
	var result []byte
	if x.coin() {
		result = fmt.Appendf(nil, "result %d", op)
	}
	_, idx, err := x.b.Ack(name, consumer, ids, result)
	return fmt.Sprintf("ack %s by %d %v %q", name, consumer, ids, result), idx, err
}

func (x *randomRun) nack(op int, name string, consumer int64) (string, uint64, error) {
	id := x.someIDs(consumer)[0]
	o := queue.NackOptions{HasDelay: x.coin(), Delay: x.duration(), Message: fmt.Sprintf("failed at %d", op)}
	_, idx, err := x.b.Nack(name, consumer, id, o)
	return fmt.Sprintf("nack %s by %d %d %+v", name, consumer, id, o), idx, err
}

func (x *randomRun) touch(_ int, name string, consumer int64) (string, uint64, error) {
	id, ext := x.someIDs(consumer)[0], x.duration()
	_, idx, err := x.b.Touch(name, consumer, id, ext)
	return fmt.Sprintf("touch %s by %d %d %v", name, consumer, id, ext), idx, err
}

func (x *randomRun) requeue(_ int, name string, _ int64) (string, uint64, error) {
	target := name
	if x.coin() {
		target = randomQueues[x.r.IntN(len(randomQueues))]
	}
	ids := x.maybeIDs()
	_, idx, err := x.b.Requeue(name, target, ids)
	return fmt.Sprintf("requeue %s to %q %v", name, target, ids), idx, err
}

func (x *randomRun) configure(_ int, name string, _ int64) (string, uint64, error) {
	set := randomSettings[x.r.IntN(len(randomSettings))]
	pair := [2]string{set[0], set[1+x.r.IntN(len(set)-1)]}
	idx, err := x.b.Configure(name, [][2]string{pair})
	return fmt.Sprintf("configure %s %v", name, pair), idx, err
}

func (x *randomRun) coin() bool { return x.r.IntN(2) == 0 }

// repeatName returns one of randomFew schedule names.
func (x *randomRun) repeatName() string { return "repeat " + strconv.Itoa(x.r.IntN(randomFew)) }

// few returns 1 to randomFew.
func (x *randomRun) few() int { return 1 + x.r.IntN(randomFew) }

// duration returns a whole number of milliseconds below randomMaxAdvance.
func (x *randomRun) duration() time.Duration {
	return time.Duration(x.r.Int64N(randomMaxAdvance.Milliseconds())) * time.Millisecond
}

// someIDs returns a few ids: mostly jobs the consumer took (any job for
// consumer 0), one in randomUnknownOdds never pushed.
func (x *randomRun) someIDs(consumer int64) []uint64 {
	from := x.held[consumer]
	if consumer == 0 || len(from) == 0 {
		from = x.ids
	}
	out := make([]uint64, x.few())
	for i := range out {
		switch {
		case len(from) == 0 || x.r.IntN(randomUnknownOdds) == 0:
			out[i] = x.last + uint64(x.few())
		default:
			out[i] = from[x.r.IntN(len(from))]
		}
	}
	return out
}

// maybeIDs returns nil (every job the operation applies to) or a few ids.
func (x *randomRun) maybeIDs() []uint64 {
	if x.coin() {
		return nil
	}
	return x.someIDs(0)
}

// restart writes what the broker holds, restarts it, cleanly or from an
// image of its files, and checks that it holds the same, its jobs in
// flight ready again in their place with their attempts kept.
func (x *randomRun) restart(op int) {
	x.t.Helper()
	want, byID := restarted(x.dump())
	// The dump's expiries are changes too: write them all before the image.
	x.wait(x.b.Stats().LogIndex, nil)
	how := "reopen"
	switch {
	case x.coin():
		x.reopen()
	default:
		how = "crash image"
		x.cfg.Dir = crashimage.Of(x.t, x.cfg.Dir)
		x.open()
	}
	x.held = map[int64][]uint64{}
	got := x.dump()
	for i := range got {
		if ready := got[i].Jobs[queue.Ready]; byID[got[i].Name] {
			if !slices.IsSortedFunc(ready, func(a, b queue.JobInfo) int { return cmp.Compare(b.Priority, a.Priority) }) {
				x.t.Fatalf("after op %d, %s: ready jobs of %s out of priority order: %+v", op, how, got[i].Name, ready)
			}
			sortReady(ready)
		}
	}
	if d := dumpDiff(got, want); d != "" {
		x.t.Fatalf("after op %d, %s: %s", op, how, d)
	}
	// Ids are never reused.
	ids, idx, err := x.b.Push(randomQueues[0], bs("after restart"), queue.PushOptions{})
	x.wait(idx, err)
	if ids[0] <= x.last {
		x.t.Fatalf("after op %d, %s: id %d after %d", op, how, ids[0], x.last)
	}
	x.last = ids[0]
	x.ids = append(x.ids, ids[0])
}

// queueDump is what a restart must keep of a queue: not its counters,
// which count since the start, nor its consumers, who are gone.
type queueDump struct {
	Name      string
	Counts    queue.Counts
	Settings  queue.Settings
	Overrides []string
	Paused    bool
	Repeats   []queue.Repeat
	Jobs      [queue.Completed + 1][]queue.JobInfo
}

// dump reads every declared queue and all its jobs by state.
func (x *randomRun) dump() []queueDump {
	var out []queueDump
	list, _ := x.b.List()
	for _, in := range list {
		d := queueDump{Name: in.Name, Counts: in.Counts, Settings: in.Settings, Overrides: in.Overrides, Paused: in.Paused}
		d.Repeats, _ = x.b.Repeats(in.Name)
		for i := range d.Repeats {
			d.Repeats[i].Payload = bytes.Clone(d.Repeats[i].Payload)
		}
		for st := range d.Jobs {
			jobs, _, err := x.b.Jobs(in.Name, queue.State(st), 0)
			if err != nil {
				x.t.Fatal(err)
			}
			for i := range jobs {
				// A copy: the dump outlives the broker that shares it.
				jobs[i].Payload = bytes.Clone(jobs[i].Payload)
			}
			d.Jobs[st] = jobs
		}
		out = append(out, d)
	}
	return out
}

// restarted is what a dump becomes across a restart: the jobs in flight
// are ready again, with their attempts, failures and priority kept and no
// deadline or progress. They return to their place among the ready jobs,
// which depends on when each became ready, which a dump does not show; so
// in the queues byID names, which had jobs in flight, the ready jobs are
// compared by id, and their order by priority only.
func restarted(d []queueDump) (_ []queueDump, byID map[string]bool) {
	byID = map[string]bool{}
	for i := range d {
		q := &d[i]
		held := q.Jobs[queue.InFlight]
		if len(held) == 0 {
			continue
		}
		byID[q.Name] = true
		for _, j := range held {
			j.State, j.Deadline, j.Due, j.Progress = queue.Ready, time.Time{}, time.Time{}, nil
			q.Jobs[queue.Ready] = append(q.Jobs[queue.Ready], j)
		}
		q.Jobs[queue.InFlight] = nil
		q.Counts.Ready += q.Counts.InFlight
		q.Counts.InFlight = 0
		sortReady(q.Jobs[queue.Ready])
	}
	return d, byID
}

// sortReady orders ready jobs by priority, highest first, then by id.
func sortReady(jobs []queue.JobInfo) {
	slices.SortFunc(jobs, func(a, b queue.JobInfo) int {
		if a.Priority != b.Priority {
			return cmp.Compare(b.Priority, a.Priority)
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// dumpDiff describes the first difference between two dumps, "" when they
// are the same.
func dumpDiff(got, want []queueDump) string {
	if len(got) != len(want) {
		return fmt.Sprintf("queues %v, want %v", dumpNames(got), dumpNames(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		gj, wj := g.Jobs, w.Jobs
		g.Jobs, w.Jobs = [queue.Completed + 1][]queue.JobInfo{}, [queue.Completed + 1][]queue.JobInfo{}
		if !reflect.DeepEqual(g, w) {
			return fmt.Sprintf("queue %+v, want %+v; jobs %v, want %v", g, w, jobIDs(gj), jobIDs(wj))
		}
		for st := range gj {
			for k := range max(len(gj[st]), len(wj[st])) {
				switch {
				case k >= len(gj[st]):
					return fmt.Sprintf("queue %s, %v job %d: none, want %+v", g.Name, queue.State(st), k, wj[st][k])
				case k >= len(wj[st]):
					return fmt.Sprintf("queue %s, %v job %d: %+v, want none", g.Name, queue.State(st), k, gj[st][k])
				case !reflect.DeepEqual(gj[st][k], wj[st][k]):
					return fmt.Sprintf("queue %s, %v job %d:\n%+v, want\n%+v", g.Name, queue.State(st), k, gj[st][k], wj[st][k])
				}
			}
		}
	}
	return ""
}

func dumpNames(d []queueDump) []string {
	out := make([]string, len(d))
	for i := range d {
		out[i] = d[i].Name
	}
	return out
}

func jobIDs(jobs [queue.Completed + 1][]queue.JobInfo) [][]uint64 {
	out := make([][]uint64, len(jobs))
	for st, list := range jobs {
		for _, j := range list {
			out[st] = append(out[st], j.ID)
		}
	}
	return out
}
