//go:build linux

package commands

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"nexo/internal/poll"
)

// errWouldBlock is a read of an event-loop connection that found no input:
// the command in progress continues when the poller reports more.
var errWouldBlock = errors.New("no input ready")

// fdConn is a connection served by an event loop: reads and writes are
// non-blocking system calls on its socket, made by the loop's goroutine
// only. A connection that has to wait (a blocking command, a subscription,
// a peer that does not read its replies) moves to a goroutine of its own
// (handOff): from then on fdConn forwards to a net.Conn on the same socket,
// which waits in the runtime's poller, until the connection returns to its
// loop (rejoin).
type fdConn struct {
	local, remote net.Addr

	mu     sync.Mutex
	fd     int             // the socket while a loop serves it; -1 once closed or while handed off
	netc   net.Conn        // the socket while handed off; nil while a loop serves it
	raw    syscall.RawConn // netc's descriptor, for raw reads and writes (see netRead)
	unsent []byte          // replies a full socket buffer refused, sent first once handed off
}

// detach takes the socket of an accepted connection out of the runtime's
// poller, so that only an event loop watches it.
func detach(nc net.Conn) (*fdConn, error) {
	fd, err := takeSocket(nc)
	if err != nil {
		return nil, err
	}
	return &fdConn{fd: fd, local: nc.LocalAddr(), remote: nc.RemoteAddr()}, nil
}

// takeSocket returns a descriptor of nc's socket that the runtime's poller
// does not watch, and closes nc: the socket is duplicated and the original
// closed (which closes nothing while the duplicate lives).
func takeSocket(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("connection has no socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = errno
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	nc.Close()
	return fd, nil
}

// Read reads what the socket holds without waiting: errWouldBlock when it
// holds nothing yet. Loop goroutine only, until handed off.
func (fc *fdConn) Read(p []byte) (int, error) {
	if fc.netc != nil {
		return fc.netRead(p)
	}
	for {
		n, err := poll.Read(fc.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write sends p. On the loop, what the socket buffer cannot take is kept
// and the connection is handed off: its goroutine sends the rest, waiting
// for the peer to read, while the loop serves the others.
func (fc *fdConn) Write(p []byte) (int, error) {
	if fc.netc != nil {
		return fc.netWrite(p)
	}
	sent := 0
	for sent < len(p) {
		n, err := poll.Write(fc.fd, p[sent:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			fc.unsent = append(fc.unsent[:0], p[sent:]...)
			return len(p), nil
		case err != nil:
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// flushUnsent sends the replies the loop could not; the connection's
// goroutine calls it before anything else.
func (fc *fdConn) flushUnsent() error {
	if len(fc.unsent) == 0 {
		return nil
	}
	_, err := fc.netWrite(fc.unsent)
	fc.unsent = nil
	return err
}

// netRead reads from a handed-off connection, waiting in the runtime's
// poller, deadlines included, until the socket holds input. The read
// itself is a raw system call, as on the loop (see Read): the socket is
// non-blocking, so it never waits, and a call through the net.Conn would
// enter the runtime's system-call path, which wakes its monitor thread
// whenever every processor was idle, to poll every 20 µs for the next
// millisecond. A connection that reads a large reply in chunks (a stream
// replay) goes idle between them and woke it for each. Connection's
// goroutine only.
func (fc *fdConn) netRead(p []byte) (int, error) {
	var n int
	var rerr error
	err := fc.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = poll.Read(int(fd), p)
			switch rerr {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			return true
		}
	})
	switch {
	case err != nil:
		return 0, fc.netError("read", err)
	case rerr != nil:
		return 0, fc.netError("read", rerr)
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// netWrite sends p on a handed-off connection with raw system calls,
// waiting in the runtime's poller while the socket buffer is full (see
// netRead). Connection's goroutine only.
func (fc *fdConn) netWrite(p []byte) (int, error) {
	sent := 0
	var werr error
	err := fc.raw.Write(func(fd uintptr) bool {
		for sent < len(p) {
			n, err := poll.Write(int(fd), p[sent:])
			switch err {
			case nil:
				sent += n
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				werr = err
				return true
			}
		}
		return true
	})
	switch {
	case err != nil:
		return sent, fc.netError("write", err)
	case werr != nil:
		return sent, fc.netError("write", werr)
	}
	return sent, nil
}

// netError wraps the error of a raw read or write as the net.Conn's own
// calls do, so that a deadline reads as a timeout (isTimeout).
func (fc *fdConn) netError(op string, err error) error {
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: fc.local.Network(), Source: fc.local, Addr: fc.remote, Err: err}
}

// onLoop reports whether an event loop still serves the connection. Safe
// from any goroutine.
func (fc *fdConn) onLoop() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.fd >= 0 && fc.netc == nil
}

// handedOff reports whether the connection has left its event loop for a
// goroutine of its own. Safe from any goroutine.
func (fc *fdConn) handedOff() bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.netc != nil
}

// blockedWrite reports whether the socket refused replies on the loop.
func (fc *fdConn) blockedWrite() bool { return len(fc.unsent) > 0 }

// handOff moves the socket from the loop's poller p to a net.Conn that
// waits in the runtime's poller. Loop goroutine only.
func (fc *fdConn) handOff(p *poll.Poller) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.fd < 0 {
		return net.ErrClosed
	}
	p.Remove(fc.fd)
	f := os.NewFile(uintptr(fc.fd), "")
	netc, err := net.FileConn(f)
	f.Close()
	fc.fd = -1
	if err != nil {
		return err
	}
	raw, err := netc.(syscall.Conn).SyscallConn()
	if err != nil {
		netc.Close()
		return err
	}
	fc.netc, fc.raw = netc, raw
	return nil
}

// rejoin moves the socket of a handed-off connection back from its
// net.Conn to the descriptor an event loop watches, the reverse of handOff.
// A connection closed meanwhile, or with replies still unsent, stays where
// it is. When draining reports true once the socket is back, its input is
// ended as SetReadDeadline does on the loop: the drain that began meanwhile
// set its deadline on the net.Conn just closed. Connection's goroutine only.
func (fc *fdConn) rejoin(draining func() bool) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.netc == nil || len(fc.unsent) > 0 {
		return net.ErrClosed
	}
	fd, err := takeSocket(fc.netc)
	if err != nil {
		return err
	}
	fc.fd, fc.netc, fc.raw = fd, nil, nil
	if draining() {
		// A socket the peer has already left cannot be shut down, and
		// the loop sees its end all the same.
		syscall.Shutdown(fd, syscall.SHUT_RD)
	}
	return nil
}

// closeOnLoop closes the socket of the loop whose poller is p, watched or
// not yet. Loop goroutine only, or the acceptor's before the loop has it.
func (fc *fdConn) closeOnLoop(p *poll.Poller) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.fd >= 0 {
		p.Remove(fc.fd)
		syscall.Close(fc.fd)
		fc.fd = -1
	}
}

// Close ends the connection from any goroutine. On the loop it shuts the
// socket down, which the loop sees as the end of input and closes it: the
// descriptor itself belongs to the loop.
func (fc *fdConn) Close() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch {
	case fc.netc != nil:
		return fc.netc.Close()
	case fc.fd >= 0:
		return syscall.Shutdown(fc.fd, syscall.SHUT_RDWR)
	}
	return nil
}

// SetReadDeadline: on the loop, which reads only what is there, the one
// deadline that matters is one already past (the server draining the
// connection): it ends the input, and the loop closes the connection once
// its pipeline is answered, as a goroutine does.
func (fc *fdConn) SetReadDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch {
	case fc.netc != nil:
		return fc.netc.SetReadDeadline(t)
	case fc.fd >= 0 && !t.IsZero() && !t.After(time.Now()):
		return syscall.Shutdown(fc.fd, syscall.SHUT_RD)
	}
	return nil
}

// SetWriteDeadline applies to a handed-off connection only: the loop never
// waits for a write.
func (fc *fdConn) SetWriteDeadline(t time.Time) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.netc != nil {
		return fc.netc.SetWriteDeadline(t)
	}
	return nil
}

// SetDeadline sets both deadlines.
func (fc *fdConn) SetDeadline(t time.Time) error {
	if err := fc.SetReadDeadline(t); err != nil {
		return err
	}
	return fc.SetWriteDeadline(t)
}

func (fc *fdConn) LocalAddr() net.Addr  { return fc.local }
func (fc *fdConn) RemoteAddr() net.Addr { return fc.remote }

// SyscallConn gives the socket of a handed-off connection (the disconnect
// watcher of blocking commands peeks at it).
func (fc *fdConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := fc.netc.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("connection is served by an event loop")
}

// socket is the net.Conn that writes go to, for vectored writes.
func (fc *fdConn) socket() net.Conn {
	if fc.netc != nil {
		return fc.netc
	}
	return fc
}
