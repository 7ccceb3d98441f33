//go:build unix

package wal

import "os"

// syncDir fsyncs a directory, making the creations, renames and removals
// of files in it durable (NEXO patch, PATCHES.md).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
