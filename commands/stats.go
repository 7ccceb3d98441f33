package commands

import (
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// LatencyBuckets is the number of buckets of a command's latency histogram.
// Bucket i < LatencyBuckets-1 counts the calls that took at most
// LatencyBound(i); the last bucket counts the slower ones.
const LatencyBuckets = 24

// LatencyBound is the upper bound of latency bucket i: 2^i µs, from 1 µs
// to about 4 s.
func LatencyBound(i int) time.Duration { return time.Microsecond << i }

// latencyHistogram is a command's latency histogram, updated by every call
// of the command from any connection.
type latencyHistogram struct {
	buckets [LatencyBuckets]atomic.Uint64
	sum     atomic.Int64 // nanoseconds
}

// observe records one call that took d.
// Hot path: the bucket is the bit length of (d-1ns) in whole microseconds
// (bucket 0 holds up to 1 µs, bucket i > 0 holds (2^(i-1), 2^i] µs): one
// division by a constant and one instruction, no search; then two atomic
// adds.
func (h *latencyHistogram) observe(d time.Duration) {
	i := bits.Len64(uint64(max(d, 1)-1) / uint64(time.Microsecond))
	h.buckets[min(i, LatencyBuckets-1)].Add(1)
	h.sum.Add(int64(d))
}

func (h *latencyHistogram) snapshot() Latency {
	var l Latency
	for i := range h.buckets {
		l.Counts[i] = h.buckets[i].Load()
	}
	l.Sum = time.Duration(h.sum.Load())
	return l
}

func (h *latencyHistogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.sum.Store(0)
}

// Latency is a snapshot of a command's latency histogram.
type Latency struct {
	Counts [LatencyBuckets]uint64 // calls per bucket (not cumulative)
	Sum    time.Duration          // total time of the calls counted
}

// CommandStats are the counters of one command.
type CommandStats struct {
	Name     string // lower case; "parent|sub" for a subcommand
	Calls    int64
	Failures int64 // calls answered with an error
	Rejected int64 // refused before running: arity, authentication, the connection's mode
	Latency  Latency
}

// Stats is a snapshot of the server's counters, for monitoring. Counters
// are read one by one without a common lock, so under load they may be
// slightly inconsistent with each other.
type Stats struct {
	Started             time.Time
	Threads             int // GOMAXPROCS
	ConnectedClients    int
	MaxClients          int
	TotalConnections    int64 // accepted since start or CONFIG RESETSTAT
	RejectedConnections int64 // refused for maxclients
	TotalCommands       int64
	ErrorReplies        int64
	ProtocolErrors      int64 // connections closed for breaking the framing limits
	OpsPerSec           int64 // instantaneous_ops_per_sec
	NetInputBytes       int64
	NetOutputBytes      int64
	HeapBytes           int64 // live and not yet collected heap objects
	RSSBytes            int64 // resident set size; 0 where unknown
	// Commands lists the commands and subcommands called at least once, by name.
	Commands []CommandStats
	// SlowlogSlowerThan is the slow log's threshold (negative: no slow
	// log); SlowLog its latest entries, newest first, as SLOWLOG GET lists
	// them without a count.
	SlowlogSlowerThan time.Duration
	SlowLog           []SlowEntry
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	clients := len(s.clients)
	s.mu.Unlock()
	in, out := s.netBytes()
	st := Stats{
		Started:             s.started,
		Threads:             runtime.GOMAXPROCS(0),
		ConnectedClients:    clients,
		MaxClients:          s.cfg.MaxClients,
		TotalConnections:    s.stats.connections.Load(),
		RejectedConnections: s.stats.rejected.Load(),
		TotalCommands:       s.stats.commands.Load(),
		ErrorReplies:        s.stats.errors.Load(),
		ProtocolErrors:      s.stats.protoErrors.Load(),
		OpsPerSec:           s.stats.opsPerSec.Load(),
		NetInputBytes:       in,
		NetOutputBytes:      out,
		HeapBytes:           int64(heapBytes()),
		RSSBytes:            rssBytes(),
		SlowlogSlowerThan:   s.slow.slowerThan,
		SlowLog:             s.slow.latest(slowlogDefaultGet),
	}
	add := func(cmd *Command) {
		calls, rejected := cmd.calls.Load(), cmd.rejected.Load()
		if calls > 0 || rejected > 0 {
			st.Commands = append(st.Commands, CommandStats{
				Name: cmd.Name, Calls: calls, Failures: cmd.failures.Load(), Rejected: rejected, Latency: cmd.latency.snapshot(),
			})
		}
	}
	for _, cmd := range s.table.all() {
		add(cmd)
		for _, sub := range cmd.Subcommands {
			add(sub)
		}
	}
	slices.SortFunc(st.Commands, func(a, b CommandStats) int { return strings.Compare(a.Name, b.Name) })
	return st
}
