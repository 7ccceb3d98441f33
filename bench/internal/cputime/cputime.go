// Package cputime reads the CPU time a process has used, so that a
// benchmark can report CPU per operation beside its rate: on a machine the
// benchmark shares with the servers, a rate alone does not say which side
// the time went to.
package cputime

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is Linux's USER_HZ, the unit of the times in
// /proc/PID/stat: 100 on every architecture Go supports.
const clockTicksPerSecond = 100

// Fields of /proc/PID/stat after the command name (field 2, which may
// hold spaces): utime and stime are fields 14 and 15 of the file.
const (
	utimeField = 14 - 3
	stimeField = 15 - 3
)

// Of returns the user and system CPU time process pid has used, from
// /proc (Linux only).
func Of(pid int) (time.Duration, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	d, err := parseStat(string(b))
	if err != nil {
		return 0, fmt.Errorf("cputime: %s: %w", path, err)
	}
	return d, nil
}

// parseStat returns utime + stime of a /proc/PID/stat line.
func parseStat(stat string) (time.Duration, error) {
	// The command name is in parentheses and may contain anything.
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("no command name")
	}
	fields := strings.Fields(stat[end+1:])
	if len(fields) <= stimeField {
		return 0, errors.New("too few fields")
	}
	var ticks int64
	for _, f := range []string{fields[utimeField], fields[stimeField]} {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// Meter measures the CPU time a server process and this process use over
// one phase of a benchmark.
type Meter struct {
	server         int // pid
	server0, self0 time.Duration
	Server, Self   time.Duration // used between Start and Stop
}

// NewMeter measures the process whose pid is server, and this process.
func NewMeter(server int) *Meter { return &Meter{server: server} }

// Start begins the measured phase.
func (m *Meter) Start() error {
	var err error
	if m.server0, err = Of(m.server); err != nil {
		return err
	}
	m.self0, err = Of(os.Getpid())
	return err
}

// Stop ends the measured phase and sets Server and Self.
func (m *Meter) Stop() error {
	server, err := Of(m.server)
	if err != nil {
		return err
	}
	self, err := Of(os.Getpid())
	if err != nil {
		return err
	}
	m.Server, m.Self = server-m.server0, self-m.self0
	return nil
}
