package commands

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"

	"nexo/engine/pubsub"
	"nexo/resp"
)

// Push delivery. Once a connection subscribes, everything it is sent goes
// through its outbox, in order: the replies of its own commands and the
// messages publishers queue on it. Publishers append encoded frames under
// the outbox's lock and never touch the socket; one writer goroutine per
// subscribed connection sends what is queued, so a subscriber that does not
// read never blocks a publisher. The outbox is bounded by the pub/sub
// output buffer limit; past it the connection is closed and the broker
// drops its subscriptions.
//
// A publisher does not wake a subscriber's writer per message: the outbox
// records itself in the publishing connection's touched list (the
// pubsub.Batch), and the publisher wakes every touched writer once, at the
// end of its pipeline or before it waits. A whole pipeline of publishes
// then reaches each subscriber in one write.

// Defaults of the pub/sub output buffer limit, Redis's
// "client-output-buffer-limit pubsub 32mb 8mb 60".
const (
	DefaultPubSubHardLimit = 32 << 20
	DefaultPubSubSoftLimit = 8 << 20
	DefaultPubSubSoftFor   = 60 * time.Second
)

const (
	// outboxDrainTimeout bounds how long a closing connection's writer may
	// spend sending what is still queued (a QUIT reply, the last messages).
	outboxDrainTimeout = time.Second
	// maxCachedFrame is the largest frame a publishing connection keeps
	// encoded for its next subscriber (see frameCache).
	maxCachedFrame = 16 << 10
)

// OutputLimit is the output buffer limit of subscribed connections, as
// Redis's client-output-buffer-limit for its pubsub class: a connection is
// closed as soon as its queued bytes exceed Hard, or once they have
// exceeded Soft continuously for longer than SoftFor. 0 disables a limit.
type OutputLimit struct {
	Hard, Soft int64
	SoftFor    time.Duration
}

// String renders the limit as the config option and CONFIG GET show it.
func (l OutputLimit) String() string {
	return "pubsub " + strconv.FormatInt(l.Hard, 10) + " " + strconv.FormatInt(l.Soft, 10) + " " +
		strconv.FormatInt(int64(l.SoftFor/time.Second), 10)
}

// Errors that end a subscribed connection's reply flush.
var (
	errSlowConsumer = errors.New("closed for exceeding the pub/sub output buffer limit")
	errOutboxClosed = errors.New("connection closed: its output cannot be sent")
)

// An outbox queues bytes in chunks taken from per-size pools: the first
// bytes go into a small chunk and each further chunk is of the next size
// class, so that one small message fanned out to thousands of subscribers
// costs each of them a small chunk while a busy stream fills large ones.
// The writer sends every queued chunk with one writev and returns them to
// their pools. A frame larger than the largest class gets a chunk of its
// own size, which is not pooled.
var chunkClasses = [...]int{1 << 10, 4 << 10, 16 << 10, 64 << 10}

var chunkPools [len(chunkClasses)]sync.Pool

// chunk is one buffer of an outbox.
type chunk struct {
	b     []byte
	class int // index in chunkClasses; -1 for an unpooled chunk
}

func getChunk(class int) *chunk {
	if ch, ok := chunkPools[class].Get().(*chunk); ok {
		return ch
	}
	return &chunk{b: make([]byte, 0, chunkClasses[class]), class: class}
}

func putChunk(ch *chunk) {
	if ch.class >= 0 && cap(ch.b) == chunkClasses[ch.class] {
		ch.b = ch.b[:0]
		chunkPools[ch.class].Put(ch)
	}
}

// outbox is a subscribed connection's queue of outgoing bytes and the
// writer that sends them.
type outbox struct {
	c     *Client
	limit OutputLimit

	mu        sync.Mutex
	chunks    []*chunk  // queued bytes, whole frames; the last chunk is being filled
	spare     []*chunk  // the other list, reused once written
	queued    int       // bytes in chunks
	inflight  int       // bytes the writer is sending
	woken     bool      // a wake-up is owed or done for the queued bytes
	held      bool      // the writer waits: a subscription is being made (see hold)
	closed    bool      // nothing more is accepted
	softSince time.Time // when the queue went over the soft limit; zero when under it
	// live are the subscriptions whose messages Deliver accepts: a
	// publisher that found a subscription before it was removed may
	// deliver after, and its message must not follow the removal's
	// confirmation (see admit and cut). Only messages matched before the
	// broker's epoch cutAt, the last cut's, are looked up in it.
	live  map[subscription]struct{}
	cutAt uint64
	// pendingFor is, while a new topic filter's retained values are queued
	// (see retainFirst), that subscription; pending holds its live
	// messages meanwhile, queued after the retained values so that none
	// of those follows a newer message of its topic. Counted in queued.
	pendingFor *subscription
	pending    []byte

	bufs net.Buffers   // the writer's scratch list for writev (writer only)
	wake chan struct{} // capacity 1
	done chan struct{} // closed when the writer exits
}

// room returns a chunk with room for n more bytes, adding one when the
// last chunk lacks it. Lock should be held.
func (o *outbox) room(n int) *chunk {
	class := 0
	if k := len(o.chunks); k > 0 {
		last := o.chunks[k-1]
		if cap(last.b)-len(last.b) >= n {
			return last
		}
		class = len(chunkClasses) - 1
		if last.class >= 0 {
			class = min(last.class+1, class)
		}
	}
	for class < len(chunkClasses)-1 && chunkClasses[class] < n {
		class++
	}
	var ch *chunk
	if n > chunkClasses[class] {
		ch = &chunk{b: make([]byte, 0, n), class: -1}
	} else {
		ch = getChunk(class)
	}
	o.chunks = append(o.chunks, ch)
	return ch
}

// freeLocked drops what is queued. Lock should be held.
func (o *outbox) freeLocked() {
	for i, ch := range o.chunks {
		putChunk(ch)
		o.chunks[i] = nil
	}
	o.chunks, o.spare, o.queued, o.pending = nil, nil, 0, nil
}

// clientPubSub is a connection's pub/sub state. out, count, touched and
// frames are owned by the connection's goroutine; the atomics are read by
// CLIENT LIST.
type clientPubSub struct {
	out      *outbox
	shared   atomic.Pointer[outbox] // out, for other goroutines
	count    int                    // subscriptions of every kind, as the broker last reported
	channels atomic.Int32
	patterns atomic.Int32 // glob patterns and topic filters
	touched  []*outbox    // outboxes this connection queued on since it last woke them
	frames   frameCache
}

// frameCache holds the frames a connection encoded for the message it is
// publishing, one per protocol version, so that a message fanned out to
// many subscribers is encoded once, not once per subscriber.
// Hot path: a message is recognised by its slices' addresses, without
// comparing bytes. That is sound because the cache only lives during one
// command: it is reset after every call that publishes or subscribes (the
// read buffer the slices point into changes between commands, never during
// one), and while it holds a key the key keeps the slices referenced, so
// their memory cannot be reused for other bytes. Resetting also releases
// that reference.
type frameCache struct {
	valid [2]bool
	key   [2]pubsub.Message
	frame [2][]byte
}

// reset forgets the cached frames; their buffers are kept.
func (fc *frameCache) reset() {
	fc.valid = [2]bool{}
	fc.key = [2]pubsub.Message{}
}

// get returns m's frame for proto, encoding it on first use, or nil when
// the frame is too large to keep.
func (fc *frameCache) get(m pubsub.Message, proto int32) []byte {
	if messageSize(m) > maxCachedFrame {
		return nil
	}
	i := 0
	if proto == resp.RESP3 {
		i = 1
	}
	if !fc.valid[i] || !sameMessage(fc.key[i], m) {
		fc.frame[i] = appendMessage(fc.frame[i][:0], proto, m)
		fc.key[i], fc.valid[i] = m, true
	}
	return fc.frame[i]
}

func sameMessage(a, b pubsub.Message) bool {
	return a.Kind == b.Kind && a.Retained == b.Retained && a.Filter == b.Filter &&
		sameSlice(a.Topic, b.Topic) && sameSlice(a.Payload, b.Payload)
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// outputQueued is the bytes queued for the connection, sent or being sent
// (CLIENT LIST omem); safe from any goroutine.
func (c *Client) outputQueued() int64 {
	o := c.ps.shared.Load()
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return int64(o.queued + o.inflight)
}

// startOutbox routes the connection's output through an outbox from now
// on, starting its writer. The caller has flushed the buffered replies.
func (c *Client) startOutbox() *outbox {
	if o := c.ps.out; o != nil {
		return o
	}
	// The writer shares the socket: the connection cannot stay on a loop.
	c.leaveLoop()
	o := &outbox{c: c, limit: c.srv.cfg.PubSubLimit, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.ps.out = o
	c.ps.shared.Store(o)
	go o.run()
	return o
}

// setCounts records the connection's subscriptions after a change.
func (c *Client) setCounts(n pubsub.Counts) {
	c.ps.count = n.Total()
	c.ps.channels.Store(int32(n.Channels))
	c.ps.patterns.Store(int32(n.Patterns + n.Filters))
}

// subscribed reports whether the connection has a subscription.
func (c *Client) subscribed() bool { return c.ps.count > 0 }

// subscriberMode reports whether the connection is in RESP2 subscriber
// mode, where only the subscription commands are accepted.
func (c *Client) subscriberMode() bool { return c.ps.count > 0 && c.w.Proto() == resp.RESP2 }

// Touch records an outbox this connection queued messages on; it
// implements pubsub.Batch for the deliveries of its commands.
func (c *Client) Touch(s pubsub.Subscriber) { c.ps.touched = append(c.ps.touched, s.(*outbox)) }

// wakeTouched wakes the writer of every outbox this connection queued
// messages on since it last did.
func (c *Client) wakeTouched() {
	for i, o := range c.ps.touched {
		o.signal()
		c.ps.touched[i] = nil
	}
	c.ps.touched = c.ps.touched[:0]
}

// endPubSub runs when the connection ends, before its socket is closed: it
// drops the connection's subscriptions, wakes what it touched and lets its
// writer send what is queued, for at most outboxDrainTimeout.
func (c *Client) endPubSub() {
	c.wakeTouched()
	o := c.ps.out
	if o == nil {
		return
	}
	if b := c.srv.cfg.PubSub; b != nil {
		b.UnsubscribeAll(o)
	}
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(outboxDrainTimeout))
	o.signal()
	<-o.done
}

// hold stops the writer until release. A subscription's confirmation is
// queued before the subscription takes effect, so that no message for it
// can precede it; held, it also cannot reach the client before the
// subscription takes effect, so a client that has read the confirmation
// receives everything published after.
func (o *outbox) hold() {
	o.mu.Lock()
	o.held = true
	o.mu.Unlock()
}

// release lets the writer send what is queued.
func (o *outbox) release() {
	o.mu.Lock()
	o.held = false
	o.mu.Unlock()
	o.signal()
}

// signal wakes the writer.
func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// subscription names one subscription of a connection.
type subscription struct {
	kind pubsub.Kind
	name string
}

// admit makes Deliver accept the messages of a subscription, before the
// broker makes it.
func (o *outbox) admit(kind pubsub.Kind, name string) {
	o.mu.Lock()
	if o.live == nil {
		o.live = make(map[subscription]struct{})
	}
	o.live[subscription{kind, name}] = struct{}{}
	o.mu.Unlock()
}

// retainFirst holds the live messages of a topic filter subscription
// about to be made until releasePending, so that they follow its retained
// values. The writer should be held (see hold).
func (o *outbox) retainFirst(kind pubsub.Kind, name string) {
	o.mu.Lock()
	o.pendingFor = &subscription{kind, name}
	o.mu.Unlock()
}

// releasePending queues the live messages retainFirst held, after what is
// queued.
func (o *outbox) releasePending() {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pending
	o.pendingFor, o.pending = nil, nil
	if !o.closed {
		o.copyLocked(p)
	}
}

// copyLocked copies p to the end of the queue's chunks. Lock should be
// held.
func (o *outbox) copyLocked(p []byte) {
	for len(p) > 0 {
		ch := o.room(1)
		k := copy(ch.b[len(ch.b):cap(ch.b)], p)
		ch.b = ch.b[:len(ch.b)+k]
		p = p[k:]
	}
}

// cut makes Deliver drop the messages of a subscription the broker has
// removed, matched before epoch (pubsub.Broker.Epoch, read after the
// removal), before the confirmation of the removal is queued: a message
// queued after the confirmation would read, in RESP2, as the reply to the
// connection's next command.
func (o *outbox) cut(kind pubsub.Kind, name string, epoch uint64) {
	o.mu.Lock()
	delete(o.live, subscription{kind, name})
	o.cutAt = epoch
	o.mu.Unlock()
}

// cutAll is cut for every subscription of the connection.
func (o *outbox) cutAll(epoch uint64) {
	o.mu.Lock()
	clear(o.live)
	o.cutAt = epoch
	o.mu.Unlock()
}

// Deliver queues a message; it implements pubsub.Subscriber. It returns
// false when this message puts the connection over its output buffer
// limit, which closes it; a closed connection discards what it is given,
// and a message of a subscription being removed is dropped (see cut).
func (o *outbox) Deliver(m pubsub.Message, batch pubsub.Batch) bool {
	proto := o.c.proto.Load()
	var frame []byte
	if pub, ok := batch.(*Client); ok {
		frame = pub.ps.frames.get(m, proto)
	}
	if frame != nil {
		return o.queue(batch, &m, len(frame), func(b []byte) []byte { return append(b, frame...) })
	}
	return o.queue(batch, &m, messageSize(m), func(b []byte) []byte { return appendMessage(b, proto, m) })
}

// queue appends a frame of about size bytes, which add writes, for another
// connection (batch, nil when none) to wake the writer; m is the message
// the frame holds, nil for other frames. It returns false when the frame
// puts the connection over its output buffer limit, which closes it; a
// closed connection discards what it is given.
func (o *outbox) queue(batch pubsub.Batch, m *pubsub.Message, size int, add func([]byte) []byte) bool {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return true
	}
	// Hot path: a message matched after the last cut needs no lookup.
	if m != nil && m.Epoch < o.cutAt {
		if _, ok := o.live[subscription{m.Kind, m.Filter}]; !ok {
			o.mu.Unlock()
			return true
		}
	}
	if p := o.pendingFor; m != nil && p != nil && !m.Retained && m.Kind == p.kind && m.Filter == p.name {
		before := len(o.pending)
		o.pending = add(o.pending)
		o.queued += len(o.pending) - before
	} else {
		ch := o.room(size)
		before := len(ch.b)
		ch.b = add(ch.b)
		o.queued += len(ch.b) - before
	}
	if limit := o.overLimitLocked(); limit != "" {
		o.kill(limit)
		return false
	}
	notify := !o.woken
	o.woken = true
	o.mu.Unlock()
	switch {
	case !notify:
	case batch != nil:
		batch.Touch(o)
	default:
		o.signal()
	}
	return true
}

// Write queues the connection's own replies; the connection's writer is
// the outbox from its first subscription on (see replySink).
func (o *outbox) Write(p []byte) (int, error) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, errOutboxClosed
	}
	n := len(p)
	o.copyLocked(p)
	o.queued += n
	if limit := o.overLimitLocked(); limit != "" {
		o.kill(limit)
		if b := o.c.srv.cfg.PubSub; b != nil {
			b.Evict(o)
		}
		return 0, errSlowConsumer
	}
	o.woken = true
	o.mu.Unlock()
	o.signal()
	return n, nil
}

// overLimitLocked names the limit the queued bytes break ("hard", "soft"),
// or returns "". Lock should be held.
func (o *outbox) overLimitLocked() string {
	lim := o.limit
	queued := int64(o.queued + o.inflight)
	switch {
	case lim.Hard > 0 && queued > lim.Hard:
		return "hard"
	case lim.Soft > 0 && queued > lim.Soft:
		now := time.Now()
		if o.softSince.IsZero() {
			o.softSince = now
			return ""
		}
		if now.Sub(o.softSince) > lim.SoftFor {
			return "soft"
		}
	default:
		o.softSince = time.Time{}
	}
	return ""
}

// kill closes a connection over its limit: it drops what is queued,
// closes the socket (which ends the writer and the connection's reads) and
// logs. Lock should be held; kill releases it.
func (o *outbox) kill(limit string) {
	queued := o.queued + o.inflight
	o.closed = true
	o.freeLocked()
	o.mu.Unlock()
	o.c.nc.Conn.Close()
	lim := o.limit
	o.c.srv.log.Warn("closing slow pub/sub subscriber over its output buffer limit",
		"id", o.c.id, "addr", o.c.addr, "limit", limit, "queued_bytes", queued,
		"hard_limit", lim.Hard, "soft_limit", lim.Soft, "soft_seconds", int64(lim.SoftFor/time.Second))
}

// run is the writer: it sends whatever is queued, every chunk in one
// writev, until the outbox is closed and empty or a write fails. It writes
// to the socket directly: once a connection has an outbox, nothing else
// writes to it.
func (o *outbox) run() {
	defer close(o.done)
	for range o.wake {
		for {
			o.mu.Lock()
			if len(o.chunks) == 0 || o.held {
				o.woken = false
				closed := o.closed && len(o.chunks) == 0
				o.mu.Unlock()
				if closed {
					return
				}
				break
			}
			chunks := o.chunks
			o.chunks, o.spare = o.spare[:0], nil
			o.inflight, o.queued = o.queued, 0
			o.woken = false
			o.mu.Unlock()
			o.bufs = o.bufs[:0]
			for _, ch := range chunks {
				o.bufs = append(o.bufs, ch.b)
			}
			bufs := o.bufs // WriteTo consumes its receiver
			n, err := bufs.WriteTo(o.c.socket())
			o.c.nc.BytesOut.Add(n)
			for i, ch := range chunks {
				putChunk(ch)
				chunks[i] = nil
			}
			o.mu.Lock()
			o.inflight = 0
			if !o.closed {
				o.spare = chunks[:0]
			}
			if err != nil {
				o.closed = true
				o.freeLocked()
			}
			o.mu.Unlock()
			if err != nil {
				o.c.nc.Conn.Close()
				return
			}
		}
	}
}

// replySink is where a connection's reply writer sends its bytes: the
// socket, or the outbox once the connection has one, so that replies and
// pushes leave in the order they were produced.
type replySink struct{ c *Client }

func (s replySink) Write(p []byte) (int, error) {
	if o := s.c.ps.out; o != nil {
		return o.Write(p)
	}
	return s.c.nc.Write(p)
}

// Frames of messages, as Redis sends them: RESP2 arrays, RESP3 pushes.
const (
	messageKind  = "$7\r\nmessage\r\n"
	pmessageKind = "$8\r\npmessage\r\n"
	retainedMark = "$8\r\nretained\r\n"
)

// messageSize is the size of m's frame as appendMessage encodes it.
func messageSize(m pubsub.Message) int {
	const header = len("*n\r\n")
	n := header + len(messageKind) + bulkSize(len(m.Topic)) + bulkSize(len(m.Payload))
	if m.Kind != pubsub.Channel {
		n += len(pmessageKind) - len(messageKind) + bulkSize(len(m.Filter))
	}
	if m.Retained {
		n += len(retainedMark)
	}
	return n
}

// bulkSize is the size of a bulk string of n bytes: $n CRLF bytes CRLF.
func bulkSize(n int) int {
	digits := 1
	for v := n; v >= 10; v /= 10 {
		digits++
	}
	return 1 + digits + 2 + n + 2
}

// appendMessage encodes m for a connection speaking proto: ["message",
// channel, payload] for a channel subscription, ["pmessage", pattern or
// filter, topic, payload] otherwise, with a fifth element "retained" for a
// retained value sent to a new filter subscription.
// Hot path: called once per delivery; plain appends, no allocation.
func appendMessage(b []byte, proto int32, m pubsub.Message) []byte {
	head := byte('*')
	if proto == resp.RESP3 {
		head = '>'
	}
	switch {
	case m.Kind == pubsub.Channel:
		b = append(b, head, '3', '\r', '\n')
		b = append(b, messageKind...)
	case m.Retained:
		b = append(b, head, '5', '\r', '\n')
		b = append(b, pmessageKind...)
		b = redcon.AppendBulkString(b, m.Filter)
	default:
		b = append(b, head, '4', '\r', '\n')
		b = append(b, pmessageKind...)
		b = redcon.AppendBulkString(b, m.Filter)
	}
	b = redcon.AppendBulk(b, m.Topic)
	b = redcon.AppendBulk(b, m.Payload)
	if m.Retained {
		b = append(b, retainedMark...)
	}
	return b
}
