package dashboard

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"nexo/commands"
)

// metricsNamespace prefixes every NEXO metric.
const metricsNamespace = "nexo"

// commandLabel is the label naming a command ("get", "config|get").
const commandLabel = "command"

// serverCollector turns the command layer's Stats into metrics at scrape
// time: the hot path only updates its own atomic counters, and nothing is
// computed for Prometheus until it asks.
type serverCollector struct {
	src     ServerStats
	version string

	buildInfo, clients, maxClients, connections, rejected *prometheus.Desc
	errorReplies, protocolErrors, netIn, netOut, heap     *prometheus.Desc
	calls, failures, rejectedCalls, duration              *prometheus.Desc
	// bounds are the latency buckets' upper bounds in seconds.
	bounds []float64
}

func newServerCollector(src ServerStats, version string) *serverCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, labels, nil)
	}
	c := &serverCollector{
		src:            src,
		version:        version,
		buildInfo:      desc("build_info", "NEXO's version and the Go version it was built with; always 1.", "version", "goversion"),
		clients:        desc("clients_connected", "Connected RESP clients."),
		maxClients:     desc("clients_max", "The maxclients setting."),
		connections:    desc("connections_received_total", "RESP connections accepted."),
		rejected:       desc("connections_rejected_total", "RESP connections refused for maxclients."),
		errorReplies:   desc("error_replies_total", "Error replies sent, unknown commands included."),
		protocolErrors: desc("protocol_errors_total", "Connections closed for breaking the protocol's framing limits."),
		netIn:          desc("net_input_bytes_total", "Bytes read from RESP clients."),
		netOut:         desc("net_output_bytes_total", "Bytes written to RESP clients."),
		heap:           desc("memory_used_bytes", "Go heap objects, live and not yet collected (INFO used_memory)."),
		calls:          desc("command_calls_total", "Calls of each command that ran (a command queued by MULTI runs in EXEC).", commandLabel),
		failures:       desc("command_errors_total", "Calls of each command answered with an error.", commandLabel),
		rejectedCalls:  desc("command_rejected_total", "Commands refused before they ran: wrong arity, not authenticated, not allowed in the connection's state or in MULTI.", commandLabel),
		duration:       desc("command_duration_seconds", "Time spent running each command.", commandLabel),
		bounds:         make([]float64, commands.LatencyBuckets-1),
	}
	for i := range c.bounds {
		c.bounds[i] = commands.LatencyBound(i).Seconds()
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.buildInfo, c.clients, c.maxClients, c.connections, c.rejected,
		c.errorReplies, c.protocolErrors, c.netIn, c.netOut, c.heap, c.calls, c.failures, c.rejectedCalls, c.duration} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.buildInfo, 1, c.version, runtime.Version())
	gauge(c.clients, float64(st.ConnectedClients))
	gauge(c.maxClients, float64(st.MaxClients))
	counter(c.connections, st.TotalConnections)
	counter(c.rejected, st.RejectedConnections)
	counter(c.errorReplies, st.ErrorReplies)
	counter(c.protocolErrors, st.ProtocolErrors)
	counter(c.netIn, st.NetInputBytes)
	counter(c.netOut, st.NetOutputBytes)
	gauge(c.heap, float64(st.HeapBytes))
	for _, cmd := range st.Commands {
		counter(c.calls, cmd.Calls, cmd.Name)
		counter(c.failures, cmd.Failures, cmd.Name)
		counter(c.rejectedCalls, cmd.Rejected, cmd.Name)
		buckets := make(map[float64]uint64, len(c.bounds))
		var cumulative uint64
		for i, bound := range c.bounds {
			cumulative += cmd.Latency.Counts[i]
			buckets[bound] = cumulative
		}
		count := cumulative + cmd.Latency.Counts[commands.LatencyBuckets-1]
		ch <- prometheus.MustNewConstHistogram(c.duration, count, cmd.Latency.Sum.Seconds(), buckets, cmd.Name)
	}
}
