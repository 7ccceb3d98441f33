//go:build !linux

package wal

import "os"

// readAt reads len(p) bytes of the closed segment file f at off.
func readAt(f *os.File, p []byte, off int64) (int, error) { return f.ReadAt(p, off) }
