package stream

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"nexo/wal"
)

// stream is a stream with its partitions and groups. Every field is
// guarded by mu.
type stream struct {
	mu       sync.Mutex
	b        *Broker
	name     string
	dir      string
	settings Settings
	meta     *wal.Log
	metaRecs int // records in the metadata log, snapshot included
	// floors is, while the stream loads, the offset of the first message
	// each partition retained when the last settings record was written.
	floors []int64
	parts  []*partition
	groups map[string]*group
	rr     int           // the next partition of an append without key
	wake   chan struct{} // made by a waiting reader, closed when messages arrive or assignments change
	closed bool
	enc    encoder

	// Append's scratch, reused across appends: the encoded messages back
	// to back, where each ends, and the records cut from them.
	appendBuf  []byte
	appendEnds []int
	appendRecs [][]byte
}

// newStream returns the stream called name with no log open.
func (b *Broker) newStream(name string) *stream {
	return &stream{b: b, name: name, dir: filepath.Join(b.cfg.Dir, hex.EncodeToString([]byte(name))),
		groups: make(map[string]*group)}
}

// load opens the stream called name from its directory; it returns nil
// and removes the directory when the stream's creation did not complete.
func (b *Broker) load(name string) (*stream, error) {
	s := b.newStream(name)
	meta, err := wal.Open(filepath.Join(s.dir, metaDir), b.cfg.WAL)
	if err != nil {
		return nil, fmt.Errorf("stream %q: %w", name, err)
	}
	s.meta = meta
	if err := meta.Replay(s.replayMeta); err != nil {
		s.closeLogs()
		return nil, fmt.Errorf("stream %q: replay metadata: %w", name, err)
	}
	if s.settings.Partitions == 0 {
		// Create returns only once the settings record is durable, so
		// the stream was never acknowledged: a crash cut its creation.
		s.closeLogs()
		b.lg.Warn("stream: removing a stream whose creation did not complete", "stream", name)
		if err := os.RemoveAll(s.dir); err != nil {
			return nil, fmt.Errorf("stream %q: %w", name, err)
		}
		return nil, nil
	}
	if err := s.openPartitions(s.settings.Partitions, true); err != nil {
		s.closeLogs()
		return nil, err
	}
	lost := s.dropBelowFloors()
	if cut := s.cutBackCommits(); lost || cut {
		// The metadata log names offsets past a partition's end, which
		// the next messages will take: a restart must not read it again.
		// The settings record appended first gives the rewrite a record
		// to cover when the log holds nothing past its snapshot.
		_, err := s.appendMeta(settingsRecord(&s.enc, s.settings, s.firsts()))
		if err == nil {
			err = s.rewriteMeta()
		}
		if err != nil {
			s.closeLogs()
			return nil, fmt.Errorf("stream %q: rewrite metadata after a lost tail: %w", name, err)
		}
	}
	s.retainAll()
	return s, nil
}

// cutBackCommits cuts a group's committed offset that lies past its
// partition's end back to that end, once the partitions are replayed. A
// crash of the machine can take the unsynced tail of a partition's log
// (the last second under everysec) and keep a commit of the metadata log,
// a log of its own; the offsets past the end then name the next messages
// appended, which the group must read. It reports whether it cut one.
// Lock should be held.
func (s *stream) cutBackCommits() (cut bool) {
	for _, g := range s.groups {
		for i, p := range s.parts {
			if g.committed[i] > p.next {
				s.b.lg.Warn("stream: a committed offset lies past the end of its partition, whose log lost its tail; cut back to the end",
					"stream", s.name, "group", g.name, "partition", i, "committed", g.committed[i], "end", p.next)
				g.committed[i], g.cursor[i] = p.next, p.next
				cut = true
			}
		}
	}
	return cut
}

// firsts returns the offset of the first message each partition retains,
// for a settings record. Lock should be held.
func (s *stream) firsts() []int64 {
	out := make([]int64, len(s.parts))
	for i, p := range s.parts {
		out[i] = p.first
	}
	return out
}

// raiseFloors notes the firsts of a settings record being replayed.
// Retention only ever moves a partition's first offset forward, so the
// highest recorded is the one that holds.
func (s *stream) raiseFloors(firsts []int64) {
	for i, f := range firsts {
		if i == len(s.floors) {
			s.floors = append(s.floors, f)
		}
		s.floors[i] = max(s.floors[i], f)
	}
}

// dropBelowFloors removes, once the partitions are replayed, the messages
// retention had removed before the last settings record. Retention at
// load removes again what the settings in force remove, but not what
// tighter settings before them did: an Alter that lifts a limit would
// bring those messages back. A partition whose log ends before its floor
// (a tail lost in a crash of the machine) keeps no message, and lost
// reports that one did. Lock should be held.
func (s *stream) dropBelowFloors() (lost bool) {
	for i, p := range s.parts {
		if i < len(s.floors) {
			if n := min(s.floors[i]-p.first, int64(len(p.msgs))); n > 0 {
				p.dropFront(int(n))
			}
			if s.floors[i] > p.next {
				s.b.lg.Warn("stream: a partition's log ends before the first offset it retained, and lost its tail",
					"stream", s.name, "partition", i, "first_retained", s.floors[i], "end", p.next)
				lost = true
			}
		}
	}
	s.floors = nil
	return lost
}

// create makes the stream called name with settings set and writes its
// first record.
func (b *Broker) create(name string, set Settings) (*stream, Token, error) {
	s := b.newStream(name)
	if err := os.RemoveAll(s.dir); err != nil {
		return nil, Token{}, fmt.Errorf("stream %q: %w", name, err)
	}
	meta, err := wal.Open(filepath.Join(s.dir, metaDir), b.cfg.WAL)
	if err != nil {
		return nil, Token{}, fmt.Errorf("stream %q: %w", name, err)
	}
	s.meta = meta
	// The settings record is made durable before any message can be
	// acknowledged in the stream's partitions, whose logs are separate.
	idx, err := meta.Append(settingsRecord(&s.enc, set, nil))
	if err != nil {
		err = b.logError(err)
	} else if err = meta.Wait(idx); err != nil {
		b.lg.Error("stream: log failed", "err", err)
		err = ErrFailed
	}
	if err != nil {
		s.closeLogs()
		os.RemoveAll(s.dir)
		return nil, Token{}, err
	}
	s.metaRecs++
	s.settings = set
	if err := s.openPartitions(set.Partitions, false); err != nil {
		s.closeLogs()
		os.RemoveAll(s.dir)
		return nil, Token{}, err
	}
	return s, Token{meta, idx}, nil
}

// openPartitions opens the partition logs up to n, replaying them when
// replay is set. Lock should be held.
func (s *stream) openPartitions(n int, replay bool) error {
	for i := len(s.parts); i < n; i++ {
		l, err := wal.Open(filepath.Join(s.dir, strconv.Itoa(i)), s.b.cfg.WAL)
		if err != nil {
			return fmt.Errorf("stream %q partition %d: %w", s.name, i, err)
		}
		p := &partition{log: l}
		s.parts = append(s.parts, p)
		if !replay {
			continue
		}
		index := l.Stats().SnapshotIndex
		err = l.Replay(func(rec []byte) error {
			if len(rec) == 0 {
				return errCorruptRecord
			}
			d := decoder{buf: rec[1:]}
			switch rec[0] {
			case opBase:
				p.first = d.int()
				p.next = p.first
			case opMessage:
				index++
				offset, at := d.int(), d.int()
				if d.err == nil && offset != p.next {
					return fmt.Errorf("%w: offset %d where %d was expected", errCorruptRecord, offset, p.next)
				}
				p.add(message{at: at, size: int64(len(rec))}, index)
			default:
				return errCorruptRecord
			}
			return d.err
		})
		if err != nil {
			return fmt.Errorf("stream %q partition %d: replay: %w", s.name, i, err)
		}
	}
	return nil
}

// closeLogs closes every log of the stream. Lock should be held.
func (s *stream) closeLogs() error {
	s.closed = true
	s.notify()
	var errs []error
	if s.meta != nil {
		errs = append(errs, s.meta.Close())
	}
	for _, p := range s.parts {
		errs = append(errs, p.log.Close())
	}
	return errors.Join(errs...)
}

// waitCh returns the channel that the next notify closes. Lock should be
// held.
func (s *stream) waitCh() chan struct{} {
	if s.wake == nil {
		s.wake = make(chan struct{})
	}
	return s.wake
}

// notify wakes every blocked reader of the stream. Lock should be held.
func (s *stream) notify() {
	if s.wake != nil {
		close(s.wake)
		s.wake = nil
	}
}

// Create makes the stream name with settings set; ErrStreamExists if it
// exists.
func (b *Broker) Create(name string, set Settings) (Token, error) {
	if !validName(name) {
		return Token{}, ErrInvalidName
	}
	if err := set.validate(); err != nil {
		return Token{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return Token{}, ErrClosed
	case b.streams[name] != nil:
		return Token{}, ErrStreamExists
	}
	s, tok, err := b.create(name, set)
	if err != nil {
		return Token{}, err
	}
	b.streams[name] = s
	return tok, nil
}

// Alter changes the settings of a stream to what change makes of the
// settings in force, under the stream's lock, so that concurrent calls each
// change only what they name: retention at once, and the partition count,
// which may only grow (ErrShrink).
func (b *Broker) Alter(name string, change func(*Settings)) (Token, error) {
	s, err := b.lookup(name)
	if err != nil {
		return Token{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Token{}, ErrClosed
	}
	set := s.settings
	change(&set)
	if err := set.validate(); err != nil {
		return Token{}, err
	}
	if set.Partitions < len(s.parts) {
		return Token{}, ErrShrink
	}
	// Open the new partitions first: an empty log left by a failure here
	// is harmless, a settings record naming missing partitions is not.
	old := len(s.parts)
	err = s.openPartitions(set.Partitions, false)
	var tok Token
	if err == nil {
		tok, err = s.appendMeta(settingsRecord(&s.enc, set, s.firsts()))
	}
	// New partitions are used only once the record naming them is
	// durable, since messages in them are acknowledged on their own logs.
	if err == nil && set.Partitions > old {
		err = s.b.Wait(tok)
	}
	if err != nil {
		for _, p := range s.parts[old:] {
			p.log.Close()
		}
		s.parts = s.parts[:old]
		return Token{}, err
	}
	s.applySettings(set)
	s.retainAll()
	s.notify()
	return tok, nil
}

// applySettings applies an opSettings record whose partitions are open.
// Lock should be held.
func (s *stream) applySettings(set Settings) {
	grown := set.Partitions != s.settings.Partitions
	s.settings = set
	for _, g := range s.groups {
		for len(g.committed) < set.Partitions {
			g.committed = append(g.committed, 0)
			g.cursor = append(g.cursor, 0)
			g.owner = append(g.owner, "")
		}
		if grown {
			g.rebalance()
		}
	}
}

// PartitionInfo describes a partition.
type PartitionInfo struct {
	Partition int
	First     int64 // offset of the earliest retained message
	Next      int64 // offset the next message gets; the last is Next-1
	Messages  int64
	Bytes     int64 // retained message records
	DiskBytes int64 // the partition log on disk
}

// Info describes a stream.
type Info struct {
	Name       string
	Settings   Settings
	Partitions []PartitionInfo
	Groups     []string // sorted
}

// Info describes the stream name after applying retention, with the
// tokens a reply showing it waits for (shown).
func (b *Broker) Info(name string) (Info, []Token, error) {
	s, err := b.lookup(name)
	if err != nil {
		return Info{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retainAll()
	info := Info{Name: name, Settings: s.settings}
	for i, p := range s.parts {
		info.Partitions = append(info.Partitions, PartitionInfo{Partition: i, First: p.first, Next: p.next,
			Messages: int64(len(p.msgs)), Bytes: p.bytes, DiskBytes: p.log.Stats().Bytes})
	}
	for g := range s.groups {
		info.Groups = append(info.Groups, g)
	}
	sort.Strings(info.Groups)
	return info, s.shown(), nil
}

// shown returns the tokens a reply showing the stream's state waits for:
// the last record of its metadata log and of each partition's log. What
// a read shows (an offset, a commit, a group, a setting) may rest on a
// record another connection wrote that is not durable yet, and a reply
// must not show what a crash could take back. Lock should be held.
func (s *stream) shown() []Token {
	toks := make([]Token, 0, 1+len(s.parts))
	toks = append(toks, s.unchanged())
	for _, p := range s.parts {
		toks = append(toks, Token{p.log, p.log.LastIndex()})
	}
	return toks
}
