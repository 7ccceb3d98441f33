package commands

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"nexo/internal/respclient"
)

// Settings of the scripting tests.
const (
	// scriptTestTimeLimit is the script-time-limit of the test that reaches it.
	scriptTestTimeLimit = 100 * time.Millisecond
	// scriptRounds is how many scripts each worker runs in the races.
	scriptRounds = 200
)

// expectError runs a command and checks that it answers an error that
// starts with prefix.
func expectError(t *testing.T, c *respclient.Client, prefix string, args ...string) {
	t.Helper()
	got, err := c.DoValue(args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if e, ok := got.(respclient.Error); !ok || !strings.HasPrefix(string(e), prefix) {
		t.Fatalf("%v answered %#v, want an error starting with %q", args, got, prefix)
	}
}

func TestScripts(t *testing.T) {
	t.Run("EVAL converts the script's result as Redis does", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, int64(3), "EVAL", "return 3.99", "0")
		expect(t, c, "text", "EVAL", "return 'text'", "0")
		expect(t, c, int64(1), "EVAL", "return true", "0")
		expect(t, c, nil, "EVAL", "return false", "0")
		expect(t, c, nil, "EVAL", "return nil", "0")
		// An array ends at its first nil.
		expect(t, c, []any{int64(1), "two", []any{int64(3)}, nil}, "EVAL", "return {1, 'two', {3}, false, nil, 6}", "0")
		expect(t, c, "FINE", "EVAL", "return redis.status_reply('FINE')", "0")
		expect(t, c, errReply("MYERR custom"), "EVAL", "return redis.error_reply('MYERR custom')", "0")
		expect(t, c, errReply("MYERR custom"), "EVAL", "return redis.error_reply('-MYERR custom')", "0")
		expect(t, c, "FINE", "EVAL", "return {ok='FINE'}", "0")
	})

	t.Run("KEYS and ARGV hold the keys and the arguments", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, []any{[]any{"k1", "k2"}, []any{"a1"}}, "EVAL", "return {KEYS, ARGV}", "2", "k1", "k2", "a1")
		expect(t, c, []any{[]any{}, []any{}}, "EVAL", "return {KEYS, ARGV}", "0")
	})

	t.Run("redis.call runs commands and converts their replies", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, "v", "EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])", "1", "k", "v")
		expect(t, c, int64(15), "EVAL", "return redis.call('incrby', 'n', 5) + 10", "0")
		expect(t, c, int64(1), "EVAL", "return redis.call('get', 'missing') == false", "0")
		expect(t, c, "OK", "EVAL", "return redis.call('set', 'x', 1)", "0")
		expect(t, c, "1", "GET", "x")
		expect(t, c, []any{"f", "v"}, "EVAL", "redis.call('hset', 'h', 'f', 'v'); return redis.call('hgetall', 'h')", "0")
		expect(t, c, int64(1), "EVAL", "return tonumber(redis.call('qpush', 'script:q', 'job')[1]) > 0", "0")
		expect(t, c, []any{"ready", int64(1), "delayed", int64(0), "inflight", int64(0), "dead", int64(0), "completed", int64(0)}, "QLEN", "script:q")
	})

	t.Run("cjson encodes and decodes JSON, and bit operates on 32-bit integers, as in Redis's Lua", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, `{"a":1,"b":[1,2,"x"],"c":null,"d":1.5,"e":{}}`, "EVAL", "return cjson.encode({a=1, b={1, 2, 'x'}, c=cjson.null, d=1.5, e={}})", "0")
		expect(t, c, []any{"ada", "b", "3.25", "true"}, "EVAL",
			"local t = cjson.decode(ARGV[1]) return {t.name, t.tags[2], tostring(t.n), tostring(t.z == cjson.null)}", "0",
			`{"name":"ada","tags":["a","b"],"n":3.25,"z":null}`)
		expect(t, c, []any{int64(15), int64(7), int64(6), int64(-2147483648), int64(15), int64(-4), "000000ff", "00FF", int64(-1), int64(5)}, "EVAL",
			"return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-16, 2), "+
				"bit.tohex(255), bit.tohex(255, -4), bit.bnot(0), bit.tobit(2^32 + 5)}", "0")
		expectError(t, c, "ERR user_script:1: Expected value but found invalid token", "EVAL", "return cjson.decode('{bad')", "0")
		expectError(t, c, "ERR user_script:1: Cannot serialise, excessive nesting", "EVAL", "local t = {} t.x = t return cjson.encode(t)", "0")
		expectError(t, c, "ERR user_script:1: Cannot serialise function", "EVAL", "return cjson.encode(print)", "0")
	})

	t.Run("EVALSHA runs a script cached by EVAL or SCRIPT LOAD; SCRIPT FLUSH forgets them", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		const src = "return ARGV[1]"
		sha := scriptSHA([]byte(src))
		expect(t, c, errReply(errNoScript), "EVALSHA", sha, "0", "x")
		expect(t, c, sha, "SCRIPT", "LOAD", src)
		expect(t, c, "x", "EVALSHA", sha, "0", "x")
		expect(t, c, "x", "EVALSHA", strings.ToUpper(sha), "0", "x")
		expect(t, c, []any{int64(1), int64(0)}, "SCRIPT", "EXISTS", sha, scriptSHA([]byte("other")))
		if info, err := c.Do("INFO", "memory"); err != nil || !strings.Contains(info.(string), "number_of_cached_scripts:1\r\n") {
			t.Fatalf("INFO memory: %v %v", info, err)
		}
		expect(t, c, "OK", "SCRIPT", "FLUSH")
		expect(t, c, []any{int64(0)}, "SCRIPT", "EXISTS", sha)
		expect(t, c, "y", "EVAL", src, "0", "y")
		expect(t, c, "z", "EVALSHA", sha, "0", "z")
	})

	t.Run("EVAL_RO and EVALSHA_RO run scripts that only read", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, "OK", "SET", "k", "v")
		expect(t, c, "v", "EVAL_RO", "return redis.call('get', KEYS[1])", "1", "k")
		expect(t, c, "v", "EVALSHA_RO", scriptSHA([]byte("return redis.call('get', KEYS[1])")), "1", "k")
		expectError(t, c, errScriptReadOnly, "EVAL_RO", "return redis.call('set', 'k', 'w')", "0")
		expect(t, c, "v", "GET", "k")
	})

	t.Run("a script in a transaction runs when EXEC does", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		runTransaction(t, c, []any{int64(1), int64(2)}, cmd("EVAL", "return redis.call('incr', KEYS[1])", "1", "n"), cmd("INCR", "n"))
	})

	t.Run("a script's write invalidates another connection's WATCH of the key", func(t *testing.T) {
		c, other := twoClients(t)
		expect(t, c, "OK", "WATCH", "k")
		expect(t, other, "OK", "EVAL", "return redis.call('set', 'k', 'script')", "0")
		runTransaction(t, c, nil, cmd("SET", "k", "mine"))
	})

	t.Run("no key expires while a script runs, as in Redis", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		ttl := strconv.FormatInt(txTTL.Milliseconds(), 10)
		wait := strconv.FormatInt((txTTL + txTTLMargin).Microseconds(), 10)
		// The script waits past the key's TTL by TIME, which reads the
		// real clock, and finds the key still there.
		const script = `redis.call('set', KEYS[1], 'v', 'PX', ARGV[1])
			local function micros() local t = redis.call('time') return t[1] * 1000000 + t[2] end
			local from = micros()
			while micros() - from < tonumber(ARGV[2]) do end
			return redis.call('get', KEYS[1])`
		expect(t, c, "v", "EVAL", script, "1", "k", ttl, wait)
		time.Sleep(txTTL + txTTLMargin)
		expect(t, c, nil, "GET", "k")
	})

	t.Run("edge: bad key counts are refused", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, errReply(errNotInteger), "EVAL", "return 1", "x")
		expect(t, c, errReply(errNegativeKeys), "EVAL", "return 1", "-1")
		expect(t, c, errReply(errTooManyKeys), "EVAL", "return 1", "2", "only")
	})

	t.Run("no job times out while a script runs: the queues' clock is frozen too", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		vis := strconv.FormatInt(txTTL.Milliseconds(), 10)
		wait := strconv.FormatInt((txTTL + txTTLMargin).Microseconds(), 10)
		// The script takes a job, waits past its visibility by TIME, and
		// finds it still in flight.
		const script = `redis.call('qpush', KEYS[1], 'job')
			redis.call('qpop', KEYS[1], 'VISIBILITY', ARGV[1])
			local function micros() local t = redis.call('time') return t[1] * 1000000 + t[2] end
			local from = micros()
			while micros() - from < tonumber(ARGV[2]) do end
			return redis.call('qlen', KEYS[1])`
		got, err := c.Do("EVAL", script, "1", "q", vis, wait)
		if err != nil {
			t.Fatal(err)
		}
		if counts := fmt.Sprint(got); counts != "[ready 0 delayed 0 inflight 1 dead 0 completed 0]" {
			t.Fatalf("QLEN at the end of the script: %s", counts)
		}
	})
	t.Run("appends of one script share its instant: the streams' clock is frozen too", func(t *testing.T) {
		c := dialTest(t, startTestServer(t, withStreams(t)))
		wait := strconv.FormatInt(txTTLMargin.Microseconds(), 10)
		const script = `redis.call('xappend', KEYS[1], 'a')
			local function micros() local t = redis.call('time') return t[1] * 1000000 + t[2] end
			local from = micros()
			while micros() - from < tonumber(ARGV[1]) do end
			redis.call('xappend', KEYS[1], 'b')
			return 1`
		expect(t, c, int64(1), "EVAL", script, "1", "s", wait)
		got, err := c.Do("XFETCH", "s", "PARTITION", "0", "FROM", "0", "COUNT", "2")
		if err != nil {
			t.Fatal(err)
		}
		msgs, ok := got.([]any)
		if !ok || len(msgs) != 2 || fmt.Sprint(msgs[0].([]any)[5]) != fmt.Sprint(msgs[1].([]any)[5]) {
			t.Fatalf("the two appends: %v", got)
		}
	})
	t.Run("edge: a failing redis.call fails the script; redis.pcall returns the error", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, "OK", "SET", "s", "text")
		expectError(t, c, errNotInteger+" script: ", "EVAL", "redis.call('incr', 's'); return 1", "0")
		expect(t, c, errReply(errNotInteger), "EVAL", "return redis.pcall('incr', 's')", "0")
		expect(t, c, "caught", "EVAL", "local r = redis.pcall('incr', 's'); if r.err then return 'caught' end", "0")
		// What the script wrote before the failure stays, as in Redis.
		expectError(t, c, errNotInteger, "EVAL", "redis.call('set', 'before', 1); redis.call('incr', 's')", "0")
		expect(t, c, "1", "GET", "before")
	})

	t.Run("edge: commands a script may not run are refused to it", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		for _, call := range []struct{ script, err string }{
			{"return redis.call('nosuch')", errScriptUnknownCmd},
			{"return redis.call('get')", errScriptArity},
			{"return redis.call('multi')", errScriptForbidden},
			{"return redis.call('subscribe', 'ch')", errScriptForbidden},
			{"return redis.call('eval', 'return 1', 0)", errScriptForbidden},
			{"return redis.call('script', 'flush')", errScriptForbidden},
			{"return redis.call('auth', 'x')", errScriptForbidden},
			{"return redis.call()", "ERR user_script:1: " + errScriptNoArgs},
			{"return redis.call('get', {})", "ERR user_script:1: " + errScriptArgType},
		} {
			expectError(t, c, call.err, "EVAL", call.script, "0")
		}
	})

	t.Run("edge: scripts cannot create or read undefined globals, nor reach files", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expectError(t, c, "ERR user_script:1: Attempt to modify a readonly table", "EVAL", "leak = 1", "0")
		expectError(t, c, "ERR user_script:1: Script attempted to access nonexistent global variable 'leak'", "EVAL", "return leak", "0")
		// Nothing a script does changes what the next one runs with.
		for _, attack := range []string{
			"redis = nil", "redis.call = nil", "string.rep = nil", "cjson.encode = nil", "_G.x = 1", "_G.redis = nil",
			"rawset(_G, 'x', 1)", "rawset(string, 'rep', nil)", "setmetatable(_G, nil)", "setmetatable(redis, nil)",
			"getmetatable('').__index.rep = nil", "KEYS = nil",
		} {
			expectError(t, c, "ERR user_script:1: ", "EVAL", attack, "0")
		}
		expect(t, c, []any{"xx", "OK", "[1]"}, "EVAL", "return {string.rep('x', 2), redis.call('set', KEYS[1], 'v'), cjson.encode({1})}", "1", "k")
		expect(t, c, "xx", "EVAL", "return ('x'):rep(2)", "0")
		for _, lib := range []string{"io", "os", "debug", "package", "dofile", "loadfile", "load", "loadstring", "require", "module", "setfenv"} {
			expectError(t, c, "ERR user_script:1: Script attempted to access nonexistent global variable '"+lib+"'", "EVAL", "return "+lib, "0")
		}
	})

	t.Run("edge: compile errors, runtime errors and oversized results answer errors, and the server goes on", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expectError(t, c, "ERR Error compiling script (new function): user_script", "EVAL", "return (", "0")
		expectError(t, c, "ERR user_script:1: boom script: ", "EVAL", "error('boom')", "0")
		expectError(t, c, "ERR user_script:1: string.rep: result longer than proto-max-bulk-len", "EVAL", "return string.rep('x', tonumber(ARGV[1]))", "0",
			strconv.Itoa(testQueryBuffer+1))
		expectError(t, c, "ERR user_script:1: string.rep: result longer than proto-max-bulk-len", "EVAL", "return string.rep(string.rep('x', 1024), 2^53)", "0")
		expect(t, c, "", "EVAL", "return string.rep('x', -1)", "0")
		v, err := c.DoValue("EVAL", "local t = {} t[1] = t return t", "0")
		if err != nil {
			t.Fatal(err)
		}
		for depth := 0; ; depth++ {
			arr, ok := v.([]any)
			if !ok {
				if v != respclient.Error(errScriptReplyDepth) || depth != maxScriptReplyDepth+1 {
					t.Fatalf("a table that contains itself ended at depth %d with %#v", depth, v)
				}
				break
			}
			v = arr[0]
		}
		expect(t, c, "PONG", "PING")
	})

	t.Run("edge: a blocking command in a script answers at once", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		expect(t, c, int64(1), "EVAL", "return redis.call('qpop', 'script:empty', 'BLOCK', '0') == false", "0")
	})

	t.Run("edge: past maxEvalScripts, EVAL's least recently run script is evicted; SCRIPT LOAD's stay", func(t *testing.T) {
		c := dialTest(t, startTestServer(t))
		src := func(i int) string { return "return " + strconv.Itoa(i) }
		sha := func(i int) string { return scriptSHA([]byte(src(i))) }
		const loaded = "return 'loaded'"
		expect(t, c, scriptSHA([]byte(loaded)), "SCRIPT", "LOAD", loaded)
		for i := range maxEvalScripts {
			expect(t, c, int64(i), "EVAL", src(i), "0")
		}
		// Script 0 runs again, so script 1 is the least recently run;
		// SCRIPT LOAD makes script 2 permanent.
		expect(t, c, int64(0), "EVALSHA", sha(0), "0")
		expect(t, c, sha(2), "SCRIPT", "LOAD", src(2))
		for i := maxEvalScripts; i < maxEvalScripts+3; i++ {
			expect(t, c, int64(i), "EVAL", src(i), "0")
		}
		expect(t, c, []any{int64(1), int64(0), int64(1), int64(0), int64(1), int64(1)},
			"SCRIPT", "EXISTS", sha(0), sha(1), sha(2), sha(3), sha(4), scriptSHA([]byte(loaded)))
		expect(t, c, errReply(errNoScript), "EVALSHA", sha(1), "0")
		for section, want := range map[string]string{
			"stats":  "evicted_scripts:2\r\n",
			"memory": "number_of_cached_scripts:" + strconv.Itoa(maxEvalScripts+2) + "\r\n",
		} {
			if info, err := c.Do("INFO", section); err != nil || !strings.Contains(info.(string), want) {
				t.Fatalf("INFO %s lacks %q: %v %v", section, want, info, err)
			}
		}
	})

	t.Run("edge: a script past the time limit is stopped; its writes stay", func(t *testing.T) {
		addr := startTestServer(t, func(cfg *Config) { cfg.ScriptTimeLimit = scriptTestTimeLimit })
		c, other := dialTest(t, addr), dialTest(t, addr)
		expectError(t, c, "ERR Script killed: it ran past script-time-limit (100 ms)", "EVAL", "redis.call('set', 'k', 'v') while true do end", "0")
		expect(t, other, "v", "GET", "k")
		expect(t, other, errReply(errNotBusy), "SCRIPT", "KILL")
		expect(t, c, int64(1), "EVAL", "return 1", "0") // the next script runs under a fresh context
	})

	t.Run("race: no command of another connection runs during a script", func(t *testing.T) {
		addr := startTestServer(t)
		const script = "return {redis.call('incr', KEYS[1]), redis.call('incr', KEYS[2])}"
		err := onWorkers(t, addr, func(c *respclient.Client) error {
			for range scriptRounds {
				v, err := c.Do("EVAL", script, "2", "a", "b")
				if err != nil {
					return err
				}
				if r := v.([]any); r[0] != r[1] {
					return fmt.Errorf("the script's two INCRs answered %v: another command ran between them", r)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total := strconv.Itoa(testWorkers * scriptRounds)
		expect(t, dialTest(t, addr), []any{total, total}, "MGET", "a", "b")
	})

}
