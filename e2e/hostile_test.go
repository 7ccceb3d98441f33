package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// bulkLimit, queryBufferLimit and multibulkLimit are the limits the hostile
	// tests configure: small so the tests are fast, and no smaller than the
	// minimum Redis accepts for the same options.
	bulkLimit        = 1 << 20
	queryBufferLimit = 2 * bulkLimit
	multibulkLimit   = 1000
	// streamQueryBufferLimit is the --client-query-buffer-limit of the endless-request tests.
	streamQueryBufferLimit = 1 << 20
	// inlineMax is the longest inline request without a newline (Redis PROTO_INLINE_MAX_SIZE).
	inlineMax = 64 << 10
	// unauthMultibulkMax and unauthBulkMax are the request limits before AUTH
	// on a server with a password.
	unauthMultibulkMax = 10
	unauthBulkMax      = 16384

	// replyTimeout bounds the wait for a reply or for the server to close a connection.
	replyTimeout = 5 * time.Second
	// writeTimeout bounds one write; a server that neither reads nor closes trips it.
	writeTimeout = 5 * time.Second

	// streamTotal is how much an endless request may send before the test gives up on the server closing it.
	streamTotal = 64 << 20
	// streamChunk is the size of one write of an endless request; RSS is sampled after each.
	streamChunk = 256 << 10
	// streamArgLen is the length of each argument of an endless argument list.
	streamArgLen = 64 << 10
	// streamBulkLimit is the proto-max-bulk-len of the endless-bulk server: above
	// the streamed bulk's declared length, so the query buffer limit must stop it.
	streamBulkLimit = 128 << 20
	// rssGrowthLimit is how far the server's resident memory may grow while one
	// connection streams streamTotal bytes at a streamQueryBufferLimit limit.
	rssGrowthLimit = 32 << 20

	// maxClients is the --maxclients of the client-limit test.
	maxClients = 2
	// idleTimeout is the --timeout of the idle test.
	idleTimeout = 1 * time.Second
	// idleMargin is the lateness allowed when closing an idle client: Redis
	// checks idle clients from a cron with one-second resolution.
	idleMargin = 1500 * time.Millisecond

	// garbageSeed makes the random inputs the same on every run.
	garbageSeed = 20261126
	// garbageCases is the number of random inputs sent, each on its own connection.
	garbageCases = 1000
	// garbageMaxLen is the longest random input.
	garbageMaxLen = 4096
	// garbageMaxMutations is the most byte edits applied to a valid request.
	garbageMaxMutations = 8
)

// Protocol error replies exactly as Redis 7 words them.
const (
	errInvalidBulk      = "-ERR Protocol error: invalid bulk length"
	errInvalidMultibulk = "-ERR Protocol error: invalid multibulk length"
	errTooBigInline     = "-ERR Protocol error: too big inline request"
	errUnauthMultibulk  = "-ERR Protocol error: unauthenticated multibulk length"
	errUnauthBulk       = "-ERR Protocol error: unauthenticated bulk length"
	errMaxClients       = "-ERR max number of clients reached"
	errNoAuthRaw        = "-NOAUTH Authentication required."
)

// limitFlags configures the small limits the hostile tests rely on.
var limitFlags = []string{
	"--proto-max-bulk-len", strconv.Itoa(bulkLimit),
	"--client-query-buffer-limit", strconv.Itoa(queryBufferLimit),
	"--max-multibulk-len", strconv.Itoa(multibulkLimit),
}

// rawClient is one plain TCP connection to the server.
type rawClient struct {
	t    *testing.T
	conn *net.TCPConn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, port int) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), replyTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn.(*net.TCPConn), r: bufio.NewReader(conn)}
}

// command encodes args as a RESP array of bulk strings.
func command(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// write sends data within writeTimeout.
func (c *rawClient) write(data []byte) error {
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.conn.Write(data)
	return err
}

func (c *rawClient) send(data string) {
	c.t.Helper()
	if err := c.write([]byte(data)); err != nil {
		c.t.Fatalf("write %.40q: %v", data, err)
	}
}

// line reads one reply line without its CRLF.
func (c *rawClient) line() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(replyTimeout))
	l, err := c.r.ReadString('\n')
	return strings.TrimSuffix(l, "\r\n"), err
}

func (c *rawClient) expect(want string) {
	c.t.Helper()
	got, err := c.line()
	if err != nil {
		c.t.Fatalf("waiting for %q: got %q, %v", want, got, err)
	}
	if got != want {
		c.t.Fatalf("got reply %q, want %q", got, want)
	}
}

// reply reads one whole RESP2/RESP3 reply and returns its first line.
func (c *rawClient) reply() (string, error) {
	first, err := c.line()
	if err != nil || first == "" {
		return first, err
	}
	if err := c.skipBody(first); err != nil {
		return first, err
	}
	return first, nil
}

// skipBody consumes the rest of a reply whose first line is header.
func (c *rawClient) skipBody(header string) error {
	n, _ := strconv.Atoi(header[1:])
	switch header[0] {
	case '$', '=', '!':
		if n >= 0 {
			_, err := io.CopyN(io.Discard, c.r, int64(n)+2)
			return err
		}
	case '*', '~', '>', '%', '|':
		if header[0] == '%' || header[0] == '|' {
			n *= 2
		}
		for range n {
			l, err := c.line()
			if err != nil {
				return err
			}
			if err := c.skipBody(l); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *rawClient) ping() {
	c.t.Helper()
	c.send(command("PING"))
	c.expect("+PONG")
}

// closedErr reports whether err means the peer closed the connection.
func closedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// waitClosed reads until the server closes the connection, which must happen
// before deadline; it returns whatever the server sent first.
func (c *rawClient) waitClosed(deadline time.Time) []byte {
	c.t.Helper()
	c.conn.SetReadDeadline(deadline)
	var rest bytes.Buffer
	_, err := rest.ReadFrom(c.r)
	switch {
	case err == nil || closedErr(err):
		return rest.Bytes()
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.t.Fatalf("connection still open at the deadline (received %.80q)", rest.Bytes())
	default:
		c.t.Fatalf("waiting for close: %v", err)
	}
	return nil
}

// expectClosed asserts that the server closes the connection without sending more.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	if rest := c.waitClosed(time.Now().Add(replyTimeout)); len(rest) > 0 {
		c.t.Fatalf("got %.80q before close, want nothing", rest)
	}
}

// rss returns the resident set size of process pid in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read process status: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse %q: %v", l, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

func TestHostileProtocolErrors(t *testing.T) {
	srv := startServer(t, limitFlags...)
	ctl := dialRaw(t, srv.port)
	ctl.ping()

	t.Run("error and close", func(t *testing.T) {
		cases := []struct {
			name    string
			input   string
			replies []string
		}{
			{"bulk length above proto-max-bulk-len", "*1\r\n$" + strconv.Itoa(bulkLimit+1) + "\r\n", []string{errInvalidBulk}},
			{"negative bulk length", "*1\r\n$-1\r\n", []string{errInvalidBulk}},
			{"non-numeric bulk length", "*1\r\n$abc\r\n", []string{errInvalidBulk}},
			{"multibulk count above max-multibulk-len", "*" + strconv.Itoa(multibulkLimit+1) + "\r\n", []string{errInvalidMultibulk}},
			{"multibulk count above int32", "*3000000000\r\n", []string{errInvalidMultibulk}},
			{"multibulk count above int64", "*99999999999999999999\r\n", []string{errInvalidMultibulk}},
			{"non-numeric multibulk count", "*abc\r\n", []string{errInvalidMultibulk}},
			{"array element without $", "*1\r\nabc\r\n", []string{"-ERR Protocol error: expected '$', got 'a'"}},
			{"integer where a bulk string was expected", "*1\r\n:1\r\n", []string{"-ERR Protocol error: expected '$', got ':'"}},
			{"inline line beyond 64 KiB", strings.Repeat("x", inlineMax+1), []string{errTooBigInline}},
			{"multibulk count line beyond 64 KiB", "*" + strings.Repeat("1", inlineMax+1), []string{"-ERR Protocol error: too big mbulk count string"}},
			{"bulk length line beyond 64 KiB", "*1\r\n$" + strings.Repeat("1", inlineMax+1), []string{"-ERR Protocol error: too big bulk count string"}},
			{"unbalanced quotes inline", "SET a \"b\r\n", []string{"-ERR Protocol error: unbalanced quotes in request"}},
			{"valid commands before the error are answered", command("PING") + command("ECHO", "x") + "*1\r\n$abc\r\n" + command("PING"), []string{"+PONG", "$1", "x", errInvalidBulk}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, srv.port)
				c.send(tc.input)
				for _, want := range tc.replies {
					c.expect(want)
				}
				c.expectClosed()
				ctl.ping()
			})
		}
	})

	t.Run("tolerated input", func(t *testing.T) {
		cases := []struct {
			name   string
			input  string
			prefix string // the first reply starts with prefix; the connection stays usable
		}{
			{"top-level $ line is an inline command", "$abc\r\n", "-ERR unknown command '$abc', with args beginning with: "},
			{"empty array is skipped", "*0\r\n" + command("PING"), "+PONG"},
			{"null array is skipped", "*-1\r\n" + command("PING"), "+PONG"},
			{"blank inline lines are skipped", "\r\n\n  \r\nPING\r\n", "+PONG"},
			{"inline command ended by LF alone", "PING\n", "+PONG"},
			{"inline command with quoted arguments", "ECHO \"a b\"\r\n", "$3"},
			{"inline line of exactly 64 KiB", strings.Repeat("x", inlineMax) + "\r\n", "-ERR unknown command '"},
			{"bulk of exactly proto-max-bulk-len", command("ECHO", strings.Repeat("x", bulkLimit)), "$" + strconv.Itoa(bulkLimit)},
			{"multibulk count of exactly max-multibulk-len", command(append([]string{"MGET"}, make([]string, multibulkLimit-1)...)...), "*" + strconv.Itoa(multibulkLimit-1)},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := dialRaw(t, srv.port)
				c.send(tc.input)
				got, err := c.reply()
				if err != nil || !strings.HasPrefix(got, tc.prefix) {
					t.Fatalf("got %.100q (%v), want a reply starting with %q", got, err, tc.prefix)
				}
				c.ping()
				ctl.ping()
			})
		}
	})
}

func TestHostileUnauthenticatedLimits(t *testing.T) {
	srv := startServer(t, append([]string{"--password", testPassword}, limitFlags...)...)
	ctl := dialRaw(t, srv.port)
	ctl.send(command("AUTH", testPassword))
	ctl.expect("+OK")

	tenArgs := []string{"MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e"}
	elevenArgs := append(append([]string(nil), tenArgs...), "5")
	bigValue := strings.Repeat("v", unauthBulkMax+1)

	t.Run("multibulk count above the unauthenticated limit", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(fmt.Sprintf("*%d\r\n", unauthMultibulkMax+1))
		c.expect(errUnauthMultibulk)
		c.expectClosed()
		ctl.ping()
	})
	t.Run("bulk length above the unauthenticated limit", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(fmt.Sprintf("*2\r\n$4\r\nECHO\r\n$%d\r\n", unauthBulkMax+1))
		c.expect(errUnauthBulk)
		c.expectClosed()
		ctl.ping()
	})
	t.Run("requests within the unauthenticated limits get NOAUTH", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(command(tenArgs...))
		c.expect(errNoAuthRaw)
		c.send(command("ECHO", bigValue[:unauthBulkMax]))
		c.expect(errNoAuthRaw)
		c.send(command("PING"))
		c.expect(errNoAuthRaw)
		ctl.ping()
	})
	t.Run("AUTH lifts the limits", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		c.send(command("AUTH", "default", testPassword))
		c.expect("+OK")
		c.send(command(elevenArgs...))
		c.expect("+OK")
		c.send(command("SET", "big", bigValue))
		c.expect("+OK")
		c.send(command("STRLEN", "big"))
		c.expect(":" + strconv.Itoa(len(bigValue)))
	})
}

// streamCase is a request that never completes: a header, then chunks
// produced by next until it returns nil.
type streamCase struct {
	name   string
	flags  []string
	header string
	next   func(sent int) []byte
}

func TestHostileMemoryBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the server's resident memory from /proc, which only Linux has")
	}
	filler := bytes.Repeat([]byte("x"), streamChunk)
	fill := func(sent int) []byte {
		if sent >= streamTotal {
			return nil
		}
		return filler
	}
	arg := []byte(fmt.Sprintf("$%d\r\n%s\r\n", streamArgLen, bytes.Repeat([]byte("a"), streamArgLen)))
	args := bytes.Repeat(arg, streamChunk/streamArgLen)
	argsChunk := func(sent int) []byte {
		// Stop one argument short of completing the declared command.
		if sent+len(args) > (multibulkLimit-1)*len(arg) {
			return nil
		}
		return args
	}
	streamFlags := []string{
		"--proto-max-bulk-len", strconv.Itoa(streamBulkLimit),
		"--client-query-buffer-limit", strconv.Itoa(streamQueryBufferLimit),
		"--max-multibulk-len", strconv.Itoa(multibulkLimit),
	}
	cases := []streamCase{
		{name: "endless inline line", flags: streamFlags, next: fill},
		{name: "endless bulk string", flags: streamFlags, header: fmt.Sprintf("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", streamTotal), next: fill},
		{name: "endless argument list", flags: streamFlags, header: fmt.Sprintf("*%d\r\n", multibulkLimit), next: argsChunk},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.flags...)
			ctl := dialRaw(t, srv.port)
			ctl.ping()
			base := rss(t, srv.pid())
			peak := base

			c := dialRaw(t, srv.port)
			sent := 0
			err := c.write([]byte(tc.header))
			for chunk := tc.next(sent); err == nil && chunk != nil; chunk = tc.next(sent) {
				err = c.write(chunk)
				sent += len(chunk)
				peak = max(peak, rss(t, srv.pid()))
				ctl.ping()
			}
			switch {
			case err == nil:
				t.Fatalf("server read all %d bytes of an incomplete request without closing the connection (query buffer limit %d)", sent, streamQueryBufferLimit)
			case errors.Is(err, os.ErrDeadlineExceeded):
				t.Fatalf("server stopped reading after %d bytes but kept the connection open", sent)
			case !closedErr(err):
				t.Fatalf("write after %d bytes: %v", sent, err)
			}
			c.waitClosed(time.Now().Add(replyTimeout))
			peak = max(peak, rss(t, srv.pid()))
			if growth := peak - base; growth > rssGrowthLimit {
				t.Errorf("server RSS grew by %d MiB (from %d MiB), want at most %d MiB", growth>>20, base>>20, rssGrowthLimit>>20)
			}
			t.Logf("closed after %d bytes sent; RSS %d MiB -> peak %d MiB", sent, base>>20, peak>>20)
			ctl.ping()
		})
	}
}

func TestHostileGarbage(t *testing.T) {
	srv := startServer(t, limitFlags...)
	ctl := dialRaw(t, srv.port)
	ctl.ping()

	rng := rand.New(rand.NewPCG(garbageSeed, garbageSeed))
	seeds := []string{
		command("PING"),
		command("ECHO", "hello"),
		command("SET", "g:k", "v", "EX", "100"),
		command("GET", "g:k"),
		command("HSET", "g:h", "f", "v", "f2", "v2"),
		command("HGETALL", "g:h"),
		command("INCRBY", "g:n", "5"),
		command("MGET", "g:k", "g:n", "g:missing"),
		command("SCAN", "0", "MATCH", "g:*", "COUNT", "10"),
		command("HELLO", "3"),
		"SET g:inline \"quoted value\"\r\n",
	}
	tokens := []string{"*", "$", ":", "+", "-", "%", "~", "_", "\r\n", "\n", "\r", "-1", "0", "1", "2", "9223372036854775808", "99999999999", "abc", "\x00", "\xff", " ", "\"", "'"}
	random := func() []byte {
		b := make([]byte, 1+rng.IntN(garbageMaxLen))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	mutated := func() []byte {
		var b []byte
		for range 1 + rng.IntN(4) {
			b = append(b, seeds[rng.IntN(len(seeds))]...)
		}
		for range 1 + rng.IntN(garbageMaxMutations) {
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b[i] = byte(rng.UintN(256))
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = append(b[:i], append([]byte(tokens[rng.IntN(len(tokens))]), b[i:]...)...)
			case 3:
				b = b[:i+1]
			}
			if len(b) == 0 {
				b = []byte(seeds[0])
			}
		}
		return b
	}
	tokenSoup := func() []byte {
		var b []byte
		for range 1 + rng.IntN(64) {
			b = append(b, tokens[rng.IntN(len(tokens))]...)
		}
		return b
	}
	kinds := []func() []byte{random, mutated, tokenSoup}

	for i := range garbageCases {
		input := kinds[i%len(kinds)]()
		c := dialRaw(t, srv.port)
		if err := c.write(input); err != nil && !closedErr(err) {
			t.Fatalf("case %d: write %q: %v", i, input, err)
		}
		// Half-close so a server waiting for the rest of a request sees EOF.
		c.conn.CloseWrite()
		c.conn.SetReadDeadline(time.Now().Add(replyTimeout))
		if _, err := io.Copy(io.Discard, c.r); err != nil && !closedErr(err) {
			t.Fatalf("case %d: server neither answered nor closed after client EOF: %v\ninput: %q", i, err, input)
		}
		c.conn.Close()
		if !srv.running() {
			t.Fatalf("case %d: server exited\ninput: %q", i, input)
		}
		ctl.ping()
	}
	if strings.Contains(strings.ToLower(srv.logs()), "panic") {
		t.Errorf("server logged a panic:\n%s", srv.logs())
	}
}

func TestHostileMaxClients(t *testing.T) {
	srv := startServer(t, "--maxclients", strconv.Itoa(maxClients))
	var admitted []*rawClient
	for range maxClients {
		c := dialRaw(t, srv.port)
		c.ping()
		admitted = append(admitted, c)
	}
	rejected := dialRaw(t, srv.port)
	rejected.expect(errMaxClients)
	rejected.expectClosed()
	for _, c := range admitted {
		c.ping()
	}
}

func TestHostileIdleTimeout(t *testing.T) {
	srv := startServer(t, "--timeout", strconv.Itoa(int(idleTimeout/time.Second)))
	// idleClosed checks that c, idle since start, is closed at the
	// timeout, without a reply.
	idleClosed := func(c *rawClient, start time.Time) {
		t.Helper()
		if rest := c.waitClosed(start.Add(idleTimeout + idleMargin)); len(rest) > 0 {
			t.Errorf("idle close sent %q, want nothing", rest)
		}
		if elapsed := time.Since(start); elapsed < idleTimeout {
			t.Errorf("idle connection closed after %v, before the %v timeout", elapsed, idleTimeout)
		} else {
			t.Logf("idle connection closed after %v", elapsed)
		}
	}
	t.Run("a connection on its event loop", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		start := time.Now()
		c.ping()
		idleClosed(c, start)
		dialRaw(t, srv.port).ping()
	})
	t.Run("a connection that left its event loop", func(t *testing.T) {
		c := dialRaw(t, srv.port)
		// A stream read leaves the loop for good; the connection then
		// reads its socket from its own goroutine, with the deadline.
		c.send(command("XAPPEND", "idle:stream", "m"))
		if _, err := c.reply(); err != nil {
			t.Fatal(err)
		}
		c.send(command("XFETCH", "idle:stream", "PARTITION", "0"))
		if first, err := c.reply(); err != nil || first != "*1" {
			t.Fatalf("XFETCH: %q, %v", first, err)
		}
		// The last command, INFO, starts the idle time.
		start := time.Now()
		c.expectOnLoop(1)
		idleClosed(c, start)
		dialRaw(t, srv.port).ping()
	})
}
