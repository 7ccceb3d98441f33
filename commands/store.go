package commands

import (
	"math"
	"strconv"
	"time"

	"nexo/engine/store"
	"nexo/internal/number"
)

// Commands of the STORE broker: strings, hashes and the keyspace.

func (c *Client) store() *store.Store { return c.srv.cfg.Store }

func (s *Server) registerStore(group string, cmds []*Command) {
	s.table.addAll(group, "0.1.0", cmds)
}

const (
	wf  = Write | DenyOOM        // writes that may grow memory
	wff = Write | DenyOOM | Fast // the same, in constant time
	rf  = ReadOnly | Fast        // reads in constant time
	kf  = Write | Fast           // writes that never grow memory
)

func (s *Server) registerStrings() {
	s.registerStore("string", []*Command{
		{Name: "get", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the string value of a key.", Syntax: "key", Handler: cmdGet},
		{Name: "set", Arity: -3, Flags: wf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the string value of a key, ignoring its type; the key is created if it doesn't exist.", Syntax: "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]", Handler: cmdSet},
		{Name: "setnx", Arity: 3, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the string value of a key only when the key doesn't exist.", Syntax: "key value", Handler: cmdSetNX},
		{Name: "setex", Arity: 4, Flags: wf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the string value and expiration time in seconds of a key.", Syntax: "key seconds value", Handler: setExHandler("setex", "EX")},
		{Name: "psetex", Arity: 4, Flags: wf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the string value and expiration time in milliseconds of a key.", Syntax: "key milliseconds value", Handler: setExHandler("psetex", "PX")},
		{Name: "getset", Arity: 3, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the previous string value of a key after setting it to a new value.", Syntax: "key value", Handler: cmdGetSet},
		{Name: "getdel", Arity: 2, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the string value of a key after deleting the key.", Syntax: "key", Handler: cmdGetDel},
		{Name: "getex", Arity: -2, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the string value of a key after setting its expiration time.", Syntax: "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]", Handler: cmdGetEx},
		{Name: "mget", Arity: -2, Flags: rf, FirstKey: 1, LastKey: -1, Step: 1, Summary: "Atomically returns the string values of one or more keys.", Syntax: "key [key ...]", Handler: cmdMGet},
		{Name: "mset", Arity: -3, Flags: wf, FirstKey: 1, LastKey: -1, Step: 2, Summary: "Atomically creates or modifies the string values of one or more keys.", Syntax: "key value [key value ...]", Handler: cmdMSet},
		{Name: "msetnx", Arity: -3, Flags: wf, FirstKey: 1, LastKey: -1, Step: 2, Summary: "Atomically sets multiple keys only when none of them exist.", Syntax: "key value [key value ...]", Handler: cmdMSetNX},
		{Name: "incr", Arity: 2, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Increments the integer value of a key by one.", Syntax: "key", Handler: incrHandler(1)},
		{Name: "decr", Arity: 2, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Decrements the integer value of a key by one.", Syntax: "key", Handler: incrHandler(-1)},
		{Name: "incrby", Arity: 3, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Increments the integer value of a key by a number.", Syntax: "key increment", Handler: incrHandler(1)},
		{Name: "decrby", Arity: 3, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Decrements the integer value of a key by a number.", Syntax: "key decrement", Handler: incrHandler(-1)},
		{Name: "incrbyfloat", Arity: 3, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Increments the floating point value of a key by a number.", Syntax: "key increment", Handler: cmdIncrByFloat},
		{Name: "append", Arity: 3, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Appends a string to the value of a key; creates the key if needed.", Syntax: "key value", Handler: cmdAppend},
		{Name: "strlen", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the length of a string value.", Syntax: "key", Handler: cmdStrLen},
		{Name: "getrange", Arity: 4, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns a substring of the string stored at a key.", Syntax: "key start end", Handler: cmdGetRange},
		{Name: "setrange", Arity: 4, Flags: wf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Overwrites part of a string value from an offset; creates the key if needed.", Syntax: "key offset value", Handler: cmdSetRange},
	})
}

func cmdGet(c *Client, args [][]byte) {
	v, err := c.store().Get(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.BulkOrNull(v)
}

// expireFlags selects which expiration options a command accepts.
type expireFlags uint8

const (
	allowKeepTTL expireFlags = 1 << iota
	allowPersist
)

// expireOption is the expiration option of a SET or GETEX as given: its
// upper-case word (EX, PX, EXAT, PXAT, KEEPTTL or PERSIST; "" when none
// was given) and, for a unit word, its amount, not yet looked at.
type expireOption struct {
	word   string
	amount []byte
}

// parseExpireOption reads the expiration option at args[i] into o and
// returns how many arguments it took. It takes none, a syntax error for the
// caller, when args[i] is not an option allow accepts, when it is a unit
// word without an amount, or when o already holds another option. As in
// Redis, the same option may be repeated, the last amount replacing the
// earlier ones, and no amount is looked at before the whole command parses.
func parseExpireOption(args [][]byte, i int, allow expireFlags, o *expireOption) int {
	arg, word, n := args[i], "", 2
	switch {
	case is(arg, "KEEPTTL") && allow&allowKeepTTL != 0:
		word, n = "KEEPTTL", 1
	case is(arg, "PERSIST") && allow&allowPersist != 0:
		word, n = "PERSIST", 1
	case is(arg, "EX"):
		word = "EX"
	case is(arg, "PX"):
		word = "PX"
	case is(arg, "EXAT"):
		word = "EXAT"
	case is(arg, "PXAT"):
		word = "PXAT"
	default:
		return 0
	}
	if (o.word != "" && o.word != word) || i+n > len(args) {
		return 0
	}
	o.word = word
	if n == 2 {
		o.amount = args[i+1]
	}
	return n
}

// expiration checks o's amount for cmd and returns the expiration o gives,
// NoExpire without an option, or an error reply.
func (o expireOption) expiration(cmd string) (store.Expiration, string) {
	switch o.word {
	case "", "PERSIST":
		return store.Expiration{Kind: store.NoExpire}, ""
	case "KEEPTTL":
		return store.Expiration{Kind: store.KeepTTL}, ""
	}
	n, ok := number.ParseInt(o.amount)
	if !ok {
		return store.Expiration{}, errNotInteger
	}
	return expiration(o.word, n, cmd, true)
}

// expiration builds an expiration from an upper-case unit word (EX, PX,
// EXAT, PXAT) and an amount. Redis
// refuses non-positive amounts in SET-like commands (positive=true) and
// amounts whose milliseconds overflow everywhere.
func expiration(unit string, n int64, cmd string, positive bool) (store.Expiration, string) {
	invalid := "ERR invalid expire time in '" + cmd + "' command"
	if positive && n <= 0 {
		return store.Expiration{}, invalid
	}
	ms := n
	if unit == "EX" || unit == "EXAT" {
		if n > math.MaxInt64/msPerSecond || n < math.MinInt64/msPerSecond {
			return store.Expiration{}, invalid
		}
		ms = n * msPerSecond
	}
	if unit == "EX" || unit == "PX" {
		return store.Expiration{Kind: store.ExpireIn, In: time.Duration(ms) * time.Millisecond}, checkDuration(ms, invalid)
	}
	return store.Expiration{Kind: store.ExpireAt, At: time.UnixMilli(ms)}, ""
}

// checkDuration refuses relative times whose nanoseconds overflow.
func checkDuration(ms int64, invalid string) string {
	if ms > math.MaxInt64/int64(time.Millisecond) || ms < math.MinInt64/int64(time.Millisecond) {
		return invalid
	}
	return ""
}

func cmdSet(c *Client, args [][]byte) {
	var o store.SetOptions
	var x expireOption
	for i := 3; i < len(args); {
		arg := args[i]
		switch {
		// As Redis: a condition may be repeated, not combined.
		case is(arg, "NX") && o.Cond != store.IfExists:
			o.Cond = store.IfNotExists
			i++
		case is(arg, "XX") && o.Cond != store.IfNotExists:
			o.Cond = store.IfExists
			i++
		case is(arg, "GET"):
			o.Get = true
			i++
		default:
			n := parseExpireOption(args, i, allowKeepTTL, &x)
			if n == 0 {
				c.replyError(errSyntax)
				return
			}
			i += n
		}
	}
	var msg string
	if o.Expire, msg = x.expiration("set"); msg != "" {
		c.replyError(msg)
		return
	}
	res, err := c.store().Set(args[1], args[2], o)
	switch {
	case err != nil:
		c.replyErr(err)
	case o.Get:
		c.w.BulkOrNull(res.Old)
	case !res.Applied:
		c.w.Null()
	default:
		c.w.OK()
	}
}

func cmdSetNX(c *Client, args [][]byte) {
	res, err := c.store().Set(args[1], args[2], store.SetOptions{Cond: store.IfNotExists})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(res.Applied))
}

// setExHandler serves SETEX (unit EX) and PSETEX (unit PX).
func setExHandler(name, unit string) Handler {
	return func(c *Client, args [][]byte) {
		n, ok := number.ParseInt(args[2])
		if !ok {
			c.replyError(errNotInteger)
			return
		}
		exp, msg := expiration(unit, n, name, true)
		if msg != "" {
			c.replyError(msg)
			return
		}
		if _, err := c.store().Set(args[1], args[3], store.SetOptions{Expire: exp}); err != nil {
			c.replyErr(err)
			return
		}
		c.w.OK()
	}
}

func cmdGetSet(c *Client, args [][]byte) {
	res, err := c.store().Set(args[1], args[2], store.SetOptions{Get: true})
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.BulkOrNull(res.Old)
}

func cmdGetDel(c *Client, args [][]byte) {
	v, err := c.store().GetDel(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.BulkOrNull(v)
}

func cmdGetEx(c *Client, args [][]byte) {
	var x expireOption
	for i := 2; i < len(args); {
		n := parseExpireOption(args, i, allowPersist, &x)
		if n == 0 {
			c.replyError(errSyntax)
			return
		}
		i += n
	}
	e, msg := x.expiration("getex")
	if msg != "" {
		// As Redis: a missing key, or one of another type, answers before
		// the amount is looked at.
		v, err := c.store().Get(args[1])
		switch {
		case err != nil:
			c.replyErr(err)
		case v == nil:
			c.w.Null()
		default:
			c.replyError(msg)
		}
		return
	}
	v, err := c.store().GetEx(args[1], e, x.word != "")
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.BulkOrNull(v)
}

func cmdMGet(c *Client, args [][]byte) { c.w.Bulks(c.store().MGet(args[1:])) }

func cmdMSet(c *Client, args [][]byte) {
	if len(args)%2 != 1 {
		c.replyError("ERR wrong number of arguments for 'mset' command")
		return
	}
	if err := c.store().MSet(args[1:]); err != nil {
		c.replyErr(err)
		return
	}
	c.w.OK()
}

func cmdMSetNX(c *Client, args [][]byte) {
	if len(args)%2 != 1 {
		c.replyError("ERR wrong number of arguments for 'msetnx' command")
		return
	}
	ok, err := c.store().MSetNX(args[1:])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(ok))
}

// incrHandler serves INCR and DECR (the step is 1 or -1) and INCRBY and
// DECRBY (the amount argument is multiplied by sign).
func incrHandler(sign int64) Handler {
	return func(c *Client, args [][]byte) {
		delta := sign
		if len(args) == 3 {
			n, ok := number.ParseInt(args[2])
			switch {
			case !ok:
				c.replyError(errNotInteger)
				return
			case sign < 0 && n == math.MinInt64:
				c.replyError("ERR decrement would overflow")
				return
			}
			delta = n * sign
		}
		incr(c, args[1], delta)
	}
}

func incr(c *Client, key []byte, delta int64) {
	v, err := c.store().IncrBy(key, delta)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(v)
}

func cmdIncrByFloat(c *Client, args [][]byte) {
	v, err := c.store().IncrByFloat(args[1], args[2])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Bulk(v)
}

func cmdAppend(c *Client, args [][]byte) {
	n, err := c.store().Append(args[1], args[2])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}

func cmdStrLen(c *Client, args [][]byte) {
	n, err := c.store().StrLen(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}

func cmdGetRange(c *Client, args [][]byte) {
	start, ok1 := number.ParseInt(args[2])
	end, ok2 := number.ParseInt(args[3])
	if !ok1 || !ok2 {
		c.replyError(errNotInteger)
		return
	}
	v, err := c.store().GetRange(args[1], start, end)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Bulk(v)
}

func cmdSetRange(c *Client, args [][]byte) {
	off, ok := number.ParseInt(args[2])
	if !ok {
		c.replyError(errNotInteger)
		return
	}
	if off < 0 {
		c.replyError("ERR offset is out of range")
		return
	}
	n, err := c.store().SetRange(args[1], off, args[3])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}

func (s *Server) registerHashes() {
	s.registerStore("hash", []*Command{
		{Name: "hset", Arity: -4, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Creates or modifies the value of fields in a hash.", Syntax: "key field value [field value ...]", Handler: hsetHandler("hset")},
		{Name: "hmset", Arity: -4, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the values of multiple fields (replies OK).", Syntax: "key field value [field value ...]", Handler: hsetHandler("hmset")},
		{Name: "hsetnx", Arity: 4, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the value of a field in a hash only when the field doesn't exist.", Syntax: "key field value", Handler: cmdHSetNX},
		{Name: "hget", Arity: 3, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the value of a field in a hash.", Syntax: "key field", Handler: cmdHGet},
		{Name: "hmget", Arity: -3, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the values of all fields in a hash.", Syntax: "key field [field ...]", Handler: cmdHMGet},
		{Name: "hdel", Arity: -3, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Deletes one or more fields and their values from a hash; deletes the hash when it becomes empty.", Syntax: "key field [field ...]", Handler: cmdHDel},
		{Name: "hlen", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the number of fields in a hash.", Syntax: "key", Handler: cmdHLen},
		{Name: "hexists", Arity: 3, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Determines whether a field exists in a hash.", Syntax: "key field", Handler: cmdHExists},
		{Name: "hgetall", Arity: 2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns all fields and values in a hash.", Syntax: "key", Handler: cmdHGetAll},
		{Name: "hkeys", Arity: 2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns all fields in a hash.", Syntax: "key", Handler: cmdHKeys},
		{Name: "hvals", Arity: 2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns all values in a hash.", Syntax: "key", Handler: cmdHVals},
		{Name: "hincrby", Arity: 4, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Increments the integer value of a field in a hash by a number.", Syntax: "key field increment", Handler: cmdHIncrBy},
		{Name: "hincrbyfloat", Arity: 4, Flags: wff, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Increments the floating point value of a field by a number.", Syntax: "key field increment", Handler: cmdHIncrByFloat},
		{Name: "hstrlen", Arity: 3, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the length of the value of a field.", Syntax: "key field", Handler: cmdHStrLen},
		{Name: "hrandfield", Arity: -2, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns one or more random fields from a hash.", Syntax: "key [count [WITHVALUES]]", Handler: cmdHRandField},
		{Name: "hscan", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Iterates over fields and values of a hash.", Syntax: "key cursor [MATCH pattern] [COUNT count] [NOVALUES]", Handler: cmdHScan},
	})
}

// hsetHandler serves HSET (replies the number of new fields) and HMSET
// (replies OK).
func hsetHandler(name string) Handler {
	return func(c *Client, args [][]byte) {
		if len(args)%2 != 0 {
			c.replyError("ERR wrong number of arguments for '" + name + "' command")
			return
		}
		n, err := c.store().HSet(args[1], args[2:])
		switch {
		case err != nil:
			c.replyErr(err)
		case name == "hmset":
			c.w.OK()
		default:
			c.w.Int(int64(n))
		}
	}
}

func cmdHSetNX(c *Client, args [][]byte) {
	ok, err := c.store().HSetNX(args[1], args[2], args[3])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(ok))
}

func cmdHGet(c *Client, args [][]byte) {
	v, err := c.store().HGet(args[1], args[2])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.BulkOrNull(v)
}

func cmdHMGet(c *Client, args [][]byte) {
	vs, err := c.store().HMGet(args[1], args[2:])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Bulks(vs)
}

func cmdHDel(c *Client, args [][]byte) {
	n, err := c.store().HDel(args[1], args[2:])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}

func cmdHLen(c *Client, args [][]byte) {
	n, err := c.store().HLen(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}

func cmdHExists(c *Client, args [][]byte) {
	ok, err := c.store().HExists(args[1], args[2])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(ok))
}

func cmdHGetAll(c *Client, args [][]byte) {
	kv, err := c.store().HGetAll(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.writePairs(kv)
}

// writePairs writes field/value pairs as a map (an array in RESP2).
func (c *Client) writePairs(kv [][]byte) {
	c.w.Map(len(kv) / 2)
	for _, b := range kv {
		c.w.Bulk(b)
	}
}

func cmdHKeys(c *Client, args [][]byte) {
	ks, err := c.store().HKeys(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Bulks(ks)
}

func cmdHVals(c *Client, args [][]byte) {
	vs, err := c.store().HVals(args[1])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Bulks(vs)
}

func cmdHIncrBy(c *Client, args [][]byte) {
	delta, ok := number.ParseInt(args[3])
	if !ok {
		c.replyError(errNotInteger)
		return
	}
	v, err := c.store().HIncrBy(args[1], args[2], delta)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(v)
}

func cmdHIncrByFloat(c *Client, args [][]byte) {
	v, err := c.store().HIncrByFloat(args[1], args[2], args[3])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Bulk(v)
}

func cmdHStrLen(c *Client, args [][]byte) {
	n, err := c.store().HStrLen(args[1], args[2])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(int64(n))
}

// maxRandFieldCount bounds HRANDFIELD's count so that its reply cannot
// exhaust memory (Redis refuses counts whose doubled value overflows).
const maxRandFieldCount = math.MaxInt64 / 2

func cmdHRandField(c *Client, args [][]byte) {
	if len(args) == 2 {
		fs, err := c.store().HRandField(args[1], 1, false)
		switch {
		case err != nil:
			c.replyErr(err)
		case len(fs) == 0:
			c.w.Null()
		default:
			c.w.Bulk(fs[0])
		}
		return
	}
	count, ok := number.ParseInt(args[2])
	if !ok {
		c.replyError(errNotInteger)
		return
	}
	withValues := false
	switch {
	case len(args) == 4 && is(args[3], "WITHVALUES"):
		withValues = true
	case len(args) > 3:
		c.replyError(errSyntax)
		return
	}
	if count < -maxRandFieldCount || count > maxRandFieldCount {
		c.replyError("ERR value is out of range")
		return
	}
	out, err := c.store().HRandField(args[1], count, withValues)
	if err != nil {
		c.replyErr(err)
		return
	}
	if !withValues {
		c.w.Bulks(out)
		return
	}
	if c.w.Proto() == 3 {
		c.w.Array(len(out) / 2)
		for i := 0; i+1 < len(out); i += 2 {
			c.w.Array(2)
			c.w.Bulk(out[i])
			c.w.Bulk(out[i+1])
		}
		return
	}
	c.w.Bulks(out)
}

// scanOptions are the MATCH/COUNT/TYPE/NOVALUES options of SCAN and HSCAN.
type scanOptions struct {
	match    []byte
	count    int
	typ      string
	noValues bool
}

// defaultScanCount is SCAN's COUNT when none is given, as in Redis.
const defaultScanCount = 10

func parseScanOptions(args [][]byte, allowType, allowNoValues bool) (scanOptions, string) {
	o := scanOptions{count: defaultScanCount}
	for i := 0; i < len(args); i++ {
		more := i+1 < len(args)
		switch {
		case is(args[i], "MATCH") && more:
			o.match = args[i+1]
			if len(o.match) == 1 && o.match[0] == '*' {
				o.match = nil
			}
			i++
		case is(args[i], "COUNT") && more:
			n, ok := number.ParseInt(args[i+1])
			switch {
			case !ok:
				return o, errNotInteger
			case n < 1:
				return o, errSyntax
			}
			o.count = int(min(n, math.MaxInt32))
			i++
		case is(args[i], "TYPE") && more && allowType:
			o.typ = lower(args[i+1])
			i++
		case is(args[i], "NOVALUES") && allowNoValues:
			o.noValues = true
		default:
			return o, errSyntax
		}
	}
	return o, ""
}

func parseCursor(b []byte) (uint64, bool) {
	n, err := strconv.ParseUint(string(b), 10, 64)
	return n, err == nil
}

func cmdHScan(c *Client, args [][]byte) {
	cursor, ok := parseCursor(args[2])
	if !ok {
		c.replyError(errCursor)
		return
	}
	o, msg := parseScanOptions(args[3:], false, true)
	if msg != "" {
		c.replyError(msg)
		return
	}
	next, kv, err := c.store().HScan(args[1], cursor, o.match, o.count)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Array(2)
	c.w.BulkUint(next)
	if o.noValues {
		c.w.Array(len(kv) / 2)
		for i := 0; i < len(kv); i += 2 {
			c.w.Bulk(kv[i])
		}
		return
	}
	c.w.Bulks(kv)
}

func (s *Server) registerKeyspace() {
	s.registerStore("generic", []*Command{
		{Name: "del", Arity: -2, Flags: Write, FirstKey: 1, LastKey: -1, Step: 1, Summary: "Deletes one or more keys.", Syntax: "key [key ...]", Handler: cmdDel},
		{Name: "unlink", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: -1, Step: 1, Summary: "Deletes one or more keys.", Syntax: "key [key ...]", Handler: cmdDel},
		{Name: "exists", Arity: -2, Flags: rf, FirstKey: 1, LastKey: -1, Step: 1, Summary: "Determines whether one or more keys exist.", Syntax: "key [key ...]", Handler: cmdExists},
		{Name: "type", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Determines the type of value stored at a key.", Syntax: "key", Handler: cmdType},
		{Name: "keys", Arity: 2, Flags: ReadOnly, Summary: "Returns all key names that match a pattern.", Syntax: "pattern", Handler: cmdKeys},
		{Name: "scan", Arity: -2, Flags: ReadOnly, Summary: "Iterates over the key names in the store.", Syntax: "cursor [MATCH pattern] [COUNT count] [TYPE type]", Handler: cmdScan},
		{Name: "rename", Arity: 3, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Summary: "Renames a key and overwrites the destination.", Syntax: "key newkey", Handler: cmdRename},
		{Name: "renamenx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 2, Step: 1, Summary: "Renames a key only when the target key name doesn't exist.", Syntax: "key newkey", Handler: cmdRenameNX},
		{Name: "copy", Arity: -3, Flags: wf, FirstKey: 1, LastKey: 2, Step: 1, Summary: "Copies the value of a key to a new key.", Syntax: "source destination [DB destination-db] [REPLACE]", Handler: cmdCopy},
		{Name: "touch", Arity: -2, Flags: rf, FirstKey: 1, LastKey: -1, Step: 1, Summary: "Returns the number of existing keys out of those specified after updating the time they were last accessed.", Syntax: "key [key ...]", Handler: cmdTouch},
		{Name: "randomkey", Arity: 1, Flags: ReadOnly, Summary: "Returns a random key name from the store.", Handler: cmdRandomKey},
		{Name: "expire", Arity: -3, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the expiration time of a key in seconds.", Syntax: "key seconds [NX|XX|GT|LT]", Handler: expireHandler("expire", "EX")},
		{Name: "pexpire", Arity: -3, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the expiration time of a key in milliseconds.", Syntax: "key milliseconds [NX|XX|GT|LT]", Handler: expireHandler("pexpire", "PX")},
		{Name: "expireat", Arity: -3, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the expiration time of a key to a Unix timestamp.", Syntax: "key unix-time-seconds [NX|XX|GT|LT]", Handler: expireHandler("expireat", "EXAT")},
		{Name: "pexpireat", Arity: -3, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Sets the expiration time of a key to a Unix milliseconds timestamp.", Syntax: "key unix-time-milliseconds [NX|XX|GT|LT]", Handler: expireHandler("pexpireat", "PXAT")},
		{Name: "ttl", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the expiration time in seconds of a key.", Syntax: "key", Handler: ttlHandler(true)},
		{Name: "pttl", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the expiration time in milliseconds of a key.", Syntax: "key", Handler: ttlHandler(false)},
		{Name: "expiretime", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the expiration time of a key as a Unix timestamp.", Syntax: "key", Handler: expireTimeHandler(true)},
		{Name: "pexpiretime", Arity: 2, Flags: rf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Returns the expiration time of a key as a Unix milliseconds timestamp.", Syntax: "key", Handler: expireTimeHandler(false)},
		{Name: "persist", Arity: 2, Flags: kf, FirstKey: 1, LastKey: 1, Step: 1, Summary: "Removes the expiration time of a key.", Syntax: "key", Handler: cmdPersist},
	})
	s.table.addAll("generic", "0.3.0", []*Command{
		{Name: "object", Arity: -2, Summary: "A container for object introspection commands.", Syntax: "subcommand [argument ...]", Handler: cmdObjectUnknown},
		{Name: "object|encoding", Arity: 3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Summary: "Returns the internal encoding of a value.", Syntax: "key", Handler: cmdObjectEncoding},
		{Name: "object|freq", Arity: 3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Summary: "Returns the logarithmic access frequency counter of a value (LFU policies only).", Syntax: "key", Handler: cmdObjectFreq},
		{Name: "object|idletime", Arity: 3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Summary: "Returns the time since the last access to a value (not tracked: NEXO's LRU clock counts accesses).", Syntax: "key", Handler: cmdObjectIdleTime},
		{Name: "object|refcount", Arity: 3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Summary: "Returns the reference count of a value.", Syntax: "key", Handler: cmdObjectRefCount},
		{Name: "object|help", Arity: 2, Flags: Loading | Stale, Summary: "Returns helpful text about the different subcommands.", Handler: cmdObjectHelp},
	})
}

func cmdObjectUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("object", args[1]))
}

func cmdObjectEncoding(c *Client, args [][]byte) {
	enc, ok := c.store().Encoding(args[2])
	if !ok {
		c.w.Null()
		return
	}
	c.w.BulkString(enc)
}

// objectKey answers null for a missing key, as every OBJECT subcommand
// does, and reports whether the key exists.
func objectKey(c *Client, key []byte) bool {
	if _, ok := c.store().Encoding(key); ok {
		return true
	}
	c.w.Null()
	return false
}

// objectRefCount is what OBJECT REFCOUNT answers: every value has one owner.
const objectRefCount = 1

func cmdObjectRefCount(c *Client, args [][]byte) {
	if objectKey(c, args[2]) {
		c.w.Int(objectRefCount)
	}
}

// cmdObjectFreq answers the key's access counter under an LFU policy, and
// Redis's error under the others.
func cmdObjectFreq(c *Client, args [][]byte) {
	if !c.store().Policy().LFU() {
		if objectKey(c, args[2]) {
			c.replyError("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
		}
		return
	}
	n, ok := c.store().Frequency(args[2])
	if !ok {
		c.w.Null()
		return
	}
	c.w.Int(int64(n))
}

// cmdObjectIdleTime refuses: the store's LRU clock orders accesses without
// reading the time, so there is no idle time to report.
func cmdObjectIdleTime(c *Client, args [][]byte) {
	if objectKey(c, args[2]) {
		c.replyError("ERR idle time is not tracked: NEXO's LRU clock counts accesses, not time")
	}
}

var objectHelp = []string{
	"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ENCODING <key>", "    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>", "    Return the access frequency index of the <key>. Not tracked: NEXO has no LFU policy.",
	"IDLETIME <key>", "    Return the idle time of the <key>. Not tracked: NEXO's LRU clock counts accesses.",
	"REFCOUNT <key>", "    Return the number of references of the value associated with the specified",
	"    <key>.",
	"HELP", "    Print this help.",
}

func cmdObjectHelp(c *Client, _ [][]byte) { c.helpReply(objectHelp) }

func cmdDel(c *Client, args [][]byte) { c.w.Int(int64(c.store().Del(args[1:]))) }

func cmdExists(c *Client, args [][]byte) { c.w.Int(int64(c.store().Exists(args[1:]))) }

func cmdType(c *Client, args [][]byte) { c.w.Simple(c.store().Type(args[1])) }

func cmdKeys(c *Client, args [][]byte) { c.w.Bulks(c.store().Keys(args[1])) }

func cmdScan(c *Client, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		c.replyError(errCursor)
		return
	}
	o, msg := parseScanOptions(args[2:], true, false)
	if msg != "" {
		c.replyError(msg)
		return
	}
	next, keys := c.store().Scan(cursor, o.match, o.count, o.typ)
	c.w.Array(2)
	c.w.BulkUint(next)
	c.w.Bulks(keys)
}

func cmdRename(c *Client, args [][]byte) {
	if err := c.store().Rename(args[1], args[2]); err != nil {
		c.replyErr(err)
		return
	}
	c.w.OK()
}

func cmdRenameNX(c *Client, args [][]byte) {
	ok, err := c.store().RenameNX(args[1], args[2])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(ok))
}

func cmdCopy(c *Client, args [][]byte) {
	replace := false
	for i := 3; i < len(args); i++ {
		switch {
		case is(args[i], "REPLACE"):
			replace = true
		case is(args[i], "DB") && i+1 < len(args):
			db, ok := number.ParseInt(args[i+1])
			switch {
			case !ok:
				c.replyError(errNotInteger)
				return
			case db != 0:
				c.replyError(errDBIndex + " (NEXO has the single database 0)")
				return
			}
			i++
		default:
			c.replyError(errSyntax)
			return
		}
	}
	ok, err := c.store().Copy(args[1], args[2], replace)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(ok))
}

func cmdTouch(c *Client, args [][]byte) { c.w.Int(int64(c.store().Touch(args[1:]))) }

func cmdRandomKey(c *Client, _ [][]byte) { c.w.BulkOrNull(c.store().RandomKey()) }

// expireHandler serves EXPIRE (unit EX), PEXPIRE (PX), EXPIREAT (EXAT)
// and PEXPIREAT (PXAT).
func expireHandler(name, unit string) Handler {
	return func(c *Client, args [][]byte) { expire(c, args, name, unit) }
}

func expire(c *Client, args [][]byte, name, unit string) {
	n, ok := number.ParseInt(args[2])
	if !ok {
		c.replyError(errNotInteger)
		return
	}
	cond := store.ExpireAlways
	nx, xx, gt, lt := false, false, false, false
	for _, a := range args[3:] {
		switch {
		case is(a, "NX"):
			nx = true
		case is(a, "XX"):
			xx = true
		case is(a, "GT"):
			gt = true
		case is(a, "LT"):
			lt = true
		default:
			c.replyError("ERR Unsupported option " + sanitize(a))
			return
		}
	}
	switch {
	case nx && (xx || gt || lt):
		c.replyError("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	case gt && lt:
		c.replyError("ERR GT and LT options at the same time are not compatible")
		return
	case nx:
		cond = store.ExpireNX
	case xx:
		cond = store.ExpireXX
	case gt:
		cond = store.ExpireGT
	case lt:
		cond = store.ExpireLT
	}
	e, msg := expiration(unit, n, name, false)
	if msg != "" {
		c.replyError(msg)
		return
	}
	set, err := c.store().Expire(args[1], e, cond)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Int(b2i(set))
}

// ttlHandler serves TTL (rounded seconds) and PTTL (milliseconds).
func ttlHandler(seconds bool) Handler {
	return func(c *Client, args [][]byte) {
		ms := c.store().PTTL(args[1])
		if ms >= 0 && seconds {
			ms = (ms + msPerSecond/2) / msPerSecond
		}
		c.w.Int(ms)
	}
}

// expireTimeHandler serves EXPIRETIME (rounded seconds, as Redis rounds
// them) and PEXPIRETIME.
func expireTimeHandler(seconds bool) Handler {
	return func(c *Client, args [][]byte) {
		ms := c.store().PExpireTime(args[1])
		if ms >= 0 && seconds {
			ms = (ms + msPerSecond/2) / msPerSecond
		}
		c.w.Int(ms)
	}
}

const msPerSecond = int64(time.Second / time.Millisecond)

func cmdPersist(c *Client, args [][]byte) { c.w.Int(b2i(c.store().Persist(args[1]))) }

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// lower returns a command name or option in lower case.
func lower(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}
