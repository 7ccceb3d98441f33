// Package respclient is the minimal RESP client of NEXO's end-to-end tests
// and benchmark programs: it pipelines commands and returns replies as Go
// values (simple and bulk strings and doubles as string, integers as int64,
// booleans as bool, arrays, sets and pushes as []any, maps as []any of
// alternating keys and values, nulls as nil).
package respclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
	"unsafe"

	"nexo/internal/number"
)

// maxIntDigits is the longest decimal int64, sign included.
const maxIntDigits = 20

// readBufferSize is how much of a large reply one read takes: 64 KiB, as
// Node.js sockets (and so ioredis) read.
const readBufferSize = 64 << 10

// Error is an error reply, its text without the leading '-'.
type Error string

func (e Error) Error() string { return string(e) }

// Client is one connection. It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	num  [maxIntDigits]byte // room for a header's decimal number
}

// Dial connects to addr within timeout.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, readBufferSize), w: bufio.NewWriter(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SetReadDeadline bounds the following reads.
func (c *Client) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// Send buffers one command; Flush sends what is buffered.
func (c *Client) Send(args ...string) {
	c.header('*', len(args))
	for _, a := range args {
		c.header('$', len(a))
		c.w.WriteString(a)
		c.w.WriteString(crlf)
	}
}

// header buffers a RESP header line: kind, then n.
func (c *Client) header(kind byte, n int) {
	c.w.WriteByte(kind)
	c.w.Write(strconv.AppendInt(c.num[:0], int64(n), 10))
	c.w.WriteString(crlf)
}

// Flush sends the buffered commands.
func (c *Client) Flush() error { return c.w.Flush() }

// Do sends one command and reads its reply; an error reply is the error.
func (c *Client) Do(args ...string) (any, error) {
	if err := c.sendNow(args); err != nil {
		return nil, err
	}
	return c.Read()
}

// DoValue sends one command and reads its reply; an error reply is
// returned as an Error value, not as err.
func (c *Client) DoValue(args ...string) (any, error) {
	if err := c.sendNow(args); err != nil {
		return nil, err
	}
	return c.ReadValue()
}

func (c *Client) sendNow(args []string) error {
	c.Send(args...)
	return c.Flush()
}

// Drain flushes and reads n replies, failing on the first error reply.
func (c *Client) Drain(n int) error {
	if err := c.Flush(); err != nil {
		return err
	}
	for range n {
		if _, err := c.Read(); err != nil {
			return err
		}
	}
	return nil
}

// Read reads one reply; an error reply is the error.
func (c *Client) Read() (any, error) {
	v, err := c.ReadValue()
	if e, ok := v.(Error); ok {
		return nil, e
	}
	return v, err
}

// ReadValue reads one reply; an error reply is returned as an Error value.
// It allocates only the values it returns, so that a benchmark measures the
// server rather than this client's parsing.
func (c *Client) ReadValue() (any, error) {
	line, err := c.line()
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, errors.New("empty reply line")
	}
	switch line[0] {
	case '+':
		return string(line[1:]), nil
	case '-':
		return Error(line[1:]), nil
	case ':':
		return c.length(line)
	case '$':
		n, err := c.length(line)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, int(n)+len(crlf))
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		// buf is never written again: the string may share it.
		return unsafe.String(unsafe.SliceData(buf), int(n)), nil
	case '_':
		return nil, nil
	case ',':
		return string(line[1:]), nil
	case '#':
		return string(line[1:]) == "t", nil
	case '*', '~', '>', '%':
		n, err := c.length(line)
		if err != nil || n < 0 {
			return nil, err
		}
		if line[0] == '%' {
			n *= 2
		}
		out := make([]any, int(n))
		for i := range out {
			if out[i], err = c.ReadValue(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply line %q", line)
}

const crlf = "\r\n"

// line returns the next reply line without its CRLF, valid until the next
// read.
func (c *Client) line() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		var rest []byte
		rest, err = c.r.ReadBytes('\n')
		line = append(append([]byte(nil), line...), rest...)
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte(crlf)), nil
}

// length parses the integer of an integer, bulk or array header line.
func (c *Client) length(line []byte) (int64, error) {
	n, ok := number.ParseInt(line[1:])
	if !ok {
		return 0, fmt.Errorf("bad reply line %q", line)
	}
	return n, nil
}
