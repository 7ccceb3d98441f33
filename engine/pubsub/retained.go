package pubsub

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"nexo/wal"
)

// Records of the retained log. Each starts with its type byte:
//
//	recSet:       type, unix milliseconds (8 bytes, big endian),
//	              uvarint topic length, topic, payload
//	recDelete:    type, topic
//	recDeleteAll: type, filter (every retained topic the filter matches)
const (
	recSet byte = iota + 1
	recDelete
	recDeleteAll
)

// recTimeSize is the size of the timestamp of a recSet record.
const recTimeSize = 8

// rnode is one level of the retained values' trie.
type rnode struct {
	parent   *rnode
	level    string
	children map[string]*rnode
	val      *retainedValue
}

type retainedValue struct {
	topic   string
	payload []byte
	at      int64 // unix milliseconds of the publish
}

func (v *retainedValue) size() int64 { return int64(len(v.topic) + len(v.payload)) }

// Retained is a topic's retained value as Retained lists it.
type Retained struct {
	Topic   string
	Payload []byte
	Age     time.Duration // since the value was published
}

// PublishRetained publishes payload on topic like Publish, and makes it the
// topic's retained value; an empty payload deletes the retained value
// instead (and is still delivered, MQTT-3.3.1-10). topic must pass
// CheckTopic. It returns the deliveries and the log index to Wait for (the
// last record's when nothing changed: see unchanged); ErrOverload when the
// log is full and ErrReadOnly after a log failure, having published
// nothing.
func (b *Broker) PublishRetained(topic, payload []byte, batch Batch) (int, uint64, error) {
	if err := CheckTopic(topic); err != nil {
		return 0, 0, err
	}
	st := b.stripe(topic)
	st.Lock()
	b.rmu.Lock()
	var index uint64
	var err error
	switch {
	case len(payload) > 0:
		at := b.now()
		b.scratch = appendSetRecord(b.scratch[:0], at, topic, payload)
		if index, err = b.appendLocked(b.scratch); err == nil {
			b.setRetained(string(topic), bytes.Clone(payload), at)
		}
	case b.findRetained(topic) != nil:
		b.scratch = append(append(b.scratch[:0], recDelete), topic...)
		if index, err = b.appendLocked(b.scratch); err == nil {
			b.deleteRetained(topic)
		}
	default:
		index = b.unchanged()
	}
	due := err == nil && b.compactDue()
	b.rmu.Unlock()
	if err != nil {
		st.Unlock()
		return 0, 0, err
	}
	b.counters.published.Add(1)
	n := b.fanout(topic, payload, batch)
	st.Unlock()
	if due {
		b.compact()
	}
	return n, index, nil
}

// DeleteRetained deletes the retained value of every topic filter matches
// and returns how many it deleted, with the log index to Wait for (the last
// record's when none: see unchanged).
func (b *Broker) DeleteRetained(filter []byte) (int, uint64, error) {
	if err := CheckFilter(filter); err != nil {
		return 0, 0, err
	}
	b.rmu.Lock()
	vals := collectRetained(b.retained, filter, true, nil)
	if len(vals) == 0 {
		index := b.unchanged()
		b.rmu.Unlock()
		return 0, index, nil
	}
	b.scratch = append(append(b.scratch[:0], recDeleteAll), filter...)
	index, err := b.appendLocked(b.scratch)
	if err == nil {
		for _, v := range vals {
			b.deleteRetained([]byte(v.topic))
		}
	}
	due := err == nil && b.compactDue()
	b.rmu.Unlock()
	if err != nil {
		return 0, 0, err
	}
	if due {
		b.compact()
	}
	return len(vals), index, nil
}

// Retained lists the retained values of the topics filter matches, sorted
// by topic, with the log index a reply showing them waits for: the log's
// last record, since another connection's retained publish or deletion
// may not be durable yet, and a reply must not show what a crash could
// take back. The payloads are the broker's: callers must not modify them.
func (b *Broker) Retained(filter []byte) ([]Retained, uint64, error) {
	if err := CheckFilter(filter); err != nil {
		return nil, 0, err
	}
	now := b.now()
	b.rmu.RLock()
	vals := collectRetained(b.retained, filter, true, nil)
	out := make([]Retained, len(vals))
	for i, v := range vals {
		out[i] = Retained{Topic: v.topic, Payload: v.payload, Age: time.Duration(max(now-v.at, 0)) * time.Millisecond}
	}
	index := b.unchanged()
	b.rmu.RUnlock()
	slices.SortFunc(out, func(x, y Retained) int { return strings.Compare(x.Topic, y.Topic) })
	return out, index, nil
}

// sendRetained delivers to s, for its subscription to filter, the retained
// value of every matching topic in topic order. Each value is read and
// delivered under its topic's stripe, so a retained publish racing with
// the subscription is delivered after the older value, not before it.
func (b *Broker) sendRetained(s Subscriber, filter string, batch Batch) {
	b.rmu.RLock()
	vals := collectRetained(b.retained, []byte(filter), true, nil)
	topics := make([]string, len(vals))
	for i, v := range vals {
		topics[i] = v.topic
	}
	b.rmu.RUnlock()
	slices.Sort(topics)
	m := Message{Kind: Filter, Filter: filter, Retained: true, Epoch: b.Epoch()}
	for _, t := range topics {
		m.Topic = []byte(t)
		st := b.stripe(m.Topic)
		st.Lock()
		b.rmu.RLock()
		v := b.findRetained(m.Topic)
		b.rmu.RUnlock()
		ok := true
		if v != nil {
			m.Payload = v.payload
			ok = s.Deliver(m, batch)
		}
		st.Unlock()
		switch {
		case !ok:
			b.counters.refused.Add(1)
			b.Evict(s)
			return
		case v != nil:
			b.counters.delivered.Add(1)
		}
	}
}

// unchanged is the index to Wait for of a change that finds nothing to do:
// the log's last record, since another connection's deletion, not durable
// yet, may be what left nothing. rmu should be held.
func (b *Broker) unchanged() uint64 {
	return b.log.LastIndex()
}

// appendLocked appends one record to the log.
// Lock should be held (rmu, so that log order is memory order).
func (b *Broker) appendLocked(rec []byte) (uint64, error) {
	switch {
	case b.closed.Load():
		return 0, ErrClosed
	case b.failed.Load():
		return 0, ErrReadOnly
	}
	index, err := b.log.Append(rec)
	switch {
	case err == nil:
		b.logRecords.Add(1)
		return index, nil
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

// findRetained returns topic's retained value or nil.
// Lock should be held (rmu, read).
func (b *Broker) findRetained(topic []byte) *retainedValue {
	n := b.retained
	for rest := topic; ; {
		level, more := nextLevel(rest)
		if n = n.children[string(level)]; n == nil {
			return nil
		}
		if !more {
			return n.val
		}
		rest = rest[len(level)+1:]
	}
}

// setRetained makes payload topic's retained value. Lock should be held (rmu).
func (b *Broker) setRetained(topic string, payload []byte, at int64) {
	n := b.retained
	for rest := topic; ; {
		level, tail, more := strings.Cut(rest, string(levelSep))
		child := n.children[level]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*rnode)
			}
			child = &rnode{parent: n, level: level}
			n.children[level] = child
		}
		n = child
		if !more {
			break
		}
		rest = tail
	}
	if n.val != nil {
		b.retBytes -= n.val.size()
	} else {
		b.nret++
	}
	n.val = &retainedValue{topic: topic, payload: payload, at: at}
	b.retBytes += n.val.size()
}

// deleteRetained deletes topic's retained value and prunes the levels
// nothing uses any more. Lock should be held (rmu).
func (b *Broker) deleteRetained(topic []byte) {
	n := b.retained
	for rest := topic; ; {
		level, more := nextLevel(rest)
		if n = n.children[string(level)]; n == nil {
			return
		}
		if !more {
			break
		}
		rest = rest[len(level)+1:]
	}
	if n.val == nil {
		return
	}
	b.nret--
	b.retBytes -= n.val.size()
	n.val = nil
	for n.parent != nil && n.val == nil && len(n.children) == 0 {
		delete(n.parent.children, n.level)
		n = n.parent
	}
}

// collectRetained appends the retained values under n that filter (the
// levels still to match) matches. first says that filter is whole, where
// wildcards skip '$' topics (MQTT-4.7.2-1). Lock should be held (rmu, read).
func collectRetained(n *rnode, filter []byte, first bool, out []*retainedValue) []*retainedValue {
	level, more := nextLevel(filter)
	var tail []byte
	if more {
		tail = filter[len(level)+1:]
	}
	switch string(level) {
	case multiLevel:
		// '#' matches the parent level too: "a/#" matches "a".
		if n.val != nil {
			out = append(out, n.val)
		}
		for key, child := range n.children {
			if !first || !isSystemLevel(key) {
				out = collectAll(child, out)
			}
		}
	case singleLevel:
		for key, child := range n.children {
			switch {
			case first && isSystemLevel(key):
			case more:
				out = collectRetained(child, tail, false, out)
			case child.val != nil:
				out = append(out, child.val)
			}
		}
	default:
		child := n.children[string(level)]
		switch {
		case child == nil:
		case more:
			out = collectRetained(child, tail, false, out)
		case child.val != nil:
			out = append(out, child.val)
		}
	}
	return out
}

// collectAll appends every retained value at or under n.
func collectAll(n *rnode, out []*retainedValue) []*retainedValue {
	if n.val != nil {
		out = append(out, n.val)
	}
	for _, child := range n.children {
		out = collectAll(child, out)
	}
	return out
}

func appendSetRecord(b []byte, at int64, topic, payload []byte) []byte {
	b = append(b, recSet)
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.AppendUvarint(b, uint64(len(topic)))
	b = append(b, topic...)
	return append(b, payload...)
}

// replay applies one record of the log at Open.
func (b *Broker) replay(rec []byte) error {
	b.logRecords.Add(1)
	if len(rec) == 0 {
		return ErrCorruptRecord
	}
	body := rec[1:]
	switch rec[0] {
	case recSet:
		if len(body) < recTimeSize {
			return ErrCorruptRecord
		}
		at := int64(binary.BigEndian.Uint64(body))
		body = body[recTimeSize:]
		n, size := binary.Uvarint(body)
		if size <= 0 || n > uint64(len(body)-size) {
			return ErrCorruptRecord
		}
		topic := body[size : size+int(n)]
		b.setRetained(string(topic), bytes.Clone(body[size+int(n):]), at)
	case recDelete:
		b.deleteRetained(body)
	case recDeleteAll:
		if CheckFilter(body) != nil {
			return ErrCorruptRecord
		}
		for _, v := range collectRetained(b.retained, body, true, nil) {
			b.deleteRetained([]byte(v.topic))
		}
	default:
		return fmt.Errorf("%w: type %d", ErrCorruptRecord, rec[0])
	}
	return nil
}

// compactDue reports whether the log holds so many dead records that it
// should be compacted. Lock should be held (rmu).
func (b *Broker) compactDue() bool {
	records := b.logRecords.Load()
	return records > int64(b.cfg.CompactMinRecords) && records > compactFactor*int64(b.nret) && !b.compacting.Load()
}

// compact snapshots the retained values as of the log's last index and
// replaces the log up to it by the snapshot, in the background. One
// compaction runs at a time.
func (b *Broker) compact() {
	if !b.compacting.CompareAndSwap(false, true) {
		return
	}
	b.rmu.RLock()
	if b.closed.Load() {
		b.rmu.RUnlock()
		b.compacting.Store(false)
		return
	}
	upTo := b.log.LastIndex()
	live := make([][]byte, 0, b.nret)
	collectAllFunc(b.retained, func(v *retainedValue) {
		live = append(live, appendSetRecord(nil, v.at, []byte(v.topic), v.payload))
	})
	b.logRecords.Store(int64(len(live)))
	b.compactWG.Add(1)
	b.rmu.RUnlock()
	go func() {
		defer b.compactWG.Done()
		defer b.compacting.Store(false)
		if err := b.log.Compact(live, upTo); err != nil {
			b.lg.Warn("pubsub retained log compaction failed", "err", err)
			return
		}
		b.compactions.Add(1)
	}()
}

// collectAllFunc calls fn for every retained value at or under n.
func collectAllFunc(n *rnode, fn func(*retainedValue)) {
	if n.val != nil {
		fn(n.val)
	}
	for _, child := range n.children {
		collectAllFunc(child, fn)
	}
}
