package resp

import (
	"bytes"
	"errors"
	"io"
	"math"

	"nexo/internal/number"
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

	// readBufferSize is a connection's read buffer while its commands are
	// small; it grows only for a command that does not fit, and shrinks back
	// once that command is consumed.
	readBufferSize = 16 << 10
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
	errUnbalancedQuotes = &ProtocolError{"unbalanced quotes in request"}
)

// Reader reads commands from one connection. It parses in place, resumes
// an incomplete command where it stopped, and keeps its buffer as small as
// the largest command in progress: complete commands are consumed before
// the buffer is compacted, and a buffer grown for one large command is
// dropped once that command has run.
type Reader struct {
	rd     io.Reader
	limits Limits
	authed bool
	buf    []byte
	r, w   int // buf[r:w] is unconsumed; r is the start of the next command

	// The multibulk command in progress: bulks expected (0: none yet), the
	// next byte to parse, the length of the bulk being read (-1: its header
	// is not parsed yet) and the bounds of the bulks parsed so far. All
	// positions are absolute indexes into buf.
	count int
	pos   int
	bulk  int
	offs  []int

	argv    [][]byte   // arguments of the batch, backing every command
	batch   [][][]byte // the batch handed out by ReadBatch
	pending error      // an error found after good commands
	filled  bool       // the last read took all the room the buffer had
}

// NewReader reads commands from rd under limits.
func NewReader(rd io.Reader, limits Limits) *Reader {
	return &Reader{rd: rd, limits: limits, buf: make([]byte, readBufferSize), bulk: -1}
}

// SetAuthenticated lifts the limits that apply before AUTH.
func (rd *Reader) SetAuthenticated(v bool) { rd.authed = v }

// Buffered reports how many bytes are read but not yet consumed.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// Failed reports whether the next ReadBatch returns an error found behind
// the commands it last returned (a framing error, or one passed to Defer),
// without reading.
func (rd *Reader) Failed() bool { return rd.pending != nil }

// Filled reports whether the last read took all the room the buffer had,
// so that the peer has probably sent more than was read.
func (rd *Reader) Filled() bool { return rd.filled }

// Defer makes err the answer of the next ReadBatch, for an error met after
// commands whose replies are not sent yet.
func (rd *Reader) Defer(err error) { rd.pending = err }

// Cap reports the size of the read buffer.
func (rd *Reader) Cap() int { return len(rd.buf) }

// ReadBatch returns every complete command the peer has sent so far,
// waiting for at least one: the whole pipeline, to be run before the
// replies are flushed. The arguments point into the read buffer and stay
// valid only until the next call; a handler that keeps one must copy it.
func (rd *Reader) ReadBatch() ([][][]byte, error) {
	rd.batch, rd.argv = rd.batch[:0], rd.argv[:0]
	if rd.pending != nil {
		return nil, rd.pending
	}
	for {
		for {
			args, err := rd.parse()
			if err != nil {
				if len(rd.batch) > 0 {
					rd.pending = err
					return rd.batch, nil
				}
				return nil, err
			}
			if args == nil {
				break
			}
			rd.batch = append(rd.batch, args)
		}
		if len(rd.batch) > 0 {
			return rd.batch, nil
		}
		if err := rd.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes, after compacting or, for a command larger than
// the buffer, growing it.
func (rd *Reader) fill() error {
	if rd.r > 0 {
		shift := rd.r
		copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.w -= shift
		rd.pos -= shift
		for i := range rd.offs {
			rd.offs[i] -= shift
		}
		rd.r = 0
	}
	switch {
	case rd.w == 0 && len(rd.buf) > readBufferSize:
		rd.buf = make([]byte, readBufferSize)
	case rd.w == len(rd.buf):
		// The command in progress fills the buffer.
		if int64(rd.w) > rd.limits.MaxQueryBuffer {
			return ErrQueryBufferLimit
		}
		size := 2 * len(rd.buf)
		if rd.bulk >= 0 {
			// The bulk's length is known: make room for all of it at once.
			size = max(size, rd.pos+rd.bulk+len(crlf))
		}
		size = int(min(int64(size), rd.limits.MaxQueryBuffer+1))
		grown := make([]byte, size)
		copy(grown, rd.buf[:rd.w])
		rd.buf = grown
	}
	n, err := rd.rd.Read(rd.buf[rd.w:])
	rd.filled = rd.w+n == len(rd.buf)
	rd.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parse returns the next complete command, or nil when the buffer holds
// only part of one.
func (rd *Reader) parse() ([][]byte, error) {
	for rd.count == 0 {
		if rd.r == rd.w {
			return nil, nil
		}
		if rd.buf[rd.r] != '*' {
			args, complete, err := rd.parseInline()
			switch {
			case err != nil || !complete:
				return nil, err
			case len(args) > 0:
				return args, nil
			}
			continue // an empty line
		}
		count, complete, err := rd.parseHeader(rd.r, errBigMultibulkLine, errInvalidMultibulk)
		switch {
		case err != nil:
			return nil, err
		case !complete:
			return nil, nil
		case count > rd.limits.MaxMultibulkLen:
			return nil, errInvalidMultibulk
		case !rd.authed && count > unauthMaxMultibulkLen:
			return nil, errUnauthMultibulk
		case count <= 0:
			// Redis skips empty and null arrays.
			rd.r = rd.pos
			continue
		}
		rd.count, rd.bulk, rd.offs = int(count), -1, rd.offs[:0]
	}
	for len(rd.offs) < 2*rd.count {
		if rd.bulk < 0 {
			if rd.pos == rd.w {
				return nil, nil
			}
			if c := rd.buf[rd.pos]; c != '$' {
				return nil, &ProtocolError{"expected '$', got '" + string(c) + "'"}
			}
			n, complete, err := rd.parseHeader(rd.pos, errBigBulkLine, errInvalidBulk)
			switch {
			case err != nil:
				return nil, err
			case !complete:
				return nil, nil
			case n < 0 || n > rd.limits.MaxBulkLen:
				return nil, errInvalidBulk
			case !rd.authed && n > unauthMaxBulkLen:
				return nil, errUnauthBulk
			}
			rd.bulk = int(n)
		}
		if rd.w-rd.pos < rd.bulk+len(crlf) {
			return nil, nil
		}
		// Like Redis, the two bytes after a bulk are skipped unread.
		rd.offs = append(rd.offs, rd.pos, rd.pos+rd.bulk)
		rd.pos += rd.bulk + len(crlf)
		rd.bulk = -1
	}
	start := len(rd.argv)
	for i := 0; i < len(rd.offs); i += 2 {
		rd.argv = append(rd.argv, rd.buf[rd.offs[i]:rd.offs[i+1]:rd.offs[i+1]])
	}
	rd.r, rd.count = rd.pos, 0
	return rd.argv[start:len(rd.argv):len(rd.argv)], nil
}

// parseHeader parses the "*count\r\n" or "$len\r\n" line starting at
// start. On success rd.pos is the byte after it. An incomplete line longer
// than maxInlineSize is the tooBig error, a malformed number the invalid one.
func (rd *Reader) parseHeader(start int, tooBig, invalid error) (int64, bool, error) {
	cr := bytes.IndexByte(rd.buf[start:rd.w], '\r')
	if cr < 0 || start+cr+1 >= rd.w {
		if rd.w-start > maxInlineSize {
			return 0, false, tooBig
		}
		return 0, false, nil
	}
	n, ok := number.ParseInt(rd.buf[start+1 : start+cr])
	if !ok || n > math.MaxInt32 {
		return 0, false, invalid
	}
	rd.pos = start + cr + len(crlf)
	return n, true, nil
}

// parseInline parses a command sent as a line of text, as telnet users
// type it. Its arguments are copies: quotes and escapes change them.
func (rd *Reader) parseInline() ([][]byte, bool, error) {
	nl := bytes.IndexByte(rd.buf[rd.r:rd.w], '\n')
	if nl < 0 {
		if rd.w-rd.r > maxInlineSize {
			return nil, false, errBigInline
		}
		return nil, false, nil
	}
	line := rd.buf[rd.r : rd.r+nl]
	rd.r += nl + 1
	rd.pos = rd.r
	line = bytes.TrimSuffix(line, []byte{'\r'})
	args, ok := SplitArgs(line)
	if !ok {
		return nil, false, errUnbalancedQuotes
	}
	return args, true, nil
}
