package commands

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"nexo/engine/pubsub"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
	"nexo/resp"
	"nexo/wal"
)

// Bounds of one fuzzed input: a command of more or longer arguments
// exercises nothing the framing fuzz target (resp.FuzzReader) and these
// bounds do not; a few commands in a row reach the states one command
// leaves for the next (a job taken, then acked).
const (
	fuzzMaxCommands = 8
	fuzzMaxArgs     = 32
	fuzzMaxArgLen   = 512
)

// Separators of a fuzzed input: commands, and arguments within one.
const (
	fuzzCommandSep = 1
	fuzzArgSep     = 0
)

// fuzzLimits are the fuzzed server's framing limits, room for any command
// FuzzCommand sends.
var fuzzLimits = resp.Limits{MaxBulkLen: fuzzMaxArgLen, MaxMultibulkLen: fuzzMaxArgs, MaxQueryBuffer: 2 * fuzzMaxArgs * fuzzMaxArgLen}

// fuzzLoops is how many event loops the fuzzed server runs: more than one,
// so that commands run on a loop as in production (where the platform has
// a poller).
const fuzzLoops = 2

// fuzzMaxMemory is the fuzzed store's memory limit, under allkeys-lru: a
// few hundred small keys, so that fuzzed writes evict and eviction runs
// beside every other command.
const fuzzMaxMemory = 64 << 10

// fuzzMaxClients is the fuzzed server's client limit: a fuzzed command and
// the control connection at a time, with room for those still closing.
const fuzzMaxClients = 64

// fuzzReplyWait bounds the wait for a fuzzed command's reply: a blocking
// command (QPOP … BLOCK, XFETCH … BLOCK, SUBSCRIBE) may rightly not answer.
const fuzzReplyWait = 100 * time.Millisecond

// fuzzAliveWait bounds the wait for the answers to the control
// connection's probes after each input: a server that does not answer them
// within this time is stuck.
const fuzzAliveWait = 5 * time.Second

// fuzzShutdownWait bounds the fuzzed server's shutdown.
const fuzzShutdownWait = 10 * time.Second

// fuzzSeeds are the seed inputs, one per line: commands separated by
// " | ", arguments by spaces. Every command family with its options, so
// that mutations start from inputs that get past the arity and syntax
// checks, and sequences that build on earlier commands.
const fuzzSeeds = `QPUSH q a b | QPOP q COUNT 2 | QACK q 1 2 | QNACK q 2
QPUSH q a | QPOP q VISIBILITY 1 | QTOUCH q 1 10 | QNACK q 1 DELAY 0 ERROR e | QDLQ LIST q | QDLQ REQUEUE q
QCONFIG SET q max-attempts 1 | QPUSH q a | QPOP q | QNACK q 1 | QDLQ LIST q | QDLQ PURGE q
QPUSH q a b | QJOB q 1 | QPUSH q DELAY 9 c | QPROMOTE q 3 | QPOP q | QPROGRESS q 1 50 | QCANCEL q 1 2 | QJOB q 2 | QREPEAT SET q r EVERY 1 PRIORITY 2 p | QREPEAT SET q c CRON @daily p | QREPEAT LIST q | QREPEAT DEL q r c
XAPPEND s a b | XGROUPCREATE s g FROM EARLIEST | XCONSUME s GROUP g MEMBER m COUNT 1 | XCOMMIT s GROUP g MEMBER m PARTITION 0 OFFSET 1 | XGROUPINFO s g
XCREATE s PARTITIONS 2 MAXMSGS 1 | XAPPEND s KEY k a b c | XFETCH s PARTITION 0 FROM 0 | XALTER s PARTITIONS 3 | XSTREAMINFO s
SUBSCRIBE ch | PING | UNSUBSCRIBE ch | PSUB a/# | PPUB a/b x | PUNSUB a/#
HSET h f 1 | HINCRBY h f 2 | HGETALL h | HSCAN h 0 | DEL h
SET k 1 PX 1 | GET k | INCR k | SCAN 0
SETBIT b 7 1 | GETBIT b 7 | BITCOUNT b 0 -1 BIT | BITPOS b 0 1 | BITOP XOR d b b | BITOP NOT d b
MULTI | SET k 1 | INCR k | QPUSH q a | EXEC
WATCH k | SET k 2 | MULTI | GET k | EXEC | UNWATCH
MULTI | QPOP q BLOCK 0 | XFETCH s PARTITION 0 BLOCK 0 | XCONSUME s GROUP g MEMBER m BLOCK 0 | EXEC
MULTI | SUBSCRIBE ch | MULTI | WATCH k | DISCARD | EXEC
EVAL return(redis.call('incr',KEYS[1])) 1 k | EVAL_RO return(redis.pcall('set','k',ARGV[1])) 0 v
SCRIPT LOAD return({KEYS[1],ARGV[1],true,false}) | SCRIPT EXISTS 2d3e9f1e6a4c | SCRIPT FLUSH | SCRIPT KILL
EVAL redis.call('qpush','q',ARGV[1])return(redis.call('qpop','q','BLOCK','0')) 0 job
PING
ECHO hello
HELLO 3 SETNAME fuzz
HELLO 2 AUTH default secret
AUTH secret
SELECT 0
CLIENT SETNAME fuzz
CLIENT LIST TYPE normal
CLIENT INFO
CLIENT KILL ID 999999
CLIENT UNBLOCK 999999 ERROR
CONFIG GET *
CONFIG SET maxmemory 1
CONFIG RESETSTAT
COMMAND INFO get qpush
COMMAND DOCS xappend
COMMAND LIST FILTERBY pattern q*
COMMAND COUNT
INFO all
DBSIZE
TIME
SET k v EX 10 NX GET
SET k v PXAT 99999999999999 XX KEEPTTL
GETEX k PX 100
GETEX k PERSIST
GETDEL k
SETRANGE k 5 abc
GETRANGE k -3 -1
APPEND k tail
INCRBY n 9223372036854775807
INCRBYFLOAT f 1.5e3
DECRBY n -9223372036854775808
MSET a 1 b 2
MSETNX a 1 c 3
MGET a b c
SETEX k 10 v
PSETEX k 10 v
HSET h f v g w
HSETNX h f v
HINCRBY h n -5
HINCRBYFLOAT h x 0.1
HMGET h f g
HRANDFIELD h -5 WITHVALUES
HSCAN h 0 MATCH f* COUNT 10
HSTRLEN h f
HDEL h f
SCAN 0 MATCH * COUNT 5 TYPE string
KEYS k*
EXPIRE k 100 GT
PEXPIREAT k 1 NX
TTL k
EXPIRETIME k
PERSIST k
COPY k k2 REPLACE
RENAME k2 k3
RENAMENX k3 k
TYPE k
RANDOMKEY
TOUCH k k3
UNLINK k3
DEL a b
FLUSHDB ASYNC
QPUSH q DELAY 10 PRIORITY 2 DEDUP d1 job1 job2
QPUSH q PRIORITY -9223372036854775808 job
QPOP q COUNT 2 VISIBILITY 1000
QPOP q BLOCK 10 COUNT 1
QACK q 1 2
QNACK q 1 DELAY 5 ERROR failed
QTOUCH q 1 500
QLEN q
QINFO q
QPEEK q COUNT 5
QLIST MATCH q*
QPAUSE q
QRESUME q
QCONFIG GET q max-attempts visibility-timeout
QCONFIG SET q max-attempts 3 backoff fixed backoff-delay 10
QDLQ LIST q COUNT 10
QDLQ REQUEUE q TO q2 1
QDLQ PURGE q 1
QPURGE q
QDEL q
SUBSCRIBE ch
UNSUBSCRIBE ch
PSUBSCRIBE c*
PUNSUBSCRIBE c*
PUBLISH ch msg
PSUB a/+/c #
PUNSUB a/+/c
PPUB a/b/c payload RETAIN
PRETAINED a/#
PDELRETAINED a/b/c
PUBSUB CHANNELS c*
PUBSUB NUMSUB ch
PUBSUB NUMPAT
XAPPEND s KEY k v1 v2
XCREATE s2 PARTITIONS 3 MAXAGE 1000 MAXBYTES 1048576 MAXMSGS 10
XALTER s2 PARTITIONS 4 MAXMSGS 0
XFETCH s PARTITION 0 FROM 0 COUNT 10
XFETCH s PARTITION 0 FROM EARLIEST COUNT 10
XFETCH s PARTITION 0 FROM TIME 0 BLOCK 10
XFETCH s PARTITION 0 FROM LATEST
XGROUPCREATE s g FROM EARLIEST
XCONSUME s GROUP g MEMBER m COUNT 5 BLOCK 10
XCOMMIT s GROUP g MEMBER m PARTITION 0 OFFSET 1
XSEEK s g PARTITION 0 FROM 0
XLEAVE s GROUP g MEMBER m
XSTREAMINFO s
XGROUPINFO s g
XSTREAMS
XGROUPDEL s g
RESET
QUIT`

// FuzzCommand runs the commands made of the input (separated by
// fuzzCommandSep bytes, their arguments by fuzzArgSep bytes; a first byte
// that is odd switches the connection to RESP3 first) against a server
// with every broker, one after the other on a connection of their own, and
// checks what a client may never see: a panic, a reply that is not
// well-formed RESP, or a server that stops answering probes of every
// broker on another connection. A blocking command may leave its reply out
// (the commands after it are not sent); a command may close its connection
// (QUIT, CLIENT KILL).
func FuzzCommand(f *testing.F) {
	for _, line := range strings.Split(fuzzSeeds, "\n") {
		seed := strings.NewReplacer(" | ", string(rune(fuzzCommandSep)), " ", string(rune(fuzzArgSep))).Replace(line)
		f.Add(append([]byte{0}, seed...))
		f.Add(append([]byte{1}, seed...))
	}
	h := startFuzzServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		resp3 := in[0]&1 == 1
		var cmds [][][]byte
		for _, cmd := range bytes.Split(in[1:], []byte{fuzzCommandSep}) {
			args := bytes.Split(cmd, []byte{fuzzArgSep})
			if len(args) > fuzzMaxArgs {
				return
			}
			for _, a := range args {
				if len(a) > fuzzMaxArgLen {
					return
				}
			}
			cmds = append(cmds, args)
		}
		if len(cmds) > fuzzMaxCommands {
			return
		}
		h.run(t, resp3, cmds)
	})
}

// fuzzServer is the server FuzzCommand drives, shared by every input.
type fuzzServer struct {
	srv     *Server
	addr    string
	control net.Conn
	ctlRd   *bufio.Reader

	mu     sync.Mutex
	panics []string // "command panicked" log lines

	// stuck is set once the server stopped answering the probes: the
	// inputs after that fail at once instead of waiting for it.
	stuck error
}

// startFuzzServer starts a server with every broker on a temporary
// directory, stopped when f ends.
func startFuzzServer(f *testing.F) *fuzzServer {
	h := &fuzzServer{}
	dir := f.TempDir()
	log := slog.New(&panicRecorder{h: h})
	walOpts := wal.Options{Fsync: wal.FsyncNo, Logger: log}
	st, err := store.New(store.Config{MaxMemory: fuzzMaxMemory, Policy: store.AllKeysLRU})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		closeWithin(f, func() error {
			st.Close()
			return nil
		})
	})
	qb := closedAtEnd[*queue.Broker](f)(queue.Open(queue.Config{Dir: filepath.Join(dir, "queue"), WAL: walOpts, Logger: log}))
	pb := closedAtEnd[*pubsub.Broker](f)(pubsub.Open(pubsub.Config{Dir: filepath.Join(dir, "pubsub"), WAL: walOpts, Logger: log}))
	sb := closedAtEnd[*stream.Broker](f)(stream.Open(stream.Config{Dir: filepath.Join(dir, "stream"), WAL: walOpts, Logger: log}))
	h.srv, err = NewServer(Config{
		Addr:       "127.0.0.1:0",
		Loops:      fuzzLoops,
		MaxClients: fuzzMaxClients,
		Limits:     fuzzLimits,
		// A fuzzed script that loops is stopped as soon as a reply would
		// be given up on.
		ScriptTimeLimit: fuzzReplyWait,
		Logger:          log,
		Store:           st,
		Queue:           qb,
		PubSub:          pb,
		Stream:          sb,
	})
	if err != nil {
		f.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve() }()
	f.Cleanup(func() {
		closeWithin(f, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), fuzzShutdownWait)
			defer cancel()
			if err := h.srv.Shutdown(ctx); err != nil {
				return err
			}
			return <-served
		})
	})
	h.addr = h.srv.Addr().String()
	if err := h.dialControl(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.control.Close() })
	return h
}

// closedAtEnd returns a function that fails f on an opening error, or has
// the broker opened closed when f ends.
func closedAtEnd[B interface{ Close() error }](f *testing.F) func(B, error) B {
	return func(b B, err error) B {
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { closeWithin(f, b.Close) })
		return b
	}
}

// closeWithin runs closeFn, failing f if it fails or does not return
// within twice fuzzShutdownWait: a server or broker stuck on a lock a
// command left held would otherwise hang the test before it reports the
// input.
func closeWithin(f *testing.F, closeFn func() error) {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		if err != nil {
			f.Error(err)
		}
	case <-time.After(2 * fuzzShutdownWait):
		f.Error("the server or a broker did not stop")
	}
}

// dialControl opens the control connection, closing the old one.
func (h *fuzzServer) dialControl() error {
	if h.control != nil {
		h.control.Close()
	}
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		return err
	}
	h.control, h.ctlRd = conn, bufio.NewReader(conn)
	return nil
}

// fuzzProbes are the commands the control connection sends after each
// input: each takes the locks of a broker (every shard of the store), so a
// command that left one held, or a broker stuck, shows as a probe that
// gets no answer.
var fuzzProbes = [][]byte{
	encodeCommand([][]byte{[]byte("PING")}),
	encodeCommand([][]byte{[]byte("KEYS"), []byte("fuzz-probe*")}),
	encodeCommand([][]byte{[]byte("QLIST")}),
	encodeCommand([][]byte{[]byte("QLEN"), []byte("fuzz-probe")}),
	encodeCommand([][]byte{[]byte("XSTREAMS")}),
	encodeCommand([][]byte{[]byte("PRETAINED"), []byte("fuzz-probe/#")}),
	encodeCommand([][]byte{[]byte("PUBLISH"), []byte("fuzz-probe"), []byte("x")}),
}

// probe sends fuzzProbes on the control connection and reads the answers.
func (h *fuzzServer) probe() error {
	h.control.SetDeadline(time.Now().Add(fuzzAliveWait))
	if _, err := h.control.Write(bytes.Join(fuzzProbes, nil)); err != nil {
		return err
	}
	for range fuzzProbes {
		if err := readReply(h.ctlRd); err != nil {
			return err
		}
	}
	return nil
}

// run sends cmds on a new connection, each once the reply to the one
// before arrived, and checks the replies and the server.
func (h *fuzzServer) run(t *testing.T, resp3 bool, cmds [][][]byte) {
	if h.stuck != nil {
		t.Fatal(h.stuck)
	}
	conn, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	if resp3 {
		conn.Write(encodeCommand([][]byte{[]byte("HELLO"), []byte("3")}))
		conn.SetReadDeadline(time.Now().Add(fuzzAliveWait))
		if err := readReply(rd); err != nil {
			t.Fatalf("HELLO 3: %v", err)
		}
	}
	for _, args := range cmds {
		if _, err := conn.Write(encodeCommand(args)); err != nil {
			break // closed by a command before
		}
		conn.SetReadDeadline(time.Now().Add(fuzzReplyWait))
		err = readReply(rd)
		if errors.Is(err, errMalformedReply) {
			t.Fatalf("%q: %v", cmds, err)
		}
		if err != nil {
			// A blocking command that waits, or the end of the
			// connection (QUIT, CLIENT KILL).
			break
		}
	}
	h.mu.Lock()
	panics := h.panics
	h.panics = nil
	h.mu.Unlock()
	if len(panics) > 0 {
		t.Fatalf("%q panicked: %s", cmds, panics[0])
	}
	if err := h.probe(); err != nil {
		// The command may have closed the control connection (CLIENT
		// KILL): the server must still answer a new one.
		err = h.dialControl()
		if err == nil {
			err = h.probe()
		}
		if err != nil {
			h.stuck = fmt.Errorf("server stuck after %q: %w", cmds, err)
			t.Fatal(h.stuck)
		}
	}
}

// encodeCommand is args as a RESP multibulk request.
func encodeCommand(args [][]byte) []byte {
	b := redcon.AppendArray(nil, len(args))
	for _, a := range args {
		b = redcon.AppendBulk(b, a)
	}
	return b
}

var errMalformedReply = errors.New("malformed reply")

// readReply reads one RESP2 or RESP3 reply (with the attributes and
// pushes before it) and checks its framing.
func readReply(rd *bufio.Reader) error {
	for {
		kind, err := readValue(rd)
		if err != nil || kind != '>' && kind != '|' {
			return err
		}
	}
}

// readValue reads one RESP value and returns its type byte.
func readValue(rd *bufio.Reader) (byte, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return 0, fmt.Errorf("%w: line %q", errMalformedReply, line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+', '-', '_', ',', '#', '(':
		if strings.ContainsAny(body, "\r\n") {
			return 0, fmt.Errorf("%w: line %q", errMalformedReply, line)
		}
		return kind, nil
	case ':':
		if _, err := strconv.ParseInt(body, 10, 64); err != nil {
			return 0, fmt.Errorf("%w: integer %q", errMalformedReply, line)
		}
		return kind, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n == -1 && kind != '$' {
			return 0, fmt.Errorf("%w: length %q", errMalformedReply, line)
		}
		if n == -1 {
			return kind, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return 0, err
		}
		if string(buf[n:]) != "\r\n" {
			return 0, fmt.Errorf("%w: bulk of %d bytes not followed by CRLF", errMalformedReply, n)
		}
		return kind, nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n == -1 && kind != '*' {
			return 0, fmt.Errorf("%w: count %q", errMalformedReply, line)
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		for range n {
			if err := readReply(rd); err != nil {
				return 0, err
			}
		}
		return kind, nil
	}
	return 0, fmt.Errorf("%w: type %q", errMalformedReply, line)
}

// panicRecorder is a log handler that keeps the "command panicked" records
// and drops the rest.
type panicRecorder struct{ h *fuzzServer }

func (r *panicRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *panicRecorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != panicMessage {
		return nil
	}
	var b strings.Builder
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
		return true
	})
	r.h.mu.Lock()
	r.h.panics = append(r.h.panics, b.String())
	r.h.mu.Unlock()
	return nil
}

func (r *panicRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *panicRecorder) WithGroup(string) slog.Handler      { return r }
