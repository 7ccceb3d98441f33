//go:build linux

package poll

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

// Poller reports which registered sockets are readable. Registrations are
// level-triggered: a socket with unread input is reported by every Wait
// until it is drained. Wake interrupts a Wait from another goroutine.
//
// The epoll instance is itself watched by the Go runtime's poller (an epoll
// descriptor is readable while it has events), so a Wait parks its
// goroutine like any network read instead of blocking a thread in
// epoll_wait: with the thread holding the runtime's processor in a system
// call, goroutines woken by the runtime's poller (the connections that
// left the loops) would wait for the runtime to take it back.
type Poller struct {
	events []syscall.EpollEvent // Wait's scratch space; Wait runs on one goroutine
	file   *os.File             // epfd, registered with the runtime's poller
	raw    syscall.RawConn
	epfd   int
	wakeR  int // read end of the wake pipe, registered with epfd

	// wakeMu orders Wake against Close: a Wake after Close must not write
	// to a descriptor number the process may have reused.
	wakeMu sync.Mutex
	wakeW  int // write end of the wake pipe; -1 once closed
}

// readable is what a socket is registered for: input, and the peer's
// shutdown (also reported as readable, so the reader sees the end).
const readable = syscall.EPOLLIN | syscall.EPOLLRDHUP

// maxEvents bounds how many descriptors one Wait reports; the rest stay
// ready for the next.
const maxEvents = 1024

// wakeBufferSize is how much a Wait drains from the wake pipe at once; any
// number of pending wakes collapses into one.
const wakeBufferSize = 64

// New creates a poller.
func New() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking, so that os.NewFile registers it with the runtime's poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	file := os.NewFile(uintptr(epfd), "epoll")
	raw, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		file.Close()
		return nil, err
	}
	p := &Poller{events: make([]syscall.EpollEvent, maxEvents), file: file, raw: raw, epfd: epfd, wakeR: pipe[0], wakeW: pipe[1]}
	if err := p.Add(p.wakeR); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Add registers fd for readability.
func (p *Poller) Add(fd int) error {
	ev := syscall.EpollEvent{Events: readable, Fd: int32(fd)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

// Remove unregisters fd. It must be called before fd is closed when
// another descriptor shares fd's socket: epoll keeps reporting a closed
// descriptor's socket while a duplicate of it is open.
func (p *Poller) Remove(fd int) error {
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// Wait blocks until a registered descriptor is readable or Wake is called,
// and appends the readable descriptors to ready (reusing its storage).
// woken reports a Wake. Wait must not run on two goroutines at once.
func (p *Poller) Wait(ready []int) (_ []int, woken bool, err error) {
	events := p.events
	ready = ready[:0]
	n := 0
	var waitErr error
	err = p.raw.Read(func(fd uintptr) bool {
		// Collect what is ready without blocking; with nothing, park
		// until the runtime's poller reports the epoll descriptor.
		n, waitErr = epollWait(int(fd), events)
		if errors.Is(waitErr, syscall.EINTR) {
			n, waitErr = 0, nil
		}
		return n > 0 || waitErr != nil
	})
	if err == nil {
		err = waitErr
	}
	if err != nil {
		return ready, false, err
	}
	for _, ev := range events[:n] {
		fd := int(ev.Fd)
		if fd == p.wakeR {
			woken = true
			var buf [wakeBufferSize]byte
			for {
				if k, err := syscall.Read(p.wakeR, buf[:]); k <= 0 || err != nil {
					break
				}
			}
			continue
		}
		ready = append(ready, fd)
	}
	return ready, woken, nil
}

// Wake makes the current or next Wait return. Safe from any goroutine,
// also after Close, where it does nothing.
func (p *Poller) Wake() {
	p.wakeMu.Lock()
	defer p.wakeMu.Unlock()
	if p.wakeW >= 0 {
		// A full pipe already holds a pending wake.
		syscall.Write(p.wakeW, []byte{0})
	}
}

// Close releases the poller.
func (p *Poller) Close() error {
	p.wakeMu.Lock()
	syscall.Close(p.wakeW)
	p.wakeW = -1
	p.wakeMu.Unlock()
	syscall.Close(p.wakeR)
	return p.file.Close()
}
