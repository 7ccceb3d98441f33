package commands

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"nexo/engine/queue"
	"nexo/resp"
)

// Client is the server's state for one connection. Fields without a lock
// are owned by the connection's goroutine; the rest are used by CLIENT LIST,
// CLIENT UNBLOCK and INFO from other goroutines.
type Client struct {
	srv     *Server
	id      int64
	nc      *resp.Conn
	fc      *fdConn    // nc's socket when an event loop accepted it; nil otherwise
	loop    *eventLoop // the event loop serving the connection; nil on its own goroutine
	home    *eventLoop // the event loop that accepted the connection, which it may return to after a wait
	backlog bool       // a blocking take, off the loop, found jobs without waiting (see rejoinLoop)
	redo    bool       // the command just handed off runs again on the connection's goroutine
	rd      *resp.Reader
	w       *resp.Writer
	authed  bool
	closing bool // QUIT or a fatal error: the rest of the pipeline is dropped
	// gate is the command gate the connection holds while it runs commands
	// (multi.go); nil between pipelines and while a command waits.
	gate *gate
	tx   transaction // MULTI and WATCH (multi.go)
	// noWait: the command runs inside EXEC or a script, with the whole
	// server held off: it must not wait, leave its loop or send part of
	// its reply.
	noWait bool
	// monitoring: the connection ran MONITOR and accepts only QUIT and
	// RESET; atomic for CLIENT LIST on other connections.
	monitoring atomic.Bool
	// blockedFor is how long the command running waited in beginBlock.
	blockedFor time.Duration
	// clock is when the pipeline's last command ended, or the pipeline
	// started, as time since the server started.
	clock time.Duration

	// lastQueue is the queue name the connection's last queue command
	// named, and taken the room of its last QPOP's jobs: reused by the
	// next, so that a worker's QPOP, QACK and QPUSH allocate neither
	// (queueName, keepJobs).
	lastQueue string
	taken     []queue.Job

	durable    []durableWait // log indexes the buffered replies wait for (durable.go)
	closeHooks []closeHook   // run once when the connection ends
	ps         clientPubSub  // subscriptions and push delivery (push.go)
	// parked: its event loop holds its replies until their records are
	// durable; listed: it is in the loop's parked list (loop_linux.go).
	parked, listed bool

	created   time.Time
	addr      string
	localAddr string
	activeAt  atomic.Int64 // the last command's start (or the connect), as time since the server started
	lastCmd   atomic.Pointer[Command]
	proto     atomic.Int32 // mirrors the writer's version for other goroutines

	mu      sync.Mutex
	name    string
	libName string
	libVer  string
	// blockCtx and blockCancel are the wait of the command blocked in
	// beginBlock, nil when none; CLIENT UNBLOCK cancels it from another
	// connection's goroutine (blocking.go).
	blockCtx    context.Context
	blockCancel context.CancelCauseFunc
}

// closeHook is work a command leaves for the end of its connection.
type closeHook struct {
	name string
	fn   func()
}

// onClose registers fn to run once, after the connection has closed,
// unless a hook of that name is registered already. Hooks run in the
// connection's goroutine, in registration order.
func (c *Client) onClose(name string, fn func()) {
	for _, h := range c.closeHooks {
		if h.name == name {
			return
		}
	}
	c.closeHooks = append(c.closeHooks, closeHook{name: name, fn: fn})
}

// socket is the connection's net.Conn, for vectored writes.
func (c *Client) socket() net.Conn {
	if c.fc != nil {
		return c.fc.socket()
	}
	return c.nc.Conn
}

// replyError writes an error reply and counts it against the current command.
func (c *Client) replyError(msg string) {
	c.errorReply(msg)
	if cmd := c.lastCmd.Load(); cmd != nil {
		cmd.failures.Add(1)
	}
}

// errorReply writes an error reply and counts it in the server's error
// statistics.
func (c *Client) errorReply(msg string) {
	c.w.Error(msg)
	c.srv.stats.errors.Add(1)
	c.srv.errorCodes.add(msg)
}

// reject answers cmd (nil: an unknown command), refused before it ran: its
// arity, the connection's authentication or mode, or MULTI refused it. As
// in Redis, it counts in the command's rejected calls, not its calls, and
// dooms an open transaction, so that EXEC runs all of it or nothing.
func (c *Client) reject(cmd *Command, msg string) {
	c.errorReply(msg)
	if cmd != nil {
		cmd.rejected.Add(1)
	}
	if c.tx.open {
		c.tx.failed = true
	}
}

// info renders the client the way CLIENT LIST and CLIENT INFO do.
func (c *Client) info(now time.Time) string {
	c.mu.Lock()
	name, libName, libVer := c.name, c.libName, c.libVer
	c.mu.Unlock()
	cmd := "NULL"
	if last := c.lastCmd.Load(); last != nil {
		cmd = last.Name
	}
	active := c.srv.started.Add(time.Duration(c.activeAt.Load()))
	b := make([]byte, 0, clientInfoSize)
	b = append(b, "id="...)
	b = strconv.AppendInt(b, c.id, 10)
	b = append(b, " addr="...)
	b = append(b, c.addr...)
	b = append(b, " laddr="...)
	b = append(b, c.localAddr...)
	b = append(b, " fd=0 name="...)
	b = append(b, name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(c.created)/time.Second), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, int64(now.Sub(active)/time.Second), 10)
	subs, psubs := c.ps.channels.Load(), c.ps.patterns.Load()
	queued := c.tx.shownQueued.Load()
	flags := " flags=N"
	switch {
	case c.monitoring.Load():
		flags = " flags=O"
	case subs+psubs > 0:
		flags = " flags=P"
	case queued >= 0:
		flags = " flags=x"
	}
	b = append(b, flags...)
	b = append(b, " db=0 sub="...)
	b = strconv.AppendInt(b, int64(subs), 10)
	b = append(b, " psub="...)
	b = strconv.AppendInt(b, int64(psubs), 10)
	b = append(b, " ssub=0 multi="...)
	b = strconv.AppendInt(b, int64(queued), 10)
	b = append(b, " watch="...)
	b = strconv.AppendInt(b, int64(c.tx.shownWatched.Load()), 10)
	b = append(b, " qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem="...)
	b = strconv.AppendInt(b, c.outputQueued(), 10)
	b = append(b, " tot-mem=0 events=r cmd="...)
	b = append(b, cmd...)
	b = append(b, " user=default redir=-1 resp="...)
	b = strconv.AppendInt(b, int64(c.proto.Load()), 10)
	b = append(b, " lib-name="...)
	b = append(b, libName...)
	b = append(b, " lib-ver="...)
	b = append(b, libVer...)
	b = append(b, " tot-net-in="...)
	b = strconv.AppendInt(b, c.nc.BytesIn.Load(), 10)
	b = append(b, " tot-net-out="...)
	b = strconv.AppendInt(b, c.nc.BytesOut.Load(), 10)
	return string(b)
}

// clientInfoSize is the usual length of one CLIENT LIST line.
const clientInfoSize = 320
