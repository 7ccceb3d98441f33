package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"nexo/commands"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
	"nexo/resp"
	"nexo/wal"
)

// config is every setting of the process. Values come from the defaults,
// then the config file, then NEXO_* environment variables, then flags:
// each source overrides the ones before it.
type config struct {
	Bind                 string
	Port                 int
	HTTPPort             int
	Dashboard            bool // the page and its API on the HTTP port; /metrics and /healthz are always served
	DataDir              string
	Password             string
	MaxMemory            int64
	MaxMemoryPolicy      store.Policy
	Fsync                string
	LogLevel             string
	MaxClients           int
	Timeout              int // seconds a client may stay idle; 0 = forever
	MaxBulkLen           int64
	MaxMultibulkLen      int64
	MaxQueryBuffer       int64
	Threads              int // GOMAXPROCS, and event loops on all but one; 0 = every core
	QueueDefaults        queue.Settings
	QueueMaxPayload      int64
	QueueMaxPending      int
	PubSubLimit          commands.OutputLimit
	SlowlogSlowerThan    time.Duration // negative: no slow log
	SlowlogMaxLen        int
	ScriptTimeLimit      time.Duration
	NotifyKeyspaceEvents string // as given, for CONFIG GET
	KeyspaceEvents       commands.KeyspaceEvents
	StreamDefaults       stream.Settings
	StreamSessionTimeout time.Duration
	StreamMaxPayload     int64
	StreamMaxReadBytes   int64
}

// Defaults that are not owned by a package.
const (
	defaultBind      = "127.0.0.1"
	defaultPort      = 6379
	defaultHTTPPort  = 7379
	defaultDataDir   = "./data"
	defaultFsync     = "always"
	defaultLogLevel  = "info"
	defaultMaxClient = 10000
	maxPort          = 65535
)

// option is one row of the configuration table: the flag name (also the
// config file directive), its environment variable, default and meaning.
type option struct {
	name  string
	def   string
	usage string
	set   func(c *config, v string) error
}

func (o option) env() string {
	return "NEXO_" + strings.ToUpper(strings.ReplaceAll(o.name, "-", "_"))
}

var options = []option{
	{"bind", defaultBind, "address the RESP and HTTP servers listen on (0.0.0.0 for every interface)",
		func(c *config, v string) error { c.Bind = v; return nil }},
	{"port", strconv.Itoa(defaultPort), "RESP port (0 picks a free port)",
		func(c *config, v string) error { return setPort(&c.Port, v) }},
	{"http-port", strconv.Itoa(defaultHTTPPort), "dashboard and metrics HTTP port",
		func(c *config, v string) error { return setPort(&c.HTTPPort, v) }},
	{"dashboard", "yes", "serve the dashboard page and its API on the HTTP port: yes or no (/metrics and /healthz are served either way)",
		func(c *config, v string) error { return setYesNo(&c.Dashboard, v) }},
	{"data-dir", defaultDataDir, "directory of the persistent brokers' data",
		func(c *config, v string) error { c.DataDir = v; return nil }},
	{"password", "", "password clients must give with AUTH or HELLO (empty: no authentication)",
		func(c *config, v string) error { c.Password = v; return nil }},
	{"maxmemory", "0", "memory limit of the store's data, in bytes or with a unit (100mb, 2gb); 0 = none",
		func(c *config, v string) error { return setBytes(&c.MaxMemory, v) }},
	{"maxmemory-policy", "noeviction", "what the store does at maxmemory: noeviction, allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, volatile-random, volatile-ttl",
		func(c *config, v string) (err error) { c.MaxMemoryPolicy, err = store.ParsePolicy(v); return err }},
	{"fsync", defaultFsync, "when the persistent brokers' writes reach the disk: always, everysec, no",
		func(c *config, v string) error { return setEnum(&c.Fsync, v, "always", "everysec", "no") }},
	{"log-level", defaultLogLevel, "log level: debug, info, warn, error",
		func(c *config, v string) error { return setEnum(&c.LogLevel, v, "debug", "info", "warn", "error") }},
	{"maxclients", strconv.Itoa(defaultMaxClient), "maximum number of connected clients",
		func(c *config, v string) error { return setPositive(&c.MaxClients, v) }},
	{"timeout", "0", "seconds after which an idle client is closed; 0 = never",
		func(c *config, v string) error { return setNonNegative(&c.Timeout, v) }},
	{"proto-max-bulk-len", strconv.Itoa(resp.DefaultMaxBulkLen), "largest bulk string a client may send, in bytes or with a unit",
		func(c *config, v string) error { return setBytes(&c.MaxBulkLen, v) }},
	{"max-multibulk-len", strconv.Itoa(resp.DefaultMaxMultibulkLen), "most arguments one command may have",
		func(c *config, v string) error { return setBytes(&c.MaxMultibulkLen, v) }},
	{"client-query-buffer-limit", strconv.Itoa(resp.DefaultMaxQueryBuffer), "largest incomplete command buffered for a client, and most bytes of arguments MULTI queues; in bytes or with a unit",
		func(c *config, v string) error { return setBytes(&c.MaxQueryBuffer, v) }},
	{"threads", "0", "CPU threads that run commands (GOMAXPROCS), with an event loop on every one but one (at least one); 0 = every core",
		func(c *config, v string) error { return setNonNegative(&c.Threads, v) }},
	queueOption("visibility-timeout", "milliseconds a taken job stays invisible before it returns to its queue"),
	queueOption("max-attempts", "deliveries of a job before it becomes a dead letter; 0 = unlimited"),
	queueOption("backoff", "retry delay strategy: exponential (backoff-delay doubled per attempt) or fixed"),
	queueOption("backoff-delay", "milliseconds before the first retry (every retry when fixed)"),
	queueOption("backoff-max", "cap of the exponential retry delay, in milliseconds; 0 = none"),
	queueOption("backoff-jitter", "random share of a retry delay, 0 to 1 (0.2: between 80% and 100% of it)"),
	queueOption("dead-letter-max", "dead letters kept per queue; past it the oldest is dropped"),
	queueOption("release-on-disconnect", "yes: the jobs of a consumer whose connection closes return to the queue at once"),
	queueOption("rate-limit", "jobs a queue hands out per rate window, across its consumers; 0 = no limit"),
	queueOption("rate-window", "milliseconds of the rate limit's window"),
	queueOption("max-in-flight", "jobs of a queue in flight at once, across its consumers; 0 = no limit"),
	queueOption("events", "yes: a queue publishes its job events on the pub/sub channel __queue__:<queue>"),
	queueOption("keep-completed", "completed jobs a queue keeps, with their results; past it the oldest is dropped; 0 = none"),
	queueOption("keep-completed-age", "milliseconds a kept completed job stays after its completion; 0 = no age bound"),
	{"queue-max-payload", strconv.Itoa(queue.DefaultMaxPayload), "largest job payload, in bytes or with a unit",
		func(c *config, v string) error { return setBytes(&c.QueueMaxPayload, v) }},
	{"queue-max-pending", strconv.Itoa(wal.DefaultMaxPending), "queue log records waiting for the disk before writes are refused with OVERLOAD",
		func(c *config, v string) error { return setPositive(&c.QueueMaxPending, v) }},
	{"stream-partitions", strconv.Itoa(stream.DefaultPartitions), "partitions of a stream created by XAPPEND or by XCREATE without PARTITIONS",
		func(c *config, v string) error { return setPartitions(&c.StreamDefaults.Partitions, v) }},
	{"stream-max-age", strconv.FormatInt(stream.DefaultMaxAge.Milliseconds(), 10), "milliseconds a stream message is retained, per partition; 0 = no limit (default of new streams)",
		func(c *config, v string) error { return setMs(&c.StreamDefaults.MaxAge, v, 0) }},
	{"stream-max-bytes", strconv.Itoa(stream.DefaultMaxBytes), "bytes of messages retained per partition, or with a unit; 0 = no limit (default of new streams)",
		func(c *config, v string) error { return setBytes(&c.StreamDefaults.MaxBytes, v) }},
	{"stream-max-messages", "0", "messages retained per partition; 0 = no limit (default of new streams)",
		func(c *config, v string) error { return setInt64(&c.StreamDefaults.MaxMessages, v) }},
	{"stream-session-timeout", strconv.FormatInt(stream.DefaultSessionTimeout.Milliseconds(), 10), "milliseconds a consumer group member stays without XCONSUME or XCOMMIT before it leaves",
		func(c *config, v string) error { return setMs(&c.StreamSessionTimeout, v, 1) }},
	{"stream-max-payload", strconv.Itoa(stream.DefaultMaxPayload), "largest key plus payload of a stream message, in bytes or with a unit",
		func(c *config, v string) error { return setBytes(&c.StreamMaxPayload, v) }},
	{"stream-max-read-bytes", strconv.Itoa(stream.DefaultMaxReadBytes), "bytes of messages one XFETCH or XCONSUME returns, ending with the message that reaches them; in bytes or with a unit",
		func(c *config, v string) error { return setPositiveBytes(&c.StreamMaxReadBytes, v) }},
	{"slowlog-log-slower-than", strconv.FormatInt(commands.DefaultSlowlogSlowerThan.Microseconds(), 10), "microseconds a command runs before the slow log keeps it; 0 = every command, negative = none",
		func(c *config, v string) error { return setMicros(&c.SlowlogSlowerThan, v) }},
	{"slowlog-max-len", strconv.Itoa(commands.DefaultSlowlogMaxLen), "entries the slow log keeps; past it the oldest is dropped",
		func(c *config, v string) error { return setNonNegative(&c.SlowlogMaxLen, v) }},
	{"notify-keyspace-events", "", "store events published as Redis's keyspace notifications: letters K, E, g, $, h, x, e, A (empty = none)",
		func(c *config, v string) error {
			k, err := commands.ParseKeyspaceEvents(v)
			if err != nil {
				return err
			}
			c.NotifyKeyspaceEvents, c.KeyspaceEvents = v, k
			return nil
		}},
	{"script-time-limit", strconv.FormatInt(commands.DefaultScriptTimeLimit.Milliseconds(), 10), "milliseconds a Lua script (EVAL) may run, holding off every other command, before it is stopped",
		func(c *config, v string) error { return setMs(&c.ScriptTimeLimit, v, 1) }},
	{"client-output-buffer-limit", defaultPubSubLimit.String(), "output buffer limit of subscribed connections, as Redis's: pubsub <hard> <soft> <soft-seconds> (sizes with units, 0 = no limit)",
		func(c *config, v string) error { return setOutputLimit(&c.PubSubLimit, v) }},
}

// defaultPubSubLimit is Redis's "client-output-buffer-limit pubsub 32mb 8mb 60".
var defaultPubSubLimit = commands.OutputLimit{
	Hard: commands.DefaultPubSubHardLimit, Soft: commands.DefaultPubSubSoftLimit, SoftFor: commands.DefaultPubSubSoftFor,
}

// outputLimitFields is the number of words of client-output-buffer-limit:
// the class, the hard limit, the soft limit and its seconds.
const outputLimitFields = 4

// setOutputLimit parses "pubsub <hard> <soft> <seconds>"; pub/sub is the
// only class NEXO limits (normal clients are unlimited, as Redis's default).
func setOutputLimit(dst *commands.OutputLimit, v string) error {
	f := strings.Fields(v)
	bad := fmt.Errorf("invalid value %q (pubsub <hard> <soft> <soft-seconds>, e.g. \"pubsub 32mb 8mb 60\"; only the pubsub class is supported)", v)
	if len(f) != outputLimitFields || !strings.EqualFold(f[0], "pubsub") {
		return bad
	}
	var lim commands.OutputLimit
	var secs int
	if setBytes(&lim.Hard, f[1]) != nil || setBytes(&lim.Soft, f[2]) != nil || setNonNegative(&secs, f[3]) != nil {
		return bad
	}
	lim.SoftFor = time.Duration(secs) * time.Second
	*dst = lim
	return nil
}

// queueOption is the option --queue-PARAM: the default of a per-queue
// setting, which QCONFIG SET overrides for one queue.
func queueOption(param, usage string) option {
	def, err := queue.DefaultSettings().Get(param)
	if err != nil {
		panic("nexo: " + err.Error())
	}
	return option{"queue-" + param, def, usage + " (default of every queue)",
		func(c *config, v string) error { return c.QueueDefaults.Set(param, v) }}
}

// loadConfig builds the configuration from args, the environment (through
// lookupEnv) and the config file named by --config or NEXO_CONFIG.
func loadConfig(args []string, lookupEnv func(string) (string, bool), usage io.Writer) (*config, error) {
	fs := flag.NewFlagSet("nexo", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() { printUsage(usage) }
	fromFlags := map[string]string{}
	var order []string
	for _, o := range options {
		fs.Func(o.name, o.usage, func(v string) error {
			if _, seen := fromFlags[o.name]; !seen {
				order = append(order, o.name)
			}
			fromFlags[o.name] = v
			return nil
		})
	}
	configFile := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (options are flags: nexo --help)", fs.Arg(0))
	}
	if *configFile == "" {
		*configFile, _ = lookupEnv("NEXO_CONFIG")
	}
	c := &config{}
	for _, o := range options {
		if err := o.set(c, o.def); err != nil {
			panic("nexo: bad default for " + o.name + ": " + err.Error())
		}
	}
	if *configFile != "" {
		if err := applyFile(c, *configFile); err != nil {
			return nil, err
		}
	}
	for _, o := range options {
		if v, ok := lookupEnv(o.env()); ok {
			if err := o.set(c, v); err != nil {
				return nil, fmt.Errorf("%s: %w", o.env(), err)
			}
		}
	}
	for _, name := range order {
		if err := findOption(name).set(c, fromFlags[name]); err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
	}
	return c, nil
}

func findOption(name string) *option {
	for i := range options {
		if options[i].name == name {
			return &options[i]
		}
	}
	return nil
}

// applyFile reads a redis.conf-style file: one "directive value" per line,
// # starts a comment, values may be double-quoted.
func applyFile(c *config, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, value, _ := strings.Cut(text, " ")
		value = strings.TrimSpace(value)
		if unq, err := strconv.Unquote(value); err == nil && strings.HasPrefix(value, `"`) {
			value = unq
		}
		o := findOption(strings.ToLower(name))
		if o == nil {
			return fmt.Errorf("%s:%d: unknown directive %q", path, line, name)
		}
		if err := o.set(c, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %w", path, line, name, err)
		}
	}
	return sc.Err()
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "NEXO %s: cache, job queues, pub/sub and streams in one Redis-compatible server.\n\n", version)
	fmt.Fprintf(w, "Usage: nexo [--option value ...]\n\n")
	fmt.Fprintf(w, "Each option is also read from its environment variable and from the file named by\n")
	fmt.Fprintf(w, "--config (or NEXO_CONFIG), one \"option value\" per line; flags win over the\n")
	fmt.Fprintf(w, "environment, which wins over the file.\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, o := range options {
		def := o.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "--%s\t%s\t%s\t%s\n", o.name, o.env(), def, o.usage)
	}
	fmt.Fprintf(tw, "--config\tNEXO_CONFIG\t\"\"\tconfiguration file\n")
	tw.Flush()
}

func setPort(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxPort {
		return fmt.Errorf("invalid port %q (0 to %d)", v, maxPort)
	}
	*dst = n
	return nil
}

func setPositive(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("invalid value %q (a positive integer)", v)
	}
	*dst = n
	return nil
}

func setNonNegative(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid value %q (an integer, 0 or more)", v)
	}
	*dst = n
	return nil
}

// setInt64 parses an integer, 0 or more.
func setInt64(dst *int64, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid value %q (an integer, 0 or more)", v)
	}
	*dst = n
	return nil
}

// setMs parses a whole number of milliseconds, min or more.
func setMs(dst *time.Duration, v string, min int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > math.MaxInt64/int64(time.Millisecond) {
		return fmt.Errorf("invalid value %q (milliseconds, %d or more)", v, min)
	}
	*dst = time.Duration(n) * time.Millisecond
	return nil
}

// setMicros parses a whole number of microseconds, negative included.
func setMicros(dst *time.Duration, v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < math.MinInt64/int64(time.Microsecond) || n > math.MaxInt64/int64(time.Microsecond) {
		return fmt.Errorf("invalid value %q (microseconds)", v)
	}
	*dst = time.Duration(n) * time.Microsecond
	return nil
}

// setPartitions parses a stream partition count.
func setPartitions(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > stream.MaxPartitions {
		return fmt.Errorf("invalid value %q (1 to %d partitions)", v, stream.MaxPartitions)
	}
	*dst = n
	return nil
}

func setYesNo(dst *bool, v string) error {
	var s string
	if err := setEnum(&s, v, "yes", "no"); err != nil {
		return err
	}
	*dst = s == "yes"
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func setEnum(dst *string, v string, allowed ...string) error {
	lv := strings.ToLower(v)
	for _, a := range allowed {
		if lv == a {
			*dst = lv
			return nil
		}
	}
	return fmt.Errorf("invalid value %q (one of %s)", v, strings.Join(allowed, ", "))
}

// byteUnits are the suffixes Redis accepts in memory sizes.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10},
	{"g", 1000 * 1000 * 1000}, {"m", 1000 * 1000}, {"k", 1000}, {"b", 1},
}

// setPositiveBytes is setBytes for a size that must not be 0.
func setPositiveBytes(dst *int64, v string) error {
	var n int64
	if err := setBytes(&n, v); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("invalid size %q (more than 0 bytes)", v)
	}
	*dst = n
	return nil
}

func setBytes(dst *int64, v string) error {
	s := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || (n > 0 && mult > 1 && n > (1<<62)/mult) {
		return errors.New("invalid size " + strconv.Quote(v) + " (bytes, or a number with b, k, kb, m, mb, g, gb)")
	}
	*dst = n * mult
	return nil
}

// params lists the configuration as CONFIG GET reports it, under Redis's
// names where Redis has the parameter.
func (c *config) params() []commands.Param {
	pairs := [][2]string{
		{"bind", c.Bind},
		{"port", strconv.Itoa(c.Port)},
		{"http-port", strconv.Itoa(c.HTTPPort)},
		{"dashboard", yesNo(c.Dashboard)},
		{"dir", c.DataDir},
		{"requirepass", c.Password},
		{"maxmemory", strconv.FormatInt(c.MaxMemory, 10)},
		{"maxmemory-policy", c.MaxMemoryPolicy.String()},
		{"appendfsync", c.Fsync},
		{"loglevel", c.LogLevel},
		{"maxclients", strconv.Itoa(c.MaxClients)},
		{"timeout", strconv.Itoa(c.Timeout)},
		{"proto-max-bulk-len", strconv.FormatInt(c.MaxBulkLen, 10)},
		{"max-multibulk-len", strconv.FormatInt(c.MaxMultibulkLen, 10)},
		{"client-query-buffer-limit", strconv.FormatInt(c.MaxQueryBuffer, 10)},
		{"io-threads", strconv.Itoa(c.Threads)},
		{"save", ""},
		{"appendonly", "no"},
		{"databases", "1"},
		{"queue-max-payload", strconv.FormatInt(c.QueueMaxPayload, 10)},
		{"queue-max-pending", strconv.Itoa(c.QueueMaxPending)},
		{"client-output-buffer-limit", c.PubSubLimit.String()},
		{"slowlog-log-slower-than", strconv.FormatInt(c.SlowlogSlowerThan.Microseconds(), 10)},
		{"slowlog-max-len", strconv.Itoa(c.SlowlogMaxLen)},
		{"script-time-limit", strconv.FormatInt(c.ScriptTimeLimit.Milliseconds(), 10)},
		{"notify-keyspace-events", c.NotifyKeyspaceEvents},
		{"stream-partitions", strconv.Itoa(c.StreamDefaults.Partitions)},
		{"stream-max-age", strconv.FormatInt(c.StreamDefaults.MaxAge.Milliseconds(), 10)},
		{"stream-max-bytes", strconv.FormatInt(c.StreamDefaults.MaxBytes, 10)},
		{"stream-max-messages", strconv.FormatInt(c.StreamDefaults.MaxMessages, 10)},
		{"stream-session-timeout", strconv.FormatInt(c.StreamSessionTimeout.Milliseconds(), 10)},
		{"stream-max-payload", strconv.FormatInt(c.StreamMaxPayload, 10)},
		{"stream-max-read-bytes", strconv.FormatInt(c.StreamMaxReadBytes, 10)},
	}
	for _, name := range queue.Params() {
		v, _ := c.QueueDefaults.Get(name)
		pairs = append(pairs, [2]string{"queue-" + name, v})
	}
	out := make([]commands.Param, len(pairs))
	for i, p := range pairs {
		out[i] = commands.Param{Name: p[0], Value: p[1]}
	}
	return out
}
