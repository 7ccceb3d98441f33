package e2e

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The event loops: a connection that has to wait leaves its loop for a
// goroutine of its own, and the loop's other connections never wait for it.
// The servers run one thread, so that every connection shares one loop.

const (
	// loopBigValue is the value a reader that never reads asks for, and
	// loopBigGets how many times: far more than loopback socket buffers hold.
	loopBigValue = 1 << 20
	loopBigGets  = 64
	// loopClients and loopIncrs: connections, spread over two loops, that
	// each pipeline loopIncrs INCRs of one key.
	loopClients = 8
	loopIncrs   = 1000
	// loopBlockMs is the BLOCK of a QPOP that times out mid-pipeline.
	loopBlockMs = "10"
	// loopWideSets SETs of loopWideValue bytes make a pipeline many times
	// the 16 KiB a loop reads at once, and more than one loop iteration
	// reads of one connection.
	loopWideSets  = 400
	loopWideValue = 1 << 10
	// loopDurableWrites QPUSHes, each sent in a write of its own without
	// waiting for the replies before it, reach a loop while earlier
	// replies wait for the disk.
	loopDurableWrites = 50
	// loopDurableRounds writes of loopDurablePipeline QPUSHes per client,
	// from loopClients clients at once.
	loopDurableRounds   = 10
	loopDurablePipeline = 16
	// loopStopAfter answered QPUSHes of the first client, the server is
	// stopped under the load.
	loopStopAfter = 200
	// loopReturnWorkers take loopReturnJobs jobs, pushed one at a time, so
	// that their blocking takes wait, leave the loop and come back over
	// and over.
	loopReturnWorkers = 8
	loopReturnJobs    = 400
	// loopReturnBlockMs is the BLOCK of those takes: long enough to
	// outlast the pushes, so that a worker gets no empty reply before the
	// last job.
	loopReturnBlockMs = "10000"
	// loopReturnStop is the payload that tells a worker to stop: one per
	// worker follows the jobs.
	loopReturnStop = "stop"
)

// TestLoopSlowReader: a peer that leaves megabytes of replies unread holds
// up nobody, and gets every reply, in order, once it reads.
func TestLoopSlowReader(t *testing.T) {
	srv := startServer(t, "--threads", "1")
	slow, watcher, other := dialRaw(t, srv.port), dialRaw(t, srv.port), dialRaw(t, srv.port)
	slow.send(command("SET", "big", strings.Repeat("v", loopBigValue)))
	slow.expect("+OK")
	watcher.send(command("SUBSCRIBE", "loop:done"))
	if _, err := watcher.reply(); err != nil {
		t.Fatalf("subscribe: %v", err)
	}

	var pipeline strings.Builder
	for range loopBigGets {
		pipeline.WriteString(command("GET", "big"))
	}
	pipeline.WriteString(command("PUBLISH", "loop:done", "1"))
	slow.send(pipeline.String())
	// The message means the whole pipeline ran; its replies cannot all
	// fit in the socket buffers of a peer that reads nothing.
	for _, want := range []string{"*3", "$7", "message", "$9", "loop:done", "$1", "1"} {
		watcher.expect(want)
	}
	other.ping()
	other.send(command("GET", "big"))
	if got, err := other.reply(); err != nil || got != "$"+strconv.Itoa(loopBigValue) {
		t.Fatalf("GET while the slow reader reads nothing: %q, %v", got, err)
	}

	for i := range loopBigGets {
		if got, err := slow.reply(); err != nil || got != "$"+strconv.Itoa(loopBigValue) {
			t.Fatalf("reply %d of the slow reader: %q, %v", i, got, err)
		}
	}
	slow.expect(":1")
	slow.ping()
}

// TestLoopPipelineThatWaits: the commands of one pipeline are answered in
// order when some of them have to wait (a blocking command, a
// subscription) and the connection leaves its loop in the middle of it.
func TestLoopPipelineThatWaits(t *testing.T) {
	srv := startServer(t, "--threads", "1")

	t.Run("blocking command", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(command("SET", "loop:k", "v") + command("QPOP", "loop:empty", "COUNT", "1", "BLOCK", loopBlockMs) +
			command("GET", "loop:k") + command("INCR", "loop:n"))
		c.expect("+OK")
		c.expect("*-1")
		c.expect("$1")
		c.expect("v")
		c.expect(":1")
		c.ping()
	})

	t.Run("subscription", func(t *testing.T) {
		c, pub := dialRaw(t, srv.port), dialRaw(t, srv.port)
		c.send(command("SET", "loop:s", "v") + command("SUBSCRIBE", "loop:ch") + command("PING"))
		for _, want := range []string{"+OK", "*3", "$9", "subscribe", "$7", "loop:ch", ":1", "*2", "$4", "pong", "$0", ""} {
			c.expect(want)
		}
		pub.send(command("PUBLISH", "loop:ch", "hello"))
		pub.expect(":1")
		for _, want := range []string{"*3", "$7", "message", "$7", "loop:ch", "$5", "hello"} {
			c.expect(want)
		}
	})

	t.Run("framing error behind good commands", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(command("SET", "loop:f", "v") + command("GET", "loop:f") + "*1\r\n$x\r\n")
		c.expect("+OK")
		c.expect("$1")
		c.expect("v")
		c.expect(errInvalidBulk)
		c.expectClosed()
	})
}

// TestLoopWidePipeline: a pipeline larger than what a loop reads at once
// is run over several reads and iterations and answered whole and in
// order, including when it ends in a framing error or the peer's close.
func TestLoopWidePipeline(t *testing.T) {
	srv := startServer(t, "--threads", "1")
	value := strings.Repeat("w", loopWideValue)
	var sets strings.Builder
	for i := range loopWideSets {
		sets.WriteString(command("SET", "loop:w"+strconv.Itoa(i), value))
	}

	t.Run("answered in order", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(sets.String() + command("DBSIZE"))
		for range loopWideSets {
			c.expect("+OK")
		}
		c.expect(":" + strconv.Itoa(loopWideSets))
	})

	t.Run("ending in a framing error", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(sets.String() + "*1\r\n$x\r\n")
		for range loopWideSets {
			c.expect("+OK")
		}
		c.expect(errInvalidBulk)
		c.expectClosed()
	})

	t.Run("the peer closing its side after sending it", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(sets.String() + command("INCR", "loop:wide"))
		if err := c.conn.CloseWrite(); err != nil {
			t.Fatalf("close write: %v", err)
		}
		for range loopWideSets {
			c.expect("+OK")
		}
		c.expect(":1")
		c.expectClosed()
	})
}

// TestLoopConcurrentClients: connections spread over two loops change one
// key; every change is applied once.
func TestLoopConcurrentClients(t *testing.T) {
	srv := startServer(t, "--threads", "2")
	var pipeline strings.Builder
	for range loopIncrs {
		pipeline.WriteString(command("INCR", "loop:counter"))
	}
	var wg sync.WaitGroup
	errs := make(chan string, loopClients)
	for range loopClients {
		c := dialRaw(t, srv.port)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.write([]byte(pipeline.String())); err != nil {
				errs <- err.Error()
				return
			}
			for range loopIncrs {
				if got, err := c.line(); err != nil || got[0] != ':' {
					errs <- got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("INCR failed: %s", e)
	}
	c := dialRaw(t, srv.port)
	c.send(command("GET", "loop:counter"))
	c.expect("$" + strconv.Itoa(len(strconv.Itoa(loopClients*loopIncrs))))
	c.expect(strconv.Itoa(loopClients * loopIncrs))
}

// TestLoopClientKill: CLIENT KILL ends a connection an event loop serves.
func TestLoopClientKill(t *testing.T) {
	srv := startServer(t, "--threads", "1")
	victim, killer := dialRaw(t, srv.port), dialRaw(t, srv.port)
	victim.send(command("CLIENT", "ID"))
	id, err := victim.line()
	if err != nil || id == "" || id[0] != ':' {
		t.Fatalf("CLIENT ID: %q, %v", id, err)
	}
	killer.send(command("CLIENT", "KILL", "ID", id[1:]))
	killer.expect(":1")
	victim.expectClosed()
	killer.ping()
}

// TestLoopReturn: a connection runs a blocking take on its loop when the
// take need not wait, and returns to the loop once a wait (or a stream
// read) is over; a subscriber stays off it. INFO's loop_clients counts the connections
// the loops serve.
func TestLoopReturn(t *testing.T) {
	t.Run("a blocking take that finds a job runs on the loop", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		c := dialRaw(t, srv.port)
		c.send(command("QPUSH", "loop:r1", "a") + command("QPOP", "loop:r1", "BLOCK", "0"))
		c.reply()
		c.expectJob()
		c.expectAllOnLoop()
	})

	t.Run("a connection whose take waited returns to its loop", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		timedOut, woken, pusher := dialRaw(t, srv.port), dialRaw(t, srv.port), dialRaw(t, srv.port)
		timedOut.send(command("QPOP", "loop:r2", "BLOCK", loopBlockMs))
		timedOut.expect("$-1")
		timedOut.expectAllOnLoop()

		woken.send(command("QPOP", "loop:r3", "BLOCK", "0"))
		waitInfo(t, srv.port, "blocked_clients", "1")
		pusher.send(command("QPUSH", "loop:r3", "b"))
		pusher.reply()
		woken.expectJob()
		woken.expectAllOnLoop()
	})

	t.Run("stream reads run off the loop and return to it", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		c := dialRaw(t, srv.port)
		c.send(command("XAPPEND", "loop:s", "m") + command("XGROUPCREATE", "loop:s", "g"))
		c.reply()
		c.expect("+OK")
		c.send(command("XFETCH", "loop:s", "PARTITION", "0", "FROM", "0", "BLOCK", "0"))
		c.expect("*1")
		c.reply()
		c.expectAllOnLoop()
		c.send(command("XFETCH", "loop:s", "PARTITION", "0", "FROM", "LATEST", "BLOCK", loopBlockMs))
		c.expect("*0")
		c.expectAllOnLoop()
		c.send(command("XCONSUME", "loop:s", "GROUP", "g", "MEMBER", "a", "BLOCK", "0"))
		c.expect("*1")
		c.reply()
		c.expectAllOnLoop()
		c.send(command("XCONSUME", "loop:s", "GROUP", "g", "MEMBER", "a", "BLOCK", loopBlockMs))
		c.expect("*0")
		c.expectAllOnLoop()
	})

	t.Run("a slow reader returns once it has read its replies", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		c := dialRaw(t, srv.port)
		c.send(command("SET", "loop:big", strings.Repeat("v", loopBigValue)))
		c.expect("+OK")
		var pipeline strings.Builder
		for range loopBigGets {
			pipeline.WriteString(command("GET", "loop:big"))
		}
		c.send(pipeline.String())
		for i := range loopBigGets {
			if got, err := c.reply(); err != nil || got != "$"+strconv.Itoa(loopBigValue) {
				t.Fatalf("reply %d: %q, %v", i, got, err)
			}
		}
		c.expectAllOnLoop()
	})

	t.Run("a subscriber stays on its goroutine", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		sub, other := dialRaw(t, srv.port), dialRaw(t, srv.port)
		sub.send(command("SUBSCRIBE", "loop:r4"))
		sub.reply()
		clients := other.info("clients")
		if on, all := infoInt(t, clients, "loop_clients"), infoInt(t, clients, "connected_clients"); on != all-1 {
			t.Fatalf("loop_clients %d of %d connected, want all but the subscriber\n%s", on, all, clients)
		}
	})

	t.Run("edge: a worker that returned and closes gives its job back at once", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		worker, pusher, next := dialRaw(t, srv.port), dialRaw(t, srv.port), dialRaw(t, srv.port)
		worker.send(command("QPOP", "loop:r5", "BLOCK", "0"))
		waitInfo(t, srv.port, "blocked_clients", "1")
		pusher.send(command("QPUSH", "loop:r5", "c"))
		pusher.reply()
		worker.expectJob()
		worker.expectAllOnLoop()
		worker.conn.Close()
		next.send(command("QPOP", "loop:r5", "BLOCK", loopReturnBlockMs))
		next.expectJob()
	})

	t.Run("edge: CLIENT KILL ends a connection that returned", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		victim, killer := dialRaw(t, srv.port), dialRaw(t, srv.port)
		victim.send(command("QPOP", "loop:r6", "BLOCK", loopBlockMs) + command("CLIENT", "ID"))
		victim.expect("$-1")
		id, err := victim.line()
		if err != nil || id == "" || id[0] != ':' {
			t.Fatalf("CLIENT ID: %q, %v", id, err)
		}
		victim.expectAllOnLoop()
		killer.send(command("CLIENT", "KILL", "ID", id[1:]))
		killer.expect(":1")
		victim.expectClosed()
	})

	t.Run("race: workers that wait and return over and over get every job once", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		var wg sync.WaitGroup
		got := make(chan string, loopReturnJobs)
		for range loopReturnWorkers {
			c := dialDurable(t, srv.port)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					v, err := c.DoValue("QPOP", "loop:r7", "BLOCK", loopReturnBlockMs)
					job := fields(v)
					switch {
					case err != nil || job["payload"] == nil:
						t.Errorf("QPOP: %v, %v", v, err)
						return
					case job["payload"] == loopReturnStop:
						// Its own next command is read by the loop only
						// once the connection has returned to it.
						if _, err := c.DoValue("PING"); err != nil {
							t.Errorf("PING: %v", err)
						}
						return
					}
					if _, err := c.DoValue("QACK", "loop:r7", fmt.Sprint(job["id"])); err != nil {
						t.Errorf("QACK: %v", err)
						return
					}
					got <- fmt.Sprint(job["payload"])
				}
			}()
		}
		pusher := dialDurable(t, srv.port)
		push := func(payload string) {
			if _, err := pusher.DoValue("QPUSH", "loop:r7", payload); err != nil {
				t.Fatal(err)
			}
		}
		for i := range loopReturnJobs {
			push("j" + strconv.Itoa(i))
		}
		seen := map[string]bool{}
		for range loopReturnJobs {
			p := <-got
			if seen[p] {
				t.Fatalf("job %s delivered twice", p)
			}
			seen[p] = true
		}
		for range loopReturnWorkers {
			push(loopReturnStop)
		}
		wg.Wait()
		dialRaw(t, srv.port).expectAllOnLoop()
	})

	t.Run("restart: a stop with one connection waiting and one returned answers the first and exits", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		waiting, returned := dialRaw(t, srv.port), dialRaw(t, srv.port)
		returned.send(command("QPOP", "loop:r8", "BLOCK", loopBlockMs))
		returned.expect("$-1")
		returned.expectAllOnLoop()
		waiting.send(command("QPOP", "loop:r8", "BLOCK", "0"))
		waitInfo(t, srv.port, "blocked_clients", "1")
		if err := srv.stop(); err != nil {
			t.Fatalf("%v\n%s", err, srv.logs())
		}
		waiting.expect("$-1")
		waiting.expectClosed()
		returned.expectClosed()
	})
}

// expectJob reads the reply of a QPOP without COUNT and checks that it
// is a job.
func (c *rawClient) expectJob() {
	c.t.Helper()
	if got, err := c.reply(); err != nil || !strings.HasPrefix(got, "*") || got == "*-1" {
		c.t.Fatalf("QPOP: %q, %v, want a job", got, err)
	}
}

// info runs INFO section on c and returns its text.
func (c *rawClient) info(section string) string {
	c.t.Helper()
	c.send(command("INFO", section))
	header, err := c.line()
	n, convErr := strconv.Atoi(strings.TrimPrefix(header, "$"))
	if err != nil || convErr != nil || !strings.HasPrefix(header, "$") {
		c.t.Fatalf("INFO %s: %q, %v", section, header, err)
	}
	body := make([]byte, n+len("\r\n"))
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("INFO %s: %v", section, err)
	}
	return string(body[:n])
}

// expectAllOnLoop checks, with INFO sent on c itself, that the event loop
// serves every connection of the server: c's INFO is read by the loop
// only once c has returned to it.
func (c *rawClient) expectAllOnLoop() {
	c.t.Helper()
	clients := c.info("clients")
	if on, all := infoInt(c.t, clients, "loop_clients"), infoInt(c.t, clients, "connected_clients"); on != all {
		c.t.Fatalf("loop_clients %d of %d connected, want all\n%s", on, all, clients)
	}
}

// infoInt returns the integer field of INFO text.
func infoInt(t *testing.T, text, field string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(field) + `:(\d+)\r?$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("INFO has no %s:\n%s", field, text)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestLoopDurableReplies: under fsync always, replies that acknowledge
// records wait for the disk while the loops serve other connections; each
// is sent once its record is durable, in order, to clients that keep
// sending and to clients on both loops, and a graceful stop answers them
// before it exits.
func TestLoopDurableReplies(t *testing.T) {
	t.Run("a client that sends more before its replies came gets them all, in order", func(t *testing.T) {
		srv := startServer(t, "--threads", "2", "--fsync", "always")
		c := dialDurable(t, srv.port)
		for i := range loopDurableWrites {
			c.Send("QPUSH", "loop:d", "p"+strconv.Itoa(i))
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		ids := map[string]bool{}
		for i := range loopDurableWrites {
			v, err := c.ReadValue()
			arr, _ := v.([]any)
			if err != nil || len(arr) != 1 || ids[fmt.Sprint(arr[0])] {
				t.Fatalf("reply %d: %v, %v", i, v, err)
			}
			ids[fmt.Sprint(arr[0])] = true
		}
		v, err := c.DoValue("QPEEK", "loop:d", "COUNT", strconv.Itoa(loopDurableWrites))
		jobs, _ := v.([]any)
		if err != nil || len(jobs) != loopDurableWrites {
			t.Fatalf("QPEEK: %v, %v", v, err)
		}
		for i, j := range jobs {
			if p := fields(j)["payload"]; p != "p"+strconv.Itoa(i) {
				t.Fatalf("job %d has payload %v", i, p)
			}
		}
	})

	t.Run("clients on both loops pushing at once each get every reply", func(t *testing.T) {
		srv := startServer(t, "--threads", "2", "--fsync", "always")
		var wg sync.WaitGroup
		errs := make(chan error, loopClients)
		for client := range loopClients {
			c := dialDurable(t, srv.port)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range loopDurableRounds {
					for i := range loopDurablePipeline {
						c.Send("QPUSH", "loop:both", fmt.Sprintf("c%d-%d-%d", client, round, i))
					}
					if err := c.Flush(); err != nil {
						errs <- err
						return
					}
				}
				for i := range loopDurableRounds * loopDurablePipeline {
					if v, err := c.ReadValue(); err != nil || len(v.([]any)) != 1 {
						errs <- fmt.Errorf("client %d, reply %d: %v, %v", client, i, v, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		c := dialDurable(t, srv.port)
		v, err := c.DoValue("QLEN", "loop:both")
		if want := int64(loopClients * loopDurableRounds * loopDurablePipeline); err != nil || fields(v)["ready"] != want {
			t.Fatalf("QLEN = %v, %v; want %d ready", v, err, want)
		}
	})

	t.Run("edge: pushes ending in a framing error get their replies, then the error", func(t *testing.T) {
		srv := startServer(t, "--threads", "2", "--fsync", "always")
		c := dialRaw(t, srv.port)
		var pipeline strings.Builder
		for i := range loopDurablePipeline {
			pipeline.WriteString(command("QPUSH", "loop:f", "p"+strconv.Itoa(i)))
		}
		c.send(pipeline.String() + "*1\r\n$x\r\n")
		for i := range loopDurablePipeline {
			if got, err := c.reply(); err != nil || !strings.HasPrefix(got, "*1") {
				t.Fatalf("reply %d: %q, %v", i, got, err)
			}
		}
		c.expect(errInvalidBulk)
		c.expectClosed()
	})

	t.Run("restart: a stop under load answers the waiting replies, and every answered job is there", func(t *testing.T) {
		dir := t.TempDir()
		srv, err := launch(dir, "--threads", "2", "--fsync", "always")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if srv.running() {
				srv.kill()
			}
		})
		var mu sync.Mutex
		answered := map[string]bool{}
		first := make(chan struct{})
		var wg sync.WaitGroup
		for client := range loopClients {
			c := dialDurable(t, srv.port)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := 0; ; seq += loopDurablePipeline {
					for i := range loopDurablePipeline {
						c.Send("QPUSH", "loop:stop", fmt.Sprintf("c%d-%d", client, seq+i))
					}
					if c.Flush() != nil {
						return
					}
					for i := range loopDurablePipeline {
						v, err := c.ReadValue()
						if arr, ok := v.([]any); err != nil || !ok || len(arr) != 1 {
							return
						}
						mu.Lock()
						answered[fmt.Sprintf("c%d-%d", client, seq+i)] = true
						mu.Unlock()
						if client == 0 && seq+i+1 == loopStopAfter {
							close(first)
						}
					}
				}
			}()
		}
		select {
		case <-first:
		case <-time.After(queueTimeout):
			t.Fatalf("the first client was not answered %d times within %v", loopStopAfter, queueTimeout)
		}
		if err := srv.stop(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		srv, err = launch(dir, "--threads", "2", "--fsync", "always")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.stop()
		c := dialDurable(t, srv.port)
		v, err := c.DoValue("QLEN", "loop:stop")
		ready, _ := fields(v)["ready"].(int64)
		if err != nil || ready != int64(len(answered)) {
			t.Fatalf("QLEN after the restart = %v, %v; %d QPUSH were answered", v, err, len(answered))
		}
		v, err = c.DoValue("QPEEK", "loop:stop", "COUNT", strconv.FormatInt(ready, 10))
		jobs, _ := v.([]any)
		if err != nil || int64(len(jobs)) != ready {
			t.Fatalf("QPEEK: %d jobs, %v", len(jobs), err)
		}
		// A graceful stop answers every command it ran: the jobs there
		// are exactly those whose QPUSH was answered.
		for _, j := range jobs {
			p := fmt.Sprint(fields(j)["payload"])
			if !answered[p] {
				t.Fatalf("job %s is there, but its QPUSH was not answered", p)
			}
			delete(answered, p)
		}
		if len(answered) != 0 {
			t.Fatalf("%d answered jobs missing after the restart", len(answered))
		}
		t.Logf("%d jobs after the restart", ready)
	})
}

// dialDurable connects a client whose reads fail after queueTimeout, so
// that a reply that never comes fails the test.
func dialDurable(t *testing.T, port int) *respClient {
	t.Helper()
	c, err := dialRESP(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadDeadline(time.Now().Add(queueTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}
