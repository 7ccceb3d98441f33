package e2e

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamBlock is the BLOCK of an XFETCH or XCONSUME that a test wakes with
// an append long before it ends.
const streamBlock = 10 * time.Second

// Stream error replies as redis-cli --no-raw prints them.
const (
	errNoStream    = "(error) NOSTREAM no such stream"
	errNoGroup     = "(error) NOGROUP no such consumer group"
	errBusyGroup   = "(error) BUSYGROUP the consumer group already exists"
	errBusyStream  = "(error) BUSYSTREAM the stream already exists"
	errOffsetRange = "(error) ERR offset out of range"
	errPartRange   = "(error) ERR partition out of range"
	errNotAssigned = "(error) NOTASSIGNED the partition is not assigned to this member"
	errShrink      = "(error) ERR the partition count of a stream can only grow"
)

// cliMessages splits the pairs of redis-cli output of stream messages at
// each "partition" field.
func cliMessages(t *testing.T, out string) []map[string]string {
	t.Helper()
	if out == "(empty array)" {
		return nil
	}
	var msgs []map[string]string
	for _, kv := range cliPairs(t, out) {
		if kv[0] == "partition" {
			msgs = append(msgs, map[string]string{})
		}
		if len(msgs) == 0 {
			t.Fatalf("message fields before a partition in\n%s", out)
		}
		msgs[len(msgs)-1][kv[0]] = kv[1]
	}
	return msgs
}

// values returns the offsets and values of messages as "offset=value".
func values(msgs []map[string]string) string {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, strings.TrimPrefix(m["offset"], "(integer) ")+"="+strings.Trim(m["value"], `"`))
	}
	return strings.Join(parts, " ")
}

func TestCLIStream(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := startServer(t)
			runSteps(t, srv.port, p, []cliStep{
				step("1) 1) (integer) 0\n   2) (integer) 0\n2) 1) (integer) 0\n   2) (integer) 1", "XAPPEND", "log", "a", "b"),
				step("1) 1) (integer) 0\n   2) (integer) 2", "XAPPEND", "log", "KEY", "k", "c"),
				step("OK", "XCREATE", "keyed", "PARTITIONS", "4"),
				step("1) \"keyed\"\n2) \"log\"", "XSTREAMS"),
				step(errBusyStream, "XCREATE", "log"),
				step(errNoStream, "XFETCH", "nope", "PARTITION", "0"),
				step(errPartRange, "XFETCH", "log", "PARTITION", "1"),
				step(errOffsetRange, "XFETCH", "log", "PARTITION", "0", "FROM", "4"),
				step("(empty array)", "XFETCH", "log", "PARTITION", "0", "FROM", "3"),
				step("(empty array)", "XFETCH", "log", "PARTITION", "0", "FROM", "LATEST"),
				step("(error) ERR PARTITION is required", "XFETCH", "log", "COUNT", "1"),
				step(errArity("xfetch"), "XFETCH", "log"),
				step(errSyntax, "XFETCH", "log", "PARTITION", "0", "FROM"),
				step("(error) ERR COUNT must be > 0", "XFETCH", "log", "PARTITION", "0", "COUNT", "0"),
				step(errShrink, "XALTER", "keyed", "PARTITIONS", "2"),
				step("OK", "XALTER", "keyed", "PARTITIONS", "5", "MAXMSGS", "100"),
				step("(error) ERR XAPPEND needs a payload after its options", "XAPPEND", "log", "KEY", "k"),
				step(errNoGroup, "XCONSUME", "log", "GROUP", "g", "MEMBER", "m"),
				step("OK", "XGROUPCREATE", "log", "g", "FROM", "LATEST"),
				step(errBusyGroup, "XGROUPCREATE", "log", "g"),
				step(errOffsetRange, "XGROUPCREATE", "log", "g2", "FROM", "9"),
				step(errNoStream, "XGROUPCREATE", "nope", "g"),
				step("(empty array)", "XCONSUME", "log", "GROUP", "g", "MEMBER", "m"),
				step(errNotAssigned, "XCOMMIT", "log", "GROUP", "g", "MEMBER", "other", "PARTITION", "0", "OFFSET", "1"),
				step("OK", "XSEEK", "log", "g", "FROM", "EARLIEST"),
				step("OK", "XLEAVE", "log", "GROUP", "g", "MEMBER", "m"),
				step("OK", "XGROUPDEL", "log", "g"),
				step(errNoGroup, "XGROUPDEL", "log", "g"),
			})
			if got := values(cliMessages(t, p.run(t, srv.port, "XFETCH", "log", "PARTITION", "0"))); got != "0=a 1=b 2=c" {
				t.Errorf("XFETCH from the earliest: %s", got)
			}
			if got := values(cliMessages(t, p.run(t, srv.port, "XFETCH", "log", "PARTITION", "0", "FROM", "1", "COUNT", "1"))); got != "1=b" {
				t.Errorf("XFETCH from offset 1: %s", got)
			}
			msgs := cliMessages(t, p.run(t, srv.port, "XFETCH", "log", "PARTITION", "0", "FROM", "2"))
			if len(msgs) != 1 || msgs[0]["key"] != `"k"` {
				t.Fatalf("the keyed message: %v", msgs)
			}
			first := cliMessages(t, p.run(t, srv.port, "XFETCH", "log", "PARTITION", "0", "COUNT", "1"))
			if first[0]["key"] != "(nil)" {
				t.Errorf("a message without a key has key %s, want (nil)", first[0]["key"])
			}
			at, err := strconv.ParseInt(strings.TrimPrefix(msgs[0]["time_ms"], "(integer) "), 10, 64)
			if err != nil {
				t.Fatalf("time_ms %q", msgs[0]["time_ms"])
			}
			// Append times never decrease, so the first message at or after
			// the last one's time is at most offset 2 and includes it.
			got := values(cliMessages(t, p.run(t, srv.port, "XFETCH", "log", "PARTITION", "0", "FROM", "TIME", strconv.FormatInt(at, 10))))
			if !strings.HasSuffix(got, "2=c") {
				t.Errorf("XFETCH from TIME %d: %s", at, got)
			}
			if got := p.run(t, srv.port, "XFETCH", "log", "PARTITION", "0", "FROM", "TIME", strconv.FormatInt(at+int64(time.Hour/time.Millisecond), 10)); got != "(empty array)" {
				t.Errorf("XFETCH from a future time: %s", got)
			}
			// The same key lands in the same partition.
			a := p.run(t, srv.port, "XAPPEND", "keyed", "KEY", "user-1", "x")
			b := p.run(t, srv.port, "XAPPEND", "keyed", "KEY", "user-1", "y")
			if strings.Split(a, "\n")[0] != strings.Split(b, "\n")[0] {
				t.Errorf("KEY user-1 went to two partitions:\n%s\n%s", a, b)
			}
			out := p.run(t, srv.port, "XSTREAMINFO", "keyed")
			if !strings.Contains(out, `"partitions"`) || !strings.Contains(out, "(integer) 5") {
				t.Errorf("XSTREAMINFO:\n%s", out)
			}
			waitInfo(t, srv.port, "streams", "2")
		})
	}
}

func TestStreamBlockingFetch(t *testing.T) {
	srv := startServer(t)
	runSteps(t, srv.port, resp2, []cliStep{step("1) 1) (integer) 0\n   2) (integer) 0", "XAPPEND", "tail", "first")})
	block := strconv.FormatInt(streamBlock.Milliseconds(), 10)
	fetched := cliAsync(t, srv.port, "--no-raw", "XFETCH", "tail", "PARTITION", "0", "FROM", "LATEST", "BLOCK", block)
	waitInfo(t, srv.port, "blocked_clients", "1")
	redisCLI(t, srv.port, "XAPPEND", "tail", "second")
	select {
	case out := <-fetched:
		if got := values(cliMessages(t, out)); got != "1=second" {
			t.Fatalf("blocked XFETCH got %q", out)
		}
	case <-time.After(streamBlock):
		t.Fatal("XFETCH stayed blocked after an append")
	}
	// A timed-out BLOCK answers an empty array.
	if got := redisCLI(t, srv.port, "--no-raw", "XFETCH", "tail", "PARTITION", "0", "FROM", "2", "BLOCK", strconv.FormatInt(shortBlock.Milliseconds(), 10)); got != "(empty array)" {
		t.Fatalf("timed-out XFETCH: %q", got)
	}
}

func TestStreamGroupsRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *server {
		t.Helper()
		return startOn(t, dir, "--fsync", "always")
	}
	s := start()
	runSteps(t, s.port, resp2, []cliStep{
		step("OK", "XCREATE", "orders", "PARTITIONS", "2"),
		step("OK", "XGROUPCREATE", "orders", "billing"),
		// Both members join before any message: range assignment gives
		// m1 partition 0 and m2 partition 1.
		step("(empty array)", "XCONSUME", "orders", "GROUP", "billing", "MEMBER", "m1"),
		step("(empty array)", "XCONSUME", "orders", "GROUP", "billing", "MEMBER", "m2"),
		// Appends without a key go round-robin from partition 0.
		step("1) 1) (integer) 0\n   2) (integer) 0\n2) 1) (integer) 0\n   2) (integer) 1", "XAPPEND", "orders", "a0", "a1"),
		step("1) 1) (integer) 1\n   2) (integer) 0", "XAPPEND", "orders", "b0"),
	})
	m1 := cliMessages(t, resp3.run(t, s.port, "XCONSUME", "orders", "GROUP", "billing", "MEMBER", "m1"))
	m2 := cliMessages(t, resp2.run(t, s.port, "XCONSUME", "orders", "GROUP", "billing", "MEMBER", "m2"))
	if got := values(m1); got != "0=a0 1=a1" || m1[0]["partition"] != "(integer) 0" {
		t.Fatalf("m1 got %v", m1)
	}
	if got := values(m2); got != "0=b0" || m2[0]["partition"] != "(integer) 1" {
		t.Fatalf("m2 got %v", m2)
	}
	runSteps(t, s.port, resp2, []cliStep{
		step("OK", "XCOMMIT", "orders", "GROUP", "billing", "MEMBER", "m1", "PARTITION", "0", "OFFSET", "2"),
		step(errNotAssigned, "XCOMMIT", "orders", "GROUP", "billing", "MEMBER", "m1", "PARTITION", "1", "OFFSET", "1"),
		step(errOffsetRange, "XCOMMIT", "orders", "GROUP", "billing", "MEMBER", "m2", "PARTITION", "1", "OFFSET", "5"),
		// m2 does not commit: its message is delivered again after the restart.
	})
	// A blocked member is woken by an append to its partition.
	consumed := cliAsync(t, s.port, "--no-raw", "XCONSUME", "orders", "GROUP", "billing", "MEMBER", "m1",
		"BLOCK", strconv.FormatInt(streamBlock.Milliseconds(), 10))
	waitInfo(t, s.port, "blocked_clients", "1")
	redisCLI(t, s.port, "XAPPEND", "orders", "a2")
	select {
	case out := <-consumed:
		if got := values(cliMessages(t, out)); got != "2=a2" {
			t.Fatalf("blocked XCONSUME got %q", out)
		}
	case <-time.After(streamBlock):
		t.Fatal("XCONSUME stayed blocked after an append")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = start()
	// The group's committed offsets are 2 in partition 0 and 0 in 1.
	runSteps(t, s.port, resp2, []cliStep{
		stepMatch(`(?s).*"committed"\n\s+6\) \(integer\) 2\n.*"committed"\n\s+6\) \(integer\) 0\n.*`, "XGROUPINFO", "orders", "billing"),
	})
	// Members are not persisted: one member now owns both partitions and
	// resumes at the committed offsets (2 and 0).
	all := cliMessages(t, resp2.run(t, s.port, "XCONSUME", "orders", "GROUP", "billing", "MEMBER", "m1"))
	got := map[string]string{}
	for _, m := range all {
		got[m["partition"]] += values([]map[string]string{m}) + " "
	}
	if got["(integer) 0"] != "2=a2 " || got["(integer) 1"] != "0=b0 " {
		t.Fatalf("after restart: %v", got)
	}
	if got := values(cliMessages(t, resp2.run(t, s.port, "XFETCH", "orders", "PARTITION", "0"))); got != "0=a0 1=a1 2=a2" {
		t.Fatalf("messages after restart: %s", got)
	}
	waitInfo(t, s.port, "stream_groups", "1")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamClientUnblock(t *testing.T) {
	srv := startServer(t)
	runSteps(t, srv.port, resp2, []cliStep{
		step("1) 1) (integer) 0\n   2) (integer) 0", "XAPPEND", "tail", "first"),
		step("OK", "XGROUPCREATE", "tail", "g", "FROM", "LATEST"),
	})
	consume := []string{"XCONSUME", "tail", "GROUP", "g", "MEMBER", "m", "BLOCK", "0"}
	t.Run("TIMEOUT answers an empty array", func(t *testing.T) {
		for _, args := range [][]string{
			{"XFETCH", "tail", "PARTITION", "0", "FROM", "LATEST", "BLOCK", "0"},
			consume,
		} {
			c, id := blockOn(t, srv.port, args...)
			unblock(t, srv.port, "(integer) 1", id, "TIMEOUT")
			if v, err := c.ReadValue(); err != nil || !slices.Equal(v.([]any), []any{}) {
				t.Fatalf("%q unblocked answered %#v, %v; want an empty array", args, v, err)
			}
			waitInfo(t, srv.port, "blocked_clients", "0")
		}
	})
	t.Run("ERROR answers UNBLOCKED and loses no message", func(t *testing.T) {
		for _, args := range [][]string{
			{"XFETCH", "tail", "PARTITION", "0", "FROM", "1", "BLOCK", "0"},
			consume,
		} {
			c, id := blockOn(t, srv.port, args...)
			unblock(t, srv.port, "(integer) 1", id, "ERROR")
			if v, err := c.ReadValue(); err != nil || v != errUnblocked {
				t.Fatalf("%q unblocked with ERROR answered %#v, %v; want %q", args, v, err, errUnblocked)
			}
			waitInfo(t, srv.port, "blocked_clients", "0")
		}
		redisCLI(t, srv.port, "XAPPEND", "tail", "second")
		out := redisCLI(t, srv.port, "--no-raw", "XCONSUME", "tail", "GROUP", "g", "MEMBER", "m")
		if got := values(cliMessages(t, out)); got != "1=second" {
			t.Fatalf("XCONSUME after the unblocked one got %q", out)
		}
	})
}

// TestKilledWhileBlocked: CLIENT KILL of a connection blocked in XCONSUME,
// XFETCH or QPOP ends its wait at once, so a message or job that arrives
// afterwards is not handed to the dead connection: the group member gets the
// message on its next XCONSUME, the job is still ready with no attempt used.
func TestKilledWhileBlocked(t *testing.T) {
	srv := startServer(t)
	runSteps(t, srv.port, resp2, []cliStep{
		step("1) 1) (integer) 0\n   2) (integer) 0", "XAPPEND", "killed", "first"),
		step("OK", "XGROUPCREATE", "killed", "g", "FROM", "LATEST"),
	})
	for _, args := range [][]string{
		{"XCONSUME", "killed", "GROUP", "g", "MEMBER", "m", "BLOCK", "0"},
		{"XFETCH", "killed", "PARTITION", "0", "FROM", "LATEST", "BLOCK", "0"},
		{"QPOP", "killed", "BLOCK", "0"},
	} {
		_, id := blockOn(t, srv.port, args...)
		runSteps(t, srv.port, resp2, []cliStep{step("(integer) 1", "CLIENT", "KILL", "ID", id)})
		waitInfo(t, srv.port, "blocked_clients", "0")
	}
	redisCLI(t, srv.port, "XAPPEND", "killed", "second")
	out := redisCLI(t, srv.port, "--no-raw", "XCONSUME", "killed", "GROUP", "g", "MEMBER", "m")
	if got := values(cliMessages(t, out)); got != "1=second" {
		t.Fatalf("XCONSUME after the killed one got %q", out)
	}
	redisCLI(t, srv.port, "QPUSH", "killed", "job")
	runSteps(t, srv.port, resp2, []cliStep{
		step(qlenReply(1, 0, 0, 0, 0), "QLEN", "killed"),
	})
}

// A fetch reply many times what a connection sends at a time.
const (
	largeFetchMessages = 300
	largeFetchValue    = 1 << 10
)

// TestStreamLargeFetch: a fetch reply larger than what a connection sends
// at a time arrives whole and in order, behind replies pipelined before it
// that acknowledge an append (and so wait for the disk), and alone.
func TestStreamLargeFetch(t *testing.T) {
	srv := startServer(t)
	c, err := dialRESP(srv.port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	value := strings.Repeat("v", largeFetchValue)
	appendArgs := []string{"XAPPEND", "large"}
	for range largeFetchMessages {
		appendArgs = append(appendArgs, value)
	}
	fetch := []string{"XFETCH", "large", "PARTITION", "0", "FROM", "0", "COUNT", strconv.Itoa(largeFetchMessages)}

	c.Send(appendArgs...)
	c.Send(fetch...)
	c.Send("PING")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	v, err := c.Read()
	if entries, _ := v.([]any); err != nil || len(entries) != largeFetchMessages {
		t.Fatalf("XAPPEND: %.80v, %v", v, err)
	}
	checkLargeFetch(t, c, value)

	c.Send(fetch...)
	c.Send("PING")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	checkLargeFetch(t, c, value)
}

// checkLargeFetch reads the reply of a fetch of every message of a
// TestStreamLargeFetch stream, then a PING's.
func checkLargeFetch(t *testing.T, c *respClient, value string) {
	t.Helper()
	v, err := c.Read()
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := v.([]any)
	if len(msgs) != largeFetchMessages {
		t.Fatalf("XFETCH returned %d messages, want %d", len(msgs), largeFetchMessages)
	}
	for i, m := range msgs {
		f := fields(m)
		if f["offset"] != int64(i) || f["value"] != value || f["key"] != nil {
			t.Fatalf("message %d: offset %v, key %v, the value sent: %v", i, f["offset"], f["key"], f["value"] == value)
		}
	}
	if v, err := c.Read(); err != nil || v != "PONG" {
		t.Fatalf("PING after the fetch: %v, %v", v, err)
	}
}

// Readers at several places of one partition whose messages fill several
// log segments (4 MiB each).
const (
	placesMessages = 12000
	placesValue    = 1 << 10
	placesAppend   = 100 // payloads per XAPPEND of the load
	placesBatch    = 100 // COUNT of each reader's XFETCH
	placesReaders  = 3
)

// placesPayload is message i of TestStreamReadersAtSeveralPlaces: its
// number, padded to placesValue bytes.
func placesPayload(i int) string {
	n := strconv.Itoa(i)
	return n + strings.Repeat("-", placesValue-len(n))
}

// TestStreamReadersAtSeveralPlaces: readers at different places of one
// partition spread over several closed log segments each get their own
// messages, in order, while more are appended, and again after a restart.
func TestStreamReadersAtSeveralPlaces(t *testing.T) {
	dir := t.TempDir()
	s := startOn(t, dir, "--fsync", "everysec")
	c, err := dialRESP(s.port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do("XCREATE", "places", "PARTITIONS", "1"); err != nil {
		t.Fatal(err)
	}
	appendFrom := func(first, n int) error {
		for i := first; i < first+n; i += placesAppend {
			args := []string{"XAPPEND", "places"}
			for j := i; j < i+placesAppend; j++ {
				args = append(args, placesPayload(j))
			}
			if _, err := c.Do(args...); err != nil {
				return err
			}
		}
		return nil
	}
	readAll := func(port int) {
		t.Helper()
		var wg sync.WaitGroup
		for r := range placesReaders {
			wg.Go(func() {
				rc, err := dialRESP(port)
				if err != nil {
					t.Error(err)
					return
				}
				defer rc.Close()
				first, end := r*placesMessages/placesReaders, (r+1)*placesMessages/placesReaders
				for from := first; from < end; from += placesBatch {
					v, err := rc.Do("XFETCH", "places", "PARTITION", "0", "FROM", strconv.Itoa(from),
						"COUNT", strconv.Itoa(placesBatch))
					msgs, _ := v.([]any)
					if err != nil || len(msgs) != placesBatch {
						t.Errorf("reader %d: XFETCH from %d: %d messages, %v", r, from, len(msgs), err)
						return
					}
					for i, m := range msgs {
						f := fields(m)
						if f["offset"] != int64(from+i) || f["value"] != placesPayload(from+i) {
							t.Errorf("reader %d: message %d has offset %v and another value", r, from+i, f["offset"])
							return
						}
					}
				}
			})
		}
		wg.Wait()
	}
	if err := appendFrom(0, placesMessages); err != nil {
		t.Fatal(err)
	}
	appended := make(chan error, 1)
	go func() { appended <- appendFrom(placesMessages, placesMessages) }()
	readAll(s.port)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = startOn(t, dir, "--fsync", "everysec")
	readAll(s.port)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStreamMaxReadBytes: --stream-max-read-bytes ends a read's reply with
// the message that reaches it, whatever its COUNT, and CONFIG GET shows it.
func TestStreamMaxReadBytes(t *testing.T) {
	const value, bound = 100, 250 // the third 100-byte message reaches 250 bytes
	srv := startServer(t, "--stream-max-read-bytes", strconv.Itoa(bound))
	c, err := dialRESP(srv.port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := strings.Repeat("v", value)
	if _, err := c.Do("XAPPEND", "bounded", v, v, v, v, v); err != nil {
		t.Fatal(err)
	}
	got, err := c.Do("XFETCH", "bounded", "PARTITION", "0", "COUNT", "100")
	if msgs, _ := got.([]any); err != nil || len(msgs) != 3 {
		t.Fatalf("XFETCH COUNT 100: %d messages, %v; want 3", len(msgs), err)
	}
	got, err = c.Do("CONFIG", "GET", "stream-max-read-bytes")
	if pair, _ := got.([]any); err != nil || len(pair) != 2 || pair[1] != strconv.Itoa(bound) {
		t.Fatalf("CONFIG GET stream-max-read-bytes: %v, %v", got, err)
	}
}
