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
	"runtime"
	"strconv"
	"syscall"
	"time"

	"nexo/commands"
	"nexo/engine/store"
	"nexo/internal/datadir"
	"nexo/resp"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// shutdownTimeout bounds how long connections get to finish their
// pipelines after a signal.
const shutdownTimeout = 10 * time.Second

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
	srv, err := commands.NewServer(commands.Config{
		Addr:        net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.Port)),
		Password:    cfg.Password,
		MaxClients:  cfg.MaxClients,
		IdleTimeout: time.Duration(cfg.Timeout) * time.Second,
		Limits: resp.Limits{
			MaxBulkLen:      cfg.MaxBulkLen,
			MaxMultibulkLen: cfg.MaxMultibulkLen,
			MaxQueryBuffer:  cfg.MaxQueryBuffer,
		},
		Version: version,
		Params:  cfg.params(),
		Logger:  log,
		Store:   st,
	})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	log.Info("ready to accept connections", "addr", srv.Addr().String(), "version", version,
		"threads", runtime.GOMAXPROCS(0), "data_dir", cfg.DataDir)

	select {
	case sig := <-signals:
		log.Info("shutting down", "signal", sig.String())
	case err := <-served:
		return fmt.Errorf("server stopped: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("connections closed before finishing", "err", err)
	}
	log.Info("bye")
	return nil
}
