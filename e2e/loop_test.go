package e2e

import (
	"strconv"
	"strings"
	"sync"
	"testing"
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
