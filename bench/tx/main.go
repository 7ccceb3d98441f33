// Command tx measures transactions per second against a RESP server: each
// connection runs, one after the other, the same two writes (SET then INCR
// of keys of its own) as a MULTI/EXEC transaction, as an EVAL script, or
// as a plain pipeline of the two commands for comparison. It prints the
// completed transactions per second.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"nexo/internal/respclient"
)

// dialTimeout bounds each connection's dial and every reply's wait.
const dialTimeout = 5 * time.Second

// script is the EVAL mode's script: the pipeline's two writes.
const script = "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[2])"

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "server address")
	conns := flag.Int("conns", 50, "concurrent connections")
	duration := flag.Duration("duration", 3*time.Second, "how long to run")
	mode := flag.String("mode", "multi", "multi (MULTI SET INCR EXEC), eval (EVAL of SET and INCR) or plain (SET INCR pipelined)")
	flag.Parse()
	run, ok := modes[*mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", *mode)
		os.Exit(2)
	}
	var done atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	stop := time.Now().Add(*duration)
	for i := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := respclient.Dial(*addr, dialTimeout)
			if err != nil {
				failed.Store(&err)
				return
			}
			defer c.Close()
			key := "tx:" + strconv.Itoa(i)
			for time.Now().Before(stop) {
				c.SetReadDeadline(time.Now().Add(dialTimeout))
				if err := run(c, key); err != nil {
					failed.Store(&err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		fmt.Fprintln(os.Stderr, *err)
		os.Exit(1)
	}
	fmt.Printf("%.0f\n", float64(done.Load())/duration.Seconds())
}

var modes = map[string]func(c *respclient.Client, key string) error{
	"multi": func(c *respclient.Client, key string) error {
		c.Send("MULTI")
		c.Send("SET", key, "v")
		c.Send("INCR", key+":n")
		c.Send("EXEC")
		return c.Drain(4)
	},
	"eval": func(c *respclient.Client, key string) error {
		_, err := c.Do("EVAL", script, "2", key, key+":n", "v")
		return err
	},
	"plain": func(c *respclient.Client, key string) error {
		c.Send("SET", key, "v")
		c.Send("INCR", key+":n")
		return c.Drain(2)
	},
}
