package wal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteTail(t *testing.T) {
	t.Run("appends the bytes to the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "segment")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		want := bytes.Repeat([]byte("entry "), 1000)
		for _, part := range [][]byte{want[:10], want[10:]} {
			if n, err := writeTail(f, part); n != len(part) || err != nil {
				t.Fatalf("writeTail = %d, %v; want %d, nil", n, err, len(part))
			}
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file holds %d bytes (%v), want %d", len(got), err, len(want))
		}
	})

	t.Run("a failed write is an *os.PathError naming the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "segment")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var pathErr *os.PathError
		n, err := writeTail(f, []byte("entry"))
		if n != 0 || !errors.As(err, &pathErr) || pathErr.Path != path || !errors.Is(err, syscall.EBADF) {
			t.Fatalf("writeTail to a read-only file = %d, %v; want 0 and EBADF on %s", n, err, path)
		}
	})
}
