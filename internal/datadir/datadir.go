// Package datadir owns the data directory: it creates it and holds an
// exclusive lock on it for the life of the process, so that two servers
// never write the same files.
package datadir

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockFile is the file inside the data directory that carries the lock.
const lockFile = "LOCK"

// dirMode and fileMode keep the data private to the server's user.
const (
	dirMode  = 0o750
	fileMode = 0o640
)

// Dir is a locked data directory.
type Dir struct {
	Path string
	lock *os.File
}

// Open creates path if needed and locks it. It fails at once when another
// process holds the lock.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, dirMode); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := lock(filepath.Join(path, lockFile))
	if err != nil {
		return nil, fmt.Errorf("data directory %s is in use by another NEXO process: %w", path, err)
	}
	return &Dir{Path: path, lock: f}, nil
}

// Close releases the lock.
func (d *Dir) Close() error {
	return d.lock.Close()
}
