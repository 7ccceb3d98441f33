package commands

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// monitorScriptSource is what MONITOR shows instead of the client's
// address for the commands a script runs, as Redis does.
const monitorScriptSource = "lua"

// monitorFracDigits is the width of a MONITOR line's fraction of a second:
// microseconds.
const monitorFracDigits = 6

// monitors are the connections in MONITOR mode. The hot path reads n, a
// plain load, and takes the lock only while someone is monitoring.
type monitors struct {
	n    atomic.Int32
	mu   sync.Mutex
	outs []*outbox
}

func (m *monitors) add(o *outbox) {
	m.mu.Lock()
	m.outs = append(m.outs, o)
	m.n.Store(int32(len(m.outs)))
	m.mu.Unlock()
}

func (m *monitors) remove(o *outbox) {
	m.mu.Lock()
	for i, x := range m.outs {
		if x == o {
			m.outs = append(m.outs[:i], m.outs[i+1:]...)
			break
		}
	}
	m.n.Store(int32(len(m.outs)))
	m.mu.Unlock()
}

// unmonitored reports whether cmd never shows in MONITOR, as in Redis:
// administration commands, and those whose arguments are secrets or that
// only manage the connection.
func unmonitored(cmd *Command) bool {
	if cmd.Flags&Admin != 0 {
		return true
	}
	switch cmd.Name {
	case "auth", "hello", "quit", "monitor":
		return true
	}
	return false
}

// feed sends c's command to every monitor as Redis prints it: a simple
// string of the time, the database and from (the client's address, or
// "lua" for a script's command), then each argument quoted. c wakes the
// monitors' writers at the end of its pipeline.
func (m *monitors) feed(c *Client, from string, args [][]byte) {
	now := time.Now()
	line := make([]byte, 0, monitorLineSize(from, args))
	line = append(line, '+')
	line = strconv.AppendInt(line, now.Unix(), 10)
	line = append(line, '.')
	var frac [monitorFracDigits]byte // microseconds, with leading zeros
	usec := now.Nanosecond() / int(time.Microsecond)
	for i := len(frac) - 1; i >= 0; i-- {
		frac[i] = byte('0' + usec%10)
		usec /= 10
	}
	line = append(line, frac[:]...)
	line = append(line, " [0 "...)
	line = append(line, from...)
	line = append(line, ']')
	for _, a := range args {
		line = append(line, ' ')
		line = appendQuoted(line, a)
	}
	line = append(line, "\r\n"...)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.outs {
		if o.c != c {
			o.queue(c, nil, len(line), func(b []byte) []byte { return append(b, line...) })
		}
	}
}

// monitorLineSize is the capacity to give the MONITOR line of args from
// from: its length with every argument byte escaped, so that it is built
// without growing.
func monitorLineSize(from string, args [][]byte) int {
	n := len("+1700000000.000000 [0 ] \r\n") + len(from)
	for _, a := range args {
		n += len(` ""`) + len(a)*len(`\xff`)
	}
	return n
}

// appendQuoted appends a quoted as Redis's sdscatrepr does: printable ASCII
// as it is, the usual escapes, anything else as \xHH.
func appendQuoted(b, a []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, ch := range a {
		switch ch {
		case '\\', '"':
			b = append(b, '\\', ch)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\a':
			b = append(b, '\\', 'a')
		case '\b':
			b = append(b, '\\', 'b')
		default:
			if ch >= ' ' && ch <= '~' {
				b = append(b, ch)
			} else {
				b = append(b, '\\', 'x', hex[ch>>4], hex[ch&0xf])
			}
		}
	}
	return append(b, '"')
}

// cmdMonitor turns the connection into a monitor: its "OK" goes out before
// the first command it is sent, and from then on it accepts only QUIT and
// RESET, which ends monitoring.
func cmdMonitor(c *Client, _ [][]byte) {
	if !c.queueReplies() {
		return
	}
	o := c.startOutbox()
	c.w.OK()
	if !c.queueReplies() {
		return
	}
	c.monitoring.Store(true)
	c.srv.monitors.add(o)
	c.onClose("monitor", func() { c.srv.monitors.remove(o) })
}

// stopMonitoring ends the connection's MONITOR mode (RESET).
func (c *Client) stopMonitoring() {
	if c.monitoring.Swap(false) {
		c.srv.monitors.remove(c.ps.out)
	}
}
