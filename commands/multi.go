package commands

import (
	"sync"
	"sync/atomic"
)

// Transactions: MULTI queues a connection's commands, EXEC runs them as one
// step, DISCARD drops them; WATCH makes EXEC run them only if no command
// changed the watched keys since.
//
// EXEC is atomic across the whole server, as a command of Redis's single
// thread is: commands run on many event loops and connection goroutines at
// once, so each of them holds a gate, shared, while it runs a pipeline, and
// EXEC takes every gate exclusively. A loop has a gate of its own, so the
// hot path takes an uncontended lock once per pipeline; the connections on
// their own goroutines share one. A command that waits (for a blocked
// take's data, the disk or a peer that reads slowly) releases its gate
// while it waits, so EXEC never waits behind it.
//
// WATCH is optimistic locking at the key level: every change the store
// makes to a watched key (its keyspace events, keyspace.go), by any
// connection, marks the watchers dirty, as Redis's signalModifiedKey
// does; EXEC also aborts when a watched key that existed at WATCH is gone
// without an event (FLUSHALL tells none, nor an expired key not reclaimed
// yet).

// Replies and errors of the transaction commands, worded as Redis's.
const (
	replyQueued       = "QUEUED"
	errNestedMulti    = "ERR MULTI calls can not be nested"
	errExecNoMulti    = "ERR EXEC without MULTI"
	errDiscardNoMulti = "ERR DISCARD without MULTI"
	errWatchInMulti   = "ERR WATCH inside MULTI is not allowed"
	errNotInMulti     = "ERR Command not allowed inside a transaction"
	errExecAbort      = "EXECABORT Transaction discarded because of previous errors."
	// errMultiTooLarge refuses a command that would make the queued
	// commands larger than client-query-buffer-limit, which bounds what
	// one client makes the server hold (Redis has no such bound).
	errMultiTooLarge = "ERR the commands queued by MULTI exceed client-query-buffer-limit"
)

// watchCloseHook is the name of the hook that drops a closed connection's
// watched keys.
const watchCloseHook = "watch"

func (s *Server) registerTransactions() {
	const tx = Loading | Stale | Fast | TxControl
	s.table.addAll("transactions", "0.4.0", []*Command{
		{Name: "multi", Arity: 1, Flags: tx, Summary: "Starts a transaction.", Handler: cmdMulti},
		{Name: "exec", Arity: 1, Flags: tx &^ Fast, Summary: "Executes all commands in a transaction.", Handler: cmdExec},
		{Name: "discard", Arity: 1, Flags: tx, Summary: "Discards a transaction.", Handler: cmdDiscard},
		{Name: "watch", Arity: -2, Flags: tx, FirstKey: 1, LastKey: -1, Step: 1,
			Summary: "Monitors changes to keys to determine the execution of a transaction.", Syntax: "key [key ...]", Handler: cmdWatch},
		{Name: "unwatch", Arity: 1, Flags: Loading | Stale | Fast | NoScript, Summary: "Forgets about watched keys of a transaction.", Handler: cmdUnwatch},
	})
}

// transaction is a connection's MULTI and WATCH state. Fields without
// atomics are owned by the connection's goroutine.
type transaction struct {
	open    bool // MULTI ran: commands are queued until EXEC or DISCARD
	failed  bool // a command was refused while queued: EXEC discards them
	queued  []queuedCommand
	size    int64 // bytes of the queued arguments
	watched []watchedKey
	// dirty: a command changed a watched key; set by any connection.
	dirty atomic.Bool
	// shownQueued (-1 outside MULTI) and shownWatched are for CLIENT LIST.
	shownQueued, shownWatched atomic.Int32
}

type queuedCommand struct {
	cmd  *Command
	args [][]byte
}

type watchedKey struct {
	key     string
	existed bool
}

// gate is what a command holds, shared, while it runs (see above).
type gate = sync.RWMutex

// enterGate takes g shared for the commands the connection runs next.
func (c *Client) enterGate(g *gate) {
	if g != nil {
		g.RLock()
	}
	c.gate = g
}

// leaveGate releases the gate the connection holds, if any, and returns
// it, for enterGate once the wait that needed it released is over.
func (c *Client) leaveGate() *gate {
	g := c.gate
	if g != nil {
		g.RUnlock()
	}
	c.gate = nil
	return g
}

// exclusive runs fn while no other command runs anywhere in the server,
// with c.noWait set and the clocks of the store, the queues and the
// streams frozen, so that no key expires, no job times out and no group
// member goes silent between two of fn's commands. The gates are taken in one order (the loops', then
// the goroutines'), so two EXECs wait for each other instead of
// deadlocking. Called again from fn (a script in a transaction), it just
// runs fn.
func (c *Client) exclusive(fn func()) {
	if c.noWait {
		fn()
		return
	}
	s := c.srv
	own := c.leaveGate()
	for _, l := range s.loops {
		l.gate.Lock()
	}
	s.gate.Lock()
	c.noWait = true
	thaw := s.cfg.Store.FreezeClock()
	thawQueues, thawStreams := func() {}, func() {}
	if s.cfg.Queue != nil {
		thawQueues = s.cfg.Queue.FreezeClock()
	}
	if s.cfg.Stream != nil {
		thawStreams = s.cfg.Stream.FreezeClock()
	}
	defer func() {
		thawStreams()
		thawQueues()
		thaw()
		c.noWait = false
		s.gate.Unlock()
		for _, l := range s.loops {
			l.gate.Unlock()
		}
		c.enterGate(own)
	}()
	fn()
}

// queue adds a command to the open transaction, copying its arguments out
// of the read buffer.
func (c *Client) queue(cmd *Command, args [][]byte) {
	if cmd.Flags&NoMulti != 0 {
		c.reject(cmd, errNotInMulti)
		return
	}
	size := int64(0)
	for _, a := range args {
		size += int64(len(a))
	}
	if c.tx.size+size > c.srv.cfg.Limits.MaxQueryBuffer {
		c.reject(cmd, errMultiTooLarge)
		return
	}
	buf := make([]byte, 0, size)
	own := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		own[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	c.tx.queued = append(c.tx.queued, queuedCommand{cmd: cmd, args: own})
	c.tx.size += size
	c.tx.shownQueued.Store(int32(len(c.tx.queued)))
	c.w.Simple(replyQueued)
}

// endMulti closes the transaction, dropping what it queued.
func (c *Client) endMulti() {
	c.tx.open, c.tx.failed, c.tx.queued, c.tx.size = false, false, nil, 0
	c.tx.shownQueued.Store(-1)
}

// resetTransaction ends the transaction and every watch (RESET, DISCARD).
func (c *Client) resetTransaction() {
	c.endMulti()
	c.unwatch()
}

func cmdMulti(c *Client, _ [][]byte) {
	if c.tx.open {
		c.replyError(errNestedMulti)
		return
	}
	c.tx.open = true
	c.tx.shownQueued.Store(0)
	c.w.OK()
}

func cmdDiscard(c *Client, _ [][]byte) {
	if !c.tx.open {
		c.replyError(errDiscardNoMulti)
		return
	}
	c.resetTransaction()
	c.w.OK()
}

// cmdExec runs the queued commands with the rest of the server held off.
// A blocking command among them answers as for a timeout, as in Redis; its
// replies, and the acknowledgements of durable records among them, leave
// with the rest of the pipeline's.
func cmdExec(c *Client, _ [][]byte) {
	if !c.tx.open {
		c.replyError(errExecNoMulti)
		return
	}
	if c.tx.failed {
		c.resetTransaction()
		c.replyError(errExecAbort)
		return
	}
	queued := c.tx.queued
	c.endMulti()
	s := c.srv
	self := c.lastCmd.Load()
	c.exclusive(func() {
		changed := c.watchBroken()
		c.unwatch()
		if changed {
			c.w.NullArray()
			return
		}
		c.w.Array(len(queued))
		for _, q := range queued {
			c.lastCmd.Store(q.cmd)
			s.callNested(c, q.cmd, q.args)
		}
	})
	c.lastCmd.Store(self)
}

func cmdWatch(c *Client, args [][]byte) {
	if c.tx.open {
		c.replyError(errWatchInMulti)
		return
	}
	st := c.store()
	for _, k := range args[1:] {
		if c.watches(k) {
			continue
		}
		key := string(k)
		// Registered before the key is looked at: a write that the lookup
		// misses sees the registration and marks the watch dirty.
		c.srv.watches.add(c, key)
		c.tx.watched = append(c.tx.watched, watchedKey{key: key, existed: st.Present(k)})
	}
	c.tx.shownWatched.Store(int32(len(c.tx.watched)))
	c.onClose(watchCloseHook, c.unwatch)
	c.w.OK()
}

func cmdUnwatch(c *Client, _ [][]byte) {
	c.unwatch()
	c.w.OK()
}

// watches reports whether the connection watches key already.
func (c *Client) watches(key []byte) bool {
	for _, w := range c.tx.watched {
		if w.key == string(key) {
			return true
		}
	}
	return false
}

// unwatch forgets every key the connection watches.
func (c *Client) unwatch() {
	for _, w := range c.tx.watched {
		c.srv.watches.remove(c, w.key)
	}
	c.tx.watched = nil
	c.tx.dirty.Store(false)
	c.tx.shownWatched.Store(0)
}

// watchBroken reports whether EXEC must abort: a command changed a watched
// key, or a watched key that existed is gone without one (it expired or
// was evicted). Called with the server held off.
func (c *Client) watchBroken() bool {
	if c.tx.dirty.Load() {
		return true
	}
	st := c.store()
	for _, w := range c.tx.watched {
		if w.existed && !st.Present([]byte(w.key)) {
			return true
		}
	}
	return false
}

// watchRegistry maps watched keys to their watchers. The hot path reads n,
// a plain load, and takes the lock only while some key is watched.
type watchRegistry struct {
	n    atomic.Int64 // (connection, key) pairs
	mu   sync.Mutex
	keys map[string][]*Client
}

func (r *watchRegistry) add(c *Client, key string) {
	r.mu.Lock()
	if r.keys == nil {
		r.keys = make(map[string][]*Client)
	}
	r.keys[key] = append(r.keys[key], c)
	r.n.Add(1)
	r.mu.Unlock()
}

func (r *watchRegistry) remove(c *Client, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.keys[key]
	for i, w := range list {
		if w == c {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			r.n.Add(-1)
			break
		}
	}
	if len(list) == 0 {
		delete(r.keys, key)
		return
	}
	r.keys[key] = list
}

// touch marks dirty the watchers of key, which the store changed. Hot
// path: a plain load while nothing is watched.
func (r *watchRegistry) touch(key []byte) {
	if r.n.Load() == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.keys[string(key)] {
		w.tx.dirty.Store(true)
	}
}
