package cputime

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestCPUTime(t *testing.T) {
	t.Run("utime and stime of a stat line, whatever the command name", func(t *testing.T) {
		const stat = "42 (a) b (c)) R 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 100 1000 10"
		got, err := parseStat(stat)
		if want := 300 * time.Second / clockTicksPerSecond; err != nil || got != want {
			t.Fatalf("parseStat = %v, %v; want %v", got, err, want)
		}
	})

	t.Run("this process's time grows while it works", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("/proc is Linux's")
		}
		m := NewMeter(os.Getpid())
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		// Work until /proc counts workTicks more clock ticks.
		const workTicks = 2
		want := workTicks * time.Second / clockTicksPerSecond
		start, err := Of(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		for used := time.Duration(0); used < want; {
			now, err := Of(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			used = now - start
		}
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
		if m.Self < want || m.Server < want {
			t.Fatalf("meter of this process: server %v, self %v; want at least %v", m.Server, m.Self, want)
		}
	})

	t.Run("edge: malformed lines and a process that does not exist", func(t *testing.T) {
		for _, stat := range []string{"", "42 no name", "42 (a) R 1 2", "42 (a) R 1 42 42 0 -1 4194304 100 0 0 0 x 50"} {
			if _, err := parseStat(stat); err == nil {
				t.Errorf("parseStat(%q) succeeded", stat)
			}
		}
		if _, err := Of(-1); err == nil {
			t.Error("Of(-1) succeeded")
		}
	})
}
