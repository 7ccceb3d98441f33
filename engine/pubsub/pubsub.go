// Package pubsub is NEXO's PUBSUB broker: publish/subscribe on hierarchical
// topics with MQTT wildcards, Redis channels and glob patterns on the same
// namespace, and retained values that survive restarts.
//
// A message published on a topic reaches three kinds of subscriptions:
// MQTT topic filters (Filter: "home/+/temp", "home/#"), exact channels
// (Channel, Redis's SUBSCRIBE) and Redis glob patterns (Pattern, Redis's
// PSUBSCRIBE). Filters live in a trie with dedicated '+' and '#' children,
// so matching costs in proportion to the topic's depth and to the matches,
// not to the number of subscriptions. Messages are volatile: they reach the
// subscribers present at that moment and are forgotten.
//
// A retained value is a topic's last value. Every change of a retained
// value is a record of the broker's write-ahead log (package wal), appended
// under Broker.rmu before the same change is applied to memory, so memory
// holds the log's changes in the log's order; the log is replayed on Open.
// Methods that change retained values return the log index their caller
// passes to Wait before it acknowledges the change. A new filter
// subscription receives the retained value of every matching topic.
//
// The broker knows nothing of connections: it hands messages to the
// Subscriber interface, which its caller implements and which must queue
// them without blocking. Deliver is never called with Broker.mu or
// Broker.rmu held, so a publish fans out while subscriptions change.
//
// Lock order: a retained stripe (one of retainStripes, chosen by the
// topic's hash), then Broker.rmu, then Broker.mu. A retained publish holds
// its topic's stripe while it changes the value and delivers it, and a new
// filter subscription holds each topic's stripe while it delivers that
// topic's retained value; so a subscriber never receives a topic's older
// value after a newer one.
package pubsub

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"nexo/wal"
)

// Defaults of Config.
const (
	// DefaultCompactMinRecords is how many records the retained log must
	// hold before it is compacted; past it, the log is compacted once it
	// holds more than compactFactor records per retained value.
	DefaultCompactMinRecords = 1 << 16
	// compactFactor: dead records dominate once the log holds this many
	// records per live retained value.
	compactFactor = 4
	// retainStripes is the number of locks that order retained publishes
	// and retained deliveries per topic; a power of two.
	retainStripes = 256
	// matchBuffer is the number of matching subscription sets a publish
	// collects without allocating.
	matchBuffer = 8
)

// Sentinel errors. They carry no wire syntax.
var (
	ErrFilterEmpty       = errors.New("empty topic filter")
	ErrFilterTooLong     = errors.New("topic filter too long")
	ErrFilterWildcard    = errors.New("wildcard inside a topic filter level")
	ErrFilterHashNotLast = errors.New("multi-level wildcard not last in topic filter")
	ErrTopicEmpty        = errors.New("empty topic")
	ErrTopicTooLong      = errors.New("topic too long")
	ErrTopicWildcard     = errors.New("wildcard in topic name")
	ErrOverload          = errors.New("the retained log is full")
	ErrReadOnly          = errors.New("the retained log failed; retained values are read-only")
	ErrClosed            = errors.New("pubsub broker closed")
	ErrCorruptRecord     = errors.New("corrupt retained log record")
)

// Kind is the kind of a subscription.
type Kind uint8

const (
	// Filter subscriptions match topics with MQTT wildcards (PSUB).
	Filter Kind = iota
	// Channel subscriptions match one topic exactly (SUBSCRIBE).
	Channel
	// Pattern subscriptions match topics with a Redis glob (PSUBSCRIBE).
	Pattern
	numKinds
)

// Message is one delivery: a topic's payload for one subscription.
type Message struct {
	Kind     Kind   // the kind of the subscription that matched
	Filter   string // that subscription's filter, channel or pattern
	Topic    []byte
	Payload  []byte
	Retained bool // the topic's retained value, sent because the subscription is new
	// Epoch is Broker.Epoch when the subscription was found for this
	// message: a Deliver may come after the subscription's removal, and a
	// subscriber that read a later Epoch after a removal knows such a
	// message was matched against the index with that removal.
	Epoch uint64
}

// Subscriber receives the messages of its subscriptions. Its caller
// implements it, one per connection.
type Subscriber interface {
	// Deliver queues m and returns at once; m's slices are valid only
	// during the call. It returns false when m put the subscriber over its
	// output limit and the subscriber disconnected itself: the broker then
	// drops every subscription of the subscriber and counts a slow
	// consumer. A subscriber returns false once; it accepts and discards
	// what arrives after it disconnected. Deliver runs on the goroutine of
	// the Publish or Subscribe call that produced m, with that call's
	// batch, and must not call the broker.
	Deliver(m Message, batch Batch) bool
}

// Batch is handed by the caller of Publish or Subscribe to every Deliver the
// call makes; the broker does not use it. A Subscriber that queued a message
// without sending it calls Touch, so that the caller flushes each touched
// subscriber once at the end of its batch of commands instead of once per
// message. A nil Batch means that each Subscriber flushes on its own.
type Batch interface {
	Touch(s Subscriber)
}

// Counts are a subscriber's subscriptions by kind.
type Counts struct {
	Channels, Patterns, Filters int
}

// Total is the number of subscriptions of every kind.
func (c Counts) Total() int { return c.Channels + c.Patterns + c.Filters }

func (c *Counts) add(k Kind, n int) {
	switch k {
	case Channel:
		c.Channels += n
	case Pattern:
		c.Patterns += n
	default:
		c.Filters += n
	}
}

// Config configures a Broker.
type Config struct {
	Dir               string      // directory of the retained log; created if missing
	WAL               wal.Options // fsync policy and queue bound of the log
	CompactMinRecords int         // 0 = DefaultCompactMinRecords
	Now               func() time.Time
	Logger            *slog.Logger
}

// Broker is the PUBSUB broker. All methods are safe for concurrent use.
type Broker struct {
	cfg  Config
	log  *wal.Log
	nowf func() time.Time
	lg   *slog.Logger
	seed maphash.Seed

	// mu guards the subscription index.
	mu          sync.RWMutex
	root        *node
	filters     map[string]*subset
	channels    map[string]*subset
	patterns    map[string]*subset
	subscribers map[Subscriber]*subscriber
	removals    uint64 // subscriptions removed since Open (Epoch)

	stripes [retainStripes]sync.Mutex

	// rmu guards the retained values, and the log is appended to under it.
	rmu      sync.RWMutex
	retained *rnode
	nret     int
	retBytes int64
	scratch  []byte

	logRecords  atomic.Int64 // records a restart replays
	compacting  atomic.Bool
	compactions atomic.Int64
	failed      atomic.Bool
	closed      atomic.Bool
	lastErr     atomic.Pointer[string]
	counters    counters
	compactWG   sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

// counters are the broker's lifetime statistics.
type counters struct {
	published, delivered, refused, slow, overload atomic.Int64
}

// Open validates cfg, opens the retained log in cfg.Dir and rebuilds the
// retained values from it.
func Open(cfg Config) (*Broker, error) {
	if cfg.CompactMinRecords == 0 {
		cfg.CompactMinRecords = DefaultCompactMinRecords
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WAL.Logger == nil {
		cfg.WAL.Logger = cfg.Logger
	}
	switch {
	case cfg.Dir == "":
		return nil, errors.New("pubsub: a log directory is required")
	case cfg.CompactMinRecords < 0:
		return nil, fmt.Errorf("pubsub: negative compaction threshold %d", cfg.CompactMinRecords)
	}
	b := &Broker{
		cfg:         cfg,
		nowf:        cfg.Now,
		lg:          cfg.Logger,
		seed:        maphash.MakeSeed(),
		root:        &node{},
		filters:     make(map[string]*subset),
		channels:    make(map[string]*subset),
		patterns:    make(map[string]*subset),
		subscribers: make(map[Subscriber]*subscriber),
		retained:    &rnode{},
	}
	logOpts := cfg.WAL
	logOpts.WriteOnly = true // the log is only replayed, at Open
	l, err := wal.Open(cfg.Dir, logOpts)
	if err != nil {
		return nil, fmt.Errorf("pubsub: open log: %w", err)
	}
	b.log = l
	if err := l.Replay(b.replay); err != nil {
		l.Close()
		return nil, fmt.Errorf("pubsub: replay %s: %w", cfg.Dir, err)
	}
	if b.compactDue() {
		b.compact()
	}
	return b, nil
}

// Close waits for a compaction in progress and closes the log; records
// appended before are written first. It is idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.rmu.Lock()
		b.closed.Store(true)
		b.rmu.Unlock()
		b.compactWG.Wait()
		b.closeErr = b.log.Close()
	})
	return b.closeErr
}

// Wait blocks until the retained log record at index (and every record
// before it) is durable under the fsync policy. Index 0 returns at once.
func (b *Broker) Wait(index uint64) error {
	if index == 0 {
		return nil
	}
	if err := b.log.Wait(index); err != nil {
		b.fail(err)
		return ErrReadOnly
	}
	return nil
}

// Notify reports whether the retained log record at index (and every
// record before it) is durable under the fsync policy, without waiting
// behind another writer's batch; when it is not, n.Notify is called once it
// is or once the log has failed (wal.Log.Notify). Index 0 is durable at once.
func (b *Broker) Notify(index uint64, n interface{ Notify() }) (bool, error) {
	if index == 0 {
		return true, nil
	}
	durable, err := b.log.Notify(index, n)
	if err != nil {
		b.fail(err)
		return false, ErrReadOnly
	}
	return durable, nil
}

// fail turns retained values read-only after a log error.
func (b *Broker) fail(err error) {
	if b.failed.CompareAndSwap(false, true) {
		msg := err.Error()
		b.lastErr.Store(&msg)
		b.lg.Error("pubsub retained log failed; retained values are read-only until restart", "err", err)
	}
}

// Stats is a snapshot of the broker's state and counters.
type Stats struct {
	Subscribers   int // subscribers with at least one subscription
	Subscriptions int // subscriptions of every kind
	Filters       int // distinct topic filters subscribed to
	Channels      int // distinct channels subscribed to
	Patterns      int // distinct glob patterns subscribed to
	Retained      int // topics with a retained value
	RetainedBytes int64
	Published     int64 // messages published
	Delivered     int64 // deliveries accepted by subscribers
	Refused       int64 // deliveries refused by subscribers over their limit
	SlowConsumers int64 // subscribers dropped for being over their limit
	Overload      int64 // retained writes refused because the log was full
	ReadOnly      bool
	LastError     string
	LogRecords    int64 // records a restart replays
	Compactions   int64
	WAL           wal.Stats
}

// Stats returns the broker's counts and counters.
func (b *Broker) Stats() Stats {
	st := Stats{
		Published:     b.counters.published.Load(),
		Delivered:     b.counters.delivered.Load(),
		Refused:       b.counters.refused.Load(),
		SlowConsumers: b.counters.slow.Load(),
		Overload:      b.counters.overload.Load(),
		ReadOnly:      b.failed.Load(),
		LogRecords:    b.logRecords.Load(),
		Compactions:   b.compactions.Load(),
		WAL:           b.log.Stats(),
	}
	if msg := b.lastErr.Load(); msg != nil {
		st.LastError = *msg
	}
	b.mu.RLock()
	st.Subscribers = len(b.subscribers)
	for _, sub := range b.subscribers {
		st.Subscriptions += sub.counts.Total()
	}
	st.Filters, st.Channels, st.Patterns = len(b.filters), len(b.channels), len(b.patterns)
	b.mu.RUnlock()
	b.rmu.RLock()
	st.Retained, st.RetainedBytes = b.nret, b.retBytes
	b.rmu.RUnlock()
	return st
}

// now is the injected clock in unix milliseconds.
func (b *Broker) now() int64 { return b.nowf().UnixMilli() }

// stripe is the lock that orders the retained publishes and deliveries of
// topic.
func (b *Broker) stripe(topic []byte) *sync.Mutex {
	return &b.stripes[maphash.Bytes(b.seed, topic)&(retainStripes-1)]
}
