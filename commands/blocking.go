package commands

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"
)

// peekBufferSize is how much a disconnect watcher peeks at: one byte tells
// pending input from a closed connection.
const peekBufferSize = 1

// errUnblocked is the reply of a blocked command that CLIENT UNBLOCK ...
// ERROR ends before it obtained anything.
const errUnblocked = "UNBLOCKED client unblocked via CLIENT UNBLOCK"

// The causes CLIENT UNBLOCK ends a wait with: TIMEOUT makes the command
// answer as for a timeout, ERROR makes it answer errUnblocked.
var (
	errUnblockTimeout = errors.New("unblocked via CLIENT UNBLOCK TIMEOUT")
	errUnblockError   = errors.New("unblocked via CLIENT UNBLOCK ERROR")
)

// beginBlock prepares the connection to wait inside a command, as Redis
// does for a blocked client: the replies buffered by the commands before it
// in the pipeline are sent first (once their records are durable). The
// context ends when timeout passes (0: never), when the peer closes the
// connection, or when the server shuts down; end must be called once the
// command stops waiting. ok is false when the connection cannot wait (it
// failed, or the server is draining): the command then answers as for a
// timeout. An event loop never waits: the command first calls
// handOffForWait, which moves the connection to its own goroutine. The
// connection's command gate is released from here to end (multi.go); a
// command that EXEC or a script runs never waits.
func (c *Client) beginBlock(timeout time.Duration) (ctx context.Context, end func(), ok bool) {
	if c.noWait {
		return nil, nil, false
	}
	g := c.leaveGate()
	if err := c.awaitDurable(); err != nil {
		c.closing = true
		c.enterGate(g)
		return nil, nil, false
	}
	if err := c.w.Flush(); err != nil {
		c.closing = true
		c.enterGate(g)
		return nil, nil, false
	}
	if c.nc.Draining() {
		c.enterGate(g)
		return nil, nil, false
	}
	// The timeout's context is a child of the cancellable one, so that the
	// cause CLIENT UNBLOCK gives reaches the command through it.
	base, cancel := context.WithCancelCause(context.Background())
	ctx, stopTimer := base, context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, stopTimer = context.WithTimeout(base, timeout)
	}
	c.mu.Lock()
	c.blockCtx, c.blockCancel = ctx, cancel
	c.mu.Unlock()
	c.srv.blocked.Add(1)
	stop := c.watchPeer(func() { cancel(nil) })
	since := time.Since(c.srv.started)
	return ctx, func() {
		c.mu.Lock()
		c.blockCtx, c.blockCancel = nil, nil
		c.mu.Unlock()
		stop()
		stopTimer()
		cancel(nil)
		c.srv.blocked.Add(-1)
		c.blockedFor += time.Since(c.srv.started) - since
		c.enterGate(g)
	}, true
}

// unblock ends the wait of the command blocked in beginBlock with cause
// (errUnblockTimeout or errUnblockError), as CLIENT UNBLOCK does from
// another connection's goroutine. It reports whether the connection was
// waiting: false when it runs no blocking command or its wait has already
// ended.
func (c *Client) unblock(cause error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blockCancel == nil || c.blockCtx.Err() != nil {
		return false
	}
	c.blockCancel(cause)
	return true
}

// unblockedWithError reports whether CLIENT UNBLOCK ... ERROR ended the
// wait on ctx. A command that got nothing then answers errUnblocked; one
// that got data answers with it, so that nothing taken is lost.
func unblockedWithError(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errUnblockError)
}

// watchPeer cancels when the peer closes the connection or the server
// drains it, without consuming the connection's input: it peeks at the
// socket (recv with MSG_PEEK) each time the poller reports it readable. A
// read of 0 bytes is the peer's close. Pending input (commands pipelined
// behind the blocking one) ends the watch: a close behind it cannot be seen
// without reading, so it is noticed when the command returns. The returned
// stop ends the watch and restores the read deadline the connection had: a
// blocked connection is never idle.
func (c *Client) watchPeer(cancel func()) (stop func()) {
	sc, ok := c.nc.Conn.(syscall.Conn)
	if !ok || !peerWatchSupported {
		return func() {}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	c.clearReadDeadline()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [peekBufferSize]byte
		gone := false
		err := rc.Read(func(fd uintptr) bool {
			n, err := peekSocket(fd, buf[:])
			switch {
			case errors.Is(err, syscall.EAGAIN):
				return false // wait until the socket is readable
			case err != nil, n == 0:
				gone = true
			}
			return true
		})
		// net.ErrClosed: the server closed the socket itself (CLIENT KILL,
		// an output limit); a wait must not hand data to a dead connection.
		if gone || errors.Is(err, net.ErrClosed) || (err != nil && c.nc.Draining()) {
			cancel()
		}
	}()
	return func() {
		// A read deadline in the past wakes the watcher's poll at once.
		c.nc.Conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		c.clearReadDeadline()
	}
}

// clearReadDeadline removes the read deadline, unless the server is
// draining the connection: Drain's deadline must stay. Drain sets its flag
// before its deadline, so checking the flag after clearing cannot miss it.
func (c *Client) clearReadDeadline() {
	c.nc.Conn.SetReadDeadline(time.Time{})
	if c.nc.Draining() {
		c.nc.Conn.SetReadDeadline(time.Now())
	}
}
