//go:build windows

package datadir

import (
	"os"
	"syscall"
)

// lock opens (creates) the file name shared with nobody: while the process
// holds it open, which ends with the process however it ends, every other
// open of it fails with a sharing violation.
func lock(name string) (*os.File, error) {
	p, err := syscall.UTF16PtrFromString(name)
	if err != nil {
		return nil, err
	}
	const shareNone = 0
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, shareNone, nil,
		syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), name), nil
}
