package commands

import (
	"errors"
	"strconv"
	"strings"

	"nexo/engine/pubsub"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
)

// Replies for errors the command layer detects itself, worded as Redis
// words them.
const (
	errSyntax       = "ERR syntax error"
	errNotInteger   = "ERR value is not an integer or out of range"
	errNotFloat     = "ERR value is not a valid float"
	errNoAuth       = "NOAUTH Authentication required."
	errWrongPass    = "WRONGPASS invalid username-password pair or user is disabled."
	errNoPassword   = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errDBIndex      = "ERR DB index is out of range"
	errNoProto      = "NOPROTO unsupported protocol version"
	errInternal     = "ERR internal error"
	errCursor       = "ERR invalid cursor"
	errPositive     = "ERR value is out of range, must be positive"
	errCountNegZero = "ERR COUNT must be > 0"
	errQueueState   = "ERR STATE must be ready, delayed, inflight, dead or completed"
)

// brokerErrors maps each broker's sentinel errors to the reply a client
// sees. Brokers return plain errors without wire syntax; this is the one
// place that words them.
var brokerErrors = map[error]string{
	store.ErrWrongType:         "WRONGTYPE Operation against a key holding the wrong kind of value",
	store.ErrNotInteger:        errNotInteger,
	store.ErrNotFloat:          errNotFloat,
	store.ErrOverflow:          "ERR increment or decrement would overflow",
	store.ErrNaN:               "ERR increment would produce NaN or Infinity",
	store.ErrInfiniteIncrement: "ERR value is NaN or Infinity",
	store.ErrHashNotInteger:    "ERR hash value is not an integer",
	store.ErrHashNotFloat:      "ERR hash value is not a float",
	store.ErrNoSuchKey:         "ERR no such key",
	store.ErrOOM:               "OOM command not allowed when used memory > 'maxmemory'.",
	store.ErrTooLarge:          "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
	store.ErrOffset:            "ERR offset is out of range",
	store.ErrSameKey:           "ERR source and destination objects are the same",

	queue.ErrNotHeld:       "NOTHELD the job is not held by this connection",
	queue.ErrNotDead:       "ERR the job is not a dead letter",
	queue.ErrNotWaiting:    "ERR the job is not waiting (ready or delayed)",
	queue.ErrNotDelayed:    "ERR the job is not delayed",
	queue.ErrTooLong:       "ERR progress larger than " + strconv.Itoa(queue.MaxProgress) + " bytes",
	queue.ErrPayloadTooBig: "ERR payload larger than queue-max-payload",
	queue.ErrInvalidName:   "ERR invalid queue name (1 to " + strconv.Itoa(queue.MaxNameLen) + " bytes)",
	queue.ErrUnknownParam:  "ERR unknown queue parameter",
	queue.ErrInvalidValue:  "ERR invalid value",
	queue.ErrDedupMulti:    "ERR DEDUP takes a single payload",
	queue.ErrOverload:      "OVERLOAD the queue log has too many records waiting for the disk; retry later",
	queue.ErrReadOnly:      "READONLY the queue log failed to write; queues are read-only until the server restarts",
	queue.ErrClosed:        "ERR the queue broker is shutting down",

	pubsub.ErrFilterEmpty:       "ERR invalid topic filter: it is empty",
	pubsub.ErrFilterTooLong:     "ERR invalid topic filter: longer than " + strconv.Itoa(pubsub.MaxTopicLen) + " bytes",
	pubsub.ErrFilterWildcard:    "ERR invalid topic filter: '+' and '#' must be a whole level (a/+/b, a/#)",
	pubsub.ErrFilterHashNotLast: "ERR invalid topic filter: '#' must be the last level (a/#)",
	pubsub.ErrTopicEmpty:        "ERR invalid topic: it is empty",
	pubsub.ErrTopicTooLong:      "ERR invalid topic: longer than " + strconv.Itoa(pubsub.MaxTopicLen) + " bytes",
	pubsub.ErrTopicWildcard:     "ERR invalid topic: a topic name cannot contain '+' or '#' (wildcards belong in filters)",
	pubsub.ErrOverload:          "OVERLOAD the retained log has too many records waiting for the disk; retry later",
	pubsub.ErrReadOnly:          "READONLY the retained log failed to write; retained values are read-only until the server restarts",
	pubsub.ErrClosed:            "ERR the pub/sub broker is shutting down",

	stream.ErrUnknownStream:       "NOSTREAM no such stream",
	stream.ErrUnknownGroup:        "NOGROUP no such consumer group",
	stream.ErrStreamExists:        "BUSYSTREAM the stream already exists",
	stream.ErrGroupExists:         "BUSYGROUP the consumer group already exists",
	stream.ErrOffsetOutOfRange:    "ERR offset out of range",
	stream.ErrPartitionOutOfRange: "ERR partition out of range",
	stream.ErrShrink:              "ERR the partition count of a stream can only grow",
	stream.ErrNotAssigned:         "NOTASSIGNED the partition is not assigned to this member",
	stream.ErrInvalidName:         "ERR invalid name (1 to " + strconv.Itoa(stream.MaxNameLen) + " bytes)",
	stream.ErrInvalidValue:        "ERR invalid value",
	stream.ErrPayloadTooBig:       "ERR key plus payload larger than stream-max-payload",
	stream.ErrTooManyMessages:     "ERR more payloads than one XAPPEND takes",
	stream.ErrOverload:            "OVERLOAD the stream log has too many records waiting for the disk; retry later",
	stream.ErrFailed:              "READONLY the stream log failed to write",
	stream.ErrClosed:              "ERR the stream broker is shutting down",
}

// replyErr answers a broker error. Errors the table does not know are
// internal: the client gets a generic reply and the cause goes to the log.
func (c *Client) replyErr(err error) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if msg, ok := brokerErrors[e]; ok {
			c.replyError(msg)
			return
		}
	}
	c.srv.log.Error("command failed", "id", c.id, "err", err)
	c.replyError(errInternal)
}

// unknownArgsPreview bounds how much of the arguments an unknown-command
// error repeats (Redis: 128 bytes).
const unknownArgsPreview = 128

// unknownCommand words the reply to a command that is not in the table,
// exactly as Redis does: each argument quoted, the list cut near
// unknownArgsPreview bytes.
func unknownCommand(args [][]byte) string {
	var preview []byte
	for _, a := range args[1:] {
		if len(preview) >= unknownArgsPreview {
			break
		}
		room := unknownArgsPreview - len(preview)
		preview = append(preview, '\'')
		preview = append(preview, truncate(a, room)...)
		preview = append(preview, "' "...)
	}
	return "ERR unknown command '" + sanitize(truncate(args[0], unknownArgsPreview)) +
		"', with args beginning with: " + sanitize(preview)
}

// unknownSubcommand words the reply to a subcommand that does not exist.
func unknownSubcommand(parent string, sub []byte) string {
	return "ERR unknown subcommand '" + sanitize(truncate(sub, unknownArgsPreview)) +
		"'. Try " + strings.ToUpper(parent) + " HELP."
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// sanitize replaces the line breaks that would end an error reply early.
func sanitize(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, string(b))
}
