package wal

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestReadAt(t *testing.T) {
	// file writes size random bytes to a new file, fsynced, and returns
	// it open with its bytes.
	file := func(t *testing.T, size int) (*os.File, []byte) {
		t.Helper()
		data := make([]byte, size)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		path := filepath.Join(t.TempDir(), "segment")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		return f, data
	}
	// check reads spans of f at random places and compares them with data.
	check := func(t *testing.T, f *os.File, data []byte) {
		t.Helper()
		rng := rand.New(rand.NewPCG(3, 4))
		for range 200 {
			off := rng.IntN(len(data))
			p := make([]byte, 1+rng.IntN(len(data)-off))
			if n, err := readAt(f, p, int64(off)); n != len(p) || err != nil {
				t.Fatalf("readAt(%d bytes at %d) = %d, %v", len(p), off, n, err)
			}
			if !bytes.Equal(p, data[off:off+len(p)]) {
				t.Fatalf("readAt(%d bytes at %d) read other bytes", len(p), off)
			}
		}
	}
	const size = 1 << 20

	t.Run("reads what the page cache holds", func(t *testing.T) {
		f, data := file(t, size)
		check(t, f, data)
	})

	t.Run("edge: reads through os.File where preadv2 is unknown", func(t *testing.T) {
		saved := sysPreadv2
		sysPreadv2 = 0
		defer func() { sysPreadv2 = saved }()
		f, data := file(t, size)
		check(t, f, data)
	})

	t.Run("edge: reads through os.File where the kernel refuses preadv2, and stops trying", func(t *testing.T) {
		// A system call number no kernel has: the call fails with ENOSYS,
		// as one without preadv2 or RWF_NOWAIT fails with ENOSYS or
		// EOPNOTSUPP.
		const noSuchCall = 1 << 20
		saved := sysPreadv2
		sysPreadv2 = noSuchCall
		defer func() { sysPreadv2 = saved; noWaitRefused.Store(false) }()
		f, data := file(t, size)
		check(t, f, data)
		if !noWaitRefused.Load() {
			t.Fatal("a refused call did not stop the raw reads")
		}
	})

	t.Run("edge: a file system without RWF_NOWAIT (tmpfs) is read through os.File", func(t *testing.T) {
		const tmpfs = "/dev/shm"
		if _, err := os.Stat(tmpfs); err != nil {
			t.Skipf("no %s: %v", tmpfs, err)
		}
		defer noWaitRefused.Store(false)
		dir, err := os.MkdirTemp(tmpfs, "readat")
		if err != nil {
			t.Skipf("%s: %v", tmpfs, err)
		}
		defer os.RemoveAll(dir)
		data := bytes.Repeat([]byte("segment "), size/8)
		path := filepath.Join(dir, "segment")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		check(t, f, data)
	})

	t.Run("edge: a read past the end reports it", func(t *testing.T) {
		f, _ := file(t, size)
		p := make([]byte, 10)
		if n, err := readAt(f, p, size-4); n != 4 || err == nil {
			t.Fatalf("readAt across the end = %d, %v; want 4 and an error", n, err)
		}
	})
}
