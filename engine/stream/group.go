package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// group is a consumer group of a stream. Its slices have one entry per
// partition. Guarded by the stream's mu.
type group struct {
	name      string
	committed []int64  // next offset to consume, persisted
	cursor    []int64  // next offset to deliver, in memory
	owner     []string // member owning each partition; "" = none
	members   map[string]*member
}

// member is a live member of a group.
type member struct {
	id       string
	lastSeen int64 // unix ms of its last GroupRead or Commit
	waiting  int   // GroupRead calls blocked now; a blocked member is alive
	parts    []int // assigned partitions, ascending
	next     int   // index in parts where its next read starts
}

func newGroup(name string, offsets []int64) *group {
	n := len(offsets)
	return &group{name: name, committed: offsets, cursor: slices.Clone(offsets),
		owner: make([]string, n), members: make(map[string]*member)}
}

// rebalance assigns the partitions by range over the members sorted by
// id. A partition that changes owner is delivered again from its
// committed offset.
func (g *group) rebalance() {
	ids := make([]string, 0, len(g.members))
	for id, m := range g.members {
		ids = append(ids, id)
		m.parts, m.next = m.parts[:0], 0
	}
	sort.Strings(ids)
	n := len(g.owner)
	p := 0
	for i, id := range ids {
		share := n / len(ids)
		if i < n%len(ids) {
			share++
		}
		m := g.members[id]
		for range share {
			if g.owner[p] != id {
				g.owner[p] = id
				g.cursor[p] = g.committed[p]
			}
			m.parts = append(m.parts, p)
			p++
		}
	}
	for ; p < n; p++ {
		g.owner[p] = ""
		g.cursor[p] = g.committed[p]
	}
}

// expire removes the members silent for longer than the session timeout
// and rebalances when any left. Lock should be held.
func (s *stream) expire(g *group, now int64) {
	timeout := s.b.cfg.SessionTimeout.Milliseconds()
	gone := false
	for id, m := range g.members {
		if m.waiting == 0 && now-m.lastSeen > timeout {
			delete(g.members, id)
			m.parts = nil
			gone = true
		}
	}
	if gone {
		g.rebalance()
		s.notify()
	}
}

// replayMeta applies a record of the metadata log at Open.
func (s *stream) replayMeta(rec []byte) error {
	if len(rec) == 0 {
		return errCorruptRecord
	}
	s.metaRecs++
	d := decoder{buf: rec[1:]}
	switch rec[0] {
	case opSettings:
		set, firsts := decodeSettings(&d)
		if d.err == nil {
			if err := set.validate(); err != nil {
				return fmt.Errorf("%w: %v", errCorruptRecord, err)
			}
			s.applySettings(set)
			s.raiseFloors(firsts)
		}
	case opGroup:
		name, n := d.string(), d.int()
		if n < 0 || n > MaxPartitions {
			return errCorruptRecord
		}
		offsets := make([]int64, n)
		for i := range offsets {
			offsets[i] = d.int()
		}
		if d.err == nil {
			s.applyGroup(name, offsets)
		}
	case opCommit:
		name, p, off := d.string(), d.int(), d.int()
		g := s.groups[name]
		if d.err == nil && (g == nil || p < 0 || p >= int64(len(g.committed))) {
			return fmt.Errorf("%w: commit to unknown group %q or partition %d", errCorruptRecord, name, p)
		}
		if d.err == nil {
			g.committed[p] = off
		}
	case opDeleteGroup:
		name := d.string()
		delete(s.groups, name)
	default:
		return errCorruptRecord
	}
	return d.err
}

// applyGroup creates group name or sets its committed offsets, and
// delivers every partition again from there. Lock should be held.
func (s *stream) applyGroup(name string, offsets []int64) {
	for len(offsets) < s.settings.Partitions {
		offsets = append(offsets, 0)
	}
	g := s.groups[name]
	if g == nil {
		s.groups[name] = newGroup(name, offsets)
		return
	}
	g.committed = offsets
	copy(g.cursor, offsets)
}

// appendMeta appends rec to the metadata log. Lock should be held.
func (s *stream) appendMeta(rec []byte) (Token, error) {
	idx, err := s.meta.Append(rec)
	if err != nil {
		return Token{}, s.b.logError(err)
	}
	s.metaRecs++
	return Token{s.meta, idx}, nil
}

// compactMeta rewrites the metadata log as the records of the current
// state once it holds MetaCompactRecords records. It runs under the
// stream's lock: the log is small and this is rare. Lock should be held.
func (s *stream) compactMeta() {
	if s.metaRecs < s.b.cfg.MetaCompactRecords {
		return
	}
	if err := s.rewriteMeta(); err != nil {
		s.b.lg.Warn("stream: metadata compaction failed", "stream", s.name, "err", err)
	}
}

// rewriteMeta replaces every record of the metadata log by the records of
// the current state, on disk when it returns. Lock should be held.
func (s *stream) rewriteMeta() error {
	live := [][]byte{slices.Clone(settingsRecord(&s.enc, s.settings, s.firsts()))}
	for _, name := range slices.Sorted(maps.Keys(s.groups)) {
		live = append(live, slices.Clone(groupRecord(&s.enc, name, s.groups[name].committed)))
	}
	if err := s.meta.Compact(live, s.meta.LastIndex()); err != nil {
		return err
	}
	s.metaRecs = len(live)
	return nil
}

// lockGroup returns the stream name locked, and its group; on error
// nothing is locked. With ErrUnknownGroup comes unchanged, the metadata
// log's last record: the group may be gone by a deletion whose record is
// not durable yet, and a reply must not say so before it is.
func (b *Broker) lockGroup(name, group string) (s *stream, g *group, unchanged Token, err error) {
	s, err = b.lookup(name)
	if err != nil {
		return nil, nil, Token{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, Token{}, ErrClosed
	}
	g = s.groups[group]
	if g == nil {
		unchanged = s.unchanged()
		s.mu.Unlock()
		return nil, nil, unchanged, ErrUnknownGroup
	}
	return s, g, Token{}, nil
}

// unchanged names the metadata log's last record, for a call that changes
// nothing because of what an earlier change made, and that answers once
// that change is durable. Lock should be held.
func (s *stream) unchanged() Token {
	return Token{s.meta, s.meta.LastIndex()}
}

// startOffsets resolves from in every partition. Lock should be held.
func (s *stream) startOffsets(from From) ([]int64, error) {
	s.retainAll()
	offsets := make([]int64, len(s.parts))
	for i, p := range s.parts {
		off, err := p.resolve(from)
		if err != nil {
			return nil, err
		}
		offsets[i] = off
	}
	return offsets, nil
}

// CreateGroup creates a consumer group of stream name starting at from in
// every partition (an offset beyond a partition's end is
// ErrOffsetOutOfRange). With ErrGroupExists, and with ErrUnknownGroup from
// Seek, DeleteGroup and Commit, the token names the metadata log's last
// record: the reply waits for it as for a change (see lockGroup).
func (b *Broker) CreateGroup(name, group string, from From) (Token, error) {
	if !validName(group) {
		return Token{}, ErrInvalidName
	}
	s, err := b.lookup(name)
	if err != nil {
		return Token{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return Token{}, ErrClosed
	case s.groups[group] != nil:
		// The group may come from a creation not durable yet.
		return s.unchanged(), ErrGroupExists
	}
	offsets, err := s.startOffsets(from)
	if err != nil {
		return Token{}, err
	}
	tok, err := s.appendMeta(groupRecord(&s.enc, group, offsets))
	if err != nil {
		return Token{}, err
	}
	s.applyGroup(group, offsets)
	s.compactMeta()
	return tok, nil
}

// AllPartitions makes Seek move every partition.
const AllPartitions = -1

// Seek sets the committed offset of a group in partition, or in every
// partition with AllPartitions, to from; the group's members read those
// partitions again from there.
func (b *Broker) Seek(name, group string, partition int, from From) (Token, error) {
	s, g, unchanged, err := b.lockGroup(name, group)
	if err != nil {
		return unchanged, err
	}
	defer s.mu.Unlock()
	if partition == AllPartitions {
		offsets, err := s.startOffsets(from)
		if err != nil {
			return Token{}, err
		}
		tok, err := s.appendMeta(groupRecord(&s.enc, g.name, offsets))
		if err != nil {
			return Token{}, err
		}
		s.applyGroup(g.name, offsets)
		s.compactMeta()
		s.notify()
		return tok, nil
	}
	p, err := s.partition(partition)
	if err != nil {
		return Token{}, err
	}
	s.retain(p, b.now())
	offset, err := p.resolve(from)
	if err != nil {
		return Token{}, err
	}
	tok, err := s.appendMeta(s.enc.op(opCommit).string(g.name).int(int64(partition)).int(offset).buf)
	if err != nil {
		return Token{}, err
	}
	g.committed[partition], g.cursor[partition] = offset, offset
	s.compactMeta()
	s.notify()
	return tok, nil
}

// DeleteGroup deletes a group; its blocked members get ErrUnknownGroup.
func (b *Broker) DeleteGroup(name, group string) (Token, error) {
	s, g, unchanged, err := b.lockGroup(name, group)
	if err != nil {
		return unchanged, err
	}
	defer s.mu.Unlock()
	tok, err := s.appendMeta(s.enc.op(opDeleteGroup).string(g.name).buf)
	if err != nil {
		return Token{}, err
	}
	delete(s.groups, g.name)
	s.compactMeta()
	s.notify()
	return tok, nil
}

// GroupRead reads up to count messages for member id of group from the
// partitions assigned to it, joining the group (and rebalancing it) if the
// member is new; each call is also the member's heartbeat. Messages are
// delivered from each partition's delivery cursor, which starts at the
// committed offset when the partition is assigned. When there is nothing
// to read and block is set, it waits until messages arrive or ctx ends
// (then it returns no message and no error).
func (b *Broker) GroupRead(ctx context.Context, name, group, id string, count int, block bool) ([]Message, error) {
	if !validName(id) {
		return nil, ErrInvalidName
	}
	if count < 1 {
		return nil, ErrInvalidValue
	}
	s, g, _, err := b.lockGroup(name, group)
	if err != nil {
		return nil, err
	}
	now := b.now()
	s.expire(g, now)
	m := g.members[id]
	if m == nil {
		m = &member{id: id}
		g.members[id] = m
		g.rebalance()
		s.notify()
	}
	m.lastSeen = now
	m.waiting++
	var msgs []Message
	locked := false
	for {
		if spans := s.deliverable(g, m, count); len(spans) > 0 {
			var ok bool
			msgs, ok, err = s.deliver(g, m, spans, locked)
			switch {
			case err == nil && s.closed:
				err = ErrClosed
			case err == nil && s.groups[group] != g:
				err = ErrUnknownGroup
			}
			// A member that left while its messages were read gets none.
			if err != nil || g.members[id] != m {
				m.waiting--
				m.lastSeen = b.now()
				s.mu.Unlock()
				return nil, err
			}
			if ok {
				break
			}
			// The member's partitions or cursors moved meanwhile: the
			// next attempt keeps the lock.
			locked = true
			continue
		}
		if !block {
			break
		}
		wake := s.waitCh()
		s.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
		case <-b.stop:
			err = ErrClosed
		case <-wake:
		}
		s.mu.Lock()
		switch {
		case err == nil && s.closed:
			err = ErrClosed
		case err == nil && s.groups[group] != g:
			err = ErrUnknownGroup
		}
		// A member that left while blocked gets nothing.
		if err != nil || ctx.Err() != nil || g.members[id] != m {
			m.waiting--
			m.lastSeen = b.now()
			s.mu.Unlock()
			return nil, err
		}
	}
	m.waiting--
	m.lastSeen = b.now()
	s.mu.Unlock()
	return msgs, nil
}

// deliverable returns the spans of up to count messages for m from its
// partitions' cursors, starting with the partition after the one it read
// last and ending with the message whose record reaches
// Config.MaxReadBytes. Lock should be held.
func (s *stream) deliverable(g *group, m *member, count int) []span {
	var spans []span
	now := s.b.now()
	total, budget := 0, s.b.cfg.MaxReadBytes
	for i := range m.parts {
		if total >= count || budget <= 0 {
			break
		}
		pi := m.parts[(m.next+i)%len(m.parts)]
		p := s.parts[pi]
		s.retain(p, now)
		if sp, bytes := p.spanOf(pi, g.cursor[pi], count-total, budget); sp.n > 0 {
			spans = append(spans, sp)
			total += sp.n
			budget -= bytes
		}
	}
	return spans
}

// deliver reads the messages of spans (from deliverable) for m and
// advances the cursors past them. Unless locked, it reads without the
// stream's lock, so that a read that goes to the disk holds up no append,
// and delivers only when the stream, the group, m, m's partitions and
// their cursors are still those the spans were taken from; otherwise (ok
// false) nothing changes and the caller takes new spans, locked. On an
// error it advances nothing. Lock should be held; it is held again on
// return.
func (s *stream) deliver(g *group, m *member, spans []span, locked bool) (msgs []Message, ok bool, err error) {
	if !locked {
		s.mu.Unlock()
	}
	for _, sp := range spans {
		var got []Message
		if got, err = s.load(sp); err != nil {
			msgs = nil
			break
		}
		msgs = append(msgs, got...)
	}
	if !locked {
		s.mu.Lock()
	}
	switch {
	case errors.Is(err, errSpanGone):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	if s.closed || s.groups[g.name] != g || g.members[m.id] != m {
		return nil, false, nil
	}
	for _, sp := range spans {
		if g.owner[sp.pi] != m.id || g.cursor[sp.pi] != sp.from {
			return nil, false, nil
		}
	}
	for _, msg := range msgs {
		g.cursor[msg.Partition] = msg.Offset + 1
	}
	if len(m.parts) > 0 {
		m.next = (m.next + 1) % len(m.parts)
	}
	return msgs, true, nil
}

// Commit records offset as the next offset group consumes in partition;
// only the partition's owner may commit (ErrNotAssigned). An offset
// beyond the partition's end is ErrOffsetOutOfRange.
func (b *Broker) Commit(name, group, member string, partition int, offset int64) (Token, error) {
	s, g, unchanged, err := b.lockGroup(name, group)
	if err != nil {
		return unchanged, err
	}
	defer s.mu.Unlock()
	now := b.now()
	s.expire(g, now)
	p, err := s.partition(partition)
	switch {
	case err != nil:
		return Token{}, err
	case g.members[member] == nil || g.owner[partition] != member:
		return Token{}, ErrNotAssigned
	case offset < 0 || offset > p.next:
		return Token{}, ErrOffsetOutOfRange
	}
	tok, err := s.appendMeta(s.enc.op(opCommit).string(g.name).int(int64(partition)).int(offset).buf)
	if err != nil {
		return Token{}, err
	}
	g.committed[partition] = offset
	g.cursor[partition] = max(g.cursor[partition], offset)
	g.members[member].lastSeen = now
	s.compactMeta()
	return tok, nil
}

// Leave removes member from group and rebalances; unknown members are
// ignored. A blocked GroupRead of the member returns no message.
func (b *Broker) Leave(name, group, member string) error {
	s, g, _, err := b.lockGroup(name, group)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if m := g.members[member]; m != nil {
		delete(g.members, member)
		m.parts = nil
		g.rebalance()
		s.notify()
	}
	return nil
}

// MemberInfo describes a live member.
type MemberInfo struct {
	ID         string
	Partitions []int
	LastSeen   time.Time
	Blocked    bool // in a blocking GroupRead now
}

// GroupPartition describes a group's progress in a partition.
type GroupPartition struct {
	Partition int
	Owner     string // "" = no member
	Committed int64
	Lag       int64 // messages retained after the committed offset
}

// GroupInfo describes a consumer group.
type GroupInfo struct {
	Name       string
	Members    []MemberInfo // sorted by ID
	Partitions []GroupPartition
}

// GroupInfo describes group of stream name, after expiring its silent
// members, with the tokens a reply showing it waits for (stream.shown);
// NOGROUP's names the metadata log's last record, as lockGroup's does.
func (b *Broker) GroupInfo(name, group string) (GroupInfo, []Token, error) {
	s, g, unchanged, err := b.lockGroup(name, group)
	if err != nil {
		return GroupInfo{}, []Token{unchanged}, err
	}
	defer s.mu.Unlock()
	s.expire(g, b.now())
	s.retainAll()
	info := GroupInfo{Name: g.name}
	for _, m := range g.members {
		info.Members = append(info.Members, MemberInfo{ID: m.id, Partitions: slices.Clone(m.parts), LastSeen: time.UnixMilli(m.lastSeen), Blocked: m.waiting > 0})
	}
	slices.SortFunc(info.Members, func(a, b MemberInfo) int {
		return strings.Compare(a.ID, b.ID)
	})
	for i, p := range s.parts {
		info.Partitions = append(info.Partitions, GroupPartition{Partition: i, Owner: g.owner[i],
			Committed: g.committed[i], Lag: p.next - max(g.committed[i], p.first)})
	}
	return info, s.shown(), nil
}
