//go:build windows

package commands

import "syscall"

// peerWatchSupported: Windows has no non-blocking peek (MSG_DONTWAIT), so
// a peer that closes while its command waits is noticed when the command
// returns (at its timeout, or when its wait is served).
const peerWatchSupported = false

func peekSocket(uintptr, []byte) (int, error) { return 0, syscall.EWINDOWS }
