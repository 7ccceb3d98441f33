//go:build unix

package commands

import (
	"syscall"
	"time"
)

// cpuSeconds is the CPU time the process has used, in the kernel and in
// user space, for INFO cpu.
func cpuSeconds() (sys, user float64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return tvSeconds(ru.Stime), tvSeconds(ru.Utime)
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/float64(time.Second/time.Microsecond)
}
