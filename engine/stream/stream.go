// Package stream is NEXO's STREAM broker: Kafka-style append-only logs
// with partitions, dense offsets, replay, retention and consumer groups, on
// one node.
//
// # Storage
//
// A stream owns a directory under Config.Dir named by the hex encoding of
// its name. In it, each partition is its own durable log (package wal) in
// the directory named by the partition number, one record per message
// carrying its offset, append time, key and value; and the directory "meta"
// holds the stream's metadata log: its settings and its consumer groups'
// committed offsets. Every change is appended to its log under the stream's
// lock and then applied to memory, so memory holds what the logs hold, in
// their order. Each method that changes state returns a Token that its
// caller passes to Wait before acknowledging the change to a client. The
// settings record that creates a stream or adds partitions is made durable
// before the partitions are used, because their messages are acknowledged
// on their own logs.
//
// Messages are served from the partition logs. Memory holds per partition
// only what locates and retains messages: the wal index of its first
// retained message, and per retained message its append time and record
// size (16 bytes), which a read from a time searches and retention by age
// and bytes sums. Since each message is one log record, in offset order,
// the message at an offset is read with one wal.Log.Read at an index
// computed from it; its key and value are read again for every read.
//
// # Partitions and keys
//
// A stream is created by Create with its settings, or by its first Append
// with Config.Defaults. Alter grows the partition count, never shrinks it.
// An append with a key goes to partition FNV-1a-32(key) mod partitions, so
// the same key lands in the same partition while the count stays the same;
// growing the count changes the mapping for new messages, as in Kafka. An
// append without a key goes to the next partition in round-robin order.
// One Append call writes all its payloads to one partition, whole or not at
// all.
//
// # Offsets
//
// Offsets are dense per partition and start at 0. A read from an offset
// that retention already removed starts at the earliest retained message
// (Kafka's auto.offset.reset=earliest); the returned messages carry their
// offsets, so the reader sees the gap. A read beyond the end of the
// partition is ErrOffsetOutOfRange. Append times are the injected clock's,
// made non-decreasing per partition, so that a read from a time finds the
// first message appended at or after it by binary search.
//
// # Retention
//
// Each stream limits every partition by age, bytes and message count (0 =
// no limit); streams created by Append get Config.Defaults, which bound
// age and bytes unless set otherwise. Messages past a limit are removed
// from the partition at once, oldest first: on append, on read, on Info
// and every Config.RetentionInterval (a sweep that also expires silent
// group members). Once the removed messages of a partition hold
// Config.CompactMinBytes, a background compaction calls wal.Compact with a
// snapshot of one opBase record (the partition's next kept offset) up to
// the wal index of the last removed message: the log drops its front, and
// offsets continue across restarts even when every message was removed. A
// restart before that compaction replays the removed messages and removes
// them again: those before the first offset of its partition that the
// last settings record holds (every settings record holds them, so that an
// Alter that lifts a limit does not bring back what the limit removed),
// then those the settings in force remove.
//
// # Consumer groups
//
// A group is created at the earliest, latest, an offset or a time, which
// sets its committed offset (the next offset to consume) in every
// partition; Seek sets them again and Commit sets one; these are the
// records of the metadata log, which is rewritten as the current state once
// it holds Config.MetaCompactRecords records. A partition added after the
// group starts at its earliest offset. Members
// are not persisted: a member joins with its first GroupRead, which is also
// its heartbeat; a member that has not called GroupRead or Commit for
// Config.SessionTimeout (blocked reads count as alive) leaves, as Leave
// does. Partitions are assigned by range over the members sorted by id:
// with n partitions and m members, each member gets n/m consecutive
// partitions and the first n mod m one more. A partition that changes owner
// is read again from its committed offset, so delivery is at least once.
// A member commits only the partitions it owns.
//
// # Locking
//
// Lock order: Broker.mu (the stream map), then stream.mu (everything in a
// stream). Logs are appended to and read under stream.mu, so a compaction
// never drops a record a read is about to read. Waiting for durability
// happens under no lock, except for the settings record of Create, of an
// Append that creates its stream and of a growing Alter, and for the rare
// metadata compaction. Partition logs are compacted in the background,
// under no lock.
package stream

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"nexo/wal"
)

// Limits and defaults of Config.
const (
	// MaxNameLen bounds stream, group and member names; a stream's
	// directory name is twice as long and must fit a file name.
	MaxNameLen = 100
	// MaxPartitions bounds the partitions of a stream; each is an open log.
	MaxPartitions = 256
	// DefaultPartitions, DefaultMaxAge and DefaultMaxBytes make the
	// zero Config.Defaults. Retained messages are held in the partition
	// logs, so the default bounds each partition's disk use.
	DefaultPartitions = 1
	DefaultMaxAge     = 7 * 24 * time.Hour
	DefaultMaxBytes   = 256 << 20
	// DefaultMaxPayload is the largest key plus value of a message.
	DefaultMaxPayload = 1 << 20
	// DefaultMaxReadBytes bounds the messages one read returns, in record
	// bytes (at least one message): the memory a read takes, whatever its
	// COUNT.
	DefaultMaxReadBytes = 16 << 20
	// DefaultSessionTimeout is how long a group member stays without a
	// GroupRead or Commit before it leaves.
	DefaultSessionTimeout = 30 * time.Second
	// DefaultRetentionInterval is the period of the retention sweep.
	DefaultRetentionInterval = time.Second
	// DefaultCompactMinBytes is how many bytes of removed messages a
	// partition log holds before it is compacted.
	DefaultCompactMinBytes = 4 << 20
	// DefaultMetaCompactRecords is how many records the metadata log of a
	// stream holds before it is compacted.
	DefaultMetaCompactRecords = 1 << 14
	// metaDir is the directory of a stream's metadata log.
	metaDir = "meta"
	// dirPerm is the permission of the directories the broker creates.
	dirPerm = 0o750
)

// Sentinel errors. They carry no wire syntax.
var (
	ErrUnknownStream       = errors.New("no such stream")
	ErrUnknownGroup        = errors.New("no such consumer group")
	ErrStreamExists        = errors.New("stream already exists")
	ErrGroupExists         = errors.New("consumer group already exists")
	ErrOffsetOutOfRange    = errors.New("offset out of range")
	ErrPartitionOutOfRange = errors.New("partition out of range")
	ErrShrink              = errors.New("the partition count of a stream can only grow")
	ErrNotAssigned         = errors.New("partition is not assigned to this member")
	ErrInvalidName         = errors.New("invalid name")
	ErrInvalidValue        = errors.New("invalid value")
	ErrPayloadTooBig       = errors.New("payload exceeds the maximum size")
	ErrTooManyMessages     = errors.New("more messages than one append takes")
	ErrOverload            = errors.New("the stream log is full")
	ErrFailed              = errors.New("the stream log failed")
	ErrClosed              = errors.New("stream broker closed")
	ErrReadCut             = errors.New("retention removed messages a read had not sent yet")
)

// Settings of a stream. Retention limits apply to each partition; 0 means
// no limit.
type Settings struct {
	Partitions  int
	MaxAge      time.Duration
	MaxBytes    int64 // bytes of encoded message records
	MaxMessages int64
}

func (s Settings) validate() error {
	if s.Partitions < 1 || s.Partitions > MaxPartitions || s.MaxAge < 0 || s.MaxBytes < 0 || s.MaxMessages < 0 {
		return ErrInvalidValue
	}
	return nil
}

// Config configures a Broker.
type Config struct {
	Dir                string      // directory of the streams; created if missing
	WAL                wal.Options // fsync policy and segment size of every log
	Defaults           Settings    // settings of streams created by Append; zero = DefaultPartitions, DefaultMaxAge, DefaultMaxBytes
	MaxPayload         int         // largest key plus value in bytes; 0 = DefaultMaxPayload
	MaxReadBytes       int64       // most record bytes one read returns, at least one message; 0 = DefaultMaxReadBytes
	SessionTimeout     time.Duration
	RetentionInterval  time.Duration
	CompactMinBytes    int64
	MetaCompactRecords int
	Now                func() time.Time
	Logger             *slog.Logger
}

func (c *Config) withDefaults() error {
	if c.Defaults == (Settings{}) {
		c.Defaults = Settings{Partitions: DefaultPartitions, MaxAge: DefaultMaxAge, MaxBytes: DefaultMaxBytes}
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxReadBytes == 0 {
		c.MaxReadBytes = DefaultMaxReadBytes
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.RetentionInterval == 0 {
		c.RetentionInterval = DefaultRetentionInterval
	}
	if c.CompactMinBytes == 0 {
		c.CompactMinBytes = DefaultCompactMinBytes
	}
	if c.MetaCompactRecords == 0 {
		c.MetaCompactRecords = DefaultMetaCompactRecords
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case c.Dir == "":
		return errors.New("stream: a directory is required")
	case c.MaxPayload < 0 || c.MaxReadBytes < 0 || c.SessionTimeout < 0 || c.RetentionInterval < 0 || c.CompactMinBytes < 0 || c.MetaCompactRecords < 0:
		return errors.New("stream: negative limit in config")
	}
	if err := c.Defaults.validate(); err != nil {
		return fmt.Errorf("stream: default settings: %w", err)
	}
	return nil
}

// Token names a log record; Wait returns once it is durable.
type Token struct {
	log   *wal.Log
	index uint64
}

// DurableLog is a log as Token.Durable returns it: Wait blocks until a
// record is durable; Notify tells without waiting behind another writer's
// batch, and calls n back once it is (wal.Log.Wait and wal.Log.Notify).
type DurableLog interface {
	Wait(index uint64) error
	Notify(index uint64, n interface{ Notify() }) (bool, error)
}

// Durable returns the log of the token's record and its index, so that a
// caller can gather many tokens into one wait per log; nil for the zero
// Token, which is durable at once.
func (t Token) Durable() (log DurableLog, index uint64) {
	if t.log == nil {
		return nil, 0
	}
	return t.log, t.index
}

// Broker is the STREAM broker. All methods are safe for concurrent use.
type Broker struct {
	cfg Config
	lg  *slog.Logger

	mu      sync.RWMutex
	streams map[string]*stream
	closed  bool

	bg   sync.WaitGroup // compactions and the retention loop
	stop chan struct{}
	// frozen is the time in unix ms while the clock is frozen
	// (FreezeClock); nil while it runs.
	frozen atomic.Pointer[int64]
}

// Open validates cfg, opens every stream under cfg.Dir, rebuilds memory
// from the logs, applies retention and starts the retention sweep.
func Open(cfg Config) (*Broker, error) {
	if err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, dirPerm); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	b := &Broker{cfg: cfg, lg: cfg.Logger, streams: make(map[string]*stream), stop: make(chan struct{})}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	for _, e := range entries {
		name, err := hex.DecodeString(e.Name())
		if !e.IsDir() || err != nil {
			b.lg.Warn("stream: ignoring a file that is no stream", "path", filepath.Join(cfg.Dir, e.Name()))
			continue
		}
		s, err := b.load(string(name))
		if err != nil {
			b.Close()
			return nil, err
		}
		if s == nil {
			continue
		}
		b.streams[s.name] = s
	}
	b.bg.Add(1)
	go b.retentionLoop()
	return b, nil
}

// Close stops the retention sweep, wakes blocked readers with ErrClosed,
// waits for compactions and closes every log.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.stop)
	// A closed stream starts no compaction, so bg.Wait has no Add racing it.
	for _, s := range b.streams {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
	b.mu.Unlock()
	b.bg.Wait()
	return b.closeStreams()
}

func (b *Broker) closeStreams() error {
	var errs []error
	for _, s := range b.streams {
		s.mu.Lock()
		errs = append(errs, s.closeLogs())
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Wait blocks until the record named by t is durable under the fsync
// policy. The zero Token is durable at once.
func (b *Broker) Wait(t Token) error {
	if t.log == nil {
		return nil
	}
	if err := t.log.Wait(t.index); err != nil {
		b.lg.Error("stream: log failed", "err", err)
		return ErrFailed
	}
	return nil
}

// List returns the names of every stream, sorted.
func (b *Broker) List() []string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	names := make([]string, 0, len(b.streams))
	for name := range b.streams {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Stats are the broker's totals.
type Stats struct {
	Streams    int
	Partitions int
	Groups     int
	Messages   int64 // retained
	Bytes      int64 // retained message records
}

// Stats returns the broker's totals.
func (b *Broker) Stats() Stats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	st := Stats{Streams: len(b.streams)}
	for _, s := range b.streams {
		s.mu.Lock()
		st.Partitions += len(s.parts)
		st.Groups += len(s.groups)
		for _, p := range s.parts {
			st.Messages += int64(len(p.msgs))
			st.Bytes += p.bytes
		}
		s.mu.Unlock()
	}
	return st
}

// retentionLoop applies retention to every stream and expires silent group
// members each RetentionInterval.
func (b *Broker) retentionLoop() {
	defer b.bg.Done()
	t := time.NewTicker(b.cfg.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		b.mu.RLock()
		now := b.now()
		for _, s := range b.streams {
			s.mu.Lock()
			s.retainAll()
			for _, g := range s.groups {
				s.expire(g, now)
			}
			s.mu.Unlock()
		}
		b.mu.RUnlock()
	}
}

// now is the injected clock in unix milliseconds, or the frozen time.
func (b *Broker) now() int64 {
	if at := b.frozen.Load(); at != nil {
		return *at
	}
	return b.cfg.Now().UnixMilli()
}

// FreezeClock stops the broker's time at now until the returned function
// is called: appends are stamped, retention by age judged and silent group
// members expired at that one instant, as Redis's time stands still while
// a transaction or a script runs. Freezes may not overlap.
func (b *Broker) FreezeClock() (thaw func()) {
	at := b.now()
	b.frozen.Store(&at)
	return func() { b.frozen.Store(nil) }
}

func validName(name string) bool { return name != "" && len(name) <= MaxNameLen }

// lookup returns the open stream called name.
func (b *Broker) lookup(name string) (*stream, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	s, ok := b.streams[name]
	if !ok {
		return nil, ErrUnknownStream
	}
	return s, nil
}

// logError maps a failed wal append to the broker's errors.
func (b *Broker) logError(err error) error {
	switch {
	case errors.Is(err, wal.ErrOverload):
		return ErrOverload
	case errors.Is(err, wal.ErrClosed):
		return ErrClosed
	}
	b.lg.Error("stream: log append failed", "err", err)
	return ErrFailed
}
