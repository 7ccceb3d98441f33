package resp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a client connection as the server sees it: writes are serialised
// so that other goroutines (pub/sub delivery) can write whole replies
// between two pipelines, traffic is counted, and a draining connection
// stops reading once the pipeline in progress is answered.
type Conn struct {
	net.Conn
	draining atomic.Bool
	wmu      sync.Mutex

	// BytesIn and BytesOut count the traffic of this connection.
	BytesIn, BytesOut atomic.Int64
}

// NewConn wraps an accepted connection.
func NewConn(c net.Conn) *Conn { return &Conn{Conn: c} }

// Read reads from the peer and counts the bytes.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.BytesIn.Add(int64(n))
	return n, err
}

// Write writes whole replies; concurrent writers never interleave.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	n, err := c.Conn.Write(p)
	c.wmu.Unlock()
	c.BytesOut.Add(int64(n))
	return n, err
}

// Drain makes the next read fail at once, so the connection is closed after
// the pipeline in progress has been answered.
func (c *Conn) Drain() {
	c.draining.Store(true)
	c.Conn.SetReadDeadline(time.Now())
}

// Draining reports whether Drain was called.
func (c *Conn) Draining() bool { return c.draining.Load() }

// SetReadDeadline is ignored while draining so that an idle timeout cannot
// postpone the shutdown.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.draining.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}
