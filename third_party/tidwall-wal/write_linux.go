//go:build linux

package wal

import (
	"io"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// writeTail writes b to the tail segment file f with raw write(2) calls
// (NEXO patch, PATCHES.md). A write through os.File enters the Go
// scheduler's system call path, which wakes the runtime's monitor thread
// whenever every processor was idle; the thread then polls every 20 µs
// for the next millisecond. A server that writes its log after each burst
// of requests kept it polling, a tenth of its CPU. A raw call leaves the
// scheduler out: the writing goroutine keeps its processor until the
// kernel has copied b into the page cache.
func writeTail(f *os.File, b []byte) (int, error) {
	fd := f.Fd()
	n := 0
	for n < len(b) {
		r, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd,
			uintptr(unsafe.Pointer(&b[n])), uintptr(len(b)-n))
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: errno}
		case r == 0:
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: io.ErrShortWrite}
		}
		n += int(r)
	}
	runtime.KeepAlive(f)
	return n, nil
}

// syncTail makes what was written to the tail segment file f durable with
// fdatasync(2) (NEXO patch, PATCHES.md), as Redis and PostgreSQL sync
// their logs: it writes the file's data and the metadata needed to read it
// (its size), but not its timestamps, which change on every write and
// would cost a second device write per sync of a file that does not grow
// (prealloc.go). The call goes through the Go scheduler like os.File.Sync,
// which hands the processor to other goroutines while the disk works.
func syncTail(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno error
	err = sc.Control(func(fd uintptr) {
		for {
			errno = syscall.Fdatasync(int(fd))
			if errno != syscall.EINTR {
				return
			}
		}
	})
	if err == nil && errno != nil {
		err = &os.PathError{Op: "fdatasync", Path: f.Name(), Err: errno}
	}
	return err
}
