// Package poll is the readiness notification the server's event loops wait
// on, an epoll instance on Linux, and the reads and writes they make on
// their non-blocking sockets; unsupported elsewhere (the server then runs
// every connection on its own goroutine).
package poll

import "errors"

// ErrUnsupported is returned by New where the platform has no poller.
var ErrUnsupported = errors.New("poll: no event poller on this platform")
