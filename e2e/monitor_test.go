package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// monitorLine matches a MONITOR line for the quoted arguments that follow it.
func monitorLine(quotedArgs string) *regexp.Regexp {
	return regexp.MustCompile(`\A\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] ` + regexp.QuoteMeta(quotedArgs) + `\z`)
}

func TestMonitor(t *testing.T) {
	t.Run("redis-cli monitor prints the commands of other clients, without administration and secrets", func(t *testing.T) {
		requireRedisCLI(t)
		srv := startServer(t)
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		mon := exec.CommandContext(ctx, redisCLIName, "-p", strconv.Itoa(srv.port), "monitor")
		out, err := mon.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := mon.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cancel()
			_ = mon.Wait()
		}()
		lines := bufio.NewScanner(out)
		next := func() string {
			t.Helper()
			if !lines.Scan() {
				t.Fatalf("redis-cli monitor ended: %v", lines.Err())
			}
			return lines.Text()
		}
		// The OK comes once the connection is a monitor: what is sent after
		// it shows.
		if got := next(); got != "OK" {
			t.Fatalf("MONITOR answered %q", got)
		}
		redisCLI(t, srv.port, "CONFIG", "GET", "maxmemory")
		redisCLI(t, srv.port, "AUTH", "secret")
		redisCLI(t, srv.port, "SET", "mon:k", "two words")
		redisCLI(t, srv.port, "QPUSH", "mon:q", "job")
		for _, want := range []string{`"SET" "mon:k" "two words"`, `"QPUSH" "mon:q" "job"`} {
			if got := next(); !monitorLine(want).MatchString(got) {
				t.Fatalf("monitor line %q, want one for %s", got, want)
			}
		}
	})

	t.Run("edge: arguments show escaped as Redis quotes them", func(t *testing.T) {
		srv := startServer(t)
		mon := dialMonitor(t, srv.port)
		sender := dialDurable(t, srv.port)
		if _, err := sender.Do("SET", "mon:bin", "\x00\xff\"\\\n\t"); err != nil {
			t.Fatal(err)
		}
		want := `"SET" "mon:bin" "\x00\xff\"\\\n\t"`
		if got := readMonitorLine(t, mon); !monitorLine(want).MatchString(got) {
			t.Fatalf("monitor line %q, want one for %s", got, want)
		}
	})

	t.Run("a script's commands show from lua, then the script; a transaction's between MULTI and EXEC", func(t *testing.T) {
		srv := startServer(t)
		mon := dialMonitor(t, srv.port)
		sender := dialDurable(t, srv.port)
		const script = "return redis.call('set', KEYS[1], 'v')"
		if _, err := sender.Do("EVAL", script, "1", "mon:lua"); err != nil {
			t.Fatal(err)
		}
		lua := regexp.MustCompile(`\A\d+\.\d{6} \[0 lua\] "set" "mon:lua" "v"\z`)
		if got := readMonitorLine(t, mon); !lua.MatchString(got) {
			t.Fatalf("monitor line %q, want the script's SET from lua", got)
		}
		want := `"EVAL" "` + script + `" "1" "mon:lua"`
		if got := readMonitorLine(t, mon); !monitorLine(want).MatchString(got) {
			t.Fatalf("monitor line %q, want one for %s", got, want)
		}
		// A transaction's commands show when EXEC runs them, before it.
		sender.Send("MULTI")
		sender.Send("SET", "mon:tx", "v")
		sender.Send("EXEC")
		if err := sender.Drain(3); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"MULTI"`, `"SET" "mon:tx" "v"`, `"EXEC"`} {
			if got := readMonitorLine(t, mon); !monitorLine(want).MatchString(got) {
				t.Fatalf("monitor line %q, want one for %s", got, want)
			}
		}
	})

	t.Run("edge: a monitor accepts only QUIT and RESET, and RESET ends monitoring", func(t *testing.T) {
		srv := startServer(t)
		mon := dialMonitor(t, srv.port)
		if out := redisCLI(t, srv.port, "CLIENT", "LIST"); !strings.Contains(out, " flags=O ") {
			t.Fatalf("CLIENT LIST shows no monitor (flags=O):\n%s", out)
		}
		if _, err := mon.Do("GET", "k"); err == nil || err.Error() != "ERR Can't execute 'get': only QUIT and RESET are allowed while monitoring" {
			t.Fatalf("GET while monitoring: %v", err)
		}
		if got, err := mon.Do("RESET"); err != nil || got != "RESET" {
			t.Fatalf("RESET = %v, %v", got, err)
		}
		sender := dialDurable(t, srv.port)
		if _, err := sender.Do("SET", "k", "v"); err != nil {
			t.Fatal(err)
		}
		// A line for the SET would arrive before the PONG.
		if got, err := mon.Do("PING"); err != nil || got != "PONG" {
			t.Fatalf("PING after RESET = %v, %v", got, err)
		}
	})
}

// dialMonitor returns a connection that ran MONITOR.
func dialMonitor(t *testing.T, port int) *respClient {
	t.Helper()
	mon := dialDurable(t, port)
	if got, err := mon.Do("MONITOR"); err != nil || got != "OK" {
		t.Fatalf("MONITOR = %v, %v", got, err)
	}
	return mon
}

// readMonitorLine reads the next line a monitor is sent.
func readMonitorLine(t *testing.T, mon *respClient) string {
	t.Helper()
	if err := mon.SetReadDeadline(time.Now().Add(replyTimeout)); err != nil {
		t.Fatal(err)
	}
	got, err := mon.Read()
	if err != nil {
		t.Fatal(err)
	}
	line, ok := got.(string)
	if !ok {
		t.Fatalf("monitor sent %#v, want a simple string", got)
	}
	return line
}
