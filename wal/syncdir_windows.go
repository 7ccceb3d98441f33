//go:build windows

package wal

// syncDir does nothing on Windows: NTFS journals its directory changes
// itself, and a directory cannot be flushed there (FlushFileBuffers on a
// directory handle is refused).
func syncDir(string) error { return nil }
