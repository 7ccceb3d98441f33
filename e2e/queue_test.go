package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"nexo/engine/queue"
	"nexo/internal/respclient"
)

const (
	// queueTimeout bounds a blocking QPOP or a wait for a state the server
	// reaches at once (a closed blocked connection removed).
	queueTimeout = 5 * time.Second
	// shortBlock is a BLOCK timeout a test waits out.
	shortBlock = 100 * time.Millisecond
	// blockMargin is the lateness allowed when a BLOCK timeout ends.
	blockMargin = time.Second
	// pollInterval paces the checks of a state the server reaches at once.
	pollInterval = 5 * time.Millisecond
)

// Queue error replies as redis-cli --no-raw prints them.
const (
	errNotHeldPrefix    = "(error) NOTHELD the job is not held by this connection: "
	errNotDeadPrefix    = "(error) ERR the job is not a dead letter: "
	errNotWaitingPrefix = "(error) ERR the job is not waiting (ready or delayed): "
	errCountZero        = "(error) ERR COUNT must be > 0"
)

// respClient is the RESP2 client of the tests that pipeline commands or
// need replies as values; error replies come back as respError values.
type respClient = respclient.Client

type respError = respclient.Error

func dialRESP(port int) (*respClient, error) {
	return respclient.Dial(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), replyTimeout)
}

// fields turns a flat field/value array into a map.
func fields(v any) map[string]any {
	arr, _ := v.([]any)
	out := make(map[string]any, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		out[k] = arr[i+1]
	}
	return out
}

// cliPairs reads the field/value pairs of redis-cli --no-raw output of a
// flat map: RESP2 prints it as a numbered array, RESP3 as `N# "k" => v`.
// Values keep redis-cli's form: `"text"`, `(integer) 1`, `(nil)`.
func cliPairs(t *testing.T, out string) [][2]string {
	t.Helper()
	item := regexp.MustCompile(`^\s*(?:\d+\)\s+)*\d+\) (.*)$`)
	entry := regexp.MustCompile(`^\s*(?:\d+\)\s+)*\d+# "([^"]*)" => (.*)$`)
	var pairs [][2]string
	var flat []string
	for _, l := range strings.Split(out, "\n") {
		if m := entry.FindStringSubmatch(l); m != nil {
			pairs = append(pairs, [2]string{m[1], m[2]})
			continue
		}
		m := item.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a map: line %q in\n%s", l, out)
		}
		flat = append(flat, m[1])
	}
	for i := 0; i+1 < len(flat); i += 2 {
		pairs = append(pairs, [2]string{strings.Trim(flat[i], `"`), flat[i+1]})
	}
	return pairs
}

// cliJobs splits the pairs of one or more jobs at each "id" field.
func cliJobs(t *testing.T, out string) []map[string]string {
	t.Helper()
	var jobs []map[string]string
	for _, kv := range cliPairs(t, out) {
		if kv[0] == "id" {
			jobs = append(jobs, map[string]string{})
		}
		if len(jobs) == 0 {
			t.Fatalf("job fields before an id in\n%s", out)
		}
		jobs[len(jobs)-1][kv[0]] = kv[1]
	}
	return jobs
}

// pushIDs runs QPUSH and returns the new ids.
func pushIDs(t *testing.T, p cliProto, port int, args ...string) []string {
	t.Helper()
	return elements(t, p.run(t, port, append([]string{"QPUSH"}, args...)...))
}

// waitInfo waits until INFO shows field:value, which the server reaches at once.
func waitInfo(t *testing.T, port int, field, value string) {
	t.Helper()
	want := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(field) + `:` + regexp.QuoteMeta(value) + `\r?$`)
	deadline := time.Now().Add(queueTimeout)
	for {
		out := redisCLI(t, port, "INFO")
		if want.MatchString(out) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("INFO never showed %s:%s\n%s", field, value, out)
		}
		time.Sleep(pollInterval)
	}
}

func TestCLIQueue(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := sharedServer(t)
			k := keyer("queue:" + p.name)
			t.Run("QPUSH, QPOP and QACK on one connection", func(t *testing.T) {
				q := k("work")
				ids := pushIDs(t, p, srv.port, q, "a", "b", "c")
				if len(ids) != 3 {
					t.Fatalf("QPUSH ids %q", ids)
				}
				out := redisCLIInput(t, srv.port, fmt.Sprintf("QPOP %s\nQACK %s %s\nQPOP %s COUNT 5\nQACK %s %s %s\nQLEN %s\n",
					q, q, ids[0], q, q, ids[1], ids[2], q), p.flags...)
				want := regexp.MustCompile(`(?s)"` + ids[0] + `".*"a".*\(integer\) 1\n.*"` + ids[1] + `".*"b".*"` + ids[2] +
					`".*"c".*\(integer\) 2\n.*"ready".*\(integer\) 0.*"inflight".*\(integer\) 0`)
				if !want.MatchString(out) {
					t.Fatalf("session output:\n%s", out)
				}
			})
			t.Run("a job carries its fields; COUNT returns an array", func(t *testing.T) {
				q := k("shape")
				id := pushIDs(t, p, srv.port, q, "PRIORITY", "3", "payload")[0]
				before := time.Now().UnixMilli()
				jobs := cliJobs(t, p.run(t, srv.port, "QPOP", q, "VISIBILITY", "60000"))
				if len(jobs) != 1 {
					t.Fatalf("jobs %v", jobs)
				}
				j := jobs[0]
				if j["id"] != `"`+id+`"` || j["queue"] != `"`+q+`"` || j["payload"] != `"payload"` || j["attempt"] != "(integer) 1" ||
					j["priority"] != "(integer) 3" {
					t.Fatalf("job %v", j)
				}
				deadline, _ := strconv.ParseInt(strings.TrimPrefix(j["deadline_ms"], "(integer) "), 10, 64)
				if deadline < before+60000-int64(clockSkew/time.Millisecond) || deadline > time.Now().UnixMilli()+60000 {
					t.Fatalf("deadline_ms %d for a 60 s visibility from %d", deadline, before)
				}
				if _, err := strconv.ParseInt(strings.TrimPrefix(j["enqueued_ms"], "(integer) "), 10, 64); err != nil {
					t.Fatalf("enqueued_ms %q", j["enqueued_ms"])
				}
				pushIDs(t, p, srv.port, q, "x", "y")
				if jobs := cliJobs(t, p.run(t, srv.port, "QPOP", q, "COUNT", "10")); len(jobs) != 2 {
					t.Fatalf("COUNT jobs %v", jobs)
				}
				runSteps(t, srv.port, p, []cliStep{
					step("(nil)", "QPOP", q),
					step23("(nil)", "(nil)", "QPOP", q, "COUNT", "2"),
					step("(nil)", "QPOP", k("nosuch")),
				})
			})
			t.Run("priority, delay and deduplication", func(t *testing.T) {
				q := k("order")
				pushIDs(t, p, srv.port, q, "low")
				pushIDs(t, p, srv.port, q, "PRIORITY", "9", "high")
				pushIDs(t, p, srv.port, q, "DELAY", "600000", "later")
				first := pushIDs(t, p, srv.port, q, "DEDUP", "order-7", "once")
				runSteps(t, srv.port, p, []cliStep{
					step(`1) "`+first[0]+`"`, "QPUSH", q, "DEDUP", "order-7", "twice"),
				})
				out := p.run(t, srv.port, "QPEEK", q, "COUNT", "10")
				if !regexp.MustCompile(`(?s)"high".*"low".*"once"`).MatchString(out) || strings.Contains(out, "later") {
					t.Fatalf("QPEEK order:\n%s", out)
				}
				runSteps(t, srv.port, p, []cliStep{
					stepMatch(` 1\) "ready"\n 2\) \(integer\) 3\n 3\) "delayed"\n 4\) \(integer\) 1\n 5\) "inflight"\n 6\) \(integer\) 0\n`+
						` 7\) "dead"\n 8\) \(integer\) 0\n 9\) "completed"\n10\) \(integer\) 0|`+
						`1# "ready" => \(integer\) 3\n2# "delayed" => \(integer\) 1\n3# "inflight" => \(integer\) 0\n4# "dead" => \(integer\) 0\n`+
						`5# "completed" => \(integer\) 0`, "QLEN", q),
				})
			})
			t.Run("QNACK, QTOUCH and dead letters", func(t *testing.T) {
				q := k("retry")
				runSteps(t, srv.port, p, []cliStep{step("OK", "QCONFIG", "SET", q, "max-attempts", "2", "backoff-delay", "0")})
				id := pushIDs(t, p, srv.port, q, "job")[0]
				out := redisCLIInput(t, srv.port, fmt.Sprintf("QPOP %s\nQTOUCH %s %s 90000\nQNACK %s %s ERROR \"smtp down\"\nQPOP %s\nQNACK %s %s DELAY 0 ERROR final\n",
					q, q, id, q, id, q, q, id), p.flags...)
				if !regexp.MustCompile(`(?s)\(integer\) \d{13}\nready\n.*\(integer\) 2\n.*dead\z`).MatchString(out) {
					t.Fatalf("session output:\n%s", out)
				}
				dead := p.run(t, srv.port, "QDLQ", "LIST", q)
				for _, want := range []string{`"` + id + `"`, `"dead"`, `"failures"`, `"last_error"`, `"final"`, `"smtp down"`, `"nack"`} {
					if !strings.Contains(dead, want) {
						t.Fatalf("QDLQ LIST lacks %s:\n%s", want, dead)
					}
				}
				runSteps(t, srv.port, p, []cliStep{
					step("(integer) 1", "QDLQ", "REQUEUE", q, "TO", k("retry2")),
					step("(integer) 0", "QDLQ", "REQUEUE", q),
				})
				jobs := cliJobs(t, p.run(t, srv.port, "QPOP", k("retry2")))
				if len(jobs) != 1 || jobs[0]["id"] != `"`+id+`"` || jobs[0]["attempt"] != "(integer) 1" {
					t.Fatalf("requeued %v", jobs)
				}
				runSteps(t, srv.port, p, []cliStep{step("OK", "QCONFIG", "SET", q, "max-attempts", "1")})
				a, b := pushIDs(t, p, srv.port, q, "a")[0], pushIDs(t, p, srv.port, q, "b")[0]
				// Each pop's connection closes: the job fails as worker-gone on its last attempt.
				p.run(t, srv.port, "QPOP", q)
				p.run(t, srv.port, "QPOP", q)
				runSteps(t, srv.port, p, []cliStep{
					stepMatch(`(?s).*"worker-gone".*`, "QDLQ", "LIST", q, "COUNT", "1"),
					step("(integer) 1", "QDLQ", "PURGE", q, a),
					step(errNotDeadPrefix+a, "QDLQ", "PURGE", q, a),
					step("(integer) 1", "QDLQ", "PURGE", q),
					step("(empty array)", "QDLQ", "LIST", q),
					step("(integer) 0", "QDLQ", "PURGE", q),
				})
				_ = b
			})
			t.Run("QJOB, QPROMOTE and QCANCEL", func(t *testing.T) {
				q := k("byid")
				runSteps(t, srv.port, p, []cliStep{step("OK", "QCONFIG", "SET", q, "backoff-delay", "0")})
				ready := pushIDs(t, p, srv.port, q, "a")[0]
				later := pushIDs(t, p, srv.port, q, "DELAY", "600000", "b")[0]
				out := p.run(t, srv.port, "QJOB", q, later)
				for _, want := range []string{`"` + later + `"`, `"b"`, `"delayed"`} {
					if !strings.Contains(out, want) {
						t.Fatalf("QJOB lacks %s:\n%s", want, out)
					}
				}
				out = redisCLIInput(t, srv.port, fmt.Sprintf("QPOP %s\nQPROGRESS %s %s 40\nQJOB %s %s\n", q, q, ready, q, ready), p.flags...)
				if !regexp.MustCompile(`(?s)\nOK\n.*"progress"(\n\s*\d+\) | => )"40"`).MatchString(out) {
					t.Fatalf("QPROGRESS then QJOB:\n%s", out)
				}
				runSteps(t, srv.port, p, []cliStep{
					step(errNotHeldPrefix+ready, "QPROGRESS", q, ready, "50"),
				})
				// The pop's connection closes, so the job is ready again at
				// once (no backoff), its attempt counted, and may be cancelled.
				runSteps(t, srv.port, p, []cliStep{
					stepMatch(`(?s).*"ready".*"worker-gone".*`, "QJOB", q, ready),
					step("(integer) 1", "QPROMOTE", q, later),
					step("(error) ERR the job is not delayed: "+later, "QPROMOTE", q, later),
					stepMatch(`(?s).*"ready".*`, "QJOB", q, later),
					step("(integer) 2", "QCANCEL", q, ready, later, ready),
					step("(nil)", "QJOB", q, later),
					step(errNotWaitingPrefix+ready, "QCANCEL", q, ready),
					step("(error) ERR invalid job id 'x'", "QJOB", q, "x"),
					step(errArity("qcancel"), "QCANCEL", q),
				})
			})
			t.Run("QACK RESULT, keep-completed and QPEEK STATE", func(t *testing.T) {
				q := k("done")
				runSteps(t, srv.port, p, []cliStep{step("OK", "QCONFIG", "SET", q, "keep-completed", "1")})
				id := pushIDs(t, p, srv.port, q, "a")[0]
				out := redisCLIInput(t, srv.port, fmt.Sprintf("QPOP %s\nQACK %s %s RESULT sent\nQJOB %s %s\nQPEEK %s STATE completed\n",
					q, q, id, q, id, q), p.flags...)
				if !regexp.MustCompile(`(?s)\n\(integer\) 1\n.*"completed".*"result"(\n\s*\d+\) | => )"sent".*"completed"`).MatchString(out) {
					t.Fatalf("QACK RESULT then QJOB and QPEEK STATE completed:\n%s", out)
				}
				runSteps(t, srv.port, p, []cliStep{
					step("(error) ERR syntax error", "QACK", q, "RESULT", "x"),
					step("(error) ERR STATE must be ready, delayed, inflight, dead or completed", "QPEEK", q, "STATE", "gone"),
				})
			})
			t.Run("QREPEAT", func(t *testing.T) {
				q := k("repeat")
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "QREPEAT", "SET", q, "tick", "EVERY", "1", "PRIORITY", "4", "hello"),
					step("OK", "QREPEAT", "SET", q, "daily", "CRON", "0 9 * * mon-fri", "TZ", "Europe/Paris", "report"),
					stepMatch(`(?s).*"daily".*"0 9 \* \* mon-fri".*"Europe/Paris".*"report".*"tick".*\(integer\) 1\b.*"hello".*`, "QREPEAT", "LIST", q),
					stepMatch(`\(error\) ERR invalid value: unknown time zone "Mars/Base".*`, "QREPEAT", "SET", q, "x", "CRON", "@daily", "TZ", "Mars/Base", "p"),
					step("(error) ERR EVERY and CRON exclude each other", "QREPEAT", "SET", q, "x", "EVERY", "5", "CRON", "* * * * *", "p"),
					step("(error) ERR QREPEAT SET needs EVERY or CRON", "QREPEAT", "SET", q, "x", "PRIORITY", "1", "p"),
					step(`(error) ERR invalid value: cron expression "0 0 30 2 *" never fires`, "QREPEAT", "SET", q, "x", "CRON", "0 0 30 2 *", "p"),
					stepMatch(`(?s)1\) QREPEAT <subcommand>.*LIST.*`, "QREPEAT", "HELP"),
				})
				// The interval is 1 ms: the job is there by the time a take asks.
				jobs := cliJobs(t, p.run(t, srv.port, "QPOP", q, "BLOCK", "0"))
				if len(jobs) != 1 || jobs[0]["payload"] != `"hello"` || jobs[0]["priority"] != "(integer) 4" {
					t.Fatalf("fired job %v", jobs)
				}
				runSteps(t, srv.port, p, []cliStep{
					step("(integer) 2", "QREPEAT", "DEL", q, "tick", "daily", "nosuch"),
					step("(empty array)", "QREPEAT", "LIST", q),
				})
			})
			t.Run("QINFO, QLIST, QPURGE, QDEL, QPAUSE, QRESUME, QCONFIG", func(t *testing.T) {
				q := k("manage")
				pushIDs(t, p, srv.port, q, "a", "b")
				pushIDs(t, p, srv.port, q, "DELAY", "600000", "c")
				info := p.run(t, srv.port, "QINFO", q)
				for _, want := range []string{`"name"`, `"` + q + `"`, `"pushed"`, `"settings"`, `"visibility-timeout"`, `"30000"`, `"overrides"`} {
					if !strings.Contains(info, want) {
						t.Fatalf("QINFO lacks %s:\n%s", want, info)
					}
				}
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "QPAUSE", q),
					step("(nil)", "QPOP", q),
					stepMatch(`(?s).*"paused".*(\(integer\) 1|\(true\)).*`, "QLIST", "MATCH", q),
					step("OK", "QRESUME", q),
					step("(empty array)", "QLIST", "MATCH", k("nothing-*")),
					step("OK", "QCONFIG", "SET", q, "visibility-timeout", "1234", "backoff", "FIXED"),
					step23("1) \"visibility-timeout\"\n2) \"1234\"\n3) \"backoff\"\n4) \"fixed\"",
						"1# \"visibility-timeout\" => \"1234\"\n2# \"backoff\" => \"fixed\"",
						"QCONFIG", "GET", q, "visibility-timeout", "backoff"),
					step("OK", "QCONFIG", "SET", q, "visibility-timeout", "default"),
					step23("1) \"visibility-timeout\"\n2) \"30000\"", "1# \"visibility-timeout\" => \"30000\"",
						"QCONFIG", "GET", q, "visibility-timeout"),
					stepMatch(`(?s)1\) QCONFIG <subcommand>.*HELP.*`, "QCONFIG", "HELP"),
					stepMatch(`(?s)1\) QDLQ <subcommand>.*REQUEUE.*`, "QDLQ", "HELP"),
					step("(integer) 3", "QPURGE", q),
					step("(integer) 1", "QDEL", q),
					step("(integer) 0", "QDEL", q),
					step("(empty array)", "QLIST", "MATCH", q),
				})
				// One line per setting in RESP3, two in RESP2.
				settings := len(queue.Params())
				if out := p.run(t, srv.port, "QCONFIG", "GET", k("fresh")); strings.Count(out, "\n") != settings-1 && strings.Count(out, "\n") != 2*settings-1 {
					t.Fatalf("QCONFIG GET of a new queue lists every setting:\n%s", out)
				}
			})
			t.Run("errors change nothing", func(t *testing.T) {
				q := k("errors")
				id := pushIDs(t, p, srv.port, q, "a")[0]
				runSteps(t, srv.port, p, []cliStep{
					step(errNotInteger, "QPUSH", q, "DELAY", "soon", "x"),
					step("(error) ERR DELAY must be between 0 and 315360000000 milliseconds", "QPUSH", q, "DELAY", "-5", "x"),
					step(errNotInteger, "QPUSH", q, "PRIORITY", "high", "x"),
					step("(error) ERR QPUSH needs a payload after its options", "QPUSH", q, "DELAY", "5"),
					step("(error) ERR DEDUP takes a single payload", "QPUSH", q, "DEDUP", "k", "x", "y"),
					step(errArity("qpush"), "QPUSH", q),
					step(errCountZero, "QPOP", q, "COUNT", "-1"),
					step(errCountZero, "QPOP", q, "COUNT", "0"),
					step("(error) ERR timeout is negative", "QPOP", q, "BLOCK", "-1"),
					step(errSyntax, "QPOP", q, "FAST", "1"),
					step(errSyntax, "QPOP", q, "COUNT"),
					step(errNotHeldPrefix+id, "QACK", q, id),
					step(errNotHeldPrefix+"999999999", "QACK", q, "999999999"),
					step("(error) ERR invalid job id 'abc'", "QACK", q, "abc"),
					step(errNotHeldPrefix+id, "QNACK", q, id),
					step(errSyntax, "QNACK", q, id, "LATER", "1"),
					step(errNotHeldPrefix+id, "QTOUCH", q, id, "1000"),
					step(errSyntax, "QTOUCH", q, id, "1000", "extra"),
					step(`(error) ERR unknown queue parameter "colour"`, "QCONFIG", "SET", q, "colour", "blue"),
					stepMatch(`\(error\) ERR visibility-timeout: invalid value: .*`, "QCONFIG", "SET", q, "visibility-timeout", "0"),
					step(errArity("qconfig|set"), "QCONFIG", "SET", q, "max-attempts"),
					step("(error) ERR unknown subcommand 'NOPE'. Try QCONFIG HELP.", "QCONFIG", "NOPE"),
					step("(error) ERR unknown subcommand 'NOPE'. Try QDLQ HELP.", "QDLQ", "NOPE"),
					step(errNotDeadPrefix+id, "QDLQ", "REQUEUE", q, id),
					step(errSyntax, "QPEEK", q, "LIMIT", "3"),
					step(errSyntax, "QLIST", "PATTERN", "x"),
					step("(error) ERR invalid queue name (1 to 1024 bytes)", "QPUSH", "", "x"),
					step("(error) ERR invalid queue name (1 to 1024 bytes)", "QPOP", ""),
					step("(error) ERR invalid queue name (1 to 1024 bytes)", "QDLQ", "REQUEUE", q, "TO", ""),
				})
				runSteps(t, srv.port, p, []cliStep{
					stepMatch(`(?s) 1\) "ready"\n 2\) \(integer\) 1\n.*|1# "ready" => \(integer\) 1\n.*`, "QLEN", q),
				})
				if out := p.run(t, srv.port, "QCONFIG", "GET", q, "visibility-timeout"); !strings.Contains(out, `"30000"`) {
					t.Fatalf("a refused QCONFIG SET changed the queue:\n%s", out)
				}
				// A parameter named twice is answered once, as a map has it.
				if out := p.run(t, srv.port, "QCONFIG", "GET", q, "events", "EVENTS"); strings.Count(out, "events") != 1 {
					t.Fatalf("QCONFIG GET of one parameter named twice:\n%s", out)
				}
			})
			t.Run("QPOP BLOCK waits for a push and times out", func(t *testing.T) {
				q := k("block")
				start := time.Now()
				runSteps(t, srv.port, p, []cliStep{step("(nil)", "QPOP", q, "BLOCK", strconv.Itoa(int(shortBlock.Milliseconds())))})
				if d := time.Since(start); d < shortBlock || d > shortBlock+blockMargin {
					t.Fatalf("BLOCK %v returned after %v", shortBlock, d)
				}
				got := cliAsync(t, srv.port, append(slices.Clone(p.flags), "QPOP", q, "BLOCK", "0")...)
				waitInfo(t, srv.port, "blocked_clients", "1")
				pushIDs(t, p, srv.port, q, "wake")
				select {
				case out := <-got:
					if !strings.Contains(out, `"wake"`) {
						t.Fatalf("blocked QPOP got:\n%s", out)
					}
				case <-time.After(queueTimeout):
					t.Fatal("blocked QPOP was not served")
				}
			})
		})
	}
}

func TestQueueBlockedDisconnect(t *testing.T) {
	srv := startServer(t)
	t.Run("a blocked connection that closes is removed at once", func(t *testing.T) {
		c, err := dialRESP(srv.port)
		if err != nil {
			t.Fatal(err)
		}
		c.Send("QPOP", "gone", "BLOCK", "0")
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		waitInfo(t, srv.port, "queue_consumers_waiting", "1")
		c.Close()
		waitInfo(t, srv.port, "queue_consumers_waiting", "0")
		waitInfo(t, srv.port, "blocked_clients", "0")
		runSteps(t, srv.port, resp2, []cliStep{
			stepMatch(`1\) "\d+"`, "QPUSH", "gone", "job"),
			stepMatch(` 1\) "ready"\n 2\) \(integer\) 1\n(?s).*`, "QLEN", "gone"),
		})
	})
	t.Run("replies pipelined before a blocking QPOP are sent before it waits", func(t *testing.T) {
		c, err := dialRESP(srv.port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Send("QPUSH", "first", "x")
		c.Send("QPOP", "empty", "BLOCK", "0")
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(queueTimeout))
		if v, err := c.ReadValue(); err != nil || len(v.([]any)) != 1 {
			t.Fatalf("QPUSH reply %v, %v", v, err)
		}
		redisCLI(t, srv.port, "QPUSH", "empty", "y")
		v, err := c.ReadValue()
		if err != nil || fields(v)["payload"] != "y" {
			t.Fatalf("QPOP reply %v, %v", v, err)
		}
	})
	t.Run("the jobs of a closed connection return to the queue at once", func(t *testing.T) {
		runSteps(t, srv.port, resp2, []cliStep{step("OK", "QCONFIG", "SET", "held", "backoff-delay", "0")})
		c, err := dialRESP(srv.port)
		if err != nil {
			t.Fatal(err)
		}
		redisCLI(t, srv.port, "QPUSH", "held", "a", "b")
		if v, err := c.DoValue("QPOP", "held", "COUNT", "2"); err != nil || len(v.([]any)) != 2 {
			t.Fatalf("QPOP %v %v", v, err)
		}
		c.Close()
		waitInfo(t, srv.port, "queue_jobs_inflight", "0")
		runSteps(t, srv.port, resp2, []cliStep{
			stepMatch(` 1\) "ready"\n 2\) \(integer\) 2\n(?s).*`, "QLEN", "held"),
		})
	})
}

// TestQueueOneConnection drives several queues from one connection, which
// reuses its last queue name and the room of its last take between
// commands: neither may show in the next command's reply.
func TestQueueOneConnection(t *testing.T) {
	// manyJobs is more jobs than a connection keeps room for between takes.
	const manyJobs = 100
	srv := sharedServer(t)
	k := keyer("queue:one-connection")
	qa, qb := k("a"), k("b")
	c, err := dialRESP(srv.port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	do := func(args ...string) any {
		t.Helper()
		v, err := c.Do(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return v
	}
	// pop1 takes one job and checks its queue and payload.
	pop1 := func(q, payload string) string {
		t.Helper()
		j := fields(do("QPOP", q))
		if j["queue"] != q || j["payload"] != payload {
			t.Fatalf("QPOP %s: job %v, want payload %q", q, j, payload)
		}
		return j["id"].(string)
	}
	do("QPUSH", qa, "a1")
	do("QPUSH", qb, "b1")
	b1 := pop1(qb, "b1")
	a1 := pop1(qa, "a1")
	many := []string{"QPUSH", qa}
	for i := range manyJobs {
		many = append(many, "m"+strconv.Itoa(i))
	}
	do(many...)
	jobs, _ := do("QPOP", qa, "COUNT", strconv.Itoa(manyJobs)).([]any)
	if len(jobs) != manyJobs {
		t.Fatalf("QPOP COUNT %d: %d jobs", manyJobs, len(jobs))
	}
	for i, v := range jobs {
		if j := fields(v); j["queue"] != qa || j["payload"] != "m"+strconv.Itoa(i) {
			t.Fatalf("job %d: %v", i, j)
		}
	}
	do("QPUSH", qb, "b2")
	pop1(qb, "b2")
	if n := do("QACK", qa, a1); n != int64(1) {
		t.Fatalf("QACK %s: %v", qa, n)
	}
	if n := do("QACK", qb, b1); n != int64(1) {
		t.Fatalf("QACK %s: %v", qb, n)
	}
}

func TestQueueInfoAndConfig(t *testing.T) {
	srv := startServer(t, "--queue-visibility-timeout", "5000", "--queue-max-attempts", "7", "--fsync", "everysec")
	runSteps(t, srv.port, resp2, []cliStep{
		step("1) \"queue-visibility-timeout\"\n2) \"5000\"", "CONFIG", "GET", "queue-visibility-timeout"),
		step("1) \"max-attempts\"\n2) \"7\"", "QCONFIG", "GET", "q", "max-attempts"),
	})
	redisCLI(t, srv.port, "QPUSH", "q", "a", "b")
	out := strings.ReplaceAll(redisCLI(t, srv.port, "INFO", "queue"), "\r", "")
	for _, field := range []string{`# Queue`, `queues:1`, `queue_jobs_ready:2`, `queue_pushed:2`, `queue_fsync:everysec`,
		`queue_read_only:0`, `queue_log_index:\d+`} {
		if !regexp.MustCompile(`(?m)^` + field + `$`).MatchString(out) {
			t.Errorf("INFO queue: no line %q in\n%s", field, out)
		}
	}
}

func TestQueueRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() *server {
		t.Helper()
		return startOn(t, dir, "--fsync", "always")
	}
	s := start()
	runSteps(t, s.port, resp2, []cliStep{
		step("OK", "QCONFIG", "SET", "jobs", "max-attempts", "1", "visibility-timeout", "60000"),
	})
	ids := pushIDs(t, resp2, s.port, "jobs", "ready", "inflight", "acked", "dead")
	pushIDs(t, resp2, s.port, "jobs", "DELAY", "600000", "delayed")
	runSteps(t, s.port, resp2, []cliStep{
		step("OK", "QREPEAT", "SET", "reports", "daily", "CRON", "0 9 * * *", "digest"),
	})
	schedules := resp2.run(t, s.port, "QREPEAT", "LIST", "reports")
	// One connection takes three jobs, acks one and nacks one into the dead
	// letters; the third stays in flight across the restart.
	c, err := dialRESP(s.port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.DoValue("QPOP", "jobs", "COUNT", "4"); err != nil || len(v.([]any)) != 4 {
		t.Fatalf("QPOP %v %v", v, err)
	}
	if v, err := c.DoValue("QACK", "jobs", ids[2]); err != nil || v != int64(1) {
		t.Fatalf("QACK %v %v", v, err)
	}
	if v, err := c.DoValue("QNACK", "jobs", ids[3], "ERROR", "boom"); err != nil || v != "dead" {
		t.Fatalf("QNACK %v %v", v, err)
	}
	if v, err := c.DoValue("QNACK", "jobs", ids[0], "DELAY", "0"); err != nil || v != "dead" {
		t.Fatalf("QNACK %v %v", v, err)
	}
	if v, err := c.DoValue("QDLQ", "REQUEUE", "jobs", ids[0]); err != nil || v != int64(1) {
		t.Fatalf("QDLQ REQUEUE %v %v", v, err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = start()
	runSteps(t, s.port, resp2, []cliStep{
		step(qlenReply(2, 1, 0, 1, 0), "QLEN", "jobs"),
		step("1) \"max-attempts\"\n2) \"1\"", "QCONFIG", "GET", "jobs", "max-attempts"),
		stepMatch(`(?s).*"boom".*`, "QDLQ", "LIST", "jobs"),
		step(schedules, "QREPEAT", "LIST", "reports"),
	})
	jobs := cliJobs(t, resp2.run(t, s.port, "QPOP", "jobs", "COUNT", "5"))
	got := map[string]string{}
	for _, j := range jobs {
		got[strings.Trim(j["payload"], `"`)] = j["attempt"]
	}
	if len(got) != 2 || got["ready"] != "(integer) 1" || got["inflight"] != "(integer) 2" {
		t.Fatalf("after restart: %v (the job in flight keeps its attempt, the requeued one restarts)", got)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestQueueRestartThenPurge checks that a job in flight at a restart, ready
// again after it and purged, stays gone after the next restart: the replay
// releases it where the server did, before the purge.
func TestQueueRestartThenPurge(t *testing.T) {
	dir := t.TempDir()
	start := func() *server {
		t.Helper()
		return startOn(t, dir, "--fsync", "always")
	}
	s := start()
	// redis-cli's connection closes after its QPOP: without this, the job
	// would go back to the queue then, and not be in flight at the restart.
	runSteps(t, s.port, resp2, []cliStep{step("OK", "QCONFIG", "SET", "jobs", "release-on-disconnect", "no")})
	pushIDs(t, resp2, s.port, "jobs", "held", "waiting")
	runSteps(t, s.port, resp2, []cliStep{stepMatch(`(?s).*"held".*`, "QPOP", "jobs")})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = start()
	runSteps(t, s.port, resp2, []cliStep{step("(integer) 2", "QPURGE", "jobs")})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s = start()
	runSteps(t, s.port, resp2, []cliStep{
		step(qlenReply(0, 0, 0, 0, 0), "QLEN", "jobs"),
	})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// qlenReply is how redis-cli prints a QLEN reply (RESP2) with these counts.
func qlenReply(ready, delayed, inflight, dead, completed int) string {
	return fmt.Sprintf(" 1) \"ready\"\n 2) (integer) %d\n 3) \"delayed\"\n 4) (integer) %d\n 5) \"inflight\"\n"+
		" 6) (integer) %d\n 7) \"dead\"\n 8) (integer) %d\n 9) \"completed\"\n10) (integer) %d",
		ready, delayed, inflight, dead, completed)
}

// cliAsync runs redis-cli in the background and sends its output, or its
// failure, on the returned channel.
func cliAsync(t *testing.T, port int, args ...string) <-chan string {
	t.Helper()
	requireRedisCLI(t)
	out := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
		defer cancel()
		b, err := exec.CommandContext(ctx, redisCLIName, append([]string{"-p", strconv.Itoa(port)}, args...)...).Output()
		if err != nil {
			out <- fmt.Sprintf("redis-cli %v: %v", args, err)
			return
		}
		out <- strings.TrimSuffix(string(b), "\n")
	}()
	return out
}

// blockTimeout is how long the QPOP below waits on an empty queue.
const blockTimeout = 200 * time.Millisecond

// TestQueueBlockedTimeIsNotLatency checks that INFO commandstats counts a
// blocking QPOP's work, not its wait, as Redis counts blocking commands.
func TestQueueBlockedTimeIsNotLatency(t *testing.T) {
	srv := startServer(t)
	if out := redisCLI(t, srv.port, "QPOP", "idle", "BLOCK", strconv.FormatInt(blockTimeout.Milliseconds(), 10)); strings.TrimSpace(out) != "" {
		t.Fatalf("QPOP on an empty queue answered %q", out)
	}
	stats := redisCLI(t, srv.port, "INFO", "commandstats")
	m := regexp.MustCompile(`cmdstat_qpop:calls=1,usec=(\d+),`).FindStringSubmatch(stats)
	if m == nil {
		t.Fatalf("no qpop line in %q", stats)
	}
	if usec, _ := strconv.ParseInt(m[1], 10, 64); usec >= blockTimeout.Microseconds() {
		t.Fatalf("QPOP counted %d µs, which includes its %v wait", usec, blockTimeout)
	}
}

// errUnblocked is the reply of a blocked command that CLIENT UNBLOCK ...
// ERROR ends before it obtained anything.
const errUnblocked = respError("UNBLOCKED client unblocked via CLIENT UNBLOCK")

// blockOn opens a connection, sends the blocking command args on it and
// waits until the server counts it blocked (the server must have no other
// blocked connection). It returns the connection, with a read deadline set
// for the command's reply, and its CLIENT ID.
func blockOn(t *testing.T, port int, args ...string) (*respClient, string) {
	t.Helper()
	c, err := dialRESP(port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(queueTimeout))
	c.Send("CLIENT", "ID")
	c.Send(args...)
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	id, err := c.Read()
	if err != nil {
		t.Fatalf("CLIENT ID: %v", err)
	}
	n, ok := id.(int64)
	if !ok {
		t.Fatalf("CLIENT ID answered %#v", id)
	}
	waitInfo(t, port, "blocked_clients", "1")
	return c, strconv.FormatInt(n, 10)
}

// unblock runs CLIENT UNBLOCK id [reason] through redis-cli and checks its reply.
func unblock(t *testing.T, port int, want string, id string, reason ...string) {
	t.Helper()
	runSteps(t, port, resp2, []cliStep{step(want, append([]string{"CLIENT", "UNBLOCK", id}, reason...)...)})
}

func TestQueueClientUnblock(t *testing.T) {
	srv := startServer(t)
	t.Run("TIMEOUT answers as a timeout", func(t *testing.T) {
		for _, tc := range []struct {
			args   []string
			reason []string
		}{
			{[]string{"QPOP", "unblock", "BLOCK", "0"}, nil},
			{[]string{"QPOP", "unblock", "COUNT", "2", "BLOCK", "0"}, []string{"TIMEOUT"}},
			{[]string{"QPOP", "unblock", "BLOCK", "600000"}, []string{"timeout"}},
		} {
			c, id := blockOn(t, srv.port, tc.args...)
			unblock(t, srv.port, "(integer) 1", id, tc.reason...)
			if v, err := c.ReadValue(); err != nil || v != nil {
				t.Fatalf("%q unblocked with %q answered %#v, %v; want null", tc.args, tc.reason, v, err)
			}
			waitInfo(t, srv.port, "blocked_clients", "0")
			if v, err := c.DoValue("PING"); err != nil || v != "PONG" {
				t.Fatalf("PING after the unblocked QPOP: %#v, %v", v, err)
			}
			unblock(t, srv.port, "(integer) 0", id)
		}
	})
	t.Run("ERROR answers UNBLOCKED and takes no job", func(t *testing.T) {
		c, id := blockOn(t, srv.port, "QPOP", "unblock-error", "BLOCK", "0")
		unblock(t, srv.port, "(integer) 1", id, "error")
		if v, err := c.ReadValue(); err != nil || v != errUnblocked {
			t.Fatalf("QPOP unblocked with ERROR answered %#v, %v; want %q", v, err, errUnblocked)
		}
		waitInfo(t, srv.port, "queue_consumers_waiting", "0")
		runSteps(t, srv.port, resp2, []cliStep{
			stepMatch(`1\) "\d+"`, "QPUSH", "unblock-error", "job"),
			stepMatch(` 1\) "ready"\n 2\) \(integer\) 1\n(?s).*`, "QLEN", "unblock-error"),
		})
	})
	t.Run("a connection that is not blocked answers 0", func(t *testing.T) {
		c, err := dialRESP(srv.port)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		id, err := c.Do("CLIENT", "ID")
		if err != nil {
			t.Fatal(err)
		}
		unblock(t, srv.port, "(integer) 0", strconv.FormatInt(id.(int64), 10), "ERROR")
		if v, err := c.DoValue("PING"); err != nil || v != "PONG" {
			t.Fatalf("PING after CLIENT UNBLOCK of an idle connection: %#v, %v", v, err)
		}
	})
}
