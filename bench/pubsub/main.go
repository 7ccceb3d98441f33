// Command pubsub measures pub/sub throughput against a RESP server: P
// publishers pipeline messages on topics, S subscribers with one pattern
// subscription each count what they receive, and it prints the deliveries
// per second (messages received by all subscribers together). It drives
// NEXO (PPUB, PSUB) and Redis (PUBLISH, PSUBSCRIBE) alike; bench/pubsub.sh
// runs both side by side.
//
// Subscribers count bytes, not frames: every message of a run has the same
// size (one pattern, topics of one length, one payload), so a message is
// frameSize bytes and the count costs the client nothing. Publishers keep at
// most -window messages per subscriber ahead of what the subscribers have
// received, so the rate measured is what the server sustains, not a backlog
// it piles up.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the flags.
const (
	defaultDuration = 3 * time.Second
	defaultPayload  = 64
	defaultPipeline = 64
	defaultWindow   = 10000
	// drainTimeout bounds the wait for the last messages after publishing stops.
	drainTimeout = 30 * time.Second
	// throttlePause is how long a publisher that is a window ahead waits
	// before it checks again.
	throttlePause = 50 * time.Microsecond
	// drainPoll paces the check for the last messages.
	drainPoll = time.Millisecond
	// readBufferSize is a subscriber's read buffer.
	readBufferSize = 256 << 10
	// confirmationLines is the number of lines of a subscription's confirmation.
	confirmationLines = 6
	// topicDigits is the width of the publisher number in fan-in topics,
	// so that every topic has the same length.
	topicDigits = 3
)

type config struct {
	addr        string
	pubCmd      string
	subCmd      string
	pattern     string
	publishers  int
	subscribers int
	duration    time.Duration
	payload     int
	pipeline    int
	window      int64
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "127.0.0.1:6379", "server address")
	flag.StringVar(&c.pubCmd, "pub", "PUBLISH", "publish command: PUBLISH or PPUB")
	flag.StringVar(&c.subCmd, "sub", "PSUBSCRIBE", "subscribe command: PSUBSCRIBE or PSUB")
	flag.StringVar(&c.pattern, "pattern", "bench/*", "pattern or filter every subscriber subscribes to; it must match bench/NNN")
	flag.IntVar(&c.publishers, "publishers", 1, "publishing connections; publisher i publishes on bench/i (3 digits)")
	flag.IntVar(&c.subscribers, "subscribers", 1, "subscribing connections")
	flag.DurationVar(&c.duration, "duration", defaultDuration, "how long the publishers publish")
	flag.IntVar(&c.payload, "payload", defaultPayload, "payload size in bytes")
	flag.IntVar(&c.pipeline, "pipeline", defaultPipeline, "messages a publisher sends per write")
	flag.Int64Var(&c.window, "window", defaultWindow, "messages per subscriber the publishers may be ahead of the slowest reader")
	flag.Parse()
	rate, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pubsub:", err)
		os.Exit(1)
	}
	fmt.Printf("%.0f\n", rate)
}

func command(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

func topic(i int) string { return fmt.Sprintf("bench/%0*d", topicDigits, i) }

// bulkSize is the size of a bulk string of n bytes on the wire.
func bulkSize(n int) int { return 1 + len(strconv.Itoa(n)) + 2 + n + 2 }

// frameSize is the size of one ["pmessage", pattern, topic, payload] frame.
func frameSize(c config) int {
	return len("*4\r\n") + bulkSize(len("pmessage")) + bulkSize(len(c.pattern)) + bulkSize(len(topic(0))) + bulkSize(c.payload)
}

func run(c config) (float64, error) {
	var received atomic.Int64 // bytes of messages received by every subscriber
	frame := int64(frameSize(c))
	var subs []net.Conn
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()
	var readers sync.WaitGroup
	for range c.subscribers {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		subs = append(subs, conn)
		if _, err := conn.Write(command(c.subCmd, c.pattern)); err != nil {
			return 0, err
		}
		// The confirmation [psubscribe, pattern, 1] is six lines: the
		// header, two per bulk string and the integer.
		r := bufio.NewReaderSize(conn, readBufferSize)
		for range confirmationLines {
			if _, err := r.ReadSlice('\n'); err != nil {
				return 0, fmt.Errorf("subscribe: %w", err)
			}
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, readBufferSize)
			for {
				n, err := r.Read(buf)
				received.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}

	var published atomic.Int64
	payload := string(bytes.Repeat([]byte("x"), c.payload))
	start := time.Now()
	stop := start.Add(c.duration)
	var pubs sync.WaitGroup
	errs := make(chan error, c.publishers)
	for p := range c.publishers {
		conn, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		var batch []byte
		for range c.pipeline {
			batch = append(batch, command(c.pubCmd, topic(p), payload)...)
		}
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			r := bufio.NewReader(conn)
			subscribers := int64(c.subscribers)
			for time.Now().Before(stop) {
				for published.Load()*subscribers-received.Load()/frame > c.window*subscribers {
					time.Sleep(throttlePause)
				}
				if _, err := conn.Write(batch); err != nil {
					errs <- err
					return
				}
				published.Add(int64(c.pipeline))
				// Every reply is an integer: one line each.
				for range c.pipeline {
					line, err := r.ReadSlice('\n')
					if err != nil {
						errs <- err
						return
					}
					if line[0] != ':' {
						errs <- fmt.Errorf("publish answered %q", line)
						return
					}
				}
			}
		}()
	}
	pubs.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	want := published.Load() * int64(c.subscribers) * frame
	deadline := time.Now().Add(drainTimeout)
	for received.Load() < want {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("received %d of %d messages within %v of the end of publishing",
				received.Load()/frame, want/frame, drainTimeout)
		}
		time.Sleep(drainPoll)
	}
	elapsed := time.Since(start)
	if got := received.Load(); got != want {
		return 0, fmt.Errorf("received %d bytes, want %d: frames of another size arrived", got, want)
	}
	for _, s := range subs {
		s.Close()
	}
	readers.Wait()
	return float64(want/frame) / elapsed.Seconds(), nil
}
