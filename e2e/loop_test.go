package e2e

import (
	"fmt"
	"io"
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
	// loopRaceWorkers take loopRaceJobs jobs, pushed one at a time, half
	// of them before the workers start: their blocking takes find jobs on
	// the loop first, then wait off it.
	loopRaceWorkers = 8
	loopRaceJobs    = 400
	// loopRaceBlockMs is the BLOCK of those takes: long enough to
	// outlast the pushes, so that a worker gets no empty reply before the
	// last job.
	loopRaceBlockMs = "10000"
	// loopRaceStop is the payload that tells a worker to stop: one per
	// worker follows the jobs.
	loopRaceStop = "stop"
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

// TestLoopThreads: --threads runs an event loop on every thread but one.
func TestLoopThreads(t *testing.T) {
	srv := startServer(t, "--threads", "3")
	info := dialRaw(t, srv.port).info("server")
	if info["threads"] != "3" || info["event_loops"] != "2" {
		t.Fatalf("threads %q, event_loops %q; want 3 and 2", info["threads"], info["event_loops"])
	}
}

// TestLoopConcurrentClients: connections spread over two loops change one
// key; every change is applied once.
func TestLoopConcurrentClients(t *testing.T) {
	srv := startServer(t, "--threads", "3")
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

// TestLoopHandOff: a blocking take runs on the connection's loop unless it
// has to wait; a take that waits and a stream read move the connection to
// a goroutine of its own, and a blocking take that finds a job there
// without waiting brings it back. INFO's loop_clients counts the
// connections the loops serve.
func TestLoopHandOff(t *testing.T) {
	t.Run("a take that finds a job, or runs without BLOCK, stays on the loop", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		c := dialRaw(t, srv.port)
		c.send(command("QPUSH", "loop:h1", "a") + command("QPOP", "loop:h1", "BLOCK", "0") + command("QPOP", "loop:h1"))
		c.reply()
		c.expectJob()
		c.expect("$-1")
		c.expectOnLoop(0)
	})

	t.Run("a take that waits moves its connection off the loop; one that finds a job brings it back", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		timedOut, woken, pusher := dialRaw(t, srv.port), dialRaw(t, srv.port), dialRaw(t, srv.port)
		timedOut.send(command("QPOP", "loop:h2", "BLOCK", loopBlockMs))
		timedOut.expect("$-1")
		timedOut.expectOnLoop(1)

		woken.send(command("QPOP", "loop:h3", "BLOCK", "0"))
		waitInfo(t, srv.port, "blocked_clients", "1")
		pusher.send(command("QPUSH", "loop:h3", "b"))
		pusher.reply()
		woken.expectJob()
		woken.expectOnLoop(2)

		// Takes that wait, and other commands, keep it off the loop; a
		// blocking take that finds a job without waiting brings it back.
		woken.send(command("QPOP", "loop:b2", "BLOCK", loopBlockMs) + command("PING"))
		woken.expect("$-1")
		woken.expect("+PONG")
		woken.expectOnLoop(2)
		pusher.send(command("QPUSH", "loop:b3", "c"))
		pusher.reply()
		woken.send(command("QPOP", "loop:b3", "BLOCK", "0"))
		woken.expectJob()
		woken.expectOnLoop(1)
	})

	t.Run("a stream read moves its connection off the loop", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		c, other := dialRaw(t, srv.port), dialRaw(t, srv.port)
		c.send(command("XAPPEND", "loop:s", "m") + command("XFETCH", "loop:s", "PARTITION", "0", "FROM", "0"))
		c.reply()
		c.expect("*1")
		c.reply()
		c.expectOnLoop(1)
		other.send(command("XGROUPCREATE", "loop:s", "g") + command("XCONSUME", "loop:s", "GROUP", "g", "MEMBER", "a"))
		other.expect("+OK")
		other.expect("*1")
		other.reply()
		other.expectOnLoop(2)
	})

	t.Run("a subscriber is off the loop", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		sub, other := dialRaw(t, srv.port), dialRaw(t, srv.port)
		sub.send(command("SUBSCRIBE", "loop:h4"))
		sub.reply()
		other.expectOnLoop(1)
	})

	t.Run("edge: a worker that returned and closes gives its job back at once", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		worker, pusher, next := dialRaw(t, srv.port), dialRaw(t, srv.port), dialRaw(t, srv.port)
		worker.returnToLoop(pusher, "loop:b4")
		worker.conn.Close()
		next.send(command("QPOP", "loop:b4", "BLOCK", loopRaceBlockMs))
		next.expectJob()
	})

	t.Run("edge: CLIENT KILL ends a connection that returned", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		victim, killer := dialRaw(t, srv.port), dialRaw(t, srv.port)
		killer.send(command("QPUSH", "loop:b5", "d"))
		killer.reply()
		victim.send(command("QPOP", "loop:b6", "BLOCK", loopBlockMs) + command("QPOP", "loop:b5", "BLOCK", "0") + command("CLIENT", "ID"))
		victim.expect("$-1")
		victim.expectJob()
		id, err := victim.line()
		if err != nil || id == "" || id[0] != ':' {
			t.Fatalf("CLIENT ID: %q, %v", id, err)
		}
		victim.expectOnLoop(0)
		killer.send(command("CLIENT", "KILL", "ID", id[1:]))
		killer.expect(":1")
		victim.expectClosed()
	})

	t.Run("race: workers moving on and off the loop get every job once", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		pusher := dialDurable(t, srv.port)
		push := func(payload string) {
			if _, err := pusher.DoValue("QPUSH", "loop:h5", payload); err != nil {
				t.Fatal(err)
			}
		}
		// The first half is there before the workers start: they take it
		// on the loop, then wait off it for the second half, pushed one
		// at a time, and return to the loop whenever a take finds one.
		for i := range loopRaceJobs / 2 {
			push("j" + strconv.Itoa(i))
		}
		var wg sync.WaitGroup
		got := make(chan string, loopRaceJobs)
		for range loopRaceWorkers {
			c := dialDurable(t, srv.port)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					v, err := c.DoValue("QPOP", "loop:h5", "BLOCK", loopRaceBlockMs)
					job := fields(v)
					switch {
					case err != nil || job["payload"] == nil:
						t.Errorf("QPOP: %v, %v", v, err)
						return
					case job["payload"] == loopRaceStop:
						return
					}
					if _, err := c.DoValue("QACK", "loop:h5", fmt.Sprint(job["id"])); err != nil {
						t.Errorf("QACK: %v", err)
						return
					}
					got <- fmt.Sprint(job["payload"])
				}
			}()
		}
		for i := loopRaceJobs / 2; i < loopRaceJobs; i++ {
			push("j" + strconv.Itoa(i))
		}
		seen := map[string]bool{}
		for range loopRaceJobs {
			p := <-got
			if seen[p] {
				t.Fatalf("job %s delivered twice", p)
			}
			seen[p] = true
		}
		for range loopRaceWorkers {
			push(loopRaceStop)
		}
		wg.Wait()
	})

	t.Run("restart: a stop with one connection waiting, one on the loop and one returned to it answers the first and closes all", func(t *testing.T) {
		srv := startServer(t, "--threads", "1")
		waiting, onLoop, returned := dialRaw(t, srv.port), dialRaw(t, srv.port), dialRaw(t, srv.port)
		onLoop.send(command("QPOP", "loop:h6"))
		onLoop.expect("$-1")
		returned.returnToLoop(onLoop, "loop:h7")
		waiting.send(command("QPOP", "loop:h6", "BLOCK", "0"))
		waitInfo(t, srv.port, "blocked_clients", "1")
		if err := srv.stop(); err != nil {
			t.Fatalf("%v\n%s", err, srv.logs())
		}
		waiting.expect("$-1")
		waiting.expectClosed()
		onLoop.expectClosed()
		returned.expectClosed()
	})
}

// returnToLoop makes c leave its loop with a take that waits, then return
// to it with a blocking take that finds the job pusher pushes to queue.
func (c *rawClient) returnToLoop(pusher *rawClient, queue string) {
	c.t.Helper()
	c.send(command("QPOP", queue, "BLOCK", loopBlockMs))
	c.expect("$-1")
	pusher.send(command("QPUSH", queue, "back"))
	pusher.reply()
	c.send(command("QPOP", queue, "BLOCK", "0"))
	c.expectJob()
	c.expectOnLoop(0)
}

// expectJob reads the reply of a QPOP without COUNT and checks that it
// is a job.
func (c *rawClient) expectJob() {
	c.t.Helper()
	if got, err := c.reply(); err != nil || !strings.HasPrefix(got, "*") || got == "*-1" {
		c.t.Fatalf("QPOP: %q, %v, want a job", got, err)
	}
}

// info runs INFO section on c and returns its fields.
func (c *rawClient) info(section string) map[string]string {
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
	return infoFields(string(body[:n]))
}

// expectOnLoop checks, with INFO sent on c, that the event loop serves
// every connection of the server except off of them.
func (c *rawClient) expectOnLoop(off int) {
	c.t.Helper()
	clients := c.info("clients")
	on, onErr := strconv.Atoi(clients["loop_clients"])
	all, allErr := strconv.Atoi(clients["connected_clients"])
	if onErr != nil || allErr != nil || on != all-off {
		c.t.Fatalf("loop_clients %q of %q connected, want all but %d", clients["loop_clients"], clients["connected_clients"], off)
	}
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
