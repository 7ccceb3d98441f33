package dashboard

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"time"

	"nexo/commands"
)

// Quantiles of command latency the overview reports.
const (
	medianQuantile = 0.5
	tailQuantile   = 0.99
)

// overview is the server-wide part of the snapshot.
type overview struct {
	Version       string          `json:"version"`
	GoVersion     string          `json:"go_version"`
	Started       time.Time       `json:"started"`
	UptimeSeconds int64           `json:"uptime_seconds"`
	Threads       int             `json:"threads"`
	Clients       clientsView     `json:"clients"`
	Memory        memoryView      `json:"memory"`
	Commands      commandsView    `json:"commands"`
	Network       networkView     `json:"network"`
	Persistence   persistenceView `json:"persistence"`
	SlowLog       slowlogView     `json:"slowlog"`
}

// slowlogView is the slow log: its threshold (-1 when there is no slow
// log) and its latest entries, newest first.
type slowlogView struct {
	ThresholdMicros int64       `json:"threshold_us"`
	Entries         []slowEntry `json:"entries"`
}

type slowEntry struct {
	ID             int64     `json:"id"`
	Time           time.Time `json:"time"`
	DurationMicros int64     `json:"duration_us"`
	Args           []string  `json:"args"`
	Client         string    `json:"client"`
	Name           string    `json:"name"`
}

type clientsView struct {
	Connected        int   `json:"connected"`
	Max              int   `json:"max"`
	TotalConnections int64 `json:"total_connections"`
	Rejected         int64 `json:"rejected"`
}

type memoryView struct {
	HeapBytes int64 `json:"heap_bytes"`
	RSSBytes  int64 `json:"rss_bytes"`
}

type networkView struct {
	InputBytes  int64 `json:"input_bytes"`
	OutputBytes int64 `json:"output_bytes"`
}

type persistenceView struct {
	DataDir string `json:"data_dir"`
	Fsync   string `json:"fsync"`
}

type commandsView struct {
	PerSecond      int64 `json:"per_second"`
	Total          int64 `json:"total"`
	Errors         int64 `json:"errors"`
	ProtocolErrors int64 `json:"protocol_errors"`
	// Top lists the most called commands, most calls first.
	Top []commandView `json:"top"`
}

// commandView is one command's counters. The quantiles are the upper bound
// of the latency bucket that holds them.
type commandView struct {
	Name      string  `json:"name"`
	Calls     int64   `json:"calls"`
	Errors    int64   `json:"errors"`
	AvgMicros float64 `json:"avg_us"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
}

func (s *Server) overview(limit int) overview {
	st := s.cfg.Server.Stats()
	ov := overview{
		Version:       s.cfg.Version,
		GoVersion:     runtime.Version(),
		Started:       st.Started.UTC(),
		UptimeSeconds: int64(time.Since(st.Started).Seconds()),
		Threads:       st.Threads,
		Clients: clientsView{
			Connected:        st.ConnectedClients,
			Max:              st.MaxClients,
			TotalConnections: st.TotalConnections,
			Rejected:         st.RejectedConnections,
		},
		Memory:  memoryView{HeapBytes: st.HeapBytes, RSSBytes: st.RSSBytes},
		Network: networkView{InputBytes: st.NetInputBytes, OutputBytes: st.NetOutputBytes},
		Commands: commandsView{
			PerSecond:      st.OpsPerSec,
			Total:          st.TotalCommands,
			Errors:         st.ErrorReplies,
			ProtocolErrors: st.ProtocolErrors,
			Top:            make([]commandView, 0, min(len(st.Commands), limit)),
		},
		Persistence: persistenceView{DataDir: s.cfg.DataDir, Fsync: s.cfg.Fsync},
		SlowLog:     slowlogView{ThresholdMicros: -1, Entries: make([]slowEntry, 0, len(st.SlowLog))},
	}
	if st.SlowlogSlowerThan >= 0 {
		ov.SlowLog.ThresholdMicros = st.SlowlogSlowerThan.Microseconds()
	}
	for _, e := range st.SlowLog {
		ov.SlowLog.Entries = append(ov.SlowLog.Entries, slowEntry{
			ID: e.ID, Time: e.At.UTC(), DurationMicros: e.Duration.Microseconds(), Args: e.Args, Client: e.Addr, Name: e.Name,
		})
	}
	cmds := slices.Clone(st.Commands)
	slices.SortStableFunc(cmds, func(a, b commands.CommandStats) int { return cmp.Compare(b.Calls, a.Calls) })
	for _, c := range cmds[:min(len(cmds), limit)] {
		ov.Commands.Top = append(ov.Commands.Top, commandView{
			Name:      c.Name,
			Calls:     c.Calls,
			Errors:    c.Failures + c.Rejected,
			AvgMicros: avgMicros(c.Latency),
			P50Micros: quantileMicros(c.Latency, medianQuantile),
			P99Micros: quantileMicros(c.Latency, tailQuantile),
		})
	}
	return ov
}

func avgMicros(l commands.Latency) float64 {
	n := latencyCount(l)
	if n == 0 {
		return 0
	}
	return float64(l.Sum) / float64(time.Microsecond) / float64(n)
}

func latencyCount(l commands.Latency) uint64 {
	var n uint64
	for _, c := range l.Counts {
		n += c
	}
	return n
}

// quantileMicros returns the upper bound, in µs, of the bucket holding
// quantile q; calls slower than the last bound report that bound.
func quantileMicros(l commands.Latency, q float64) float64 {
	n := latencyCount(l)
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	var seen uint64
	last := commands.LatencyBuckets - 2
	for i, c := range l.Counts[:last+1] {
		seen += c
		if seen >= rank {
			return float64(commands.LatencyBound(i)) / float64(time.Microsecond)
		}
	}
	return float64(commands.LatencyBound(last)) / float64(time.Microsecond)
}
