// Package resp owns NEXO's wire protocol: RESP2 and RESP3 replies on top of
// redcon's connection loop, the per-connection protocol version, and the
// framing limits that keep hostile input from growing server memory.
package resp

import (
	"math"
	"strconv"

	"github.com/tidwall/redcon"
)

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
	w       *redcon.Writer
	proto   int
	scratch []byte
}

// NewWriter wraps redcon's buffered writer for a connection; replies are
// flushed by redcon once per pipeline.
func NewWriter(w *redcon.Writer) *Writer {
	return &Writer{w: w, proto: RESP2}
}

// Proto reports the protocol version in force.
func (w *Writer) Proto() int { return w.proto }

// SetProto switches the protocol version for the following replies.
func (w *Writer) SetProto(p int) { w.proto = p }

// OK writes the simple string OK.
func (w *Writer) OK() { w.w.WriteString("OK") }

// Simple writes a simple string; it must not contain CR or LF.
func (w *Writer) Simple(s string) { w.w.WriteString(s) }

// Error writes an error reply; msg starts with its code (ERR, WRONGTYPE, …).
func (w *Writer) Error(msg string) { w.w.WriteError(msg) }

// Int writes an integer.
func (w *Writer) Int(n int64) { w.w.WriteInt64(n) }

// Bulk writes a bulk string.
func (w *Writer) Bulk(b []byte) { w.w.WriteBulk(b) }

// BulkString writes a bulk string from a Go string.
func (w *Writer) BulkString(s string) { w.w.WriteBulkString(s) }

// BulkInt writes an integer as a bulk string, as Redis does for
// values that are strings holding numbers.
func (w *Writer) BulkInt(n int64) {
	w.scratch = strconv.AppendInt(w.scratch[:0], n, 10)
	w.w.WriteBulk(w.scratch)
}

// BulkOrNull writes b, or the null reply when b is nil.
func (w *Writer) BulkOrNull(b []byte) {
	if b == nil {
		w.Null()
		return
	}
	w.w.WriteBulk(b)
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
		w.w.WriteRaw(nullRESP3)
		return
	}
	w.w.WriteNull()
}

// NullArray writes the null value where RESP2 expects a null array.
func (w *Writer) NullArray() {
	if w.proto == RESP3 {
		w.w.WriteRaw(nullRESP3)
		return
	}
	w.w.WriteRaw(nullArrayRESP2)
}

// Array writes an array header of n elements.
func (w *Writer) Array(n int) { w.w.WriteArray(n) }

// Map writes a map header of n key/value pairs (an array of 2n in RESP2).
func (w *Writer) Map(n int) {
	if w.proto == RESP3 {
		w.header('%', int64(n))
		return
	}
	w.w.WriteArray(2 * n)
}

// Set writes a set header of n elements (an array in RESP2).
func (w *Writer) Set(n int) {
	if w.proto == RESP3 {
		w.header('~', int64(n))
		return
	}
	w.w.WriteArray(n)
}

// Push writes a push header of n elements (an array in RESP2).
func (w *Writer) Push(n int) {
	if w.proto == RESP3 {
		w.header('>', int64(n))
		return
	}
	w.w.WriteArray(n)
}

// Double writes a floating point number (a bulk string in RESP2).
func (w *Writer) Double(f float64) {
	if w.proto == RESP3 {
		w.scratch = append(w.scratch[:0], ',')
		w.scratch = appendDouble(w.scratch, f)
		w.scratch = append(w.scratch, '\r', '\n')
		w.w.WriteRaw(w.scratch)
		return
	}
	w.scratch = appendDouble(w.scratch[:0], f)
	w.w.WriteBulk(w.scratch)
}

// Bool writes a boolean (the integer 1 or 0 in RESP2).
func (w *Writer) Bool(b bool) {
	if w.proto == RESP3 {
		if b {
			w.w.WriteRaw(trueRESP3)
		} else {
			w.w.WriteRaw(falseRESP3)
		}
		return
	}
	if b {
		w.w.WriteInt64(1)
	} else {
		w.w.WriteInt64(0)
	}
}

// Verbatim writes a verbatim string of the three-letter format ("txt",
// "mkd"); RESP2 receives a plain bulk string.
func (w *Writer) Verbatim(format string, text []byte) {
	if w.proto != RESP3 {
		w.w.WriteBulk(text)
		return
	}
	w.header('=', int64(len(format)+1+len(text)))
	w.scratch = append(w.scratch[:0], format...)
	w.scratch = append(w.scratch, ':')
	w.w.WriteRaw(w.scratch)
	w.w.WriteRaw(text)
	w.w.WriteRaw(crlf)
}

// BigNumber writes an arbitrary precision integer given in decimal (a bulk
// string in RESP2).
func (w *Writer) BigNumber(decimal string) {
	if w.proto != RESP3 {
		w.w.WriteBulkString(decimal)
		return
	}
	w.scratch = append(w.scratch[:0], '(')
	w.scratch = append(w.scratch, decimal...)
	w.scratch = append(w.scratch, '\r', '\n')
	w.w.WriteRaw(w.scratch)
}

// Raw writes bytes that already are a complete RESP reply.
func (w *Writer) Raw(b []byte) { w.w.WriteRaw(b) }

func (w *Writer) header(kind byte, n int64) {
	w.scratch = append(w.scratch[:0], kind)
	w.scratch = strconv.AppendInt(w.scratch, n, 10)
	w.scratch = append(w.scratch, '\r', '\n')
	w.w.WriteRaw(w.scratch)
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

var (
	crlf           = []byte("\r\n")
	nullRESP3      = []byte("_\r\n")
	nullArrayRESP2 = []byte("*-1\r\n")
	trueRESP3      = []byte("#t\r\n")
	falseRESP3     = []byte("#f\r\n")
)
