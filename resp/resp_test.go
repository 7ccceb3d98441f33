package resp

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestWriter(t *testing.T) {
	cases := []struct {
		name       string
		write      func(w *Writer)
		resp2, res string
	}{
		{"ok", func(w *Writer) { w.OK() }, "+OK\r\n", "+OK\r\n"},
		{"error", func(w *Writer) { w.Error("ERR bad") }, "-ERR bad\r\n", "-ERR bad\r\n"},
		{"int", func(w *Writer) { w.Int(-42) }, ":-42\r\n", ":-42\r\n"},
		{"bulk", func(w *Writer) { w.Bulk([]byte("a\r\nb")) }, "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n"},
		{"bulk int", func(w *Writer) { w.BulkInt(1234) }, "$4\r\n1234\r\n", "$4\r\n1234\r\n"},
		{"bulk uint", func(w *Writer) { w.BulkUint(math.MaxUint64) }, "$20\r\n18446744073709551615\r\n", "$20\r\n18446744073709551615\r\n"},
		{"null", func(w *Writer) { w.Null() }, "$-1\r\n", "_\r\n"},
		{"bulk or null", func(w *Writer) { w.BulkOrNull(nil) }, "$-1\r\n", "_\r\n"},
		{"empty bulk is not null", func(w *Writer) { w.BulkOrNull([]byte{}) }, "$0\r\n\r\n", "$0\r\n\r\n"},
		{"null array", func(w *Writer) { w.NullArray() }, "*-1\r\n", "_\r\n"},
		{"bulks", func(w *Writer) { w.Bulks([][]byte{[]byte("a"), nil}) }, "*2\r\n$1\r\na\r\n$-1\r\n", "*2\r\n$1\r\na\r\n_\r\n"},
		{"map", func(w *Writer) { w.Map(1); w.BulkString("k"); w.Int(1) }, "*2\r\n$1\r\nk\r\n:1\r\n", "%1\r\n$1\r\nk\r\n:1\r\n"},
		{"set", func(w *Writer) { w.Set(1); w.BulkString("m") }, "*1\r\n$1\r\nm\r\n", "~1\r\n$1\r\nm\r\n"},
		{"push", func(w *Writer) { w.Push(1); w.BulkString("m") }, "*1\r\n$1\r\nm\r\n", ">1\r\n$1\r\nm\r\n"},
		{"double", func(w *Writer) { w.Double(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{"double inf", func(w *Writer) { w.Double(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{"bool", func(w *Writer) { w.Bool(true); w.Bool(false) }, ":1\r\n:0\r\n", "#t\r\n#f\r\n"},
		{"verbatim", func(w *Writer) { w.Verbatim("txt", []byte("hi")) }, "$2\r\nhi\r\n", "=6\r\ntxt:hi\r\n"},
		{"grow changes nothing written", func(w *Writer) { w.Int(1); w.Grow(1 << 20); w.Int(2) }, ":1\r\n:2\r\n", ":1\r\n:2\r\n"},
		{"raw string", func(w *Writer) { w.RawString("$1\r\nk\r\n") }, "$1\r\nk\r\n", "$1\r\nk\r\n"},
		{"big number", func(w *Writer) { w.BigNumber("123456789012345678901234567890") },
			"$30\r\n123456789012345678901234567890\r\n", "(123456789012345678901234567890\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, proto := range []int{RESP2, RESP3} {
				var out bytes.Buffer
				w := NewWriter(&out)
				w.SetProto(proto)
				tc.write(w)
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				want := tc.resp2
				if proto == RESP3 {
					want = tc.res
				}
				if out.String() != want {
					t.Errorf("RESP%d: got %q, want %q", proto, out.String(), want)
				}
			}
		})
	}
}

// TestWriterNumbersAllocateNothing: job ids and counts are formatted into
// the reply buffer, with no allocation once the buffer has room.
func TestWriterNumbersAllocateNothing(t *testing.T) {
	const runs = 100
	w := NewWriter(io.Discard)
	w.Grow(runs)
	allocs := testing.AllocsPerRun(runs, func() {
		w.BulkUint(math.MaxUint64)
		w.BulkInt(math.MinInt64)
		w.b = w.b[:0]
	})
	if allocs != 0 {
		t.Fatalf("BulkUint and BulkInt: %v allocations per call, want none", allocs)
	}
}

var testLimits = Limits{MaxBulkLen: 32 << 10, MaxMultibulkLen: 100, MaxQueryBuffer: 128 << 10}

func cmd(args ...string) string {
	var b strings.Builder
	b.WriteString("*")
	b.WriteString(itoa(len(args)))
	b.WriteString("\r\n")
	for _, a := range args {
		b.WriteString("$" + itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func itoa(n int) string { return string(bytesOf(int64(n))) }

func bytesOf(n int64) []byte {
	var w Writer
	w.Int(n)
	return w.b[1 : len(w.b)-2]
}

func TestReader(t *testing.T) {
	big := strings.Repeat("v", 20000)
	cases := []struct {
		name   string
		input  string
		authed bool
		want   [][]string // commands read before the error
		err    error      // nil: the input ends cleanly
	}{
		{"one command", cmd("PING"), true, [][]string{{"PING"}}, nil},
		{"pipeline", cmd("PING") + cmd("GET", "k"), true, [][]string{{"PING"}, {"GET", "k"}}, nil},
		{"binary and empty arguments", cmd("SET", "a\r\nb\x00", ""), true, [][]string{{"SET", "a\r\nb\x00", ""}}, nil},
		{"inline", "PING\r\nSET a b\n", true, [][]string{{"PING"}, {"SET", "a", "b"}}, nil},
		{"inline quotes and escapes", `SET "a b" 'c\'d' "\x41\n"` + "\r\n", true, [][]string{{"SET", "a b", "c'd", "A\n"}}, nil},
		{"blank lines and empty arrays are skipped", "\r\n\n*0\r\n*-1\r\n" + cmd("PING"), true, [][]string{{"PING"}}, nil},
		{"incomplete bulk waits", "*2\r\n$3\r\nGET\r\n$1000\r\nabc", true, nil, io.ErrUnexpectedEOF},
		{"bulk at the limit", cmd("SET", strings.Repeat("x", 32<<10)), true, [][]string{{"SET", strings.Repeat("x", 32<<10)}}, nil},
		{"bulk over the limit", "*1\r\n$32769\r\n", true, nil, errInvalidBulk},
		{"4 GB bulk", "*1\r\n$4294967296\r\n", true, nil, errInvalidBulk},
		{"absurd bulk digits", "*1\r\n$99999999999999999999999999999\r\n", true, nil, errInvalidBulk},
		{"negative bulk", "*1\r\n$-1\r\n", true, nil, errInvalidBulk},
		{"bulk with a plus sign", "*1\r\n$+1\r\na\r\n", true, nil, errInvalidBulk},
		{"multibulk over the limit", "*101\r\n", true, nil, errInvalidMultibulk},
		{"huge multibulk", "*2147483648\r\n", true, nil, errInvalidMultibulk},
		{"garbage count", "*x\r\n", true, nil, errInvalidMultibulk},
		{"not a bulk", "*1\r\n:1\r\n", true, nil, &ProtocolError{"expected '$', got ':'"}},
		{"good commands before the error are read", cmd("PING") + "*1\r\n$99999\r\n", true, [][]string{{"PING"}}, errInvalidBulk},
		{"unauthenticated multibulk", "*11\r\n", false, nil, errUnauthMultibulk},
		{"unauthenticated bulk", "*1\r\n$16385\r\n", false, nil, errUnauthBulk},
		{"unauthenticated small command", cmd("AUTH", "pw"), false, [][]string{{"AUTH", "pw"}}, nil},
		{"unauthenticated over the hard limit", "*1\r\n$40000\r\n", false, nil, errInvalidBulk},
		{"unbalanced quotes", "SET \"a\r\n", true, nil, errUnbalancedQuotes},
		{"closing quote glued to text", "SET \"a\"b\r\n", true, nil, errUnbalancedQuotes},
		{"inline too big", strings.Repeat("a", maxInlineSize+1), true, nil, errBigInline},
		{"count line too big", "*" + strings.Repeat("1", maxInlineSize+1), true, nil, errBigMultibulkLine},
		{"bulk line too big", "*1\r\n$" + strings.Repeat("1", maxInlineSize+1), true, nil, errBigBulkLine},
		{"query buffer", "*7\r\n" + strings.Repeat("$20000\r\n"+big+"\r\n", 7), true, nil, ErrQueryBufferLimit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "one byte", "half"} {
				var src io.Reader = strings.NewReader(tc.input)
				switch mode {
				case "one byte":
					src = iotest.OneByteReader(src)
				case "half":
					src = iotest.HalfReader(src)
				}
				got, err := readAll(src, tc.authed)
				if tc.err == nil && err == io.EOF {
					err = nil
				}
				if tc.err == io.ErrUnexpectedEOF && err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				if !sameError(err, tc.err) {
					t.Fatalf("%s: err %v, want %v", mode, err, tc.err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("%s: got %.200q, want %.200q", mode, got, tc.want)
				}
			}
		})
	}
}

// readAll reads every command until an error and returns them as strings.
func readAll(src io.Reader, authed bool) ([][]string, error) {
	rd := NewReader(src, testLimits)
	rd.SetAuthenticated(authed)
	var got [][]string
	for {
		batch, err := rd.ReadBatch()
		if err != nil {
			return got, err
		}
		for _, args := range batch {
			cmd := make([]string, len(args))
			for i, a := range args {
				cmd[i] = string(a)
			}
			got = append(got, cmd)
		}
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// TestReaderBufferStaysSmall checks that a long pipeline of small commands
// does not grow the read buffer, and that a buffer grown for one large
// command shrinks back once it has been consumed.
func TestReaderBufferStaysSmall(t *testing.T) {
	small := strings.Repeat(cmd("SET", "key", strings.Repeat("v", 100)), 100000)
	rd := NewReader(strings.NewReader(small+cmd("SET", "k", strings.Repeat("v", 20000))+cmd("PING")), testLimits)
	rd.SetAuthenticated(true)
	grown := false
	for {
		batch, err := rd.ReadBatch()
		if err != nil {
			break
		}
		for _, args := range batch {
			if len(args) == 3 && len(args[2]) == 20000 {
				grown = rd.Cap() > readBufferSize
			}
		}
		if !grown && rd.Cap() != readBufferSize {
			t.Fatalf("buffer grew to %d bytes for small commands", rd.Cap())
		}
	}
	if !grown {
		t.Fatal("the large command did not grow the buffer")
	}
	if rd.Cap() != readBufferSize {
		t.Fatalf("buffer of %d bytes once the large command was consumed, want %d", rd.Cap(), readBufferSize)
	}
}

// TestReaderFilled checks that Filled tells a read that took all the room
// of the buffer (the peer may have sent more) from one that did not, and
// that a deferred error is the next ReadBatch's answer.
func TestReaderFilled(t *testing.T) {
	one := cmd("SET", "k", strings.Repeat("v", 100))
	perBuffer := readBufferSize / len(one)
	wide := strings.Repeat(one, perBuffer+1)
	rd := NewReader(strings.NewReader(wide), testLimits)
	rd.SetAuthenticated(true)
	batch, err := rd.ReadBatch()
	if err != nil || len(batch) != perBuffer {
		t.Fatalf("first batch: %d commands, %v; want %d", len(batch), err, perBuffer)
	}
	if !rd.Filled() {
		t.Fatal("a read that filled the buffer is not reported")
	}
	batch, err = rd.ReadBatch()
	if err != nil || len(batch) != 1 {
		t.Fatalf("second batch: %d commands, %v; want 1", len(batch), err)
	}
	if rd.Filled() {
		t.Fatal("a short read is reported as filling the buffer")
	}
	rd.Defer(io.ErrUnexpectedEOF)
	if !rd.Failed() {
		t.Fatal("a deferred error is not reported by Failed")
	}
	if _, err := rd.ReadBatch(); err != io.ErrUnexpectedEOF {
		t.Fatalf("after Defer: %v, want the deferred error", err)
	}
}

// FuzzReader feeds arbitrary bytes to the reader whole and one byte at a
// time: nothing may panic, and chunking must not change what is read.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		cmd("PING"), cmd("SET", "k", "v"), "PING\r\n", "*1\r\n$32769\r\n", "*-1\r\n",
		"$3\r\nabc\r\n", cmd("GET", "k") + "*1\r\n", "\r\n\r\n", "*1\r\n$3\r\nabcde\r\n",
		`SET "a\x4" 'b\'' c` + "\n",
	} {
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, authed bool) {
		whole, errWhole := readAll(bytes.NewReader(data), authed)
		bytewise, errBytewise := readAll(iotest.OneByteReader(bytes.NewReader(data)), authed)
		if !reflect.DeepEqual(whole, bytewise) {
			t.Fatalf("whole read %q, byte by byte %q", whole, bytewise)
		}
		if !sameError(errWhole, errBytewise) && !errors.Is(errWhole, io.EOF) && !errors.Is(errBytewise, io.EOF) {
			t.Fatalf("whole: %v, byte by byte: %v", errWhole, errBytewise)
		}
	})
}
