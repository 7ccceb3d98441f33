// Package queue is NEXO's QUEUE broker: persistent work queues with
// priorities, delays, deduplication, visibility timeouts, retries with
// backoff and dead letters.
//
// Every change of a job's state is a record of the broker's write-ahead log
// (package wal) before it is a change in memory: under the queue's lock a
// command validates, appends its record, then applies the same record to
// memory, so memory only ever holds what the log holds, in the log's order.
// The log is replayed on Open; memory is rebuilt from it. Each method that
// changes state returns the log index its caller must pass to Wait before it
// acknowledges the change to a client.
//
// Lock order: Broker.compactMu (one compaction at a time), then Broker.mu
// (read-locked by every operation on a queue, write-locked to create or
// delete a queue and to read the state for compaction), then queue.mu (two
// queues in ascending name order; a waiter that gives up takes its queue's
// alone), then Broker.schedMu, then Broker.consumersMu. The log is appended
// to under queue.mu; waiting for durability happens under no lock.
//
// Time comes from Config.Now; deadlines are unix milliseconds. A timer
// goroutine wakes at the earliest deadline of any queue (a delayed job
// becoming due, a visibility timeout), and the same work is done lazily
// whenever a queue is used, so a test that advances an injected clock sees
// its effect on the next call.
package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/btree"

	"nexo/wal"
)

// Limits and defaults of Config.
const (
	// DefaultMaxPayload is the largest job payload.
	DefaultMaxPayload = 1 << 20
	// MaxNameLen bounds a queue name.
	MaxNameLen = 1024
	// DefaultCompactMinRecords is how many records the log must hold before
	// it is compacted; it is compacted once it holds more than
	// compactFactor records per live one.
	DefaultCompactMinRecords = 1 << 20
	// compactFactor: dead records dominate once the log holds this many
	// records per live record.
	compactFactor = 2
	// maxFailures bounds the failure history kept with a job; older
	// entries are dropped, their count kept.
	maxFailures = 10
	// retryInterval paces the timer when the log refused a record it wrote
	// on its own (a visibility timeout, a waiter's job) because it was full.
	retryInterval = 10 * time.Millisecond
)

// Sentinel errors. They carry no wire syntax.
var (
	ErrNotHeld       = errors.New("job is not held by this consumer")
	ErrNotDead       = errors.New("job is not a dead letter")
	ErrNotWaiting    = errors.New("job is not waiting")
	ErrNotDelayed    = errors.New("job is not delayed")
	ErrTooLong       = errors.New("value exceeds the maximum size")
	ErrPayloadTooBig = errors.New("payload exceeds the maximum size")
	ErrInvalidName   = errors.New("invalid queue name")
	ErrUnknownParam  = errors.New("unknown queue parameter")
	ErrInvalidValue  = errors.New("invalid value")
	ErrDedupMulti    = errors.New("a deduplication id needs a single payload")
	ErrOverload      = errors.New("the queue log is full")
	ErrReadOnly      = errors.New("the queue log failed; queues are read-only")
	ErrClosed        = errors.New("queue broker closed")
	errCorruptRecord = errors.New("corrupt queue log record")
	errUnknownRecord = errors.New("unknown queue log record")
)

// Config configures a Broker.
type Config struct {
	Dir               string      // directory of the log; created if missing
	WAL               wal.Options // fsync policy and queue bound of the log
	Defaults          Settings    // settings of queues that override nothing; zero = DefaultSettings()
	MaxPayload        int         // largest payload in bytes; 0 = DefaultMaxPayload
	CompactMinRecords int         // 0 = DefaultCompactMinRecords
	Now               func() time.Time
	Rand              func() float64 // backoff jitter source in [0, 1); nil = math/rand/v2
	Logger            *slog.Logger
}

// Broker is the QUEUE broker. All methods are safe for concurrent use.
type Broker struct {
	cfg  Config
	log  *wal.Log
	nowf func() time.Time
	rand func() float64
	lg   *slog.Logger

	mu     sync.RWMutex
	queues map[string]*queue
	nextID atomic.Uint64 // the next job id; ids are global and never reused

	schedMu    sync.Mutex
	sched      *btree.BTreeG[schedEntry]
	sleepUntil int64 // the deadline the timer sleeps to; 0 = none
	kick       chan struct{}

	consumersMu sync.Mutex
	consumers   map[int64]map[string]struct{} // queues where a consumer took jobs

	logRecords atomic.Int64 // records in the log, snapshot included
	liveJobs   atomic.Int64
	compacting atomic.Bool
	compactMu  sync.Mutex     // serialises Compact
	bg         sync.WaitGroup // a compaction in progress
	compacted  atomic.Int64
	failed     atomic.Bool // the log failed: the broker is read-only
	closed     atomic.Bool
	lastErr    atomic.Pointer[string]
	blocked    atomic.Int64
	counters   counters
	loaded     LoadStats
	notifier   atomic.Pointer[Notifier] // told the job events (events.go)
	// frozen is the time in unix ms while the clock is frozen
	// (FreezeClock); nil while it runs.
	frozen atomic.Pointer[int64]

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// counters are the broker's lifetime statistics.
type counters struct {
	pushed, delivered, acked, nacked, timedOut, released  atomic.Int64
	deadLettered, deadDropped, requeued, purged, overload atomic.Int64
	cancelled, repeated                                   atomic.Int64
}

// LoadStats describe the replay of the log at Open.
type LoadStats struct {
	Records  int64
	Jobs     int64
	Duration time.Duration
}

// Open validates cfg, opens the log in cfg.Dir, rebuilds the queues from it
// and starts the timer. Jobs that were in flight when the log was last
// written are ready again, their attempt counts kept.
func Open(cfg Config) (*Broker, error) {
	if cfg.Defaults == (Settings{}) {
		cfg.Defaults = DefaultSettings()
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.CompactMinRecords == 0 {
		cfg.CompactMinRecords = DefaultCompactMinRecords
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.Dir == "":
		return nil, errors.New("queue: a log directory is required")
	case cfg.MaxPayload < 0:
		return nil, fmt.Errorf("queue: negative max payload %d", cfg.MaxPayload)
	case cfg.CompactMinRecords < 0:
		return nil, fmt.Errorf("queue: negative compaction threshold %d", cfg.CompactMinRecords)
	}
	if err := cfg.Defaults.validate(); err != nil {
		return nil, fmt.Errorf("queue: default settings: %w", err)
	}
	b := &Broker{
		cfg:       cfg,
		nowf:      cfg.Now,
		rand:      cfg.Rand,
		lg:        cfg.Logger,
		queues:    make(map[string]*queue),
		sched:     btree.NewBTreeGOptions(schedLess, btree.Options{NoLocks: true}),
		kick:      make(chan struct{}, 1),
		consumers: make(map[int64]map[string]struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	b.nextID.Store(1)
	start := time.Now()
	logOpts := cfg.WAL
	logOpts.WriteOnly = true // the log is only replayed, at Open
	l, err := wal.Open(cfg.Dir, logOpts)
	if err != nil {
		return nil, fmt.Errorf("queue: open log: %w", err)
	}
	b.log = l
	if err := l.Replay(b.replay); err != nil {
		l.Close()
		return nil, fmt.Errorf("queue: replay %s: %w", cfg.Dir, err)
	}
	if b.recover() > 0 {
		// The records that follow were written against jobs ready again:
		// a replay must release them at the same point, or a QPURGE or a
		// take after this restart would replay against jobs in flight.
		var e encoder
		if _, err := b.appendRecs(e.restart()); err != nil {
			l.Close()
			return nil, fmt.Errorf("queue: log the restart in %s: %w", cfg.Dir, err)
		}
	}
	b.loaded = LoadStats{Records: b.logRecords.Load(), Jobs: b.liveJobs.Load(), Duration: time.Since(start)}
	go b.timerLoop()
	return b, nil
}

// Close stops the timer and closes the log. Records appended before are
// written (and synced as the fsync policy says) first. It is idempotent.
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed.Store(true)
		b.mu.Unlock()
		close(b.stop)
		<-b.done
		b.bg.Wait()
		err = b.log.Close()
	})
	return err
}

// Wait blocks until the log record at index (and every record before it)
// is durable under the fsync policy. Index 0 returns at once.
func (b *Broker) Wait(index uint64) error {
	if index == 0 {
		return nil
	}
	if err := b.log.Wait(index); err != nil {
		b.fail(err)
		return err
	}
	return nil
}

// Notify reports whether the log record at index (and every record before
// it) is durable under the fsync policy, without waiting behind another
// writer's batch; when it is not, n.Notify is called once it is or once the
// log has failed (wal.Log.Notify). Index 0 is durable at once.
func (b *Broker) Notify(index uint64, n interface{ Notify() }) (bool, error) {
	if index == 0 {
		return true, nil
	}
	durable, err := b.log.Notify(index, n)
	if err != nil {
		b.fail(err)
	}
	return durable, err
}

// now is the injected clock in unix milliseconds.
func (b *Broker) now() int64 {
	if at := b.frozen.Load(); at != nil {
		return *at
	}
	return b.nowf().UnixMilli()
}

// FreezeClock stops the broker's time at now until the returned function
// is called: visibility timeouts, delays, schedules and rate windows are
// judged at that one instant, by commands and by the timer alike, as the
// store's expiries are while a transaction or a script runs (Redis 7), so
// that a job in flight for one of its commands is in flight for the next.
// Freezes may not overlap.
func (b *Broker) FreezeClock() (thaw func()) {
	at := b.now()
	b.frozen.Store(&at)
	return func() {
		b.frozen.Store(nil)
		// The timer may sleep for a deadline judged at the frozen time.
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// appendRecs appends records to the log. A full log leaves everything as
// it was (ErrOverload); a failed log turns the broker read-only.
// Lock should be held (the queue's, so that log order is memory order).
func (b *Broker) appendRecs(recs ...[]byte) (uint64, error) {
	switch {
	case b.closed.Load():
		return 0, ErrClosed
	case b.failed.Load():
		return 0, ErrReadOnly
	}
	idx, err := b.log.Append(recs...)
	switch {
	case err == nil:
		b.logRecords.Add(int64(len(recs)))
		return idx, nil
	case errors.Is(err, wal.ErrOverload):
		b.counters.overload.Add(1)
		return 0, ErrOverload
	case errors.Is(err, wal.ErrClosed):
		return 0, ErrClosed
	default:
		b.fail(err)
		return 0, ErrReadOnly
	}
}

// fail turns the broker read-only after a log error.
func (b *Broker) fail(err error) {
	if b.failed.CompareAndSwap(false, true) {
		msg := err.Error()
		b.lastErr.Store(&msg)
		b.lg.Error("queue log failed; queues are read-only until restart", "err", err)
	}
}

// Stats is a snapshot of the broker's state and counters.
type Stats struct {
	Queues                         int
	Ready, Delayed, InFlight, Dead int64
	Completed                      int64 // kept by keep-completed
	Blocked                        int64 // consumers waiting in a blocking pop
	Pushed, Delivered, Acked       int64
	Nacked, TimedOut, Released     int64 // failures by reason
	DeadLettered, DeadDropped      int64
	Requeued, Purged, Cancelled    int64
	Repeated                       int64 // jobs pushed by schedules
	OverloadRejections             int64
	ReadOnly                       bool
	LastError                      string
	LogIndex                       uint64
	LogRecords                     int64 // records a restart replays
	Compactions                    int64
	Loaded                         LoadStats
	WAL                            wal.Stats
}

// Stats returns the broker's counts and counters.
func (b *Broker) Stats() Stats {
	st := Stats{
		Blocked:            b.blocked.Load(),
		Pushed:             b.counters.pushed.Load(),
		Delivered:          b.counters.delivered.Load(),
		Acked:              b.counters.acked.Load(),
		Nacked:             b.counters.nacked.Load(),
		TimedOut:           b.counters.timedOut.Load(),
		Released:           b.counters.released.Load(),
		DeadLettered:       b.counters.deadLettered.Load(),
		DeadDropped:        b.counters.deadDropped.Load(),
		Requeued:           b.counters.requeued.Load(),
		Purged:             b.counters.purged.Load(),
		Cancelled:          b.counters.cancelled.Load(),
		Repeated:           b.counters.repeated.Load(),
		OverloadRejections: b.counters.overload.Load(),
		ReadOnly:           b.failed.Load(),
		LogIndex:           b.log.LastIndex(),
		LogRecords:         b.logRecords.Load(),
		Compactions:        b.compacted.Load(),
		Loaded:             b.loaded,
		WAL:                b.log.Stats(),
	}
	if p := b.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, q := range b.queues {
		q.mu.Lock()
		if q.declared {
			st.Queues++
		}
		st.Ready += int64(q.ready.Len())
		st.Delayed += int64(q.delayed.Len())
		st.InFlight += int64(q.inflight.Len())
		st.Dead += int64(q.dead.Len())
		st.Completed += int64(q.completed.Len())
		q.mu.Unlock()
	}
	return st
}
