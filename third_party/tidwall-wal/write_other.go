//go:build !linux

package wal

import "os"

// writeTail writes b to the tail segment file f (see write_linux.go).
func writeTail(f *os.File, b []byte) (int, error) {
	return f.Write(b)
}
