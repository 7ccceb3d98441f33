// Package resp owns NEXO's wire protocol: reading commands within the
// framing limits that keep hostile input from growing server memory, and
// writing RESP2 and RESP3 replies in the version each connection chose.
// Replies are encoded with redcon's RESP appenders.
package resp

import (
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/tidwall/redcon"
)

// maxRetainedWriteBuffer is the largest reply buffer kept between
// pipelines; a larger one (a big KEYS reply) is released after its flush.
const maxRetainedWriteBuffer = 256 << 10

// Protocol versions a connection can speak; HELLO switches between them.
const (
	RESP2 = 2
	RESP3 = 3
)

// Writer appends replies for one connection in the protocol version that
// connection negotiated. RESP3-only types degrade to their RESP2 forms the
// way Redis degrades them: maps and sets become arrays, doubles and verbatim
// strings become bulk strings, booleans become integers, nulls become the
// null bulk string or null array.
type Writer struct {
	out     io.Writer
	b       []byte
	proto   int
	scratch []byte
}

// NewWriter buffers replies for out; Flush sends them, once per pipeline.
func NewWriter(out io.Writer) *Writer {
	return &Writer{out: out, proto: RESP2}
}

// Flush writes the buffered replies in one write.
func (w *Writer) Flush() error {
	if len(w.b) == 0 {
		return nil
	}
	_, err := w.out.Write(w.b)
	if cap(w.b) > maxRetainedWriteBuffer {
		w.b = nil
	} else {
		w.b = w.b[:0]
	}
	return err
}

// Grow makes room for n more bytes of replies, so that a large reply whose
// size is known is built in one allocation instead of doubling its way up.
func (w *Writer) Grow(n int) { w.b = slices.Grow(w.b, n) }

// Buffered reports the bytes of replies not yet flushed.
func (w *Writer) Buffered() int { return len(w.b) }

// Proto reports the protocol version in force.
func (w *Writer) Proto() int { return w.proto }

// SetProto switches the protocol version for the following replies.
func (w *Writer) SetProto(p int) { w.proto = p }

// OK writes the simple string OK.
func (w *Writer) OK() { w.b = append(w.b, "+OK\r\n"...) }

// Simple writes a simple string; line breaks in s become spaces.
func (w *Writer) Simple(s string) { w.b = redcon.AppendString(w.b, s) }

// Error writes an error reply; msg starts with its code (ERR, WRONGTYPE, …).
func (w *Writer) Error(msg string) { w.b = redcon.AppendError(w.b, msg) }

// Int writes an integer.
func (w *Writer) Int(n int64) { w.b = redcon.AppendInt(w.b, n) }

// Bulk writes a bulk string.
func (w *Writer) Bulk(b []byte) { w.b = redcon.AppendBulk(w.b, b) }

// BulkString writes a bulk string from a Go string.
func (w *Writer) BulkString(s string) { w.b = redcon.AppendBulkString(w.b, s) }

// maxIntDigits is the longest decimal integer of 64 bits: 20 digits for
// an unsigned one, a sign and 19 digits for a signed one.
const maxIntDigits = 20

// BulkInt writes an integer as a bulk string, as Redis does for values
// that are strings holding numbers. Its digits are formatted on the stack:
// redcon's AppendBulkInt allocates them on the heap.
func (w *Writer) BulkInt(n int64) {
	var digits [maxIntDigits]byte
	w.b = redcon.AppendBulk(w.b, strconv.AppendInt(digits[:0], n, 10))
}

// BulkUint writes an unsigned integer as a bulk string (job ids, SCAN
// cursors), formatted on the stack as BulkInt's.
func (w *Writer) BulkUint(n uint64) {
	var digits [maxIntDigits]byte
	w.b = redcon.AppendBulk(w.b, strconv.AppendUint(digits[:0], n, 10))
}

// BulkOrNull writes b, or the null reply when b is nil.
func (w *Writer) BulkOrNull(b []byte) {
	if b == nil {
		w.Null()
		return
	}
	w.Bulk(b)
}

// StringOrNull writes s, or the null reply when s is empty.
func (w *Writer) StringOrNull(s string) {
	if s == "" {
		w.Null()
		return
	}
	w.BulkString(s)
}

// Bulks writes an array of bulk strings where nil elements are nulls.
func (w *Writer) Bulks(items [][]byte) {
	w.Array(len(items))
	for _, it := range items {
		w.BulkOrNull(it)
	}
}

// Null writes the null value: `_` in RESP3, the null bulk string in RESP2.
func (w *Writer) Null() {
	if w.proto == RESP3 {
		w.b = append(w.b, "_\r\n"...)
		return
	}
	w.b = redcon.AppendNull(w.b)
}

// NullArray writes the null value where RESP2 expects a null array.
func (w *Writer) NullArray() {
	if w.proto == RESP3 {
		w.b = append(w.b, "_\r\n"...)
		return
	}
	w.b = append(w.b, "*-1\r\n"...)
}

// Array writes an array header of n elements.
func (w *Writer) Array(n int) { w.b = redcon.AppendArray(w.b, n) }

// Map writes a map header of n key/value pairs (an array of 2n in RESP2).
func (w *Writer) Map(n int) {
	if w.proto == RESP3 {
		w.header('%', n)
		return
	}
	w.Array(2 * n)
}

// Set writes a set header of n elements (an array in RESP2).
func (w *Writer) Set(n int) {
	if w.proto == RESP3 {
		w.header('~', n)
		return
	}
	w.Array(n)
}

// Push writes a push header of n elements (an array in RESP2).
func (w *Writer) Push(n int) {
	if w.proto == RESP3 {
		w.header('>', n)
		return
	}
	w.Array(n)
}

// Double writes a floating point number (a bulk string in RESP2).
func (w *Writer) Double(f float64) {
	if w.proto == RESP3 {
		w.b = append(w.b, ',')
		w.b = appendDouble(w.b, f)
		w.b = append(w.b, "\r\n"...)
		return
	}
	w.scratch = appendDouble(w.scratch[:0], f)
	w.Bulk(w.scratch)
}

// Bool writes a boolean (the integer 1 or 0 in RESP2).
func (w *Writer) Bool(b bool) {
	switch {
	case w.proto == RESP3 && b:
		w.b = append(w.b, "#t\r\n"...)
	case w.proto == RESP3:
		w.b = append(w.b, "#f\r\n"...)
	case b:
		w.Int(1)
	default:
		w.Int(0)
	}
}

// Verbatim writes a verbatim string of the three-letter format ("txt",
// "mkd"); RESP2 receives a plain bulk string.
func (w *Writer) Verbatim(format string, text []byte) {
	if w.proto != RESP3 {
		w.Bulk(text)
		return
	}
	w.header('=', len(format)+1+len(text))
	w.b = append(w.b, format...)
	w.b = append(w.b, ':')
	w.b = append(w.b, text...)
	w.b = append(w.b, "\r\n"...)
}

// BigNumber writes an arbitrary precision integer given in decimal (a bulk
// string in RESP2).
func (w *Writer) BigNumber(decimal string) {
	if w.proto != RESP3 {
		w.BulkString(decimal)
		return
	}
	w.b = append(w.b, '(')
	w.b = append(w.b, decimal...)
	w.b = append(w.b, "\r\n"...)
}

// Raw writes bytes that already are a complete RESP reply.
func (w *Writer) Raw(b []byte) { w.b = append(w.b, b...) }

// RawString writes s, which already is complete RESP: a reply, or an
// element of one whose encoding is the same in both protocols.
func (w *Writer) RawString(s string) { w.b = append(w.b, s...) }

func (w *Writer) header(kind byte, n int) {
	w.b = append(w.b, kind)
	w.b = strconv.AppendInt(w.b, int64(n), 10)
	w.b = append(w.b, "\r\n"...)
}

// appendDouble formats f the way Redis replies with doubles: the shortest
// representation that reads back to the same value, and inf/-inf/nan.
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case math.IsNaN(f):
		return append(b, "nan"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// crlf ends every RESP line.
var crlf = []byte("\r\n")
