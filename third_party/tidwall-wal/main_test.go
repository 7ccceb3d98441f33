package wal

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs the tests in a temporary working directory (NEXO patch,
// PATCHES.md): upstream's tests create their logs at relative paths and
// leave some behind.
func TestMain(m *testing.M) {
	os.Exit(runInTempDir(m))
}

func runInTempDir(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tidwall-wal-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
