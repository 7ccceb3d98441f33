//go:build unix

package commands

import (
	"errors"
	"syscall"
)

// peerWatchSupported: watchPeer can peek at a socket on this platform.
const peerWatchSupported = true

// peekSocket reads what the socket fd holds into buf without consuming it
// and without blocking: syscall.EAGAIN when it holds nothing.
func peekSocket(fd uintptr, buf []byte) (int, error) {
	for {
		n, _, err := syscall.Recvfrom(int(fd), buf, syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}
