package commands

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"nexo/internal/number"
	"nexo/resp"
)

// Scripts: EVAL runs a Lua 5.1 script as Redis does, atomically: like EXEC
// it holds off every other command of the server while it runs (see
// exclusive), so a script's redis.call()s see and leave a consistent
// state. One Lua state serves every script, used only inside that
// exclusive section. Scripts are cached by their SHA1 for EVALSHA.
//
// The script's redis.call() runs a command of the table as the calling
// connection, with its replies written in RESP2 to a scratch writer and
// converted to Lua values with Redis's rules, and the script's result is
// converted back the same way. A script that runs past the time limit is
// stopped with an error (Redis answers BUSY to every other client instead
// and needs SCRIPT KILL); the writes it made before stay.

// DefaultScriptTimeLimit is how long a script may run before it is stopped
// (Redis's busy-reply-threshold, whose default it takes).
const DefaultScriptTimeLimit = 5 * time.Second

// Errors of the scripting commands, worded as Redis's.
const (
	errNoScript         = "NOSCRIPT No matching script. Please use EVAL."
	errNotBusy          = "NOTBUSY No scripts in execution right now."
	errNegativeKeys     = "ERR Number of keys can't be negative"
	errTooManyKeys      = "ERR Number of keys can't be greater than number of args"
	errScriptUnknownCmd = "ERR Unknown Redis command called from script"
	errScriptArity      = "ERR Wrong number of args calling Redis command from script"
	errScriptForbidden  = "ERR This Redis command is not allowed from script"
	errScriptReadOnly   = "ERR Write commands are not allowed from read-only scripts."
	errScriptArgType    = "Lua redis lib command arguments must be strings or integers"
	errScriptNoArgs     = "Please specify at least one argument for this redis lib call"
)

// maxScriptReplyDepth bounds the nesting of a script's result, which a
// table containing itself would make endless.
const maxScriptReplyDepth = 1000

const errScriptReplyDepth = "ERR reached lua stack limit"

// maxEvalScripts bounds the scripts that EVAL and EVAL_RO cached and
// SCRIPT LOAD did not: past it, the least recently run of them is
// forgotten, as in Redis 7.4, so that a client that builds a new script for
// every call (values in the source instead of in ARGV) cannot grow the
// cache without end. Scripts of SCRIPT LOAD stay until SCRIPT FLUSH.
const maxEvalScripts = 500

// scriptChunkName names a script in Lua's error messages ("user_script:3:").
const scriptChunkName = "user_script"

// luaIntegerDigits formats a Lua number argument that is not an integer
// with Lua's own precision, as Redis does.
const luaIntegerDigits = 17

// Log levels of redis.log, as Redis numbers them.
var scriptLogLevels = map[string]int{"LOG_DEBUG": 0, "LOG_VERBOSE": 1, "LOG_NOTICE": 2, "LOG_WARNING": 3}

func (s *Server) registerScripting() {
	const run = NoScript | Stale
	s.table.addAll("scripting", "0.4.0", []*Command{
		{Name: "eval", Arity: -3, Flags: run, Summary: "Executes a server-side Lua script.",
			Syntax: "script numkeys [key [key ...]] [arg [arg ...]]", Handler: evalHandler(false, false)},
		{Name: "evalsha", Arity: -3, Flags: run, Summary: "Executes a server-side Lua script by SHA1 digest.",
			Syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]", Handler: evalHandler(true, false)},
		{Name: "eval_ro", Arity: -3, Flags: run | ReadOnly, Summary: "Executes a read-only server-side Lua script.",
			Syntax: "script numkeys [key [key ...]] [arg [arg ...]]", Handler: evalHandler(false, true)},
		{Name: "evalsha_ro", Arity: -3, Flags: run | ReadOnly, Summary: "Executes a read-only server-side Lua script by SHA1 digest.",
			Syntax: "sha1 numkeys [key [key ...]] [arg [arg ...]]", Handler: evalHandler(true, true)},
		{Name: "script", Arity: -2, Flags: NoScript, Summary: "A container for Lua scripts management commands.",
			Syntax: "subcommand [argument ...]", Handler: cmdScriptUnknown},
		{Name: "script|load", Arity: 3, Flags: NoScript | Stale, Summary: "Loads a server-side Lua script to the script cache.", Syntax: "script", Handler: cmdScriptLoad},
		{Name: "script|exists", Arity: -3, Flags: NoScript | Stale, Summary: "Determines whether server-side Lua scripts exist in the script cache.", Syntax: "sha1 [sha1 ...]", Handler: cmdScriptExists},
		{Name: "script|flush", Arity: -2, Flags: NoScript, Summary: "Removes all server-side Lua scripts from the script cache.", Syntax: "[ASYNC|SYNC]", Handler: cmdScriptFlush},
		{Name: "script|kill", Arity: 2, Flags: NoScript | Stale, Summary: "Terminates a server-side Lua script during execution.", Handler: cmdScriptKill},
		{Name: "script|help", Arity: 2, Flags: NoScript | Stale, Summary: "Returns helpful text about the different subcommands.", Handler: cmdScriptHelp},
	})
}

// scripts is the script cache and the Lua state that runs them.
type scripts struct {
	mu      sync.Mutex
	cache   map[string]*script // by lower-case hex SHA1
	lru     list.List          // SHA1s of the evictable scripts, most recently run first
	evicted int64              // scripts dropped past maxEvalScripts (INFO evicted_scripts)

	// The context scripts run under, reused by every run until the time
	// limit cancels it, and when the running script started (zero: none
	// runs); guarded by mu. One context for every run: a context and its
	// timer per run cost EVAL a fifth of its CPU.
	ctx       context.Context
	cancel    context.CancelCauseFunc
	startedAt time.Time

	// Used only inside exclusive (see above).
	state *lua.LState
	env   *lua.LTable  // the read-only globals scripts run in (protectGlobals)
	run   scriptRun    // the script running
	w     *resp.Writer // scratch writer of the redis.call replies, RESP2
	out   bytes.Buffer // what w flushes
}

// script is a compiled script. As Redis does, the source is the body of a
// function, so that a call is a plain function call: the chunk returns
// that function, made once in the Lua state on the script's first run.
type script struct {
	chunk *lua.FunctionProto
	fn    *lua.LFunction // used only inside exclusive
	lru   *list.Element  // in scripts.lru while evictable (loaded by EVAL only), else nil
}

// scriptPrefix and scriptSuffix wrap a script's source into the chunk that
// returns it as a function; the prefix adds no line, so that error
// messages give the script's own line numbers.
const (
	scriptPrefix = "return function() "
	scriptSuffix = "\nend"
)

// scriptRun is one EVAL: the connection it runs for and what it may do.
type scriptRun struct {
	c        *Client
	readOnly bool
	sha      string
	limit    time.Duration // script-time-limit, for its error
}

func scriptSHA(src []byte) string {
	sum := sha1.Sum(src)
	return hex.EncodeToString(sum[:])
}

// compile compiles src and caches it under its SHA1, which it returns; load
// (SCRIPT LOAD) keeps the script until SCRIPT FLUSH, otherwise (EVAL) it
// may be evicted past maxEvalScripts.
func (sc *scripts) compile(src []byte, load bool) (string, *script, error) {
	sha := scriptSHA(src)
	if cached := sc.lookup(sha, load); cached != nil {
		return sha, cached, nil
	}
	source := make([]byte, 0, len(scriptPrefix)+len(src)+len(scriptSuffix))
	source = append(append(append(source, scriptPrefix...), src...), scriptSuffix...)
	parsed, err := parse.Parse(bytes.NewReader(source), scriptChunkName)
	if err != nil {
		return "", nil, err
	}
	chunk, err := lua.Compile(parsed, scriptChunkName)
	if err != nil {
		return "", nil, err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if cached := sc.cache[sha]; cached != nil {
		// Another connection compiled it meanwhile.
		sc.used(cached, load)
		return sha, cached, nil
	}
	compiled := &script{chunk: chunk}
	if sc.cache == nil {
		sc.cache = make(map[string]*script)
	}
	sc.cache[sha] = compiled
	if !load {
		compiled.lru = sc.lru.PushFront(sha)
		for sc.lru.Len() > maxEvalScripts {
			oldest := sc.lru.Back()
			delete(sc.cache, sc.lru.Remove(oldest).(string))
			sc.evicted++
		}
	}
	return sha, compiled, nil
}

// used records a run of s (load: a SCRIPT LOAD of it, which makes it
// permanent). Lock should be held.
func (sc *scripts) used(s *script, load bool) {
	switch {
	case s.lru == nil:
	case load:
		sc.lru.Remove(s.lru)
		s.lru = nil
	default:
		sc.lru.MoveToFront(s.lru)
	}
}

// count is how many scripts the cache holds, and how many it evicted.
func (sc *scripts) count() (cached, evicted int64) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return int64(len(sc.cache)), sc.evicted
}

// lookup returns the script cached under sha, recording a run of it (load:
// a SCRIPT LOAD), or nil.
func (sc *scripts) lookup(sha string, load bool) *script {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	s := sc.cache[strings.ToLower(sha)]
	if s != nil {
		sc.used(s, load)
	}
	return s
}

// exists reports whether a script is cached under sha.
func (sc *scripts) exists(sha string) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.cache[strings.ToLower(sha)] != nil
}

// flush forgets every script.
func (sc *scripts) flush() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.cache = nil
	sc.lru.Init()
}

// evalHandler runs EVAL (bySHA: EVALSHA), and their read-only forms.
func evalHandler(bySHA, readOnly bool) Handler {
	return func(c *Client, args [][]byte) {
		numKeys, ok := number.ParseInt(args[2])
		switch {
		case !ok:
			c.replyError(errNotInteger)
			return
		case numKeys < 0:
			c.replyError(errNegativeKeys)
			return
		case numKeys > int64(len(args)-3):
			c.replyError(errTooManyKeys)
			return
		}
		sc := &c.srv.scripts
		var sha string
		var compiled *script
		if bySHA {
			sha, compiled = strings.ToLower(string(args[1])), sc.lookup(string(args[1]), false)
			if compiled == nil {
				c.replyError(errNoScript)
				return
			}
		} else {
			var err error
			if sha, compiled, err = sc.compile(args[1], false); err != nil {
				c.replyError("ERR Error compiling script (new function): " + oneLine(err.Error()))
				return
			}
		}
		keys, argv := args[3:3+numKeys], args[3+numKeys:]
		c.exclusive(func() { c.srv.runScript(c, sha, compiled, keys, argv, readOnly) })
	}
}

// runScript runs a compiled script for c with the server held off, and
// writes its result as c's reply.
func (s *Server) runScript(c *Client, sha string, compiled *script, keys, argv [][]byte, readOnly bool) {
	sc := &s.scripts
	if sc.state == nil {
		sc.state = newScriptState(s)
		sc.w = resp.NewWriter(&sc.out)
	}
	L := sc.state
	sc.run = scriptRun{c: c, readOnly: readOnly, sha: sha, limit: s.cfg.ScriptTimeLimit}
	defer func() { sc.run = scriptRun{} }()
	// Before the chunk runs: a context the time limit cancelled would stop
	// it at once.
	ctx := sc.begin(L)
	defer sc.end()
	if compiled.fn == nil {
		// The chunk returns the script's function, which inherits its
		// environment, and runs nothing else.
		chunk := L.NewFunctionFromProto(compiled.chunk)
		chunk.Env = sc.env
		L.Push(chunk)
		L.Call(0, 1)
		compiled.fn = L.Get(-1).(*lua.LFunction)
		L.Pop(1)
	}
	L.G.Global.RawSetString("KEYS", bulkTable(L, keys))
	L.G.Global.RawSetString("ARGV", bulkTable(L, argv))
	L.Push(compiled.fn)
	err := L.PCall(0, 1, nil)
	if err != nil {
		c.replyError(sc.run.errorReply(ctx, err))
		return
	}
	result := L.Get(-1)
	L.Pop(1)
	writeLuaValue(c, result, 0)
}

// begin marks a script run as started, for stopLate, and returns the
// context it runs under: the one of the runs before, unless the time limit
// cancelled it.
func (sc *scripts) begin(L *lua.LState) context.Context {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.ctx == nil || sc.ctx.Err() != nil {
		sc.ctx, sc.cancel = context.WithCancelCause(context.Background())
		L.SetContext(sc.ctx)
	}
	sc.startedAt = time.Now()
	return sc.ctx
}

// end marks the script run as over.
func (sc *scripts) end() {
	sc.mu.Lock()
	sc.startedAt = time.Time{}
	sc.mu.Unlock()
}

// stopLate stops the running script if it has run longer than limit. The
// server's cron calls it, so a script is stopped within cronInterval after
// its limit.
func (sc *scripts) stopLate(now time.Time, limit time.Duration) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.startedAt.IsZero() && now.Sub(sc.startedAt) > limit {
		sc.cancel(errScriptTimeLimit)
	}
}

// errScriptTimeLimit is the cause of a script run stopped by stopLate.
var errScriptTimeLimit = errors.New("script-time-limit reached")

// errorReply is the reply of a script that raised err, or ran past the
// time limit (ctx's cause).
func (r *scriptRun) errorReply(ctx context.Context, err error) string {
	suffix := " script: " + r.sha
	if errors.Is(context.Cause(ctx), errScriptTimeLimit) {
		return "ERR Script killed: it ran past script-time-limit (" + strconv.FormatInt(r.limit.Milliseconds(), 10) +
			" ms); its writes before that stay." + suffix
	}
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) {
		if t, ok := apiErr.Object.(*lua.LTable); ok {
			if msg, ok := t.RawGetString("err").(lua.LString); ok {
				return oneLine(string(msg)) + suffix
			}
		}
		if msg, ok := apiErr.Object.(lua.LString); ok {
			return "ERR " + oneLine(string(msg)) + suffix
		}
	}
	return "ERR " + oneLine(err.Error()) + suffix
}

// oneLine keeps the first line of a message, for an error reply.
func oneLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	return strings.TrimSpace(line)
}

// newScriptState builds the Lua state scripts run in: Lua's base, table,
// string and math libraries without file access, the redis, cjson and bit
// libraries, and read-only globals (see protectGlobals).
func newScriptState(s *Server) *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range []string{"dofile", "loadfile", "load", "loadstring", "require", "module"} {
		L.G.Global.RawSetString(name, lua.LNil)
	}
	// string.rep is the one call that allocates any size at once: it is
	// bounded by proto-max-bulk-len, the largest string a client may send.
	maxLen := s.cfg.Limits.MaxBulkLen
	strlib := L.G.Global.RawGetString(lua.StringLibName).(*lua.LTable)
	rep := strlib.RawGetString("rep").(*lua.LFunction)
	strlib.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		// Compared by division: the product of two large operands
		// overflows.
		if n := int64(L.CheckInt(2)); n > 0 && int64(len(L.CheckString(1))) > maxLen/n {
			L.RaiseError("string.rep: result longer than proto-max-bulk-len (%d bytes)", maxLen)
		}
		L.Push(rep)
		L.Push(L.Get(1))
		L.Push(L.Get(2))
		L.Call(2, 1)
		return 1
	}))
	sc := &s.scripts
	lib := L.NewTable()
	L.SetFuncs(lib, map[string]lua.LGFunction{
		"call":  func(L *lua.LState) int { return sc.call(L, false) },
		"pcall": func(L *lua.LState) int { return sc.call(L, true) },
		"error_reply": func(L *lua.LState) int {
			// As Redis: the reply's "-" is added only when the message
			// lacks it.
			L.Push(replyTable(L, "err", strings.TrimPrefix(L.CheckString(1), "-")))
			return 1
		},
		"status_reply": func(L *lua.LState) int {
			L.Push(replyTable(L, "ok", L.CheckString(1)))
			return 1
		},
		"sha1hex": func(L *lua.LState) int {
			L.Push(lua.LString(scriptSHA([]byte(L.CheckString(1)))))
			return 1
		},
		"log": func(L *lua.LState) int {
			level := L.CheckInt(1)
			parts := make([]string, 0, L.GetTop()-1)
			for i := 2; i <= L.GetTop(); i++ {
				parts = append(parts, L.ToStringMeta(L.Get(i)).String())
			}
			s.log.Info("script log", "level", level, "message", strings.Join(parts, " "))
			return 0
		},
	})
	for name, level := range scriptLogLevels {
		lib.RawSetString(name, lua.LNumber(level))
	}
	L.G.Global.RawSetString("redis", lib)
	openScriptLibs(L)
	sc.env = protectGlobals(L)
	return L
}

// errReadonly is raised by a script that writes to a global or a library.
const errReadonly = "Attempt to modify a readonly table"

// protectGlobals makes the globals and the libraries read-only for scripts,
// as Redis 7 does, so that one script cannot change what the next one
// runs with (redis.call, string.rep, a global): a library becomes an empty
// table that reads through to it and refuses writes, rawset refuses those
// tables, and their metatables, and the strings', are hidden. Reading a
// global that does not exist is an error too. It returns the environment
// scripts run in; KEYS and ARGV are set in the globals behind it.
func protectGlobals(L *lua.LState) *lua.LTable {
	globals := L.G.Global
	protected := map[*lua.LTable]bool{}
	refuse := L.NewFunction(func(L *lua.LState) int {
		L.RaiseError(errReadonly)
		return 0
	})
	readonly := func(t *lua.LTable, index lua.LValue) *lua.LTable {
		view, meta := L.CreateTable(0, 0), L.CreateTable(0, 3)
		meta.RawSetString("__index", index)
		meta.RawSetString("__newindex", refuse)
		meta.RawSetString("__metatable", lua.LFalse)
		L.SetMetatable(view, meta)
		protected[view] = true
		return view
	}
	for _, name := range []string{lua.StringLibName, lua.TabLibName, lua.MathLibName, "redis", "cjson", "bit"} {
		globals.RawSetString(name, readonly(globals.RawGetString(name).(*lua.LTable), globals.RawGetString(name)))
	}
	if meta, ok := L.GetMetatable(lua.LString("")).(*lua.LTable); ok {
		meta.RawSetString("__metatable", lua.LFalse)
	}
	// Hot path: the environment reads through to the globals table itself,
	// which the VM looks up without a call; only a missing name reaches the
	// globals' own __index, which raises.
	missing := L.CreateTable(0, 1)
	missing.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.CheckString(2))
		return 0
	}))
	L.SetMetatable(globals, missing)
	env := readonly(globals, globals)
	globals.RawSetString("_G", env)
	globals.RawSetString("setfenv", lua.LNil)
	rawset := globals.RawGetString("rawset").(*lua.LFunction)
	globals.RawSetString("rawset", L.NewFunction(func(L *lua.LState) int {
		if protected[L.CheckTable(1)] {
			L.RaiseError(errReadonly)
		}
		L.Push(rawset)
		L.Push(L.Get(1))
		L.Push(L.Get(2))
		L.Push(L.Get(3))
		L.Call(3, 0)
		return 0
	}))
	return env
}

// replyTable is {field=msg}. Hot path: sized for its one field (a new
// table of Lua's defaults allocates room for 32 of each kind).
func replyTable(L *lua.LState, field, msg string) *lua.LTable {
	t := L.CreateTable(0, 1)
	t.RawSetString(field, lua.LString(msg))
	return t
}

// bulkTable is a Lua array of strings.
func bulkTable(L *lua.LState, items [][]byte) *lua.LTable {
	t := L.CreateTable(len(items), 0)
	for i, it := range items {
		t.RawSetInt(i+1, lua.LString(it))
	}
	return t
}

// call is redis.call (protected: redis.pcall): it runs a command for the
// script's connection and returns its reply as a Lua value; an error reply
// is raised (or returned as {err=…} by pcall).
func (sc *scripts) call(L *lua.LState, protected bool) int {
	n := L.GetTop()
	if n == 0 {
		L.RaiseError(errScriptNoArgs)
	}
	args := make([][]byte, n)
	for i := range n {
		switch v := L.Get(i + 1).(type) {
		case lua.LString:
			args[i] = []byte(v)
		case lua.LNumber:
			args[i] = formatLuaNumber(float64(v))
		default:
			L.RaiseError(errScriptArgType)
		}
	}
	v := sc.runCommand(L, args)
	if t, ok := v.(*lua.LTable); ok && !protected {
		if _, isErr := t.RawGetString("err").(lua.LString); isErr {
			L.Error(t, 1)
		}
	}
	L.Push(v)
	return 1
}

// formatLuaNumber renders a number argument: integers without a fraction.
func formatLuaNumber(f float64) []byte {
	if f == float64(int64(f)) {
		return strconv.AppendInt(nil, int64(f), 10)
	}
	return strconv.AppendFloat(nil, f, 'g', luaIntegerDigits, 64)
}

// runCommand runs one command of the script as its connection and returns
// the reply converted to Lua.
func (sc *scripts) runCommand(L *lua.LState, args [][]byte) lua.LValue {
	r := &sc.run
	c, s := r.c, r.c.srv
	cmd := s.table.lookup(args[0])
	if cmd != nil && cmd.Subcommands != nil && len(args) > 1 {
		if sub := cmd.lookupSub(args[1]); sub != nil {
			cmd = sub
		}
	}
	switch {
	case cmd == nil:
		return replyTable(L, "err", errScriptUnknownCmd)
	case !cmd.arityOK(len(args)):
		return replyTable(L, "err", errScriptArity)
	case cmd.Flags&(NoScript|NoMulti|TxControl) != 0:
		return replyTable(L, "err", errScriptForbidden)
	case r.readOnly && cmd.Flags&Write != 0:
		return replyTable(L, "err", errScriptReadOnly)
	}
	sc.w.Flush()
	sc.out.Reset()
	own, outer := c.w, c.lastCmd.Load()
	c.w = sc.w
	c.lastCmd.Store(cmd)
	defer func() {
		c.w = own
		c.lastCmd.Store(outer)
		if p := recover(); p != nil {
			// The Lua state turns the panic into the script's error: the
			// bug is logged here, with its stack, as for any command.
			s.log.Error(panicMessage, "id", c.id, "addr", c.addr, "panic", p, "stack", string(debug.Stack()))
			panic(p)
		}
	}()
	s.callNested(c, cmd, args)
	sc.w.Flush()
	v, _ := parseReply(L, sc.out.Bytes())
	return v
}

// parseReply converts one RESP2 reply to a Lua value with Redis's rules:
// integer → number, bulk string → string, null → false, array → table,
// status → {ok=…}, error → {err=…}. It returns the rest of b.
func parseReply(L *lua.LState, b []byte) (lua.LValue, []byte) {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || len(line) == 0 {
		return lua.LFalse, nil
	}
	body := string(line[1:])
	switch line[0] {
	case '+':
		return replyTable(L, "ok", body), rest
	case '-':
		return replyTable(L, "err", body), rest
	case ':':
		n, _ := strconv.ParseInt(body, 10, 64)
		return lua.LNumber(n), rest
	case '$':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return lua.LFalse, rest
		}
		return lua.LString(rest[:n]), rest[n+len("\r\n"):]
	case '*':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return lua.LFalse, rest
		}
		t := L.CreateTable(n, 0)
		for i := range n {
			var v lua.LValue
			v, rest = parseReply(L, rest)
			t.RawSetInt(i+1, v)
		}
		return t, rest
	}
	return lua.LFalse, nil
}

// writeLuaValue writes a script's result as the reply, with Redis's rules:
// number → integer (truncated), string → bulk, true → 1, false and nil →
// null, {err=…} → error, {ok=…} → status, other tables → array up to the
// first nil. Tables nested deeper than maxScriptReplyDepth (a table that
// contains itself) end in an error element.
func writeLuaValue(c *Client, v lua.LValue, depth int) {
	if depth > maxScriptReplyDepth {
		c.replyError(errScriptReplyDepth)
		return
	}
	switch v := v.(type) {
	case lua.LNumber:
		c.w.Int(int64(v))
	case lua.LString:
		c.w.Bulk([]byte(v))
	case lua.LBool:
		if v {
			c.w.Int(1)
			return
		}
		c.w.Null()
	case *lua.LTable:
		if msg, ok := v.RawGetString("err").(lua.LString); ok {
			c.replyError(oneLine(string(msg)))
			return
		}
		if msg, ok := v.RawGetString("ok").(lua.LString); ok {
			c.w.Simple(string(msg))
			return
		}
		n := 0
		for v.RawGetInt(n+1) != lua.LNil {
			n++
		}
		c.w.Array(n)
		for i := 1; i <= n; i++ {
			writeLuaValue(c, v.RawGetInt(i), depth+1)
		}
	default:
		c.w.Null()
	}
}

func cmdScriptUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("script", args[1]))
}

func cmdScriptLoad(c *Client, args [][]byte) {
	sha, _, err := c.srv.scripts.compile(args[2], true)
	if err != nil {
		c.replyError("ERR Error compiling script (new function): " + oneLine(err.Error()))
		return
	}
	c.w.BulkString(sha)
}

func cmdScriptExists(c *Client, args [][]byte) {
	c.w.Array(len(args) - 2)
	for _, sha := range args[2:] {
		if c.srv.scripts.exists(string(sha)) {
			c.w.Int(1)
		} else {
			c.w.Int(0)
		}
	}
}

func cmdScriptFlush(c *Client, args [][]byte) {
	if len(args) > 3 || len(args) == 3 && !is(args[2], "ASYNC") && !is(args[2], "SYNC") {
		c.replyError(errSyntax)
		return
	}
	c.srv.scripts.flush()
	c.w.OK()
}

// cmdScriptKill always answers NOTBUSY: a running script holds off every
// other command, this one included, and is stopped by its time limit.
func cmdScriptKill(c *Client, _ [][]byte) { c.replyError(errNotBusy) }

var scriptHelp = []string{
	"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"EXISTS <sha1> [<sha1> ...]", "    Return information about the existence of the scripts in the script cache.",
	"FLUSH [ASYNC|SYNC]", "    Flush the Lua scripts cache.",
	"KILL", "    Kill the currently executing Lua script (NEXO: a script past script-time-limit is stopped).",
	"LOAD <script>", "    Load a script into the scripts cache without executing it.",
	"HELP", "    Print this help.",
}

func cmdScriptHelp(c *Client, _ [][]byte) { c.helpReply(scriptHelp) }
