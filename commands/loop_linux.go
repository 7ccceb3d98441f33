//go:build linux

package commands

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"

	"nexo/internal/poll"
	"nexo/resp"
)

// An event loop serves many connections on one goroutine, as Redis's does:
// it waits for the sockets that have input, runs the pipeline each one
// sent and sends its replies, one write per connection. Compared with a
// goroutine per connection, a request costs no scheduler wake-up and no
// extra read that finds nothing, and one poller wake-up answers many
// sockets. The server runs a loop on every thread but one (--threads); a
// connection belongs to the loop it was given: one that leaves it returns
// to no other.
//
// Replies that acknowledge records not yet durable wait for them
// (wal.Log.Notify): when no write is in progress the loop writes and fsyncs
// the pending records itself, so a lone client's reply costs no other
// goroutine; when another loop's or connection's write is in progress, the
// loop parks the replies and goes on serving, the log's committer writes
// the records right after, and wakes the loop, which sends the parked
// replies. A loop never sits idle behind another's fsync, and the records
// that arrive during one fsync share the next. A parked connection that
// sends more before its replies left is the exception: the loop waits for
// its records then, so that a client that does not read its replies cannot
// make the server buffer without bound.
//
// A connection whose command has to wait (a blocking command that finds
// nothing, a stream read, which may load a log segment from the disk, a
// subscription, a peer that leaves its replies unread) is handed off to a
// goroutine of its own, so that it never holds up the loop's other
// connections. It returns to its loop once a blocking take of it finds jobs
// without waiting (rejoinLoop): a worker whose queue has a backlog serves
// its jobs on the loop, where its takes and acks share the loop's log
// batches, as Redis's clients do; a worker that waits for every job stays
// on its goroutine, since a hand-off and a return for each job cost more
// than they save.
type eventLoop struct {
	srv    *Server
	poller *poll.Poller
	done   chan struct{} // closed when run returns
	// gate is held, shared, while the loop runs a connection's commands
	// (multi.go).
	gate gate

	// Loop goroutine only.
	conns  map[int]*Client // by socket descriptor
	ready  []int           // descriptors the last Wait reported
	served []*Client       // connections whose pipeline ran in this iteration
	parked []*Client       // connections parked since the last answerParked (c.listed)

	mu       sync.Mutex
	incoming []*Client // accepted, not yet watched
	stopping bool
}

// newLoops creates n event loops, or none where the platform has no poller.
func newLoops(n int) ([]*eventLoop, error) {
	loops := make([]*eventLoop, 0, n)
	for range n {
		p, err := poll.New()
		if err != nil {
			for _, l := range loops {
				l.poller.Close()
			}
			if errors.Is(err, poll.ErrUnsupported) {
				return nil, nil
			}
			return nil, err
		}
		loops = append(loops, &eventLoop{poller: p, done: make(chan struct{}), conns: make(map[int]*Client)})
	}
	return loops, nil
}

// attach admits an accepted connection to loop l.
func (s *Server) attach(l *eventLoop, nc net.Conn) {
	fc, err := detach(nc)
	if err != nil {
		s.log.Warn("accepted connection dropped", "err", err)
		nc.Close()
		return
	}
	c := s.admit(resp.NewConn(fc), fc, l)
	if c == nil {
		fc.closeOnLoop(l.poller)
		return
	}
	l.mu.Lock()
	l.incoming = append(l.incoming, c)
	l.mu.Unlock()
	l.poller.Wake()
}

// run is the loop's goroutine.
func (l *eventLoop) run() {
	defer close(l.done)
	for {
		ready, woken, err := l.poller.Wait(l.ready)
		l.ready = ready
		if err != nil {
			l.srv.log.Error("event loop failed: closing its connections", "err", err)
			l.closeAll()
			return
		}
		if woken {
			if l.watchIncoming() {
				l.closeAll()
				return
			}
			l.answerParked()
		}
		for _, fd := range l.ready {
			c := l.conns[fd]
			if c != nil && c.parked {
				l.guard(c, l.settle)
				c = l.conns[fd]
			}
			if c != nil {
				l.guard(c, l.serve)
			}
		}
		for _, c := range l.served {
			c.wakeTouched()
		}
		for _, c := range l.served {
			l.guard(c, l.answer)
		}
		clear(l.served)
		l.served = l.served[:0]
	}
}

// watchIncoming starts watching the connections accepted since the last
// iteration. It reports whether the loop is stopping.
func (l *eventLoop) watchIncoming() bool {
	l.mu.Lock()
	incoming, stopping := l.incoming, l.stopping
	l.incoming = nil
	l.mu.Unlock()
	for _, c := range incoming {
		if err := l.poller.Add(c.fc.fd); err != nil {
			l.srv.log.Warn("closing client the event loop cannot watch", "id", c.id, "addr", c.addr, "err", err)
			l.close(c, err)
			continue
		}
		l.conns[c.fc.fd] = c
	}
	return stopping
}

// guard runs fn for c and turns a panic into the end of c alone, as
// runGuarded does for a connection's goroutine.
func (l *eventLoop) guard(c *Client, fn func(*Client)) {
	defer func() {
		if r := recover(); r != nil {
			c.leaveGate()
			if c.loop != l {
				// Handed off by the command that panicked: its goroutine
				// is not started yet and takes over the reply, which may
				// have to wait for the peer.
				stack := debug.Stack()
				go func() {
					l.srv.panicked(c, r, stack)
					l.srv.release(c, errPanic)
				}()
				return
			}
			l.srv.panicked(c, r, debug.Stack())
			l.close(c, errPanic)
		}
	}()
	fn(c)
}

// maxReadsPerServe bounds the reads one connection gets in one iteration
// of its loop (each up to the read buffer, 16 KiB while its commands are
// small), so that a client pipelining without pause cannot hold up the
// loop's other connections.
const maxReadsPerServe = 16

// serve reads what c sent and runs every complete command of it. While a
// read fills the read buffer, the peer has probably sent more: serve reads
// and runs that too, up to maxReadsPerServe reads, so that a pipeline
// larger than the buffer costs one durable wait and one reply write, not
// one per buffer. The replies stay buffered for answer.
func (l *eventLoop) serve(c *Client) {
	batch, err := c.rd.ReadBatch()
	switch {
	case errors.Is(err, errWouldBlock):
		return
	case err != nil:
		c.answerFramingError(err)
		c.wakeTouched()
		l.close(c, err)
		return
	}
	for reads := 1; ; reads++ {
		c.startPipeline()
		c.enterGate(&l.gate)
		for i, args := range batch {
			l.srv.handle(c, args)
			if c.loop != l {
				// Handed off: its goroutine runs the rest of the pipeline,
				// from the command that could not run on the loop.
				c.leaveGate()
				rest := batch[i+1:]
				if c.redo {
					rest, c.redo = batch[i:], false
				}
				go l.srv.serveClient(c, rest)
				return
			}
			if c.closing {
				break
			}
		}
		c.leaveGate()
		if c.closing || c.rd.Failed() || !c.rd.Filled() || reads == maxReadsPerServe {
			break
		}
		if batch, err = c.rd.ReadBatch(); err != nil {
			if !errors.Is(err, errWouldBlock) {
				// Answered after the replies of the commands run so far.
				c.rd.Defer(err)
			}
			break
		}
	}
	l.served = append(l.served, c)
}

// answer sends c's replies, or parks them while the records they
// acknowledge are being made durable by another writer (see eventLoop).
func (l *eventLoop) answer(c *Client) {
	durable, err := c.durableNow(l)
	if err == nil && !durable {
		c.parked = true
		if !c.listed {
			c.listed = true
			l.parked = append(l.parked, c)
		}
		return
	}
	l.send(c, err)
}

// Notify is called by a log once records a parked connection waits for
// are durable: it wakes the loop, which answers its parked connections.
func (l *eventLoop) Notify() { l.poller.Wake() }

// answerParked answers the parked connections whose records are durable
// now and parks the others again. The list drops the connections settled
// since (unless parked again) and those that left the loop (a parked
// connection leaves it only once settled, or closed).
func (l *eventLoop) answerParked() {
	n := len(l.parked)
	for _, c := range l.parked[:n] {
		c.listed = false
		if c.parked && c.loop == l {
			c.parked = false
			l.guard(c, l.answer)
		}
	}
	kept := copy(l.parked, l.parked[n:])
	clear(l.parked[kept:])
	l.parked = l.parked[:kept]
}

// settle sends the replies of parked connection c, waiting for its records
// on the loop: c sent more before they left (see eventLoop). c stays in
// the parked list until answerParked drops it.
func (l *eventLoop) settle(c *Client) {
	c.parked = false
	l.send(c, c.awaitDurable())
}

// send writes c's replies after a wait for their records that ended with
// err, and handles what comes after: the end of c, a peer that leaves its
// replies unread, a pipeline that ended in an error.
func (l *eventLoop) send(c *Client, err error) {
	if err == nil {
		err = c.w.Flush()
	}
	switch {
	case err != nil || c.closing:
		l.close(c, err)
	case c.fc.blockedWrite():
		l.handOff(c)
		go l.srv.serveClient(c, nil)
	case c.rd.Failed():
		// The pipeline ended in an error (a framing error, or the
		// connection's end): its answer comes after the replies just
		// sent, and the connection closes.
		l.serve(c)
	}
}

// handOff moves c off the loop to a goroutine of its own (see eventLoop).
// The caller starts the goroutine once c's pipeline is done on the loop.
func (l *eventLoop) handOff(c *Client) {
	fd := c.fc.fd
	if err := c.fc.handOff(l.poller); err != nil {
		l.srv.log.Warn("client could not leave its event loop", "id", c.id, "addr", c.addr, "err", err)
	}
	delete(l.conns, fd)
	c.loop = nil
}

// close ends c, watched or not yet.
func (l *eventLoop) close(c *Client, err error) {
	delete(l.conns, c.fc.fd)
	c.fc.closeOnLoop(l.poller)
	c.loop = nil
	l.srv.release(c, err)
}

// closeAll ends every connection of the stopping loop, once the parked
// ones are answered.
func (l *eventLoop) closeAll() {
	for _, c := range l.parked {
		c.listed = false
		if c.parked && c.loop == l {
			l.guard(c, l.settle)
		}
	}
	clear(l.parked)
	l.parked = l.parked[:0]
	for _, c := range l.conns {
		l.close(c, nil)
	}
	l.mu.Lock()
	incoming := l.incoming
	l.incoming = nil
	l.mu.Unlock()
	for _, c := range incoming {
		l.close(c, nil)
	}
	l.poller.Close()
}

// stop makes the loop close its connections and return.
func (l *eventLoop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.poller.Wake()
	<-l.done
}

// handOffForWait moves c to its own goroutine before a command waits, or
// reads from a file that may not be in memory; it reports whether it did,
// in which case the command returns at once, with no reply and nothing
// changed, and runs again from its start there. A command that EXEC or a
// script runs never leaves: the whole server waits for it anyway.
func (c *Client) handOffForWait() bool {
	if c.loop == nil || c.noWait {
		return false
	}
	c.loop.handOff(c)
	c.redo = true
	return true
}

// rejoinLoop returns handed-off c to the event loop that accepted it when
// a blocking take of its last pipeline found jobs without waiting (see
// eventLoop) and nothing keeps it on its goroutine: its pipeline is
// answered, no input is buffered, it has no subscription writer, and
// neither the server nor the loop is stopping. It reports whether c
// rejoined, in which case the goroutine leaves c to the loop and returns.
func (c *Client) rejoinLoop() bool {
	l, backlog := c.home, c.backlog
	c.backlog = false
	if l == nil || !backlog || c.ps.out != nil || c.rd.Buffered() > 0 || c.rd.Failed() || c.nc.Draining() {
		return false
	}
	l.mu.Lock()
	if l.stopping || c.fc.rejoin(c.nc.Draining) != nil {
		l.mu.Unlock()
		return false
	}
	c.loop = l
	l.incoming = append(l.incoming, c)
	l.mu.Unlock()
	l.poller.Wake()
	return true
}

// leaveLoop moves c to its own goroutine, for a command that starts work
// on other goroutines writing to c's socket (a subscription's writer).
func (c *Client) leaveLoop() {
	if c.loop != nil {
		c.loop.handOff(c)
	}
}
