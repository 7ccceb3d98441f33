// Command nexo runs the NEXO server: it reads the configuration, builds the
// brokers and the RESP server, serves until SIGINT or SIGTERM, then shuts
// down in order.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"nexo/commands"
	"nexo/dashboard"
	"nexo/engine/pubsub"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
	"nexo/internal/datadir"
	"nexo/internal/heapfloor"
	"nexo/resp"
	"nexo/wal"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// shutdownTimeout bounds how long connections get to finish their
// pipelines after a signal.
const shutdownTimeout = 10 * time.Second

// spareProcs is how many of the threads that run Go code (GOMAXPROCS) no
// event loop takes, so that what runs beside the loops runs at once: the
// logs' committers and their fsyncs, the connections that wait (blocked
// takes, subscriptions, stream reads), the brokers' timers, the collector.
// On two cores, with the benchmark clients on one, one loop beside a spare
// processor pushed 0.89–0.95 of Redis's unpipelined QPUSH under fsync
// always where two loops pushed 0.72–0.77 (docs/DECISIONS.md).
const spareProcs = 1

// eventLoops is how many event loops serve connections on procs threads:
// all but spareProcs, and at least one.
func eventLoops(procs int) int { return max(1, procs-spareProcs) }

// heapFloor is how far the Go heap may grow past its live data before a
// collection, however small the live data (see heapfloor and
// docs/DECISIONS.md). GOMEMLIMIT still caps the heap.
const heapFloor = 64 << 20

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := loadConfig(args, os.LookupEnv, os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "nexo:", err)
		return 2
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(cfg, log); err != nil {
		log.Error("fatal", "err", err)
		return 1
	}
	return 0
}

func serve(cfg *config, log *slog.Logger) error {
	// Signals are caught from the start so that a SIGTERM arriving while
	// the server starts still shuts it down cleanly.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	if cfg.Threads > 0 {
		runtime.GOMAXPROCS(cfg.Threads)
	}
	defer heapfloor.Start(heapFloor)()
	dir, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer dir.Close()
	st, err := store.New(store.Config{MaxMemory: cfg.MaxMemory, Policy: cfg.MaxMemoryPolicy})
	if err != nil {
		return err
	}
	defer st.Close()
	qb, err := openQueue(cfg, log)
	if err != nil {
		return err
	}
	defer qb.Close()
	pb, err := openPubSub(cfg, log)
	if err != nil {
		return err
	}
	defer pb.Close()
	sb, err := openStream(cfg, log)
	if err != nil {
		return err
	}
	defer sb.Close()
	srv, err := commands.NewServer(commands.Config{
		Addr:        net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.Port)),
		Password:    cfg.Password,
		MaxClients:  cfg.MaxClients,
		Loops:       eventLoops(runtime.GOMAXPROCS(0)),
		IdleTimeout: time.Duration(cfg.Timeout) * time.Second,
		Limits: resp.Limits{
			MaxBulkLen:      cfg.MaxBulkLen,
			MaxMultibulkLen: cfg.MaxMultibulkLen,
			MaxQueryBuffer:  cfg.MaxQueryBuffer,
		},
		Version:           version,
		Params:            cfg.params(),
		Logger:            log,
		Store:             st,
		Queue:             qb,
		PubSub:            pb,
		PubSubLimit:       cfg.PubSubLimit,
		SlowlogSlowerThan: cfg.SlowlogSlowerThan,
		SlowlogMaxLen:     cfg.SlowlogMaxLen,
		ScriptTimeLimit:   cfg.ScriptTimeLimit,
		KeyspaceEvents:    cfg.KeyspaceEvents,
		Stream:            sb,
		StreamDefaults:    cfg.StreamDefaults,
	})
	if err != nil {
		return err
	}
	// On an error the process exits, closing the RESP listener never served.
	dash, err := dashboard.New(dashboard.Config{
		Addr:        net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.HTTPPort)),
		Password:    cfg.Password,
		Version:     version,
		MetricsOnly: !cfg.Dashboard,
		DataDir:     cfg.DataDir,
		Fsync:       cfg.Fsync,
		Logger:      log,
		Server:      srv,
		Store:       st,
		Queue:       qb,
		PubSub:      pb,
		Stream:      sb,
	})
	if err != nil {
		return fmt.Errorf("http port: %w", err)
	}
	served := make(chan error, 2)
	go func() { served <- srv.Serve() }()
	go func() { served <- dash.Serve() }()
	log.Info("ready to accept connections", "addr", srv.Addr().String(), "http", dash.Addr().String(),
		"version", version, "threads", runtime.GOMAXPROCS(0), "event_loops", eventLoops(runtime.GOMAXPROCS(0)),
		"data_dir", cfg.DataDir)

	select {
	case sig := <-signals:
		log.Info("shutting down", "signal", sig.String())
	case <-srv.Stopping():
		log.Info("shutting down", "command", "SHUTDOWN")
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := dash.Shutdown(ctx); err != nil {
		log.Warn("http requests cut short", "err", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("connections closed before finishing", "err", err)
	}
	log.Info("bye")
	return nil
}

// queueDir is the QUEUE broker's log directory inside the data directory.
const queueDir = "queue"

// openQueue opens the QUEUE broker on its log, replaying it, and logs what
// it loaded.
func openQueue(cfg *config, log *slog.Logger) (*queue.Broker, error) {
	fsync, err := wal.ParseFsync(cfg.Fsync)
	if err != nil {
		return nil, err
	}
	qb, err := queue.Open(queue.Config{
		Dir:        filepath.Join(cfg.DataDir, queueDir),
		WAL:        wal.Options{Fsync: fsync, MaxPending: cfg.QueueMaxPending, Logger: log},
		Defaults:   cfg.QueueDefaults,
		MaxPayload: int(cfg.QueueMaxPayload),
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	loaded := qb.Stats().Loaded
	log.Info("queues loaded", "jobs", loaded.Jobs, "records", loaded.Records, "duration", loaded.Duration)
	return qb, nil
}

// pubsubDir is the PUBSUB broker's retained log directory inside the data
// directory.
const pubsubDir = "pubsub"

// openPubSub opens the PUBSUB broker on its retained log, replaying it,
// and logs what it loaded.
func openPubSub(cfg *config, log *slog.Logger) (*pubsub.Broker, error) {
	fsync, err := wal.ParseFsync(cfg.Fsync)
	if err != nil {
		return nil, err
	}
	pb, err := pubsub.Open(pubsub.Config{
		Dir:    filepath.Join(cfg.DataDir, pubsubDir),
		WAL:    wal.Options{Fsync: fsync, Logger: log},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	st := pb.Stats()
	log.Info("retained values loaded", "topics", st.Retained, "records", st.LogRecords)
	return pb, nil
}

// streamDir is the STREAM broker's directory inside the data directory.
const streamDir = "stream"

// openStream opens the STREAM broker on its logs, replaying them, and logs
// what it loaded.
func openStream(cfg *config, log *slog.Logger) (*stream.Broker, error) {
	fsync, err := wal.ParseFsync(cfg.Fsync)
	if err != nil {
		return nil, err
	}
	sb, err := stream.Open(stream.Config{
		Dir:            filepath.Join(cfg.DataDir, streamDir),
		WAL:            wal.Options{Fsync: fsync, Logger: log},
		Defaults:       cfg.StreamDefaults,
		MaxPayload:     int(cfg.StreamMaxPayload),
		MaxReadBytes:   cfg.StreamMaxReadBytes,
		SessionTimeout: cfg.StreamSessionTimeout,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	st := sb.Stats()
	log.Info("streams loaded", "streams", st.Streams, "partitions", st.Partitions, "messages", st.Messages)
	return sb, nil
}
