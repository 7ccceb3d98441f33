//go:build !unix

package wal

// syncDir does nothing where a directory cannot be fsynced: NTFS journals
// its directory changes itself (NEXO patch, PATCHES.md).
func syncDir(string) error { return nil }
