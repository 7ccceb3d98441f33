package commands

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"nexo/engine/queue"
	"nexo/internal/glob"
	"nexo/internal/number"
)

// Commands of the QUEUE broker: push, take, settle, inspect and manage
// jobs. Every reply that acknowledges a change waits, with the rest of its
// pipeline, until the change is durable (needDurable).

const (
	// defaultDeadListCount is how many dead letters QDLQ LIST returns
	// without COUNT.
	defaultDeadListCount = 100
	// queueCloseHook names the close hook that releases a connection's jobs.
	queueCloseHook = "queue"
	// Fields of a job in a QPOP reply, and of a job's history entry.
	jobFields     = 7
	failureFields = 4
	// jobInfoFields is the number of fields of a job in QPEEK and QDLQ LIST.
	jobInfoFields = 17
	// countsFields is the number of job counts (ready, delayed, inflight,
	// dead, completed).
	countsFields = 5
	// maxKeptJobs bounds the jobs a connection keeps room for between its
	// takes (Client.taken); a larger QPOP COUNT leaves its list to the
	// collector.
	maxKeptJobs = 64
)

const (
	errNoQueue   = "ERR the queue broker is not enabled"
	errNoPayload = "ERR QPUSH needs a payload after its options"
	errNegative  = "ERR timeout is negative"
)

func (s *Server) registerQueue() {
	const (
		wq = Write | Fast    // writes in logarithmic time
		rq = ReadOnly | Fast // reads in logarithmic time
	)
	s.table.addAll("queue", "0.2.0", []*Command{
		{Name: "qpush", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: Write, Summary: "Adds jobs to a queue, creating it; returns their ids.",
			Syntax: "queue [DELAY milliseconds] [PRIORITY priority] [DEDUP id] payload [payload ...]", Handler: cmdQPush},
		{Name: "qpop", FirstKey: 1, LastKey: 1, Step: 1, Arity: -2, Flags: Write | Blocking, Summary: "Takes jobs from a queue, optionally waiting for one.",
			Syntax: "queue [COUNT count] [BLOCK milliseconds] [VISIBILITY milliseconds]", Handler: cmdQPop},
		{Name: "qack", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: wq, Summary: "Completes jobs the connection holds, with an optional result: they are removed, or kept under keep-completed.",
			Syntax: "queue id [id ...] [RESULT result]", Handler: cmdQAck},
		{Name: "qnack", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: wq, Summary: "Fails a job the connection holds: it is retried after a backoff or becomes a dead letter.",
			Syntax: "queue id [DELAY milliseconds] [ERROR message]", Handler: cmdQNack},
		{Name: "qtouch", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: wq, Summary: "Extends the visibility timeout of a job the connection holds.",
			Syntax: "queue id [milliseconds]", Handler: cmdQTouch},
		{Name: "qlen", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: rq, Summary: "Returns the numbers of ready, delayed, in-flight, dead and completed jobs of a queue.",
			Syntax: "queue", Handler: cmdQLen},
		{Name: "qinfo", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: ReadOnly, Summary: "Returns a queue's settings, job counts and counters.",
			Syntax: "queue", Handler: cmdQInfo},
		{Name: "qpeek", FirstKey: 1, LastKey: 1, Step: 1, Arity: -2, Flags: ReadOnly, Summary: "Returns the next ready jobs, or the jobs of another state, without taking them.",
			Syntax: "queue [COUNT count] [STATE ready|delayed|inflight|dead|completed]", Handler: cmdQPeek},
		{Name: "qjob", FirstKey: 1, LastKey: 1, Step: 1, Arity: 3, Flags: rq, Summary: "Returns a job of a queue by id, in whatever state it is.",
			Syntax: "queue id", Handler: cmdQJob},
		{Name: "qcancel", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: wq, Summary: "Removes waiting (ready or delayed) jobs of a queue by id.",
			Syntax: "queue id [id ...]", Handler: queueIDsHandler((*queue.Broker).Cancel)},
		{Name: "qprogress", FirstKey: 1, LastKey: 1, Step: 1, Arity: 4, Flags: wq, Summary: "Tells the progress of a job the connection holds.",
			Syntax: "queue id progress", Handler: cmdQProgress},
		{Name: "qpromote", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: wq, Summary: "Makes delayed jobs of a queue ready at once.",
			Syntax: "queue id [id ...]", Handler: queueIDsHandler((*queue.Broker).Promote)},
		{Name: "qpurge", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: Write, Summary: "Removes every ready and delayed job of a queue.",
			Syntax: "queue", Handler: cmdQPurge},
		{Name: "qdel", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: Write, Summary: "Deletes a queue with its jobs, dead letters and settings.",
			Syntax: "queue", Handler: cmdQDel},
		{Name: "qlist", Arity: -1, Flags: ReadOnly, Summary: "Lists the queues with their job counts.",
			Syntax: "[MATCH pattern]", Handler: cmdQList},
		{Name: "qpause", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: wq, Summary: "Stops handing out a queue's jobs; pushes are still accepted.",
			Syntax: "queue", Handler: queuePauseHandler(true)},
		{Name: "qresume", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: wq, Summary: "Resumes handing out a paused queue's jobs.",
			Syntax: "queue", Handler: queuePauseHandler(false)},
		{Name: "qconfig", Arity: -2, Summary: "A container for per-queue settings commands.",
			Syntax: "subcommand [argument ...]", Handler: containerHandler("qconfig")},
		{Name: "qconfig|get", FirstKey: 2, LastKey: 2, Step: 1, Arity: -3, Flags: ReadOnly, Summary: "Returns a queue's effective settings.",
			Syntax: "queue [parameter [parameter ...]]", Handler: cmdQConfigGet},
		{Name: "qconfig|set", FirstKey: 2, LastKey: 2, Step: 1, Arity: -5, Flags: Write, Summary: "Overrides settings of a queue, creating it.",
			Syntax: "queue parameter value [parameter value ...]", Handler: cmdQConfigSet},
		{Name: "qconfig|help", Arity: 2, Summary: "Returns helpful text about the different subcommands.",
			Handler: helpHandler(qconfigHelp)},
		{Name: "qrepeat", Arity: -2, Summary: "A container for the commands of repeatable jobs.",
			Syntax: "subcommand [argument ...]", Handler: containerHandler("qrepeat")},
		{Name: "qrepeat|set", FirstKey: 2, LastKey: 2, Step: 1, Arity: -6, Flags: Write, Summary: "Creates or replaces a schedule that pushes a job every interval or at the times of a cron expression.",
			Syntax: "queue name EVERY milliseconds|CRON expression [TZ zone] [PRIORITY priority] payload", Handler: cmdQRepeatSet},
		{Name: "qrepeat|del", FirstKey: 2, LastKey: 2, Step: 1, Arity: -4, Flags: Write, Summary: "Removes schedules of a queue.",
			Syntax: "queue name [name ...]", Handler: cmdQRepeatDel},
		{Name: "qrepeat|list", FirstKey: 2, LastKey: 2, Step: 1, Arity: 3, Flags: ReadOnly, Summary: "Returns a queue's schedules with their next fire times.",
			Syntax: "queue", Handler: cmdQRepeatList},
		{Name: "qrepeat|help", Arity: 2, Summary: "Returns helpful text about the different subcommands.",
			Handler: helpHandler(qrepeatHelp)},
		{Name: "qdlq", Arity: -2, Summary: "A container for dead-letter commands.",
			Syntax: "subcommand [argument ...]", Handler: containerHandler("qdlq")},
		{Name: "qdlq|list", FirstKey: 2, LastKey: 2, Step: 1, Arity: -3, Flags: ReadOnly, Summary: "Returns a queue's dead letters, oldest first, with their failure history.",
			Syntax: "queue [COUNT count]", Handler: cmdQDLQList},
		{Name: "qdlq|requeue", FirstKey: 2, LastKey: 2, Step: 1, Arity: -3, Flags: Write, Summary: "Moves dead letters back to work, in the same or another queue.",
			Syntax: "queue [TO target] [id [id ...]]", Handler: cmdQDLQRequeue},
		{Name: "qdlq|purge", FirstKey: 2, LastKey: 2, Step: 1, Arity: -3, Flags: Write, Summary: "Removes dead letters.",
			Syntax: "queue [id [id ...]]", Handler: cmdQDLQPurge},
		{Name: "qdlq|help", Arity: 2, Summary: "Returns helpful text about the different subcommands.",
			Handler: helpHandler(qdlqHelp)},
	})
}

var qconfigHelp = []string{
	"QCONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"GET <queue> [<parameter> ...]", "    Return the queue's effective settings (all of them without a parameter).",
	"SET <queue> <parameter> <value> [<parameter> <value> ...]", "    Override settings of the queue; the value 'default' restores the server's default.",
	"HELP", "    Print this help.",
}

var qrepeatHelp = []string{
	"QREPEAT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"SET <queue> <name> EVERY <milliseconds>|CRON <expression> [TZ <zone>] [PRIORITY <priority>] <payload>",
	"    Push the payload every interval (on its multiples) or at the times of a cron expression (UTC, or TZ).",
	"DEL <queue> <name> [<name> ...]", "    Remove schedules; the jobs they pushed stay.",
	"LIST <queue>", "    Return the schedules with their next fire times.",
	"HELP", "    Print this help.",
}

var qdlqHelp = []string{
	"QDLQ <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"LIST <queue> [COUNT <count>]", "    Return dead letters, oldest first, with their failure history.",
	"REQUEUE <queue> [TO <target>] [<id> ...]", "    Move dead letters (all without ids) back to the queue or to the target.",
	"PURGE <queue> [<id> ...]", "    Remove dead letters (all without ids).",
	"HELP", "    Print this help.",
}

func containerHandler(name string) Handler {
	return func(c *Client, args [][]byte) { c.replyError(unknownSubcommand(name, args[1])) }
}

func helpHandler(lines []string) Handler {
	return func(c *Client, _ [][]byte) { c.helpReply(lines) }
}

// queues returns the QUEUE broker, or answers an error when the server has none.
func (c *Client) queues() *queue.Broker {
	qb := c.srv.cfg.Queue
	if qb == nil {
		c.replyError(errNoQueue)
	}
	return qb
}

// replyQueueErr answers a queue error: job errors name the job, setting
// errors say what is wrong with the value, the rest go through brokerErrors.
func (c *Client) replyQueueErr(err error) {
	var je *queue.JobError
	switch {
	case errors.As(err, &je) && brokerErrors[je.Err] != "":
		c.replyError(brokerErrors[je.Err] + ": " + strconv.FormatUint(je.ID, 10))
	case errors.Is(err, queue.ErrInvalidValue), errors.Is(err, queue.ErrUnknownParam):
		c.replyError("ERR " + sanitize([]byte(err.Error())))
	default:
		c.replyErr(err)
	}
}

// replyQueueCount returns the reply of a queue change that counts what it
// changed: the count once the change is durable, or the error.
func (c *Client) replyQueueCount(qb *queue.Broker) func(n int, idx uint64, err error) {
	return func(n int, idx uint64, err error) {
		if err != nil {
			c.replyQueueErr(err)
			return
		}
		c.needDurable(qb, idx)
		c.w.Int(int64(n))
	}
}

// parseMs reads whole milliseconds at args[i], from min to
// queue.MaxDuration; it returns an error reply naming the option.
func parseMs(arg []byte, option string, min int64) (time.Duration, string) {
	n, ok := number.ParseInt(arg)
	switch {
	case !ok:
		return 0, errNotInteger
	case n < min || n > queue.MaxDuration.Milliseconds():
		return 0, "ERR " + option + " must be between " + strconv.FormatInt(min, 10) + " and " +
			strconv.FormatInt(queue.MaxDuration.Milliseconds(), 10) + " milliseconds"
	}
	return time.Duration(n) * time.Millisecond, ""
}

// parseCount reads a COUNT value, which must be positive.
func parseCount(arg []byte) (int, string) {
	n, ok := number.ParseInt(arg)
	switch {
	case !ok:
		return 0, errNotInteger
	case n <= 0:
		return 0, errCountNegZero
	case n > math.MaxInt32:
		return math.MaxInt32, ""
	}
	return int(n), ""
}

// parseID reads a job id: a positive decimal integer.
func parseID(arg []byte) (uint64, string) {
	id, err := strconv.ParseUint(string(arg), 10, 64)
	if err != nil || id == 0 {
		return 0, "ERR invalid job id '" + sanitize(truncate(arg, unknownArgsPreview)) + "'"
	}
	return id, ""
}

func parseIDs(args [][]byte) ([]uint64, string) {
	ids := make([]uint64, len(args))
	for i, a := range args {
		id, msg := parseID(a)
		if msg != "" {
			return nil, msg
		}
		ids[i] = id
	}
	return ids, ""
}

func cmdQPush(c *Client, args [][]byte) {
	var o queue.PushOptions
	i := 2
options:
	for i+1 < len(args) {
		var msg string
		switch arg := args[i]; {
		case is(arg, "DELAY"):
			o.Delay, msg = parseMs(args[i+1], "DELAY", 0)
		case is(arg, "PRIORITY"):
			n, ok := number.ParseInt(args[i+1])
			if !ok {
				msg = errNotInteger
			}
			o.Priority = n
		case is(arg, "DEDUP"):
			if len(args[i+1]) == 0 {
				msg = "ERR DEDUP id must not be empty"
			}
			o.Dedup = string(args[i+1])
		default:
			break options
		}
		if msg != "" {
			c.replyError(msg)
			return
		}
		i += 2
	}
	if i >= len(args) {
		c.replyError(errNoPayload)
		return
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	ids, idx, err := qb.Push(c.queueName(args[1]), args[i:], o)
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.Array(len(ids))
	for _, id := range ids {
		c.w.BulkUint(id)
	}
}

func cmdQPop(c *Client, args [][]byte) {
	var o queue.PopOptions
	var block time.Duration
	blocking, withCount := false, false
	msg := eachPair(args[2:], func(name, value []byte) (msg string) {
		switch {
		case is(name, "COUNT"):
			o.Count, msg = parseCount(value)
			withCount = true
		case is(name, "BLOCK"):
			if n, ok := number.ParseInt(value); ok && n < 0 {
				msg = errNegative
			} else {
				block, msg = parseMs(value, "BLOCK", 0)
			}
			blocking = true
		case is(name, "VISIBILITY"):
			o.Visibility, msg = parseMs(value, "VISIBILITY", 1)
		default:
			msg = errSyntax
		}
		return msg
	})
	if msg != "" {
		c.replyError(msg)
		return
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	name := c.queueName(args[1])
	jobs, idx, err := qb.PopAppend(c.taken, name, c.id, o)
	defer func() { c.taken = keepJobs(jobs) }()
	if blocking && len(jobs) > 0 && c.loop == nil {
		c.backlog = true
	}
	if err == nil && len(jobs) == 0 && blocking {
		if c.handOffForWait() {
			return
		}
		if ctx, end, ok := c.beginBlock(block); ok {
			jobs, idx, err = qb.PopWait(ctx, name, c.id, o)
			end()
			if err == nil && len(jobs) == 0 && unblockedWithError(ctx) {
				c.replyError(errUnblocked)
				return
			}
		}
	}
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	if len(jobs) > 0 && !c.hasCloseHook(queueCloseHook) {
		c.onClose(queueCloseHook, func() { c.releaseJobs(qb) })
	}
	c.needDurable(qb, idx)
	switch {
	case withCount && len(jobs) == 0:
		c.w.NullArray()
	case withCount:
		c.w.Array(len(jobs))
		for _, j := range jobs {
			writeJob(c, j)
		}
	case len(jobs) == 0:
		c.w.Null()
	default:
		writeJob(c, jobs[0])
	}
}

// keepJobs returns jobs emptied for the connection's next take, without
// the payloads it points to, or nil past maxKeptJobs.
func keepJobs(jobs []queue.Job) []queue.Job {
	if cap(jobs) > maxKeptJobs {
		return nil
	}
	clear(jobs)
	return jobs[:0]
}

// hasCloseHook reports whether a close hook of that name is registered.
func (c *Client) hasCloseHook(name string) bool {
	for _, h := range c.closeHooks {
		if h.name == name {
			return true
		}
	}
	return false
}

// releaseJobs runs when a connection that took jobs closes: its jobs go
// back to their queues at once (see queue.Broker.Release). A shutdown
// leaves them in flight: the restart makes them ready again without
// counting a failure.
func (c *Client) releaseJobs(qb *queue.Broker) {
	if c.nc.Draining() {
		return
	}
	if err := qb.Release(c.id); err != nil {
		c.srv.log.Warn("jobs of a closed connection stay in flight until their visibility timeout",
			"id", c.id, "addr", c.addr, "err", err)
	}
}

// writeJob writes a job as a consumer receives it: a map (a flat array in RESP2).
func writeJob(c *Client, j queue.Job) {
	c.w.Map(jobFields)
	c.w.BulkString("id")
	c.w.BulkUint(j.ID)
	c.w.BulkString("queue")
	c.w.BulkString(j.Queue)
	c.w.BulkString("payload")
	c.w.Bulk(j.Payload)
	c.w.BulkString("attempt")
	c.w.Int(int64(j.Attempt))
	c.w.BulkString("priority")
	c.w.Int(j.Priority)
	c.w.BulkString("enqueued_ms")
	c.w.Int(j.Enqueued.UnixMilli())
	c.w.BulkString("deadline_ms")
	c.w.Int(j.Deadline.UnixMilli())
}

// writeMs writes a time in unix milliseconds, or null for the zero time.
func writeMs(c *Client, t time.Time) {
	if t.IsZero() {
		c.w.Null()
		return
	}
	c.w.Int(t.UnixMilli())
}

// writeJobInfo writes a job with its state and failure history.
func writeJobInfo(c *Client, j queue.JobInfo) {
	c.w.Map(jobInfoFields)
	c.w.BulkString("id")
	c.w.BulkUint(j.ID)
	c.w.BulkString("queue")
	c.w.BulkString(j.Queue)
	c.w.BulkString("payload")
	c.w.Bulk(j.Payload)
	c.w.BulkString("state")
	c.w.BulkString(j.State.String())
	c.w.BulkString("attempt")
	c.w.Int(int64(j.Attempt))
	c.w.BulkString("priority")
	c.w.Int(j.Priority)
	c.w.BulkString("enqueued_ms")
	c.w.Int(j.Enqueued.UnixMilli())
	c.w.BulkString("due_ms")
	writeMs(c, j.Due)
	c.w.BulkString("dedup")
	c.w.StringOrNull(j.Dedup)
	c.w.BulkString("failures")
	c.w.Int(int64(j.FailureCount))
	c.w.BulkString("first_failure_ms")
	writeMs(c, j.FirstFailure)
	var last queue.Failure
	if n := len(j.Failures); n > 0 {
		last = j.Failures[n-1]
	}
	c.w.BulkString("last_failure_ms")
	writeMs(c, last.At)
	c.w.BulkString("last_reason")
	if last.At.IsZero() {
		c.w.Null()
	} else {
		c.w.BulkString(last.Reason.String())
	}
	c.w.BulkString("last_error")
	if last.At.IsZero() {
		c.w.Null()
	} else {
		c.w.BulkString(last.Message)
	}
	c.w.BulkString("errors")
	c.w.Array(len(j.Failures))
	for _, f := range j.Failures {
		c.w.Map(failureFields)
		c.w.BulkString("at_ms")
		c.w.Int(f.At.UnixMilli())
		c.w.BulkString("attempt")
		c.w.Int(int64(f.Attempt))
		c.w.BulkString("reason")
		c.w.BulkString(f.Reason.String())
		c.w.BulkString("message")
		c.w.BulkString(f.Message)
	}
	c.w.BulkString("progress")
	c.w.BulkOrNull(j.Progress)
	c.w.BulkString("result")
	c.w.BulkOrNull(j.Result)
}

func cmdQNack(c *Client, args [][]byte) {
	id, msg := parseID(args[2])
	if msg != "" {
		c.replyError(msg)
		return
	}
	var o queue.NackOptions
	msg = eachPair(args[3:], func(name, value []byte) (msg string) {
		switch {
		case is(name, "DELAY") && !o.HasDelay:
			o.Delay, msg = parseMs(value, "DELAY", 0)
			o.HasDelay = true
		case is(name, "ERROR"):
			o.Message = string(value)
		default:
			msg = errSyntax
		}
		return msg
	})
	if msg != "" {
		c.replyError(msg)
		return
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	st, idx, err := qb.Nack(c.queueName(args[1]), c.id, id, o)
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.Simple(st.String())
}

func cmdQTouch(c *Client, args [][]byte) {
	if len(args) > 4 {
		c.replyError(errSyntax)
		return
	}
	id, msg := parseID(args[2])
	if msg != "" {
		c.replyError(msg)
		return
	}
	var ext time.Duration
	if len(args) == 4 {
		if ext, msg = parseMs(args[3], "the visibility timeout", 1); msg != "" {
			c.replyError(msg)
			return
		}
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	deadline, idx, err := qb.Touch(c.queueName(args[1]), c.id, id, ext)
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.Int(deadline.UnixMilli())
}

// writeCounts writes a map of the four job counts followed by extra
// fields, which the caller writes.
func writeCounts(c *Client, n queue.Counts, extra int) {
	c.w.Map(countsFields + extra)
	c.w.BulkString("ready")
	c.w.Int(int64(n.Ready))
	c.w.BulkString("delayed")
	c.w.Int(int64(n.Delayed))
	c.w.BulkString("inflight")
	c.w.Int(int64(n.InFlight))
	c.w.BulkString("dead")
	c.w.Int(int64(n.Dead))
	c.w.BulkString("completed")
	c.w.Int(int64(n.Completed))
}

func cmdQLen(c *Client, args [][]byte) {
	if qb := c.queues(); qb != nil {
		n, idx := qb.Len(c.queueName(args[1]))
		c.needDurable(qb, idx)
		writeCounts(c, n, 0)
	}
}

// qinfoExtraFields are the QINFO fields after the four counts.
const qinfoExtraFields = 12

func cmdQInfo(c *Client, args [][]byte) {
	qb := c.queues()
	if qb == nil {
		return
	}
	in, idx := qb.Info(c.queueName(args[1]))
	c.needDurable(qb, idx)
	writeCounts(c, in.Counts, qinfoExtraFields)
	c.w.BulkString("name")
	c.w.BulkString(in.Name)
	c.w.BulkString("paused")
	c.w.Bool(in.Paused)
	c.w.BulkString("consumers_waiting")
	c.w.Int(int64(in.Consumers))
	c.w.BulkString("repeats")
	c.w.Int(int64(in.Repeats))
	c.w.BulkString("pushed")
	c.w.Int(in.Pushed)
	c.w.BulkString("delivered")
	c.w.Int(in.Delivered)
	c.w.BulkString("acked")
	c.w.Int(in.Acked)
	c.w.BulkString("failed")
	c.w.Int(in.Failed)
	c.w.BulkString("dead_lettered")
	c.w.Int(in.DeadLettered)
	c.w.BulkString("dead_dropped")
	c.w.Int(in.DeadDropped)
	c.w.BulkString("settings")
	writeSettings(c, in.Settings, queue.Params())
	c.w.BulkString("overrides")
	c.w.Array(len(in.Overrides))
	for _, p := range in.Overrides {
		c.w.BulkString(p)
	}
}

// writeSettings writes the named settings as a map of name to value text.
func writeSettings(c *Client, s queue.Settings, names []string) {
	c.w.Map(len(names))
	for _, p := range names {
		v, _ := s.Get(p)
		c.w.BulkString(p)
		c.w.BulkString(v)
	}
}

// optionalCount reads an optional trailing "COUNT n" starting at args[at]:
// n, or def when it is absent; an error reply for anything else.
func optionalCount(args [][]byte, at, def int) (int, string) {
	switch {
	case len(args) == at+2 && is(args[at], "COUNT"):
		return parseCount(args[at+1])
	case len(args) != at:
		return 0, errSyntax
	}
	return def, ""
}

func cmdQPeek(c *Client, args [][]byte) {
	count, state := 1, queue.Ready
	msg := eachPair(args[2:], func(name, value []byte) (msg string) {
		switch {
		case is(name, "COUNT"):
			count, msg = parseCount(value)
		case is(name, "STATE"):
			var err error
			if state, err = queue.ParseState(strings.ToLower(string(value))); err != nil {
				msg = errQueueState
			}
		default:
			msg = errSyntax
		}
		return msg
	})
	if msg != "" {
		c.replyError(msg)
		return
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	jobs, idx, err := qb.Jobs(c.queueName(args[1]), state, count)
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.Array(len(jobs))
	for _, j := range jobs {
		writeJobInfo(c, j)
	}
}

func cmdQJob(c *Client, args [][]byte) {
	qb, id := c.jobID(args[2])
	if qb == nil {
		return
	}
	j, ok, idx := qb.Job(c.queueName(args[1]), id)
	c.needDurable(qb, idx)
	if !ok {
		c.w.Null()
		return
	}
	writeJobInfo(c, j)
}

// cmdQAck completes jobs: "queue id [id ...] [RESULT result]".
func cmdQAck(c *Client, args [][]byte) {
	ids := args[2:]
	var result []byte
	if n := len(ids); n >= 2 && is(ids[n-2], "RESULT") {
		ids, result = ids[:n-2], ids[n-1]
	}
	if len(ids) == 0 {
		c.replyError(errSyntax)
		return
	}
	if qb, parsed := c.jobIDs(ids); qb != nil {
		c.replyQueueCount(qb)(qb.Ack(c.queueName(args[1]), c.id, parsed, result))
	}
}

// queueName returns the queue name arg as a string, the connection's last
// one while arg names it again: a producer or a worker names one queue in
// each of its commands, and converting the argument anew allocates every
// time.
func (c *Client) queueName(arg []byte) string {
	if string(arg) != c.lastQueue {
		c.lastQueue = string(arg)
	}
	return c.lastQueue
}

// jobID parses the id a command names and returns it with the queue
// broker; on a bad id, or without queues, it answers the error itself and
// returns a nil broker.
func (c *Client) jobID(arg []byte) (*queue.Broker, uint64) {
	id, msg := parseID(arg)
	if msg != "" {
		c.replyError(msg)
		return nil, 0
	}
	return c.queues(), id
}

// jobIDs parses the ids a command names and returns them with the queue
// broker; on a bad id, or without queues, it answers the error itself and
// returns a nil broker.
func (c *Client) jobIDs(args [][]byte) (*queue.Broker, []uint64) {
	ids, msg := parseIDs(args)
	if msg != "" {
		c.replyError(msg)
		return nil, nil
	}
	return c.queues(), ids
}

// queueIDsHandler is the handler of a command "queue id [id ...]" that
// changes the jobs it names and answers how many: QCANCEL, QPROMOTE.
func queueIDsHandler(change func(qb *queue.Broker, name string, ids []uint64) (int, uint64, error)) Handler {
	return func(c *Client, args [][]byte) {
		if qb, ids := c.jobIDs(args[2:]); qb != nil {
			c.replyQueueCount(qb)(change(qb, c.queueName(args[1]), ids))
		}
	}
}

func cmdQProgress(c *Client, args [][]byte) {
	qb, id := c.jobID(args[2])
	if qb == nil {
		return
	}
	if err := qb.Progress(c.queueName(args[1]), c.id, id, args[3]); err != nil {
		c.replyQueueErr(err)
		return
	}
	c.w.OK()
}

func cmdQPurge(c *Client, args [][]byte) {
	qb := c.queues()
	if qb == nil {
		return
	}
	c.replyQueueCount(qb)(qb.Purge(c.queueName(args[1])))
}

func cmdQDel(c *Client, args [][]byte) {
	qb := c.queues()
	if qb == nil {
		return
	}
	ok, idx, err := qb.Delete(c.queueName(args[1]))
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.Int(b2i(ok))
}

// qlistFields are the fields of a queue in QLIST: its name, paused and the four counts.
const qlistFields = 2

func cmdQList(c *Client, args [][]byte) {
	var pattern []byte
	switch {
	case len(args) == 3 && is(args[1], "MATCH"):
		pattern = args[2]
	case len(args) != 1:
		c.replyError(errSyntax)
		return
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	all, idx := qb.List()
	c.needDurable(qb, idx)
	var list []queue.QueueInfo
	for _, in := range all {
		if pattern == nil || glob.Match(pattern, []byte(in.Name)) {
			list = append(list, in)
		}
	}
	c.w.Array(len(list))
	for _, in := range list {
		writeCounts(c, in.Counts, qlistFields)
		c.w.BulkString("name")
		c.w.BulkString(in.Name)
		c.w.BulkString("paused")
		c.w.Bool(in.Paused)
	}
}

func queuePauseHandler(paused bool) Handler {
	return func(c *Client, args [][]byte) {
		qb := c.queues()
		if qb == nil {
			return
		}
		idx, err := qb.Pause(c.queueName(args[1]), paused)
		if err != nil {
			c.replyQueueErr(err)
			return
		}
		c.needDurable(qb, idx)
		c.w.OK()
	}
}

func cmdQConfigGet(c *Client, args [][]byte) {
	names := queue.Params()
	if len(args) > 3 {
		names = names[:0:0]
		for _, a := range args[3:] {
			if _, err := queue.DefaultSettings().Get(string(a)); err != nil {
				c.replyQueueErr(err)
				return
			}
			// A parameter named twice is answered once: the reply is a map.
			if name := strings.ToLower(string(a)); !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	s, idx := qb.Settings(string(args[2]))
	c.needDurable(qb, idx)
	writeSettings(c, s, names)
}

func cmdQConfigSet(c *Client, args [][]byte) {
	if len(args)%2 != 1 {
		c.replyError("ERR wrong number of arguments for 'qconfig|set' command")
		return
	}
	pairs := make([][2]string, 0, (len(args)-3)/2)
	for i := 3; i < len(args); i += 2 {
		pairs = append(pairs, [2]string{string(args[i]), string(args[i+1])})
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	idx, err := qb.Configure(string(args[2]), pairs)
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.OK()
}

func cmdQDLQList(c *Client, args [][]byte) {
	count, msg := optionalCount(args, 3, defaultDeadListCount)
	if msg != "" {
		c.replyError(msg)
		return
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	dead, idx := qb.DeadLetters(string(args[2]), count)
	c.needDurable(qb, idx)
	c.w.Array(len(dead))
	for _, j := range dead {
		writeJobInfo(c, j)
	}
}

func cmdQDLQRequeue(c *Client, args [][]byte) {
	rest := args[3:]
	target := string(args[2])
	if len(rest) >= 2 && is(rest[0], "TO") {
		target, rest = string(rest[1]), rest[2:]
	}
	var ids []uint64
	if len(rest) > 0 {
		var msg string
		if ids, msg = parseIDs(rest); msg != "" {
			c.replyError(msg)
			return
		}
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	c.replyQueueCount(qb)(qb.Requeue(string(args[2]), target, ids))
}

func cmdQDLQPurge(c *Client, args [][]byte) {
	var ids []uint64
	if len(args) > 3 {
		var msg string
		if ids, msg = parseIDs(args[3:]); msg != "" {
			c.replyError(msg)
			return
		}
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	c.replyQueueCount(qb)(qb.PurgeDead(string(args[2]), ids))
}

// repeatFields is the number of fields of a schedule in QREPEAT LIST.
const repeatFields = 7

func cmdQRepeatSet(c *Client, args [][]byte) {
	r := queue.Repeat{Name: string(args[3])}
	i := 4
	for ; i+1 < len(args); i += 2 {
		var msg string
		switch arg := args[i]; {
		case is(arg, "EVERY") && r.Cron == "":
			r.Every, msg = parseMs(args[i+1], "EVERY", 1)
		case is(arg, "CRON") && r.Every == 0:
			r.Cron = string(args[i+1])
		case is(arg, "EVERY"), is(arg, "CRON"):
			msg = "ERR EVERY and CRON exclude each other"
		case is(arg, "TZ"):
			r.TZ = string(args[i+1])
		case is(arg, "PRIORITY"):
			n, ok := number.ParseInt(args[i+1])
			if !ok {
				msg = errNotInteger
			}
			r.Priority = n
		default:
			msg = errSyntax
		}
		if msg != "" {
			c.replyError(msg)
			return
		}
	}
	switch {
	case i != len(args)-1:
		c.replyError("ERR QREPEAT SET needs a payload after its options")
		return
	case r.Every == 0 && r.Cron == "":
		c.replyError("ERR QREPEAT SET needs EVERY or CRON")
		return
	}
	r.Payload = args[i]
	qb := c.queues()
	if qb == nil {
		return
	}
	idx, err := qb.SetRepeat(string(args[2]), r)
	if err != nil {
		c.replyQueueErr(err)
		return
	}
	c.needDurable(qb, idx)
	c.w.OK()
}

func cmdQRepeatDel(c *Client, args [][]byte) {
	names := make([]string, len(args)-3)
	for k, a := range args[3:] {
		names[k] = string(a)
	}
	qb := c.queues()
	if qb == nil {
		return
	}
	c.replyQueueCount(qb)(qb.DeleteRepeats(string(args[2]), names))
}

func cmdQRepeatList(c *Client, args [][]byte) {
	qb := c.queues()
	if qb == nil {
		return
	}
	rs, idx := qb.Repeats(string(args[2]))
	c.needDurable(qb, idx)
	c.w.Array(len(rs))
	for _, r := range rs {
		c.w.Map(repeatFields)
		c.w.BulkString("name")
		c.w.BulkString(r.Name)
		c.w.BulkString("every_ms")
		if r.Every == 0 {
			c.w.Null()
		} else {
			c.w.Int(r.Every.Milliseconds())
		}
		c.w.BulkString("cron")
		c.w.StringOrNull(r.Cron)
		c.w.BulkString("tz")
		c.w.StringOrNull(r.TZ)
		c.w.BulkString("priority")
		c.w.Int(r.Priority)
		c.w.BulkString("payload")
		c.w.Bulk(r.Payload)
		c.w.BulkString("next_ms")
		writeMs(c, r.Next)
	}
}

// writeQueueInfo writes the queue section of INFO.
func (s *Server) writeQueueInfo(w infoWriter) {
	qb := s.cfg.Queue
	if qb == nil {
		w.int("queue_enabled", 0)
		return
	}
	st := qb.Stats()
	w.int("queue_enabled", 1)
	w.int("queues", int64(st.Queues))
	w.int("queue_jobs_ready", st.Ready)
	w.int("queue_jobs_delayed", st.Delayed)
	w.int("queue_jobs_inflight", st.InFlight)
	w.int("queue_jobs_dead", st.Dead)
	w.int("queue_jobs_completed", st.Completed)
	w.int("queue_consumers_waiting", st.Blocked)
	w.int("queue_pushed", st.Pushed)
	w.int("queue_delivered", st.Delivered)
	w.int("queue_acked", st.Acked)
	w.int("queue_nacked", st.Nacked)
	w.int("queue_timed_out", st.TimedOut)
	w.int("queue_released", st.Released)
	w.int("queue_dead_lettered", st.DeadLettered)
	w.int("queue_dead_dropped", st.DeadDropped)
	w.int("queue_requeued", st.Requeued)
	w.int("queue_purged", st.Purged)
	w.int("queue_cancelled", st.Cancelled)
	w.int("queue_repeated", st.Repeated)
	w.int("queue_overload_rejections", st.OverloadRejections)
	w.int("queue_read_only", b2i(st.ReadOnly))
	w.kv("queue_last_error", sanitize([]byte(st.LastError)))
	w.kv("queue_fsync", st.WAL.FsyncPolicy.String())
	w.int("queue_log_index", int64(st.LogIndex))
	w.int("queue_log_records", st.LogRecords)
	w.int("queue_log_bytes", st.WAL.Bytes)
	w.int("queue_log_fsyncs", int64(st.WAL.Fsyncs))
	w.int("queue_compactions", st.Compactions)
	w.int("queue_loaded_records", st.Loaded.Records)
	w.int("queue_loaded_jobs", st.Loaded.Jobs)
	w.int("queue_load_ms", st.Loaded.Duration.Milliseconds())
}

// Job events (the queue setting events) are published on the pub/sub
// broker, on the channel queueEventChannel + the queue's name, as a JSON
// object: what SUBSCRIBE, PSUBSCRIBE and the SDK's queue.events() read.
const queueEventChannel = "__queue__:"

// queueEventMessage is the JSON of a job event. The id is a string, as in
// every queue reply: JavaScript numbers cannot hold every uint64.
type queueEventMessage struct {
	Event   string `json:"event"`
	Queue   string `json:"queue"`
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
	Dead    bool   `json:"dead,omitempty"`
	// Progress is what the consumer told (QPROGRESS), as text.
	Progress *string `json:"progress,omitempty"`
	// Result is what the consumer returned (QACK RESULT), as text.
	Result *string `json:"result,omitempty"`
}

// followQueue publishes the job events of the queues that have them on.
// Called by NewServer.
func (s *Server) followQueue() {
	qb, ps := s.cfg.Queue, s.cfg.PubSub
	if qb == nil || ps == nil {
		return
	}
	qb.SetNotifier(func(e queue.Event) {
		m := queueEventMessage{Event: e.Kind.String(), Queue: e.Queue, ID: strconv.FormatUint(e.ID, 10), Attempt: e.Attempt}
		switch e.Kind {
		case queue.EventFailed:
			m.Reason, m.Error, m.Dead = e.Reason.String(), e.Error, e.Dead
		case queue.EventProgress:
			progress := string(e.Progress)
			m.Progress = &progress
		case queue.EventCompleted:
			if e.Result != nil {
				result := string(e.Result)
				m.Result = &result
			}
		}
		msg, _ := json.Marshal(m) // strings and integers: it cannot fail
		ps.Publish([]byte(queueEventChannel+e.Queue), msg, wakeAtOnce{})
	})
}
