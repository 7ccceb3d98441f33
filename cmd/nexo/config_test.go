package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nexo/engine/store"
	"nexo/engine/stream"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func TestConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		c, err := loadConfig(nil, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Bind != defaultBind || c.Port != defaultPort || c.HTTPPort != defaultHTTPPort || c.DataDir != defaultDataDir ||
			c.Fsync != defaultFsync || c.MaxMemoryPolicy != store.NoEviction || c.MaxClients != defaultMaxClient {
			t.Fatalf("defaults: %+v", c)
		}
	})
	t.Run("flags win over the environment, which wins over the file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "nexo.conf")
		os.WriteFile(file, []byte("# a comment\nport 7000\nmaxmemory 1mb\npassword \"s3 cret\"\nmaxmemory-policy allkeys-lru\n"), 0o600)
		c, err := loadConfig([]string{"--config", file, "--port", "9000"},
			env(map[string]string{"NEXO_PORT": "8000", "NEXO_MAXMEMORY": "2mb"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.Port != 9000 || c.MaxMemory != 2<<20 || c.Password != "s3 cret" || c.MaxMemoryPolicy != store.AllKeysLRU {
			t.Fatalf("got %+v", c)
		}
	})
	t.Run("config file from NEXO_CONFIG", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "nexo.conf")
		os.WriteFile(file, []byte("timeout 30\n"), 0o600)
		c, err := loadConfig(nil, env(map[string]string{"NEXO_CONFIG": file}), io.Discard)
		if err != nil || c.Timeout != 30 {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("stream defaults come from the stream package and can be overridden", func(t *testing.T) {
		c, err := loadConfig(nil, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want := stream.Settings{Partitions: stream.DefaultPartitions, MaxAge: stream.DefaultMaxAge, MaxBytes: stream.DefaultMaxBytes}
		if c.StreamDefaults != want || c.StreamSessionTimeout != stream.DefaultSessionTimeout || c.StreamMaxPayload != stream.DefaultMaxPayload ||
			c.StreamMaxReadBytes != stream.DefaultMaxReadBytes {
			t.Fatalf("stream defaults: %+v %v %d %d", c.StreamDefaults, c.StreamSessionTimeout, c.StreamMaxPayload, c.StreamMaxReadBytes)
		}
		c, err = loadConfig([]string{"--stream-partitions", "4", "--stream-max-age", "1500", "--stream-max-messages", "10",
			"--stream-session-timeout", "2000", "--stream-max-payload", "1kb", "--stream-max-read-bytes", "2mb"}, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		want = stream.Settings{Partitions: 4, MaxAge: 1500 * time.Millisecond, MaxBytes: stream.DefaultMaxBytes, MaxMessages: 10}
		if c.StreamDefaults != want || c.StreamSessionTimeout != 2*time.Second || c.StreamMaxPayload != 1024 || c.StreamMaxReadBytes != 2<<20 {
			t.Fatalf("stream overrides: %+v %v %d %d", c.StreamDefaults, c.StreamSessionTimeout, c.StreamMaxPayload, c.StreamMaxReadBytes)
		}
	})
	t.Run("sizes take Redis's units", func(t *testing.T) {
		for in, want := range map[string]int64{"0": 0, "100": 100, "1k": 1000, "1kb": 1024, "2mb": 2 << 20, "1gb": 1 << 30, "3G": 3e9} {
			c, err := loadConfig([]string{"--maxmemory", in}, env(nil), io.Discard)
			if err != nil || c.MaxMemory != want {
				t.Errorf("%s: %d %v, want %d", in, c.MaxMemory, err, want)
			}
		}
	})
	t.Run("the dashboard is on by default and turned off by flag, variable or file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "nexo.conf")
		os.WriteFile(file, []byte("dashboard no\n"), 0o600)
		for _, tc := range []struct {
			args []string
			env  map[string]string
			want bool
		}{
			{nil, nil, true},
			{[]string{"--dashboard", "no"}, nil, false},
			{nil, map[string]string{"NEXO_DASHBOARD": "NO"}, false},
			{[]string{"--config", file}, nil, false},
			{[]string{"--config", file}, map[string]string{"NEXO_DASHBOARD": "yes"}, true},
		} {
			c, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err != nil {
				t.Errorf("%v %v: %v", tc.args, tc.env, err)
			} else if c.Dashboard != tc.want {
				t.Errorf("%v %v: dashboard %v, want %v", tc.args, tc.env, c.Dashboard, tc.want)
			}
		}
	})
	t.Run("help lists every option with its variable", func(t *testing.T) {
		var out strings.Builder
		_, err := loadConfig([]string{"--help"}, env(nil), &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatal(err)
		}
		for _, o := range options {
			if !strings.Contains(out.String(), "--"+o.name) || !strings.Contains(out.String(), o.env()) {
				t.Errorf("help lacks %s", o.name)
			}
		}
	})
	t.Run("bad values are refused with the source named", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "bad.conf")
		os.WriteFile(file, []byte("nosuch 1\n"), 0o600)
		for _, tc := range []struct {
			args []string
			env  map[string]string
			want string
		}{
			{[]string{"--port", "70000"}, nil, "--port"},
			{[]string{"--maxmemory", "lots"}, nil, "--maxmemory"},
			{[]string{"--maxmemory-policy", "sometimes"}, nil, "--maxmemory-policy"},
			{[]string{"--fsync", "never"}, nil, "--fsync"},
			{[]string{"--dashboard", "maybe"}, nil, "--dashboard"},
			{[]string{"--maxclients", "0"}, nil, "--maxclients"},
			{[]string{"--stream-partitions", "0"}, nil, "--stream-partitions"},
			{[]string{"--stream-session-timeout", "0"}, nil, "--stream-session-timeout"},
			{[]string{"--stream-max-read-bytes", "0"}, nil, "--stream-max-read-bytes"},
			{nil, map[string]string{"NEXO_TIMEOUT": "-1"}, "NEXO_TIMEOUT"},
			{[]string{"--config", file}, nil, "unknown directive"},
			{[]string{"stray"}, nil, "unexpected argument"},
		} {
			_, err := loadConfig(tc.args, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v %v: err %v, want it to mention %q", tc.args, tc.env, err, tc.want)
			}
		}
	})
}
