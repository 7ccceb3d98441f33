package commands

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/internal/respclient"
	"nexo/resp"
	"nexo/wal"
)

// Settings of the transaction tests' server.
const (
	// txLoops: several event loops, so that transactions on different
	// loops, and on connections off the loops, race.
	txLoops = 3
	// txMaxClients leaves room for every test connection.
	txMaxClients = 64
	// txReplyTimeout bounds every reply.
	txReplyTimeout = 10 * time.Second
	// txShutdownWait bounds the server's shutdown.
	txShutdownWait = 10 * time.Second
	// txQueryBuffer is the client-query-buffer-limit, which also bounds
	// what MULTI queues: small, so that a test reaches it.
	txQueryBuffer = 64 << 10
	// txTTL is the TTL of a watched key that expires before EXEC, and
	// txTTLMargin what the test waits beyond it.
	txTTL       = 50 * time.Millisecond
	txTTLMargin = 20 * time.Millisecond
	// txWorkers connections run txRounds transactions each in the races.
	txWorkers = 8
	txRounds  = 200
)

// startTxServer starts a server with a store and a queue broker, stopped
// when t ends, and returns its address.
func startTxServer(t *testing.T) string {
	t.Helper()
	st, err := store.New(store.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	qb, err := queue.Open(queue.Config{Dir: filepath.Join(t.TempDir(), "queue"), WAL: wal.Options{Fsync: wal.FsyncNo, Logger: log}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qb.Close() })
	srv, err := NewServer(Config{
		Addr:       "127.0.0.1:0",
		Loops:      txLoops,
		MaxClients: txMaxClients,
		Limits:     resp.Limits{MaxBulkLen: txQueryBuffer, MaxMultibulkLen: txQueryBuffer, MaxQueryBuffer: txQueryBuffer},
		Logger:     log,
		Store:      st,
		Queue:      qb,
	})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), txShutdownWait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return srv.Addr().String()
}

func dialTx(t *testing.T, addr string) *respclient.Client {
	t.Helper()
	c, err := respclient.Dial(addr, txReplyTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadDeadline(time.Now().Add(txReplyTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

// twoClients starts a server and connects two clients to it.
func twoClients(t *testing.T) (*respclient.Client, *respclient.Client) {
	t.Helper()
	addr := startTxServer(t)
	return dialTx(t, addr), dialTx(t, addr)
}

// expect runs a command and compares its reply (an error reply as a
// respclient.Error) with want.
func expect(t *testing.T, c *respclient.Client, want any, args ...string) {
	t.Helper()
	got, err := c.DoValue(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v answered %#v, want %#v", args, got, want)
	}
}

// cmd is one command's arguments, for runTransaction.
func cmd(args ...string) []string { return args }

// runTransaction runs MULTI, the commands, each answered QUEUED, and EXEC,
// whose reply it compares with want.
func runTransaction(t *testing.T, c *respclient.Client, want any, cmds ...[]string) {
	t.Helper()
	expect(t, c, "OK", "MULTI")
	for _, args := range cmds {
		expect(t, c, "QUEUED", args...)
	}
	expect(t, c, want, "EXEC")
}

// offLoop moves c to a goroutine of its own: a blocking take that finds
// nothing leaves the event loop, and the connection stays off it.
func offLoop(t *testing.T, c *respclient.Client) {
	t.Helper()
	expect(t, c, nil, "QPOP", "tx:nothing", "BLOCK", "1")
}

type errReply = respclient.Error

func TestTransactions(t *testing.T) {
	t.Run("EXEC runs the queued commands in order and answers their replies", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		expect(t, c, "OK", "SET", "k", "1")
		runTransaction(t, c, []any{int64(2), "2", int64(1), []any{"1"}}, cmd("INCR", "k"), cmd("GET", "k"), cmd("HSET", "h", "f", "v"), cmd("QPUSH", "tx:q", "job"))
		expect(t, c, "2", "GET", "k")
		expect(t, c, []any{"ready", int64(1), "delayed", int64(0), "inflight", int64(0), "dead", int64(0)}, "QLEN", "tx:q")
	})

	t.Run("DISCARD drops the queued commands", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		expect(t, c, "OK", "MULTI")
		expect(t, c, "QUEUED", "SET", "k", "v")
		expect(t, c, "OK", "DISCARD")
		expect(t, c, nil, "GET", "k")
		expect(t, c, errReply(errExecNoMulti), "EXEC")
	})

	t.Run("WATCH lets EXEC run when no command changed the watched keys", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "SET", "k", "1")
		expect(t, c, "OK", "WATCH", "k", "absent")
		expect(t, other, "OK", "SET", "unwatched", "x")
		expect(t, other, "1", "GET", "k")
		runTransaction(t, c, []any{"OK"}, cmd("SET", "k", "2"))
	})

	t.Run("WATCH makes EXEC abort, with a null reply, when another connection changed a watched key", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "WATCH", "k")
		expect(t, other, "OK", "SET", "k", "theirs")
		runTransaction(t, c, nil, cmd("SET", "k", "mine"))
		expect(t, c, "theirs", "GET", "k")
		// EXEC ended the watch: the next transaction runs.
		runTransaction(t, c, []any{"OK"}, cmd("SET", "k", "mine"))
	})

	t.Run("UNWATCH forgets the watched keys", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "WATCH", "k")
		expect(t, c, "OK", "UNWATCH")
		expect(t, other, int64(1), "INCR", "k")
		runTransaction(t, c, []any{int64(2)}, cmd("INCR", "k"))
	})

	t.Run("EXEC answers the transaction in RESP3, and a null for an abort", func(t *testing.T) {
		c, other := twoClients(t)
		if _, err := c.Do("HELLO", "3"); err != nil {
			t.Fatal(err)
		}
		runTransaction(t, c, []any{"OK"}, cmd("SET", "k", "v"))
		expect(t, c, "OK", "WATCH", "k")
		expect(t, other, int64(1), "DEL", "k")
		runTransaction(t, c, nil, cmd("GET", "k"))
	})

	t.Run("edge: a refused command dooms the transaction: EXEC answers EXECABORT and runs nothing", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		for _, refused := range []struct {
			args []string
			err  string
		}{
			{[]string{"NOPE", "x"}, "ERR unknown command 'NOPE', with args beginning with: 'x' "},
			{[]string{"GET"}, "ERR wrong number of arguments for 'get' command"},
			{[]string{"SUBSCRIBE", "ch"}, errNotInMulti},
			{[]string{"MONITOR"}, errNotInMulti},
		} {
			expect(t, c, "OK", "MULTI")
			expect(t, c, "QUEUED", "INCR", "k")
			expect(t, c, errReply(refused.err), refused.args...)
			expect(t, c, errReply(errExecAbort), "EXEC")
			expect(t, c, nil, "GET", "k")
		}
	})

	t.Run("edge: a command that fails when EXEC runs it does not stop the others", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		expect(t, c, "OK", "SET", "s", "text")
		runTransaction(t, c, []any{errReply(errNotInteger), "OK"}, cmd("INCR", "s"), cmd("SET", "k", "v"))
		expect(t, c, "v", "GET", "k")
	})

	t.Run("edge: misplaced transaction commands answer Redis's errors and leave the transaction usable", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		expect(t, c, errReply(errExecNoMulti), "EXEC")
		expect(t, c, errReply(errDiscardNoMulti), "DISCARD")
		expect(t, c, "OK", "MULTI")
		expect(t, c, errReply(errNestedMulti), "MULTI")
		expect(t, c, errReply(errWatchInMulti), "WATCH", "k")
		expect(t, c, "QUEUED", "SET", "k", "v")
		expect(t, c, []any{"OK"}, "EXEC")
	})

	t.Run("edge: a blocking command in a transaction answers at once, as for its timeout", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		runTransaction(t, c, []any{nil, "OK"}, cmd("QPOP", "tx:empty", "BLOCK", "0"), cmd("SET", "k", "v"))
	})

	t.Run("edge: a watched key that expires before EXEC aborts it", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		expect(t, c, "OK", "SET", "k", "v", "PX", strconv.FormatInt(txTTL.Milliseconds(), 10))
		expect(t, c, "OK", "WATCH", "k")
		time.Sleep(txTTL + txTTLMargin)
		runTransaction(t, c, nil, cmd("SET", "k", "again"))
	})

	t.Run("edge: a write that fails, or changes another key, leaves the watch intact", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "SET", "k", "text")
		expect(t, c, "OK", "WATCH", "k")
		expect(t, other, errReply(errNotInteger), "INCR", "k")
		expect(t, other, int64(1), "HSET", "h", "k", "v")
		runTransaction(t, c, []any{"text"}, cmd("GET", "k"))
	})

	t.Run("edge: a connection's own write to a key it watches aborts its EXEC", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		expect(t, c, "OK", "WATCH", "k")
		expect(t, c, "OK", "SET", "k", "v")
		runTransaction(t, c, nil, cmd("GET", "k"))
	})

	t.Run("edge: RESET ends the transaction and the watches", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "WATCH", "k")
		expect(t, c, "OK", "MULTI")
		expect(t, c, "QUEUED", "SET", "k", "v")
		expect(t, c, "RESET", "RESET")
		expect(t, c, nil, "GET", "k")
		expect(t, other, "OK", "SET", "k", "theirs")
		runTransaction(t, c, []any{"theirs"}, cmd("GET", "k"))
	})

	t.Run("edge: CLIENT LIST shows the queued commands and the watched keys", func(t *testing.T) {
		c, other := twoClients(t)
		line := func() string {
			t.Helper()
			id, err := c.Do("CLIENT", "ID")
			if err != nil {
				t.Fatal(err)
			}
			v, err := other.Do("CLIENT", "LIST", "ID", strconv.FormatInt(id.(int64), 10))
			if err != nil {
				t.Fatal(err)
			}
			return v.(string)
		}
		if got := line(); !strings.Contains(got, " flags=N ") || !strings.Contains(got, " multi=-1 watch=0 ") {
			t.Fatalf("CLIENT LIST outside a transaction: %s", got)
		}
		expect(t, c, "OK", "WATCH", "a", "b")
		expect(t, c, "OK", "MULTI")
		expect(t, c, "QUEUED", "GET", "a")
		v, err := other.Do("CLIENT", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		if got := v.(string); !strings.Contains(got, " flags=x ") || !strings.Contains(got, " multi=1 watch=2 ") {
			t.Fatalf("CLIENT LIST of a connection in MULTI: %s", got)
		}
	})

	t.Run("edge: the queued commands are bounded by client-query-buffer-limit", func(t *testing.T) {
		c := dialTx(t, startTxServer(t))
		half := strings.Repeat("x", txQueryBuffer/2)
		expect(t, c, "OK", "MULTI")
		expect(t, c, "QUEUED", "SET", "a", half)
		expect(t, c, errReply(errMultiTooLarge), "SET", "b", half)
		expect(t, c, errReply(errExecAbort), "EXEC")
		expect(t, c, nil, "GET", "a")
	})

	t.Run("race: no command of another connection runs between a transaction's commands", func(t *testing.T) {
		addr := startTxServer(t)
		checker := dialTx(t, addr)
		offLoop(t, checker)
		done := make(chan struct{})
		checked := make(chan error, 1)
		go func() {
			for {
				select {
				case <-done:
					checked <- nil
					return
				default:
				}
				v, err := checker.Do("MGET", "a", "b")
				if err != nil {
					checked <- err
					return
				}
				if r := v.([]any); r[0] != r[1] {
					checked <- fmt.Errorf("MGET a b answered %v between transactions", r)
					return
				}
			}
		}()
		err := onWorkers(t, addr, func(c *respclient.Client) error {
			for range txRounds {
				c.Send("MULTI")
				c.Send("INCR", "a")
				c.Send("INCR", "b")
				c.Send("EXEC")
				if err := c.Drain(3); err != nil {
					return err
				}
				v, err := c.Read()
				if err != nil {
					return err
				}
				if r := v.([]any); r[0] != r[1] {
					return fmt.Errorf("EXEC of INCR a, INCR b answered %v: another command ran between them", r)
				}
			}
			return nil
		})
		close(done)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-checked; err != nil {
			t.Fatal(err)
		}
		total := strconv.Itoa(txWorkers * txRounds)
		expect(t, checker, []any{total, total}, "MGET", "a", "b")
	})

	t.Run("race: WATCH makes concurrent read-modify-write transactions lose no update", func(t *testing.T) {
		addr := startTxServer(t)
		err := onWorkers(t, addr, func(c *respclient.Client) error {
			return casIncrements(c, "counter", txRounds/txWorkers)
		})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, dialTx(t, addr), strconv.Itoa(txWorkers*(txRounds/txWorkers)), "GET", "counter")
	})
}

// onWorkers runs fn on txWorkers connections at once, every other one off
// the event loops, and returns the first error.
func onWorkers(t *testing.T, addr string, fn func(c *respclient.Client) error) error {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, txWorkers)
	for w := range txWorkers {
		c := dialTx(t, addr)
		if w%2 == 1 {
			offLoop(t, c)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fn(c)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// casIncrements adds n to key with WATCH, GET, MULTI, SET, EXEC, retrying
// each increment until its EXEC runs.
func casIncrements(c *respclient.Client, key string, n int) error {
	for done := 0; done < n; {
		if _, err := c.Do("WATCH", key); err != nil {
			return err
		}
		v, err := c.Do("GET", key)
		if err != nil {
			return err
		}
		cur := 0
		if v != nil {
			if cur, err = strconv.Atoi(v.(string)); err != nil {
				return err
			}
		}
		c.Send("MULTI")
		c.Send("SET", key, strconv.Itoa(cur+1))
		if err := c.Drain(2); err != nil {
			return err
		}
		r, err := c.Do("EXEC")
		switch {
		case err != nil:
			return err
		case r != nil:
			done++
		}
	}
	return nil
}
