// Command streambench measures stream throughput on NEXO (XAPPEND, XFETCH,
// XCONSUME + XCOMMIT) or on Redis Streams (XADD, XRANGE, XREADGROUP + XACK),
// over plain RESP2 connections. Tests:
//
//   - append: conns connections each pipelining XAPPEND / XADD of one
//     size-byte message, messages in all; rate in messages/s.
//   - replay: loads messages into a one-partition stream, then reads them
//     all from the start, count messages per XFETCH / XRANGE; rate in MB/s
//     of payload.
//   - fanout: loads messages into a one-partition stream, then readers
//     connections read it at once, each its own share from its own place
//     (reader k from message k × messages / readers), groupCount messages
//     per XFETCH / XRANGE, as services reading one stream at their own
//     pace do; rate in MB/s of payload.
//   - group: one producer pipelines messages into the stream (partitions
//     partitions on NEXO) while consumers members of one consumer group
//     read count at a time and commit (XCOMMIT) or acknowledge (XACK) each
//     batch; the clock stops when every message is consumed; rate in
//     messages/s.
//
// Usage: streambench -mode nexo|redis -addr HOST:PORT
// -test append|replay|fanout|group [-messages N] [-size BYTES] [-conns N]
// [-pipeline N] [-count N] [-readers N] [-consumers N]. It prints one line: "<mode> <test> <messages> messages in
// <seconds> s: <rate> <unit>".
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"nexo/bench/internal/cputime"
	"nexo/bench/internal/runwait"
	"nexo/internal/respclient"
)

// Defaults of the flags.
const (
	defaultMessages  = 200000
	defaultSize      = 1024
	defaultConns     = 4
	defaultPipeline  = 64
	defaultCount     = 1000
	defaultConsumers = 4
	defaultReaders   = 2
	// groupCount is how many messages a group member reads per call.
	groupCount = 100
	// loadBatch is how many messages one XAPPEND carries when the replay
	// test loads its stream (Redis: XADDs per pipelined write).
	loadBatch = 100
	// blockMillis is how long a consumer's blocking read waits before it
	// checks whether every message is consumed.
	blockMillis = 1000
	// dialTimeout bounds connecting to the server.
	dialTimeout = 5 * time.Second
	// bytesPerMB converts bytes to megabytes (10^6) in the replay rate.
	bytesPerMB = 1e6
)

// Names the benchmark uses; the stream name gets a unique suffix per run.
const (
	streamPrefix = "bench:stream:"
	groupName    = "bench"
	fieldName    = "v"
	memberPrefix = "m"
)

type options struct {
	mode, addr, test                                  string
	messages, size, conns, pipeline, count, consumers int
	readers                                           int
	serverPID                                         int
	stream                                            string
	// meter measures the CPU of the server and of this client over the
	// timed phase of the test, which starts it; main stops it.
	meter *cputime.Meter
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "nexo", "nexo or redis")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:6379", "server address")
	flag.StringVar(&o.test, "test", "append", "append, replay, fanout or group")
	flag.IntVar(&o.messages, "messages", defaultMessages, "messages to append, replay or consume")
	flag.IntVar(&o.size, "size", defaultSize, "payload bytes")
	flag.IntVar(&o.conns, "conns", defaultConns, "append: concurrent connections")
	flag.IntVar(&o.pipeline, "pipeline", defaultPipeline, "appends a connection pipelines per write")
	flag.IntVar(&o.count, "count", defaultCount, "replay: messages per read")
	flag.IntVar(&o.readers, "readers", defaultReaders, "fanout: concurrent readers")
	flag.IntVar(&o.consumers, "consumers", defaultConsumers, "group: consumers (and NEXO partitions)")
	flag.IntVar(&o.serverPID, "server-pid", 0, "the server's process id: also print its CPU per message and this client's (Linux)")
	flag.Parse()
	if o.mode != "nexo" && o.mode != "redis" {
		fail(fmt.Errorf("unknown mode %q", o.mode))
	}
	if o.messages <= 0 || o.size <= 0 || o.conns <= 0 || o.pipeline <= 0 || o.count <= 0 || o.consumers <= 0 || o.readers <= 0 {
		fail(errors.New("every count must be positive"))
	}
	o.stream = streamPrefix + strconv.FormatInt(time.Now().UnixNano(), 10)
	o.meter = cputime.NewMeter(o.serverPID)
	var (
		elapsed time.Duration
		err     error
	)
	switch o.test {
	case "append":
		elapsed, err = runAppend(o)
	case "replay":
		elapsed, err = runReplay(o)
	case "fanout":
		elapsed, err = runFanout(o)
	case "group":
		elapsed, err = runGroup(o)
	default:
		err = fmt.Errorf("unknown test %q", o.test)
	}
	if err == nil && o.serverPID != 0 {
		err = o.meter.Stop()
	}
	if err == nil {
		err = drop(o)
	}
	if err != nil {
		fail(err)
	}
	rate, unit := float64(o.messages)/elapsed.Seconds(), "msg/s"
	if o.test == "replay" || o.test == "fanout" {
		rate, unit = float64(o.messages)*float64(o.size)/bytesPerMB/elapsed.Seconds(), "MB/s"
	}
	fmt.Printf("%s %s %d messages in %.3f s: %.1f %s\n", o.mode, o.test, o.messages, elapsed.Seconds(), rate, unit)
	if o.serverPID != 0 {
		perMessage := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(o.messages) }
		fmt.Printf("cpu per message: server %.2f µs, client %.2f µs\n", perMessage(o.meter.Server), perMessage(o.meter.Self))
	}
}

// startMeter starts measuring CPU when the server's pid is known.
func (o options) startMeter() error {
	if o.serverPID == 0 {
		return nil
	}
	return o.meter.Start()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "streambench:", err)
	os.Exit(1)
}

// create makes the run's stream: NEXO with the given partitions and no
// retention limit; Redis creates it with the group or the first XADD.
func create(o options, partitions int) error {
	if o.mode != "nexo" {
		return nil
	}
	c, err := respclient.Dial(o.addr, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("XCREATE", o.stream, "PARTITIONS", strconv.Itoa(partitions), "MAXAGE", "0", "MAXBYTES", "0", "MAXMSGS", "0")
	return err
}

// drop frees Redis's memory after a run; NEXO has no command that deletes
// a stream, and its data directory is removed with the server.
func drop(o options) error {
	if o.mode != "redis" {
		return nil
	}
	c, err := respclient.Dial(o.addr, dialTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Do("DEL", o.stream)
	return err
}

// appendCmd is the command that appends payloads to the stream.
func appendCmd(o options, payloads ...string) []string {
	if o.mode == "nexo" {
		return append([]string{"XAPPEND", o.stream}, payloads...)
	}
	return []string{"XADD", o.stream, "*", fieldName, payloads[0]}
}

// produce appends n messages on c, pipeline commands per write.
func produce(o options, c *respclient.Client, n int, payload string) error {
	pending := 0
	for range n {
		c.Send(appendCmd(o, payload)...)
		if pending++; pending == o.pipeline {
			if err := c.Drain(pending); err != nil {
				return err
			}
			pending = 0
		}
	}
	return c.Drain(pending)
}

func runAppend(o options) (time.Duration, error) {
	if err := create(o, 1); err != nil {
		return 0, err
	}
	conns := make([]*respclient.Client, o.conns)
	for i := range conns {
		var err error
		if conns[i], err = respclient.Dial(o.addr, dialTimeout); err != nil {
			return 0, err
		}
		defer conns[i].Close()
	}
	payload := strings.Repeat("x", o.size)
	errs := make(chan error, o.conns)
	if err := o.startMeter(); err != nil {
		return 0, err
	}
	start := time.Now()
	for i, c := range conns {
		// Connection i appends its share; the first ones take the remainder.
		n := o.messages / o.conns
		if i < o.messages%o.conns {
			n++
		}
		go func() { errs <- produce(o, c, n, payload) }()
	}
	for range conns {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func runReplay(o options) (time.Duration, error) {
	c, err := loaded(o)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := o.startMeter(); err != nil {
		return 0, err
	}
	start := time.Now()
	err = readShare(o, c, 0, o.messages, o.count)
	return time.Since(start), err
}

func runFanout(o options) (time.Duration, error) {
	c, err := loaded(o)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	conns := make([]*respclient.Client, o.readers)
	for k := range conns {
		if conns[k], err = respclient.Dial(o.addr, dialTimeout); err != nil {
			return 0, err
		}
		defer conns[k].Close()
	}
	if err := o.startMeter(); err != nil {
		return 0, err
	}
	start := time.Now()
	errs := make([]error, o.readers)
	var wg sync.WaitGroup
	for k, rc := range conns {
		first, end := k*o.messages/o.readers, (k+1)*o.messages/o.readers
		wg.Go(func() { errs[k] = readShare(o, rc, first, end-first, groupCount) })
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

// loaded creates the one-partition stream of the replay and fanout tests,
// loads its messages and returns the connection that did.
func loaded(o options) (*respclient.Client, error) {
	if err := create(o, 1); err != nil {
		return nil, err
	}
	c, err := respclient.Dial(o.addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	if err := load(o, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// messageID is the Redis id load gives message i (from 0), so that a
// reader starts at any message, as at any offset on NEXO.
func messageID(i int) string { return "0-" + strconv.Itoa(i+1) }

// readShare reads the n messages from message first on, count per call.
func readShare(o options, c *respclient.Client, first, n, count int) error {
	read := 0
	from := messageID(first)
	for read < n {
		batch := strconv.Itoa(min(count, n-read))
		if o.mode == "nexo" {
			v, err := c.Do("XFETCH", o.stream, "PARTITION", "0", "FROM", strconv.Itoa(first+read), "COUNT", batch)
			if err != nil {
				return err
			}
			msgs, _ := v.([]any)
			if len(msgs) == 0 {
				return fmt.Errorf("XFETCH returned nothing at offset %d of %d", first+read, o.messages)
			}
			read += len(msgs)
			continue
		}
		v, err := c.Do("XRANGE", o.stream, from, "+", "COUNT", batch)
		if err != nil {
			return err
		}
		entries, _ := v.([]any)
		if len(entries) == 0 {
			return fmt.Errorf("XRANGE returned nothing after %d of %d", first+read, o.messages)
		}
		read += len(entries)
		from = "(" + entries[len(entries)-1].([]any)[0].(string)
	}
	return nil
}

// load appends the messages of the replay and fanout tests, loadBatch per
// pipelined write.
func load(o options, c *respclient.Client) error {
	payload := strings.Repeat("x", o.size)
	for sent := 0; sent < o.messages; {
		n := min(loadBatch, o.messages-sent)
		if o.mode == "nexo" {
			payloads := make([]string, n)
			for i := range payloads {
				payloads[i] = payload
			}
			c.Send(appendCmd(o, payloads...)...)
			if err := c.Drain(1); err != nil {
				return err
			}
		} else {
			for i := range n {
				c.Send("XADD", o.stream, messageID(sent+i), fieldName, payload)
			}
			if err := c.Drain(n); err != nil {
				return err
			}
		}
		sent += n
	}
	return nil
}

func runGroup(o options) (time.Duration, error) {
	if err := create(o, o.consumers); err != nil {
		return 0, err
	}
	setup, err := respclient.Dial(o.addr, dialTimeout)
	if err != nil {
		return 0, err
	}
	defer setup.Close()
	if o.mode == "nexo" {
		_, err = setup.Do("XGROUPCREATE", o.stream, groupName, "FROM", "EARLIEST")
	} else {
		_, err = setup.Do("XGROUP", "CREATE", o.stream, groupName, "0", "MKSTREAM")
	}
	if err != nil {
		return 0, err
	}
	// Consumers connect, and NEXO's members join (the stream is still
	// empty), before the clock starts, so no rebalance happens during the run.
	conns := make([]*respclient.Client, o.consumers)
	for i := range conns {
		if conns[i], err = respclient.Dial(o.addr, dialTimeout); err != nil {
			return 0, err
		}
		if o.mode == "nexo" {
			if _, err = conns[i].Do("XCONSUME", o.stream, "GROUP", groupName, "MEMBER", member(i)); err != nil {
				return 0, err
			}
		}
	}
	producer, err := respclient.Dial(o.addr, dialTimeout)
	if err != nil {
		return 0, err
	}
	defer producer.Close()
	var done atomic.Int64
	finished := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	errs := make(chan error, o.consumers+1)
	if err := o.startMeter(); err != nil {
		return 0, err
	}
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := consume(o, c, member(i), &done, func() { once.Do(func() { close(finished) }) }); err != nil && done.Load() < int64(o.messages) {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := produce(o, producer, o.messages, strings.Repeat("x", o.size)); err != nil {
			errs <- err
		}
	}()
	return runwait.Wait(start, finished, errs, &wg, conns)
}

func member(i int) string { return memberPrefix + strconv.Itoa(i) }

// consume reads and commits batches on c until every message is consumed;
// it calls finish once the total reaches the test's messages.
func consume(o options, c *respclient.Client, name string, done *atomic.Int64, finish func()) error {
	count, block := strconv.Itoa(groupCount), strconv.Itoa(blockMillis)
	total := int64(o.messages)
	for done.Load() < total {
		var got int
		if o.mode == "nexo" {
			v, err := c.Do("XCONSUME", o.stream, "GROUP", groupName, "MEMBER", name, "COUNT", count, "BLOCK", block)
			if err != nil {
				return err
			}
			msgs, _ := v.([]any)
			// The next offset to commit per partition in this batch.
			next := map[int64]int64{}
			for _, m := range msgs {
				f := m.([]any)
				var partition, offset int64
				for k := 0; k+1 < len(f); k += 2 {
					switch f[k] {
					case "partition":
						partition = f[k+1].(int64)
					case "offset":
						offset = f[k+1].(int64)
					}
				}
				next[partition] = max(next[partition], offset+1)
			}
			for partition, offset := range next {
				c.Send("XCOMMIT", o.stream, "GROUP", groupName, "MEMBER", name,
					"PARTITION", strconv.FormatInt(partition, 10), "OFFSET", strconv.FormatInt(offset, 10))
			}
			if err := c.Drain(len(next)); err != nil {
				return err
			}
			got = len(msgs)
		} else {
			v, err := c.Do("XREADGROUP", "GROUP", groupName, name, "COUNT", count, "BLOCK", block, "STREAMS", o.stream, ">")
			if err != nil {
				return err
			}
			streams, _ := v.([]any)
			if len(streams) == 0 {
				continue
			}
			entries := streams[0].([]any)[1].([]any)
			ack := []string{"XACK", o.stream, groupName}
			for _, e := range entries {
				ack = append(ack, e.([]any)[0].(string))
			}
			if len(entries) > 0 {
				if _, err := c.Do(ack...); err != nil {
					return err
				}
			}
			got = len(entries)
		}
		if got > 0 && done.Add(int64(got)) >= total {
			finish()
		}
	}
	return nil
}
