package commands

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"nexo/engine/store"
	"nexo/internal/glob"
	"nexo/internal/number"
)

// runIDBytes is the size of the random run id (Redis: 40 hex characters).
const runIDBytes = 20

func newRunID() string {
	b := make([]byte, runIDBytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) registerServer() {
	s.table.add(&Command{Name: "info", Arity: -1, Flags: Loading | Stale, Group: "server", Since: "0.1.0",
		Summary: "Returns information and statistics about the server.", Syntax: "[section [section ...]]", Handler: cmdInfo})
	s.table.add(&Command{Name: "dbsize", Arity: 1, Flags: ReadOnly | Fast, Group: "server", Since: "0.1.0",
		Summary: "Returns the number of keys in the store.", Handler: cmdDBSize})
	s.table.add(&Command{Name: "flushdb", Arity: -1, Flags: Write, Group: "server", Since: "0.1.0",
		Summary: "Removes all keys from the store.", Syntax: "[ASYNC|SYNC]", Handler: cmdFlush})
	s.table.add(&Command{Name: "flushall", Arity: -1, Flags: Write, Group: "server", Since: "0.1.0",
		Summary: "Removes all keys from the store (the other brokers keep their data).", Syntax: "[ASYNC|SYNC]", Handler: cmdFlush})
	s.table.add(&Command{Name: "time", Arity: 1, Flags: Fast | Loading | Stale, Group: "server", Since: "0.1.0",
		Summary: "Returns the server time.", Handler: cmdTime})
	s.table.add(&Command{Name: "config", Arity: -2, Group: "server", Since: "0.1.0",
		Summary: "A container for server configuration commands.", Syntax: "subcommand [argument ...]", Handler: cmdConfigUnknown})
	s.table.addAll("server", "0.1.0", []*Command{
		{Name: "config|get", Arity: -3, Flags: Admin | Loading | Stale, Summary: "Returns the effective values of configuration parameters.", Syntax: "parameter [parameter ...]", Handler: cmdConfigGet},
		{Name: "config|set", Arity: -4, Flags: Admin | Loading | Stale, Summary: "Refused: NEXO's configuration is set at start.", Syntax: "parameter value [parameter value ...]", Handler: cmdConfigSet},
		{Name: "config|resetstat", Arity: 2, Flags: Admin | Loading | Stale, Summary: "Resets the server's statistics.", Handler: cmdConfigResetStat},
		{Name: "config|help", Arity: 2, Flags: Loading | Stale, Summary: "Returns helpful text about the different subcommands.", Handler: cmdConfigHelp},
	})
	s.table.addAll("server", "0.3.0", []*Command{
		{Name: "memory", Arity: -2, Summary: "A container for memory diagnostics commands.", Syntax: "subcommand [argument ...]", Handler: cmdMemoryUnknown},
		{Name: "memory|usage", Arity: -3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Summary: "Estimates the memory usage of a key.", Syntax: "key [SAMPLES count]", Handler: cmdMemoryUsage},
		{Name: "memory|help", Arity: 2, Flags: Loading | Stale, Summary: "Returns helpful text about the different subcommands.", Handler: cmdMemoryHelp},
		{Name: "monitor", Arity: 1, Flags: Admin | Loading | Stale | NoMulti, Summary: "Listens for all commands received by the server in real time.", Handler: cmdMonitor},
		{Name: "slowlog", Arity: -2, Summary: "A container for slow log commands.", Syntax: "subcommand [argument ...]", Handler: cmdSlowlogUnknown},
		{Name: "slowlog|get", Arity: -2, Flags: Admin | Loading | Stale, Summary: "Returns the slow log's entries.", Syntax: "[count]", Handler: cmdSlowlogGet},
		{Name: "slowlog|len", Arity: 2, Flags: Admin | Loading | Stale, Summary: "Returns the number of entries in the slow log.", Handler: cmdSlowlogLen},
		{Name: "slowlog|reset", Arity: 2, Flags: Admin | Loading | Stale, Summary: "Clears all entries from the slow log.", Handler: cmdSlowlogReset},
		{Name: "slowlog|help", Arity: 2, Flags: Loading | Stale, Summary: "Returns helpful text about the different subcommands.", Handler: cmdSlowlogHelp},
	})
	s.table.addAll("server", "0.4.0", []*Command{
		{Name: "shutdown", Arity: -1, Flags: Admin | NoMulti | Loading | Stale, Summary: "Stops the server as SIGTERM does: the persistent brokers' logs are flushed and closed.",
			Syntax: "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]", Handler: cmdShutdown},
		{Name: "role", Arity: 1, Flags: Fast | Loading | Stale, Summary: "Returns the replication role: NEXO is a master without replicas.", Handler: cmdRole},
	})
	s.registerCommandCommand()
}

func cmdDBSize(c *Client, _ [][]byte) { c.w.Int(int64(c.srv.cfg.Store.DBSize())) }

func cmdFlush(c *Client, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !strings.EqualFold(string(args[1]), "ASYNC") && !strings.EqualFold(string(args[1]), "SYNC")) {
		c.replyError(errSyntax)
		return
	}
	c.srv.cfg.Store.Flush()
	c.w.OK()
}

// cmdShutdown asks the process to stop as on SIGTERM (see Server.Stopping).
// As in Redis, the connection gets no reply: it is closed, with the others,
// once the server has stopped. The options are Redis's; none changes what
// NEXO does: the store is never saved, the logs are always flushed, and
// there are no replicas to wait for.
func cmdShutdown(c *Client, args [][]byte) {
	for _, a := range args[1:] {
		switch strings.ToLower(string(a)) {
		case "nosave", "save", "now", "force":
		case "abort":
			c.replyError(errNoShutdown)
			return
		default:
			c.replyError(errSyntax)
			return
		}
	}
	c.srv.log.Warn("SHUTDOWN asked by a client", "id", c.id, "addr", c.addr)
	c.srv.stopOnce.Do(func() { close(c.srv.stopping) })
	c.closing = true
}

// errNoShutdown answers SHUTDOWN ABORT: a shutdown cannot be cancelled once
// asked, so there is never one in progress to abort.
const errNoShutdown = "ERR No shutdown in progress."

func cmdRole(c *Client, _ [][]byte) {
	c.w.Array(3)
	c.w.BulkString("master")
	c.w.Int(0) // replication offset
	c.w.Array(0)
}

func cmdTime(c *Client, _ [][]byte) {
	now := time.Now()
	c.w.Array(2)
	c.w.BulkInt(now.Unix())
	c.w.BulkInt(int64(now.Nanosecond() / int(time.Microsecond)))
}

func cmdConfigUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("config", args[1]))
}

func cmdConfigGet(c *Client, args [][]byte) {
	var found []Param
	for _, p := range c.srv.cfg.Params {
		for _, pat := range args[2:] {
			if glob.Match([]byte(strings.ToLower(string(pat))), []byte(p.Name)) {
				found = append(found, p)
				break
			}
		}
	}
	c.w.Map(len(found))
	for _, p := range found {
		c.w.BulkString(p.Name)
		c.w.BulkString(p.Value)
	}
}

func cmdConfigSet(c *Client, args [][]byte) {
	c.replyError("ERR CONFIG SET is not supported: NEXO reads its configuration at start (flags, NEXO_* variables or the config file); restart with the new value of '" + sanitize(args[2]) + "'")
}

func cmdConfigResetStat(c *Client, _ [][]byte) {
	st := &c.srv.stats
	st.connections.Store(0)
	st.rejected.Store(0)
	st.commands.Store(0)
	st.errors.Store(0)
	st.protoErrors.Store(0)
	c.srv.errorCodes.reset()
	for _, cmd := range c.srv.table.all() {
		cmd.resetStats()
		for _, sub := range cmd.Subcommands {
			sub.resetStats()
		}
	}
	c.w.OK()
}

var configHelp = []string{
	"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
	"SET <directive> <value>", "    Refused: NEXO's configuration is set at start.",
	"RESETSTAT", "    Reset statistics reported by the INFO command.",
	"HELP", "    Print this help.",
}

func cmdConfigHelp(c *Client, _ [][]byte) { c.helpReply(configHelp) }

func cmdMemoryUnknown(c *Client, args [][]byte) {
	c.replyError(unknownSubcommand("memory", args[1]))
}

// cmdMemoryUsage answers the key's size as the store accounts it for
// maxmemory. SAMPLES is accepted as Redis takes it (a count, 0 for all);
// the size is exact, so it changes nothing.
func cmdMemoryUsage(c *Client, args [][]byte) {
	for opts := args[3:]; len(opts) > 0; opts = opts[2:] {
		if len(opts) < 2 || !strings.EqualFold(string(opts[0]), "SAMPLES") {
			c.replyError(errSyntax)
			return
		}
		n, ok := number.ParseInt(opts[1])
		switch {
		case !ok:
			c.replyError(errNotInteger)
			return
		case n < 0:
			c.replyError(errSyntax)
			return
		}
	}
	ki, ok := c.store().Inspect(args[2], store.Preview{})
	if !ok {
		c.w.Null()
		return
	}
	c.w.Int(ki.Memory)
}

var memoryHelp = []string{
	"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"USAGE <key> [SAMPLES <count>]", "    Return the memory usage of the key as maxmemory counts it, in bytes.",
	"HELP", "    Print this help.",
}

func cmdMemoryHelp(c *Client, _ [][]byte) { c.helpReply(memoryHelp) }

// infoSections are the sections INFO prints with no argument or "default";
// "all" and "everything" add commandstats.
var infoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "errorstats", "keyspace", "queue", "pubsub", "stream"}

func cmdInfo(c *Client, args [][]byte) {
	want := make(map[string]bool)
	for _, a := range args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := want["all"] || want["everything"]
	def := len(want) == 0 || want["default"] || all
	var b strings.Builder
	for _, name := range append(slices.Clone(infoSections), "commandstats") {
		if !want[name] && !(def && name != "commandstats") && !(all && name == "commandstats") {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		c.srv.writeInfoSection(&b, name)
	}
	c.w.Verbatim("txt", []byte(b.String()))
}

type infoWriter struct{ b *strings.Builder }

func (w infoWriter) kv(k, v string) {
	w.b.WriteString(k)
	w.b.WriteByte(':')
	w.b.WriteString(v)
	w.b.WriteString("\r\n")
}

func (w infoWriter) int(k string, v int64) { w.kv(k, strconv.FormatInt(v, 10)) }

func (s *Server) writeInfoSection(b *strings.Builder, name string) {
	w := infoWriter{b}
	b.WriteString("# " + strings.ToUpper(name[:1]) + name[1:] + "\r\n")
	now := time.Now()
	switch name {
	case "server":
		w.kv("redis_version", compatVersion)
		w.kv("nexo_version", s.cfg.Version)
		w.kv("redis_mode", "standalone")
		w.kv("os", runtime.GOOS+" "+runtime.GOARCH)
		w.kv("arch_bits", strconv.Itoa(strconv.IntSize))
		w.kv("go_version", runtime.Version())
		w.int("threads", int64(runtime.GOMAXPROCS(0)))
		w.int("event_loops", int64(len(s.loops)))
		w.int("process_id", int64(os.Getpid()))
		w.kv("run_id", s.runID)
		w.kv("tcp_port", portOf(s.Addr().String()))
		w.int("server_time_usec", now.UnixMicro())
		up := now.Sub(s.started)
		w.int("uptime_in_seconds", int64(up.Seconds()))
		w.int("uptime_in_days", int64(up.Hours()/24))
		w.int("hz", int64(time.Second/cronInterval))
		exe, _ := os.Executable()
		w.kv("executable", exe)
	case "clients":
		s.mu.Lock()
		n := len(s.clients)
		// The clients an event loop serves (one it is closing included,
		// until it is gone); the others have moved to goroutines of their
		// own (they waited in a blocking command, read a stream,
		// subscribed, or read their replies slowly) and may return.
		onLoops := 0
		for _, c := range s.clients {
			if c.fc != nil && !c.fc.handedOff() {
				onLoops++
			}
		}
		s.mu.Unlock()
		w.int("connected_clients", int64(n))
		w.int("maxclients", int64(s.cfg.MaxClients))
		w.int("blocked_clients", s.blocked.Load())
		w.int("loop_clients", int64(onLoops))
	case "memory":
		st := s.cfg.Store.Stats()
		heap := heapBytes()
		w.int("used_memory", int64(heap))
		w.kv("used_memory_human", humanBytes(int64(heap)))
		rss := rssBytes()
		w.int("used_memory_rss", rss)
		w.kv("used_memory_rss_human", humanBytes(rss))
		w.int("used_memory_dataset", st.UsedMemory)
		w.kv("used_memory_dataset_human", humanBytes(st.UsedMemory))
		w.int("maxmemory", st.MaxMemory)
		w.kv("maxmemory_human", humanBytes(st.MaxMemory))
		w.kv("maxmemory_policy", st.Policy.String())
		w.kv("mem_allocator", "go")
		cached, _ := s.scripts.count()
		w.int("number_of_cached_scripts", cached)
	case "persistence":
		w.int("loading", 0)
		w.int("async_loading", 0)
		w.int("rdb_changes_since_last_save", 0)
		w.int("aof_enabled", 0)
		w.kv("store_persistence", "none (the store is a volatile cache)")
	case "stats":
		st := s.cfg.Store.Stats()
		w.int("total_connections_received", s.stats.connections.Load())
		w.int("total_commands_processed", s.stats.commands.Load())
		w.int("instantaneous_ops_per_sec", s.stats.opsPerSec.Load())
		in, out := s.netBytes()
		w.int("total_net_input_bytes", in)
		w.int("total_net_output_bytes", out)
		w.int("rejected_connections", s.stats.rejected.Load())
		w.int("expired_keys", st.ExpiredKeys)
		w.int("evicted_keys", st.EvictedKeys)
		_, evictedScripts := s.scripts.count()
		w.int("evicted_scripts", evictedScripts)
		w.int("keyspace_hits", st.KeyspaceHits)
		w.int("keyspace_misses", st.KeyspaceMisses)
		w.int("total_error_replies", s.stats.errors.Load())
		w.int("client_protocol_error_disconnections", s.stats.protoErrors.Load())
	case "replication":
		w.kv("role", "master")
		w.int("connected_slaves", 0)
	case "cpu":
		sys, user := cpuSeconds()
		w.kv("used_cpu_sys", strconv.FormatFloat(sys, 'f', 6, 64))
		w.kv("used_cpu_user", strconv.FormatFloat(user, 'f', 6, 64))
	case "errorstats":
		s.errorCodes.write(w)
	case "keyspace":
		st := s.cfg.Store.Stats()
		if st.Keys > 0 {
			w.kv("db0", "keys="+strconv.FormatInt(st.Keys, 10)+",expires="+strconv.FormatInt(st.Expires, 10)+",avg_ttl=0")
		}
	case "queue":
		s.writeQueueInfo(w)
	case "pubsub":
		s.writePubSubInfo(w)
	case "stream":
		s.writeStreamInfo(w)
	case "commandstats":
		cmds := s.table.all()
		slices.SortFunc(cmds, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
		for _, cmd := range cmds {
			writeCmdStat(w, cmd)
			subs := make([]*Command, 0, len(cmd.Subcommands))
			for _, sub := range cmd.Subcommands {
				subs = append(subs, sub)
			}
			slices.SortFunc(subs, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
			for _, sub := range subs {
				writeCmdStat(w, sub)
			}
		}
	}
}

func writeCmdStat(w infoWriter, cmd *Command) {
	calls, rejected := cmd.calls.Load(), cmd.rejected.Load()
	if calls == 0 && rejected == 0 {
		return
	}
	usec := cmd.latency.sum.Load() / int64(time.Microsecond)
	perCall := 0.0
	if calls > 0 {
		perCall = float64(usec) / float64(calls)
	}
	w.kv("cmdstat_"+cmd.Name, "calls="+strconv.FormatInt(calls, 10)+
		",usec="+strconv.FormatInt(usec, 10)+
		",usec_per_call="+strconv.FormatFloat(perCall, 'f', 2, 64)+
		",rejected_calls="+strconv.FormatInt(rejected, 10)+
		",failed_calls="+strconv.FormatInt(cmd.failures.Load(), 10))
}

// netBytes sums the traffic of closed and open connections.
func (s *Server) netBytes() (in, out int64) {
	in, out = s.stats.closedIn.Load(), s.stats.closedOut.Load()
	for _, c := range s.clientsSnapshot() {
		in += c.nc.BytesIn.Load()
		out += c.nc.BytesOut.Load()
	}
	return in, out
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}

// heapBytes reads the bytes of live and not yet collected heap objects
// without stopping the world.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// rssBytes reads the resident set size from /proc; 0 where there is none.
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// humanBytes formats like Redis's used_memory_human: 1.50M, 2.00G.
func humanBytes(n int64) string {
	const unit = 1024
	units := []string{"B", "K", "M", "G", "T", "P"}
	f := float64(n)
	i := 0
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + "B"
	}
	return strconv.FormatFloat(f, 'f', 2, 64) + units[i]
}

func sortClients(cs []*Client) {
	slices.SortFunc(cs, func(a, b *Client) int { return int(a.id - b.id) })
}
