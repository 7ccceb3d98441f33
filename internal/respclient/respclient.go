// Package respclient is the minimal RESP2 client of NEXO's end-to-end tests
// and benchmark programs: it pipelines commands and returns replies as Go
// values (simple and bulk strings as string, integers as int64, arrays as
// []any, nulls as nil).
package respclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Error is an error reply, its text without the leading '-'.
type Error string

func (e Error) Error() string { return string(e) }

// Client is one connection. It is not safe for concurrent use.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// Dial connects to addr within timeout.
func Dial(addr string, timeout time.Duration) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SetReadDeadline bounds the following reads.
func (c *Client) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// Send buffers one command; Flush sends what is buffered.
func (c *Client) Send(args ...string) {
	c.w.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		c.w.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
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
func (c *Client) ReadValue() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return Error(line[1:]), nil
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+len("\r\n"))
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.ReadValue(); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply line %q", line)
}
