package resp

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the framing limits, the same as Redis's.
const (
	DefaultMaxBulkLen      = 512 << 20 // proto-max-bulk-len
	DefaultMaxMultibulkLen = 1 << 20   // arguments in one command
	DefaultMaxQueryBuffer  = 1 << 30   // client-query-buffer-limit

	// maxInlineSize bounds an inline command and a header line (Redis's
	// PROTO_INLINE_MAX_SIZE).
	maxInlineSize = 64 << 10
	// Before a connection authenticates, Redis accepts only small commands
	// so that an unauthenticated peer cannot make the server buffer much.
	unauthMaxMultibulkLen = 10
	unauthMaxBulkLen      = 16 << 10
)

// Limits bound what one connection may send before a command is complete.
type Limits struct {
	MaxBulkLen      int64
	MaxMultibulkLen int64
	MaxQueryBuffer  int64
}

// ErrQueryBufferLimit closes a connection whose incomplete command grew past
// the query buffer limit. Like Redis, the peer gets no reply.
var ErrQueryBufferLimit = errors.New("closing client that reached max query buffer length")

// ProtocolError closes a connection that broke the framing rules; its text
// is sent to the peer as an ERR reply first.
type ProtocolError struct{ msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.msg }

var (
	errInvalidMultibulk = &ProtocolError{"invalid multibulk length"}
	errUnauthMultibulk  = &ProtocolError{"unauthenticated multibulk length"}
	errInvalidBulk      = &ProtocolError{"invalid bulk length"}
	errUnauthBulk       = &ProtocolError{"unauthenticated bulk length"}
	errBigInline        = &ProtocolError{"too big inline request"}
	errBigMultibulkLine = &ProtocolError{"too big mbulk count string"}
	errBigBulkLine      = &ProtocolError{"too big bulk count string"}
)

// Listener wraps accepted connections in Conn so that every byte read is
// checked against the limits before redcon buffers it.
type Listener struct {
	net.Listener
	limits Limits
}

// NewListener guards every connection accepted by ln with limits.
func NewListener(ln net.Listener, limits Limits) *Listener {
	return &Listener{Listener: ln, limits: limits}
}

// Accept waits for the next connection and wraps it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, limits: &l.limits}, nil
}

// Conn is a client connection as the server sees it: reads are framed and
// bounded, writes are serialised so that other goroutines (pub/sub delivery)
// can write whole replies between two pipelines, and a draining connection
// stops reading once the current pipeline is answered.
type Conn struct {
	net.Conn
	limits   *Limits
	scan     scanner
	failed   error
	authed   atomic.Bool
	draining atomic.Bool
	wmu      sync.Mutex

	// BytesIn and BytesOut count the traffic of this connection.
	BytesIn, BytesOut atomic.Int64
}

// SetAuthenticated lifts the limits that apply before AUTH.
func (c *Conn) SetAuthenticated(v bool) { c.authed.Store(v) }

// Drain makes the next read fail at once, so the connection is closed after
// the pipeline in progress has been answered.
func (c *Conn) Drain() {
	c.draining.Store(true)
	c.Conn.SetReadDeadline(time.Now())
}

// SetReadDeadline is ignored while draining so that redcon's idle timeout
// cannot postpone the shutdown.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.draining.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// Read reads from the peer and checks the bytes against the limits. When a
// chunk breaks a limit, the complete commands before the offending one are
// still delivered; the next Read answers the protocol error and fails.
func (c *Conn) Read(p []byte) (int, error) {
	if c.failed != nil {
		return 0, c.fail()
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.BytesIn.Add(int64(n))
		good, serr := c.scan.feed(p[:n], c.limits, c.authed.Load())
		if serr != nil {
			c.failed = serr
			if good > 0 {
				return good, nil
			}
			return 0, c.fail()
		}
	}
	return n, err
}

func (c *Conn) fail() error {
	var perr *ProtocolError
	if errors.As(c.failed, &perr) {
		c.Write([]byte("-ERR " + perr.Error() + "\r\n"))
	}
	return c.failed
}

// Write writes whole replies; concurrent writers never interleave.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	n, err := c.Conn.Write(p)
	c.wmu.Unlock()
	c.BytesOut.Add(int64(n))
	return n, err
}

// scanner follows RESP framing over the byte stream, without copying or
// allocating, to enforce the limits before redcon buffers a command. It only
// tracks lengths; redcon parses the commands.
type scanner struct {
	state   scanState
	num     int64 // length being parsed, or bulk bytes left to skip
	digits  int   // bytes of the header line read so far
	neg     bool
	bad     bool
	args    int64 // bulk strings left in the current command
	pending int64 // bytes of the incomplete command so far
}

type scanState uint8

const (
	scanStart scanState = iota
	scanInline
	scanArrayLen
	scanBulkStart
	scanBulkLen
	scanBulkBody
)

// feed checks b. It returns the number of leading bytes that end on a
// command boundary before the first violation, and the violation.
func (s *scanner) feed(b []byte, l *Limits, authed bool) (int, error) {
	boundary := 0
	maxBulk, maxArgs := l.MaxBulkLen, l.MaxMultibulkLen
	if !authed {
		maxBulk, maxArgs = min(maxBulk, unauthMaxBulkLen), min(maxArgs, unauthMaxMultibulkLen)
	}
	for i := 0; i < len(b); {
		start := i
		switch s.state {
		case scanStart:
			if b[i] == '*' {
				s.state, s.num, s.digits, s.neg, s.bad = scanArrayLen, 0, 0, false, false
				i++
			} else {
				s.state = scanInline
			}
		case scanInline:
			nl := bytes.IndexByte(b[i:], '\n')
			if nl < 0 {
				i = len(b)
				if s.pending+int64(i-start) > maxInlineSize {
					return boundary, errBigInline
				}
				break
			}
			i += nl + 1
			s.state = scanStart
		case scanArrayLen, scanBulkLen:
			c := b[i]
			i++
			s.digits++
			if c != '\n' {
				s.parseDigit(c)
				if s.digits > maxInlineSize {
					if s.state == scanArrayLen {
						return boundary, errBigMultibulkLine
					}
					return boundary, errBigBulkLine
				}
				break
			}
			if s.state == scanArrayLen {
				switch {
				case s.bad || s.neg || s.num <= 0:
					return boundary, errInvalidMultibulk
				case s.num > maxArgs && s.num <= l.MaxMultibulkLen:
					return boundary, errUnauthMultibulk
				case s.num > maxArgs:
					return boundary, errInvalidMultibulk
				}
				s.args, s.state = s.num, scanBulkStart
				break
			}
			switch {
			case s.bad || s.neg:
				return boundary, errInvalidBulk
			case s.num > maxBulk && s.num <= l.MaxBulkLen:
				return boundary, errUnauthBulk
			case s.num > maxBulk:
				return boundary, errInvalidBulk
			}
			s.num += int64(len(crlf))
			s.state = scanBulkBody
		case scanBulkStart:
			if b[i] != '$' {
				return boundary, &ProtocolError{"expected '$', got '" + string(b[i]) + "'"}
			}
			s.state, s.num, s.digits, s.neg, s.bad = scanBulkLen, 0, 0, false, false
			i++
		case scanBulkBody:
			skip := min(s.num, int64(len(b)-i))
			i += int(skip)
			s.num -= skip
			if s.num == 0 {
				s.args--
				s.state = scanBulkStart
				if s.args == 0 {
					s.state = scanStart
				}
			}
		}
		s.pending += int64(i - start)
		if s.state == scanStart {
			s.pending = 0
			boundary = i
		} else if s.pending > l.MaxQueryBuffer {
			return boundary, ErrQueryBufferLimit
		}
	}
	return boundary, nil
}

// parseDigit accumulates one byte of a length header; anything but an
// optional leading minus, digits and the final CR marks the header bad.
func (s *scanner) parseDigit(c byte) {
	switch {
	case c == '\r':
	case c == '-' && s.digits == 1:
		s.neg = true
	case c >= '0' && c <= '9' && s.num <= maxHeaderValue:
		s.num = s.num*10 + int64(c-'0')
	default:
		s.bad = true
	}
}

// maxHeaderValue stops the accumulation before an int64 overflow; any
// value above it is far beyond every limit anyway.
const maxHeaderValue = 1 << 50
