package stream

import (
	"encoding/binary"
	"errors"
	"time"
)

// Log records. Each starts with its op byte; integers are varints, byte
// strings are length-prefixed. A record states an outcome (the offset and
// timestamp a message got, the offsets a group was set to), so that replay
// reproduces memory exactly.
//
// Partition logs hold opMessage records, one per message, and at most one
// opBase record, in the snapshot that retention leaves behind.
// The metadata log of a stream holds the other records.
const (
	opMessage     byte = iota + 1 // offset time key value; a key's length is emptyKey for an empty one
	opBase                        // first offset kept by the partition after retention
	opSettings                    // partitions maxAge maxBytes maxMessages n first×n: firsts retained when written
	opGroup                       // group n offset×n: create or seek, committed offsets of every partition
	opCommit                      // group partition offset
	opDeleteGroup                 // group
)

var errCorruptRecord = errors.New("stream: corrupt log record")

type encoder struct{ buf []byte }

func (e *encoder) op(op byte) *encoder  { e.buf = append(e.buf[:0], op); return e }
func (e *encoder) int(v int64) *encoder { e.buf = binary.AppendVarint(e.buf, v); return e }
func (e *encoder) bytes(p []byte) *encoder {
	e.int(int64(len(p)))
	e.buf = append(e.buf, p...)
	return e
}

// emptyKey is the length a message record gives an empty key, which a
// length of 0, a message without a key, cannot tell apart.
const emptyKey = -1

// key encodes a message's key: nil for none.
func (e *encoder) key(k []byte) *encoder {
	if k != nil && len(k) == 0 {
		return e.int(emptyKey)
	}
	return e.bytes(k)
}

func (e *encoder) string(s string) *encoder {
	e.int(int64(len(s)))
	e.buf = append(e.buf, s...)
	return e
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = errCorruptRecord
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// bytes returns a copy of the next byte string.
func (d *decoder) bytes() []byte {
	n := d.int()
	if d.err != nil {
		return nil
	}
	if n < 0 || n > int64(len(d.buf)) {
		d.err = errCorruptRecord
		return nil
	}
	p := append([]byte(nil), d.buf[:n]...)
	d.buf = d.buf[n:]
	return p
}

// view is bytes without the copy, for a buffer the caller owns and keeps
// unchanged for as long as the result lives. Like bytes, it returns nil
// for an empty field.
func (d *decoder) view() []byte {
	return d.viewOf(d.int())
}

// key is view for a key that encoder.key wrote: nil for none, empty for an
// empty one.
func (d *decoder) key() []byte {
	n := d.int()
	if d.err == nil && n == emptyKey {
		return []byte{}
	}
	return d.viewOf(n)
}

// viewOf is view once the length n is read.
func (d *decoder) viewOf(n int64) []byte {
	if d.err != nil || n == 0 {
		return nil
	}
	if n < 0 || n > int64(len(d.buf)) {
		d.err = errCorruptRecord
		return nil
	}
	p := d.buf[:n:n]
	d.buf = d.buf[n:]
	return p
}

func (d *decoder) string() string { return string(d.bytes()) }

// settingsRecord encodes s as an opSettings record, with the offset of
// the first message each partition retains (firsts, by partition).
func settingsRecord(e *encoder, s Settings, firsts []int64) []byte {
	e.op(opSettings).int(int64(s.Partitions)).int(int64(s.MaxAge)).int(s.MaxBytes).int(s.MaxMessages)
	e.int(int64(len(firsts)))
	for _, f := range firsts {
		e.int(f)
	}
	return e.buf
}

// decodeSettings reads an opSettings record. A record that ends after
// the settings has no firsts.
func decodeSettings(d *decoder) (Settings, []int64) {
	set := Settings{
		Partitions:  int(d.int()),
		MaxAge:      time.Duration(d.int()),
		MaxBytes:    d.int(),
		MaxMessages: d.int(),
	}
	if d.err != nil || len(d.buf) == 0 {
		return set, nil
	}
	n := d.int()
	if n < 0 || n > MaxPartitions {
		d.err = errCorruptRecord
		return set, nil
	}
	firsts := make([]int64, n)
	for i := range firsts {
		firsts[i] = d.int()
	}
	return set, firsts
}

// groupRecord encodes the committed offsets of a group as an opGroup record.
func groupRecord(e *encoder, name string, offsets []int64) []byte {
	e.op(opGroup).string(name).int(int64(len(offsets)))
	for _, o := range offsets {
		e.int(o)
	}
	return e.buf
}
