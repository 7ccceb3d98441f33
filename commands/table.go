// Package commands is NEXO's command table and dispatcher: every command is
// registered once with its name, arity, flags and documentation, and its
// handler parses arguments, calls a broker's facade and writes the reply.
package commands

import (
	"strings"
	"sync/atomic"
)

// Flags describe how a command behaves; the dispatcher, COMMAND INFO and
// the statistics derive from them.
type Flags uint16

const (
	// Write commands change data.
	Write Flags = 1 << iota
	// ReadOnly commands only read data.
	ReadOnly
	// DenyOOM commands may grow memory and are refused when it is full.
	DenyOOM
	// Admin commands manage the server.
	Admin
	// PubSub commands belong to the publish/subscribe family.
	PubSub
	// Blocking commands may wait for data.
	Blocking
	// Fast commands run in constant or logarithmic time.
	Fast
	// NoAuth commands are accepted before the connection authenticates.
	NoAuth
	// Loading commands are accepted while data is loading.
	Loading
	// Stale commands are accepted on a stale replica (kept for COMMAND INFO).
	Stale
	// SubscriberOK commands are accepted from a RESP2 connection in
	// subscriber mode. Redis has no such flag, so COMMAND INFO omits it.
	SubscriberOK
	// NoMulti commands are refused inside MULTI (they change what the
	// connection receives, which a transaction's one reply cannot hold).
	NoMulti
	// TxControl commands run at once inside MULTI instead of being queued
	// (MULTI, EXEC, DISCARD, WATCH, QUIT, RESET). COMMAND INFO omits it.
	TxControl
	// NoScript commands cannot be run by a script's redis.call.
	NoScript
)

var flagNames = []struct {
	flag Flags
	name string
}{
	{Write, "write"}, {ReadOnly, "readonly"}, {DenyOOM, "denyoom"}, {Admin, "admin"},
	{PubSub, "pubsub"}, {Blocking, "blocking"}, {Fast, "fast"}, {NoAuth, "no_auth"},
	{Loading, "loading"}, {Stale, "stale"}, {NoMulti, "no_multi"}, {NoScript, "noscript"},
}

func (f Flags) names() []string {
	var out []string
	for _, fn := range flagNames {
		if f&fn.flag != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

// Handler runs one command for a client. args[0] is the command name as the
// client sent it.
type Handler func(c *Client, args [][]byte)

// Command is one entry of the table.
type Command struct {
	Name  string // lower case; "parent|sub" for subcommands
	Arity int    // Redis convention: n exactly, -n at least n (name included)
	Flags Flags
	// FirstKey, LastKey and Step locate the key arguments (0 = no keys,
	// LastKey -1 = up to the last argument).
	FirstKey, LastKey, Step int
	Group                   string // documentation group: string, hash, generic, connection, server
	Since                   string // first NEXO version with the command
	Summary                 string
	Syntax                  string // arguments after the name, in Redis's documentation notation
	Handler                 Handler
	Subcommands             map[string]*Command

	calls    atomic.Int64
	failures atomic.Int64 // calls answered with an error
	rejected atomic.Int64 // refused before running (see Client.reject)
	latency  latencyHistogram
}

// Table holds the commands by lower-case name.
type Table struct {
	byName map[string]*Command
}

func newTable() *Table { return &Table{byName: make(map[string]*Command)} }

// add registers cmd; a name registered twice is a programming error.
// addAll adds cmds, each in documentation group group and first in NEXO
// version since.
func (t *Table) addAll(group, since string, cmds []*Command) {
	for _, cmd := range cmds {
		cmd.Group, cmd.Since = group, since
		t.add(cmd)
	}
}

func (t *Table) add(cmd *Command) {
	parent, sub, isSub := strings.Cut(cmd.Name, "|")
	if !isSub {
		if _, dup := t.byName[cmd.Name]; dup {
			panic("commands: " + cmd.Name + " registered twice")
		}
		t.byName[cmd.Name] = cmd
		return
	}
	p, ok := t.byName[parent]
	if !ok {
		panic("commands: subcommand " + cmd.Name + " registered before its parent")
	}
	if p.Subcommands == nil {
		p.Subcommands = make(map[string]*Command)
	}
	if _, dup := p.Subcommands[sub]; dup {
		panic("commands: " + cmd.Name + " registered twice")
	}
	p.Subcommands[sub] = cmd
}

// maxCommandName is the longest command name looked up without allocating.
const maxCommandName = 32

// lookup finds a command by the name a client sent, in any letter case.
// Hot path: the name is lower-cased into a stack buffer and the map is
// indexed with a string conversion the compiler does without allocating.
func (t *Table) lookup(name []byte) *Command {
	if len(name) > maxCommandName {
		return nil
	}
	var buf [maxCommandName]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return t.byName[string(buf[:len(name)])]
}

// lookupSub finds a subcommand of parent in any letter case.
func (cmd *Command) lookupSub(name []byte) *Command {
	return cmd.Subcommands[strings.ToLower(string(name))]
}

// arityOK checks the number of arguments, name included.
func (cmd *Command) arityOK(n int) bool {
	if cmd.Arity >= 0 {
		return n == cmd.Arity
	}
	return n >= -cmd.Arity
}

// all lists every top-level command.
func (t *Table) all() []*Command {
	out := make([]*Command, 0, len(t.byName))
	for _, c := range t.byName {
		out = append(out, c)
	}
	return out
}

// resetStats zeroes the command's counters (CONFIG RESETSTAT).
func (cmd *Command) resetStats() {
	cmd.calls.Store(0)
	cmd.failures.Store(0)
	cmd.rejected.Store(0)
	cmd.latency.reset()
}
