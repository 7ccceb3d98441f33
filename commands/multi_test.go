package commands

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"nexo/internal/respclient"
)

// Settings of the transaction tests.
const (
	// txTTL is the TTL of a watched key that expires before EXEC, and
	// txTTLMargin what the test waits beyond it.
	txTTL       = 50 * time.Millisecond
	txTTLMargin = 20 * time.Millisecond
	// txRounds is how many transactions each worker runs in the races.
	txRounds = 200
)

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

type errReply = respclient.Error

func TestTransactions(t *testing.T) {
	t.Run("EXEC runs the queued commands in order and answers their replies", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, "OK", "SET", "k", "1")
		runTransaction(t, c, []any{int64(2), "2", int64(1), []any{"1"}}, cmd("INCR", "k"), cmd("GET", "k"), cmd("HSET", "h", "f", "v"), cmd("QPUSH", "tx:q", "job"))
		expect(t, c, "2", "GET", "k")
		expect(t, c, []any{"ready", int64(1), "delayed", int64(0), "inflight", int64(0), "dead", int64(0), "completed", int64(0)}, "QLEN", "tx:q")
	})

	t.Run("DISCARD drops the queued commands", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
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
		c := dialTest(t, startTestServer(t))
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
		c := dialTest(t, startTestServer(t))
		expect(t, c, "OK", "SET", "s", "text")
		runTransaction(t, c, []any{errReply(errNotInteger), "OK"}, cmd("INCR", "s"), cmd("SET", "k", "v"))
		expect(t, c, "v", "GET", "k")
	})

	t.Run("edge: misplaced transaction commands answer Redis's errors and leave the transaction usable", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, errReply(errExecNoMulti), "EXEC")
		expect(t, c, errReply(errDiscardNoMulti), "DISCARD")
		expect(t, c, "OK", "MULTI")
		expect(t, c, errReply(errNestedMulti), "MULTI")
		expect(t, c, errReply(errWatchInMulti), "WATCH", "k")
		expect(t, c, "QUEUED", "SET", "k", "v")
		expect(t, c, []any{"OK"}, "EXEC")
	})

	t.Run("edge: a blocking command in a transaction answers at once, as for its timeout", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		runTransaction(t, c, []any{nil, "OK"}, cmd("QPOP", "tx:empty", "BLOCK", "0"), cmd("SET", "k", "v"))
	})

	t.Run("edge: a blocking XFETCH from LATEST in a transaction still checks its stream and partition", func(t *testing.T) {
		c := dialTest(t, startTestServer(t, withStreams(t)))
		expect(t, c, "OK", "XCREATE", "s", "PARTITIONS", "1")
		runTransaction(t, c, []any{[]any{}, errReply("NOSTREAM no such stream"), errReply("ERR partition out of range")},
			cmd("XFETCH", "s", "PARTITION", "0", "FROM", "LATEST", "BLOCK", "0"),
			cmd("XFETCH", "nostream", "PARTITION", "0", "FROM", "LATEST", "BLOCK", "0"),
			cmd("XFETCH", "s", "PARTITION", "7", "FROM", "LATEST", "BLOCK", "0"))
	})

	t.Run("edge: a watched key that expires before EXEC aborts it", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
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

	t.Run("edge: a write that changes nothing leaves the watch intact, as in Redis", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "SET", "k", "v")
		expect(t, c, "OK", "WATCH", "k", "absent")
		expect(t, other, int64(0), "SETNX", "k", "other")
		expect(t, other, nil, "SET", "k", "other", "NX")
		expect(t, other, int64(0), "DEL", "absent")
		expect(t, other, int64(0), "PERSIST", "k")
		expect(t, other, int64(0), "EXPIRE", "absent", "10")
		expect(t, other, int64(0), "SETBIT", "k", "0", "0")
		runTransaction(t, c, []any{"v"}, cmd("GET", "k"))
	})

	t.Run("edge: a connection's own write to a key it watches aborts its EXEC", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
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
		c := dialTest(t, startTestServer(t))
		half := strings.Repeat("x", testQueryBuffer/2)
		expect(t, c, "OK", "MULTI")
		expect(t, c, "QUEUED", "SET", "a", half)
		expect(t, c, errReply(errMultiTooLarge), "SET", "b", half)
		expect(t, c, errReply(errExecAbort), "EXEC")
		expect(t, c, nil, "GET", "a")
	})

	t.Run("edge: a connection blocked in a command does not hold EXEC up", func(t *testing.T) {
		c, blocked := twoClients(t)
		blocked.Send("QPOP", "tx:wait", "BLOCK", "0")
		if err := blocked.Flush(); err != nil {
			t.Fatal(err)
		}
		// EXEC would wait for the blocked QPOP forever if it held its gate.
		runTransaction(t, c, []any{[]any{"1"}}, cmd("QPUSH", "tx:wait", "job"))
		v, err := blocked.Read()
		if err != nil {
			t.Fatal(err)
		}
		if job := v.([]any); len(job) < 6 || job[4] != "payload" || job[5] != "job" {
			t.Fatalf("the blocked QPOP got %v", v)
		}
	})

	t.Run("edge: the watches of a connection that closes are dropped", func(t *testing.T) {
		srv := newTestServer(t)
		addr := srv.Addr().String()
		for range testWorkers {
			c := dialTest(t, addr)
			expect(t, c, "OK", "WATCH", "a", "b")
			c.Close()
		}
		// The server sees a close when its loop next reads the connection,
		// on its own time: wait for that, bounded.
		deadline := time.Now().Add(testReplyTimeout)
		for srv.watches.n.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%d watches left after their connections closed", srv.watches.n.Load())
			}
			time.Sleep(time.Millisecond)
		}
		srv.watches.mu.Lock()
		defer srv.watches.mu.Unlock()
		if len(srv.watches.keys) != 0 {
			t.Fatalf("watched keys left: %v", srv.watches.keys)
		}
	})

	t.Run("race: no command of another connection runs between a transaction's commands", func(t *testing.T) {
		addr := startTestServer(t)
		checker := dialTest(t, addr)
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
		total := strconv.Itoa(testWorkers * txRounds)
		expect(t, checker, []any{total, total}, "MGET", "a", "b")
	})

	t.Run("race: WATCH makes concurrent read-modify-write transactions lose no update", func(t *testing.T) {
		addr := startTestServer(t)
		err := onWorkers(t, addr, func(c *respclient.Client) error {
			return casIncrements(c, "counter", txRounds/testWorkers)
		})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, dialTest(t, addr), strconv.Itoa(testWorkers*(txRounds/testWorkers)), "GET", "counter")
	})
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
