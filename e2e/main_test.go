// Package e2e is the black-box end-to-end suite: it builds the real nexo
// binary once, starts it on free ports with temporary data directories and
// drives it with the real redis-cli and with raw TCP connections.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long a started server may take to log its ready line.
	readyTimeout = 15 * time.Second
	// stopTimeout bounds how long a server may take to exit after SIGTERM
	// before it is killed and the test fails.
	stopTimeout = 10 * time.Second
	// cliTimeout bounds one redis-cli invocation.
	cliTimeout = 10 * time.Second
	// readyMessage is the log message the server writes once it accepts connections.
	readyMessage = `msg="ready to accept connections"`
	// ciEnv, when set, turns a missing redis-cli into a failure instead of a skip.
	ciEnv = "CI"
	// redisCLIName is the redis-cli executable looked up on PATH.
	redisCLIName = "redis-cli"
	// maxLogLine is the longest server log line the harness keeps whole.
	maxLogLine = 1 << 20
	// serverEnvPrefix starts the environment variables the server reads its configuration from.
	serverEnvPrefix = "NEXO_"
)

// readyAddr extracts the listen address from the ready line, with or without slog quoting.
var readyAddr = regexp.MustCompile(`\baddr="?([^"\s]+)"?`)

// nexoBinary is the path of the binary TestMain builds.
var nexoBinary string

// shared is the default-configured server that tests share when they do not
// change the configuration; each such test uses its own key prefix.
var shared struct {
	once sync.Once
	dir  string
	srv  *server
	err  error
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "nexo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	if nexoBinary, err = buildNexo(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: shared server: %v\n%s", err, shared.srv.logs())
			code = 1
		}
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	return code
}

// buildNexo builds ./cmd/nexo of the module that contains this package into dir.
func buildNexo(dir string) (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nexo")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nexo")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/nexo in %s: %v\n%s", root, err, out)
	}
	return bin, nil
}

// server is one running nexo process.
type server struct {
	cmd  *exec.Cmd
	port int

	logMu  sync.Mutex
	logBuf bytes.Buffer

	exited    chan struct{} // closed once the process has exited and its output is drained
	waitErr   error         // the process's exit status, valid after exited is closed
	stopOnce  sync.Once
	stopError error
}

// launch starts the binary with the test defaults plus args and waits for its ready line.
func launch(dataDir string, args ...string) (*server, error) {
	base := []string{"--bind", "127.0.0.1", "--port", "0", "--http-port", "0", "--data-dir", dataDir}
	cmd := exec.Command(nexoBinary, append(base, args...)...)
	cmd.Env = serverEnv()
	return startProcess(cmd, parseReadyLine)
}

// serverEnv is the test's environment without the NEXO_* variables, so that
// only the flags a test passes configure its server.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, serverEnvPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

// startProcess starts cmd, collects its output and waits until ready recognises
// a line as the ready line and returns the listening port.
func startProcess(cmd *exec.Cmd, ready func(line string) (port int, ok bool, err error)) (*server, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = pw
	cmd.Stderr = pw
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close()

	s := &server{cmd: cmd, exited: make(chan struct{})}
	readyLine := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, maxLogLine)
		for sc.Scan() {
			line := sc.Text()
			s.logMu.Lock()
			s.logBuf.WriteString(line)
			s.logBuf.WriteByte('\n')
			s.logMu.Unlock()
			if _, ok, _ := ready(line); ok {
				select {
				case readyLine <- line:
				default:
				}
			}
		}
	}()
	go func() {
		s.waitErr = cmd.Wait()
		<-drained
		close(s.exited)
	}()

	select {
	case line := <-readyLine:
		port, _, err := ready(line)
		if err != nil {
			s.kill()
			return nil, fmt.Errorf("%v\n%s", err, s.logs())
		}
		s.port = port
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("server exited before it was ready (%v)\n%s", s.waitErr, s.logs())
	case <-time.After(readyTimeout):
		s.kill()
		return nil, fmt.Errorf("no ready line within %v\n%s", readyTimeout, s.logs())
	}
}

// parseReadyLine recognises nexo's ready line and extracts the bound port.
func parseReadyLine(line string) (int, bool, error) {
	if !strings.Contains(line, readyMessage) {
		return 0, false, nil
	}
	port, err := parseReadyPort(line)
	return port, true, err
}

func parseReadyPort(line string) (int, error) {
	m := readyAddr.FindStringSubmatch(line)
	if m == nil {
		return 0, fmt.Errorf("ready line without addr=: %q", line)
	}
	_, portText, err := net.SplitHostPort(m[1])
	if err != nil {
		return 0, fmt.Errorf("ready line addr %q: %v", m[1], err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port == 0 {
		return 0, fmt.Errorf("ready line port %q is not a bound port", portText)
	}
	return port, nil
}

// startServer starts a server with args for the duration of the test.
// Cleanup stops it with SIGTERM and fails the test unless it exits 0 in time.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	s, err := launch(t.TempDir(), args...)
	if err != nil {
		t.Fatalf("start server %v: %v", args, err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs())
		}
	})
	return s
}

// startOn starts a server on dir with args, for tests that stop it and
// start another on the same directory; cleanup kills it if it still runs.
func startOn(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	s, err := launch(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.running() {
			s.kill()
		}
	})
	return s
}

// sharedServer returns the default-configured server shared by tests,
// starting it on first use; TestMain stops it.
func sharedServer(t *testing.T) *server {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "nexo-e2e-shared-")
		if shared.err == nil {
			shared.srv, shared.err = launch(shared.dir)
		}
	})
	if shared.err != nil {
		t.Fatalf("start shared server: %v", shared.err)
	}
	return shared.srv
}

// stop sends SIGTERM and waits; it reports a non-zero exit or the need for SIGKILL.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			s.stopError = fmt.Errorf("server had already exited: %v", s.waitErr)
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.stopError = fmt.Errorf("SIGTERM: %v", err)
		}
		select {
		case <-s.exited:
			if s.waitErr != nil {
				s.stopError = fmt.Errorf("exit after SIGTERM: %v", s.waitErr)
			}
		case <-time.After(stopTimeout):
			s.kill()
			s.stopError = fmt.Errorf("no exit within %v of SIGTERM; killed", stopTimeout)
		}
	})
	return s.stopError
}

func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

// pid is the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// running reports whether the process is still alive.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// logs returns everything the server has written to stdout and stderr so far.
func (s *server) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.logBuf.String()
}

// requireRedisCLI skips the test when redis-cli is missing, or fails it under CI.
func requireRedisCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(redisCLIName); err != nil {
		msg := redisCLIName + " not found on PATH (apt package redis-tools); end-to-end CLI tests need it"
		if os.Getenv(ciEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// redisCLI runs `redis-cli -p port args...` and returns its standard output
// without the final newline. args may start with redis-cli options such as
// -3 or --no-raw.
func redisCLI(t *testing.T, port int, args ...string) string {
	t.Helper()
	return redisCLIInput(t, port, "", args...)
}

// redisCLIInput is redisCLI with input on standard input; without a command in
// args, redis-cli runs each input line as a command on one connection.
func redisCLIInput(t *testing.T, port int, input string, args ...string) string {
	t.Helper()
	requireRedisCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, redisCLIName, append([]string{"-p", strconv.Itoa(port)}, args...)...)
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("redis-cli %v: no exit within %v", args, cliTimeout)
		}
		t.Fatalf("redis-cli %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
	}
	return strings.TrimSuffix(stdout.String(), "\n")
}
