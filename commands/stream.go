package commands

import (
	"context"
	"math"
	"strconv"
	"time"

	"nexo/engine/stream"
	"nexo/internal/number"
)

// Commands of the STREAM broker: append to partitioned logs, replay them
// from an offset or a time, and consume them through consumer groups.
// Their names avoid Redis Streams' (XADD, XREAD, XGROUP…) because the
// model differs: offsets are integers per partition, not entry ids. Every
// reply that acknowledges a change waits, with the rest of its pipeline,
// until the change is durable (needDurable).

const (
	// defaultStreamCount is how many messages XFETCH and XCONSUME return
	// without COUNT.
	defaultStreamCount = 100
	// messageFields is the number of fields of a message in a reply.
	messageFields = 5
	// appendFields is the number of fields of an XAPPEND entry.
	appendFields = 2
	// streamInfoFields, partitionInfoFields, groupInfoFields,
	// memberInfoFields and groupPartitionFields are the fields of the
	// XSTREAMINFO and XGROUPINFO maps.
	streamInfoFields     = 7
	partitionInfoFields  = 6
	groupInfoFields      = 3
	memberInfoFields     = 4
	groupPartitionFields = 4
)

const (
	errNoStreamBroker = "ERR the stream broker is not enabled"
	errNoStreamValue  = "ERR XAPPEND needs a payload after its options"
	errNeedPartition  = "ERR PARTITION is required"
	errNeedGroup      = "ERR GROUP and MEMBER are required"
	errNeedOffset     = "ERR PARTITION and OFFSET are required"
	errNeedFrom       = "ERR FROM is required"
)

func (s *Server) registerStream() {
	const (
		ws = Write | Fast
		rs = ReadOnly | Fast
	)
	s.table.addAll("stream", "0.3.0", []*Command{
		{Name: "xappend", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: Write, Summary: "Appends messages to one partition of a stream, creating it; returns the partition and offset of each.",
			Syntax: "stream [KEY key] payload [payload ...]", Handler: cmdXAppend},
		{Name: "xcreate", FirstKey: 1, LastKey: 1, Step: 1, Arity: -2, Flags: ws, Summary: "Creates a stream with its partition count and retention limits.",
			Syntax: "stream [PARTITIONS count] [MAXAGE milliseconds] [MAXBYTES bytes] [MAXMSGS count]", Handler: cmdXCreate},
		{Name: "xalter", FirstKey: 1, LastKey: 1, Step: 1, Arity: -2, Flags: ws, Summary: "Changes a stream's retention limits or grows its partition count.",
			Syntax: "stream [PARTITIONS count] [MAXAGE milliseconds] [MAXBYTES bytes] [MAXMSGS count]", Handler: cmdXAlter},
		{Name: "xfetch", FirstKey: 1, LastKey: 1, Step: 1, Arity: -4, Flags: ReadOnly | Blocking, Summary: "Reads messages of a partition from an offset, the earliest, the latest or a time, optionally waiting for them.",
			Syntax: "stream PARTITION partition [FROM EARLIEST|LATEST|TIME milliseconds|offset] [COUNT count] [BLOCK milliseconds]", Handler: cmdXFetch},
		{Name: "xgroupcreate", FirstKey: 1, LastKey: 1, Step: 1, Arity: -3, Flags: ws, Summary: "Creates a consumer group of a stream starting at the earliest, the latest, an offset or a time.",
			Syntax: "stream group [FROM EARLIEST|LATEST|TIME milliseconds|offset]", Handler: cmdXGroupCreate},
		{Name: "xgroupdel", FirstKey: 1, LastKey: 1, Step: 1, Arity: 3, Flags: ws, Summary: "Deletes a consumer group with its committed offsets.",
			Syntax: "stream group", Handler: cmdXGroupDel},
		{Name: "xseek", FirstKey: 1, LastKey: 1, Step: 1, Arity: -5, Flags: ws, Summary: "Sets the committed offsets of a consumer group in one or every partition.",
			Syntax: "stream group [PARTITION partition] FROM EARLIEST|LATEST|TIME milliseconds|offset", Handler: cmdXSeek},
		{Name: "xconsume", FirstKey: 1, LastKey: 1, Step: 1, Arity: -6, Flags: Write | Blocking, Summary: "Reads messages of the partitions a group assigns to a member, joining the group; also the member's heartbeat.",
			Syntax: "stream GROUP group MEMBER member [COUNT count] [BLOCK milliseconds]", Handler: cmdXConsume},
		{Name: "xcommit", FirstKey: 1, LastKey: 1, Step: 1, Arity: 10, Flags: ws, Summary: "Records the next offset a group consumes in a partition the member owns.",
			Syntax: "stream GROUP group MEMBER member PARTITION partition OFFSET offset", Handler: cmdXCommit},
		{Name: "xleave", FirstKey: 1, LastKey: 1, Step: 1, Arity: 6, Flags: ws, Summary: "Removes a member from a consumer group; its partitions go to the other members.",
			Syntax: "stream GROUP group MEMBER member", Handler: cmdXLeave},
		{Name: "xstreaminfo", FirstKey: 1, LastKey: 1, Step: 1, Arity: 2, Flags: rs, Summary: "Returns a stream's settings, partitions and groups.",
			Syntax: "stream", Handler: cmdXStreamInfo},
		{Name: "xgroupinfo", FirstKey: 1, LastKey: 1, Step: 1, Arity: 3, Flags: rs, Summary: "Returns a consumer group's members, assignments, committed offsets and lag.",
			Syntax: "stream group", Handler: cmdXGroupInfo},
		{Name: "xstreams", Arity: 1, Flags: ReadOnly, Summary: "Lists the streams.", Handler: cmdXStreams},
	})
}

// streams returns the STREAM broker, or answers an error when the server
// has none.
func (c *Client) streams() *stream.Broker {
	sb := c.srv.cfg.Stream
	if sb == nil {
		c.replyError(errNoStreamBroker)
	}
	return sb
}

// answerStreamChange answers a change with OK, or with err, once tok is
// durable. An error may come with a token: BUSYGROUP and NOGROUP may rest
// on another connection's group change that is not durable yet.
func answerStreamChange(c *Client, tok stream.Token, err error) {
	c.needStreamDurable(tok)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.OK()
}

// needStreamDurable holds the pipeline's replies until toks are durable.
// A pipeline of appends to one partition waits once, for its last record.
func (c *Client) needStreamDurable(toks ...stream.Token) {
	for _, tok := range toks {
		if log, index := tok.Durable(); log != nil {
			c.needDurable(log, index)
		}
	}
}

// parseNonNegative reads an integer of 0 or more.
func parseNonNegative(arg []byte) (int64, string) {
	n, ok := number.ParseInt(arg)
	switch {
	case !ok:
		return 0, errNotInteger
	case n < 0:
		return 0, "ERR value must not be negative"
	}
	return n, ""
}

// parsePartition reads a partition number.
func parsePartition(arg []byte) (int, string) {
	n, msg := parseNonNegative(arg)
	if msg == "" && n > math.MaxInt32 {
		return 0, brokerErrors[stream.ErrPartitionOutOfRange]
	}
	return int(n), msg
}

// parseBlock reads a BLOCK timeout in milliseconds; 0 waits forever.
func parseBlock(arg []byte) (time.Duration, string) {
	n, msg := parseNonNegative(arg)
	if msg == "" && n > math.MaxInt64/int64(time.Millisecond) {
		return 0, errNotInteger
	}
	return time.Duration(n) * time.Millisecond, msg
}

// parseFrom reads a start position at args[i]: EARLIEST, LATEST, TIME ms
// or an offset. It returns how many arguments it used.
func parseFrom(args [][]byte, i int) (stream.From, int, string) {
	switch arg := args[i]; {
	case is(arg, "EARLIEST"):
		return stream.FromEarliest(), 1, ""
	case is(arg, "LATEST"):
		return stream.FromLatest(), 1, ""
	case is(arg, "TIME"):
		if i+1 >= len(args) {
			return stream.From{}, 0, errSyntax
		}
		ms, msg := parseNonNegative(args[i+1])
		return stream.FromTime(time.UnixMilli(ms)), 2, msg
	}
	off, msg := parseNonNegative(args[i])
	return stream.FromOffset(off), 1, msg
}

// parseSettings reads the options of XCREATE and XALTER over set.
func parseSettings(args [][]byte, set *stream.Settings) string {
	return eachPair(args, func(name, value []byte) string {
		n, msg := parseNonNegative(value)
		if msg != "" {
			return msg
		}
		switch {
		case is(name, "PARTITIONS"):
			if n < 1 || n > stream.MaxPartitions {
				return "ERR PARTITIONS must be between 1 and " + strconv.Itoa(stream.MaxPartitions)
			}
			set.Partitions = int(n)
		case is(name, "MAXAGE"):
			if n > math.MaxInt64/int64(time.Millisecond) {
				return errNotInteger
			}
			set.MaxAge = time.Duration(n) * time.Millisecond
		case is(name, "MAXBYTES"):
			set.MaxBytes = n
		case is(name, "MAXMSGS"):
			set.MaxMessages = n
		default:
			return errSyntax
		}
		return ""
	})
}

// parseGroupArgs reads the option pairs after the stream name: GROUP and
// MEMBER here, the others through other, which returns an error reply or
// "". It answers the error itself and reports whether parsing succeeded.
func parseGroupArgs(c *Client, args [][]byte, other func(name, value []byte) string) (group, member string, ok bool) {
	msg := eachPair(args[2:], func(name, value []byte) string {
		switch {
		case is(name, "GROUP"):
			group = string(value)
		case is(name, "MEMBER"):
			member = string(value)
		default:
			return other(name, value)
		}
		return ""
	})
	if msg != "" {
		c.replyError(msg)
		return "", "", false
	}
	if group == "" || member == "" {
		c.replyError(errNeedGroup)
		return "", "", false
	}
	return group, member, true
}

func cmdXAppend(c *Client, args [][]byte) {
	var key []byte
	i := 2
	if len(args) > 3 && is(args[2], "KEY") {
		key, i = args[3], 4
	}
	if i >= len(args) {
		c.replyError(errNoStreamValue)
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	res, err := sb.Append(string(args[1]), key, args[i:])
	if err != nil {
		c.replyErr(err)
		return
	}
	c.needStreamDurable(res.Token)
	n := len(args) - i
	c.w.Array(n)
	for j := range n {
		c.w.Array(appendFields)
		c.w.Int(int64(res.Partition))
		c.w.Int(res.First + int64(j))
	}
}

func cmdXCreate(c *Client, args [][]byte) {
	sb := c.streams()
	if sb == nil {
		return
	}
	set := c.srv.cfg.StreamDefaults
	if set == (stream.Settings{}) {
		set = stream.Settings{Partitions: stream.DefaultPartitions, MaxAge: stream.DefaultMaxAge, MaxBytes: stream.DefaultMaxBytes}
	}
	if msg := parseSettings(args[2:], &set); msg != "" {
		c.replyError(msg)
		return
	}
	tok, err := sb.Create(string(args[1]), set)
	answerStreamChange(c, tok, err)
}

func cmdXAlter(c *Client, args [][]byte) {
	sb := c.streams()
	if sb == nil {
		return
	}
	// The options are parsed here to answer their errors, and again by
	// Alter on the settings in force, under the stream's lock, so that
	// concurrent XALTERs each change only what they name.
	if msg := parseSettings(args[2:], &stream.Settings{}); msg != "" {
		c.replyError(msg)
		return
	}
	tok, err := sb.Alter(string(args[1]), func(set *stream.Settings) { parseSettings(args[2:], set) })
	answerStreamChange(c, tok, err)
}

func cmdXFetch(c *Client, args [][]byte) {
	if c.handOffForWait() {
		// A read may load a log segment from the disk: never on a loop.
		return
	}
	from, count := stream.FromEarliest(), defaultStreamCount
	partition, withPartition := 0, false
	var block time.Duration
	blocking := false
	msg := eachOption(args[2:], func(name []byte, rest [][]byte) (used int, msg string) {
		used = 1
		switch {
		case is(name, "PARTITION"):
			partition, msg = parsePartition(rest[0])
			withPartition = true
		case is(name, "FROM"):
			from, used, msg = parseFrom(rest, 0)
		case is(name, "COUNT"):
			count, msg = parseCount(rest[0])
		case is(name, "BLOCK"):
			block, msg = parseBlock(rest[0])
			blocking = true
		default:
			msg = errSyntax
		}
		return used, msg
	})
	if msg != "" {
		c.replyError(msg)
		return
	}
	if !withPartition {
		c.replyError(errNeedPartition)
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	name := string(args[1])
	if !blocking {
		writeMessageBatches(c, sb, name, partition, from, count)
		return
	}
	var msgs []stream.Message
	var err error
	// A blocking read from LATEST goes straight to ReadWait, which resolves
	// the end once: a first Read could not tell ReadWait where it was.
	if from != stream.FromLatest() {
		msgs, err = sb.Read(name, partition, from, count)
	}
	if blocking && err == nil && len(msgs) == 0 {
		ctx, end, ok := c.beginBlock(block)
		switch {
		case ok:
			msgs, err = sb.ReadWait(ctx, name, partition, from, count)
			end()
			if err == nil && len(msgs) == 0 && unblockedWithError(ctx) {
				c.replyError(errUnblocked)
				return
			}
		case from == stream.FromLatest():
			// The connection cannot wait (EXEC, a script, a draining
			// server): the read answers as for a timeout, once Read has
			// checked the stream and partition that ReadWait would have.
			msgs, err = sb.Read(name, partition, from, count)
		}
	}
	if err != nil {
		c.replyErr(err)
		return
	}
	writeMessages(c, msgs)
}

func cmdXGroupCreate(c *Client, args [][]byte) {
	from := stream.FromEarliest()
	switch {
	case len(args) == 3:
	case len(args) >= 5 && is(args[3], "FROM"):
		var n int
		var msg string
		from, n, msg = parseFrom(args, 4)
		if msg == "" && 4+n != len(args) {
			msg = errSyntax
		}
		if msg != "" {
			c.replyError(msg)
			return
		}
	default:
		c.replyError(errSyntax)
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	tok, err := sb.CreateGroup(string(args[1]), string(args[2]), from)
	answerStreamChange(c, tok, err)
}

func cmdXGroupDel(c *Client, args [][]byte) {
	sb := c.streams()
	if sb == nil {
		return
	}
	tok, err := sb.DeleteGroup(string(args[1]), string(args[2]))
	answerStreamChange(c, tok, err)
}

func cmdXSeek(c *Client, args [][]byte) {
	partition := stream.AllPartitions
	var from stream.From
	withFrom := false
	msg := eachOption(args[3:], func(name []byte, rest [][]byte) (used int, msg string) {
		used = 1
		switch {
		case is(name, "PARTITION"):
			partition, msg = parsePartition(rest[0])
		case is(name, "FROM"):
			from, used, msg = parseFrom(rest, 0)
			withFrom = true
		default:
			msg = errSyntax
		}
		return used, msg
	})
	if msg != "" {
		c.replyError(msg)
		return
	}
	if !withFrom {
		c.replyError(errNeedFrom)
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	tok, err := sb.Seek(string(args[1]), string(args[2]), partition, from)
	answerStreamChange(c, tok, err)
}

func cmdXConsume(c *Client, args [][]byte) {
	if c.handOffForWait() {
		// A read may load a log segment from the disk: never on a loop.
		return
	}
	count := defaultStreamCount
	var block time.Duration
	blocking := false
	group, member, ok := parseGroupArgs(c, args, func(name, value []byte) (msg string) {
		switch {
		case is(name, "COUNT"):
			count, msg = parseCount(value)
		case is(name, "BLOCK"):
			block, msg = parseBlock(value)
			blocking = true
		default:
			msg = errSyntax
		}
		return msg
	})
	if !ok {
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	name := string(args[1])
	msgs, err := sb.GroupRead(context.Background(), name, group, member, count, false)
	if err == nil && len(msgs) == 0 && blocking {
		if ctx, end, ok := c.beginBlock(block); ok {
			msgs, err = sb.GroupRead(ctx, name, group, member, count, true)
			end()
			if err == nil && len(msgs) == 0 && unblockedWithError(ctx) {
				c.replyError(errUnblocked)
				return
			}
		}
	}
	if err != nil {
		c.replyErr(err)
		return
	}
	writeMessages(c, msgs)
}

func cmdXCommit(c *Client, args [][]byte) {
	partition, offset := -1, int64(-1)
	group, member, ok := parseGroupArgs(c, args, func(name, value []byte) (msg string) {
		switch {
		case is(name, "PARTITION"):
			partition, msg = parsePartition(value)
		case is(name, "OFFSET"):
			offset, msg = parseNonNegative(value)
		default:
			msg = errSyntax
		}
		return msg
	})
	if !ok {
		return
	}
	if partition < 0 || offset < 0 {
		c.replyError(errNeedOffset)
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	tok, err := sb.Commit(string(args[1]), group, member, partition, offset)
	answerStreamChange(c, tok, err)
}

func cmdXLeave(c *Client, args [][]byte) {
	group, member, ok := parseGroupArgs(c, args, func(_, _ []byte) string { return errSyntax })
	if !ok {
		return
	}
	sb := c.streams()
	if sb == nil {
		return
	}
	if err := sb.Leave(string(args[1]), group, member); err != nil {
		c.replyErr(err)
		return
	}
	c.w.OK()
}

func cmdXStreamInfo(c *Client, args [][]byte) {
	sb := c.streams()
	if sb == nil {
		return
	}
	info, toks, err := sb.Info(string(args[1]))
	if err != nil {
		c.replyErr(err)
		return
	}
	c.needStreamDurable(toks...)
	c.w.Map(streamInfoFields)
	c.w.BulkString("name")
	c.w.BulkString(info.Name)
	c.w.BulkString("partitions")
	c.w.Int(int64(info.Settings.Partitions))
	c.w.BulkString("maxage_ms")
	c.w.Int(info.Settings.MaxAge.Milliseconds())
	c.w.BulkString("maxbytes")
	c.w.Int(info.Settings.MaxBytes)
	c.w.BulkString("maxmsgs")
	c.w.Int(info.Settings.MaxMessages)
	c.w.BulkString("groups")
	c.w.Array(len(info.Groups))
	for _, g := range info.Groups {
		c.w.BulkString(g)
	}
	c.w.BulkString("partition_info")
	c.w.Array(len(info.Partitions))
	for _, p := range info.Partitions {
		c.w.Map(partitionInfoFields)
		c.w.BulkString("partition")
		c.w.Int(int64(p.Partition))
		c.w.BulkString("first")
		c.w.Int(p.First)
		c.w.BulkString("next")
		c.w.Int(p.Next)
		c.w.BulkString("messages")
		c.w.Int(p.Messages)
		c.w.BulkString("bytes")
		c.w.Int(p.Bytes)
		c.w.BulkString("disk_bytes")
		c.w.Int(p.DiskBytes)
	}
}

func cmdXGroupInfo(c *Client, args [][]byte) {
	sb := c.streams()
	if sb == nil {
		return
	}
	info, toks, err := sb.GroupInfo(string(args[1]), string(args[2]))
	c.needStreamDurable(toks...)
	if err != nil {
		c.replyErr(err)
		return
	}
	c.w.Map(groupInfoFields)
	c.w.BulkString("name")
	c.w.BulkString(info.Name)
	c.w.BulkString("members")
	c.w.Array(len(info.Members))
	for _, m := range info.Members {
		c.w.Map(memberInfoFields)
		c.w.BulkString("member")
		c.w.BulkString(m.ID)
		c.w.BulkString("partitions")
		c.w.Array(len(m.Partitions))
		for _, p := range m.Partitions {
			c.w.Int(int64(p))
		}
		c.w.BulkString("last_seen_ms")
		c.w.Int(m.LastSeen.UnixMilli())
		c.w.BulkString("blocked")
		c.w.Int(b2i(m.Blocked))
	}
	c.w.BulkString("partitions")
	c.w.Array(len(info.Partitions))
	for _, p := range info.Partitions {
		c.w.Map(groupPartitionFields)
		c.w.BulkString("partition")
		c.w.Int(int64(p.Partition))
		c.w.BulkString("owner")
		c.w.StringOrNull(p.Owner)
		c.w.BulkString("committed")
		c.w.Int(p.Committed)
		c.w.BulkString("lag")
		c.w.Int(p.Lag)
	}
}

func cmdXStreams(c *Client, _ [][]byte) {
	sb := c.streams()
	if sb == nil {
		return
	}
	names := sb.List()
	c.w.Array(len(names))
	for _, n := range names {
		c.w.BulkString(n)
	}
}

// messageReplyOverhead bounds the bytes of a message's reply besides its
// key and value: the map header, five field names, three integers and two
// bulk headers.
const messageReplyOverhead = 128

// messageChunkSize is how much of a large message reply a connection on its
// own goroutine sends at a time while it encodes the rest, so that the
// client parses the first messages while the server encodes the last.
const messageChunkSize = 64 << 10

// The field names of a message reply, encoded once as the bulk strings they
// are in both protocols: a replay writes them for every message.
const (
	partitionField = "$9\r\npartition\r\n"
	offsetField    = "$6\r\noffset\r\n"
	timeField      = "$7\r\ntime_ms\r\n"
	keyField       = "$3\r\nkey\r\n"
	valueField     = "$5\r\nvalue\r\n"
)

// writeMessages writes messages as maps (flat arrays in RESP2). A reply
// larger than messageChunkSize is sent as it is encoded when nothing
// buffered before it waits for the disk and the connection has its own
// goroutine; an event loop builds it whole and answers it with the rest of
// the pipeline.
func writeMessages(c *Client, msgs []stream.Message) {
	size := 0
	for _, m := range msgs {
		size += len(m.Key) + len(m.Value) + messageReplyOverhead
	}
	r := newMessageReply(c, len(msgs), size > messageChunkSize)
	if r.early {
		c.w.Grow(messageChunkSize + messageReplyOverhead)
	} else {
		c.w.Grow(size)
	}
	r.write(msgs)
}

// writeMessageBatches answers a read with the messages as the log reads
// them, messageChunkSize of them at a time, sent as they come under the
// conditions of writeMessages: the client parses the first ones while the
// server reads the rest. A read cut after its first messages (retention
// overtook it) ends the connection: its reply cannot be completed.
func writeMessageBatches(c *Client, sb *stream.Broker, name string, partition int, from stream.From, count int) {
	var r *messageReply
	err := sb.ReadBatches(name, partition, from, count, messageChunkSize, func(n int) {
		r = newMessageReply(c, n, true)
	}, func(msgs []stream.Message) { r.write(msgs) })
	switch {
	case err != nil && r != nil:
		c.closing = true
	case err != nil:
		c.replyErr(err)
	}
}

// messageReply writes a reply of messages whose array header it wrote.
// early: the reply may be sent messageChunkSize at a time as it is
// written, which needs a connection on its own goroutine with nothing
// buffered before the reply waiting for the disk.
type messageReply struct {
	c     *Client
	early bool
}

func newMessageReply(c *Client, n int, large bool) *messageReply {
	c.w.Array(n)
	return &messageReply{c: c, early: large && c.loop == nil && len(c.durable) == 0 && !c.noWait}
}

// write writes msgs, sending what is buffered whenever it reaches
// messageChunkSize when the reply may go early.
func (r *messageReply) write(msgs []stream.Message) {
	c := r.c
	for _, m := range msgs {
		c.w.Map(messageFields)
		c.w.RawString(partitionField)
		c.w.Int(int64(m.Partition))
		c.w.RawString(offsetField)
		c.w.Int(m.Offset)
		c.w.RawString(timeField)
		c.w.Int(m.Time.UnixMilli())
		c.w.RawString(keyField)
		c.w.BulkOrNull(m.Key)
		c.w.RawString(valueField)
		c.w.Bulk(m.Value)
		if r.early && c.w.Buffered() >= messageChunkSize {
			// The peer may read slowly: the command gate is released
			// while the chunk is sent (multi.go).
			g := c.leaveGate()
			err := c.w.Flush()
			c.enterGate(g)
			if err != nil {
				// Part of the reply is lost: the connection ends.
				c.closing, r.early = true, false
			}
		}
	}
}

// writeStreamInfo writes the stream section of INFO.
func (s *Server) writeStreamInfo(w infoWriter) {
	sb := s.cfg.Stream
	if sb == nil {
		w.int("stream_enabled", 0)
		return
	}
	st := sb.Stats()
	w.int("stream_enabled", 1)
	w.int("streams", int64(st.Streams))
	w.int("stream_partitions", int64(st.Partitions))
	w.int("stream_messages", st.Messages)
	w.int("stream_bytes", st.Bytes)
	w.int("stream_groups", int64(st.Groups))
}
