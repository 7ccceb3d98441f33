//go:build linux

package poll

import (
	"syscall"
	"unsafe"
)

// Read and Write are read(2) and write(2) for non-blocking descriptors,
// made without telling the Go runtime (RawSyscall). A system call made
// through syscall.Read enters and leaves the runtime's system-call state,
// and the runtime's monitor thread, woken for it when every processor was
// idle, polls every 20 µs while one is in a system call and hands the
// processor of a call it finds there to another thread. On a non-blocking
// socket the call never waits, so none of that is needed: an event loop
// makes these calls for every request, and the bookkeeping and the wake-ups
// it causes cost it more than the calls themselves. They must not be used on
// a descriptor that can block.

// Read reads into p; errors are as for syscall.Read.
func Read(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_READ, fd, p) }

// Write writes p; errors are as for syscall.Write.
func Write(fd int, p []byte) (int, error) { return rawIO(syscall.SYS_WRITE, fd, p) }

// rawIO makes the read or write system call trap on fd with p.
func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}

// noWait is the epoll_pwait timeout that returns at once.
const noWait = 0

// epollWait collects up to len(events) ready events of epfd without
// waiting, made without telling the runtime as Read is; it keeps the
// thread's signal mask (a nil mask).
func epollWait(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), noWait, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
