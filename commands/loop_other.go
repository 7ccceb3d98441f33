//go:build !linux

package commands

import (
	"net"

	"nexo/internal/poll"
)

// Without a poller every connection runs on its own goroutine: no event
// loop is ever created, and these stand-ins are never called.

type eventLoop struct {
	srv    *Server
	poller *poll.Poller
	gate   gate
}

type fdConn struct{ fd int }

func newLoops(int) ([]*eventLoop, error)      { return nil, nil }
func (s *Server) attach(*eventLoop, net.Conn) {}
func (l *eventLoop) run()                     {}
func (l *eventLoop) stop()                    {}
func (fc *fdConn) flushUnsent() error         { return nil }
func (fc *fdConn) onLoop() bool               { return false }
func (fc *fdConn) handedOff() bool            { return false }
func (fc *fdConn) Close() error               { return nil }
func (fc *fdConn) socket() net.Conn           { return nil }
func (c *Client) handOffForWait() bool        { return false }
func (c *Client) leaveLoop()                  {}
func (c *Client) rejoinLoop() bool            { return false }
