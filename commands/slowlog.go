package commands

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"nexo/internal/number"
)

// Slow log defaults and limits, Redis's.
const (
	// DefaultSlowlogSlowerThan is the execution time from which a command
	// enters the slow log (slowlog-log-slower-than, 10,000 µs).
	DefaultSlowlogSlowerThan = 10 * time.Millisecond
	// DefaultSlowlogMaxLen is how many entries the slow log keeps.
	DefaultSlowlogMaxLen = 128
	// slowlogMaxArgs is how many arguments an entry keeps; the last one
	// kept says how many more there were.
	slowlogMaxArgs = 32
	// slowlogMaxArgBytes is how much of an argument an entry keeps; the
	// rest is counted.
	slowlogMaxArgBytes = 128
	// slowlogDefaultGet is how many entries SLOWLOG GET returns without a
	// count; Stats carries as many.
	slowlogDefaultGet = 10
	// slowlogRedacted replaces the arguments an entry must not keep.
	slowlogRedacted = "(redacted)"
)

// SlowEntry is one command that took at least the slow log's threshold.
type SlowEntry struct {
	ID       int64
	At       time.Time // when it ended
	Duration time.Duration
	Args     []string // cut and redacted (see slowArgs)
	Addr     string   // the client's address
	Name     string   // the client's name, "" when none
}

// slowLog keeps the latest commands that took at least a threshold, as
// Redis's SLOWLOG does. from is fixed at start, so the hot path compares a
// command's time with it without a lock.
type slowLog struct {
	from       time.Duration // math.MaxInt64 when the log is off
	slowerThan time.Duration // as configured; negative: off
	maxLen     int

	mu      sync.Mutex
	nextID  int64
	entries []SlowEntry // oldest first
}

// newSlowLog returns a log of commands of at least slowerThan (negative:
// none), keeping maxLen entries (0: none).
func newSlowLog(slowerThan time.Duration, maxLen int) *slowLog {
	l := &slowLog{from: slowerThan, slowerThan: slowerThan, maxLen: maxLen}
	if slowerThan < 0 || maxLen <= 0 {
		l.from, l.slowerThan = math.MaxInt64, -1
	}
	return l
}

// add records a command of c that took d, which is at least l.from.
func (l *slowLog) add(c *Client, cmd *Command, args [][]byte, d time.Duration) {
	e := SlowEntry{At: time.Now(), Duration: d, Args: slowArgs(cmd, args), Addr: c.addr}
	c.mu.Lock()
	e.Name = c.name
	c.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = l.nextID
	l.nextID++
	if len(l.entries) == l.maxLen {
		// The oldest goes by reslicing: append moves the entries to a new
		// array once the old one is used up, so a long log costs no copy
		// of itself per entry.
		l.entries[0] = SlowEntry{}
		l.entries = l.entries[1:]
	}
	l.entries = append(l.entries, e)
}

// latest returns up to n entries, newest first; n < 0 returns them all.
func (l *slowLog) latest(n int) []SlowEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n < 0 || n > len(l.entries) {
		n = len(l.entries)
	}
	out := make([]SlowEntry, n)
	for i := range out {
		out[i] = l.entries[len(l.entries)-1-i]
	}
	return out
}

func (l *slowLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *slowLog) reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// slowArgs copies the arguments of an entry as Redis keeps them: at most
// slowlogMaxArgs, each cut at slowlogMaxArgBytes, and without passwords.
func slowArgs(cmd *Command, args [][]byte) []string {
	n := min(len(args), slowlogMaxArgs)
	out := make([]string, n)
	for i := range n {
		a := args[i]
		switch {
		case i == n-1 && n < len(args):
			out[i] = "... (" + strconv.Itoa(len(args)-n+1) + " more arguments)"
		case len(a) > slowlogMaxArgBytes:
			out[i] = string(a[:slowlogMaxArgBytes]) + "... (" + strconv.Itoa(len(a)-slowlogMaxArgBytes) + " more bytes)"
		default:
			out[i] = string(a)
		}
	}
	redactSecrets(cmd, out)
	return out
}

// redactSecrets replaces the passwords of AUTH and HELLO … AUTH.
func redactSecrets(cmd *Command, args []string) {
	switch cmd.Name {
	case "auth":
		for i := 1; i < len(args); i++ {
			args[i] = slowlogRedacted
		}
	case "hello":
		for i := 1; i < len(args); i++ {
			if strings.EqualFold(args[i], "AUTH") {
				for j := i + 1; j < min(i+3, len(args)); j++ {
					args[j] = slowlogRedacted
				}
			}
		}
	}
}

func cmdSlowlogUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("slowlog", args[1]))
}

func cmdSlowlogGet(c *Client, args [][]byte) {
	n := slowlogDefaultGet
	switch {
	case len(args) > 3:
		c.replyError("ERR unknown subcommand or wrong number of arguments for 'get'. Try SLOWLOG HELP.")
		return
	case len(args) == 3:
		v, ok := number.ParseInt(args[2])
		if !ok || v < -1 {
			c.replyError("ERR count should be greater than or equal to -1")
			return
		}
		n = int(min(v, math.MaxInt32))
	}
	entries := c.srv.slow.latest(n)
	c.w.Array(len(entries))
	for _, e := range entries {
		c.w.Array(6)
		c.w.Int(e.ID)
		c.w.Int(e.At.Unix())
		c.w.Int(e.Duration.Microseconds())
		c.w.Array(len(e.Args))
		for _, a := range e.Args {
			c.w.BulkString(a)
		}
		c.w.BulkString(e.Addr)
		c.w.BulkString(e.Name)
	}
}

func cmdSlowlogLen(c *Client, _ [][]byte) { c.w.Int(int64(c.srv.slow.len())) }

func cmdSlowlogReset(c *Client, _ [][]byte) {
	c.srv.slow.reset()
	c.w.OK()
}

var slowlogHelp = []string{
	"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET [<count>]", "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
	"    Entries are made of:",
	"    id, timestamp, time in microseconds, arguments array, client IP and port,",
	"    client name",
	"LEN", "    Return the length of the slowlog.",
	"RESET", "    Reset the slowlog.",
	"HELP", "    Print this help.",
}

func cmdSlowlogHelp(c *Client, _ [][]byte) { c.helpReply(slowlogHelp) }
