package commands

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
	"nexo/internal/respclient"
	"nexo/resp"
	"nexo/wal"
)

// Helpers of the tests that drive an in-process server over RESP.

// Settings of the command tests' server.
const (
	// testLoops: several event loops, so that commands on different
	// loops, and on connections off the loops, race.
	testLoops = 3
	// testMaxClients leaves room for every test connection.
	testMaxClients = 64
	// testReplyTimeout bounds every reply.
	testReplyTimeout = 10 * time.Second
	// testShutdownWait bounds the server's shutdown.
	testShutdownWait = 10 * time.Second
	// testQueryBuffer is the client-query-buffer-limit, which also bounds
	// what MULTI queues, and proto-max-bulk-len: small, so that a test
	// reaches them.
	testQueryBuffer = 64 << 10
	// testWorkers connections run at once in the races.
	testWorkers = 8
)

// startTestServer starts a server with a store and a queue broker, stopped
// when t ends, and returns its address. configure, if any, changes its
// configuration first.
func startTestServer(t *testing.T, configure ...func(*Config)) string {
	t.Helper()
	return newTestServer(t, configure...).Addr().String()
}

// withStreams gives a test server a stream broker of its own.
func withStreams(t *testing.T) func(*Config) {
	sb, err := stream.Open(stream.Config{Dir: t.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	return func(cfg *Config) { cfg.Stream = sb }
}

// newTestServer is startTestServer for a test that looks at the server's
// state.
func newTestServer(t *testing.T, configure ...func(*Config)) *Server {
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
	cfg := Config{
		Addr:       "127.0.0.1:0",
		Loops:      testLoops,
		MaxClients: testMaxClients,
		Limits:     resp.Limits{MaxBulkLen: testQueryBuffer, MaxMultibulkLen: testQueryBuffer, MaxQueryBuffer: testQueryBuffer},
		Logger:     log,
		Store:      st,
		Queue:      qb,
	}
	for _, fn := range configure {
		fn(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testShutdownWait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return srv
}

func dialTest(t *testing.T, addr string) *respclient.Client {
	t.Helper()
	c, err := respclient.Dial(addr, testReplyTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetReadDeadline(time.Now().Add(testReplyTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

// twoClients starts a server and connects two clients to it.
func twoClients(t *testing.T) (*respclient.Client, *respclient.Client) {
	t.Helper()
	addr := startTestServer(t)
	return dialTest(t, addr), dialTest(t, addr)
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

// offLoop moves c to a goroutine of its own: a blocking take that finds
// nothing leaves the event loop, and the connection stays off it.
func offLoop(t *testing.T, c *respclient.Client) {
	t.Helper()
	expect(t, c, nil, "QPOP", "test:nothing", "BLOCK", "1")
}

// onWorkers runs fn on testWorkers connections at once, every other one off
// the event loops, and returns the first error.
func onWorkers(t *testing.T, addr string, fn func(c *respclient.Client) error) error {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, testWorkers)
	for w := range testWorkers {
		c := dialTest(t, addr)
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
