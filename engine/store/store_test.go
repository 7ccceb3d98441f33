package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nexo/engine/store"
)

const (
	// testExpireInterval is the active expiry period of tests that wait for it.
	testExpireInterval = 20 * time.Millisecond
	// expiryMargin is added to testExpireInterval to let one full cycle run
	// under the race detector on a loaded machine.
	expiryMargin = 100 * time.Millisecond
	// bitWriters and bitRounds: goroutines of the SETBIT race, and bits each sets.
	bitWriters = 4
	bitRounds  = 200
	// bitmapBits is the size of the bitmaps of the SETBIT cost tests (1M
	// bits, 128 KiB), and bitsPerGrowth the fewest bits a growth of one
	// grown bit by bit must add, on average, for growth to be amortized.
	bitmapBits    = 1 << 20
	bitsPerGrowth = 1 << 10
)

// clock is an injectable clock that only moves when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func b(s string) []byte { return []byte(s) }

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func strs(bb [][]byte) []string {
	out := make([]string, len(bb))
	for i, v := range bb {
		out[i] = string(v)
	}
	return out
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func set(t *testing.T, s *store.Store, k, v string) {
	t.Helper()
	if _, err := s.Set(b(k), b(v), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s *store.Store, k string) (string, bool) {
	t.Helper()
	v, err := s.Get(b(k))
	check(t, err)
	return string(v), v != nil
}

func wantValue(t *testing.T, s *store.Store, k, want string) {
	t.Helper()
	if v, ok := get(t, s, k); !ok || v != want {
		t.Fatalf("GET %s = %q (exists %v), want %q", k, v, ok, want)
	}
}

func wantMissing(t *testing.T, s *store.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if n := s.Exists(bs(k)); n != 0 {
			t.Fatalf("%s exists", k)
		}
	}
}

func hset(t *testing.T, s *store.Store, k string, pairs ...string) {
	t.Helper()
	if _, err := s.HSet(b(k), bs(pairs...)); err != nil {
		t.Fatal(err)
	}
}

func parallel(n int, fn func(g int)) {
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(g)
		}()
	}
	wg.Wait()
}

func TestConfig(t *testing.T) {
	t.Run("policies parse case-insensitively and print back", func(t *testing.T) {
		for _, name := range []string{"noeviction", "allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl", "volatile-random", "allkeys-lfu", "volatile-lfu"} {
			p, err := store.ParsePolicy(name)
			check(t, err)
			if p.String() != name {
				t.Fatalf("%s parsed to %v", name, p)
			}
		}
		if p, err := store.ParsePolicy("AllKeys-LRU"); err != nil || p != store.AllKeysLRU {
			t.Fatal(p, err)
		}
	})
	t.Run("edge: invalid configurations are rejected", func(t *testing.T) {
		if _, err := store.ParsePolicy("allkeys-mru"); err == nil {
			t.Fatal("unknown policy accepted")
		}
		for _, cfg := range []store.Config{
			{Shards: 3}, {Shards: store.MaxShards * 2}, {Shards: -1}, {MaxMemory: -1},
			{Policy: store.Policy(99)}, {ExpireInterval: -time.Second},
		} {
			if _, err := store.New(cfg); err == nil {
				t.Fatalf("%+v accepted", cfg)
			}
		}
		s := open(t, store.Config{Shards: 1})
		s.Close()
		s.Close()
		set(t, s, "still", "usable")
	})
}

func TestStrings(t *testing.T) {
	t.Run("set, get, getdel, mset, mget, append, strlen", func(t *testing.T) {
		s := open(t, store.Config{})
		if v, err := s.Get(b("nope")); v != nil || err != nil {
			t.Fatal(v, err)
		}
		set(t, s, "k", "v")
		wantValue(t, s, "k", "v")
		set(t, s, "empty", "")
		if v, _ := s.Get(b("empty")); v == nil || len(v) != 0 {
			t.Fatalf("empty value read as %#v", v)
		}
		check(t, s.MSet(bs("a", "1", "b", "2", "a", "3")))
		if got := strs(s.MGet(bs("a", "b", "nope"))); !slices.Equal(got, []string{"3", "2", ""}) {
			t.Fatal(got)
		}
		if ok, err := s.MSetNX(bs("c", "1", "d", "2")); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if n, err := s.Append(b("c"), b("23")); n != 3 || err != nil {
			t.Fatal(n, err)
		}
		if n, err := s.Append(b("new"), b("xy")); n != 2 || err != nil {
			t.Fatal(n, err)
		}
		if n, err := s.StrLen(b("c")); n != 3 || err != nil {
			t.Fatal(n, err)
		}
		if v, err := s.GetDel(b("c")); string(v) != "123" || err != nil {
			t.Fatal(v, err)
		}
		wantMissing(t, s, "c")
	})
	t.Run("set conditions and get", func(t *testing.T) {
		s := open(t, store.Config{})
		r, err := s.Set(b("k"), b("1"), store.SetOptions{Cond: store.IfExists})
		if r.Applied || err != nil {
			t.Fatal(r, err)
		}
		wantMissing(t, s, "k")
		r, _ = s.Set(b("k"), b("1"), store.SetOptions{Cond: store.IfNotExists})
		if !r.Applied {
			t.Fatal(r)
		}
		r, _ = s.Set(b("k"), b("2"), store.SetOptions{Cond: store.IfNotExists, Get: true})
		if r.Applied || !r.HadOld || string(r.Old) != "1" {
			t.Fatal(r)
		}
		r, _ = s.Set(b("k"), b("3"), store.SetOptions{Cond: store.IfExists, Get: true})
		if !r.Applied || string(r.Old) != "1" {
			t.Fatal(r)
		}
		r, _ = s.Set(b("other"), b("x"), store.SetOptions{Get: true})
		if !r.Applied || r.HadOld || r.Old != nil {
			t.Fatal(r)
		}
		wantValue(t, s, "k", "3")
	})
	t.Run("edge: wrong types, overwrites and odd lists", func(t *testing.T) {
		s := open(t, store.Config{})
		hset(t, s, "h", "f", "v")
		_, err := s.Set(b("h"), b("x"), store.SetOptions{Get: true})
		wantErr(t, err, store.ErrWrongType)
		if s.Type(b("h")) != "hash" {
			t.Fatal("SET GET on a hash changed it")
		}
		for _, fn := range []func() error{
			func() error { _, err := s.Get(b("h")); return err },
			func() error { _, err := s.GetDel(b("h")); return err },
			func() error { _, err := s.GetEx(b("h"), store.Expiration{}, false); return err },
			func() error { _, err := s.Append(b("h"), b("x")); return err },
			func() error { _, err := s.StrLen(b("h")); return err },
		} {
			wantErr(t, fn(), store.ErrWrongType)
		}
		if got := s.MGet(bs("h")); got[0] != nil {
			t.Fatal("MGET of a hash", got)
		}
		set(t, s, "h", "plain") // SET without GET replaces any type
		wantValue(t, s, "h", "plain")
		wantErr(t, s.MSet(bs("a", "1", "b")), store.ErrPairs)
		_, err = s.MSetNX(bs("a"))
		wantErr(t, err, store.ErrPairs)
		wantMissing(t, s, "a")
		if ok, _ := s.MSetNX(bs("x", "1", "h", "2")); ok {
			t.Fatal("MSETNX applied with an existing key")
		}
		wantMissing(t, s, "x")
		wantValue(t, s, "h", "plain")
	})
	t.Run("edge: stored values are copies and never change under a reader", func(t *testing.T) {
		s := open(t, store.Config{})
		buf := b("abc")
		set(t, s, "k", string(buf))
		_, _ = s.Set(b("k2"), buf, store.SetOptions{})
		buf[0] = 'X'
		wantValue(t, s, "k2", "abc")
		v1, _ := s.Get(b("k"))
		_, _ = s.Append(b("k"), b("def"))
		v2, _ := s.Get(b("k"))
		_, _ = s.Append(b("k"), b("ghi"))
		_ = append(v2, '!') // a caller's append must not reach the store
		_, _ = s.SetRange(b("k"), 0, b("Z"))
		if string(v1) != "abc" || string(v2) != "abcdef" {
			t.Fatalf("readers saw %q %q", v1, v2)
		}
		wantValue(t, s, "k", "Zbcdefghi")
	})
	t.Run("race: appends and reads of one key", func(t *testing.T) {
		s := open(t, store.Config{})
		const writers, appends = 4, 200
		parallel(writers*2, func(g int) {
			for range appends {
				if g < writers {
					if _, err := s.Append(b("log"), b("x")); err != nil {
						t.Error(err)
					}
					continue
				}
				v, _ := s.Get(b("log"))
				if bytes.Count(v, b("x")) != len(v) {
					t.Errorf("torn value %q", v)
				}
			}
		})
		if n, _ := s.StrLen(b("log")); n != writers*appends {
			t.Fatal(n)
		}
	})
}

func TestCounters(t *testing.T) {
	t.Run("incrby and incrbyfloat", func(t *testing.T) {
		s := open(t, store.Config{})
		if n, err := s.IncrBy(b("n"), 5); n != 5 || err != nil {
			t.Fatal(n, err)
		}
		if n, _ := s.IncrBy(b("n"), -7); n != -2 {
			t.Fatal(n)
		}
		wantValue(t, s, "n", "-2")
		// Redis computes in an 80-bit long double and prints "%.17Lf",
		// trimmed: 0.1 + 0.2 is "0.3", not float64's 0.30000000000000004.
		for _, tc := range []struct{ start, delta, want string }{
			{"10.50", "0.1", "10.6"}, {"10.6", "-5", "5.6"}, {"5.0e3", "2.0e2", "5200"}, {"3", "1.5", "4.5"},
			{"-1", "1", "0"}, {"0.1", "0.2", "0.3"}, {"1e18", "1", "1000000000000000001"},
			{"0", "1e-20", "0"}, {"0x10", "0x1p-1", "16.5"}, {"1", "1e400", "1e400"}, {"inf", "-1", ""},
		} {
			set(t, s, "f", tc.start)
			v, err := s.IncrByFloat(b("f"), b(tc.delta))
			if tc.want == "" {
				wantErr(t, err, store.ErrNaN)
				continue
			}
			if tc.want == "1e400" {
				if err != nil || len(v) != len("1")+400 {
					t.Fatalf("1 + 1e400 = %.20q %v, want 401 digits", v, err)
				}
				continue
			}
			if string(v) != tc.want || err != nil {
				t.Fatalf("%s + %s = %q %v, want %s", tc.start, tc.delta, v, err, tc.want)
			}
		}
		if v, _ := s.IncrByFloat(b("fresh"), b("2.5")); string(v) != "2.5" {
			t.Fatal(string(v))
		}
	})
	t.Run("edge: strict integers, overflow, NaN, keep TTL", func(t *testing.T) {
		s := open(t, store.Config{})
		for _, bad := range []string{"", " 1", "1 ", "+1", "01", "-0", "-", "1.0", "abc", "9223372036854775808", "-9223372036854775809", "1e3"} {
			set(t, s, "n", bad)
			_, err := s.IncrBy(b("n"), 1)
			wantErr(t, err, store.ErrNotInteger)
			wantValue(t, s, "n", bad)
		}
		set(t, s, "n", "-9223372036854775808")
		if n, err := s.IncrBy(b("n"), 0); n != math.MinInt64 || err != nil {
			t.Fatal(n, err)
		}
		_, err := s.IncrBy(b("n"), -1)
		wantErr(t, err, store.ErrOverflow)
		set(t, s, "n", "9223372036854775807")
		_, err = s.IncrBy(b("n"), 1)
		wantErr(t, err, store.ErrOverflow)
		wantValue(t, s, "n", "9223372036854775807")
		for _, bad := range []string{"", " 1.5", "1.5 ", "abc", "nan", "1_000", "1e5000", "1e-5000", "0b101", "0o17", "-0B1", "0O7", "--inf", "+-infinity"} {
			set(t, s, "f", bad)
			_, err := s.IncrByFloat(b("f"), b("1"))
			wantErr(t, err, store.ErrNotFloat)
			set(t, s, "f", "1")
			_, err = s.IncrByFloat(b("f"), b(bad))
			wantErr(t, err, store.ErrNotFloat)
			wantValue(t, s, "f", "1")
		}
		for _, inf := range []string{"inf", "-Infinity", "+inf", "INF", "iNf", "-INFINITY"} {
			_, err = s.IncrByFloat(b("f"), b(inf))
			wantErr(t, err, store.ErrNaN)
		}
		set(t, s, "f", "1e4932")
		_, err = s.IncrByFloat(b("f"), b("1e4932"))
		wantErr(t, err, store.ErrNaN)
		wantValue(t, s, "f", "1e4932")
		if v, _ := s.IncrByFloat(b("neg"), b("-0")); string(v) != "0" {
			t.Fatalf("-0 stored as %q", v)
		}
		hset(t, s, "h", "f", "1")
		_, err = s.IncrBy(b("h"), 1)
		wantErr(t, err, store.ErrWrongType)
		_, err = s.IncrByFloat(b("h"), b("1"))
		wantErr(t, err, store.ErrWrongType)
		_, err = s.IncrByFloat(b("h"), b("abc"))
		wantErr(t, err, store.ErrWrongType)
		_, _ = s.Set(b("ttl"), b("1"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Hour}})
		_, _ = s.IncrBy(b("ttl"), 1)
		_, _ = s.IncrByFloat(b("ttl"), b("1"))
		if s.PTTL(b("ttl")) <= 0 {
			t.Fatal("INCR dropped the TTL")
		}
	})
	t.Run("race: concurrent increments of one key are exact", func(t *testing.T) {
		s := open(t, store.Config{})
		const goroutines, each = 8, 500
		parallel(goroutines, func(int) {
			for range each {
				if _, err := s.IncrBy(b("n"), 1); err != nil {
					t.Error(err)
				}
				if _, err := s.HIncrBy(b("h"), b("f"), 2); err != nil {
					t.Error(err)
				}
			}
		})
		wantValue(t, s, "n", strconv.Itoa(goroutines*each))
		if v, _ := s.HGet(b("h"), b("f")); string(v) != strconv.Itoa(2*goroutines*each) {
			t.Fatal(string(v))
		}
	})
}

func TestRanges(t *testing.T) {
	t.Run("getrange and setrange", func(t *testing.T) {
		s := open(t, store.Config{})
		set(t, s, "k", "This is a string")
		for _, tc := range []struct {
			start, end int64
			want       string
		}{{0, 3, "This"}, {-3, -1, "ing"}, {0, -1, "This is a string"}, {10, 100, "string"}, {5, 5, "i"}} {
			if v, err := s.GetRange(b("k"), tc.start, tc.end); string(v) != tc.want || err != nil {
				t.Fatalf("GETRANGE %d %d = %q %v", tc.start, tc.end, v, err)
			}
		}
		set(t, s, "k", "Hello World")
		if n, err := s.SetRange(b("k"), 6, b("Redis")); n != 11 || err != nil {
			t.Fatal(n, err)
		}
		wantValue(t, s, "k", "Hello Redis")
		if n, _ := s.SetRange(b("pad"), 3, b("ab")); n != 5 {
			t.Fatal(n)
		}
		wantValue(t, s, "pad", "\x00\x00\x00ab")
		if n, _ := s.SetRange(b("pad"), 1, b("Z")); n != 5 {
			t.Fatal(n)
		}
		wantValue(t, s, "pad", "\x00Z\x00ab")
	})
	t.Run("edge: empty ranges, limits and types", func(t *testing.T) {
		s := open(t, store.Config{})
		if v, err := s.GetRange(b("nope"), 0, -1); v == nil || len(v) != 0 || err != nil {
			t.Fatalf("%#v %v", v, err)
		}
		set(t, s, "k", "abc")
		for _, r := range [][2]int64{{2, 1}, {-1, -5}, {5, 10}} {
			if v, _ := s.GetRange(b("k"), r[0], r[1]); len(v) != 0 {
				t.Fatalf("%v: %q", r, v)
			}
		}
		if v, _ := s.GetRange(b("k"), math.MinInt64, math.MaxInt64); string(v) != "abc" {
			t.Fatal(string(v))
		}
		if v, _ := s.GetRange(b("k"), math.MinInt64, math.MinInt64+1); string(v) != "a" { // both clamp to 0, as in Redis
			t.Fatal(string(v))
		}
		set(t, s, "e", "")
		if v, _ := s.GetRange(b("e"), 0, -1); v == nil || len(v) != 0 {
			t.Fatal(v)
		}
		if n, err := s.SetRange(b("nope"), 10, nil); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		wantMissing(t, s, "nope")
		if n, _ := s.SetRange(b("k"), 100, nil); n != 3 {
			t.Fatal(n)
		}
		_, err := s.SetRange(b("k"), -1, b("x"))
		wantErr(t, err, store.ErrOffset)
		_, err = s.SetRange(b("big"), store.MaxStringSize, b("x"))
		wantErr(t, err, store.ErrTooLarge)
		wantMissing(t, s, "big")
		_, err = s.SetRange(b("k"), math.MaxInt64, b("x"))
		wantErr(t, err, store.ErrTooLarge)
		wantValue(t, s, "k", "abc")
		hset(t, s, "h", "f", "v")
		_, err = s.GetRange(b("h"), 0, 1)
		wantErr(t, err, store.ErrWrongType)
		_, err = s.SetRange(b("h"), 0, b("x"))
		wantErr(t, err, store.ErrWrongType)
		_, err = s.SetRange(b("h"), 0, nil)
		wantErr(t, err, store.ErrWrongType)
	})
	t.Run("race: setrange at distinct offsets all land", func(t *testing.T) {
		s := open(t, store.Config{})
		const n = 64
		parallel(n, func(g int) {
			if _, err := s.SetRange(b("k"), int64(g), []byte{byte('A' + g%26)}); err != nil {
				t.Error(err)
			}
			_, _ = s.GetRange(b("k"), 0, -1)
		})
		v, _ := s.Get(b("k"))
		for g := range n {
			if v[g] != byte('A'+g%26) {
				t.Fatalf("offset %d lost: %q", g, v)
			}
		}
	})
}

func TestBits(t *testing.T) {
	whole := store.BitRange{Whole: true}
	t.Run("setbit, getbit, bitcount, bitpos", func(t *testing.T) {
		s := open(t, store.Config{})
		for _, off := range []int64{1, 7, 9} {
			if old, err := s.SetBit(b("k"), off, true); old != 0 || err != nil {
				t.Fatal(old, err)
			}
		}
		wantValue(t, s, "k", "\x41\x40") // 0100_0001 0100_0000
		if old, _ := s.SetBit(b("k"), 7, false); old != 1 {
			t.Fatal(old)
		}
		for off, want := range map[int64]int{0: 0, 1: 1, 7: 0, 9: 1, 100: 0} {
			if got, err := s.GetBit(b("k"), off); got != want || err != nil {
				t.Fatalf("GETBIT %d = %d %v", off, got, err)
			}
		}
		set(t, s, "f", "foobar")
		for _, tc := range []struct {
			r    store.BitRange
			want int64
		}{{whole, 26}, {store.BitRange{Start: 0, End: 0}, 4}, {store.BitRange{Start: 1, End: 1}, 6},
			{store.BitRange{Start: 1, End: 1, Bits: true}, 1}, {store.BitRange{Start: 5, End: 30, Bits: true}, 17},
			{store.BitRange{Start: -2, End: -1}, 7}, {store.BitRange{Start: 3, End: 1}, 0},
			// An end before the start of the string is 0, as in Redis.
			{store.BitRange{Start: 0, End: -100}, 4}, {store.BitRange{Start: -100, End: -100}, 4}} {
			if n, err := s.BitCount(b("f"), tc.r); n != tc.want || err != nil {
				t.Fatalf("BITCOUNT %+v = %d %v, want %d", tc.r, n, err, tc.want)
			}
		}
		set(t, s, "p", "\xff\xf0\x00")
		for _, tc := range []struct {
			bit  int
			r    store.BitRange
			want int64
		}{{0, whole, 12}, {1, whole, 0}, {1, store.BitRange{Start: 2, NoEnd: true}, -1}, {0, store.BitRange{Start: 1, End: 1}, 12},
			{1, store.BitRange{Start: 7, End: 15, Bits: true}, 7}, {0, store.BitRange{Start: 7, End: 15, Bits: true}, 12},
			{1, store.BitRange{Start: 0, End: -100}, 0}, {0, store.BitRange{Start: -100, End: -100}, -1}} {
			if n, err := s.BitPos(b("p"), tc.bit, tc.r); n != tc.want || err != nil {
				t.Fatalf("BITPOS %d %+v = %d %v, want %d", tc.bit, tc.r, n, err, tc.want)
			}
		}
	})
	t.Run("bitop and, or, xor, not", func(t *testing.T) {
		s := open(t, store.Config{})
		set(t, s, "a", "\xf0\x0f")
		set(t, s, "b", "\x3c")
		for _, tc := range []struct {
			op   store.BitOp
			srcs []string
			want string
		}{{store.BitAnd, []string{"a", "b"}, "\x30\x00"}, {store.BitOr, []string{"a", "b"}, "\xfc\x0f"},
			{store.BitXor, []string{"a", "b", "missing"}, "\xcc\x0f"}, {store.BitNot, []string{"b"}, "\xc3"}} {
			n, err := s.BitOpStore(tc.op, b("d"), bs(tc.srcs...))
			if n != len(tc.want) || err != nil {
				t.Fatal(tc.op, n, err)
			}
			wantValue(t, s, "d", tc.want)
		}
	})
	t.Run("edge: a missing key reads as zeros; an empty bitop result deletes its destination", func(t *testing.T) {
		s := open(t, store.Config{})
		if n, _ := s.BitCount(b("none"), whole); n != 0 {
			t.Fatal(n)
		}
		if p0, _ := s.BitPos(b("none"), 0, whole); p0 != 0 {
			t.Fatal(p0)
		}
		if p1, _ := s.BitPos(b("none"), 1, whole); p1 != -1 {
			t.Fatal(p1)
		}
		set(t, s, "d", "x")
		if n, err := s.BitOpStore(store.BitOr, b("d"), bs("none", "other")); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		wantMissing(t, s, "d")
		set(t, s, "src", "a")
		set(t, s, "d", "x")
		if ok, err := s.Expire(b("d"), store.Expiration{Kind: store.ExpireIn, In: time.Hour}, store.ExpireAlways); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if _, err := s.BitOpStore(store.BitAnd, b("d"), bs("src")); err != nil {
			t.Fatal(err)
		}
		if ttl := s.PTTL(b("d")); ttl != -1 {
			t.Fatalf("bitop kept the destination's TTL: %d", ttl)
		}
	})
	t.Run("edge: bad offsets, wrong types and bad bitops are refused and change nothing", func(t *testing.T) {
		s := open(t, store.Config{})
		for _, off := range []int64{-1, store.MaxBitOffset + 1} {
			_, err := s.SetBit(b("k"), off, true)
			wantErr(t, err, store.ErrOffset)
			_, err = s.GetBit(b("k"), off)
			wantErr(t, err, store.ErrOffset)
		}
		wantMissing(t, s, "k")
		hset(t, s, "h", "f", "v")
		_, err := s.SetBit(b("h"), 1, true)
		wantErr(t, err, store.ErrWrongType)
		_, err = s.GetBit(b("h"), 1)
		wantErr(t, err, store.ErrWrongType)
		_, err = s.BitCount(b("h"), whole)
		wantErr(t, err, store.ErrWrongType)
		_, err = s.BitPos(b("h"), 1, whole)
		wantErr(t, err, store.ErrWrongType)
		set(t, s, "d", "keep")
		_, err = s.BitOpStore(store.BitOr, b("d"), bs("h"))
		wantErr(t, err, store.ErrWrongType)
		_, err = s.BitOpStore(store.BitNot, b("d"), bs("a", "b"))
		wantErr(t, err, store.ErrBitOp)
		_, err = s.BitOpStore(store.BitAnd, b("d"), nil)
		wantErr(t, err, store.ErrBitOp)
		wantValue(t, s, "d", "keep")
	})
	t.Run("edge: bytes handed to a reader never change: setbit copies them, once", func(t *testing.T) {
		s := open(t, store.Config{})
		reads := map[string]func(k string) []byte{
			"get":      func(k string) []byte { v, _ := s.Get(b(k)); return v },
			"getrange": func(k string) []byte { v, _ := s.GetRange(b(k), 0, -1); return v },
			"mget":     func(k string) []byte { return s.MGet(bs(k))[0] },
			"getex":    func(k string) []byte { v, _ := s.GetEx(b(k), store.Expiration{}, false); return v },
			"set get": func(k string) []byte {
				r, _ := s.Set(b(k), b("\x00\x00"), store.SetOptions{Get: true})
				return r.Old
			},
			"copy": func(k string) []byte {
				if _, err := s.Copy(b(k), b(k+":copy"), true); err != nil {
					t.Fatal(err)
				}
				v, _ := s.Get(b(k + ":copy"))
				return bytes.Clone(v) // the copy's own reads are checked below
			},
		}
		for name, read := range reads {
			k := "r:" + name
			set(t, s, k, "\x00\x00")
			got := read(k)
			want := bytes.Clone(got)
			for off := range int64(16) {
				if _, err := s.SetBit(b(k), off, true); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: bytes read before SETBIT changed to %q", name, got)
			}
			wantValue(t, s, k, "\xff\xff")
		}
		set(t, s, "src", "\x00")
		if _, err := s.Copy(b("src"), b("dst"), false); err != nil {
			t.Fatal(err)
		}
		s.SetBit(b("dst"), 0, true)
		wantValue(t, s, "src", "\x00")
		s.SetBit(b("src"), 7, true)
		wantValue(t, s, "dst", "\x80")
		set(t, s, "ren", "\x00")
		before, _ := s.Get(b("ren"))
		check(t, s.Rename(b("ren"), b("renamed")))
		s.SetBit(b("renamed"), 0, true)
		if !bytes.Equal(before, []byte{0}) {
			t.Fatalf("a rename let SETBIT change bytes read before: %q", before)
		}
	})
	t.Run("edge: setbit on a bitmap never read whole allocates nothing; growing it is amortized", func(t *testing.T) {
		s := open(t, store.Config{})
		key, seq := b("k"), b("seq")
		s.SetBit(key, bitmapBits-1, true)
		bit := false
		if n := testing.AllocsPerRun(bitRounds, func() {
			bit = !bit
			s.SetBit(key, bitmapBits/2, bit)
		}); n != 0 {
			t.Fatalf("SETBIT in place allocated %v times per call", n)
		}
		grows := testing.AllocsPerRun(1, func() {
			for off := range int64(bitmapBits) {
				s.SetBit(seq, off, true)
			}
		})
		if grows > bitmapBits/bitsPerGrowth {
			t.Fatalf("%v allocations to grow a bitmap bit by bit to %d bits", grows, bitmapBits)
		}
	})
	t.Run("race: readers of a bitmap and setbits of it (the race detector checks the bytes readers hold)", func(t *testing.T) {
		s := open(t, store.Config{})
		s.SetBit(b("k"), bitmapBits-1, true)
		parallel(bitWriters, func(g int) {
			for i := range bitRounds {
				if g%2 == 0 {
					s.SetBit(b("k"), int64(i*bitWriters+g), true)
					continue
				}
				v, _ := s.Get(b("k"))
				n := 0
				for _, c := range v {
					n += int(c)
				}
				_ = n
			}
		})
	})
	t.Run("race: concurrent setbits of one key lose no bit", func(t *testing.T) {
		s := open(t, store.Config{})
		parallel(bitWriters, func(g int) {
			for i := range bitRounds {
				if _, err := s.SetBit(b("k"), int64(i*bitWriters+g), true); err != nil {
					t.Error(err)
					return
				}
			}
		})
		if n, _ := s.BitCount(b("k"), whole); n != bitWriters*bitRounds {
			t.Fatalf("%d bits set, want %d", n, bitWriters*bitRounds)
		}
	})
}

func TestHashes(t *testing.T) {
	t.Run("field commands", func(t *testing.T) {
		s := open(t, store.Config{})
		if n, err := s.HSet(b("h"), bs("a", "1", "b", "2", "a", "3")); n != 2 || err != nil {
			t.Fatal(n, err)
		}
		if v, _ := s.HGet(b("h"), b("a")); string(v) != "3" {
			t.Fatal(string(v))
		}
		if v, _ := s.HGet(b("h"), b("zz")); v != nil {
			t.Fatal(v)
		}
		if got, _ := s.HMGet(b("h"), bs("b", "zz", "a")); !slices.Equal(strs(got), []string{"2", "", "3"}) || got[1] != nil {
			t.Fatal(got)
		}
		if ok, _ := s.HSetNX(b("h"), b("a"), b("9")); ok {
			t.Fatal("HSETNX overwrote")
		}
		if ok, _ := s.HSetNX(b("h"), b("c"), b("")); !ok {
			t.Fatal("HSETNX did not set")
		}
		if v, _ := s.HGet(b("h"), b("c")); v == nil || len(v) != 0 {
			t.Fatal("empty field value read as missing")
		}
		if n, _ := s.HLen(b("h")); n != 3 {
			t.Fatal(n)
		}
		if ok, _ := s.HExists(b("h"), b("b")); !ok {
			t.Fatal("HEXISTS")
		}
		all, _ := s.HGetAll(b("h"))
		keys, _ := s.HKeys(b("h"))
		vals, _ := s.HVals(b("h"))
		m := map[string]string{}
		for i := 0; i < len(all); i += 2 {
			m[string(all[i])] = string(all[i+1])
			if string(keys[i/2]) != string(all[i]) || string(vals[i/2]) != string(all[i+1]) {
				t.Fatal("HKEYS/HVALS disagree with HGETALL")
			}
		}
		if fmt.Sprint(m) != "map[a:3 b:2 c:]" {
			t.Fatal(m)
		}
		if n, _ := s.HIncrBy(b("h"), b("n"), 5); n != 5 {
			t.Fatal(n)
		}
		if v, _ := s.HIncrByFloat(b("h"), b("b"), b("0.5")); string(v) != "2.5" {
			t.Fatal(string(v))
		}
		if n, _ := s.HStrLen(b("h"), b("b")); n != 3 {
			t.Fatal(n)
		}
		if n, _ := s.HDel(b("h"), bs("a", "zz", "a")); n != 1 {
			t.Fatal(n)
		}
	})
	t.Run("hrandfield", func(t *testing.T) {
		s := open(t, store.Config{})
		hset(t, s, "h", "a", "1", "b", "2", "c", "3")
		want := map[string]string{"a": "1", "b": "2", "c": "3"}
		got, _ := s.HRandField(b("h"), 2, false)
		if len(got) != 2 || string(got[0]) == string(got[1]) {
			t.Fatal(strs(got))
		}
		if got, _ := s.HRandField(b("h"), 10, true); len(got) != 6 {
			t.Fatal(strs(got))
		}
		got, _ = s.HRandField(b("h"), -10, true)
		if len(got) != 20 {
			t.Fatal(len(got))
		}
		for i := 0; i < len(got); i += 2 {
			if want[string(got[i])] != string(got[i+1]) {
				t.Fatal(strs(got))
			}
		}
		if got, err := s.HRandField(b("h"), 0, false); len(got) != 0 || err != nil {
			t.Fatal(got, err)
		}
		if got, err := s.HRandField(b("nope"), 5, false); len(got) != 0 || err != nil {
			t.Fatal(got, err)
		}
	})
	t.Run("hscan of small and large hashes", func(t *testing.T) {
		s := open(t, store.Config{})
		hset(t, s, "small", "a", "1", "b", "2")
		cur, pairs, err := s.HScan(b("small"), 0, nil, 1)
		if cur != 0 || len(pairs) != 4 || err != nil {
			t.Fatal(cur, strs(pairs), err)
		}
		if cur, _, _ := s.HScan(b("missing"), 99, nil, 1); cur != 0 {
			t.Fatal(cur)
		}
		for i := range 500 {
			hset(t, s, "big", "f"+strconv.Itoa(i), strconv.Itoa(i))
		}
		seen := map[string]int{}
		cur = 0
		for {
			cur, pairs, err = s.HScan(b("big"), cur, b("f1*"), 7)
			check(t, err)
			for i := 0; i < len(pairs); i += 2 {
				if string(pairs[i]) != "f"+string(pairs[i+1]) {
					t.Fatal(strs(pairs))
				}
				seen[string(pairs[i])]++
			}
			if cur == 0 {
				break
			}
		}
		if len(seen) != 111 { // f1, f10-f19, f100-f199
			t.Fatal(len(seen))
		}
		if cur, pairs, _ := s.HScan(b("big"), 0, nil, math.MaxInt); cur != 0 || len(pairs) != 1000 {
			t.Fatal("a huge COUNT must finish in one call", cur, len(pairs))
		}
	})
	t.Run("edge: wrong types, parse errors, deleting the last field", func(t *testing.T) {
		s := open(t, store.Config{})
		set(t, s, "str", "x")
		for _, fn := range []func() error{
			func() error { _, err := s.HSet(b("str"), bs("f", "v")); return err },
			func() error { _, err := s.HGet(b("str"), b("f")); return err },
			func() error { _, err := s.HMGet(b("str"), bs("f")); return err },
			func() error { _, err := s.HDel(b("str"), bs("f")); return err },
			func() error { _, err := s.HLen(b("str")); return err },
			func() error { _, err := s.HGetAll(b("str")); return err },
			func() error { _, err := s.HIncrBy(b("str"), b("f"), 1); return err },
			func() error { _, _, err := s.HScan(b("str"), 0, nil, 0); return err },
			func() error { _, err := s.HRandField(b("str"), 1, false); return err },
		} {
			wantErr(t, fn(), store.ErrWrongType)
		}
		hset(t, s, "h", "s", "abc", "big", "9223372036854775807")
		_, err := s.HIncrBy(b("h"), b("s"), 1)
		wantErr(t, err, store.ErrHashNotInteger)
		_, err = s.HIncrBy(b("h"), b("big"), 1)
		wantErr(t, err, store.ErrOverflow)
		_, err = s.HIncrByFloat(b("h"), b("s"), b("1"))
		wantErr(t, err, store.ErrHashNotFloat)
		_, err = s.HIncrByFloat(b("h"), b("new"), b("-inf"))
		wantErr(t, err, store.ErrInfiniteIncrement)
		if ok, _ := s.HExists(b("h"), b("new")); ok {
			t.Fatal("failed HINCRBYFLOAT created a field")
		}
		_, err = s.HIncrBy(b("fresh"), b("f"), math.MaxInt64)
		check(t, err)
		_, err = s.HIncrByFloat(b("nothash"), b("f"), b("nan"))
		wantErr(t, err, store.ErrNotFloat)
		wantMissing(t, s, "nothash")
		_, err = s.HSet(b("h"), bs("odd"))
		wantErr(t, err, store.ErrPairs)
		_, err = s.HRandField(b("h"), -(1 << 40), false)
		wantErr(t, err, store.ErrNotInteger)
		if got, err := s.HMGet(b("nope"), bs("a", "b")); len(got) != 2 || got[0] != nil || err != nil {
			t.Fatal(got, err)
		}
		_, _ = s.HDel(b("h"), bs("s", "big"))
		wantMissing(t, s, "h")
	})
	t.Run("edge: hincrbyfloat refuses an infinite increment before looking at the key, as Redis words it", func(t *testing.T) {
		s := open(t, store.Config{})
		if got, want := store.ErrInfiniteIncrement.Error(), "value is NaN or Infinity"; got != want {
			t.Fatalf("ErrInfiniteIncrement reads %q, want Redis's %q", got, want)
		}
		hset(t, s, "h", "f", "1", "big", "1e4932", "inf", "inf")
		set(t, s, "str", "1")
		for _, inf := range []string{"inf", "-inf", "+inf", "Infinity", "-INFINITY", "iNf"} {
			for _, key := range []string{"h", "missing", "str"} {
				_, err := s.HIncrByFloat(b(key), b("f"), b(inf))
				wantErr(t, err, store.ErrInfiniteIncrement)
			}
		}
		wantMissing(t, s, "missing")
		if v, _ := s.HGet(b("h"), b("f")); string(v) != "1" {
			t.Fatalf("a refused increment changed the field to %q", v)
		}
		// NaN is no float at all; a finite increment whose sum is not
		// finite is the other error, as in Redis.
		for _, nan := range []string{"nan", "-nan", "NaN"} {
			_, err := s.HIncrByFloat(b("h"), b("f"), b(nan))
			wantErr(t, err, store.ErrNotFloat)
		}
		_, err := s.HIncrByFloat(b("h"), b("big"), b("1e4932"))
		wantErr(t, err, store.ErrNaN)
		_, err = s.HIncrByFloat(b("h"), b("inf"), b("1"))
		wantErr(t, err, store.ErrNaN)
		// A double's overflow is within the long double's range, as in Redis.
		hset(t, s, "h", "double", "1e308")
		if v, err := s.HIncrByFloat(b("h"), b("double"), b("1e308")); err != nil || len(v) != 309 || !strings.HasPrefix(string(v), "1999999999999999999933") {
			t.Fatalf("1e308 + 1e308 = %.30q %v, want Redis's 309 digits 1999999999999999999933...", v, err)
		}
	})
	t.Run("edge: a hash that was large once draws random fields among the fields it has now", func(t *testing.T) {
		s := open(t, store.Config{})
		const peak, kept = 4096, 8
		for i := range peak {
			hset(t, s, "h", "f"+strconv.Itoa(i), strconv.Itoa(i))
		}
		// Delete from both ends and the middle, so that the draw list
		// moves entries around and the positions keep holes.
		want := map[string]string{}
		for i := range peak {
			if i%(peak/kept) == peak/kept/2 {
				want["f"+strconv.Itoa(i)] = strconv.Itoa(i)
				continue
			}
			_, _ = s.HDel(b("h"), bs("f"+strconv.Itoa(i)))
		}
		if n := store.RandomFieldPool(s, b("h")); n != kept {
			t.Fatalf("HRANDFIELD draws among %d positions of a hash of %d fields (peak %d)", n, kept, peak)
		}
		checkDraws := func(key string, want map[string]string) {
			t.Helper()
			got, err := s.HRandField(b(key), -20*int64(len(want)), true)
			check(t, err)
			for i := 0; i < len(got); i += 2 {
				if v, ok := want[string(got[i])]; !ok || v != string(got[i+1]) {
					t.Fatalf("drew %q=%q, not a field of %s", got[i], got[i+1], key)
				}
			}
			// Every field can be drawn: distinct draws of more than
			// the size return them all.
			got, err = s.HRandField(b(key), int64(len(want))+5, false)
			check(t, err)
			if len(got) != len(want) {
				t.Fatalf("a count above the size returned %d fields, want %d", len(got), len(want))
			}
			distinct := map[string]bool{}
			for _, f := range got {
				if _, ok := want[string(f)]; !ok || distinct[string(f)] {
					t.Fatalf("distinct draws %q of %s", strs(got), key)
				}
				distinct[string(f)] = true
			}
		}
		checkDraws("h", want)
		// Fields added again fill holes and join the draw list; a copy
		// draws among its own fields.
		for i := range 3 {
			k := "new" + strconv.Itoa(i)
			hset(t, s, "h", k, k)
			want[k] = k
		}
		checkDraws("h", want)
		if ok, err := s.Copy(b("h"), b("c"), false); !ok || err != nil {
			t.Fatal(ok, err)
		}
		_, _ = s.HDel(b("c"), bs("new0", "new1"))
		copied := maps.Clone(want)
		delete(copied, "new0")
		delete(copied, "new1")
		checkDraws("c", copied)
		checkDraws("h", want)
		if n := store.RandomFieldPool(s, b("c")); n != len(copied) {
			t.Fatalf("the copy draws among %d positions for %d fields", n, len(copied))
		}
		all, _ := s.HGetAll(b("h"))
		if len(all) != 2*len(want) {
			t.Fatal(len(all), len(want))
		}
	})
	t.Run("edge: a large hash survives deletes and re-adds", func(t *testing.T) {
		s := open(t, store.Config{})
		for i := range 300 {
			hset(t, s, "h", strconv.Itoa(i), strconv.Itoa(i))
		}
		for i := 0; i < 300; i += 3 {
			_, _ = s.HDel(b("h"), bs(strconv.Itoa(i)))
		}
		for i := 1000; i < 1050; i++ {
			hset(t, s, "h", strconv.Itoa(i), strconv.Itoa(i))
		}
		all, _ := s.HGetAll(b("h"))
		if len(all) != 2*(200+50) {
			t.Fatal(len(all))
		}
		for i := 0; i < len(all); i += 2 {
			if string(all[i]) != string(all[i+1]) {
				t.Fatal(string(all[i]), string(all[i+1]))
			}
		}
		if v, _ := s.HGet(b("h"), b("3")); v != nil {
			t.Fatal("deleted field found")
		}
	})
	t.Run("race: concurrent writers and readers of one hash", func(t *testing.T) {
		s := open(t, store.Config{})
		const goroutines, fields = 6, 100
		parallel(goroutines, func(g int) {
			for i := range fields {
				f := b(fmt.Sprintf("%d:%d", g, i))
				if _, err := s.HSet(b("h"), [][]byte{f, f, b("tmp"), b("x")}); err != nil {
					t.Error(err)
				}
				_, _ = s.HDel(b("h"), bs("tmp"))
				all, _ := s.HGetAll(b("h"))
				if len(all)%2 != 0 {
					t.Error("odd HGETALL")
				}
			}
		})
		_, _ = s.HDel(b("h"), bs("tmp"))
		if n, _ := s.HLen(b("h")); n != goroutines*fields {
			t.Fatal(n)
		}
	})
	t.Run("race: random fields drawn while fields come and go", func(t *testing.T) {
		s := open(t, store.Config{})
		const goroutines, fields, stable = 4, 200, 50
		for i := range stable {
			hset(t, s, "h", "stable"+strconv.Itoa(i), "s")
		}
		parallel(goroutines+1, func(g int) {
			if g == goroutines {
				for range fields {
					got, err := s.HRandField(b("h"), -10, true)
					check(t, err)
					for i := 0; i < len(got); i += 2 {
						if f, v := string(got[i]), string(got[i+1]); v != "s" && "v"+f != v {
							t.Errorf("drew %q=%q", f, v)
						}
					}
					if got, _ := s.HRandField(b("h"), 20, false); len(got) != 20 {
						t.Errorf("drew %d distinct fields, want 20", len(got))
					}
				}
				return
			}
			for i := range fields {
				f := fmt.Sprintf("%d:%d", g, i)
				hset(t, s, "h", f, "v"+f)
				if i%2 == 0 {
					_, _ = s.HDel(b("h"), bs(f))
				}
			}
		})
		n, _ := s.HLen(b("h"))
		if want := stable + goroutines*fields/2; n != want || store.RandomFieldPool(s, b("h")) != want {
			t.Fatal(n, store.RandomFieldPool(s, b("h")), want)
		}
	})
}

func TestKeyspace(t *testing.T) {
	t.Run("del, exists, type, touch, keys, randomkey, dbsize, flush", func(t *testing.T) {
		s := open(t, store.Config{})
		set(t, s, "a", "1")
		set(t, s, "b", "2")
		hset(t, s, "h", "f", "v")
		if n := s.Exists(bs("a", "a", "nope", "h")); n != 3 {
			t.Fatal(n)
		}
		if n := s.Touch(bs("a", "nope")); n != 1 {
			t.Fatal(n)
		}
		if s.Type(b("a")) != "string" || s.Type(b("h")) != "hash" || s.Type(b("nope")) != "none" {
			t.Fatal("TYPE")
		}
		got := strs(s.Keys(b("*")))
		slices.Sort(got)
		if !slices.Equal(got, []string{"a", "b", "h"}) {
			t.Fatal(got)
		}
		if got := strs(s.Keys(b("[ab]"))); len(got) != 2 {
			t.Fatal(got)
		}
		if k := string(s.RandomKey()); k != "a" && k != "b" && k != "h" {
			t.Fatal(k)
		}
		if n := s.Del(bs("a", "a", "nope")); n != 1 || s.DBSize() != 2 {
			t.Fatal(n, s.DBSize())
		}
		s.Flush()
		if s.DBSize() != 0 || s.RandomKey() != nil || s.Stats().UsedMemory != 0 {
			t.Fatal("FLUSH left data")
		}
	})
	t.Run("rename and copy", func(t *testing.T) {
		s := open(t, store.Config{})
		_, _ = s.Set(b("a"), b("1"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Hour}})
		check(t, s.Rename(b("a"), b("b")))
		wantMissing(t, s, "a")
		wantValue(t, s, "b", "1")
		if s.PTTL(b("b")) <= 0 {
			t.Fatal("RENAME dropped the TTL")
		}
		set(t, s, "c", "x")
		if ok, err := s.RenameNX(b("b"), b("c")); ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, _ := s.RenameNX(b("b"), b("d")); !ok {
			t.Fatal("RENAMENX")
		}
		if ok, err := s.Copy(b("d"), b("e"), false); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if s.PTTL(b("e")) <= 0 {
			t.Fatal("COPY dropped the TTL")
		}
		if ok, _ := s.Copy(b("d"), b("c"), false); ok {
			t.Fatal("COPY replaced without REPLACE")
		}
		if ok, _ := s.Copy(b("d"), b("c"), true); !ok {
			t.Fatal("COPY REPLACE")
		}
		wantValue(t, s, "c", "1")
		_, _ = s.Append(b("c"), b("c"))
		_, _ = s.Append(b("d"), b("d"))
		wantValue(t, s, "c", "1c")
		wantValue(t, s, "d", "1d")
		hset(t, s, "h", "f", "v")
		_, _ = s.Copy(b("h"), b("h2"), false)
		hset(t, s, "h2", "f", "changed", "g", "new")
		if v, _ := s.HGet(b("h"), b("f")); string(v) != "v" {
			t.Fatal("COPY shares the hash")
		}
		if n, _ := s.HLen(b("h")); n != 1 {
			t.Fatal(n)
		}
	})
	t.Run("edge: missing and identical keys", func(t *testing.T) {
		s := open(t, store.Config{})
		wantErr(t, s.Rename(b("nope"), b("x")), store.ErrNoSuchKey)
		wantErr(t, s.Rename(b("nope"), b("nope")), store.ErrNoSuchKey)
		_, err := s.RenameNX(b("nope"), b("x"))
		wantErr(t, err, store.ErrNoSuchKey)
		set(t, s, "k", "v")
		check(t, s.Rename(b("k"), b("k")))
		if ok, err := s.RenameNX(b("k"), b("k")); ok || err != nil {
			t.Fatal(ok, err)
		}
		_, err = s.Copy(b("k"), b("k"), true)
		wantErr(t, err, store.ErrSameKey)
		if ok, err := s.Copy(b("nope"), b("x"), true); ok || err != nil {
			t.Fatal(ok, err)
		}
		_, _ = s.Set(b("ttl"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Hour}})
		check(t, s.Rename(b("k"), b("ttl"))) // dst's TTL goes with dst
		if s.PTTL(b("ttl")) != -1 {
			t.Fatal("RENAME kept the destination's TTL")
		}
		set(t, s, "", "empty key")
		if got := s.Keys(b("*")); len(got) != 2 {
			t.Fatal(strs(got))
		}
		if got := s.Keys(b("?*")); len(got) != 1 {
			t.Fatal(strs(got))
		}
		if s.Del(nil) != 0 || s.Exists(nil) != 0 || len(s.MGet(nil)) != 0 {
			t.Fatal("empty key lists")
		}
	})
	t.Run("present reports whether a key exists without counting an access", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		set(t, s, "k", "v")
		hset(t, s, "h", "f", "v")
		if !s.Present(b("k")) || !s.Present(b("h")) || s.Present(b("missing")) {
			t.Fatal("Present")
		}
		if st := s.Stats(); st.KeyspaceHits != 0 || st.KeyspaceMisses != 0 {
			t.Fatalf("Present counted accesses: %+v", st)
		}
		_, _ = s.Expire(b("k"), store.Expiration{Kind: store.ExpireIn, In: time.Second}, store.ExpireAlways)
		clk.Advance(time.Second + time.Millisecond)
		if s.Present(b("k")) {
			t.Fatal("an expired key is present")
		}
	})
	t.Run("encoding names the shape of a value as Redis does", func(t *testing.T) {
		s := open(t, store.Config{})
		set(t, s, "int", "-9223372036854775808")
		set(t, s, "not-int", "007")
		set(t, s, "embstr", strings.Repeat("e", 44))
		set(t, s, "raw", strings.Repeat("r", 45))
		small := [][]byte{b("f"), b("v")}
		var large [][]byte
		for i := range 33 {
			large = append(large, b("f"+strconv.Itoa(i)), b("v"))
		}
		for k, pairs := range map[string][][]byte{"small": small, "large": large} {
			if _, err := s.HSet(b(k), pairs); err != nil {
				t.Fatal(err)
			}
		}
		for key, want := range map[string]string{
			"int": "int", "not-int": "embstr", "embstr": "embstr", "raw": "raw", "small": "listpack", "large": "hashtable",
		} {
			if got, ok := s.Encoding(b(key)); !ok || got != want {
				t.Errorf("Encoding(%s) = %q, %v, want %q", key, got, ok, want)
			}
		}
		if _, ok := s.Encoding(b("missing")); ok {
			t.Fatal("a missing key has an encoding")
		}
	})
	t.Run("edge: a string's encoding follows how it was written, as in Redis", func(t *testing.T) {
		s := open(t, store.Config{})
		long := strings.Repeat("1", 45)
		for _, tc := range []struct {
			name  string
			write func(k []byte) error
			want  string
		}{
			// INCRBYFLOAT stores text, never tried as an integer.
			{"incrbyfloat to a whole number", func(k []byte) error {
				_, _ = s.Set(k, b("1.5"), store.SetOptions{})
				_, err := s.IncrByFloat(k, b("1.5"))
				return err
			}, "embstr"},
			{"incrbyfloat of a missing key", func(k []byte) error { _, err := s.IncrByFloat(k, b("3")); return err }, "embstr"},
			{"incrbyfloat to a fraction", func(k []byte) error { _, err := s.IncrByFloat(k, b("10.5")); return err }, "embstr"},
			{"incrbyfloat past 44 bytes", func(k []byte) error { _, err := s.IncrByFloat(k, b(long)); return err }, "raw"},
			{"incr after incrbyfloat", func(k []byte) error {
				_, _ = s.IncrByFloat(k, b("3"))
				_, err := s.IncrBy(k, 1)
				return err
			}, "int"},
			{"incr", func(k []byte) error { _, err := s.IncrBy(k, 5); return err }, "int"},
			// APPEND and SETRANGE create a key as SET does, and change an
			// existing one in place: raw, however short.
			{"append to a missing key", func(k []byte) error { _, err := s.Append(k, b("12")); return err }, "int"},
			{"append", func(k []byte) error {
				_, _ = s.Set(k, b("1"), store.SetOptions{})
				_, err := s.Append(k, b("2"))
				return err
			}, "raw"},
			{"append of nothing", func(k []byte) error {
				_, _ = s.Set(k, b("ab"), store.SetOptions{})
				_, err := s.Append(k, nil)
				return err
			}, "raw"},
			{"setrange of a missing key", func(k []byte) error { _, err := s.SetRange(k, 0, b("1")); return err }, "raw"},
			{"setrange", func(k []byte) error {
				_, _ = s.Set(k, b("123"), store.SetOptions{})
				_, err := s.SetRange(k, 1, b("4"))
				return err
			}, "raw"},
			{"setrange of nothing writes nothing", func(k []byte) error {
				_, _ = s.Set(k, b("123"), store.SetOptions{})
				_, err := s.SetRange(k, 0, nil)
				return err
			}, "int"},
			{"setbit", func(k []byte) error { _, err := s.SetBit(k, 3, true); return err }, "raw"},
			{"setbit to the bit it was", func(k []byte) error {
				_, _ = s.Set(k, b("a"), store.SetOptions{})
				_, err := s.SetBit(k, 0, false)
				return err
			}, "raw"},
			{"bitop", func(k []byte) error {
				_, _ = s.Set(b("bitop-src"), b("1"), store.SetOptions{})
				_, err := s.BitOpStore(store.BitOr, k, bs("bitop-src"))
				return err
			}, "raw"},
			// A whole write starts over; TTL changes, renames and copies
			// keep the encoding.
			{"set after append", func(k []byte) error {
				_, _ = s.Append(k, b("1"))
				_, _ = s.Append(k, b("2"))
				_, err := s.Set(k, b("12"), store.SetOptions{})
				return err
			}, "int"},
			{"expire and getex after append", func(k []byte) error {
				_, _ = s.Set(k, b("1"), store.SetOptions{})
				_, _ = s.Append(k, b("2"))
				_, _ = s.Expire(k, store.Expiration{Kind: store.ExpireIn, In: time.Hour}, store.ExpireAlways)
				_, err := s.GetEx(k, store.Expiration{Kind: store.ExpireIn, In: time.Hour}, true)
				return err
			}, "raw"},
			{"rename after append", func(k []byte) error {
				_, _ = s.Set(b("rename-src"), b("1"), store.SetOptions{})
				_, _ = s.Append(b("rename-src"), b("2"))
				return s.Rename(b("rename-src"), k)
			}, "raw"},
			{"copy after incrbyfloat", func(k []byte) error {
				_, _ = s.IncrByFloat(b("copy-src"), b("3"))
				_, err := s.Copy(b("copy-src"), k, false)
				return err
			}, "embstr"},
		} {
			k := b("k:" + tc.name)
			if err := tc.write(k); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got, ok := s.Encoding(k); !ok || got != tc.want {
				t.Errorf("%s: encoding %q (exists %v), want %q", tc.name, got, ok, tc.want)
			}
		}
	})
	t.Run("edge: keys of every length, stored in the entry or apart", func(t *testing.T) {
		s := open(t, store.Config{Shards: 1})
		var keys []string
		for _, n := range []int{0, 1, 19, 20, 21, 64, 1000} {
			keys = append(keys, strings.Repeat("k", n))
		}
		for i, k := range keys {
			set(t, s, k, k+"="+strconv.Itoa(i))
			if _, err := s.HSet(b("h"+k), [][]byte{b("f"), b(k)}); err != nil {
				t.Fatal(err)
			}
		}
		got := s.Keys(b("*"))
		// A returned key is a copy: other keys taking the entries of the
		// keys returned must not change it.
		others := [][]byte{}
		for _, k := range keys[1:] { // the empty key has no other of its length
			s.Del([][]byte{b(k), b("h" + k)})
			others = append(others, b(strings.Repeat("x", len(k))), b(strings.Repeat("y", len(k))))
			set(t, s, string(others[len(others)-2]), "other")
			set(t, s, string(others[len(others)-1]), "other")
		}
		if len(got) != 2*len(keys) {
			t.Fatal(strs(got))
		}
		want := map[string]bool{}
		for _, k := range keys {
			want[k], want["h"+k] = true, true
		}
		for _, k := range got {
			if !want[string(k)] {
				t.Fatalf("key %q", k)
			}
			delete(want, string(k))
		}
		s.Del(others)
		for i, k := range keys[1:] {
			set(t, s, k, k+"="+strconv.Itoa(i+1))
			if _, err := s.HSet(b("h"+k), [][]byte{b("f"), b(k)}); err != nil {
				t.Fatal(err)
			}
		}
		for i, k := range keys {
			if v, ok := get(t, s, k); !ok || v != k+"="+strconv.Itoa(i) {
				t.Fatal(len(k), v)
			}
			if v, _ := s.HGet(b("h"+k), b("f")); string(v) != k {
				t.Fatal(len(k), string(v))
			}
			if ok, err := s.Copy(b(k), b("c"+k), false); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if s.Exists([][]byte{b("c" + k)}) != 1 || s.Exists([][]byte{b(k + "x")}) != 0 {
				t.Fatal(len(k))
			}
		}
		if k := s.RandomKey(); k == nil {
			t.Fatal("no random key")
		}
		if n := s.Del([][]byte{b(keys[3]), b(keys[4]), b("h" + keys[6])}); n != 3 {
			t.Fatal(n)
		}
		if s.DBSize() != 3*len(keys)-3 {
			t.Fatal(s.DBSize())
		}
	})
	t.Run("edge: keys removed and added in any order leave the others intact", func(t *testing.T) {
		// One shard, so that its keys span many pages and removals leave
		// holes that later keys fill.
		s := open(t, store.Config{Shards: 1})
		rng := rand.New(rand.NewPCG(3, 4))
		live := map[string]string{}
		for round := range 4 {
			for i := range 1000 {
				k, v := fmt.Sprintf("k%d-%d", round, i), fmt.Sprintf("v%d", rng.IntN(1e6))
				set(t, s, k, v)
				live[k] = v
			}
			for k := range live {
				if rng.IntN(3) > 0 {
					if s.Del([][]byte{b(k)}) != 1 {
						t.Fatal("missing", k)
					}
					delete(live, k)
				}
			}
			if s.DBSize() != len(live) || len(s.Keys(b("*"))) != len(live) {
				t.Fatal(round, s.DBSize(), len(live))
			}
			for k, v := range live {
				if got, ok := get(t, s, k); !ok || got != v {
					t.Fatal(k, got, v)
				}
			}
		}
		for k := range live {
			s.Del([][]byte{b(k)})
		}
		if st := s.Stats(); st.Keys != 0 || st.UsedMemory != 0 || len(s.Keys(b("*"))) != 0 {
			t.Fatal(st)
		}
	})
	t.Run("edge: expired keys are missing everywhere", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		_, _ = s.Set(b("gone"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		hset(t, s, "h", "f", "v")
		_, _ = s.Expire(b("h"), store.Expiration{Kind: store.ExpireIn, In: time.Second}, store.ExpireAlways)
		clk.Advance(2 * time.Second)
		if s.DBSize() != 2 {
			t.Fatal("DBSize counts keys not reclaimed yet, as Redis does")
		}
		if len(s.Keys(b("*"))) != 0 || s.RandomKey() != nil || s.Type(b("gone")) != "none" {
			t.Fatal("expired keys visible")
		}
		if n, _ := s.HLen(b("h")); n != 0 {
			t.Fatal(n)
		}
		if err := s.Rename(b("gone"), b("x")); !errors.Is(err, store.ErrNoSuchKey) {
			t.Fatal(err)
		}
		if s.DBSize() != 0 || s.Stats().ExpiredKeys != 2 {
			t.Fatal(s.DBSize(), s.Stats())
		}
	})
	t.Run("race: renames and copies across shards do not deadlock", func(t *testing.T) {
		s := open(t, store.Config{Shards: 4})
		keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
		for _, k := range keys {
			set(t, s, k, k)
		}
		parallel(8, func(g int) {
			for i := range 300 {
				a, c := b(keys[(g+i)%8]), b(keys[(g*3+i+1)%8])
				switch i % 4 {
				case 0:
					_ = s.Rename(a, c)
				case 1:
					_, _ = s.Copy(a, c, true)
				case 2:
					_, _ = s.RenameNX(c, a)
				case 3:
					_ = s.MGet([][]byte{a, c})
				}
			}
		})
		if n := len(s.Keys(nil)); n != s.DBSize() || n == 0 {
			t.Fatal(n, s.DBSize())
		}
	})
}

func TestTTL(t *testing.T) {
	in := func(d time.Duration) store.Expiration { return store.Expiration{Kind: store.ExpireIn, In: d} }
	t.Run("expire, pttl, pexpiretime, persist, lazy expiry", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		set(t, s, "k", "v")
		if s.PTTL(b("k")) != -1 || s.PExpireTime(b("k")) != -1 || s.PTTL(b("nope")) != -2 || s.PExpireTime(b("nope")) != -2 {
			t.Fatal("PTTL of keys without TTL")
		}
		if ok, _ := s.Expire(b("k"), in(10*time.Second), store.ExpireAlways); !ok {
			t.Fatal("EXPIRE")
		}
		if s.PTTL(b("k")) != 10000 || s.PExpireTime(b("k")) != clk.Now().UnixMilli()+10000 {
			t.Fatal(s.PTTL(b("k")), s.PExpireTime(b("k")))
		}
		at := clk.Now().Add(time.Minute)
		_, _ = s.Expire(b("k"), store.Expiration{Kind: store.ExpireAt, At: at}, store.ExpireAlways)
		if s.PExpireTime(b("k")) != at.UnixMilli() || s.Stats().Expires != 1 {
			t.Fatal(s.PExpireTime(b("k")))
		}
		if !s.Persist(b("k")) || s.Persist(b("k")) || s.PTTL(b("k")) != -1 {
			t.Fatal("PERSIST")
		}
		_, _ = s.Expire(b("k"), in(time.Second), store.ExpireAlways)
		clk.Advance(time.Second)
		wantValue(t, s, "k", "v") // alive at its deadline, as in Redis
		clk.Advance(time.Millisecond)
		if _, ok := get(t, s, "k"); ok || s.Stats().ExpiredKeys != 1 || s.DBSize() != 0 {
			t.Fatal("not lazily expired")
		}
		_, _ = s.Set(b("g"), b("v"), store.SetOptions{Expire: in(time.Second)})
		if v, _ := s.GetEx(b("g"), in(time.Hour), true); string(v) != "v" || s.PTTL(b("g")) != 3600000 {
			t.Fatal("GETEX EX")
		}
		_, _ = s.GetEx(b("g"), store.Expiration{Kind: store.KeepTTL}, true)
		_, _ = s.GetEx(b("g"), store.Expiration{}, false)
		if s.PTTL(b("g")) != 3600000 {
			t.Fatal("GETEX without change touched the TTL")
		}
		_, _ = s.GetEx(b("g"), store.Expiration{Kind: store.NoExpire}, true)
		if s.PTTL(b("g")) != -1 {
			t.Fatal("GETEX PERSIST")
		}
	})
	t.Run("expire conditions", func(t *testing.T) {
		s := open(t, store.Config{})
		for _, tc := range []struct {
			ttl  time.Duration // 0 = none
			cond store.ExpireCond
			to   time.Duration
			want bool
		}{
			{0, store.ExpireNX, time.Hour, true}, {0, store.ExpireXX, time.Hour, false},
			{0, store.ExpireGT, time.Hour, false}, {0, store.ExpireLT, time.Hour, true},
			{time.Hour, store.ExpireNX, time.Minute, false}, {time.Hour, store.ExpireXX, time.Minute, true},
			{time.Hour, store.ExpireGT, 2 * time.Hour, true}, {time.Hour, store.ExpireGT, time.Minute, false},
			{time.Hour, store.ExpireLT, time.Minute, true}, {time.Hour, store.ExpireLT, 2 * time.Hour, false},
		} {
			set(t, s, "k", "v")
			if tc.ttl > 0 {
				_, _ = s.Expire(b("k"), in(tc.ttl), store.ExpireAlways)
			}
			if ok, err := s.Expire(b("k"), in(tc.to), tc.cond); ok != tc.want || err != nil {
				t.Fatalf("%+v: got %v %v", tc, ok, err)
			}
		}
	})
	t.Run("edge: past deadlines delete, writes reset or keep TTLs", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		if ok, _ := s.Expire(b("nope"), in(time.Hour), store.ExpireAlways); ok {
			t.Fatal("EXPIRE of a missing key")
		}
		set(t, s, "k", "v")
		if ok, _ := s.Expire(b("k"), store.Expiration{Kind: store.KeepTTL}, store.ExpireAlways); ok {
			t.Fatal("EXPIRE without a deadline")
		}
		if ok, _ := s.Expire(b("k"), in(time.Hour), store.ExpireGT); ok {
			t.Fatal("GT on a key without TTL")
		}
		if ok, _ := s.Expire(b("k"), in(-time.Second), store.ExpireAlways); !ok {
			t.Fatal("EXPIRE in the past")
		}
		wantMissing(t, s, "k")
		set(t, s, "k", "v")
		_, _ = s.Expire(b("k"), store.Expiration{Kind: store.ExpireAt, At: clk.Now()}, store.ExpireAlways)
		wantMissing(t, s, "k")
		r, _ := s.Set(b("k"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireAt, At: clk.Now().Add(-time.Hour)}})
		if !r.Applied {
			t.Fatal(r)
		}
		wantMissing(t, s, "k")
		_, _ = s.Set(b("k"), b("v"), store.SetOptions{Expire: in(time.Hour)})
		_, _ = s.Set(b("k"), b("w"), store.SetOptions{Expire: store.Expiration{Kind: store.KeepTTL}})
		if s.PTTL(b("k")) != 3600000 {
			t.Fatal("KEEPTTL")
		}
		set(t, s, "k", "x")
		if s.PTTL(b("k")) != -1 {
			t.Fatal("SET kept the TTL")
		}
		_, _ = s.Expire(b("k"), in(time.Hour), store.ExpireAlways)
		check(t, s.MSet(bs("k", "y")))
		if s.PTTL(b("k")) != -1 {
			t.Fatal("MSET kept the TTL")
		}
		_, _ = s.Expire(b("k"), in(time.Hour), store.ExpireAlways)
		_, _ = s.Append(b("k"), b("z"))
		hset(t, s, "h", "f", "v")
		_, _ = s.Expire(b("h"), in(time.Hour), store.ExpireAlways)
		hset(t, s, "h", "g", "w")
		if s.PTTL(b("k")) != 3600000 || s.PTTL(b("h")) != 3600000 {
			t.Fatal("APPEND or HSET dropped the TTL")
		}
		if v, _ := s.GetEx(b("k"), in(-time.Second), true); string(v) != "yz" {
			t.Fatal(string(v))
		}
		wantMissing(t, s, "k")
		set(t, s, "huge", "v")
		if ok, _ := s.Expire(b("huge"), in(math.MaxInt64), store.ExpireAlways); !ok || s.PTTL(b("huge")) <= 0 {
			t.Fatal("a huge TTL must saturate, not wrap")
		}
	})
	t.Run("race: expiry with concurrent writers and the active cycle", func(t *testing.T) {
		s := open(t, store.Config{ExpireInterval: time.Millisecond, Shards: 4})
		parallel(6, func(g int) {
			for i := range 300 {
				k := b(strconv.Itoa(i % 20))
				switch (g + i) % 5 {
				case 0:
					_, _ = s.Set(k, k, store.SetOptions{Expire: in(time.Millisecond)})
				case 1:
					_, _ = s.Expire(k, in(time.Duration(i%3)*time.Millisecond), store.ExpireAlways)
				case 2:
					s.Persist(k)
				case 3:
					_, _ = s.Get(k)
				case 4:
					s.PTTL(k)
				}
			}
		})
	})
}

func TestActiveExpiry(t *testing.T) {
	t.Run("expired keys are reclaimed without being accessed", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, ExpireInterval: testExpireInterval, Shards: 4})
		for i := range 100 {
			_, _ = s.Set(b("ttl"+strconv.Itoa(i)), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		}
		for i := range 10 {
			set(t, s, "keep"+strconv.Itoa(i), "v")
		}
		clk.Advance(2 * time.Second)
		time.Sleep(testExpireInterval + expiryMargin)
		st := s.Stats()
		if s.DBSize() != 10 || st.ExpiredKeys != 100 || st.Expires != 0 || st.KeyspaceHits+st.KeyspaceMisses != 0 {
			t.Fatalf("DBSize %d, %+v", s.DBSize(), st)
		}
	})
	t.Run("a frozen clock keeps keys that expire meanwhile, for commands and the cycle alike", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, ExpireInterval: testExpireInterval, Shards: 4})
		_, _ = s.Set(b("k"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		thaw := s.FreezeClock()
		clk.Advance(2 * time.Second)
		time.Sleep(testExpireInterval + expiryMargin)
		wantValue(t, s, "k", "v")
		if s.PTTL(b("k")) != time.Second.Milliseconds() || s.DBSize() != 1 {
			t.Fatalf("frozen: PTTL %d, DBSize %d", s.PTTL(b("k")), s.DBSize())
		}
		thaw()
		wantMissing(t, s, "k")
	})
	t.Run("edge: one shard with many more keys than a sample", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, ExpireInterval: testExpireInterval, Shards: 1})
		for i := range 1000 {
			_, _ = s.Set(b(strconv.Itoa(i)), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		}
		clk.Advance(2 * time.Second)
		time.Sleep(testExpireInterval + expiryMargin)
		if s.DBSize() != 0 {
			t.Fatal(s.DBSize())
		}
	})
	t.Run("edge: nothing is reclaimed after Close", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, ExpireInterval: testExpireInterval, Shards: 4})
		_, _ = s.Set(b("k"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		s.Close()
		clk.Advance(2 * time.Second)
		time.Sleep(testExpireInterval + expiryMargin)
		if s.DBSize() != 1 {
			t.Fatal(s.DBSize())
		}
	})
	t.Run("race: the cycle reclaims keys written concurrently", func(t *testing.T) {
		s := open(t, store.Config{ExpireInterval: time.Millisecond, Shards: 4})
		ttl := store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Millisecond}}
		parallel(4, func(g int) {
			for i := range 500 {
				_, _ = s.Set(b(fmt.Sprintf("%d:%d", g, i)), b("v"), ttl)
				_, _ = s.HSet(b(fmt.Sprintf("h%d:%d", g, i%50)), bs("f", "v"))
				_, _ = s.Expire(b(fmt.Sprintf("h%d:%d", g, i%50)), ttl.Expire, store.ExpireAlways)
			}
		})
		time.Sleep(time.Millisecond + expiryMargin)
		if n := s.DBSize(); n != 0 {
			t.Fatalf("%d keys left", n)
		}
	})
}

// keyCost returns the accounted bytes of one string key of this key and value size.
func keyCost(t *testing.T, key, value string) int64 {
	s := open(t, store.Config{})
	set(t, s, key, value)
	return s.Stats().UsedMemory
}

func TestEviction(t *testing.T) {
	const value = "0123456789"
	cost := keyCost(t, "k0", value)
	withTTL := store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Hour}}
	t.Run("noeviction refuses writes once over the limit", func(t *testing.T) {
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.NoEviction})
		for i := range 5 { // the fifth write takes it over the limit, as in Redis
			set(t, s, "k"+strconv.Itoa(i), value)
		}
		_, err := s.Set(b("k5"), b(value), store.SetOptions{})
		wantErr(t, err, store.ErrOOM)
		_, err = s.HSet(b("h"), bs("f", "v"))
		wantErr(t, err, store.ErrOOM)
		_, err = s.IncrBy(b("n"), 1)
		wantErr(t, err, store.ErrOOM)
		wantMissing(t, s, "k5", "h", "n")
		if s.DBSize() != 5 || s.Stats().EvictedKeys != 0 {
			t.Fatal(s.DBSize())
		}
		wantValue(t, s, "k0", value)
		s.Del(bs("k0", "k1"))
		set(t, s, "k5", value)
	})
	t.Run("allkeys-lru evicts the least recently used", func(t *testing.T) {
		// One shard holding no more keys than a sample: the choice is exact.
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.AllKeysLRU, Shards: 1})
		for i := 1; i <= 4; i++ {
			set(t, s, "k"+strconv.Itoa(i), value)
		}
		_, _ = s.Get(b("k1"))
		set(t, s, "k5", value)
		wantMissing(t, s, "k2")
		for _, k := range []string{"k1", "k3", "k4", "k5"} {
			wantValue(t, s, k, value)
		}
		if st := s.Stats(); st.EvictedKeys != 1 || st.UsedMemory > st.MaxMemory {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("allkeys-lru keeps memory under the limit across shards", func(t *testing.T) {
		cost4 := keyCost(t, "k000", value)
		s := open(t, store.Config{MaxMemory: 100 * cost4, Policy: store.AllKeysLRU})
		for i := range 1000 {
			set(t, s, fmt.Sprintf("k%03d", i), value)
			if st := s.Stats(); st.UsedMemory > st.MaxMemory {
				t.Fatalf("write %d: %+v", i, st)
			}
		}
		if st := s.Stats(); s.DBSize() != 100 || st.EvictedKeys != 900 {
			t.Fatalf("DBSize %d, %+v", s.DBSize(), st)
		}
	})
	t.Run("allkeys-lfu evicts the least frequently used", func(t *testing.T) {
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.AllKeysLFU, Shards: 1})
		for i := 1; i <= 4; i++ {
			set(t, s, "k"+strconv.Itoa(i), value)
		}
		// A new key's counter is 5 and its first read always counts.
		for _, k := range []string{"k1", "k2", "k4"} {
			_, _ = s.Get(b(k))
		}
		set(t, s, "k5", value)
		wantMissing(t, s, "k3")
		for _, k := range []string{"k1", "k2", "k4", "k5"} {
			wantValue(t, s, k, value)
		}
	})
	t.Run("volatile-lfu evicts only keys with a TTL, the least frequently used first", func(t *testing.T) {
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.VolatileLFU, Shards: 1})
		// Keys as long as the one the cost was measured with.
		set(t, s, "p0", value)
		for _, k := range []string{"h1", "c2", "w3"} {
			_, _ = s.Set(b(k), b(value), withTTL)
		}
		_, _ = s.Get(b("h1"))
		_, _ = s.Get(b("w3"))
		set(t, s, "n4", value)
		wantMissing(t, s, "c2")
		for _, k := range []string{"p0", "h1", "w3", "n4"} {
			wantValue(t, s, k, value)
		}
	})
	t.Run("edge: an LFU counter starts at 5, counts reads and loses one per idle minute", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, Policy: store.AllKeysLFU})
		set(t, s, "k", value)
		if n, ok := s.Frequency(b("k")); !ok || n != 5 {
			t.Fatalf("new key: %d, %v", n, ok)
		}
		for range 100 {
			_, _ = s.Get(b("k"))
		}
		hot, _ := s.Frequency(b("k"))
		if hot <= 5 {
			t.Fatalf("after 100 reads: %d", hot)
		}
		clk.Advance(2 * time.Minute)
		if n, _ := s.Frequency(b("k")); n != hot-2 {
			t.Fatalf("after two idle minutes: %d, want %d", n, hot-2)
		}
		clk.Advance(time.Duration(hot) * time.Minute)
		if n, _ := s.Frequency(b("k")); n != 0 {
			t.Fatalf("after a long idleness: %d", n)
		}
		if _, ok := s.Frequency(b("missing")); ok {
			t.Fatal("a missing key has a frequency")
		}
	})
	t.Run("volatile-lru evicts only keys with a TTL", func(t *testing.T) {
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.VolatileLRU, Shards: 1})
		set(t, s, "k1", value)
		set(t, s, "k2", value)
		_, _ = s.Set(b("t3"), b(value), withTTL)
		_, _ = s.Set(b("t4"), b(value), withTTL)
		set(t, s, "k5", value) // evicts t3
		set(t, s, "k6", value) // evicts t4
		set(t, s, "k7", value) // nothing evictable, not over yet: allowed
		_, err := s.Set(b("k8"), b(value), store.SetOptions{})
		wantErr(t, err, store.ErrOOM)
		wantMissing(t, s, "t3", "t4", "k8")
		for _, k := range []string{"k1", "k2", "k5", "k6", "k7"} {
			wantValue(t, s, k, value)
		}
		if s.Stats().EvictedKeys != 2 {
			t.Fatal(s.Stats())
		}
	})
	t.Run("volatile-ttl evicts the nearest deadline", func(t *testing.T) {
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.VolatileTTL, Shards: 1})
		set(t, s, "k1", value)
		for i, d := range []time.Duration{time.Hour, time.Minute, 2 * time.Hour} {
			_, _ = s.Set(b("t"+strconv.Itoa(i)), b(value), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: d}})
		}
		set(t, s, "k2", value)
		wantMissing(t, s, "t1")
		if s.DBSize() != 4 {
			t.Fatal(s.DBSize())
		}
	})
	t.Run("random policies keep the limit and their scope", func(t *testing.T) {
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.AllKeysRandom})
		for i := range 20 { // distinct keys: an overwrite may evict the key it writes
			set(t, s, string(rune('a'+i/10))+strconv.Itoa(i%10), value)
			if st := s.Stats(); st.UsedMemory > st.MaxMemory {
				t.Fatalf("%+v", st)
			}
		}
		if s.DBSize() != 4 {
			t.Fatal(s.DBSize())
		}
		v := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.VolatileRandom})
		set(t, v, "k1", value)
		set(t, v, "k2", value)
		_, _ = v.Set(b("t3"), b(value), withTTL)
		_, _ = v.Set(b("t4"), b(value), withTTL)
		set(t, v, "k5", value)
		if v.Exists(bs("k1", "k2", "k5")) != 3 || v.Exists(bs("t3", "t4")) != 1 {
			t.Fatal("volatile-random evicted a key without TTL")
		}
	})
	t.Run("edge: expired keys go first and accounting returns to zero", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{MaxMemory: 4 * cost, Policy: store.AllKeysLRU, Shards: 1, Now: clk.Now})
		set(t, s, "k1", value)
		set(t, s, "k2", value)
		_, _ = s.Set(b("k3"), b(value), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		set(t, s, "k4", value)
		clk.Advance(2 * time.Second)
		set(t, s, "k5", value)
		if st := s.Stats(); st.ExpiredKeys != 1 || st.EvictedKeys != 0 {
			t.Fatalf("%+v", st)
		}
		u := open(t, store.Config{})
		for i := range 200 {
			k := b(strconv.Itoa(i % 50))
			switch i % 6 {
			case 0:
				_, _ = u.Set(k, b(value), withTTL)
			case 1:
				_, _ = u.Append(k, b("more"))
			case 2:
				_, _ = u.HSet(b("h"+strconv.Itoa(i%7)), [][]byte{k, k})
			case 3:
				_, _ = u.Copy(k, b("c"+string(k)), true)
			case 4:
				_ = u.Rename(k, b("r"+string(k)))
			case 5:
				_, _ = u.SetRange(k, 20, b("x"))
			}
		}
		if u.Stats().UsedMemory <= 0 {
			t.Fatal("nothing accounted")
		}
		u.Del(u.Keys(nil))
		if st := u.Stats(); st.UsedMemory != 0 || st.Keys != 0 || st.Expires != 0 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("race: concurrent writers under allkeys-lru", func(t *testing.T) {
		const goroutines = 8
		s := open(t, store.Config{MaxMemory: 50 * cost, Policy: store.AllKeysLRU})
		parallel(goroutines, func(g int) {
			for i := range 500 {
				if _, err := s.Set(b(fmt.Sprintf("%d%d", g, i%10)), b(value), store.SetOptions{}); err != nil {
					t.Error(err)
				}
				_, _ = s.Get(b(fmt.Sprintf("%d%d", (g+1)%goroutines, i%10)))
			}
		})
		// Concurrent reservations may each let one write through.
		if st := s.Stats(); st.UsedMemory > st.MaxMemory+goroutines*cost {
			t.Fatalf("%+v", st)
		}
	})
}

// scanAll runs a full SCAN and counts how often each key was returned.
func scanAll(s *store.Store, match []byte, count int, typ string) map[string]int {
	seen := map[string]int{}
	cur := uint64(0)
	for {
		var keys [][]byte
		cur, keys = s.Scan(cur, match, count, typ)
		for _, k := range keys {
			seen[string(k)]++
		}
		if cur == 0 {
			return seen
		}
	}
}

func TestScan(t *testing.T) {
	t.Run("full iteration with match, type and count", func(t *testing.T) {
		s := open(t, store.Config{})
		for i := range 300 {
			set(t, s, "s"+strconv.Itoa(i), "v")
			hset(t, s, "h"+strconv.Itoa(i), "f", "v")
		}
		for _, count := range []int{0, 1, 7, 1000} {
			seen := scanAll(s, nil, count, "")
			if len(seen) != 600 {
				t.Fatal(count, len(seen))
			}
			for k, n := range seen {
				if n != 1 {
					t.Fatalf("%s returned %d times", k, n)
				}
			}
		}
		if n := len(scanAll(s, b("s1*"), 10, "")); n != 111 {
			t.Fatal(n)
		}
		if n := len(scanAll(s, nil, 10, "hash")); n != 300 {
			t.Fatal(n)
		}
		if n := len(scanAll(s, nil, 10, "list")); n != 0 {
			t.Fatal(n)
		}
	})
	t.Run("edge: empty store, foreign cursors, expired keys, empty key", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		if cur, keys := s.Scan(0, nil, 10, ""); cur != 0 || len(keys) != 0 {
			t.Fatal(cur, keys)
		}
		if cur, keys := s.Scan(math.MaxUint64, nil, 10, ""); cur != 0 || len(keys) != 0 {
			t.Fatal(cur, keys)
		}
		set(t, s, "", "v")
		_, _ = s.Set(b("gone"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		clk.Advance(2 * time.Second)
		if seen := scanAll(s, b("*"), 10, ""); len(seen) != 1 || seen[""] != 1 {
			t.Fatal(seen)
		}
		if cur, keys := s.Scan(0, nil, math.MaxInt, ""); cur != 0 || len(keys) != 1 {
			t.Fatal("a huge COUNT must finish in one call", cur, strs(keys))
		}
		if _, keys := s.Scan(12345, nil, 10, ""); slices.Contains(strs(keys), "gone") {
			t.Fatal("a cursor past a shard's end returned an expired key")
		}
	})
	t.Run("race: every key present throughout is returned exactly once", func(t *testing.T) {
		s := open(t, store.Config{Shards: 16})
		const stable = 2000
		for i := range stable {
			set(t, s, "stable:"+strconv.Itoa(i), "v")
			hset(t, s, "hash", "stable:"+strconv.Itoa(i), "v")
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					k := b(fmt.Sprintf("churn:%d:%d", g, i%500))
					if i%1000 < 500 {
						_, _ = s.Set(k, b("v"), store.SetOptions{})
						_, _ = s.HSet(b("hash"), [][]byte{k, k})
					} else {
						s.Del([][]byte{k})
						_, _ = s.HDel(b("hash"), [][]byte{k})
					}
				}
			}()
		}
		seen := scanAll(s, nil, 7, "")
		fields := map[string]int{}
		for cur := uint64(0); ; {
			var pairs [][]byte
			var err error
			cur, pairs, err = s.HScan(b("hash"), cur, nil, 7)
			check(t, err)
			for i := 0; i < len(pairs); i += 2 {
				fields[string(pairs[i])]++
			}
			if cur == 0 {
				break
			}
		}
		stop.Store(true)
		wg.Wait()
		for i := range stable {
			k := "stable:" + strconv.Itoa(i)
			if seen[k] != 1 || fields[k] != 1 {
				t.Fatalf("%s returned %d times by SCAN, %d by HSCAN", k, seen[k], fields[k])
			}
		}
	})
}

// browseAll walks a whole Browse iteration and counts how often each key
// came back; it fails when a page is longer than count.
func browseAll(t *testing.T, s *store.Store, match []byte, count int) (map[string]int, int) {
	t.Helper()
	seen := map[string]int{}
	calls := 0
	for cur := uint64(0); ; {
		var keys []store.KeyInfo
		cur, keys = s.Browse(cur, match, count, store.Preview{})
		calls++
		if len(keys) > count {
			t.Fatalf("page of %d keys for count %d", len(keys), count)
		}
		for _, k := range keys {
			seen[string(k.Key)]++
		}
		if cur == 0 {
			return seen, calls
		}
	}
}

func TestBrowse(t *testing.T) {
	small := store.Preview{Bytes: 4, Fields: 2}
	t.Run("keys with type, TTL, size and a bounded preview", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		set(t, s, "str", "hello world")
		_, err := s.Set(b("ttl"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: 10 * time.Second}})
		check(t, err)
		hset(t, s, "h", "f1", "value1", "f2", "v2", "field3", "v3")
		clk.Advance(time.Second)
		cur, keys := s.Browse(0, nil, 10, small)
		if cur != 0 || len(keys) != 3 {
			t.Fatalf("cursor %d, %d keys", cur, len(keys))
		}
		byKey := map[string]store.KeyInfo{}
		for _, k := range keys {
			byKey[string(k.Key)] = k
		}
		str := byKey["str"]
		if str.Type != "string" || str.PTTL != -1 || str.Len != 11 || string(str.Value) != "hell" || str.Fields != nil || str.Memory <= 11 {
			t.Fatalf("str: %+v", str)
		}
		if ttl := byKey["ttl"]; ttl.PTTL != 9000 || string(ttl.Value) != "v" || ttl.Len != 1 {
			t.Fatalf("ttl: %+v", ttl)
		}
		h := byKey["h"]
		if h.Type != "hash" || h.Len != 3 || h.Value != nil || len(h.Fields) != 2 {
			t.Fatalf("h: %+v", h)
		}
		if f := h.Fields[0]; string(f.Name) != "f1" || string(f.Value) != "valu" || f.NameLen != 2 || f.ValueLen != 6 {
			t.Fatalf("h field: %+v", f)
		}
		full, ok := s.Inspect(b("h"), store.Preview{Bytes: 100, Fields: 100})
		if !ok || len(full.Fields) != 3 || string(full.Fields[2].Name) != "field3" || string(full.Fields[2].Value) != "v3" {
			t.Fatalf("inspect h: %v %+v", ok, full)
		}
		if ki, ok := s.Inspect(b("str"), store.Preview{Bytes: 100}); !ok || string(ki.Value) != "hello world" || ki.Memory != str.Memory {
			t.Fatalf("inspect str: %v %+v", ok, ki)
		}
		if _, ok := s.Inspect(b("missing"), small); ok {
			t.Fatal("inspect of a missing key found it")
		}
	})
	t.Run("pages with a pattern cover every matching key once", func(t *testing.T) {
		s := open(t, store.Config{})
		for i := range 300 {
			set(t, s, "s"+strconv.Itoa(i), "v")
			hset(t, s, "h"+strconv.Itoa(i), "f", "v")
		}
		for _, count := range []int{1, 7, 1000} {
			seen, _ := browseAll(t, s, nil, count)
			if len(seen) != 600 {
				t.Fatal(count, len(seen))
			}
			for k, n := range seen {
				if n != 1 {
					t.Fatalf("%s returned %d times", k, n)
				}
			}
		}
		if seen, _ := browseAll(t, s, b("s1*"), 10); len(seen) != 111 {
			t.Fatal(len(seen))
		}
	})
	t.Run("edge: browsing is not an access", func(t *testing.T) {
		const value = "0123456789"
		cost := keyCost(t, "k0", value)
		// One shard holding no more keys than a sample: the LRU choice is exact.
		s := open(t, store.Config{MaxMemory: 2 * cost, Policy: store.AllKeysLRU, Shards: 1})
		set(t, s, "k1", value)
		set(t, s, "k2", value)
		before := s.Stats()
		s.Browse(0, nil, 10, small)
		s.Inspect(b("k1"), small)
		s.Inspect(b("missing"), small)
		if after := s.Stats(); after.KeyspaceHits != before.KeyspaceHits || after.KeyspaceMisses != before.KeyspaceMisses {
			t.Fatalf("hits/misses changed: %+v -> %+v", before, after)
		}
		set(t, s, "k3", value)
		wantMissing(t, s, "k1")
		wantValue(t, s, "k2", value)
	})
	t.Run("edge: expired, binary and empty keys, foreign cursors, zero previews", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now})
		binary := "\x00\xff<img src=x>\r\n"
		set(t, s, binary, "\x00\x01\x02")
		set(t, s, "", "empty key")
		_, err := s.Set(b("gone"), b("v"), store.SetOptions{Expire: store.Expiration{Kind: store.ExpireIn, In: time.Second}})
		check(t, err)
		clk.Advance(2 * time.Second)
		seen, _ := browseAll(t, s, nil, 10)
		if len(seen) != 2 || seen[binary] != 1 || seen[""] != 1 {
			t.Fatal(seen)
		}
		if _, ok := s.Inspect(b("gone"), small); ok || s.Stats().ExpiredKeys != 1 {
			t.Fatal("an expired key was inspected", s.Stats().ExpiredKeys)
		}
		if ki, ok := s.Inspect(b(binary), store.Preview{Bytes: 10}); !ok || string(ki.Value) != "\x00\x01\x02" {
			t.Fatalf("%v %+v", ok, ki)
		}
		if cur, keys := s.Browse(math.MaxUint64, nil, 10, small); cur != 0 || keys != nil {
			t.Fatal(cur, keys)
		}
		hset(t, s, "h", "f", "v")
		for _, p := range []store.Preview{{}, {Bytes: -1, Fields: -1}} {
			ki, ok := s.Inspect(b("h"), p)
			if !ok || ki.Len != 1 || len(ki.Fields) != 0 {
				t.Fatalf("%+v: %+v", p, ki)
			}
			if ki, _ := s.Inspect(b(""), p); len(ki.Value) != 0 || ki.Len != 9 {
				t.Fatalf("%+v: %+v", p, ki)
			}
		}
		if _, keys := s.Browse(0, nil, 0, small); len(keys) != 3 {
			t.Fatalf("count 0 uses the default: %d keys", len(keys))
		}
	})
	t.Run("edge: a rare match returns short pages with a cursor", func(t *testing.T) {
		s := open(t, store.Config{Shards: 1})
		for i := range 5000 {
			set(t, s, "hay:"+strconv.Itoa(i), "v")
		}
		set(t, s, "needle", "v")
		cur, keys := s.Browse(0, b("needle"), 1, small)
		if cur == 0 && len(keys) == 0 {
			t.Fatal("a bounded call ended the walk without finding the key")
		}
		seen, calls := browseAll(t, s, b("needle"), 1)
		if len(seen) != 1 || seen["needle"] != 1 || calls < 5000/100 {
			t.Fatalf("%v in %d calls", seen, calls)
		}
	})
	t.Run("race: browsing while keys and values change", func(t *testing.T) {
		s := open(t, store.Config{Shards: 16})
		const stable = 2000
		for i := range stable {
			set(t, s, "stable:"+strconv.Itoa(i), "v")
		}
		set(t, s, "grow", "")
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					k := b(fmt.Sprintf("churn:%d:%d", g, i%500))
					if i%1000 < 500 {
						_, _ = s.Set(k, b("v"), store.SetOptions{})
						_, _ = s.HSet(k, bs("f", "v"))
					} else {
						s.Del([][]byte{k})
					}
					_, _ = s.Append(b("grow"), b("x"))
				}
			}()
		}
		seen, _ := browseAll(t, s, nil, 7)
		for range 100 {
			_, keys := s.Browse(0, nil, 50, store.Preview{Bytes: 64, Fields: 4})
			for _, k := range keys {
				if string(k.Key) == "grow" && strings.Trim(string(k.Value), "x") != "" {
					t.Fatalf("torn preview %q", k.Value)
				}
			}
			if ki, ok := s.Inspect(b("grow"), store.Preview{Bytes: math.MaxInt}); !ok || int64(len(ki.Value)) != ki.Len {
				t.Fatalf("inspect grow: %v, %d bytes of %d", ok, len(ki.Value), ki.Len)
			}
		}
		stop.Store(true)
		wg.Wait()
		for i := range stable {
			if k := "stable:" + strconv.Itoa(i); seen[k] != 1 {
				t.Fatalf("%s returned %d times", k, seen[k])
			}
		}
	})
}

// recorder collects the store's keyspace events as "event key".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) notify(_ store.EventClass, event string, key []byte) {
	r.mu.Lock()
	r.events = append(r.events, event+" "+string(key))
	r.mu.Unlock()
}

// take returns the events so far and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

func TestEvents(t *testing.T) {
	in := func(d time.Duration) store.Expiration { return store.Expiration{Kind: store.ExpireIn, In: d} }
	t.Run("every change tells its event, as Redis names it", func(t *testing.T) {
		s := open(t, store.Config{})
		var r recorder
		s.SetNotifier(store.EventAll, r.notify)
		for _, step := range []struct {
			op   func()
			want []string
		}{
			{func() { set(t, s, "k", "v") }, []string{"set k"}},
			{func() { _, _ = s.Set(b("t"), b("v"), store.SetOptions{Expire: in(time.Hour)}) }, []string{"set t", "expire t"}},
			{func() { _, _ = s.Set(b("k"), b("w"), store.SetOptions{Cond: store.IfNotExists}) }, nil},
			{func() { _ = s.MSet(bs("a", "1", "b", "2")) }, []string{"set a", "set b"}},
			{func() { _, _ = s.IncrBy(b("n"), 2) }, []string{"incrby n"}},
			{func() { _, _ = s.IncrByFloat(b("f"), b("1.5")) }, []string{"incrbyfloat f"}},
			{func() { _, _ = s.Append(b("k"), b("x")) }, []string{"append k"}},
			{func() { _, _ = s.SetRange(b("k"), 1, b("y")) }, []string{"setrange k"}},
			{func() { _, _ = s.IncrBy(b("k"), 1) }, nil}, // not an integer: nothing changed
			{func() { _, _ = s.SetBit(b("bits"), 3, true) }, []string{"setbit bits"}},
			{func() { _, _ = s.SetBit(b("bits"), 3, true) }, nil}, // the bit was set: nothing changed
			{func() { _, _ = s.SetBit(b("bits"), 5, false) }, nil},
			{func() { _ = s.Del(bs("bits")) }, []string{"del bits"}},
			{func() { _, _ = s.HSet(b("h"), bs("f", "v", "g", "w")) }, []string{"hset h"}},
			{func() { _, _ = s.HSetNX(b("h"), b("f"), b("x")) }, nil},
			{func() { _, _ = s.HIncrBy(b("h"), b("n"), 1) }, []string{"hincrby h"}},
			{func() { _, _ = s.HIncrByFloat(b("h"), b("x"), b("0.5")) }, []string{"hincrbyfloat h"}},
			{func() { _, _ = s.HDel(b("h"), bs("f", "missing")) }, []string{"hdel h"}},
			{func() { _, _ = s.HDel(b("h"), bs("g", "n", "x")) }, []string{"hdel h", "del h"}},
			{func() { _, _ = s.Expire(b("k"), in(time.Minute), store.ExpireAlways) }, []string{"expire k"}},
			{func() { s.Persist(b("k")) }, []string{"persist k"}},
			{func() { s.Persist(b("k")) }, nil},
			{func() { _, _ = s.GetEx(b("k"), in(time.Minute), true) }, []string{"expire k"}},
			{func() { _, _ = s.GetEx(b("k"), store.Expiration{}, true) }, []string{"persist k"}},
			{func() { _ = s.Rename(b("k"), b("r")) }, []string{"rename_from k", "rename_to r"}},
			{func() { _, _ = s.Copy(b("r"), b("c"), false) }, []string{"copy_to c"}},
			{func() { _, _ = s.GetDel(b("c")) }, []string{"del c"}},
			{func() { s.Del(bs("a", "missing", "b")) }, []string{"del a", "del b"}},
			{func() { _, _ = s.Expire(b("r"), in(-time.Second), store.ExpireAlways) }, []string{"del r"}},
			{func() { s.Flush() }, nil},
		} {
			step.op()
			if got := r.take(); !slices.Equal(got, step.want) {
				t.Fatalf("events %q, want %q", got, step.want)
			}
		}
	})

	t.Run("expiry tells expired, on access and in the active cycle; eviction tells evicted", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, ExpireInterval: testExpireInterval, Shards: 1})
		var r recorder
		s.SetNotifier(store.EventAll, r.notify)
		_, _ = s.Set(b("lazy"), b("v"), store.SetOptions{Expire: in(time.Second)})
		r.take()
		clk.Advance(2 * time.Second)
		wantMissing(t, s, "lazy")
		if got := r.take(); !slices.Equal(got, []string{"expired lazy"}) {
			t.Fatalf("events %q", got)
		}
		_, _ = s.Set(b("active"), b("v"), store.SetOptions{Expire: in(time.Second)})
		r.take()
		clk.Advance(2 * time.Second)
		time.Sleep(testExpireInterval + expiryMargin)
		if got := r.take(); !slices.Equal(got, []string{"expired active"}) {
			t.Fatalf("events %q", got)
		}

		const value = "0123456789"
		lru := open(t, store.Config{MaxMemory: 2 * keyCost(t, "k0", value), Policy: store.AllKeysLRU, Shards: 1})
		lru.SetNotifier(store.EventEvicted, r.notify)
		for i := range 3 {
			set(t, lru, "k"+strconv.Itoa(i), value)
		}
		set(t, lru, "k3", value)
		if got := r.take(); len(got) == 0 || !strings.HasPrefix(got[0], "evicted k") {
			t.Fatalf("events %q, want an eviction", got)
		}
	})

	t.Run("edge: only the chosen classes are told", func(t *testing.T) {
		s := open(t, store.Config{})
		var r recorder
		s.SetNotifier(store.EventHash, r.notify)
		set(t, s, "k", "v")
		s.Del(bs("k"))
		_, _ = s.HSet(b("h"), bs("f", "v"))
		if got := r.take(); !slices.Equal(got, []string{"hset h"}) {
			t.Fatalf("events %q", got)
		}
	})

	t.Run("race: a notifier set while the active cycle reclaims keys", func(t *testing.T) {
		clk := newClock()
		s := open(t, store.Config{Now: clk.Now, ExpireInterval: testExpireInterval})
		for i := range 1000 {
			_, _ = s.Set(b(strconv.Itoa(i)), b("v"), store.SetOptions{Expire: in(time.Second)})
		}
		clk.Advance(2 * time.Second)
		// The cycle may reclaim keys before or after the notifier is set:
		// what is checked is that setting it races with nothing.
		var r recorder
		s.SetNotifier(store.EventExpired, r.notify)
		time.Sleep(testExpireInterval + expiryMargin)
		if s.DBSize() != 0 {
			t.Fatalf("DBSize %d", s.DBSize())
		}
	})
}

func TestConcurrency(t *testing.T) {
	t.Run("race: many goroutines increment one key to an exact total", func(t *testing.T) {
		s := open(t, store.Config{})
		parallel(16, func(int) {
			for range 250 {
				_, _ = s.IncrBy(b("n"), 3)
			}
		})
		wantValue(t, s, "n", strconv.Itoa(16*250*3))
	})
	t.Run("race: keys in and out of their entries, churned while others read", func(t *testing.T) {
		// One shard, so that removals and additions reuse each other's
		// entries while readers hold values and copies of keys. Fatal
		// belongs to the test's goroutine: the others report with Error.
		s := open(t, store.Config{Shards: 1})
		const writers, rounds = 4, 300
		parallel(writers+2, func(g int) {
			for i := range rounds {
				switch {
				case g < writers:
					// Keys of 19 to 22 bytes: both sides of the inline limit.
					k := b(fmt.Sprintf("%0*d", 19+i%4, g*rounds+i))
					if _, err := s.Set(k, k, store.SetOptions{}); err != nil {
						t.Error(err)
						return
					}
					if v, _ := s.Get(k); string(v) != string(k) {
						t.Errorf("%s read %q", k, v)
						return
					}
					if i%2 == 0 {
						renamed := append(slices.Clip(k), 'r')
						if err := s.Rename(k, renamed); err != nil {
							t.Error(err)
							return
						}
						s.Del([][]byte{renamed})
					}
				case g == writers:
					for _, k := range s.Keys(b("*")) {
						// A renamed key holds the name it was set under.
						want := strings.TrimSuffix(string(k), "r")
						if v, _ := s.Get(k); v != nil && string(v) != want {
							t.Errorf("%s holds %q", k, v)
							return
						}
					}
				default:
					var cursor uint64
					for {
						var keys [][]byte
						cursor, keys = s.Scan(cursor, nil, 0, "")
						for _, k := range keys {
							if len(k) < 19 {
								t.Errorf("scanned %q", k)
								return
							}
						}
						if cursor == 0 {
							break
						}
					}
				}
			}
		})
		if n := s.DBSize(); n != writers*rounds/2 {
			t.Fatal(n)
		}
	})
	t.Run("race: MGET sees MSET all or nothing", func(t *testing.T) {
		s := open(t, store.Config{})
		keys := bs("a", "b", "c", "d", "e", "f")
		check(t, s.MSet(bs("a", "0", "b", "0", "c", "0", "d", "0", "e", "0", "f", "0")))
		var stop atomic.Bool
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; !stop.Load(); i++ {
				v := b(strconv.Itoa(i))
				pairs := make([][]byte, 0, 2*len(keys))
				for _, k := range keys {
					pairs = append(pairs, k, v)
				}
				if err := s.MSet(pairs); err != nil {
					t.Error(err)
				}
			}
		}()
		parallel(4, func(int) {
			for range 2000 {
				vals := s.MGet(keys)
				for _, v := range vals[1:] {
					if string(v) != string(vals[0]) {
						t.Errorf("torn MSET: %q", strs(vals))
						return
					}
				}
			}
		})
		stop.Store(true)
		wg.Wait()
	})
}
