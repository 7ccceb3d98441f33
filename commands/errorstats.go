package commands

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// errorStatsLimit is how many distinct error codes INFO errorstats counts,
// as in Redis: past it, new codes are not counted, so that clients cannot
// make the table grow without bound.
const errorStatsLimit = 128

// errorStats counts the error replies by code (the first word of the
// message: ERR, WRONGTYPE, NOAUTH …) for INFO errorstats. Only error
// replies pay for it.
type errorStats struct {
	mu     sync.Mutex
	counts map[string]int64
}

// add counts an error reply of msg.
func (e *errorStats) add(msg string) {
	code, _, _ := strings.Cut(msg, " ")
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = make(map[string]int64)
	}
	if _, ok := e.counts[code]; ok || len(e.counts) < errorStatsLimit {
		e.counts[code]++
	}
}

// write writes the errorstats section: one line per code, sorted.
func (e *errorStats) write(w infoWriter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, code := range slices.Sorted(maps.Keys(e.counts)) {
		w.kv("errorstat_"+code, "count="+strconv.FormatInt(e.counts[code], 10))
	}
}

func (e *errorStats) reset() {
	e.mu.Lock()
	e.counts = nil
	e.mu.Unlock()
}
