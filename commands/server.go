package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"nexo/engine/pubsub"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
	"nexo/resp"
)

// Defaults of the server settings that are not framing limits.
const (
	DefaultMaxClients = 10000
	// cronInterval paces the server's housekeeping: closing idle event-loop
	// connections and sampling instantaneous ops/sec.
	cronInterval = 100 * time.Millisecond
	// opsSamples is how many cron samples instantaneous_ops_per_sec
	// averages over (Redis: 16).
	opsSamples = 16
	// rejectWriteTimeout bounds the error written to a connection refused
	// for maxclients, so that a peer that never reads cannot stall accepting.
	rejectWriteTimeout = 100 * time.Millisecond
)

// Param is one configuration parameter as CONFIG GET reports it.
type Param struct {
	Name, Value string
}

// Config is what the command layer needs from the rest of the process.
type Config struct {
	Addr       string // host:port to listen on; port 0 picks a free port
	Password   string // empty: no authentication
	MaxClients int
	// Loops is how many event loops serve connections (see eventLoop);
	// 0, or a platform without a poller: a goroutine per connection.
	Loops       int
	IdleTimeout time.Duration // 0: never close idle clients
	Limits      resp.Limits
	Version     string
	Params      []Param // CONFIG GET answers from these
	Logger      *slog.Logger
	Store       *store.Store
	Queue       *queue.Broker  // nil: the queue commands answer an error
	PubSub      *pubsub.Broker // nil: the pub/sub commands answer an error
	Stream      *stream.Broker // nil: the stream commands answer an error
	// StreamDefaults are the settings XCREATE starts from; zero = the
	// stream package's defaults.
	StreamDefaults stream.Settings
	PubSubLimit    OutputLimit // output buffer limit of subscribed connections
	// KeyspaceEvents chooses the store's events published on the pub/sub
	// broker (notify-keyspace-events); zero: none.
	KeyspaceEvents KeyspaceEvents
	// ScriptTimeLimit is how long a script may run before it is stopped;
	// 0 = DefaultScriptTimeLimit.
	ScriptTimeLimit time.Duration
	// SlowlogSlowerThan is the execution time from which a command enters
	// the slow log (negative: none); SlowlogMaxLen is how many entries it
	// keeps (0: none, so a zero Config keeps no slow log).
	SlowlogSlowerThan time.Duration
	SlowlogMaxLen     int
}

// Server accepts RESP connections and runs their commands.
type Server struct {
	cfg     Config
	log     *slog.Logger
	table   *Table
	ln      net.Listener
	started time.Time
	runID   string

	nextID   atomic.Int64
	mu       sync.Mutex
	clients  map[int64]*Client
	draining bool
	conns    sync.WaitGroup
	stop     chan struct{}
	cronDone chan struct{}
	// stopping is closed once a client asked for SHUTDOWN (see Stopping).
	stopping chan struct{}
	stopOnce sync.Once

	stats    serverStats
	slow     *slowLog
	monitors monitors
	watches  watchRegistry
	// errorCodes counts error replies by code (INFO errorstats).
	errorCodes errorStats
	scripts    scripts
	// gate is the command gate of the connections on their own goroutines
	// (each event loop has its own; see multi.go).
	gate     gate
	blocked  atomic.Int64 // clients waiting inside a blocking command
	loops    []*eventLoop
	nextLoop int // the loop the next connection goes to (accept goroutine only)
}

type serverStats struct {
	connections  atomic.Int64 // accepted over the server's life
	rejected     atomic.Int64 // refused for maxclients
	commands     atomic.Int64
	errors       atomic.Int64
	protoErrors  atomic.Int64 // connections closed for breaking the framing limits
	closedIn     atomic.Int64 // traffic of connections already closed
	closedOut    atomic.Int64
	opsPerSec    atomic.Int64
	opsHistory   [opsSamples]int64
	opsIndex     int
	lastCommands int64
	lastSample   time.Time
}

// NewServer validates cfg and binds the listener, so that Addr reports the
// real port before Serve runs.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("commands: a store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ScriptTimeLimit == 0 {
		cfg.ScriptTimeLimit = DefaultScriptTimeLimit
	}
	if cfg.MaxClients <= 0 {
		return nil, fmt.Errorf("commands: maxclients must be positive, got %d", cfg.MaxClients)
	}
	loops, err := newLoops(cfg.Loops)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		for _, l := range loops {
			l.poller.Close()
		}
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		table:    newTable(),
		ln:       ln,
		started:  time.Now(),
		runID:    newRunID(),
		clients:  make(map[int64]*Client),
		stop:     make(chan struct{}),
		cronDone: make(chan struct{}),
		stopping: make(chan struct{}),
		loops:    loops,
		slow:     newSlowLog(cfg.SlowlogSlowerThan, cfg.SlowlogMaxLen),
	}
	for _, l := range loops {
		l.srv = s
		go l.run()
	}
	s.stats.lastSample = s.started
	s.registerCommands()
	s.followStore(cfg.KeyspaceEvents)
	s.followQueue()
	return s, nil
}

// registerCommands fills the command table.
func (s *Server) registerCommands() {
	s.registerConnection()
	s.registerServer()
	s.registerStrings()
	s.registerBitmaps()
	s.registerHashes()
	s.registerKeyspace()
	s.registerQueue()
	s.registerPubSub()
	s.registerStream()
	s.registerTransactions()
	s.registerScripting()
}

// Stopping is closed once a client has run SHUTDOWN: the process should
// then shut down as on SIGTERM, calling Shutdown.
func (s *Server) Stopping() <-chan struct{} { return s.stopping }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// acceptRetryDelay paces Accept after a temporary failure such as running
// out of file descriptors.
const acceptRetryDelay = 50 * time.Millisecond

// Serve accepts connections until Shutdown.
func (s *Server) Serve() error {
	go s.cron()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("accept failed", "err", err)
			time.Sleep(acceptRetryDelay)
			continue
		}
		if len(s.loops) > 0 {
			s.attach(s.loops[s.nextLoop], nc)
			s.nextLoop = (s.nextLoop + 1) % len(s.loops)
			continue
		}
		if c := s.admit(resp.NewConn(nc), nil, nil); c != nil {
			go s.serveClient(c, nil)
		}
	}
}

// Shutdown stops accepting, lets every connection finish the pipeline it is
// running and answer it, then returns. Connections still open when ctx ends
// are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.mu.Lock()
	s.draining = true
	for _, c := range s.clients {
		c.nc.Drain()
	}
	s.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		s.conns.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-ctx.Done():
		s.mu.Lock()
		for _, c := range s.clients {
			c.nc.Conn.Close()
		}
		s.mu.Unlock()
		err = ctx.Err()
	}
	for _, l := range s.loops {
		l.stop()
	}
	close(s.stop)
	<-s.cronDone
	return err
}

// admit registers a new connection, or refuses it when the server is full
// or shutting down. fc and l are the socket and the loop of a connection an
// event loop serves (nil otherwise).
func (s *Server) admit(nc *resp.Conn, fc *fdConn, l *eventLoop) *Client {
	s.mu.Lock()
	if s.draining || len(s.clients) >= s.cfg.MaxClients {
		s.mu.Unlock()
		s.stats.rejected.Add(1)
		nc.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
		nc.Write([]byte("-ERR max number of clients reached\r\n"))
		nc.Close()
		return nil
	}
	c := &Client{
		srv:       s,
		id:        s.nextID.Add(1),
		nc:        nc,
		fc:        fc,
		loop:      l,
		home:      l,
		rd:        resp.NewReader(nc, s.cfg.Limits),
		authed:    s.cfg.Password == "",
		created:   time.Now(),
		addr:      nc.RemoteAddr().String(),
		localAddr: nc.LocalAddr().String(),
	}
	c.w = resp.NewWriter(replySink{c})
	c.proto.Store(resp.RESP2)
	c.tx.shownQueued.Store(-1)
	c.activeAt.Store(int64(time.Since(s.started)))
	c.rd.SetAuthenticated(c.authed)
	s.clients[c.id] = c
	s.conns.Add(1)
	s.mu.Unlock()
	s.stats.connections.Add(1)
	return c
}

// serveClient runs one connection on its own goroutine: it reads a whole
// pipeline, runs every command of it, and flushes the replies once. rest
// is what is left of the pipeline of a connection handed off by its event
// loop; such a connection returns to its loop once a blocking take finds
// jobs without waiting and nothing else keeps it on the goroutine
// (rejoinLoop).
func (s *Server) serveClient(c *Client, rest [][][]byte) {
	if err := s.runGuarded(c, rest); err != errRejoined {
		s.release(c, err)
	}
}

// errRejoined ends a connection's goroutine when the connection has
// returned to its event loop, which serves it from then on.
var errRejoined = errors.New("connection returned to its event loop")

// release cleans up after a connection that ended with err.
func (s *Server) release(c *Client, err error) {
	c.endPubSub()
	c.nc.Close()
	for _, h := range c.closeHooks {
		h.fn()
	}
	s.mu.Lock()
	delete(s.clients, c.id)
	s.mu.Unlock()
	s.stats.closedIn.Add(c.nc.BytesIn.Load())
	s.stats.closedOut.Add(c.nc.BytesOut.Load())
	var perr *resp.ProtocolError
	switch {
	case errors.As(err, &perr):
		s.stats.protoErrors.Add(1)
		s.log.Info("closing client after protocol error", "id", c.id, "addr", c.addr, "err", err)
	case errors.Is(err, resp.ErrQueryBufferLimit):
		s.stats.protoErrors.Add(1)
		s.log.Warn("closing client that reached max query buffer length", "id", c.id, "addr", c.addr)
	case isTimeout(err) && !c.nc.Draining():
		s.log.Debug("closing idle client", "id", c.id, "addr", c.addr)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err):
		s.log.Debug("client connection ended", "id", c.id, "addr", c.addr, "err", err)
	}
	s.conns.Done()
}

// runGuarded runs the connection and turns a panic in a command into the
// end of that connection alone: the bug is logged with its stack, the
// client gets an error, and every other client keeps being served.
func (s *Server) runGuarded(c *Client, rest [][][]byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.leaveGate()
			s.panicked(c, r, debug.Stack())
			err = errPanic
		}
	}()
	if c.fc != nil {
		if err := c.fc.flushUnsent(); err != nil {
			return err
		}
	}
	return s.runPipelines(c, rest)
}

// panicked logs a panic of a command of c, with its stack, and answers it
// an error.
func (s *Server) panicked(c *Client, r any, stack []byte) {
	s.log.Error(panicMessage, "id", c.id, "addr", c.addr, "panic", r, "stack", string(stack))
	c.w.Error(errInternal)
	if c.awaitDurable() == nil {
		c.w.Flush()
	}
}

// panicMessage is the log message of a command that panicked.
const panicMessage = "command panicked"

var errPanic = errors.New(panicMessage)

// runPipelines runs the connection's pipelines, starting with batch, the
// rest of a pipeline begun on an event loop (nil: none), until the
// connection ends or returns to its loop (errRejoined).
func (s *Server) runPipelines(c *Client, batch [][][]byte) error {
	for {
		if batch == nil && c.rejoinLoop() {
			return errRejoined
		}
		switch {
		case batch != nil:
		case s.cfg.IdleTimeout > 0 && c.subscribed():
			// Subscribers are never idle, as in Redis.
			c.clearReadDeadline()
		case s.cfg.IdleTimeout > 0:
			c.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		if batch == nil {
			var err error
			if batch, err = c.rd.ReadBatch(); err != nil {
				c.answerFramingError(err)
				return err
			}
		}
		c.startPipeline()
		c.enterGate(&s.gate)
		for _, args := range batch {
			s.handle(c, args)
			if c.closing {
				// QUIT, or CLIENT KILL of itself: the reply is flushed, the
				// rest of the pipeline dropped.
				c.leaveGate()
				c.wakeTouched()
				if err := c.awaitDurable(); err != nil {
					return err
				}
				return c.w.Flush()
			}
		}
		c.leaveGate()
		// The subscribers this pipeline published to are woken once, and
		// before any wait. Replies that acknowledge durable records wait
		// for them: one wait for the whole pipeline. If the log failed,
		// they are dropped and the connection closed.
		c.wakeTouched()
		if err := c.awaitDurable(); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		batch = nil
		// Hot path: yield before the next read. The peer needs a moment to
		// answer the reply just sent; letting other connections run first
		// makes that read find data more often instead of parking the
		// goroutine in the poller, which costs an extra read syscall and a
		// wake-up per request (about 10% of unpipelined throughput here).
		runtime.Gosched()
	}
}

// answerFramingError sends the ERR reply of a read that broke the framing
// rules, before the connection closes; other read errors get no reply.
func (c *Client) answerFramingError(err error) {
	var perr *resp.ProtocolError
	if errors.As(err, &perr) {
		c.w.Error("ERR " + perr.Error())
		c.w.Flush()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handle runs one command of a pipeline.
func (s *Server) handle(c *Client, args [][]byte) {
	cmd := s.table.lookup(args[0])
	if cmd == nil {
		c.lastCmd.Store(nil)
		c.reject(nil, unknownCommand(args))
		return
	}
	if cmd.Subcommands != nil && len(args) > 1 {
		if sub := cmd.lookupSub(args[1]); sub != nil {
			cmd = sub
		}
	}
	c.lastCmd.Store(cmd)
	// Hot path: the latency is taken on the monotonic clock as time since
	// the server started (time.Now would read the wall clock too), and a
	// command starts when the one before it in the pipeline ended, so that
	// a command costs one clock read.
	begin := c.clock
	c.activeAt.Store(int64(begin))
	// A command refused before it runs, or queued by MULTI, is not a call
	// (as in Redis's commandstats): it returns before it is counted.
	switch {
	case !cmd.arityOK(len(args)):
		c.reject(cmd, "ERR wrong number of arguments for '"+cmd.Name+"' command")
		return
	case !c.authed && cmd.Flags&NoAuth == 0:
		c.reject(cmd, errNoAuth)
		return
	case c.subscriberMode() && cmd.Flags&SubscriberOK == 0:
		c.reject(cmd, subscriberModeError(cmd))
		return
	case c.monitoring.Load() && cmd.Name != "quit" && cmd.Name != "reset":
		c.reject(cmd, "ERR Can't execute '"+cmd.Name+"': only QUIT and RESET are allowed while monitoring")
		return
	case c.tx.open && cmd.Flags&TxControl == 0:
		c.queue(cmd, args)
		return
	}
	if cmd.Flags&Blocking != 0 {
		// The subscribers this pipeline published to must not wait while
		// the command blocks.
		c.wakeTouched()
	}
	s.call(c, cmd, args)
	if c.redo {
		// It left the event loop to wait and runs again, and is counted,
		// on the connection's own goroutine.
		return
	}
	// A blocking command's time spent waiting is not its latency (as in
	// Redis's commandstats).
	c.clock = time.Since(s.started)
	d := c.clock - begin - c.blockedFor
	c.blockedFor = 0
	s.account(c, cmd, args, d)
}

// call runs cmd, then tells the monitors, unless it left its event loop to
// run again (c.redo). The watchers of the keys it changed were told by the
// store (keyspace.go).
func (s *Server) call(c *Client, cmd *Command, args [][]byte) {
	cmd.Handler(c, args)
	if c.redo {
		return
	}
	if s.monitors.n.Load() > 0 && !c.monitoring.Load() && !unmonitored(cmd) {
		from := c.addr
		if s.scripts.run.c == c {
			// A script's command, run while every other command is held
			// off: the script's fields are not written meanwhile.
			from = monitorScriptSource
		}
		s.monitors.feed(c, from, args)
	}
}

// callNested runs a command that EXEC or a script runs, outside any
// pipeline's clock, and counts it with its own time.
func (s *Server) callNested(c *Client, cmd *Command, args [][]byte) {
	begin := time.Since(s.started)
	s.call(c, cmd, args)
	s.account(c, cmd, args, time.Since(s.started)-begin)
}

// account counts a command that ran for d.
func (s *Server) account(c *Client, cmd *Command, args [][]byte, d time.Duration) {
	s.stats.commands.Add(1)
	cmd.calls.Add(1)
	cmd.latency.observe(d)
	if d >= s.slow.from {
		s.slow.add(c, cmd, args, d)
	}
}

// startPipeline reads the clock the first command of a pipeline starts at
// (see handle).
func (c *Client) startPipeline() { c.clock = time.Since(c.srv.started) }

// cron closes idle event-loop connections, stops a script past its time
// limit and samples the command rate.
func (s *Server) cron() {
	defer close(s.cronDone)
	t := time.NewTicker(cronInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.closeIdleOnLoops()
			s.scripts.stopLate(now, s.cfg.ScriptTimeLimit)
			st := &s.stats
			total := st.commands.Load()
			elapsed := now.Sub(st.lastSample)
			if elapsed > 0 {
				st.opsHistory[st.opsIndex] = int64(float64(total-st.lastCommands) / elapsed.Seconds())
				st.opsIndex = (st.opsIndex + 1) % opsSamples
				var sum int64
				for _, v := range st.opsHistory {
					sum += v
				}
				st.opsPerSec.Store(sum / opsSamples)
			}
			st.lastCommands, st.lastSample = total, now
		}
	}
}

// closeIdleOnLoops closes the event-loop connections idle for longer than
// the idle timeout (a connection on its own goroutine has a read deadline
// instead). Subscribed connections are never on a loop.
func (s *Server) closeIdleOnLoops() {
	if s.cfg.IdleTimeout <= 0 || len(s.loops) == 0 {
		return
	}
	now := time.Since(s.started)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		if c.fc != nil && now-time.Duration(c.activeAt.Load()) > s.cfg.IdleTimeout && c.fc.onLoop() {
			s.log.Debug("closing idle client", "id", c.id, "addr", c.addr)
			c.fc.Close()
		}
	}
}

// clientsSnapshot returns the connected clients ordered by id.
func (s *Server) clientsSnapshot() []*Client {
	s.mu.Lock()
	out := make([]*Client, 0, len(s.clients))
	for _, c := range s.clients {
		out = append(out, c)
	}
	s.mu.Unlock()
	sortClients(out)
	return out
}
