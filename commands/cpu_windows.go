//go:build windows

package commands

import (
	"syscall"
	"time"
)

// fileTimeUnit is the unit of a FILETIME duration.
const fileTimeUnit = 100 * time.Nanosecond

// cpuSeconds is the CPU time the process has used, in the kernel and in
// user space, for INFO cpu.
func cpuSeconds() (sys, user float64) {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0, 0
	}
	var creation, exit, kernel, usr syscall.Filetime
	if syscall.GetProcessTimes(h, &creation, &exit, &kernel, &usr) != nil {
		return 0, 0
	}
	return fileTimeSeconds(kernel), fileTimeSeconds(usr)
}

func fileTimeSeconds(ft syscall.Filetime) float64 {
	ticks := int64(ft.HighDateTime)<<32 | int64(ft.LowDateTime)
	return (time.Duration(ticks) * fileTimeUnit).Seconds()
}
