package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// testPassword is the password of servers started with --password.
	testPassword = "e2e-secret"
	// shortTTL is the lifetime of keys a test waits to see expire.
	shortTTL = 100 * time.Millisecond
	// expiryMargin is the time allowed past a key's deadline for it to read as gone.
	expiryMargin = 100 * time.Millisecond
	// clockSkew is how far TIME may be from the test's own clock.
	clockSkew = 5 * time.Second
	// expireAtSeconds is how far ahead of the test's start EXPIREAT sets a
	// key's deadline; stepsSlack is how long the redis-cli steps before
	// its TTL is read may take on a loaded machine.
	expireAtSeconds = 300
	stepsSlack      = 5 * time.Second
	// maxScanCalls bounds the cursor iterations a SCAN-family walk may take.
	maxScanCalls = 10000
	// manyKeys is the number of keys written to make SCAN use several cursors.
	manyKeys = 1000
	// errUnknownCommandArgsMax is the length at which Redis cuts the argument
	// list it echoes in "unknown command".
	errUnknownCommandArgsMax = 128
)

// Error replies exactly as Redis 7 words them, as redis-cli --no-raw prints them.
const (
	errNoAuth     = "(error) NOAUTH Authentication required."
	errWrongPass  = "(error) WRONGPASS invalid username-password pair or user is disabled."
	errWrongType  = "(error) WRONGTYPE Operation against a key holding the wrong kind of value"
	errNotInteger = "(error) ERR value is not an integer or out of range"
	errNotFloat   = "(error) ERR value is not a valid float"
	errSyntax     = "(error) ERR syntax error"
	errOverflow   = "(error) ERR increment or decrement would overflow"
	errNoSuchKey  = "(error) ERR no such key"
)

func errArity(cmd string) string {
	return "(error) ERR wrong number of arguments for '" + cmd + "' command"
}

func errExpireTime(cmd string) string {
	return "(error) ERR invalid expire time in '" + cmd + "' command"
}

// cliProto is one way of running redis-cli: a RESP version and the flags selecting it.
// --no-raw makes redis-cli print reply types ((integer), (nil), (error), quotes),
// so the tables assert types as well as values.
type cliProto struct {
	name  string
	flags []string
}

var (
	resp2     = cliProto{name: "RESP2", flags: []string{"--no-raw"}}
	resp3     = cliProto{name: "RESP3", flags: []string{"-3", "--no-raw"}}
	cliProtos = []cliProto{resp2, resp3}
)

// run runs one command through redis-cli with the protocol's flags.
func (p cliProto) run(t *testing.T, port int, args ...string) string {
	t.Helper()
	return redisCLI(t, port, append(slices.Clone(p.flags), args...)...)
}

// cliStep is one command and the redis-cli output it must produce.
type cliStep struct {
	args  []string
	want  string // output under RESP2, and under RESP3 unless want3 is set
	want3 string // output under RESP3 when it differs
	match bool   // want and want3 are regular expressions for the whole output
}

func step(want string, args ...string) cliStep { return cliStep{args: args, want: want} }

func stepMatch(pattern string, args ...string) cliStep {
	return cliStep{args: args, want: pattern, match: true}
}

func step23(want2, want3 string, args ...string) cliStep {
	return cliStep{args: args, want: want2, want3: want3}
}

// runSteps runs the steps in order on one server and reports every mismatch.
func runSteps(t *testing.T, port int, p cliProto, steps []cliStep) {
	t.Helper()
	for _, s := range steps {
		want := s.want
		if p.name == resp3.name && s.want3 != "" {
			want = s.want3
		}
		got := p.run(t, port, s.args...)
		ok := got == want
		if s.match {
			ok = regexp.MustCompile(`\A(?:` + want + `)\z`).MatchString(got)
		}
		if !ok {
			t.Errorf("%s %q:\n got: %q\nwant: %q", p.name, s.args, got, want)
		}
	}
}

// keyerRuns numbers keyer namespaces, so a test run again (-count) on the
// shared server starts from fresh keys.
var keyerRuns atomic.Int64

// keyer returns a function that puts a test's key names in their own namespace.
func keyer(prefix string) func(string) string {
	ns := fmt.Sprintf("%s:%d:", prefix, keyerRuns.Add(1))
	return func(name string) string { return ns + name }
}

// elements returns the quoted string elements of a flat array as redis-cli --no-raw prints it.
func elements(t *testing.T, out string) []string {
	t.Helper()
	if out == "(empty array)" {
		return nil
	}
	line := regexp.MustCompile(`^\s*\d+\) "(.*)"$`)
	var elems []string
	for _, l := range strings.Split(out, "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a flat array of strings: line %q in\n%s", l, out)
		}
		elems = append(elems, m[1])
	}
	return elems
}

// sortedElements is elements in sorted order, for replies whose order is unspecified.
func sortedElements(t *testing.T, out string) []string {
	t.Helper()
	elems := elements(t, out)
	slices.Sort(elems)
	return elems
}

// hashPairs parses an HGETALL reply: a flat field/value array under RESP2,
// a map under RESP3; it returns sorted "field=value" pairs.
func hashPairs(t *testing.T, p cliProto, out string) []string {
	t.Helper()
	var pairs []string
	switch p.name {
	case resp2.name:
		elems := elements(t, out)
		if len(elems)%2 != 0 {
			t.Fatalf("RESP2 HGETALL has an odd number of elements:\n%s", out)
		}
		for i := 0; i < len(elems); i += 2 {
			pairs = append(pairs, elems[i]+"="+elems[i+1])
		}
	case resp3.name:
		if out == "(empty hash)" {
			return nil
		}
		entry := regexp.MustCompile(`^\s*\d+# "(.*)" => "(.*)"$`)
		for _, l := range strings.Split(out, "\n") {
			m := entry.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("RESP3 HGETALL is not a map of strings: line %q in\n%s", l, out)
			}
			pairs = append(pairs, m[1]+"="+m[2])
		}
	}
	slices.Sort(pairs)
	return pairs
}

func TestCLIStrings(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := sharedServer(t)
			k := keyer("strings:" + p.name)
			t.Run("happy paths", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "SET", k("s"), "hello"),
					step(`"hello"`, "GET", k("s")),
					step("(nil)", "GET", k("missing")),
					step("(integer) 11", "APPEND", k("s"), " world"),
					step("(integer) 11", "STRLEN", k("s")),
					step(`"hello"`, "GETRANGE", k("s"), "0", "4"),
					step(`"world"`, "GETRANGE", k("s"), "-5", "-1"),
					step("(integer) 11", "SETRANGE", k("s"), "6", "WORLD"),
					step(`"hello WORLD"`, "GET", k("s")),
					step("(integer) 3", "APPEND", k("appended"), "abc"),
					step("OK", "SET", k("float"), "1.5"),
					step(`"1.5"`, "GET", k("float")),
					step(`"3.75"`, "INCRBYFLOAT", k("float"), "2.25"),
					step(`"3.75"`, "GET", k("float")),
					step("OK", "SET", k("n"), "10"),
					step("(integer) 11", "INCR", k("n")),
					step("(integer) -10", "INCRBY", k("n"), "-21"),
					step("(integer) -11", "DECR", k("n")),
					step("(integer) 0", "DECRBY", k("n"), "-11"),
					step("(integer) 1", "INCR", k("counter")),
					step("(integer) 0", "SETNX", k("s"), "x"),
					step("(integer) 1", "SETNX", k("setnx"), "x"),
					step("(nil)", "SET", k("s"), "x", "NX"),
					step("(nil)", "SET", k("xx"), "x", "XX"),
					step("(integer) 0", "EXISTS", k("xx")),
					step(`"hello WORLD"`, "SET", k("s"), "v1", "XX", "GET"),
					step(`"v1"`, "GET", k("s")),
					step("(nil)", "SET", k("g"), "v1", "GET"),
					step(`"v1"`, "GETSET", k("g"), "v2"),
					step(`"v2"`, "GETDEL", k("g")),
					step("(nil)", "GETDEL", k("g")),
					step("OK", "MSET", k("m1"), "1", k("m2"), "2"),
					step("1) \"1\"\n2) (nil)\n3) \"2\"", "MGET", k("m1"), k("missing"), k("m2")),
					step("(integer) 0", "MSETNX", k("m1"), "x", k("m3"), "3"),
					step("(nil)", "GET", k("m3")),
					step("(integer) 1", "MSETNX", k("m3"), "3", k("m4"), "4"),
					step(`"4"`, "GET", k("m4")),
				})
			})
			t.Run("edge cases", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "SET", k("empty"), ""),
					step(`""`, "GET", k("empty")),
					step("(integer) 0", "STRLEN", k("empty")),
					step("(integer) 0", "STRLEN", k("missing")),
					step("OK", "SET", k("utf8"), "héllo"),
					step(`"h\xc3\xa9llo"`, "GET", k("utf8")),
					step("(integer) 6", "STRLEN", k("utf8")),
					step("OK", "SET", k("r"), "hello"),
					step(`""`, "GETRANGE", k("r"), "100", "200"),
					step(`"hello"`, "GETRANGE", k("r"), "-100", "100"),
					step(`""`, "GETRANGE", k("missing"), "0", "-1"),
					step("(integer) 5", "SETRANGE", k("padded"), "3", "ab"),
					step(`"\x00\x00\x00ab"`, "GET", k("padded")),
					step("(integer) 0", "SETRANGE", k("norange"), "0", ""),
					step("(integer) 0", "EXISTS", k("norange")),
					step("(error) ERR offset is out of range", "SETRANGE", k("r"), "-1", "x"),
					step(errNotInteger, "GETRANGE", k("r"), "a", "b"),
					step("OK", "SET", k("max"), "9223372036854775807"),
					step(errOverflow, "INCR", k("max")),
					step(`"9223372036854775807"`, "GET", k("max")),
					step("OK", "SET", k("min"), "-9223372036854775808"),
					step(errOverflow, "DECR", k("min")),
					step("OK", "SET", k("spaced"), " 1"),
					step(errNotInteger, "INCR", k("spaced")),
					step(errNotInteger, "INCRBY", k("n"), "1.5"),
					step(errNotInteger, "INCR", k("r")),
					step(`"hello"`, "GET", k("r")),
					step(errNotFloat, "INCRBYFLOAT", k("r"), "1"),
					step(errNotFloat, "INCRBYFLOAT", k("float"), "abc"),
					step("OK", "SET", k("decimal"), "1.5"),
					step(`"1.6"`, "INCRBYFLOAT", k("decimal"), "0.1"),
					step(`"0"`, "INCRBYFLOAT", k("decimal"), "-1.6"),
					// Redis adds in a long double: 0.1 + 0.2 reads back as 0.3.
					step("OK", "SET", k("tenth"), "0.1"),
					step(`"0.3"`, "INCRBYFLOAT", k("tenth"), "0.2"),
					step(`"5200"`, "INCRBYFLOAT", k("tenth"), "5199.7"),
					step(errSyntax, "SET", k("r"), "v", "NX", "XX"),
					step(errSyntax, "SET", k("r"), "v", "XX", "NX"),
					// A condition may be repeated, as in Redis: r exists.
					step("(nil)", "SET", k("r"), "v", "NX", "NX"),
					step(errSyntax, "SET", k("r"), "v", "EX", "10", "PX", "10000"),
					step(errSyntax, "SET", k("r"), "v", "KEEPTTL", "EX", "10"),
					step(errSyntax, "SET", k("r"), "v", "BOGUS"),
					step(errNotInteger, "SET", k("r"), "v", "EX", "abc"),
					step(errExpireTime("set"), "SET", k("r"), "v", "EX", "0"),
					step(errExpireTime("set"), "SET", k("r"), "v", "PX", "-1"),
					step(`"hello"`, "GET", k("r")),
					step(errArity("mset"), "MSET", k("r")),
					step(errArity("mset"), "MSET", k("r"), "1", k("odd")),
					step("(integer) 0", "EXISTS", k("odd")),
					step(errSyntax, "GETEX", k("r"), "EX", "10", "PX", "10000"),
					// Two different expiration options are a syntax error
					// before any amount is read; one repeated counts once,
					// with its last amount, as in Redis.
					step(errSyntax, "SET", k("r"), "v", "EX", "abc", "PX", "xyz"),
					step(errSyntax, "SET", k("r"), "v", "PXAT", "0", "EXAT", "10"),
					step(errSyntax, "SET", k("r"), "v", "PX", "abc", "KEEPTTL"),
					step(`"hello"`, "GET", k("r")),
					step("OK", "SET", k("rep"), "v", "EX", "abc", "ex", "100"),
					step("(integer) 100", "TTL", k("rep")),
					step(errNotInteger, "SET", k("rep"), "v", "PX", "100", "PX", "abc"),
					step(errExpireTime("set"), "SET", k("rep"), "v", "EX", "100", "EX", "0"),
					step("OK", "SET", k("rep"), "v", "KEEPTTL", "KEEPTTL"),
					step(errSyntax, "GETEX", k("r"), "EX", "abc", "PERSIST"),
					step(errSyntax, "GETEX", k("r"), "PXAT", "abc", "EX", "xyz"),
					step(`"v"`, "GETEX", k("rep"), "EX", "abc", "ex", "200"),
					step("(integer) 200", "TTL", k("rep")),
					step(`"v"`, "GETEX", k("rep"), "PERSIST", "PERSIST"),
					step("(integer) -1", "TTL", k("rep")),
					// A missing key, or one of another type, answers before
					// the amount is read.
					step("(nil)", "GETEX", k("missing"), "EX", "abc"),
					step("(integer) 1", "HSET", k("hash"), "f", "v"),
					step(errWrongType, "GETEX", k("hash"), "EX", "0"),
					step(errWrongType, "GET", k("hash")),
					step(errWrongType, "APPEND", k("hash"), "x"),
					step(errWrongType, "INCR", k("hash")),
					step(errWrongType, "STRLEN", k("hash")),
					step("OK", "SET", k("hash"), "now a string"),
					step(`"now a string"`, "GET", k("hash")),
				})
			})
		})
	}
}

func TestCLIBitmaps(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := sharedServer(t)
			k := keyer("bitmaps:" + p.name)
			runSteps(t, srv.port, p, []cliStep{
				step("(integer) 0", "SETBIT", k("b"), "7", "1"),
				step("(integer) 1", "SETBIT", k("b"), "7", "0"),
				step("(integer) 0", "SETBIT", k("b"), "9", "1"),
				step("(integer) 1", "GETBIT", k("b"), "9"),
				step("(integer) 0", "GETBIT", k("b"), "1000"),
				step("OK", "SET", k("f"), "foobar"),
				step("(integer) 26", "BITCOUNT", k("f")),
				step("(integer) 6", "BITCOUNT", k("f"), "1", "1"),
				step("(integer) 17", "BITCOUNT", k("f"), "5", "30", "BIT"),
				step("OK", "SET", k("p"), "\xff\xf0"),
				step("(integer) 12", "BITPOS", k("p"), "0"),
				step("(integer) -1", "BITPOS", k("p"), "1", "2", "-1", "BYTE"),
				step("(integer) 0", "BITPOS", k("missing"), "0"),
				step("(integer) 6", "BITOP", "AND", k("and"), k("f"), k("f")),
				step(`"foobar"`, "GET", k("and")),
				step("(integer) 2", "BITOP", "NOT", k("not"), k("b")),
				step(`"\xff\xbf"`, "GET", k("not")),
				step("(error) ERR bit offset is not an integer or out of range", "SETBIT", k("b"), "-1", "1"),
				step("(error) ERR bit offset is not an integer or out of range", "GETBIT", k("b"), "4294967296"),
				step("(error) ERR bit is not an integer or out of range", "SETBIT", k("b"), "1", "2"),
				step("(error) ERR The bit argument must be 1 or 0.", "BITPOS", k("b"), "2"),
				step(errSyntax, "BITCOUNT", k("b"), "0"),
				step("(error) ERR BITOP NOT must be called with a single source key.", "BITOP", "NOT", k("d"), k("a"), k("b")),
				step(errSyntax, "BITOP", "NAND", k("d"), k("a")),
			})
		})
	}
}

func TestCLIHashes(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := sharedServer(t)
			k := keyer("hashes:" + p.name)
			h := k("h")
			t.Run("happy paths", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("(integer) 2", "HSET", h, "f1", "v1", "f2", "v2"),
					step("(integer) 1", "HSET", h, "f1", "v1b", "f3", "v3"),
					step(`"v1b"`, "HGET", h, "f1"),
					step("(nil)", "HGET", h, "nope"),
					step("(nil)", "HGET", k("missing"), "f"),
					step("(integer) 0", "HSETNX", h, "f1", "x"),
					step("(integer) 1", "HSETNX", h, "f4", "v4"),
					step("OK", "HMSET", h, "f5", "v5"),
					step("1) \"v1b\"\n2) (nil)\n3) \"v2\"", "HMGET", h, "f1", "nope", "f2"),
					step("(integer) 5", "HLEN", h),
					step("(integer) 1", "HEXISTS", h, "f1"),
					step("(integer) 0", "HEXISTS", h, "nope"),
					step("(integer) 3", "HSTRLEN", h, "f1"),
					step("(integer) 0", "HSTRLEN", h, "nope"),
					step("(integer) 1", "HDEL", h, "f5", "nope"),
					step("(integer) 5", "HINCRBY", h, "n", "5"),
					step("(integer) -2", "HINCRBY", h, "n", "-7"),
					step(`"2.5"`, "HINCRBYFLOAT", h, "fl", "2.5"),
					step(`"2.75"`, "HINCRBYFLOAT", h, "fl", "0.25"),
					step("hash", "TYPE", h),
				})
				want := []string{"f1=v1b", "f2=v2", "f3=v3", "f4=v4", "fl=2.75", "n=-2"}
				if got := hashPairs(t, p, p.run(t, srv.port, "HGETALL", h)); !slices.Equal(got, want) {
					t.Errorf("HGETALL: got %q, want %q", got, want)
				}
				if got, want := sortedElements(t, p.run(t, srv.port, "HKEYS", h)), []string{"f1", "f2", "f3", "f4", "fl", "n"}; !slices.Equal(got, want) {
					t.Errorf("HKEYS: got %q, want %q", got, want)
				}
				if got, want := sortedElements(t, p.run(t, srv.port, "HVALS", h)), []string{"-2", "2.75", "v1b", "v2", "v3", "v4"}; !slices.Equal(got, want) {
					t.Errorf("HVALS: got %q, want %q", got, want)
				}
			})
			t.Run("HGETALL shape", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("(integer) 1", "HSET", k("shape"), "f", "v"),
					step23("1) \"f\"\n2) \"v\"", `1# "f" => "v"`, "HGETALL", k("shape")),
					step23("(empty array)", "(empty hash)", "HGETALL", k("missing")),
				})
			})
			t.Run("HRANDFIELD", func(t *testing.T) {
				rk := k("rand")
				runSteps(t, srv.port, p, []cliStep{
					step("(integer) 3", "HSET", rk, "a", "1", "b", "2", "c", "3"),
					step("(nil)", "HRANDFIELD", k("missing")),
					step("(empty array)", "HRANDFIELD", k("missing"), "2"),
					step("(empty array)", "HRANDFIELD", rk, "0"),
					stepMatch(`"[abc]"`, "HRANDFIELD", rk),
				})
				if got := sortedElements(t, p.run(t, srv.port, "HRANDFIELD", rk, "10")); !slices.Equal(got, []string{"a", "b", "c"}) {
					t.Errorf("HRANDFIELD count above size: got %q, want every field once", got)
				}
				got := elements(t, p.run(t, srv.port, "HRANDFIELD", rk, "-7"))
				if len(got) != 7 {
					t.Errorf("HRANDFIELD -7: got %d fields %q, want 7 (repeats allowed)", len(got), got)
				}
				for _, f := range got {
					if !slices.Contains([]string{"a", "b", "c"}, f) {
						t.Errorf("HRANDFIELD -7 returned unknown field %q", f)
					}
				}
				// RESP2 flattens field/value pairs; RESP3 nests each pair in its own array.
				pair2 := `\d\) "([abc])"\n\d\) "([123])"`
				pair3 := `\d\) 1\) "([abc])"\n   2\) "([123])"`
				out := p.run(t, srv.port, "HRANDFIELD", rk, "2", "WITHVALUES")
				pattern := pair2 + `\n` + pair2
				if p.name == resp3.name {
					pattern = pair3 + `\n` + pair3
				}
				m := regexp.MustCompile(`\A` + pattern + `\z`).FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("HRANDFIELD 2 WITHVALUES: got\n%s\nwant two field/value pairs matching %q", out, pattern)
				}
				for i := 1; i < len(m); i += 2 {
					if want := map[string]string{"a": "1", "b": "2", "c": "3"}[m[i]]; m[i+1] != want {
						t.Errorf("HRANDFIELD WITHVALUES paired %q with %q, want %q", m[i], m[i+1], want)
					}
				}
				if m[1] == m[3] {
					t.Errorf("HRANDFIELD 2 WITHVALUES repeated field %q", m[1])
				}
			})
			t.Run("HSCAN", func(t *testing.T) {
				sk := k("scan")
				args := []string{"HSET", sk}
				var want []string
				for i := range manyKeys / 10 {
					f, v := fmt.Sprintf("f%03d", i), strconv.Itoa(i)
					args = append(args, f, v)
					want = append(want, f+"="+v)
				}
				slices.Sort(want)
				runSteps(t, srv.port, p, []cliStep{step(fmt.Sprintf("(integer) %d", len(want)), args...)})
				seen := map[string]bool{}
				cursor := "0"
				for calls := 0; ; calls++ {
					if calls == maxScanCalls {
						t.Fatalf("HSCAN did not finish in %d calls", maxScanCalls)
					}
					next, elems := scanReply(t, p.run(t, srv.port, "HSCAN", sk, cursor, "COUNT", "7"))
					if len(elems)%2 != 0 {
						t.Fatalf("HSCAN returned an odd number of elements: %q", elems)
					}
					for i := 0; i < len(elems); i += 2 {
						seen[elems[i]+"="+elems[i+1]] = true
					}
					if cursor = next; cursor == "0" {
						break
					}
				}
				var got []string
				for pair := range seen {
					got = append(got, pair)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("HSCAN walk: got %d pairs, want %d: got %q", len(got), len(want), got)
				}
				runSteps(t, srv.port, p, []cliStep{
					step("1) \"0\"\n2) (empty array)", "HSCAN", k("missing"), "0"),
					step("(error) ERR invalid cursor", "HSCAN", sk, "notacursor"),
				})
			})
			t.Run("edge cases", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("(integer) 1", "HSET", k("last"), "f", "v"),
					step("(integer) 1", "HDEL", k("last"), "f"),
					step("(integer) 0", "EXISTS", k("last")),
					step("none", "TYPE", k("last")),
					step("(integer) 0", "HLEN", k("missing")),
					step("(integer) 0", "HDEL", k("missing"), "f"),
					step("(integer) 1", "HSET", k("e"), "", ""),
					step(`""`, "HGET", k("e"), ""),
					step(errArity("hset"), "HSET", k("e"), "f"),
					step(errArity("hset"), "HSET", k("e"), "f", "v", "g"),
					step(errArity("hmset"), "HMSET", k("e"), "f", "v", "g"),
					step("(integer) 1", "HLEN", k("e")),
					step("(integer) 1", "HSET", k("e"), "text", "abc"),
					step("(error) ERR hash value is not an integer", "HINCRBY", k("e"), "text", "1"),
					step("(error) ERR hash value is not a float", "HINCRBYFLOAT", k("e"), "text", "1"),
					step(errNotInteger, "HINCRBY", k("e"), "n", "abc"),
					step(errNotFloat, "HINCRBYFLOAT", k("e"), "n", "abc"),
					step("(error) ERR value is NaN or Infinity", "HINCRBYFLOAT", k("e"), "n", "-inf"),
					step("(integer) 0", "HEXISTS", k("e"), "n"),
					step("(integer) 1", "HSET", k("e"), "big", "9223372036854775807"),
					step(errOverflow, "HINCRBY", k("e"), "big", "1"),
					step(`"9223372036854775807"`, "HGET", k("e"), "big"),
					step("OK", "SET", k("str"), "v"),
					step(errWrongType, "HGET", k("str"), "f"),
					step(errWrongType, "HSET", k("str"), "f", "v"),
					step(errWrongType, "HGETALL", k("str")),
					step(`"v"`, "GET", k("str")),
				})
			})
		})
	}
}

// scanReply parses a SCAN-family reply into the next cursor and the elements.
func scanReply(t *testing.T, out string) (string, []string) {
	t.Helper()
	m := regexp.MustCompile(`\A1\) "(\d+)"\n2\) ((?s).*)\z`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("not a SCAN reply:\n%s", out)
	}
	body := m[2]
	if body == "(empty array)" {
		return m[1], nil
	}
	// The nested array is printed indented by three columns after its first line.
	var lines []string
	for i, l := range strings.Split(body, "\n") {
		if i > 0 {
			l = strings.TrimPrefix(l, "   ")
		}
		lines = append(lines, l)
	}
	return m[1], elements(t, strings.Join(lines, "\n"))
}

// integerBetween matches redis-cli's integer reply of any value from lo to hi.
func integerBetween(lo, hi int) string {
	values := make([]string, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		values = append(values, strconv.Itoa(n))
	}
	return `\(integer\) (` + strings.Join(values, "|") + `)`
}

func TestCLIExpiry(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := sharedServer(t)
			k := keyer("expiry:" + p.name)
			now := time.Now()
			at := strconv.FormatInt(now.Unix()+expireAtSeconds, 10)
			atMs := strconv.FormatInt(now.UnixMilli()+400_000, 10)
			t.Run("happy paths", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "SET", k("t"), "v"),
					step("(integer) -1", "TTL", k("t")),
					step("(integer) -1", "PTTL", k("t")),
					step("(integer) -1", "EXPIRETIME", k("t")),
					step("(integer) -2", "TTL", k("missing")),
					step("(integer) -2", "PTTL", k("missing")),
					step("(integer) -2", "EXPIRETIME", k("missing")),
					step("(integer) -2", "PEXPIRETIME", k("missing")),
					step("(integer) 1", "EXPIRE", k("t"), "100"),
					step("(integer) 100", "TTL", k("t")),
					stepMatch(`\(integer\) (99\d{3}|100000)`, "PTTL", k("t")),
					step("(integer) 0", "EXPIRE", k("missing"), "100"),
					step("(integer) 1", "PEXPIRE", k("t"), "200000"),
					step("(integer) 200", "TTL", k("t")),
					step("(integer) 1", "EXPIREAT", k("t"), at),
					stepMatch(integerBetween(expireAtSeconds-int(stepsSlack/time.Second), expireAtSeconds), "TTL", k("t")),
					step("(integer) "+at, "EXPIRETIME", k("t")),
					step("(integer) "+at+"000", "PEXPIRETIME", k("t")),
					step("(integer) 1", "PEXPIREAT", k("t"), atMs),
					step("(integer) "+atMs, "PEXPIRETIME", k("t")),
					step("(integer) 1", "PERSIST", k("t")),
					step("(integer) -1", "TTL", k("t")),
					step("(integer) 0", "PERSIST", k("t")),
					step("(integer) 0", "PERSIST", k("missing")),
					step("OK", "SET", k("ex"), "v", "EX", "100"),
					step("(integer) 100", "TTL", k("ex")),
					step("OK", "SET", k("px"), "v", "PX", "100000"),
					step("(integer) 100", "TTL", k("px")),
					step("OK", "SET", k("exat"), "v", "EXAT", at),
					step("(integer) "+at, "EXPIRETIME", k("exat")),
					step("OK", "SET", k("pxat"), "v", "PXAT", atMs),
					step("(integer) "+atMs, "PEXPIRETIME", k("pxat")),
					step("OK", "SET", k("pxat"), "v2", "KEEPTTL"),
					step("(integer) "+atMs, "PEXPIRETIME", k("pxat")),
					step(`"v2"`, "GET", k("pxat")),
					step("OK", "SET", k("pxat"), "v3"),
					step("(integer) -1", "TTL", k("pxat")),
					step("OK", "SETEX", k("setex"), "100", "v"),
					step("(integer) 100", "TTL", k("setex")),
					step("OK", "PSETEX", k("psetex"), "100000", "v"),
					step("(integer) 100", "TTL", k("psetex")),
					step("OK", "SET", k("getex"), "v"),
					step(`"v"`, "GETEX", k("getex")),
					step("(integer) -1", "TTL", k("getex")),
					step(`"v"`, "GETEX", k("getex"), "EX", "100"),
					step("(integer) 100", "TTL", k("getex")),
					step(`"v"`, "GETEX", k("getex"), "PX", "50000"),
					step("(integer) 50", "TTL", k("getex")),
					step(`"v"`, "GETEX", k("getex"), "EXAT", at),
					step("(integer) "+at, "EXPIRETIME", k("getex")),
					step(`"v"`, "GETEX", k("getex"), "PXAT", atMs),
					step("(integer) "+atMs, "PEXPIRETIME", k("getex")),
					step(`"v"`, "GETEX", k("getex"), "PERSIST"),
					step("(integer) -1", "TTL", k("getex")),
					step("(nil)", "GETEX", k("missing"), "EX", "100"),
					step("OK", "SET", k("renamed"), "v", "EX", "100"),
					step("OK", "RENAME", k("renamed"), k("renamed2")),
					step("(integer) 100", "TTL", k("renamed2")),
					step("(integer) 1", "HSET", k("hash"), "f", "v"),
					step("(integer) 1", "EXPIRE", k("hash"), "100"),
					step("(integer) 100", "TTL", k("hash")),
				})
			})
			t.Run("edge cases", func(t *testing.T) {
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "SET", k("zero"), "v"),
					step("(integer) 1", "EXPIRE", k("zero"), "0"),
					step("(integer) 0", "EXISTS", k("zero")),
					step("OK", "SET", k("negative"), "v"),
					step("(integer) 1", "PEXPIRE", k("negative"), "-5"),
					step("(nil)", "GET", k("negative")),
					step("OK", "SET", k("past"), "v"),
					step("(integer) 1", "EXPIREAT", k("past"), "1"),
					step("(integer) -2", "TTL", k("past")),
					step("OK", "SET", k("bad"), "v"),
					step(errNotInteger, "EXPIRE", k("bad"), "abc"),
					step(errExpireTime("expire"), "EXPIRE", k("bad"), "9223372036854775807"),
					step(errExpireTime("pexpire"), "PEXPIRE", k("bad"), "9223372036854775807"),
					step(errExpireTime("setex"), "SETEX", k("bad"), "0", "v"),
					step(errExpireTime("psetex"), "PSETEX", k("bad"), "-1", "v"),
					step(errExpireTime("getex"), "GETEX", k("bad"), "EX", "0"),
					step("(integer) -1", "TTL", k("bad")),
					step(`"v"`, "GET", k("bad")),
				})
			})
			t.Run("expires after its TTL", func(t *testing.T) {
				ms := strconv.FormatInt(shortTTL.Milliseconds(), 10)
				runSteps(t, srv.port, p, []cliStep{
					step("OK", "SET", k("short"), "v", "PX", ms),
					step("OK", "SET", k("shorthash"), "v"),
					step("(integer) 1", "PEXPIRE", k("shorthash"), ms),
				})
				time.Sleep(shortTTL + expiryMargin) // the configured TTL plus a named margin
				runSteps(t, srv.port, p, []cliStep{
					step("(nil)", "GET", k("short")),
					step("(integer) -2", "PTTL", k("short")),
					step("(integer) 0", "EXISTS", k("short"), k("shorthash")),
					step("(integer) 1", "SETNX", k("short"), "again"),
					step("(integer) -1", "TTL", k("short")),
				})
			})
		})
	}
}

func TestCLIKeyspace(t *testing.T) {
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := startServer(t)
			runSteps(t, srv.port, p, []cliStep{
				step("(integer) 0", "DBSIZE"),
				step("(nil)", "RANDOMKEY"),
				step("(empty array)", "KEYS", "*"),
				step("OK", "MSET", "k1", "a", "k2", "b", "k10", "c", "other", "d"),
				step("(integer) 1", "HSET", "khash", "f", "v"),
				step("(integer) 5", "DBSIZE"),
				step("(integer) 3", "EXISTS", "k1", "k2", "k1", "missing"),
				step("string", "TYPE", "k1"),
				step("hash", "TYPE", "khash"),
				step("none", "TYPE", "missing"),
				stepMatch(`"(k1|k2|k10|other|khash)"`, "RANDOMKEY"),
				step("(integer) 1", "TOUCH", "k1", "missing"),
			})
			if got, want := sortedElements(t, p.run(t, srv.port, "KEYS", "k?")), []string{"k1", "k2"}; !slices.Equal(got, want) {
				t.Errorf("KEYS k?: got %q, want %q", got, want)
			}
			if got, want := sortedElements(t, p.run(t, srv.port, "KEYS", "*")), []string{"k1", "k10", "k2", "khash", "other"}; !slices.Equal(got, want) {
				t.Errorf("KEYS *: got %q, want %q", got, want)
			}
			runSteps(t, srv.port, p, []cliStep{
				step("OK", "RENAME", "k1", "k1renamed"),
				step("(integer) 0", "EXISTS", "k1"),
				step(`"a"`, "GET", "k1renamed"),
				step(errNoSuchKey, "RENAME", "missing", "x"),
				step(errNoSuchKey, "RENAMENX", "missing", "x"),
				step("OK", "RENAME", "k2", "k2"),
				step("(integer) 0", "RENAMENX", "k2", "k10"),
				step(`"c"`, "GET", "k10"),
				step("(integer) 1", "RENAMENX", "k2", "k3"),
				step("(integer) 1", "COPY", "k3", "kcopy"),
				step("(integer) 0", "COPY", "k3", "kcopy"),
				step("OK", "SET", "k3", "b2"),
				step("(integer) 1", "COPY", "k3", "kcopy", "REPLACE"),
				step(`"b2"`, "GET", "kcopy"),
				step("(integer) 0", "COPY", "missing", "x"),
				step("(integer) 1", "COPY", "khash", "khash2"),
				step("(integer) 1", "HSET", "khash2", "g", "w"),
				step("(integer) 1", "HLEN", "khash"),
				step("(integer) 2", "HLEN", "khash2"),
				step("OK", "RENAME", "khash2", "k10"),
				step("hash", "TYPE", "k10"),
				step("(integer) 2", "DEL", "k3", "kcopy", "missing"),
				step("(integer) 1", "UNLINK", "k10"),
				step("(integer) 0", "DEL", "k10"),
				step("(integer) 3", "DBSIZE"),
				step("OK", "SELECT", "0"),
				stepMatch(`\(error\) ERR .+`, "SELECT", "1"),
				step(errNotInteger, "SELECT", "x"),
				step("OK", "FLUSHDB"),
				step("(integer) 0", "DBSIZE"),
				step("(nil)", "RANDOMKEY"),
				step("1) \"0\"\n2) (empty array)", "SCAN", "0"),
				step("OK", "SET", "again", "v"),
				step("OK", "FLUSHALL"),
				step("(integer) 0", "DBSIZE"),
			})
		})
	}
}

func TestCLIScan(t *testing.T) {
	srv := startServer(t)
	args := []string{"MSET"}
	var many []string
	for i := range manyKeys {
		key := fmt.Sprintf("many:%04d", i)
		args = append(args, key, "v")
		many = append(many, key)
	}
	strs := []string{"k1", "k2", "k10", "ka", "other", "x1"}
	mset := []string{"MSET"}
	for _, key := range strs {
		mset = append(mset, key, "v")
	}
	runSteps(t, srv.port, resp2, []cliStep{
		step("OK", mset...),
		step("(integer) 1", "HSET", "khash", "f", "v"),
		step("OK", args...),
	})
	total := len(strs) + 1 + len(many)

	scanned := func(t *testing.T, flags ...string) []string {
		t.Helper()
		// redis-cli --scan prints one key per line with no type decoration.
		keys := strings.Split(redisCLI(t, srv.port, flags...), "\n")
		slices.Sort(keys)
		return keys
	}
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			resp := slices.DeleteFunc(slices.Clone(p.flags), func(f string) bool { return f == "--no-raw" })
			if got, want := scanned(t, append(resp, "--scan", "--pattern", "k*")...), []string{"k1", "k10", "k2", "ka", "khash"}; !slices.Equal(got, want) {
				t.Errorf("--scan --pattern 'k*': got %q, want %q", got, want)
			}
			if got, want := scanned(t, append(resp, "--scan", "--pattern", "k?")...), []string{"k1", "k2", "ka"}; !slices.Equal(got, want) {
				t.Errorf("--scan --pattern 'k?': got %q, want %q", got, want)
			}
			if got := scanned(t, append(resp, "--scan", "--pattern", "many:*")...); !slices.Equal(got, many) {
				t.Errorf("--scan --pattern 'many:*' over several cursors: got %d keys, want %d distinct", len(got), len(many))
			}
			if got := scanned(t, append(resp, "--scan")...); len(got) != total {
				t.Errorf("--scan: got %d keys, want %d", len(got), total)
			}
			runSteps(t, srv.port, p, []cliStep{
				step("(error) ERR invalid cursor", "SCAN", "notacursor"),
				step(errSyntax, "SCAN", "0", "BOGUS", "1"),
			})
		})
	}
}

func TestCLIErrors(t *testing.T) {
	longArg := strings.Repeat("x", 2*errUnknownCommandArgsMax)
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			srv := sharedServer(t)
			k := keyer("errors:" + p.name)
			runSteps(t, srv.port, p, []cliStep{
				step("(error) ERR unknown command 'nosuch', with args beginning with: 'a' 'b' ", "nosuch", "a", "b"),
				step("(error) ERR unknown command 'nosuch', with args beginning with: ", "nosuch"),
				step("(error) ERR unknown command 'nosuch', with args beginning with: '"+longArg[:errUnknownCommandArgsMax]+"' ", "nosuch", longArg, "b"),
				step(errArity("get"), "get"),
				step(errArity("get"), "GET"),
				step(errArity("get"), "GET", k("a"), k("b")),
				step(errArity("set"), "SET", k("a")),
				step(errArity("ping"), "PING", "a", "b"),
				step(errArity("echo"), "ECHO"),
				step(errArity("config|get"), "CONFIG", "GET"),
				step("(error) ERR unknown subcommand 'nosuch'. Try CLIENT HELP.", "CLIENT", "nosuch"),
				step("(integer) 1", "HSET", k("hash"), "f", "v"),
				step(errWrongType, "GET", k("hash")),
				step("OK", "SET", k("text"), "abc"),
				step(errNotInteger, "INCR", k("text")),
				step(errSyntax, "SET", k("text"), "v", "NX", "XX"),
				step(errNotInteger, "SET", k("text"), "v", "EX", "abc"),
				step(`"abc"`, "GET", k("text")),
				step("OK", "SELECT", "0"),
				stepMatch(`\(error\) ERR .+`, "SELECT", "1"),
				step("(error) ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?", "AUTH", "x"),
			})
		})
	}
}

func TestCLIAuth(t *testing.T) {
	srv := startServer(t, "--password", testPassword)
	session := func(t *testing.T, lines ...string) string {
		t.Helper()
		return redisCLIInput(t, srv.port, strings.Join(lines, "\n")+"\n", "--no-raw")
	}
	t.Run("before AUTH", func(t *testing.T) {
		runSteps(t, srv.port, resp2, []cliStep{
			step(errNoAuth, "GET", "k"),
			step(errNoAuth, "PING"),
			step(errNoAuth, "SET", "k", "v"),
			step(errWrongPass, "AUTH", "wrong"),
			step(errWrongPass, "AUTH", "default", "wrong"),
			step(errWrongPass, "AUTH", "nobody", testPassword),
			step(errArity("auth"), "AUTH"),
			step(errSyntax, "AUTH", "a", "b", "c"),
			// Redis 7.0 words it "the HELLO AUTH <user> <pass> option", Redis 7.2 "the HELLO <proto> AUTH <user> <pass> option".
			stepMatch(regexp.QuoteMeta("(error) NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO ")+
				`(<proto> )?`+regexp.QuoteMeta("AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"), "HELLO", "3"),
			step(errWrongPass, "HELLO", "3", "AUTH", "default", "wrong"),
		})
	})
	t.Run("AUTH on one connection", func(t *testing.T) {
		got := session(t, "GET k", "AUTH wrong", "GET k", "AUTH default "+testPassword, "SET k v", "GET k")
		want := strings.Join([]string{errNoAuth, errWrongPass, errNoAuth, "OK", "OK", `"v"`}, "\n")
		if got != want {
			t.Errorf("session:\n got: %q\nwant: %q", got, want)
		}
		if got, want := session(t, "AUTH "+testPassword, "PING"), "OK\nPONG"; got != want {
			t.Errorf("AUTH <password>: got %q, want %q", got, want)
		}
	})
	t.Run("redis-cli -a", func(t *testing.T) {
		for _, p := range cliProtos {
			flags := append([]string{"-a", testPassword, "--no-auth-warning"}, p.flags...)
			if got := redisCLI(t, srv.port, append(flags, "PING")...); got != "PONG" {
				t.Errorf("%s -a PING: got %q, want PONG", p.name, got)
			}
		}
	})
	t.Run("HELLO AUTH", func(t *testing.T) {
		out := redisCLI(t, srv.port, "--no-raw", "HELLO", "3", "AUTH", "default", testPassword)
		if !strings.Contains(out, `"proto" => (integer) 3`) {
			t.Errorf("HELLO 3 AUTH: got\n%s\nwant a map with proto 3", out)
		}
		if got, want := session(t, "HELLO 2 AUTH default "+testPassword, "PING"), "PONG"; !strings.HasSuffix(got, want) || strings.Contains(got, "(error)") {
			t.Errorf("HELLO 2 AUTH then PING: got\n%s", got)
		}
	})
}

func TestCLIHello(t *testing.T) {
	srv := sharedServer(t)
	t.Run("HELLO 3", func(t *testing.T) {
		out := resp3.run(t, srv.port, "HELLO", "3")
		fields := map[string]string{}
		entry := regexp.MustCompile(`^\s*\d+# "([^"]+)" => (.*)$`)
		for _, l := range strings.Split(out, "\n") {
			if m := entry.FindStringSubmatch(l); m != nil {
				fields[m[1]] = m[2]
			}
		}
		want := map[string]string{
			"server":  `"[^"]+"`,
			"version": `"\d+\.\d+\.\d+"`,
			"proto":   `\(integer\) 3`,
			"id":      `\(integer\) \d+`,
			"mode":    `"standalone"`,
			"role":    `"master"`,
			"modules": `\(empty array\)|`,
		}
		for name, pattern := range want {
			got, ok := fields[name]
			if !ok {
				t.Errorf("HELLO 3 has no field %q:\n%s", name, out)
				continue
			}
			if !regexp.MustCompile(`\A(?:` + pattern + `)\z`).MatchString(got) {
				t.Errorf("HELLO 3 field %q: got %q, want %q", name, got, pattern)
			}
		}
	})
	t.Run("HELLO 2", func(t *testing.T) {
		out := resp2.run(t, srv.port, "HELLO", "2")
		if !regexp.MustCompile(`(?m)^\s*\d+\) "proto"\n\s*\d+\) \(integer\) 2$`).MatchString(out) {
			t.Errorf("HELLO 2: got\n%s\nwant a flat array with proto 2", out)
		}
		if !regexp.MustCompile(`(?m)^\s*\d+\) "server"$`).MatchString(out) {
			t.Errorf("HELLO 2: got\n%s\nwant a server field", out)
		}
	})
	t.Run("HELLO without version keeps the protocol", func(t *testing.T) {
		if out := resp3.run(t, srv.port, "HELLO"); !strings.Contains(out, `"proto" => (integer) 3`) {
			t.Errorf("HELLO on a RESP3 connection: got\n%s\nwant proto 3", out)
		}
	})
	t.Run("HELLO SETNAME", func(t *testing.T) {
		got := redisCLIInput(t, srv.port, "HELLO 3 SETNAME e2e-hello\nCLIENT GETNAME\n", "--no-raw")
		if !strings.HasSuffix(got, "\n"+`"e2e-hello"`) {
			t.Errorf("CLIENT GETNAME after HELLO SETNAME: got\n%s", got)
		}
	})
	runSteps(t, srv.port, resp2, []cliStep{
		step("(error) NOPROTO unsupported protocol version", "HELLO", "4"),
		step("(error) NOPROTO unsupported protocol version", "HELLO", "1"),
	})
}

func TestCLIInfo(t *testing.T) {
	srv := startServer(t)
	info := func(t *testing.T, flags ...string) string {
		t.Helper()
		// Without --no-raw redis-cli prints the INFO text as the server sent it.
		return strings.ReplaceAll(redisCLI(t, srv.port, flags...), "\r", "")
	}
	t.Run("empty keyspace", func(t *testing.T) {
		if got := info(t, "INFO", "keyspace"); got != "# Keyspace" {
			t.Errorf("INFO keyspace on an empty server: got %q, want %q", got, "# Keyspace")
		}
	})
	t.Run("all sections", func(t *testing.T) {
		for _, flags := range [][]string{{"INFO"}, {"-3", "INFO"}} {
			out := info(t, flags...)
			for _, section := range []string{"Server", "Clients", "Memory", "Persistence", "Stats", "Keyspace"} {
				if !regexp.MustCompile(`(?m)^# ` + section + `$`).MatchString(out) {
					t.Errorf("%v: no section %q in\n%s", flags, section, out)
				}
			}
			for _, field := range []string{
				`redis_version:\d+\.\d+\.\d+`,
				`tcp_port:` + strconv.Itoa(srv.port),
				`uptime_in_seconds:\d+`,
				`connected_clients:1`,
				`used_memory:\d+`,
				`maxmemory:\d+`,
				`maxmemory_policy:\S+`,
				`loading:0`,
				`total_commands_processed:\d+`,
			} {
				if !regexp.MustCompile(`(?m)^` + field + `$`).MatchString(out) {
					t.Errorf("%v: no line matching %q in\n%s", flags, field, out)
				}
			}
		}
	})
	t.Run("one section", func(t *testing.T) {
		out := info(t, "INFO", "server")
		if !strings.HasPrefix(out, "# Server\n") || strings.Contains(out, "# Clients") {
			t.Errorf("INFO server: got\n%s\nwant only the Server section", out)
		}
	})
	t.Run("keyspace after writes", func(t *testing.T) {
		runSteps(t, srv.port, resp2, []cliStep{
			step("OK", "MSET", "a", "1", "b", "2"),
			step("OK", "SET", "c", "3", "EX", "100"),
			step("(integer) 1", "HSET", "h", "f", "v"),
		})
		out := info(t, "INFO", "keyspace")
		if !regexp.MustCompile(`\A# Keyspace\ndb0:keys=4,expires=1,avg_ttl=\d+\z`).MatchString(out) {
			t.Errorf("INFO keyspace: got %q, want db0:keys=4,expires=1,avg_ttl=N", out)
		}
	})
}

func TestCLIServerCommands(t *testing.T) {
	srv := sharedServer(t)
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			runSteps(t, srv.port, p, []cliStep{
				step("PONG", "PING"),
				step(`"hello"`, "PING", "hello"),
				step(`"hello world"`, "ECHO", "hello world"),
				stepMatch(`\(integer\) \d+`, "DBSIZE"),
				stepMatch(`\(integer\) \d+`, "CLIENT", "ID"),
				step("OK", "CLIENT", "SETNAME", "e2e"),
				step(errArity("client|setname"), "CLIENT", "SETNAME"),
				stepMatch(`\(integer\) [1-9]\d*`, "COMMAND", "COUNT"),
			})
			out := p.run(t, srv.port, "TIME")
			m := regexp.MustCompile(`\A1\) "(\d+)"\n2\) "(\d+)"\z`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("TIME: got %q, want two integer strings", out)
			}
			sec, _ := strconv.ParseInt(m[1], 10, 64)
			usec, _ := strconv.ParseInt(m[2], 10, 64)
			if usec >= time.Second.Microseconds() {
				t.Errorf("TIME microseconds %d are not below one second", usec)
			}
			if d := time.Since(time.UnixMicro(sec*time.Second.Microseconds() + usec)).Abs(); d > clockSkew {
				t.Errorf("TIME %s.%06d is %v away from the local clock", m[1], usec, d)
			}
			if got := redisCLIInput(t, srv.port, "CLIENT SETNAME e2e-name\nCLIENT GETNAME\n", p.flags...); got != "OK\n\"e2e-name\"" {
				t.Errorf("CLIENT SETNAME/GETNAME: got %q", got)
			}
			if out := p.run(t, srv.port, "CLIENT", "LIST"); !strings.Contains(out, "id=") {
				t.Errorf("CLIENT LIST: got %q, want lines with id=", out)
			}
			if out := p.run(t, srv.port, "COMMAND", "INFO", "get"); !regexp.MustCompile(`\A1\)\s+1\) "get"\n\s+2\) \(integer\) 2\n`).MatchString(out) {
				t.Errorf("COMMAND INFO get: got\n%s\nwant name get and arity 2 first", out)
			}
		})
	}
	t.Run("COMMAND DOCS", func(t *testing.T) {
		if out := resp3.run(t, srv.port, "COMMAND", "DOCS", "get"); !regexp.MustCompile(`\A1# "get" => \n\s+1# "summary" => "[^"]+"`).MatchString(out) {
			t.Errorf("COMMAND DOCS get: got\n%s\nwant a map from get to its docs, summary first", out)
		}
	})
}

// TestCLIIntrospection checks MEMORY USAGE and OBJECT through redis-cli,
// and that redis-cli --memkeys, which is built on MEMORY USAGE, reports the
// largest key.
func TestCLIIntrospection(t *testing.T) {
	srv := startServer(t)
	runSteps(t, srv.port, resp2, []cliStep{
		step("OK", "SET", "key:small", "v"),
		step("OK", "SET", "key:large", strings.Repeat("x", 1000)),
		step("OK", "SET", "key:int", "12345"),
		step("(integer) 1", "HSET", "key:hash", "f", "v"),
	})
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			runSteps(t, srv.port, p, []cliStep{
				stepMatch(`\(integer\) [1-9]\d*`, "MEMORY", "USAGE", "key:hash"),
				stepMatch(`\(integer\) [1-9]\d*`, "MEMORY", "USAGE", "key:small", "SAMPLES", "0"),
				step("(nil)", "MEMORY", "USAGE", "key:missing"),
				step(errSyntax, "MEMORY", "USAGE", "key:small", "SAMPLES", "-1"),
				step(errSyntax, "MEMORY", "USAGE", "key:small", "SAMPLES"),
				step(errSyntax, "MEMORY", "USAGE", "key:small", "FAST"),
				step(errNotInteger, "MEMORY", "USAGE", "key:small", "SAMPLES", "many"),
				step(errArity("memory|usage"), "MEMORY", "USAGE"),
				step("(error) ERR unknown subcommand 'NOPE'. Try MEMORY HELP.", "MEMORY", "NOPE"),
				stepMatch(`1\) MEMORY <subcommand>(?s).*\) HELP\n\d+\)     Print this help\.`, "MEMORY", "HELP"),
				step(`"int"`, "OBJECT", "ENCODING", "key:int"),
				step(`"embstr"`, "OBJECT", "ENCODING", "key:small"),
				step(`"raw"`, "OBJECT", "ENCODING", "key:large"),
				step(`"listpack"`, "OBJECT", "ENCODING", "key:hash"),
				step("(nil)", "OBJECT", "ENCODING", "key:missing"),
				step("(integer) 1", "OBJECT", "REFCOUNT", "key:int"),
				step("(nil)", "OBJECT", "REFCOUNT", "key:missing"),
				stepMatch(`\(error\) ERR An LFU maxmemory policy is not selected, access frequency not tracked\..*`, "OBJECT", "FREQ", "key:int"),
				step("(error) ERR idle time is not tracked: NEXO's LRU clock counts accesses, not time", "OBJECT", "IDLETIME", "key:int"),
				step("(nil)", "OBJECT", "IDLETIME", "key:missing"),
				step(errArity("object|encoding"), "OBJECT", "ENCODING"),
				step("(error) ERR unknown subcommand 'NOPE'. Try OBJECT HELP.", "OBJECT", "NOPE"),
				stepMatch(` 1\) OBJECT <subcommand>(?s).*\) HELP\n\d+\)     Print this help\.`, "OBJECT", "HELP"),
			})
			size := func(key string) int {
				out := p.run(t, srv.port, "MEMORY", "USAGE", key)
				n, err := strconv.Atoi(strings.TrimPrefix(out, "(integer) "))
				if err != nil {
					t.Fatalf("MEMORY USAGE %s: %q", key, out)
				}
				return n
			}
			if small, large := size("key:small"), size("key:large"); large-small != 999 {
				t.Errorf("MEMORY USAGE: a value 999 bytes longer takes %d bytes more", large-small)
			}
		})
	}
	out := redisCLIInput(t, srv.port, "", "--memkeys")
	if !regexp.MustCompile(`Biggest string found '"key:large"' has \d+ bytes`).MatchString(out) {
		t.Errorf("redis-cli --memkeys:\n%s", out)
	}
}

// slowlogWaitThreshold is the slow log threshold of the blocking test, far
// above what a command takes to run; the command waits slowlogWaitMargin
// longer than it.
const (
	slowlogWaitThreshold = 200 * time.Millisecond
	slowlogWaitMargin    = 100 * time.Millisecond
)

// TestCLISlowlog checks SLOWLOG with a threshold of 0, which logs every
// command, and a log of three entries.
func TestCLISlowlog(t *testing.T) {
	srv := startServer(t, "--slowlog-log-slower-than", "0", "--slowlog-max-len", "3")
	entry := func(args ...string) string {
		pattern := `1\) 1\) \(integer\) \d+\n   2\) \(integer\) \d+\n   3\) \(integer\) \d+\n`
		for i, a := range args {
			prefix := "      "
			if i == 0 {
				prefix = `   4\) `
			}
			pattern += prefix + strconv.Itoa(i+1) + `\) "` + regexp.QuoteMeta(a) + `"\n`
		}
		return pattern + `   5\) "127\.0\.0\.1:\d+"\n   6\) ""`
	}
	long := strings.Repeat("v", 200)
	many := []string{"MSET"}
	for i := range 40 {
		many = append(many, "k"+strconv.Itoa(i))
	}
	runSteps(t, srv.port, resp2, []cliStep{
		step(`1) "slowlog-log-slower-than"`+"\n"+`2) "0"`, "CONFIG", "GET", "slowlog-log-slower-than"),
		step("OK", "SLOWLOG", "RESET"),
		step("(integer) 1", "SLOWLOG", "LEN"), // the RESET
		step("OK", "SET", "slow:k", long),
		stepMatch(entry("SET", "slow:k", long[:128]+"... (72 more bytes)"), "SLOWLOG", "GET", "1"),
		step(`(error) WRONGPASS invalid username-password pair or user is disabled.`, "AUTH", "user", "secret"),
		stepMatch(entry("AUTH", "(redacted)", "(redacted)"), "SLOWLOG", "GET", "1"),
		step("OK", many...),
		stepMatch(`(?s).*30\) "k28"\n      31\) "k29"\n      32\) "\.\.\. \(10 more arguments\)"\n.*`, "SLOWLOG", "GET", "1"),
		step("(integer) 3", "SLOWLOG", "LEN"), // at most three entries
		stepMatch(`(?s)\A1\) 1\).*\n2\) 1\).*\n3\) 1\).*\z`, "SLOWLOG", "GET", "-1"),
		step("(error) ERR count should be greater than or equal to -1", "SLOWLOG", "GET", "-2"),
		step("(error) ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.", "SLOWLOG", "GET", "1", "2"),
		step("(error) ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.", "SLOWLOG", "NOPE"),
		stepMatch(` 1\) SLOWLOG <subcommand>(?s).*12\)     Print this help\.`, "SLOWLOG", "HELP"),
	})
	// A blocking command's wait is not its execution time (as for INFO
	// commandstats): waiting longer than the threshold does not log it.
	waits := startServer(t, "--slowlog-log-slower-than", strconv.FormatInt(slowlogWaitThreshold.Microseconds(), 10))
	runSteps(t, waits.port, resp2, []cliStep{
		step("(nil)", "QPOP", "slow:q", "BLOCK", strconv.FormatInt((slowlogWaitThreshold+slowlogWaitMargin).Milliseconds(), 10)),
		step("(integer) 0", "SLOWLOG", "LEN"),
	})
	off := startServer(t, "--slowlog-log-slower-than", "-1")
	runSteps(t, off.port, resp2, []cliStep{
		step("OK", "SET", "k", "v"),
		step("(integer) 0", "SLOWLOG", "LEN"),
		step("(empty array)", "SLOWLOG", "GET"),
	})
}

// TestCLIClientUnblock checks CLIENT UNBLOCK's arguments; queue_test.go
// and stream_test.go unblock the blocking commands.
func TestCLIClientUnblock(t *testing.T) {
	srv := sharedServer(t)
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			runSteps(t, srv.port, p, []cliStep{
				step("(integer) 0", "CLIENT", "UNBLOCK", "9223372036854775807"),
				step("(integer) 0", "CLIENT", "UNBLOCK", "0", "ERROR"),
				step(errNotInteger, "CLIENT", "UNBLOCK", "abc"),
				step(errNotInteger, "CLIENT", "UNBLOCK", "9223372036854775808", "TIMEOUT"),
				step("(error) ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR", "CLIENT", "UNBLOCK", "1", "NOW"),
				step("(error) ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR", "CLIENT", "UNBLOCK", "abc", ""),
				step(errArity("client|unblock"), "CLIENT", "UNBLOCK"),
				step("(error) ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP.",
					"CLIENT", "UNBLOCK", "1", "TIMEOUT", "ERROR"),
			})
			if out := p.run(t, srv.port, "CLIENT", "HELP"); !strings.Contains(out, "UNBLOCK <clientid> [TIMEOUT|ERROR]") {
				t.Errorf("CLIENT HELP does not list UNBLOCK:\n%s", out)
			}
		})
	}
}

func TestCLIConfigGet(t *testing.T) {
	srv := startServer(t, "--maxmemory", "104857600", "--maxmemory-policy", "allkeys-lru")
	runSteps(t, srv.port, resp2, []cliStep{
		step("1) \"maxmemory\"\n2) \"104857600\"", "CONFIG", "GET", "maxmemory"),
		step("1) \"maxmemory-policy\"\n2) \"allkeys-lru\"", "CONFIG", "GET", "maxmemory-policy"),
		step("(empty array)", "CONFIG", "GET", "no-such-parameter"),
	})
	runSteps(t, srv.port, resp3, []cliStep{
		step(`1# "maxmemory" => "104857600"`, "CONFIG", "GET", "maxmemory"),
		step("(empty hash)", "CONFIG", "GET", "no-such-parameter"),
	})
}

func TestCLITransactions(t *testing.T) {
	srv := startServer(t)
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			key := keyer("tx")
			input := strings.Join([]string{
				"MULTI",
				"SET " + key("k") + " v",
				"INCR " + key("n"),
				"GET " + key("k"),
				"HSET " + key("k") + " f v",
				"EXEC",
				"MULTI",
				"SET " + key("never") + " v",
				"GET",
				"EXEC",
				"GET " + key("never"),
				"EXEC",
			}, "\n") + "\n"
			want := strings.Join([]string{
				"OK", "QUEUED", "QUEUED", "QUEUED", "QUEUED",
				`1) OK`,
				`2) (integer) 1`,
				`3) "v"`,
				`4) (error) WRONGTYPE Operation against a key holding the wrong kind of value`,
				"OK", "QUEUED", errArity("get"),
				"(error) EXECABORT Transaction discarded because of previous errors.",
				"(nil)",
				"(error) ERR EXEC without MULTI",
			}, "\n")
			if got := redisCLIInput(t, srv.port, input, p.flags...); got != want {
				t.Errorf("redis-cli %s:\n got: %q\nwant: %q", p.name, got, want)
			}
		})
	}
}

func TestCLIShutdown(t *testing.T) {
	t.Run("redis-cli SHUTDOWN stops the server as SIGTERM does", func(t *testing.T) {
		requireRedisCLI(t)
		dir := t.TempDir()
		s, err := launch(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if s.running() {
				s.kill()
			}
		})
		if out := redisCLI(t, s.port, "QPUSH", "kept", "job"); out != "1" {
			t.Fatalf("QPUSH: %q", out)
		}
		runSteps(t, s.port, resp2, []cliStep{
			step("1) \"master\"\n2) (integer) 0\n3) (empty array)", "ROLE"),
			step("(error) ERR No shutdown in progress.", "SHUTDOWN", "ABORT"),
			step(errSyntax, "SHUTDOWN", "LATER"),
		})
		redisCLI(t, s.port, "SHUTDOWN", "NOSAVE")
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			t.Fatalf("no exit within %v of SHUTDOWN", stopTimeout)
		}
		if s.waitErr != nil || !strings.Contains(s.logs(), `msg="shutting down" command=SHUTDOWN`) || !strings.Contains(s.logs(), "msg=bye") {
			t.Fatalf("exit %v after SHUTDOWN; log:\n%s", s.waitErr, s.logs())
		}
		// The data directory was released and the queue's log closed whole.
		again := startOn(t, dir)
		if out := redisCLI(t, again.port, "QLEN", "kept"); !strings.Contains(out, "ready\n1\n") {
			t.Fatalf("QLEN after the restart: %q", out)
		}
	})
}

func TestCLIScripts(t *testing.T) {
	srv := startServer(t)
	key := keyer("lua")
	script := filepath.Join(t.TempDir(), "incr.lua")
	if err := os.WriteFile(script, []byte("return {redis.call('incrby', KEYS[1], ARGV[1]), ARGV[2]}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range cliProtos {
		t.Run(p.name, func(t *testing.T) {
			runSteps(t, srv.port, p, []cliStep{
				step(`"v"`, "EVAL", "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])", "1", key("k"), "v"),
				step("(integer) 1", "EVAL", "return redis.call('exists', KEYS[1])", "1", key("k")),
				stepMatch(`\(error\) ERR user_script:1: boom script: [0-9a-f]{40}`, "EVAL", "error('boom')", "0"),
				step("(error) NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", strings.Repeat("0", 40), "0"),
			})
		})
	}
	// redis-cli --eval file keys , args
	if out := redisCLI(t, srv.port, "--no-raw", "--eval", script, key("n"), ",", "5", "x"); out != "1) (integer) 5\n2) \"x\"" {
		t.Errorf("redis-cli --eval: %q", out)
	}
}

func TestCLILFU(t *testing.T) {
	srv := startServer(t, "--maxmemory-policy", "allkeys-lfu")
	runSteps(t, srv.port, resp2, []cliStep{
		step("1) \"maxmemory-policy\"\n2) \"allkeys-lfu\"", "CONFIG", "GET", "maxmemory-policy"),
		step("OK", "SET", "lfu:k", "v"),
		// A new key's counter is 5, and its first read always counts.
		step("(integer) 5", "OBJECT", "FREQ", "lfu:k"),
		step(`"v"`, "GET", "lfu:k"),
		step("(integer) 6", "OBJECT", "FREQ", "lfu:k"),
		step("(nil)", "OBJECT", "FREQ", "lfu:missing"),
	})
}
