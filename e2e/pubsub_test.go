package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// psManySubscribers is the number of subscribed connections of the
	// fan-out test, as the issue asks.
	psManySubscribers = 10000
	// psDialers is how many goroutines open those connections.
	psDialers = 32
	// psSlowPayload is the payload size the slow-consumer tests publish.
	psSlowPayload = 64 << 10
	// psHardLimit, psSoftLimit and psSoftSeconds are the small output buffer
	// limits of the slow-consumer tests.
	psHardLimit   = 1 << 20
	psSoftLimit   = 256 << 10
	psSoftSeconds = 2
	// psSoftMargin is the time allowed past the soft limit's seconds: the
	// limit is checked when a message is queued, which the test does at once.
	psSoftMargin = 500 * time.Millisecond
	// psIdleTimeout is the --timeout of the idle test.
	psIdleTimeout = time.Second
	// psIdleMargin is the lateness allowed when the server closes an idle client.
	psIdleMargin = 1500 * time.Millisecond
)

// topicSpace returns a function that puts a test's topics under a first
// level of their own, so that wildcards in later levels stay inside it.
func topicSpace(prefix string) func(string) string {
	space := strings.TrimSuffix(keyer(prefix)(""), ":")
	return func(name string) string { return space + "/" + name }
}

// errSubscriberMode is the reply to a command a RESP2 subscriber may not run.
func errSubscriberMode(cmd string) string {
	return "ERR Can't execute '" + cmd + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

// psValue is one RESP2 or RESP3 value.
type psValue struct {
	kind  byte // the RESP type byte; '_' for any null
	str   string
	elems []psValue
}

// String renders v compactly for comparisons: strings quoted, integers
// bare, nil, [a b] for arrays and maps, >[a b] for pushes, -ERR … for errors.
func (v psValue) String() string {
	switch v.kind {
	case '+', '$', '=', ',', '#':
		return strconv.Quote(v.str)
	case ':':
		return v.str
	case '-', '!':
		return "-" + v.str
	case '_':
		return "nil"
	}
	parts := make([]string, len(v.elems))
	for i, e := range v.elems {
		parts[i] = e.String()
	}
	prefix := ""
	if v.kind == '>' {
		prefix = ">"
	}
	return prefix + "[" + strings.Join(parts, " ") + "]"
}

// psConn is a raw RESP connection that reads replies and pushes as values.
type psConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func psDial(t testing.TB, port int) *psConn {
	t.Helper()
	c, err := psTryDial(port)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.t = t
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func psTryDial(port int) (*psConn, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), replyTimeout)
	if err != nil {
		return nil, err
	}
	return &psConn{conn: conn, r: bufio.NewReader(conn)}, nil
}

// send writes one command.
func (c *psConn) send(args ...string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := io.WriteString(c.conn, command(args...)); err != nil {
		c.t.Fatalf("send %q: %v", args, err)
	}
}

// read reads the next value, replies and pushes alike.
func (c *psConn) read() psValue {
	c.t.Helper()
	v, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return v
}

func (c *psConn) tryRead() (psValue, error) {
	c.conn.SetReadDeadline(time.Now().Add(replyTimeout))
	return readPSValue(c.r)
}

// expect reads one value per want and compares their renderings.
func (c *psConn) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		if got := c.read().String(); got != w {
			c.t.Fatalf("got %s, want %s", got, w)
		}
	}
}

// do sends a command and returns the rendering of its reply.
func (c *psConn) do(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.read().String()
}

func readPSValue(r *bufio.Reader) (psValue, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return psValue{}, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return psValue{}, errors.New("empty line")
	}
	v := psValue{kind: line[0], str: line[1:]}
	switch v.kind {
	case '$', '=', '!':
		n, _ := strconv.Atoi(v.str)
		if n < 0 {
			return psValue{kind: '_'}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return psValue{}, err
		}
		v.str = string(buf[:n])
		if v.kind == '=' {
			v.str = v.str[len("txt:"):]
		}
	case '*', '>', '~', '%':
		n, _ := strconv.Atoi(v.str)
		if n < 0 {
			return psValue{kind: '_'}, nil
		}
		if v.kind == '%' {
			n *= 2
		}
		for range n {
			e, err := readPSValue(r)
			if err != nil {
				return psValue{}, err
			}
			v.elems = append(v.elems, e)
		}
	case '_':
		v.str = ""
	}
	return v, nil
}

// psInfo returns the fields of INFO section as a map.
func psInfo(t testing.TB, c *psConn, section string) map[string]string {
	t.Helper()
	c.send("INFO", section)
	return infoFields(c.read().str)
}

// infoFields returns the field:value lines of INFO text as a map.
func infoFields(text string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(text, "\r\n") {
		if k, val, ok := strings.Cut(l, ":"); ok {
			out[k] = val
		}
	}
	return out
}

// psCLISubscriber is a redis-cli process in its subscribe mode; its output
// lines arrive on lines.
type psCLISubscriber struct {
	lines chan string
}

// startCLISubscriber runs redis-cli with args (raw output) until the test ends.
func startCLISubscriber(t *testing.T, port int, args ...string) *psCLISubscriber {
	t.Helper()
	requireRedisCLI(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, redisCLIName, append([]string{"-p", strconv.Itoa(port)}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-cli %v: %v", args, err)
	}
	s := &psCLISubscriber{lines: make(chan string, 1024)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return s
}

// expect reads the next output lines and compares them with want.
func (s *psCLISubscriber) expect(t *testing.T, want ...string) {
	t.Helper()
	var got []string
	deadline := time.After(cliTimeout)
	for len(got) < len(want) {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("redis-cli exited; printed %q, want %q", got, want)
			}
			got = append(got, l)
		case <-deadline:
			t.Fatalf("redis-cli printed %q within %v, want %q", got, cliTimeout, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("redis-cli printed %q, want %q", got, want)
	}
}

func TestPubSubCLI(t *testing.T) {
	srv := sharedServer(t)
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			k := topicSpace("pubsub")
			var subFlags []string
			if p.name == resp3.name {
				subFlags = []string{"-3"}
			}
			channel := startCLISubscriber(t, srv.port, append(slices.Clone(subFlags), "SUBSCRIBE", k("a/b"))...)
			channel.expect(t, "subscribe", k("a/b"), "1")
			pattern := startCLISubscriber(t, srv.port, append(slices.Clone(subFlags), "PSUBSCRIBE", k("a/*"))...)
			pattern.expect(t, "psubscribe", k("a/*"), "1")

			runSteps(t, srv.port, p, []cliStep{
				step("(integer) 2", "PUBLISH", k("a/b"), "hello"),
				step("(integer) 2", "PPUB", k("a/b"), "wor ld"),
				step("(integer) 1", "PPUB", k("a/c"), "21.5", "RETAIN"),
				step("(integer) 0", "PPUB", k("other"), "x", "RETAIN"),
				step("(integer) 1", "PUBLISH", k("a/+"), "plus is a plain character here"),
			})
			channel.expect(t, "message", k("a/b"), "hello", "message", k("a/b"), "wor ld")
			pattern.expect(t,
				"pmessage", k("a/*"), k("a/b"), "hello",
				"pmessage", k("a/*"), k("a/b"), "wor ld",
				"pmessage", k("a/*"), k("a/c"), "21.5",
				"pmessage", k("a/*"), k("a/+"), "plus is a plain character here")

			runSteps(t, srv.port, p, []cliStep{
				stepMatch(`1\) 1\) "`+regexp.QuoteMeta(k("a/c"))+`"\n   2\) "21\.5"\n   3\) \(integer\) \d+`, "PRETAINED", k("a/#")),
				step(`1) "`+k("a/b")+`"`+"\n"+`2) (integer) 1`+"\n"+`3) "`+k("none")+`"`+"\n"+`4) (integer) 0`,
					"PUBSUB", "NUMSUB", k("a/b"), k("none")),
				step(`1) "`+k("a/b")+`"`, "PUBSUB", "CHANNELS", k("a/*")),
				stepMatch(`\(integer\) [1-9]\d*`, "PUBSUB", "NUMPAT"),
				step("(integer) 1", "PDELRETAINED", k("+")),
				step("(integer) 1", "PDELRETAINED", k("#")),
				step("(empty array)", "PRETAINED", k("#")),
				step("(error) ERR invalid topic filter: '#' must be the last level (a/#)", "PSUB", k("a/#/b")),
				step("(error) ERR invalid topic filter: '+' and '#' must be a whole level (a/+/b, a/#)", "PRETAINED", k("a+")),
				step("(error) ERR invalid topic: a topic name cannot contain '+' or '#' (wildcards belong in filters)", "PPUB", k("a/+"), "x"),
				step("(error) ERR invalid topic: it is empty", "PPUB", "", "x"),
				step(errSyntax, "PPUB", k("a"), "x", "KEEP"),
				step(errArity("ppub"), "PPUB", k("a")),
				step("(error) ERR unknown subcommand 'NOPE'. Try PUBSUB HELP.", "PUBSUB", "NOPE"),
			})
		})
	}

	t.Run("RESP2 subscriber mode", func(t *testing.T) {
		k := topicSpace("pubsub-mode")
		out := redisCLIInput(t, srv.port, strings.Join([]string{
			"PSUB " + k("f/+"), "GET x", "PING", "PING hi", "HGET h f", "PUNSUB", "GET " + k("x"),
		}, "\n")+"\n", "--no-raw")
		want := strings.Join([]string{
			`1) "psubscribe"`, `2) "` + k("f/+") + `"`, `3) (integer) 1`,
			"(error) " + errSubscriberMode("get"),
			`1) "pong"`, `2) ""`,
			`1) "pong"`, `2) "hi"`,
			"(error) " + errSubscriberMode("hget"),
			`1) "punsubscribe"`, `2) "` + k("f/+") + `"`, `3) (integer) 0`,
			"(nil)",
		}, "\n")
		if out != want {
			t.Errorf("got\n%s\nwant\n%s", out, want)
		}
	})
}

func TestPubSubProtocol(t *testing.T) {
	srv := sharedServer(t)
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+strconv.Itoa(proto), func(t *testing.T) {
			k := topicSpace("pubsub-proto")
			push := "["
			if proto == 3 {
				push = ">["
			}
			// The confirmation and message shapes of every kind.
			pub := psDial(t, srv.port)
			if got := pub.do("PPUB", k("t/1"), "retained one", "RETAIN"); got != "0" {
				t.Fatalf("PPUB RETAIN = %s", got)
			}
			sub := psDial(t, srv.port)
			if proto == 3 {
				sub.send("HELLO", "3")
				sub.read()
			}
			sub.send("PSUB", k("t/+"), k("t/#"))
			sub.expect(
				push+`"psubscribe" "`+k("t/+")+`" 1]`,
				push+`"pmessage" "`+k("t/+")+`" "`+k("t/1")+`" "retained one" "retained"]`,
				push+`"psubscribe" "`+k("t/#")+`" 2]`,
				push+`"pmessage" "`+k("t/#")+`" "`+k("t/1")+`" "retained one" "retained"]`,
			)
			sub.send("SUBSCRIBE", k("t/2"))
			sub.expect(push + `"subscribe" "` + k("t/2") + `" 3]`)
			sub.send("PSUBSCRIBE", k("t/*"))
			sub.expect(push + `"psubscribe" "` + k("t/*") + `" 4]`)
			if got := pub.do("PUBLISH", k("t/2"), "live"); got != "4" {
				t.Errorf("PUBLISH reached %s, want 4 subscriptions of one connection", got)
			}
			var msgs []string
			for range 4 {
				msgs = append(msgs, sub.read().String())
			}
			slices.Sort(msgs)
			want := []string{
				push + `"message" "` + k("t/2") + `" "live"]`,
				push + `"pmessage" "` + k("t/#") + `" "` + k("t/2") + `" "live"]`,
				push + `"pmessage" "` + k("t/*") + `" "` + k("t/2") + `" "live"]`,
				push + `"pmessage" "` + k("t/+") + `" "` + k("t/2") + `" "live"]`,
			}
			slices.Sort(want)
			if !slices.Equal(msgs, want) {
				t.Errorf("messages %q, want %q", msgs, want)
			}

			// Commands while subscribed.
			if proto == 3 {
				if got := sub.do("GET", k("nothing")); got != "nil" {
					t.Errorf("RESP3 GET while subscribed = %s", got)
				}
				if got := sub.do("PING"); got != `"PONG"` {
					t.Errorf("RESP3 PING while subscribed = %s", got)
				}
			} else {
				if got := sub.do("GET", k("nothing")); got != "-"+errSubscriberMode("get") {
					t.Errorf("RESP2 GET while subscribed = %s", got)
				}
				if got := sub.do("PING", "x"); got != `["pong" "x"]` {
					t.Errorf("RESP2 PING while subscribed = %s", got)
				}
			}
			list := psDial(t, srv.port)
			if got := list.do("CLIENT", "LIST", "TYPE", "PUBSUB"); !regexp.MustCompile(`flags=P db=0 sub=1 psub=3 `).MatchString(got) {
				t.Errorf("CLIENT LIST TYPE PUBSUB = %s", got)
			}

			// Unsubscribing.
			sub.send("UNSUBSCRIBE")
			sub.expect(push + `"unsubscribe" "` + k("t/2") + `" 3]`)
			sub.send("PUNSUBSCRIBE", k("t/*"), k("never"))
			sub.expect(push+`"punsubscribe" "`+k("t/*")+`" 2]`, push+`"punsubscribe" "`+k("never")+`" 2]`)
			sub.send("PUNSUB", k("t/+"))
			if proto == 3 {
				sub.expect("1")
			} else {
				sub.expect(`["punsubscribe" "` + k("t/+") + `" 1]`)
			}
			sub.send("PUNSUB")
			if proto == 3 {
				sub.expect("0")
			} else {
				sub.expect(`["punsubscribe" "` + k("t/#") + `" 0]`)
			}
			sub.send("UNSUBSCRIBE")
			sub.expect(push + `"unsubscribe" nil 0]`)
			if got := sub.do("GET", k("nothing")); got != "nil" {
				t.Errorf("GET after unsubscribing everything = %s", got)
			}

			// RESET drops every subscription without confirmations.
			sub.send("PSUB", k("r/#"))
			sub.expect(push + `"psubscribe" "` + k("r/#") + `" 1]`)
			if got := sub.do("RESET"); got != `"RESET"` {
				t.Errorf("RESET = %s", got)
			}
			if got := pub.do("PPUB", k("r/x"), "v"); got != "0" {
				t.Errorf("PPUB after RESET reached %s", got)
			}
		})
	}

	t.Run("a pipeline's replies, confirmations and messages keep their order", func(t *testing.T) {
		k := topicSpace("pubsub-order")
		c := psDial(t, srv.port)
		c.send("HELLO", "3")
		c.read()
		c.conn.Write([]byte(command("PPUB", k("o"), "v1", "RETAIN") + command("PSUB", k("o")) +
			command("PPUB", k("o"), "v2", "RETAIN") + command("PING")))
		c.expect("0",
			`>["psubscribe" "`+k("o")+`" 1]`,
			`>["pmessage" "`+k("o")+`" "`+k("o")+`" "v1" "retained"]`,
			`>["pmessage" "`+k("o")+`" "`+k("o")+`" "v2"]`,
			"1",
			`"PONG"`)
	})
}

// TestPubSubRetainedCrash: retained values acknowledged before a kill -9
// are there after the restart, and a new subscriber receives them.
func TestPubSubRetainedCrash(t *testing.T) {
	dir := t.TempDir()
	s, err := launch(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	c := psDial(t, s.port)
	for i := range 50 {
		c.send("PPUB", fmt.Sprintf("dev/%d/state", i%10), fmt.Sprintf("v%d", i), "RETAIN")
	}
	for range 50 {
		c.expect("0")
	}
	if got := c.do("PPUB", "dev/9/state", "", "RETAIN"); got != "0" {
		t.Fatalf("clearing: %s", got)
	}
	if got := c.do("PDELRETAINED", "dev/+/none/#"); got != "0" {
		t.Fatalf("PDELRETAINED nothing: %s", got)
	}
	if got := c.do("PDELRETAINED", "dev/8/#"); got != "1" {
		t.Fatalf("PDELRETAINED: %s", got)
	}
	s.kill()

	s, err = launch(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	sub := psDial(t, s.port)
	sub.send("PSUB", "dev/+/state")
	sub.expect(`["psubscribe" "dev/+/state" 1]`)
	for i := range 8 {
		sub.expect(fmt.Sprintf(`["pmessage" "dev/+/state" "dev/%d/state" "v%d" "retained"]`, i, 40+i))
	}
	info := psInfo(t, psDial(t, s.port), "pubsub")
	if info["pubsub_retained"] != "8" {
		t.Errorf("INFO pubsub after restart: %v", info)
	}
}

// TestPubSubReconnect: a subscriber that reconnects and subscribes again
// gets the current retained values again.
func TestPubSubReconnect(t *testing.T) {
	srv := sharedServer(t)
	k := topicSpace("pubsub-reconnect")
	pub := psDial(t, srv.port)
	pub.do("PPUB", k("lamp/1"), "on", "RETAIN")
	sub := psDial(t, srv.port)
	sub.send("PSUB", k("lamp/+"))
	sub.expect(`["psubscribe" "`+k("lamp/+")+`" 1]`, `["pmessage" "`+k("lamp/+")+`" "`+k("lamp/1")+`" "on" "retained"]`)
	sub.conn.Close()
	pub.do("PPUB", k("lamp/1"), "off", "RETAIN")
	pub.do("PPUB", k("lamp/2"), "on", "RETAIN")
	sub = psDial(t, srv.port)
	sub.send("PSUB", k("lamp/+"))
	sub.expect(`["psubscribe" "`+k("lamp/+")+`" 1]`,
		`["pmessage" "`+k("lamp/+")+`" "`+k("lamp/1")+`" "off" "retained"]`,
		`["pmessage" "`+k("lamp/+")+`" "`+k("lamp/2")+`" "on" "retained"]`)
	if got := pub.do("PPUB", k("lamp/2"), "dim"); got != "1" {
		t.Fatalf("PPUB reached %s", got)
	}
	sub.expect(`["pmessage" "` + k("lamp/+") + `" "` + k("lamp/2") + `" "dim"]`)
}

// kernelBacklog bounds what the kernel can hold between a server that
// writes and a client that never reads: the largest send and receive
// buffers TCP autotuning may grow to.
func kernelBacklog(t *testing.T) int {
	t.Helper()
	total := 0
	for _, f := range []string{"/proc/sys/net/ipv4/tcp_wmem", "/proc/sys/net/ipv4/tcp_rmem"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Skipf("cannot bound the kernel's socket buffers: %v", err)
		}
		fields := strings.Fields(string(data))
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			t.Fatalf("%s: %q", f, data)
		}
		total += n
	}
	return total
}

// stalledSubscriber subscribes to filter and never reads again.
func stalledSubscriber(t *testing.T, port int, filter string) *psConn {
	t.Helper()
	c := psDial(t, port)
	c.send("PSUB", filter)
	c.expect(`["psubscribe" "` + filter + `" 1]`)
	return c
}

// publishBytes publishes at least total bytes of payload on topic, and
// checks that every publish is answered: a stalled subscriber never holds
// the publisher up. The publishes are pipelined, so that they take as
// little of a limit's seconds as the server needs to queue them.
func publishBytes(t *testing.T, pub *psConn, topic string, total int) {
	t.Helper()
	payload := strings.Repeat("x", psSlowPayload)
	sent := 0
	for ; sent*psSlowPayload < total; sent++ {
		pub.send("PPUB", topic, payload)
	}
	for range sent {
		if v := pub.read(); v.kind != ':' {
			t.Fatalf("PPUB = %s", v)
		}
	}
}

func TestPubSubSlowConsumer(t *testing.T) {
	backlog := kernelBacklog(t)
	t.Run("hard limit", func(t *testing.T) {
		srv := startServer(t, "--client-output-buffer-limit", fmt.Sprintf("pubsub %d 0 0", psHardLimit))
		slow := stalledSubscriber(t, srv.port, "feed/#")
		fast := psDial(t, srv.port)
		fast.send("PSUB", "feed/#")
		fast.read()
		pub := psDial(t, srv.port)
		sent := 0
		payload := strings.Repeat("x", psSlowPayload)
		for ; sent < backlog+2*psHardLimit; sent += psSlowPayload {
			pub.send("PPUB", "feed/x", payload)
			pub.read()
			if v := fast.read(); len(v.elems) != 4 || len(v.elems[3].str) != psSlowPayload {
				t.Fatalf("the reading subscriber got %.80s", v)
			}
		}
		info := psInfo(t, pub, "pubsub")
		if info["pubsub_slow_consumer_disconnects"] != "1" || info["pubsub_clients"] != "1" {
			t.Errorf("INFO pubsub: %v", info)
		}
		slow.conn.SetReadDeadline(time.Now().Add(replyTimeout))
		if _, err := io.Copy(io.Discard, slow.conn); err != nil && !closedErr(err) {
			t.Errorf("the slow subscriber's connection: %v, want it closed", err)
		}
		if got := pub.do("PPUB", "feed/x", "after"); got != "1" {
			t.Errorf("PPUB after the disconnect reached %s, want the reading subscriber only", got)
		}
	})

	t.Run("soft limit for its seconds", func(t *testing.T) {
		srv := startServer(t, "--client-output-buffer-limit", fmt.Sprintf("pubsub 0 %d %d", psSoftLimit, psSoftSeconds))
		slow := stalledSubscriber(t, srv.port, "feed/#")
		pub := psDial(t, srv.port)
		start := time.Now()
		publishBytes(t, pub, "feed/x", backlog+2*psSoftLimit)
		over := time.Now()
		// The subscriber went over the soft limit at some moment of the
		// publishing, so it must still be connected only while less than
		// the limit's seconds (less the margin, for the checks' own round
		// trips) have passed since the publishing began: on a machine so
		// loaded that publishing took longer, the server may rightly have
		// closed it already.
		if time.Since(start) < psSoftSeconds*time.Second-psSoftMargin {
			if info := psInfo(t, pub, "pubsub"); info["pubsub_slow_consumer_disconnects"] != "0" {
				t.Fatalf("disconnected before the soft limit's seconds: %v", info)
			}
			list := pub.do("CLIENT", "LIST", "TYPE", "PUBSUB")
			m := regexp.MustCompile(`omem=(\d+)`).FindStringSubmatch(list)
			if m == nil {
				t.Fatalf("CLIENT LIST: %s", list)
			}
			if omem, _ := strconv.Atoi(m[1]); omem <= psSoftLimit {
				t.Fatalf("omem=%d, not over the soft limit %d", omem, psSoftLimit)
			}
		} else {
			t.Logf("publishing took %v, near the soft limit's %d s: the checks before them are skipped", over.Sub(start), psSoftSeconds)
		}
		time.Sleep(time.Until(over.Add(psSoftSeconds*time.Second + psSoftMargin)))
		if got := pub.do("PPUB", "feed/x", "one more"); got != "0" {
			t.Errorf("PPUB past the soft limit's seconds reached %s", got)
		}
		if info := psInfo(t, pub, "pubsub"); info["pubsub_slow_consumer_disconnects"] != "1" {
			t.Errorf("INFO pubsub: %v", info)
		}
		slow.conn.SetReadDeadline(time.Now().Add(replyTimeout))
		if _, err := io.Copy(io.Discard, slow.conn); err != nil && !closedErr(err) {
			t.Errorf("the slow subscriber's connection: %v, want it closed", err)
		}
	})
}

// TestPubSubIdleTimeout: --timeout closes idle clients but not subscribers.
func TestPubSubIdleTimeout(t *testing.T) {
	srv := startServer(t, "--timeout", strconv.Itoa(int(psIdleTimeout/time.Second)))
	sub := psDial(t, srv.port)
	sub.send("SUBSCRIBE", "news")
	sub.expect(`["subscribe" "news" 1]`)
	idle := dialRaw(t, srv.port)
	start := time.Now()
	idle.ping()
	idle.waitClosed(start.Add(psIdleTimeout + psIdleMargin))
	pub := psDial(t, srv.port)
	if got := pub.do("PUBLISH", "news", "still here"); got != "1" {
		t.Fatalf("PUBLISH after the idle timeout reached %s", got)
	}
	sub.expect(`["message" "news" "still here"]`)
}

// raiseFileLimit makes sure this process (and the server it starts, which
// inherits the limit) may open n more descriptors.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur < n && lim.Max >= n {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("setrlimit: %v", err)
		}
	}
	if lim.Cur < n {
		t.Skipf("RLIMIT_NOFILE is %d, the test needs %d descriptors", lim.Cur, n)
	}
}

// TestPubSubTenThousandSubscribers: 10,000 subscribed connections on one
// server; one publish reaches all of them.
func TestPubSubTenThousandSubscribers(t *testing.T) {
	const fdMargin = 256 // descriptors for the server's own files and the test's other connections
	raiseFileLimit(t, psManySubscribers+fdMargin)
	srv := startServer(t, "--maxclients", strconv.Itoa(psManySubscribers+fdMargin))
	pub := psDial(t, srv.port)
	pub.do("PPUB", "fleet/0/cmd", "boot", "RETAIN")

	subs := make([]*psConn, psManySubscribers)
	var wg sync.WaitGroup
	errs := make(chan error, psDialers)
	for d := range psDialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < psManySubscribers; i += psDialers {
				c, err := psTryDial(srv.port)
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				c.t = t
				subs[i] = c
				want := []string{`["psubscribe" "fleet/+/cmd" 1]`, `["pmessage" "fleet/+/cmd" "fleet/0/cmd" "boot" "retained"]`}
				args := []string{"PSUB", "fleet/+/cmd"}
				if i%2 == 1 {
					want = []string{`["subscribe" "fleet/7/cmd" 1]`}
					args = []string{"SUBSCRIBE", "fleet/7/cmd"}
				}
				c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
				if _, err := io.WriteString(c.conn, command(args...)); err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					return
				}
				for _, w := range want {
					v, err := c.tryRead()
					if err != nil || v.String() != w {
						errs <- fmt.Errorf("subscriber %d: got %s (%v), want %s", i, v, err, w)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range subs {
			if c != nil {
				c.conn.Close()
			}
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if info := psInfo(t, pub, "pubsub"); info["pubsub_clients"] != strconv.Itoa(psManySubscribers) {
		t.Fatalf("INFO pubsub: %v", info)
	}
	if got := pub.do("PPUB", "fleet/7/cmd", "go"); got != strconv.Itoa(psManySubscribers) {
		t.Fatalf("PPUB reached %s subscribers, want %d", got, psManySubscribers)
	}
	for i, c := range subs {
		want := `["pmessage" "fleet/+/cmd" "fleet/7/cmd" "go"]`
		if i%2 == 1 {
			want = `["message" "fleet/7/cmd" "go"]`
		}
		if v, err := c.tryRead(); err != nil || v.String() != want {
			t.Fatalf("subscriber %d got %s (%v), want %s", i, v, err, want)
		}
	}
}

// keyspaceWatcher starts a server with args and returns a connection
// subscribed to every keyspace notification channel and one to send with.
func keyspaceWatcher(t *testing.T, args ...string) (sub, c *psConn) {
	t.Helper()
	srv := startServer(t, args...)
	sub = psDial(t, srv.port)
	sub.send("PSUBSCRIBE", "__key*__:*")
	sub.expect(`["psubscribe" "__key*__:*" 1]`)
	return sub, psDial(t, srv.port)
}

func TestKeyspaceNotifications(t *testing.T) {
	t.Run("store events reach keyspace and keyevent subscribers, expiry included", func(t *testing.T) {
		sub, c := keyspaceWatcher(t, "--notify-keyspace-events", "KEA")
		c.do("SET", "k", "v", "PX", strconv.FormatInt(shortTTL.Milliseconds(), 10))
		c.do("HSET", "h", "f", "v")
		c.do("DEL", "h", "missing")
		event := func(channel, message string) string {
			return `["pmessage" "__key*__:*" "` + channel + `" "` + message + `"]`
		}
		sub.expect(
			event("__keyspace@0__:k", "set"), event("__keyevent@0__:set", "k"),
			event("__keyspace@0__:k", "expire"), event("__keyevent@0__:expire", "k"),
			event("__keyspace@0__:h", "hset"), event("__keyevent@0__:hset", "h"),
			event("__keyspace@0__:h", "del"), event("__keyevent@0__:del", "h"),
			// The active expiry cycle reclaims k without anyone reading it.
			event("__keyspace@0__:k", "expired"), event("__keyevent@0__:expired", "k"),
		)
	})

	t.Run("edge: only the chosen classes and channels are published; none by default", func(t *testing.T) {
		sub, c := keyspaceWatcher(t, "--notify-keyspace-events", "Eg")
		c.do("SET", "k", "v")
		c.do("DEL", "k")
		sub.expect(`["pmessage" "__key*__:*" "__keyevent@0__:del" "k"]`)

		quiet, other := keyspaceWatcher(t)
		other.do("SET", "k", "v")
		// Messages arrive in order: a notification of the SET would come
		// before the marker.
		quiet.send("PSUBSCRIBE", "marker")
		quiet.expect(`["psubscribe" "marker" 2]`)
		if got := other.do("PUBLISH", "marker", "after"); got != "1" {
			t.Fatalf("PUBLISH = %s", got)
		}
		quiet.expect(`["pmessage" "marker" "marker" "after"]`)
	})
}
