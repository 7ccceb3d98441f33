//go:build !linux

package wal

import "os"

// writeTail writes b to the tail segment file f (see write_linux.go).
func writeTail(f *os.File, b []byte) (int, error) {
	return f.Write(b)
}

// syncTail makes what was written to the tail segment file f durable (see
// write_linux.go).
func syncTail(f *os.File) error {
	return f.Sync()
}
