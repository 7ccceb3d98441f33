package stream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"time"

	"nexo/wal"
)

// Message is a message of a partition. Key and Value are served from the
// partition's log, whose memory never changes: the caller may keep them but
// must not modify them.
type Message struct {
	Partition int
	Offset    int64
	Time      time.Time
	Key       []byte
	Value     []byte
}

// message is what memory holds of a retained message: what retention and
// a read from a time need. Its key and value stay in the log.
type message struct {
	at   int64 // unix ms
	size int64 // encoded record bytes
}

// partition is one log of a stream. msgs describe its retained messages,
// in offset order. Each message is one record of the log and the log holds
// nothing else after its snapshot, so the message at offset first+i is the
// record at wal index index+i.
type partition struct {
	log     *wal.Log
	msgs    []message
	first   int64  // offset of the first retained message; next when none
	index   uint64 // wal index of the message at offset first
	next    int64  // offset of the next message
	bytes   int64  // record bytes of the retained messages
	lastAt  int64  // time of the last message, unix ms
	dropped int64  // bytes removed by retention and not compacted yet
	upTo    uint64 // wal index of the last removed message
	baseOff int64  // offset following the one at upTo
	busy    bool   // a compaction runs
}

// fromKind is the kind of a From.
type fromKind int

const (
	fromOffset fromKind = iota
	fromEarliest
	fromLatest
	fromTime
)

// From is where a read or a group starts.
type From struct {
	kind   fromKind
	offset int64
	at     time.Time
}

// FromOffset starts at offset.
func FromOffset(offset int64) From { return From{kind: fromOffset, offset: offset} }

// FromEarliest starts at the earliest retained message.
func FromEarliest() From { return From{kind: fromEarliest} }

// FromLatest starts after the last message.
func FromLatest() From { return From{kind: fromLatest} }

// FromTime starts at the first message appended at or after t.
func FromTime(t time.Time) From { return From{kind: fromTime, at: t} }

// add appends the message at offset p.next, whose record is at wal index
// index.
func (p *partition) add(m message, index uint64) {
	if len(p.msgs) == 0 {
		p.index = index
	}
	p.msgs = append(p.msgs, m)
	p.next++
	p.bytes += m.size
	p.lastAt = max(p.lastAt, m.at)
}

// dropFront removes the n oldest retained messages.
func (p *partition) dropFront(n int) {
	for _, m := range p.msgs[:n] {
		p.bytes -= m.size
		p.dropped += m.size
	}
	p.first += int64(n)
	p.index += uint64(n)
	p.upTo = p.index - 1
	p.baseOff = p.first
	p.msgs = p.msgs[n:]
	// Let the slice's array go once most of it is dead.
	if cap(p.msgs) > 2*len(p.msgs) {
		p.msgs = append([]message(nil), p.msgs...)
	}
}

// retain removes the messages of p past the stream's retention limits at
// time now, and starts a compaction of its log once enough bytes were
// removed. Lock should be held.
func (s *stream) retain(p *partition, now int64) {
	set := s.settings
	n := 0
	count, bytes := int64(len(p.msgs)), p.bytes
	for n < len(p.msgs) {
		m := p.msgs[n]
		old := set.MaxAge > 0 && m.at < now-set.MaxAge.Milliseconds()
		if !old && (set.MaxMessages == 0 || count <= set.MaxMessages) && (set.MaxBytes == 0 || bytes <= set.MaxBytes) {
			break
		}
		count--
		bytes -= m.size
		n++
	}
	if n > 0 {
		p.dropFront(n)
	}
	if p.dropped < s.b.cfg.CompactMinBytes || p.busy || s.closed {
		return
	}
	p.busy, p.dropped = true, 0
	upTo := p.upTo
	base := append([]byte(nil), s.enc.op(opBase).int(p.baseOff).buf...)
	s.b.bg.Add(1)
	go func() {
		defer s.b.bg.Done()
		err := p.log.Compact([][]byte{base}, upTo)
		s.mu.Lock()
		p.busy = false
		s.mu.Unlock()
		testHookCompacted()
		if err != nil && !errors.Is(err, wal.ErrClosed) {
			s.b.lg.Warn("stream: partition compaction failed", "stream", s.name, "err", err)
		}
	}()
}

// retainAll applies retention to every partition. Lock should be held.
func (s *stream) retainAll() {
	if s.closed {
		return
	}
	now := s.b.now()
	for _, p := range s.parts {
		s.retain(p, now)
	}
}

// AppendResult says where an Append put its messages: offsets First to
// First+count-1 of Partition.
type AppendResult struct {
	Partition int
	First     int64
	Token     Token
}

// Append adds payloads as messages with key to the stream name, creating
// it with Config.Defaults if needed. All go to one partition: the key's,
// or the next in round-robin order when key is nil. More payloads than
// the partition's log takes in one append (wal.Options.MaxAppend) are
// ErrTooManyMessages, before anything is created.
func (b *Broker) Append(name string, key []byte, payloads [][]byte) (AppendResult, error) {
	switch {
	case !validName(name):
		return AppendResult{}, ErrInvalidName
	case len(payloads) == 0:
		return AppendResult{}, ErrInvalidValue
	case len(payloads) > b.cfg.WAL.MaxAppend():
		return AppendResult{}, ErrTooManyMessages
	}
	for _, v := range payloads {
		if len(v)+len(key) > b.cfg.MaxPayload {
			return AppendResult{}, ErrPayloadTooBig
		}
	}
	s, err := b.lookup(name)
	if err == ErrUnknownStream {
		b.mu.Lock()
		switch {
		case b.closed:
			err = ErrClosed
		case b.streams[name] != nil:
			s, err = b.streams[name], nil
		default:
			s, _, err = b.create(name, b.cfg.Defaults)
			if err == nil {
				b.streams[name] = s
			}
		}
		b.mu.Unlock()
	}
	if err != nil {
		return AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return AppendResult{}, ErrClosed
	}
	var pi int
	if key != nil {
		h := fnv.New32a()
		h.Write(key)
		pi = int(h.Sum32() % uint32(len(s.parts)))
	} else {
		pi = s.rr % len(s.parts)
		s.rr = pi + 1
	}
	p := s.parts[pi]
	at := max(b.now(), p.lastAt)
	recs := s.encodeMessages(p.next, at, key, payloads)
	last, err := p.log.Append(recs...)
	if err != nil {
		return AppendResult{}, b.logError(err)
	}
	first := p.next
	for i, rec := range recs {
		p.add(message{at: at, size: int64(len(rec))}, last-uint64(len(recs)-1-i))
	}
	s.retain(p, b.now())
	s.notify()
	return AppendResult{Partition: pi, First: first, Token: Token{p.log, last}}, nil
}

// maxAppendScratch is the largest Append scratch buffer, in bytes, a
// stream keeps for the next append; a larger one is left to the garbage
// collector.
const maxAppendScratch = 1 << 20

// encodeMessages encodes the message records of payloads, the first at
// offset first, into the stream's scratch buffer, which the log's Append
// copies from, so that an append allocates nothing per message. The records
// are valid until the next call. Lock should be held.
func (s *stream) encodeMessages(first, at int64, key []byte, payloads [][]byte) [][]byte {
	buf, ends := s.appendBuf[:0], s.appendEnds[:0]
	for i, v := range payloads {
		buf = append(buf, s.enc.op(opMessage).int(first+int64(i)).int(at).key(key).bytes(v).buf...)
		ends = append(ends, len(buf))
	}
	recs, start := s.appendRecs[:0], 0
	for _, end := range ends {
		recs = append(recs, buf[start:end])
		start = end
	}
	if cap(buf) <= maxAppendScratch {
		s.appendBuf, s.appendEnds, s.appendRecs = buf, ends, recs
	} else {
		s.appendBuf, s.appendEnds, s.appendRecs = nil, nil, nil
	}
	return recs
}

// partition returns partition i. Lock should be held.
func (s *stream) partition(i int) (*partition, error) {
	if i < 0 || i >= len(s.parts) {
		return nil, ErrPartitionOutOfRange
	}
	return s.parts[i], nil
}

// resolve returns the offset where a read from f starts in p.
func (p *partition) resolve(f From) (int64, error) {
	switch f.kind {
	case fromEarliest:
		return p.first, nil
	case fromLatest:
		return p.next, nil
	case fromTime:
		ms := f.at.UnixMilli()
		i := sort.Search(len(p.msgs), func(i int) bool { return p.msgs[i].at >= ms })
		return p.first + int64(i), nil
	}
	if f.offset < 0 || f.offset > p.next {
		return 0, ErrOffsetOutOfRange
	}
	return max(f.offset, p.first), nil
}

// span is a run of retained messages of one partition, taken under the
// stream's lock and read from the log without it (see load).
type span struct {
	p     *partition
	pi    int
	from  int64  // the offset asked for
	first int64  // offset of its first message: from, or the first retained
	index uint64 // wal index of that message
	n     int
}

// spanOf returns the span of up to count messages of p from offset on
// (from the first retained when offset is older), ending with the message
// whose record reaches budget bytes, and the bytes its records take. Lock
// should be held.
func (p *partition) spanOf(pi int, offset int64, count int, budget int64) (span, int64) {
	first := max(offset, p.first)
	i := int(first - p.first)
	n, bytes := 0, int64(0)
	for ; i+n < len(p.msgs) && n < count && bytes < budget; n++ {
		bytes += p.msgs[i+n].size
	}
	return span{p: p, pi: pi, from: offset, first: first, index: p.index + uint64(i), n: n}, bytes
}

// testHookLoad is called by load before it reads the log, and
// testHookCompacted by a partition's compaction once it is done.
var (
	testHookLoad      = func() {}
	testHookCompacted = func() {}
)

// errSpanGone is load's report that a compaction removed the start of a
// span after it was taken.
var errSpanGone = errors.New("stream: span compacted away")

// load reads sp's messages from the log. The log may be read without the
// stream's lock, so that a read that goes to the disk holds up no append:
// records are never changed, and a compaction drops only records that
// retention removed before it started. Between spanOf and load, retention
// may remove the span's first messages and a compaction drop them; that
// is errSpanGone. Under the lock, a retained message stays in the log.
func (s *stream) load(sp span) ([]Message, error) {
	if sp.n == 0 {
		return nil, nil
	}
	testHookLoad()
	recs, err := sp.p.log.ReadRange(sp.index, sp.n)
	switch {
	case errors.Is(err, wal.ErrNotFound):
		return nil, errSpanGone
	case errors.Is(err, wal.ErrClosed):
		return nil, ErrClosed
	case err != nil:
		s.b.lg.Error("stream: partition log unreadable", "stream", s.name, "partition", sp.pi, "err", err)
		return nil, ErrFailed
	}
	out := make([]Message, len(recs))
	for j, rec := range recs {
		if out[j], err = decodeMessage(rec, sp.pi, sp.first+int64(j), sp.index+uint64(j)); err != nil {
			s.b.lg.Error("stream: partition log unreadable", "stream", s.name, "partition", sp.pi, "err", err)
			return nil, ErrFailed
		}
	}
	return out, nil
}

// decodeMessage decodes the message at offset of partition pi from rec,
// its record at wal index index. The message keeps slices of rec, which
// the log never changes.
func decodeMessage(rec []byte, pi int, offset int64, index uint64) (Message, error) {
	if len(rec) == 0 || rec[0] != opMessage {
		return Message{}, fmt.Errorf("%w: wal index %d holds no message", errCorruptRecord, index)
	}
	d := decoder{buf: rec[1:]}
	m := Message{Partition: pi, Offset: d.int(), Time: time.UnixMilli(d.int()), Key: d.key(), Value: d.view()}
	switch {
	case d.err != nil:
		return Message{}, fmt.Errorf("%w: wal index %d", d.err, index)
	case m.Offset != offset:
		return Message{}, fmt.Errorf("%w: wal index %d holds offset %d where %d was expected", errCorruptRecord, index, m.Offset, offset)
	}
	return m, nil
}

// position finds where a read from from starts in a partition, with
// retention applied. On success the stream's lock is held.
func (b *Broker) position(name string, partition int, from From) (*stream, *partition, int64, error) {
	s, err := b.lookup(name)
	if err != nil {
		return nil, nil, 0, err
	}
	s.mu.Lock()
	p, err := s.partition(partition)
	var off int64
	if err == nil {
		s.retain(p, b.now())
		off, err = p.resolve(from)
	}
	if err != nil {
		s.mu.Unlock()
		return nil, nil, 0, err
	}
	return s, p, off, nil
}

// Read returns up to count messages of a partition starting at from,
// ending with the one whose record reaches Config.MaxReadBytes.
func (b *Broker) Read(name string, partition int, from From, count int) ([]Message, error) {
	var out []Message
	err := b.ReadBatches(name, partition, from, count, math.MaxInt64, func(int) {}, func(msgs []Message) { out = msgs })
	return out, err
}

// ReadWait is Read that, when no message is there yet, waits for one
// until ctx ends (then it returns no message and no error). A read from
// the latest offset waits for the messages appended after the call.
func (b *Broker) ReadWait(ctx context.Context, name string, partition int, from From, count int) ([]Message, error) {
	if count < 1 {
		return nil, ErrInvalidValue
	}
	s, p, off, err := b.position(name, partition, from)
	if err != nil {
		return nil, err
	}
	for !s.closed {
		if sp, _ := p.spanOf(partition, off, count, b.cfg.MaxReadBytes); sp.n > 0 {
			var out []Message
			err := s.send(sp, math.MaxInt64, func(int) {}, func(msgs []Message) { out = msgs })
			return out, err
		}
		wake := s.waitCh()
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, nil
		case <-b.stop:
			return nil, ErrClosed
		case <-wake:
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil, ErrClosed
}

// ReadBatches is Read that hands the messages to fn as it reads them from
// the log, in batches of about batchBytes of records each, after telling
// start how many there are: the caller can send the first ones while the
// log reads the rest. When a compaction removes messages it has not read
// yet (retention overtook the read), it returns ErrReadCut after start and
// some of the messages.
func (b *Broker) ReadBatches(name string, partition int, from From, count int, batchBytes int64,
	start func(n int), fn func([]Message)) error {
	if count < 1 {
		return ErrInvalidValue
	}
	s, p, off, err := b.position(name, partition, from)
	if err != nil {
		return err
	}
	sp, _ := p.spanOf(partition, off, count, b.cfg.MaxReadBytes)
	return s.send(sp, batchBytes, start, fn)
}

// send reads sp from the log without the stream's lock, which should be
// held and is released, and hands it to fn in batches of about batchBytes
// of records, after telling start how many messages there are (see
// ReadBatches). When retention overtook the read before its first batch,
// it begins again under the lock from the first retained message.
func (s *stream) send(sp span, batchBytes int64, start func(n int), fn func([]Message)) error {
	batches := sp.p.split(sp, batchBytes)
	s.mu.Unlock()
	msgs, err := s.load(batches[0])
	if errors.Is(err, errSpanGone) {
		s.mu.Lock()
		sp, _ = sp.p.spanOf(sp.pi, sp.first, sp.n, s.b.cfg.MaxReadBytes)
		batches = sp.p.split(sp, batchBytes)
		msgs, err = s.load(batches[0])
		s.mu.Unlock()
	}
	if err != nil {
		return err
	}
	start(sp.n)
	fn(msgs)
	for _, next := range batches[1:] {
		msgs, err := s.load(next)
		switch {
		case errors.Is(err, errSpanGone):
			return ErrReadCut
		case err != nil:
			return err
		}
		fn(msgs)
	}
	return nil
}

// split cuts sp into spans whose records take about batchBytes each (at
// least one message each; a single empty span when sp is empty). Lock
// should be held.
func (p *partition) split(sp span, batchBytes int64) []span {
	if sp.n == 0 {
		return []span{sp}
	}
	var out []span
	i := int(sp.first - p.first)
	cur := span{p: sp.p, pi: sp.pi, from: sp.first, first: sp.first, index: sp.index}
	bytes := int64(0)
	for k := range sp.n {
		if cur.n > 0 && bytes >= batchBytes {
			out = append(out, cur)
			cur = span{p: sp.p, pi: sp.pi, from: sp.first + int64(k), first: sp.first + int64(k), index: sp.index + uint64(k)}
			bytes = 0
		}
		cur.n++
		bytes += p.msgs[i+k].size
	}
	return append(out, cur)
}
