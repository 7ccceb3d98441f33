//go:build unix

package datadir

import (
	"os"
	"syscall"
)

// lock opens (creates) the file name and takes an exclusive advisory lock
// on it, which the kernel releases when the process ends, however it ends.
func lock(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, fileMode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
