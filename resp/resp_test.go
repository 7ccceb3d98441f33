package resp

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"

	"github.com/tidwall/redcon"
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
		{"big number", func(w *Writer) { w.BigNumber("123456789012345678901234567890") },
			"$30\r\n123456789012345678901234567890\r\n", "(123456789012345678901234567890\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, proto := range []int{RESP2, RESP3} {
				var out bytes.Buffer
				rw := redcon.NewWriter(&out)
				w := NewWriter(rw)
				w.SetProto(proto)
				tc.write(w)
				rw.Flush()
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

var testLimits = Limits{MaxBulkLen: 32 << 10, MaxMultibulkLen: 100, MaxQueryBuffer: 128 << 10}

func TestScanner(t *testing.T) {
	cases := []struct {
		name   string
		input  string
		authed bool
		err    error // nil: accepted
		good   int   // bytes on a command boundary before the error
	}{
		{"one command", "*1\r\n$4\r\nPING\r\n", true, nil, 0},
		{"pipeline", "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", true, nil, 0},
		{"inline", "PING\r\nSET a b\n", true, nil, 0},
		{"incomplete bulk", "*2\r\n$3\r\nGET\r\n$1000\r\nabc", true, nil, 0},
		{"bulk at the limit", "*1\r\n$32768\r\n", true, nil, 0},
		{"bulk over the limit", "*1\r\n$32769\r\n", true, errInvalidBulk, 0},
		{"4 GB bulk", "*1\r\n$4294967296\r\n", true, errInvalidBulk, 0},
		{"absurd bulk digits", "*1\r\n$99999999999999999999999999999\r\n", true, errInvalidBulk, 0},
		{"negative bulk", "*1\r\n$-1\r\n", true, errInvalidBulk, 0},
		{"multibulk over the limit", "*101\r\n", true, errInvalidMultibulk, 0},
		{"huge multibulk", "*2147483648\r\n", true, errInvalidMultibulk, 0},
		{"zero multibulk", "*0\r\n", true, errInvalidMultibulk, 0},
		{"garbage count", "*x\r\n", true, errInvalidMultibulk, 0},
		{"not a bulk", "*1\r\n:1\r\n", true, &ProtocolError{"expected '$', got ':'"}, 0},
		{"error after good commands", "*1\r\n$4\r\nPING\r\n*1\r\n$99999\r\n", true, errInvalidBulk, 14},
		{"unauthenticated multibulk", "*11\r\n", false, errUnauthMultibulk, 0},
		{"unauthenticated bulk", "*1\r\n$16385\r\n", false, errUnauthBulk, 0},
		{"unauthenticated small command", "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", false, nil, 0},
		{"unauthenticated over the hard limit", "*1\r\n$40000\r\n", false, errInvalidBulk, 0},
		{"inline too big", strings.Repeat("a", maxInlineSize+1), true, errBigInline, 0},
		{"header too long", "*" + strings.Repeat("1", maxInlineSize+1), true, errBigMultibulkLine, 0},
		{"query buffer", "*5\r\n" + strings.Repeat("$32768\r\n"+strings.Repeat("a", 32768)+"\r\n", 5), true, ErrQueryBufferLimit, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{len(tc.input), 1, 7} {
				var s scanner
				good, err := feedChunks(&s, []byte(tc.input), chunk, tc.authed)
				if !sameError(err, tc.err) {
					t.Fatalf("chunk %d: err %v, want %v", chunk, err, tc.err)
				}
				if tc.err != nil && chunk == len(tc.input) && good != tc.good {
					t.Fatalf("good bytes %d, want %d", good, tc.good)
				}
			}
		})
	}
}

// TestScannerQueryBufferCountsOnlyIncompleteCommand checks that a long
// pipeline of complete commands never trips the query buffer limit.
func TestScannerQueryBufferCountsOnlyIncompleteCommand(t *testing.T) {
	cmd := "*2\r\n$3\r\nGET\r\n$512\r\n" + strings.Repeat("k", 512) + "\r\n"
	var s scanner
	if _, err := feedChunks(&s, []byte(strings.Repeat(cmd, 100)), 1000, true); err != nil {
		t.Fatal(err)
	}
}

func feedChunks(s *scanner, data []byte, chunk int, authed bool) (int, error) {
	if chunk <= 0 {
		chunk = 1
	}
	total := 0
	for len(data) > 0 {
		n := min(chunk, len(data))
		good, err := s.feed(data[:n], &testLimits, authed)
		if err != nil {
			return total + good, err
		}
		total += n
		data = data[n:]
	}
	return total, nil
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Error() == b.Error()
}

// TestConnDeliversGoodCommandsBeforeError drives redcon's reader through
// the guarded connection: the commands before a violation are read, then
// the reader fails and the peer receives the error.
func TestConnDeliversGoodCommandsBeforeError(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	conn := &Conn{Conn: server, limits: &testLimits}
	conn.SetAuthenticated(true)
	go client.Write([]byte("*1\r\n$4\r\nPING\r\n*1\r\n$99999\r\n"))
	reply := make(chan string, 1)
	rd := redcon.NewReader(conn)
	cmd, err := rd.ReadCommand()
	if err != nil || string(cmd.Args[0]) != "PING" {
		t.Fatalf("first command: %q, %v", cmd.Args, err)
	}
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len("-ERR Protocol error: invalid bulk length\r\n"))))
		reply <- string(b)
	}()
	if _, err := rd.ReadCommand(); !errors.Is(err, errInvalidBulk) {
		t.Fatalf("second read: %v, want %v", err, errInvalidBulk)
	}
	if got := <-reply; got != "-ERR Protocol error: invalid bulk length\r\n" {
		t.Fatalf("peer got %q", got)
	}
}

// FuzzReader feeds arbitrary bytes through the guard, in whole and in
// chunks, and through redcon's reader behind the guard: nothing may panic,
// and chunking must not change the verdict.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"PING\r\n",
		"*1\r\n$32769\r\n",
		"*-1\r\n",
		"$3\r\nabc\r\n",
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n",
		"\r\n\r\n",
		"*1\r\n$3\r\nabcde\r\n",
	} {
		f.Add([]byte(seed), uint8(3), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, authed bool) {
		var whole, chunked scanner
		_, errWhole := whole.feed(data, &testLimits, authed)
		_, errChunked := feedChunks(&chunked, data, int(chunk), authed)
		if (errWhole == nil) != (errChunked == nil) {
			t.Fatalf("whole: %v, chunked by %d: %v", errWhole, chunk, errChunked)
		}
		if errWhole == nil && whole.pending > testLimits.MaxQueryBuffer {
			t.Fatalf("pending %d over the limit", whole.pending)
		}
		conn := &Conn{Conn: &readOnlyConn{r: bytes.NewReader(data)}, limits: &testLimits}
		conn.SetAuthenticated(authed)
		rd := redcon.NewReader(conn)
		for {
			if _, err := rd.ReadCommands(); err != nil {
				break
			}
		}
	})
}

// readOnlyConn is a net.Conn over a reader; writes are discarded.
type readOnlyConn struct {
	net.Conn
	r io.Reader
}

func (c *readOnlyConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *readOnlyConn) Write(p []byte) (int, error) { return len(p), nil }
