//go:build linux

package wal

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// rwfNoWait is preadv2's RWF_NOWAIT flag: the read fails with EAGAIN
// rather than wait for the disk.
const rwfNoWait = 0x8

// sysPreadv2 is preadv2's system call number on the architectures NEXO is
// released for (0 elsewhere: readAt then always takes the runtime's call).
var sysPreadv2 = map[string]uintptr{"amd64": 327, "arm64": 286}[runtime.GOARCH]

// noWaitRefused is set once the kernel refuses preadv2 or its RWF_NOWAIT
// flag for a segment file (tmpfs, a kernel before 4.14): every log lives
// under the one data directory, so reads then go through os.File alone
// instead of making a call that fails first.
var noWaitRefused atomic.Bool

// readAt reads len(p) bytes of the closed segment file f at off, all
// within the file. What the page cache holds is read with raw preadv2
// calls flagged RWF_NOWAIT: a read through os.File enters the Go
// scheduler's system-call path, which wakes the runtime's monitor thread
// whenever every processor was idle, to poll every 20 µs for the next
// millisecond, and a replay that reads a segment chunk by chunk, idle
// while its client takes each reply, woke it for every chunk. A raw call
// keeps its processor until it returns, so it must not wait for the disk:
// the part the page cache does not hold (EAGAIN, or a short read), or a
// kernel without the flag, is read through os.File, which hands the
// processor over while the disk works.
func readAt(f *os.File, p []byte, off int64) (int, error) {
	n := 0
	if sysPreadv2 != 0 && !noWaitRefused.Load() {
		fd := f.Fd()
		for n < len(p) {
			iov := syscall.Iovec{Base: &p[n]}
			iov.SetLen(len(p) - n)
			pos := off + int64(n)
			// preadv2(fd, iov, iovcnt, pos_l, pos_h, flags); the position's
			// high half is unused on 64-bit platforms.
			r, _, errno := syscall.RawSyscall6(sysPreadv2, fd, uintptr(unsafe.Pointer(&iov)), 1,
				uintptr(pos), 0, rwfNoWait)
			if errno == syscall.EOPNOTSUPP || errno == syscall.ENOSYS {
				noWaitRefused.Store(true)
			}
			if errno != 0 || r == 0 {
				break
			}
			n += int(r)
		}
		runtime.KeepAlive(f)
	}
	if n == len(p) {
		return n, nil
	}
	m, err := f.ReadAt(p[n:], off+int64(n))
	return n + m, err
}
