package dashboard_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nexo/commands"
	"nexo/dashboard"
	"nexo/engine/pubsub"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
	"nexo/resp"
	"nexo/wal"
)

const (
	// testPassword protects the servers of the authentication tests.
	testPassword = "s3cret"
	// shutdownTimeout bounds a test server's graceful stop.
	shutdownTimeout = 5 * time.Second
	// clientTimeout bounds one HTTP request or RESP exchange of a test.
	clientTimeout = 5 * time.Second
	// xssKey is a key that would run a script if a page inserted it as markup.
	xssKey = "<img src=x onerror=alert(1)>"
	// binaryValue is not UTF-8 text.
	binaryValue = "\x00\xff\x01abc"
	// wantPanels lists the panels of a server with every broker, in order.
	wantPanels = "store,queue,pubsub,stream"
	// detailPreviewBytes is the preview size of GET /api/store/key.
	detailPreviewBytes = 64 << 10
)

// clock is an injectable store clock that only moves when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// stack is the brokers, a RESP server and a dashboard, on free loopback
// ports and temporary data directories.
type stack struct {
	store  *store.Store
	queue  *queue.Broker
	pubsub *pubsub.Broker
	stream *stream.Broker
	clock  *clock
	resp   *commands.Server
	dash   *dashboard.Server
	url    string // http://127.0.0.1:PORT
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startStack starts the brokers, a RESP server and a dashboard; edit adjusts the dashboard's configuration.
func startStack(t testing.TB, edit func(*dashboard.Config)) *stack {
	t.Helper()
	clk := &clock{t: time.UnixMilli(1_700_000_000_000)}
	st, err := store.New(store.Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	qb, err := queue.Open(queue.Config{Dir: t.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}, Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qb.Close() })
	pb, err := pubsub.Open(pubsub.Config{Dir: t.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}, Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pb.Close() })
	sb, err := stream.Open(stream.Config{Dir: t.TempDir(), WAL: wal.Options{Fsync: wal.FsyncNo}, Now: clk.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg := dashboard.Config{Addr: "127.0.0.1:0", Version: "test", DataDir: "/data", Fsync: "always", Logger: quietLogger(),
		Store: st, Queue: qb, PubSub: pb, Stream: sb}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := commands.NewServer(commands.Config{
		Addr:       "127.0.0.1:0",
		Password:   cfg.Password,
		MaxClients: commands.DefaultMaxClients,
		Limits:     resp.Limits{MaxBulkLen: resp.DefaultMaxBulkLen, MaxMultibulkLen: resp.DefaultMaxMultibulkLen, MaxQueryBuffer: resp.DefaultMaxQueryBuffer},
		Version:    "test",
		Logger:     quietLogger(),
		Store:      st,
		Queue:      qb,
		PubSub:     pb,
		Stream:     sb,
		// Every command enters the slow log.
		SlowlogSlowerThan: 0,
		SlowlogMaxLen:     commands.DefaultSlowlogMaxLen,
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { shutdown(t, srv.Shutdown) })
	if cfg.Server == nil {
		cfg.Server = srv
	}
	d := serveDashboard(t, cfg)
	return &stack{store: st, queue: qb, pubsub: pb, stream: sb, clock: clk, resp: srv, dash: d, url: "http://" + d.Addr().String()}
}

func serveDashboard(t testing.TB, cfg dashboard.Config) *dashboard.Server {
	t.Helper()
	d, err := dashboard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- d.Serve() }()
	t.Cleanup(func() {
		shutdown(t, d.Shutdown)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return d
}

func shutdown(t testing.TB, f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// respConn is a minimal RESP client for known replies.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func (s *stack) dial(t *testing.T) *respConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.resp.Addr().String(), clientTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &respConn{c: c, r: bufio.NewReader(c)}
}

// do sends one command and returns its reply: status and error text, an
// integer, a bulk string, or "(nil)".
func (rc *respConn) do(t *testing.T, args ...string) string {
	t.Helper()
	reply, err := rc.send(args...)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// send is do for goroutines other than the test's.
func (rc *respConn) send(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	rc.c.SetDeadline(time.Now().Add(clientTimeout))
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return "", err
	}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "(nil)", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '+', '-', ':':
		return line[1:], nil
	}
	return "", fmt.Errorf("unexpected reply %q to %q", line, args)
}

// request sends an HTTP request and returns the status and body.
func request(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	client := &http.Client{Timeout: clientTimeout}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}

func get(t *testing.T, rawURL string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return request(t, req)
}

// getJSON fetches rawURL, wants 200 and decodes the body into v.
func getJSON(t *testing.T, rawURL string, v any) {
	t.Helper()
	status, _, body := get(t, rawURL)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", rawURL, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", rawURL, err, body)
	}
}

func wantStatus(t *testing.T, rawURL string, want int) []byte {
	t.Helper()
	status, _, body := get(t, rawURL)
	if status != want {
		t.Fatalf("GET %s: %d %s, want %d", rawURL, status, body, want)
	}
	return body
}

// post sends a JSON action with the dashboard's CSRF header unless headers
// replace it.
func post(t *testing.T, rawURL, body string, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if headers == nil {
		headers = map[string]string{"X-Nexo-Dashboard": "1"}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	status, _, out := request(t, req)
	return status, out
}

// JSON shapes of the API, as a client reads them.
type bytesView struct {
	Text      string `json:"text"`
	Binary    bool   `json:"binary"`
	Len       int64  `json:"len"`
	Truncated bool   `json:"truncated"`
	Base64    string `json:"base64"`
}

type keyView struct {
	ID          string     `json:"id"`
	Key         bytesView  `json:"key"`
	Type        string     `json:"type"`
	TTLMillis   int64      `json:"ttl_ms"`
	Len         int64      `json:"len"`
	MemoryBytes int64      `json:"memory_bytes"`
	Value       *bytesView `json:"value"`
	Fields      []struct {
		Name  bytesView `json:"name"`
		Value bytesView `json:"value"`
	} `json:"fields"`
}

type keyPage struct {
	Match  string    `json:"match"`
	Cursor string    `json:"cursor"`
	Keys   []keyView `json:"keys"`
}

type commandView struct {
	Name      string  `json:"name"`
	Calls     int64   `json:"calls"`
	Errors    int64   `json:"errors"`
	AvgMicros float64 `json:"avg_us"`
	P50Micros float64 `json:"p50_us"`
	P99Micros float64 `json:"p99_us"`
}

type snapshot struct {
	Time     time.Time `json:"time"`
	Overview struct {
		Version       string `json:"version"`
		GoVersion     string `json:"go_version"`
		UptimeSeconds int64  `json:"uptime_seconds"`
		Threads       int    `json:"threads"`
		Clients       struct {
			Connected        int   `json:"connected"`
			Max              int   `json:"max"`
			TotalConnections int64 `json:"total_connections"`
		} `json:"clients"`
		Memory struct {
			HeapBytes int64 `json:"heap_bytes"`
		} `json:"memory"`
		Commands struct {
			PerSecond int64         `json:"per_second"`
			Total     int64         `json:"total"`
			Errors    int64         `json:"errors"`
			Top       []commandView `json:"top"`
		} `json:"commands"`
		Network struct {
			InputBytes int64 `json:"input_bytes"`
		} `json:"network"`
		Persistence struct {
			DataDir string `json:"data_dir"`
			Fsync   string `json:"fsync"`
		} `json:"persistence"`
		SlowLog struct {
			ThresholdMicros int64 `json:"threshold_us"`
			Entries         []struct {
				ID             int64     `json:"id"`
				Time           time.Time `json:"time"`
				DurationMicros int64     `json:"duration_us"`
				Args           []string  `json:"args"`
				Client         string    `json:"client"`
			} `json:"entries"`
		} `json:"slowlog"`
	} `json:"overview"`
	Panels  []string `json:"panels"`
	Brokers struct {
		Store struct {
			Keys            int64   `json:"keys"`
			Expires         int64   `json:"expires"`
			UsedMemoryBytes int64   `json:"used_memory_bytes"`
			Policy          string  `json:"policy"`
			Hits            int64   `json:"hits"`
			Misses          int64   `json:"misses"`
			Persistence     string  `json:"persistence"`
			Page            keyPage `json:"page"`
		} `json:"store"`
	} `json:"brokers"`
}

func byKey(keys []keyView) map[string]keyView {
	out := make(map[string]keyView, len(keys))
	for _, k := range keys {
		raw, _ := base64.RawURLEncoding.DecodeString(k.ID)
		out[string(raw)] = k
	}
	return out
}

// fill creates n string keys prefix0..prefix(n-1).
func (s *stack) fill(t testing.TB, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.store.Set([]byte(prefix+strconv.Itoa(i)), []byte("v"), store.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSnapshot(t *testing.T) {
	t.Run("overview and the store's state as RESP clients left it", func(t *testing.T) {
		s := startStack(t, nil)
		rc := s.dial(t)
		for _, cmd := range [][]string{
			{"SET", "greeting", "hello", "EX", "100"},
			{"HSET", "user:1", "name", "Ada", "lang", "en"},
			{"SET", "blob", binaryValue},
			{"SET", xssKey, "x"},
			{"GET", "greeting"},
			{"GET", "missing"},
		} {
			rc.do(t, cmd...)
		}
		if reply := rc.do(t, "GET"); !strings.HasPrefix(reply, "ERR wrong number of arguments") {
			t.Fatal(reply)
		}
		s.clock.Advance(time.Second)
		var snap snapshot
		getJSON(t, s.url+"/api/snapshot", &snap)
		ov := snap.Overview
		if ov.Version != "test" || ov.GoVersion == "" || ov.Threads < 1 || ov.Clients.Connected != 1 || ov.Clients.Max != commands.DefaultMaxClients ||
			ov.Commands.Total != 6 || ov.Commands.Errors != 1 || ov.Memory.HeapBytes <= 0 || ov.Network.InputBytes <= 0 ||
			ov.Persistence.DataDir != "/data" || ov.Persistence.Fsync != "always" || snap.Time.IsZero() {
			t.Fatalf("overview: %+v", ov)
		}
		top := ov.Commands.Top
		// GET without its key was refused, not called: an error, not a call.
		if len(top) != 3 || top[0].Name != "set" || top[0].Calls != 3 || top[1].Name != "get" || top[1].Calls != 2 || top[1].Errors != 1 ||
			top[2].Name != "hset" || top[0].P50Micros <= 0 || top[0].P99Micros < top[0].P50Micros || top[0].AvgMicros <= 0 {
			t.Fatalf("top commands: %+v", top)
		}
		if strings.Join(snap.Panels, ",") != wantPanels {
			t.Fatalf("panels %v", snap.Panels)
		}
		// The slow log of a threshold of 0: the latest commands that ran,
		// newest first (the refused GET did not run).
		slow := ov.SlowLog
		if slow.ThresholdMicros != 0 || len(slow.Entries) != 6 || strings.Join(slow.Entries[0].Args, " ") != "GET missing" ||
			strings.Join(slow.Entries[1].Args, " ") != "GET greeting" || slow.Entries[0].ID != slow.Entries[1].ID+1 ||
			slow.Entries[0].Client == "" || slow.Entries[0].Time.IsZero() || slow.Entries[0].DurationMicros < 0 {
			t.Fatalf("slow log: %+v", slow)
		}
		st := snap.Brokers.Store
		if st.Keys != 4 || st.Expires != 1 || st.Policy != "noeviction" || st.Hits != 1 || st.Misses != 1 || st.UsedMemoryBytes <= 0 ||
			st.Persistence == "" || st.Page.Cursor != "0" || st.Page.Match != "*" || len(st.Page.Keys) != 4 {
			t.Fatalf("store: %+v", st)
		}
		keys := byKey(st.Page.Keys)
		if k := keys["greeting"]; k.Type != "string" || k.TTLMillis != 99_000 || k.Len != 5 || k.Value == nil || k.Value.Text != "hello" ||
			k.Value.Binary || k.Key.Text != "greeting" || k.MemoryBytes <= 0 {
			t.Fatalf("greeting: %+v", k)
		}
		if k := keys["user:1"]; k.Type != "hash" || k.TTLMillis != -1 || k.Len != 2 || k.Value != nil || len(k.Fields) != 2 ||
			k.Fields[0].Name.Text != "name" || k.Fields[0].Value.Text != "Ada" {
			t.Fatalf("user:1: %+v", k)
		}
		if k := keys["blob"]; !k.Value.Binary || k.Value.Text != `\x00\xff\x01abc` || k.Value.Len != 6 {
			t.Fatalf("blob: %+v", k.Value)
		}
		if k := keys[xssKey]; k.Key.Text != xssKey || k.Key.Binary {
			t.Fatalf("xss key: %+v", k.Key)
		}
	})
	t.Run("limit caps every list and the total is still reported", func(t *testing.T) {
		s := startStack(t, nil)
		s.fill(t, "k", 120)
		var snap snapshot
		getJSON(t, s.url+"/api/snapshot?limit=10", &snap)
		st := snap.Brokers.Store
		if st.Keys != 120 || len(st.Page.Keys) != 10 || st.Page.Cursor == "0" {
			t.Fatalf("keys %d, page of %d, cursor %s", st.Keys, len(st.Page.Keys), st.Page.Cursor)
		}
		getJSON(t, s.url+"/api/snapshot", &snap)
		if len(snap.Brokers.Store.Page.Keys) != 50 {
			t.Fatalf("default page of %d keys", len(snap.Brokers.Store.Page.Keys))
		}
	})
	t.Run("edge: an empty server answers empty lists, not null", func(t *testing.T) {
		s := startStack(t, nil)
		body := wantStatus(t, s.url+"/api/snapshot", http.StatusOK)
		for _, want := range []string{`"keys":[]`, `"top":[]`, `"panels":["` + strings.ReplaceAll(wantPanels, ",", `","`) + `"]`, `"list":[]`} {
			if !strings.Contains(string(body), want) {
				t.Fatalf("%s missing from %s", want, body)
			}
		}
	})
	t.Run("edge: bad limits are refused with a JSON error", func(t *testing.T) {
		s := startStack(t, nil)
		for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=ten"} {
			body := wantStatus(t, s.url+"/api/snapshot?"+q, http.StatusBadRequest)
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "limit") {
				t.Fatalf("%s: %s", q, body)
			}
		}
	})
	t.Run("edge: user data is escaped in the JSON itself", func(t *testing.T) {
		s := startStack(t, nil)
		s.dial(t).do(t, "SET", xssKey, "</script><script>alert(1)</script>")
		body := wantStatus(t, s.url+"/api/snapshot", http.StatusOK)
		if strings.ContainsAny(string(body), "<>") {
			t.Fatalf("raw markup in %s", body)
		}
	})
	t.Run("edge: the overview's quantiles come from the latency buckets", func(t *testing.T) {
		var lat commands.Latency
		lat.Counts[0], lat.Counts[1], lat.Counts[5] = 5, 4, 1 // ≤1 µs, ≤2 µs, ≤32 µs
		lat.Sum = 50 * time.Microsecond
		fake := fakeStats{Started: time.Now(), Commands: []commands.CommandStats{
			{Name: "ping", Calls: 1},
			{Name: "get", Calls: 10, Failures: 2, Rejected: 1, Latency: lat},
		}}
		s := startStack(t, func(c *dashboard.Config) { c.Server = fake })
		var snap snapshot
		getJSON(t, s.url+"/api/snapshot", &snap)
		top := snap.Overview.Commands.Top
		want := commandView{Name: "get", Calls: 10, Errors: 3, AvgMicros: 5, P50Micros: 1, P99Micros: 32}
		if len(top) != 2 || top[0] != want || top[1].Name != "ping" || top[1].P99Micros != 0 {
			t.Fatalf("%+v", top)
		}
	})
	t.Run("race: snapshots while clients write", func(t *testing.T) {
		s := startStack(t, nil)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 2 {
			rc := s.dial(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					k := fmt.Sprintf("k:%d:%d", g, i%200)
					for _, cmd := range [][]string{{"SET", k, "v"}, {"HSET", "h:" + k, "f", "v"}, {"DEL", k}} {
						if _, err := rc.send(cmd...); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
		for range 20 {
			var snap snapshot
			getJSON(t, s.url+"/api/snapshot?limit=100", &snap)
			scrape(t, s.url, "")
		}
		close(stop)
		wg.Wait()
	})
}

// fakeStats is a command layer with fixed counters.
type fakeStats commands.Stats

func (f fakeStats) Stats() commands.Stats { return commands.Stats(f) }

func TestBrowseKeys(t *testing.T) {
	t.Run("pages by cursor until the walk is complete, with a pattern", func(t *testing.T) {
		s := startStack(t, nil)
		s.fill(t, "user:", 150)
		s.fill(t, "session:", 150)
		for _, c := range []struct {
			match string
			want  int
		}{{"", 300}, {"*", 300}, {"user:*", 150}, {"user:1?", 10}, {"nothing*", 0}} {
			seen := map[string]int{}
			cursor, pages := "0", 0
			for {
				var page keyPage
				getJSON(t, s.url+"/api/store/keys?"+url.Values{"match": {c.match}, "cursor": {cursor}, "count": {"7"}}.Encode(), &page)
				pages++
				if len(page.Keys) > 7 {
					t.Fatalf("page of %d keys for count 7", len(page.Keys))
				}
				for _, k := range page.Keys {
					seen[k.Key.Text]++
				}
				if cursor = page.Cursor; cursor == "0" {
					break
				}
			}
			if len(seen) != c.want {
				t.Fatalf("match %q: %d keys, want %d", c.match, len(seen), c.want)
			}
			for k, n := range seen {
				if n != 1 {
					t.Fatalf("match %q: %s returned %d times", c.match, k, n)
				}
			}
			if c.want == 300 && pages < 300/7 {
				t.Fatalf("%d pages for 300 keys by 7", pages)
			}
		}
	})
	t.Run("edge: binary patterns and keys", func(t *testing.T) {
		s := startStack(t, nil)
		if _, err := s.store.Set([]byte("\xffkey"), []byte("v"), store.SetOptions{}); err != nil {
			t.Fatal(err)
		}
		var page keyPage
		getJSON(t, s.url+"/api/store/keys?match=%FF*", &page)
		if len(page.Keys) != 1 || !page.Keys[0].Key.Binary || page.Keys[0].Key.Text != `\xffkey` || page.Keys[0].ID != "_2tleQ" {
			t.Fatalf("%+v", page.Keys)
		}
	})
	t.Run("edge: bad parameters are refused, a foreign cursor ends the walk", func(t *testing.T) {
		s := startStack(t, nil)
		s.fill(t, "k", 3)
		for _, q := range []string{"count=0", "count=1001", "count=x", "cursor=-1", "cursor=abc", "cursor=18446744073709551616"} {
			wantStatus(t, s.url+"/api/store/keys?"+q, http.StatusBadRequest)
		}
		var page keyPage
		getJSON(t, s.url+"/api/store/keys?cursor=18446744073709551615", &page)
		if page.Cursor != "0" || len(page.Keys) != 0 {
			t.Fatalf("%+v", page)
		}
	})
}

func TestKeyDetail(t *testing.T) {
	t.Run("a string, a hash and binary data by id or by name", func(t *testing.T) {
		s := startStack(t, nil)
		rc := s.dial(t)
		rc.do(t, "SET", "s", "hello", "PX", "5000")
		rc.do(t, "HSET", "h", "a", "1", "b", binaryValue)
		rc.do(t, "SET", "blob", binaryValue)
		var k keyView
		getJSON(t, s.url+"/api/store/key?key=s", &k)
		if k.Type != "string" || k.Value.Text != "hello" || k.TTLMillis != 5000 || k.ID != "cw" {
			t.Fatalf("%+v", k)
		}
		getJSON(t, s.url+"/api/store/key?id="+base64.RawURLEncoding.EncodeToString([]byte("h")), &k)
		if k.Type != "hash" || k.Len != 2 || len(k.Fields) != 2 || k.Fields[1].Value.Text != `\x00\xff\x01abc` || !k.Fields[1].Value.Binary {
			t.Fatalf("%+v", k)
		}
		getJSON(t, s.url+"/api/store/key?key=blob", &k)
		if raw, _ := base64.StdEncoding.DecodeString(k.Value.Base64); !k.Value.Binary || string(raw) != binaryValue {
			t.Fatalf("%+v", k.Value)
		}
	})
	t.Run("edge: large values are cut, cut text stays text", func(t *testing.T) {
		s := startStack(t, nil)
		long := strings.Repeat("é", detailPreviewBytes) // two bytes each: the cut falls inside none
		if _, err := s.store.Set([]byte("long"), []byte("x"+long), store.SetOptions{}); err != nil {
			t.Fatal(err)
		}
		var k keyView
		getJSON(t, s.url+"/api/store/key?key=long", &k)
		if !k.Value.Truncated || k.Value.Binary || k.Value.Len != int64(1+len(long)) || len(k.Value.Text) != detailPreviewBytes-1 {
			t.Fatalf("len %d, text %d bytes, truncated %v, binary %v", k.Value.Len, len(k.Value.Text), k.Value.Truncated, k.Value.Binary)
		}
		var page keyPage
		getJSON(t, s.url+"/api/store/keys", &page)
		if v := page.Keys[0].Value; !v.Truncated || len(v.Text) >= 100 || v.Base64 != "" {
			t.Fatalf("page preview: %+v", v)
		}
	})
	t.Run("edge: missing keys and bad names", func(t *testing.T) {
		s := startStack(t, nil)
		wantStatus(t, s.url+"/api/store/key?key=missing", http.StatusNotFound)
		wantStatus(t, s.url+"/api/store/key", http.StatusBadRequest)
		wantStatus(t, s.url+"/api/store/key?id=!!", http.StatusBadRequest)
		wantStatus(t, s.url+"/api/store/key?id=YQ&key=a", http.StatusBadRequest)
	})
}

func TestDeleteKey(t *testing.T) {
	t.Run("deletes by id or by name and reports what it did", func(t *testing.T) {
		s := startStack(t, nil)
		rc := s.dial(t)
		rc.do(t, "SET", xssKey, "v")
		rc.do(t, "SET", "plain", "v")
		id := base64.RawURLEncoding.EncodeToString([]byte(xssKey))
		for _, c := range []struct{ body, want string }{
			{`{"id":"` + id + `"}`, `{"deleted":1}`},
			{`{"id":"` + id + `"}`, `{"deleted":0}`},
			{`{"key":"plain"}`, `{"deleted":1}`},
		} {
			status, out := post(t, s.url+"/api/store/delete", c.body, nil)
			if status != http.StatusOK || strings.TrimSpace(string(out)) != c.want {
				t.Fatalf("%s: %d %s", c.body, status, out)
			}
		}
		if got := rc.do(t, "EXISTS", xssKey, "plain"); got != "0" {
			t.Fatal(got)
		}
	})
	t.Run("edge: cross-site requests are refused and change nothing", func(t *testing.T) {
		s := startStack(t, nil)
		rc := s.dial(t)
		rc.do(t, "SET", "k", "v")
		body := `{"key":"k"}`
		for name, headers := range map[string]map[string]string{
			"no custom header": {},
			"cross-site fetch": {"X-Nexo-Dashboard": "1", "Sec-Fetch-Site": "cross-site"},
			"same-site fetch":  {"X-Nexo-Dashboard": "1", "Sec-Fetch-Site": "same-site"},
			"foreign origin":   {"X-Nexo-Dashboard": "1", "Origin": "http://evil.example"},
		} {
			if status, out := post(t, s.url+"/api/store/delete", body, headers); status != http.StatusForbidden {
				t.Fatalf("%s: %d %s", name, status, out)
			}
		}
		origin := map[string]string{"X-Nexo-Dashboard": "1", "Origin": s.url, "Sec-Fetch-Site": "same-origin"}
		if got := rc.do(t, "EXISTS", "k"); got != "1" {
			t.Fatal("a refused request deleted the key")
		}
		if status, out := post(t, s.url+"/api/store/delete", body, origin); status != http.StatusOK {
			t.Fatalf("same origin: %d %s", status, out)
		}
	})
	t.Run("edge: bad bodies and methods", func(t *testing.T) {
		s := startStack(t, nil)
		for body, want := range map[string]int{
			"":             http.StatusBadRequest,
			"{":            http.StatusBadRequest,
			`{"name":"k"}`: http.StatusBadRequest,
			`{}`:           http.StatusBadRequest,
			`{"id":"***"}`: http.StatusBadRequest,
			`{"key":"` + strings.Repeat("k", 2<<20) + `"}`: http.StatusRequestEntityTooLarge,
		} {
			if status, out := post(t, s.url+"/api/store/delete", body, nil); status != want {
				t.Fatalf("%.40q: %d %s, want %d", body, status, out, want)
			}
		}
		wantStatus(t, s.url+"/api/store/delete", http.StatusMethodNotAllowed)
	})
}

type queueView struct {
	ID        string    `json:"id"`
	Name      bytesView `json:"name"`
	Ready     int       `json:"ready"`
	Delayed   int       `json:"delayed"`
	InFlight  int       `json:"inflight"`
	Dead      int       `json:"dead"`
	Completed int       `json:"completed"`
	Paused    bool      `json:"paused"`
	Settings  struct {
		VisibilityMillis int64  `json:"visibility_ms"`
		MaxAttempts      int    `json:"max_attempts"`
		Backoff          string `json:"backoff"`
	} `json:"settings"`
	Overrides []string `json:"overrides"`
	Pushed    int64    `json:"pushed"`
	Acked     int64    `json:"acked"`
	Failed    int64    `json:"failed"`
}

type queueSnapshot struct {
	Queues      int         `json:"queues"`
	Ready       int64       `json:"ready"`
	Delayed     int64       `json:"delayed"`
	InFlight    int64       `json:"inflight"`
	Dead        int64       `json:"dead"`
	Completed   int64       `json:"completed"`
	Pushed      int64       `json:"pushed"`
	Acked       int64       `json:"acked"`
	Failed      int64       `json:"failed"`
	Persistence string      `json:"persistence"`
	List        []queueView `json:"list"`
}

type jobList struct {
	Queue bytesView `json:"queue"`
	State string    `json:"state"`
	Total int       `json:"total"`
	Jobs  []struct {
		ID           string     `json:"id"`
		State        string     `json:"state"`
		Payload      bytesView  `json:"payload"`
		Attempt      int        `json:"attempt"`
		Priority     int64      `json:"priority"`
		Enqueued     time.Time  `json:"enqueued"`
		Due          *time.Time `json:"due"`
		Deadline     *time.Time `json:"deadline"`
		FailureCount int        `json:"failure_count"`
		LastError    string     `json:"last_error"`
		Result       *bytesView `json:"result"`
	} `json:"jobs"`
}

type repeatList struct {
	Queue   bytesView `json:"queue"`
	Repeats []struct {
		Name     bytesView  `json:"name"`
		EveryMs  int64      `json:"every_ms"`
		Cron     string     `json:"cron"`
		Priority int64      `json:"priority"`
		Payload  bytesView  `json:"payload"`
		Next     *time.Time `json:"next"`
	} `json:"repeats"`
}

// queueMust returns a check of a queue call's result: it fails t on an
// error and otherwise waits until the change is durable.
func (s *stack) queueMust(t testing.TB) func(_ any, idx uint64, err error) {
	return func(_ any, idx uint64, err error) {
		t.Helper()
		if err == nil {
			err = s.queue.Wait(idx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// queueState fills queue "jobs" through the facade: max-attempts 1, ready
// jobs a, b (binary), c, a job delayed by a minute, one in flight and one
// dead, nacked with the message "boom".
func (s *stack) queueState(t testing.TB) {
	t.Helper()
	must := s.queueMust(t)
	idx, err := s.queue.Configure("jobs", [][2]string{{"max-attempts", "1"}})
	must(nil, idx, err)
	must(s.queue.Push("jobs", [][]byte{[]byte("held"), []byte("doomed")}, queue.PushOptions{}))
	must(s.queue.Push("jobs", [][]byte{[]byte("a"), []byte(binaryValue), []byte(xssKey)}, queue.PushOptions{Priority: -1}))
	must(s.queue.Push("jobs", [][]byte{[]byte("later")}, queue.PushOptions{Delay: time.Minute}))
	jobs, idx, err := s.queue.Pop("jobs", 1, queue.PopOptions{Count: 2})
	must(nil, idx, err)
	must(s.queue.Nack("jobs", 1, jobs[1].ID, queue.NackOptions{Message: "boom"}))
}

func TestQueuePanel(t *testing.T) {
	t.Run("snapshot: counts, settings and counters of each queue", func(t *testing.T) {
		s := startStack(t, nil)
		s.queueState(t)
		if _, err := s.queue.Pause("idle", true); err != nil {
			t.Fatal(err)
		}
		var snap struct {
			Brokers struct {
				Queue queueSnapshot `json:"queue"`
			} `json:"brokers"`
		}
		getJSON(t, s.url+"/api/snapshot", &snap)
		qs := snap.Brokers.Queue
		if qs.Queues != 2 || qs.Ready != 3 || qs.Delayed != 1 || qs.InFlight != 1 || qs.Dead != 1 || qs.Pushed != 6 || qs.Failed != 1 ||
			qs.Persistence == "" || len(qs.List) != 2 {
			t.Fatalf("queue snapshot %+v", qs)
		}
		idle, q := qs.List[0], qs.List[1]
		if idle.Name.Text != "idle" || !idle.Paused || q.Paused {
			t.Fatalf("idle %+v", idle)
		}
		if q.Name.Text != "jobs" || q.ID != base64.RawURLEncoding.EncodeToString([]byte("jobs")) || q.Ready != 3 || q.Delayed != 1 ||
			q.InFlight != 1 || q.Dead != 1 || q.Settings.MaxAttempts != 1 || q.Settings.VisibilityMillis != queue.DefaultVisibility.Milliseconds() ||
			q.Settings.Backoff != "exponential" || strings.Join(q.Overrides, ",") != "max-attempts" || q.Pushed != 6 || q.Failed != 1 {
			t.Fatalf("jobs %+v", q)
		}
		getJSON(t, s.url+"/api/snapshot?limit=1", &snap)
		if len(snap.Brokers.Queue.List) != 1 || snap.Brokers.Queue.Queues != 2 {
			t.Fatalf("limit 1: %+v", snap.Brokers.Queue)
		}
	})
	t.Run("jobs of each state, in queue order, binary-safe, without taking them", func(t *testing.T) {
		s := startStack(t, nil)
		s.queueState(t)
		payloads := func(l jobList) string {
			var out []string
			for _, j := range l.Jobs {
				out = append(out, j.Payload.Text)
			}
			return strings.Join(out, "|")
		}
		var l jobList
		getJSON(t, s.url+"/api/queue/jobs?queue=jobs&state=ready", &l)
		if l.State != "ready" || l.Queue.Text != "jobs" || l.Total != 3 || payloads(l) != `a|\x00\xff\x01abc|`+xssKey ||
			!l.Jobs[1].Payload.Binary || l.Jobs[0].Priority != -1 || l.Jobs[0].Attempt != 0 || l.Jobs[0].Enqueued.IsZero() {
			t.Fatalf("ready: %+v", l)
		}
		getJSON(t, s.url+"/api/queue/jobs?id="+base64.RawURLEncoding.EncodeToString([]byte("jobs"))+"&state=delayed", &l)
		if l.Total != 1 || payloads(l) != "later" || l.Jobs[0].Due == nil || !l.Jobs[0].Due.Equal(s.clock.Now().Add(time.Minute)) {
			t.Fatalf("delayed: %+v", l)
		}
		getJSON(t, s.url+"/api/queue/jobs?queue=jobs&state=inflight", &l)
		if payloads(l) != "held" || l.Jobs[0].Attempt != 1 || l.Jobs[0].Deadline == nil {
			t.Fatalf("inflight: %+v", l)
		}
		getJSON(t, s.url+"/api/queue/jobs?queue=jobs&state=dead", &l)
		if payloads(l) != "doomed" || l.Jobs[0].LastError != "boom" || l.Jobs[0].FailureCount != 1 || l.Jobs[0].Due == nil {
			t.Fatalf("dead: %+v", l)
		}
		if c, _ := s.queue.Len("jobs"); c != (queue.Counts{Ready: 3, Delayed: 1, InFlight: 1, Dead: 1}) {
			t.Fatalf("listing changed the queue: %+v", c)
		}
	})
	t.Run("completed jobs kept by keep-completed list with their results and count in the snapshot", func(t *testing.T) {
		s := startStack(t, nil)
		must := s.queueMust(t)
		idx, err := s.queue.Configure("done", [][2]string{{"keep-completed", "5"}})
		must(nil, idx, err)
		must(s.queue.Push("done", [][]byte{[]byte("x")}, queue.PushOptions{}))
		jobs, idx, err := s.queue.Pop("done", 1, queue.PopOptions{})
		must(nil, idx, err)
		must(s.queue.Ack("done", 1, []uint64{jobs[0].ID}, []byte("ok")))
		var l jobList
		getJSON(t, s.url+"/api/queue/jobs?queue=done&state=completed", &l)
		if l.Total != 1 || l.Jobs[0].State != "completed" || l.Jobs[0].Result == nil || l.Jobs[0].Result.Text != "ok" ||
			l.Jobs[0].Due == nil {
			t.Fatalf("completed: %+v", l)
		}
		var snap struct {
			Brokers struct {
				Queue queueSnapshot `json:"queue"`
			} `json:"brokers"`
		}
		getJSON(t, s.url+"/api/snapshot", &snap)
		if q := snap.Brokers.Queue; q.Completed != 1 || len(q.List) != 1 || q.List[0].Completed != 1 {
			t.Fatalf("snapshot: %+v", q)
		}
	})
	t.Run("repeats lists a queue's schedules with their next fire times", func(t *testing.T) {
		s := startStack(t, nil)
		for _, r := range []queue.Repeat{
			{Name: "tick", Every: time.Minute, Priority: 2, Payload: []byte("ping")},
			{Name: "daily", Cron: "0 9 * * *", Payload: []byte(binaryValue)},
		} {
			if idx, err := s.queue.SetRepeat("jobs", r); err != nil || s.queue.Wait(idx) != nil {
				t.Fatal(err)
			}
		}
		var l repeatList
		getJSON(t, s.url+"/api/queue/repeats?queue=jobs", &l)
		if l.Queue.Text != "jobs" || len(l.Repeats) != 2 {
			t.Fatalf("repeats: %+v", l)
		}
		daily, tick := l.Repeats[0], l.Repeats[1]
		if daily.Name.Text != "daily" || daily.Cron != "0 9 * * *" || daily.EveryMs != 0 || !daily.Payload.Binary || daily.Next == nil ||
			daily.Next.Hour() != 9 || tick.Name.Text != "tick" || tick.EveryMs != time.Minute.Milliseconds() || tick.Priority != 2 ||
			tick.Payload.Text != "ping" || tick.Next == nil || !tick.Next.After(s.clock.Now()) {
			t.Fatalf("repeats: %+v", l)
		}
		getJSON(t, s.url+"/api/queue/repeats?queue=unknown", &l)
		if l.Repeats == nil || len(l.Repeats) != 0 {
			t.Fatalf("unknown queue: %+v", l)
		}
		wantStatus(t, s.url+"/api/queue/repeats", http.StatusBadRequest)
	})
	t.Run("edge: count caps the list, payloads are cut, bad parameters are refused", func(t *testing.T) {
		s := startStack(t, nil)
		big := strings.Repeat("é", 4096)
		payloads := make([][]byte, 0, 60)
		for range 60 {
			payloads = append(payloads, []byte(big))
		}
		if _, idx, err := s.queue.Push("many", payloads, queue.PushOptions{}); err != nil || s.queue.Wait(idx) != nil {
			t.Fatal(err)
		}
		var l jobList
		getJSON(t, s.url+"/api/queue/jobs?queue=many&state=ready", &l)
		if len(l.Jobs) != 50 || l.Total != 60 {
			t.Fatalf("default count: %d of %d", len(l.Jobs), l.Total)
		}
		getJSON(t, s.url+"/api/queue/jobs?queue=many&state=ready&count=7", &l)
		p := l.Jobs[0].Payload
		if len(l.Jobs) != 7 || !p.Truncated || p.Binary || p.Len != int64(len(big)) || len(p.Text) > 1024 || !strings.HasPrefix(big, p.Text) {
			t.Fatalf("count 7: %d jobs, first %+v", len(l.Jobs), p)
		}
		getJSON(t, s.url+"/api/queue/jobs?queue=unknown&state=dead", &l)
		if l.Total != 0 || l.Jobs == nil || len(l.Jobs) != 0 {
			t.Fatalf("unknown queue: %+v", l)
		}
		for _, q := range []string{
			"queue=many&state=Ready", "queue=many", "state=ready", "queue=many&id=bWFueQ&state=ready", "id=***&state=ready",
			"queue=many&state=ready&count=0", "queue=many&state=ready&count=1001", "queue=many&state=ready&count=x",
		} {
			body := wantStatus(t, s.url+"/api/queue/jobs?"+q, http.StatusBadRequest)
			if !strings.Contains(string(body), `"error"`) {
				t.Fatalf("%s: %s", q, body)
			}
		}
	})
	t.Run("purge and requeue, one dead letter or all, and report what they did", func(t *testing.T) {
		s := startStack(t, nil)
		s.queueState(t)
		if status, out := post(t, s.url+"/api/queue/purge", `{"queue":"jobs"}`, nil); status != http.StatusOK || string(out) != "{\"purged\":4}\n" {
			t.Fatalf("purge: %d %s", status, out)
		}
		if c, _ := s.queue.Len("jobs"); c != (queue.Counts{InFlight: 1, Dead: 1}) {
			t.Fatalf("after purge: %+v", c)
		}
		dead, _ := s.queue.DeadLetters("jobs", 0)
		body := fmt.Sprintf(`{"id":%q,"job":"%d"}`, base64.RawURLEncoding.EncodeToString([]byte("jobs")), dead[0].ID)
		if status, out := post(t, s.url+"/api/queue/requeue", body, nil); status != http.StatusOK || string(out) != "{\"requeued\":1}\n" {
			t.Fatalf("requeue one: %d %s", status, out)
		}
		if status, out := post(t, s.url+"/api/queue/requeue", body, nil); status != http.StatusNotFound {
			t.Fatalf("requeue again: %d %s", status, out)
		}
		if status, out := post(t, s.url+"/api/queue/requeue", `{"queue":"jobs"}`, nil); status != http.StatusOK || string(out) != "{\"requeued\":0}\n" {
			t.Fatalf("requeue none left: %d %s", status, out)
		}
		if c, _ := s.queue.Len("jobs"); c != (queue.Counts{Ready: 1, InFlight: 1}) {
			t.Fatalf("after requeue: %+v", c)
		}
	})
	t.Run("edge: cross-site requests, bad bodies and GETs change nothing", func(t *testing.T) {
		s := startStack(t, nil)
		s.queueState(t)
		for _, path := range []string{"/api/queue/purge", "/api/queue/requeue"} {
			for _, h := range []map[string]string{
				{},
				{"X-Nexo-Dashboard": "1", "Sec-Fetch-Site": "cross-site"},
				{"X-Nexo-Dashboard": "1", "Origin": "http://evil.example"},
			} {
				if status, out := post(t, s.url+path, `{"queue":"jobs"}`, h); status != http.StatusForbidden {
					t.Fatalf("%s with %v: %d %s", path, h, status, out)
				}
			}
			for body, want := range map[string]int{
				``:                               http.StatusBadRequest,
				`{"queue":"jobs","x":1}`:         http.StatusBadRequest,
				`{}`:                             http.StatusBadRequest,
				`{"queue":"jobs","id":"am9icw"}`: http.StatusBadRequest,
				`{"queue":"` + strings.Repeat("q", 2<<20) + `"}`: http.StatusRequestEntityTooLarge,
			} {
				if status, out := post(t, s.url+path, body, nil); status != want {
					t.Fatalf("%s %.40q: %d %s, want %d", path, body, status, out, want)
				}
			}
			wantStatus(t, s.url+path, http.StatusMethodNotAllowed)
		}
		for body, want := range map[string]int{
			`{"queue":"jobs","job":"x"}`:                                  http.StatusBadRequest,
			`{"queue":"jobs","job":"999"}`:                                http.StatusNotFound,
			`{"queue":"` + strings.Repeat("q", queue.MaxNameLen+1) + `"}`: http.StatusBadRequest,
		} {
			if status, out := post(t, s.url+"/api/queue/requeue", body, nil); status != want {
				t.Fatalf("requeue %s: %d %s, want %d", body, status, out, want)
			}
		}
		if status, out := post(t, s.url+"/api/queue/purge", `{"queue":"jobs","job":"1"}`, nil); status != http.StatusBadRequest {
			t.Fatalf("purge with a job: %d %s", status, out)
		}
		if c, _ := s.queue.Len("jobs"); c != (queue.Counts{Ready: 3, Delayed: 1, InFlight: 1, Dead: 1}) {
			t.Fatalf("refused actions changed the queue: %+v", c)
		}
	})
	t.Run("metrics: jobs by state and counters per queue", func(t *testing.T) {
		s := startStack(t, nil)
		s.queueState(t)
		if _, idx, err := s.queue.Push("b\xffin", [][]byte{[]byte("x")}, queue.PushOptions{}); err != nil || s.queue.Wait(idx) != nil {
			t.Fatal(err)
		}
		got := scrape(t, s.url, "")
		jobs := func(state string) string { return `nexo_queue_jobs{queue="jobs",state="` + state + `"}` }
		wantMetrics(t, got, map[string]float64{
			jobs("ready"):                                     3,
			jobs("delayed"):                                   1,
			jobs("inflight"):                                  1,
			jobs("dead"):                                      1,
			jobs("completed"):                                 0,
			`nexo_queue_pushed_total{queue="jobs"}`:           6,
			`nexo_queue_delivered_total{queue="jobs"}`:        2,
			`nexo_queue_acked_total{queue="jobs"}`:            0,
			`nexo_queue_failed_total{queue="jobs"}`:           1,
			`nexo_queue_jobs{queue="b\\xffin",state="ready"}`: 1,
		})
		types := metricTypes(t, s.url)
		if types["nexo_queue_jobs"] != "gauge" || types["nexo_queue_pushed_total"] != "counter" {
			t.Fatalf("types: %v", types)
		}
	})
}

// sink is a pub/sub subscriber that accepts everything, or refuses its
// first delivery when slow (as a subscriber over its output limit does).
type sink struct{ slow bool }

func (s *sink) Deliver(pubsub.Message, pubsub.Batch) bool { return !s.slow }

type subscriptionList struct {
	Total int `json:"total"`
	List  []struct {
		Kind        string    `json:"kind"`
		Name        bytesView `json:"name"`
		Subscribers int       `json:"subscribers"`
	} `json:"list"`
}

type retainedList struct {
	Total int `json:"total"`
	List  []struct {
		Topic     bytesView `json:"topic"`
		Payload   bytesView `json:"payload"`
		AgeMillis int64     `json:"age_ms"`
	} `json:"list"`
}

type pubsubSnapshot struct {
	Subscribers    int              `json:"subscribers"`
	Subscriptions  int              `json:"subscriptions"`
	Filters        int              `json:"filters"`
	Channels       int              `json:"channels"`
	Patterns       int              `json:"patterns"`
	Retained       int              `json:"retained"`
	Published      int64            `json:"published"`
	Delivered      int64            `json:"delivered"`
	SlowConsumers  int64            `json:"slow_consumers"`
	Persistence    string           `json:"persistence"`
	Topics         subscriptionList `json:"topics"`
	RetainedValues retainedList     `json:"retained_values"`
}

// pubsubState fills the pub/sub broker through the facade: two
// subscribers of home/#, one of home/+/temp and of the channel news, a
// pattern n*, retained values on home/kitchen/temp (published 5 s before
// the others), an XSS-looking topic and $SYS/uptime (binary). Only
// home/kitchen/temp has subscribers: it reaches home/# twice and
// home/+/temp once, 3 deliveries.
func (s *stack) pubsubState(t testing.TB) {
	t.Helper()
	sub := func(sb pubsub.Subscriber, kind pubsub.Kind, name string) {
		t.Helper()
		if _, err := s.pubsub.Subscribe(sb, kind, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	retain := func(topic, payload string) {
		t.Helper()
		_, idx, err := s.pubsub.PublishRetained([]byte(topic), []byte(payload), nil)
		if err == nil {
			err = s.pubsub.Wait(idx)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	a, b := &sink{}, &sink{}
	sub(a, pubsub.Filter, "home/#")
	sub(b, pubsub.Filter, "home/#")
	sub(a, pubsub.Filter, "home/+/temp")
	sub(b, pubsub.Channel, "news")
	sub(b, pubsub.Pattern, "n*")
	retain("home/kitchen/temp", "21.5")
	s.clock.Advance(5 * time.Second)
	retain(xssKey+"/x", xssKey)
	retain("$SYS/uptime", binaryValue)
}

func TestPubSubPanel(t *testing.T) {
	t.Run("snapshot: counters, the subscriptions with their subscribers, retained values with age", func(t *testing.T) {
		s := startStack(t, nil)
		s.pubsubState(t)
		s.pubsub.Publish([]byte("news"), []byte("x"), nil)
		var snap struct {
			Brokers struct {
				PubSub pubsubSnapshot `json:"pubsub"`
			} `json:"brokers"`
		}
		getJSON(t, s.url+"/api/snapshot", &snap)
		ps := snap.Brokers.PubSub
		if ps.Subscribers != 2 || ps.Subscriptions != 5 || ps.Filters != 2 || ps.Channels != 1 || ps.Patterns != 1 || ps.Retained != 3 ||
			ps.Published != 4 || ps.Delivered != 3+2 || ps.Persistence == "" {
			t.Fatalf("pubsub snapshot %+v", ps)
		}
		var subs []string
		for _, sv := range ps.Topics.List {
			subs = append(subs, fmt.Sprintf("%s %s %d", sv.Kind, sv.Name.Text, sv.Subscribers))
		}
		if want := "filter home/# 2|filter home/+/temp 1|pattern n* 1|channel news 1"; ps.Topics.Total != 4 || strings.Join(subs, "|") != want {
			t.Fatalf("topics %d %q, want %q", ps.Topics.Total, subs, want)
		}
		r := ps.RetainedValues
		if r.Total != 3 || len(r.List) != 3 {
			t.Fatalf("retained %+v", r)
		}
		sys, xss, kitchen := r.List[0], r.List[1], r.List[2]
		if sys.Topic.Text != "$SYS/uptime" || !sys.Payload.Binary || sys.Payload.Text != `\x00\xff\x01abc` || sys.AgeMillis != 0 {
			t.Fatalf("$SYS/uptime %+v", sys)
		}
		if xss.Topic.Text != xssKey+"/x" || xss.Payload.Text != xssKey || xss.Topic.Binary {
			t.Fatalf("xss %+v", xss)
		}
		if kitchen.Topic.Text != "home/kitchen/temp" || kitchen.Payload.Text != "21.5" || kitchen.AgeMillis != 5000 {
			t.Fatalf("kitchen %+v", kitchen)
		}
		getJSON(t, s.url+"/api/snapshot?limit=1", &snap)
		if ps := snap.Brokers.PubSub; len(ps.Topics.List) != 1 || ps.Topics.Total != 4 || len(ps.RetainedValues.List) != 1 || ps.RetainedValues.Total != 3 {
			t.Fatalf("limit 1: %+v", ps)
		}
	})
	t.Run("subscriptions and retained lists, capped by count", func(t *testing.T) {
		s := startStack(t, nil)
		s.pubsubState(t)
		var subs subscriptionList
		getJSON(t, s.url+"/api/pubsub/subscriptions?count=2", &subs)
		if subs.Total != 4 || len(subs.List) != 2 || subs.List[0].Name.Text != "home/#" {
			t.Fatalf("subscriptions %+v", subs)
		}
		var ret retainedList
		getJSON(t, s.url+"/api/pubsub/retained", &ret)
		if ret.Total != 3 || len(ret.List) != 3 {
			t.Fatalf("retained %+v", ret)
		}
		getJSON(t, s.url+"/api/pubsub/retained?count=1", &ret)
		if ret.Total != 3 || len(ret.List) != 1 || ret.List[0].Topic.Text != "$SYS/uptime" {
			t.Fatalf("retained count 1 %+v", ret)
		}
	})
	t.Run("edge: large payloads are cut, an empty broker answers empty lists, bad counts are refused", func(t *testing.T) {
		s := startStack(t, nil)
		body := wantStatus(t, s.url+"/api/snapshot", http.StatusOK)
		for _, want := range []string{`"topics":{"total":0,"list":[]}`, `"retained_values":{"total":0,"list":[]}`} {
			if !strings.Contains(string(body), want) {
				t.Fatalf("%s missing from %s", want, body)
			}
		}
		big := strings.Repeat("x", 64<<10)
		if _, idx, err := s.pubsub.PublishRetained([]byte("big"), []byte(big), nil); err != nil || s.pubsub.Wait(idx) != nil {
			t.Fatal(err)
		}
		var ret retainedList
		getJSON(t, s.url+"/api/pubsub/retained", &ret)
		if p := ret.List[0].Payload; !p.Truncated || p.Len != int64(len(big)) || len(p.Text) != 1024 {
			t.Fatalf("big payload %+v", ret.List[0].Payload.Len)
		}
		for _, path := range []string{"/api/pubsub/retained?count=0", "/api/pubsub/subscriptions?count=1001", "/api/pubsub/retained?count=x"} {
			wantStatus(t, s.url+path, http.StatusBadRequest)
		}
	})
	t.Run("metrics: messages, subscriptions, retained topics and slow consumers", func(t *testing.T) {
		s := startStack(t, nil)
		s.pubsubState(t)
		slow := &sink{slow: true}
		if _, err := s.pubsub.Subscribe(slow, pubsub.Channel, "news", nil); err != nil {
			t.Fatal(err)
		}
		s.pubsub.Publish([]byte("news"), []byte("x"), nil)
		got := scrape(t, s.url, "")
		wantMetrics(t, got, map[string]float64{
			"nexo_pubsub_messages_published_total":        4,
			"nexo_pubsub_messages_delivered_total":        3 + 2,
			"nexo_pubsub_subscriptions":                   5,
			"nexo_pubsub_retained_topics":                 3,
			"nexo_pubsub_slow_consumer_disconnects_total": 1,
		})
		types := metricTypes(t, s.url)
		if types["nexo_pubsub_subscriptions"] != "gauge" || types["nexo_pubsub_messages_published_total"] != "counter" {
			t.Fatalf("types: %v", types)
		}
	})
}

type streamSnapshot struct {
	Streams     int    `json:"streams"`
	Partitions  int    `json:"partitions"`
	Groups      int    `json:"groups"`
	Messages    int64  `json:"messages"`
	Bytes       int64  `json:"bytes"`
	Persistence string `json:"persistence"`
	List        []struct {
		ID       string    `json:"id"`
		Name     bytesView `json:"name"`
		Settings struct {
			Partitions   int   `json:"partitions"`
			MaxAgeMillis int64 `json:"max_age_ms"`
			MaxBytes     int64 `json:"max_bytes"`
			MaxMessages  int64 `json:"max_messages"`
		} `json:"settings"`
		Partitions []struct {
			Partition int   `json:"partition"`
			First     int64 `json:"first"`
			Next      int64 `json:"next"`
			Messages  int64 `json:"messages"`
			Bytes     int64 `json:"bytes"`
			DiskBytes int64 `json:"disk_bytes"`
		} `json:"partitions"`
		Groups []struct {
			Name    bytesView `json:"name"`
			Members []struct {
				ID         bytesView `json:"id"`
				Partitions []int     `json:"partitions"`
				LastSeen   time.Time `json:"last_seen"`
			} `json:"members"`
			Partitions []struct {
				Partition int       `json:"partition"`
				Owner     bytesView `json:"owner"`
				Committed int64     `json:"committed"`
				Lag       int64     `json:"lag"`
			} `json:"partitions"`
			Lag int64 `json:"lag"`
		} `json:"groups"`
		GroupCount int   `json:"group_count"`
		Messages   int64 `json:"messages"`
	} `json:"list"`
}

type messageList struct {
	Stream    bytesView `json:"stream"`
	Partition int       `json:"partition"`
	First     int64     `json:"first"`
	Next      int64     `json:"next"`
	NextFrom  int64     `json:"next_from"`
	Messages  []struct {
		Offset int64     `json:"offset"`
		Time   time.Time `json:"time"`
		Key    bytesView `json:"key"`
		Value  bytesView `json:"value"`
	} `json:"messages"`
}

// Stream limits of the dashboard that the tests check.
const (
	// messagePreviewBytes is the preview size of a message's key and value.
	messagePreviewBytes = 1024
	// messageReadBatch and messageReadBudget: a message list stops after
	// the batch that reads more than the budget.
	messageReadBatch  = 16
	messageReadBudget = 4 << 20
)

// streamState fills stream "events" of two partitions through the facade:
// partition 0 holds a, b and xssKey at offsets 0 to 2, partition
// 1 holds binaryValue at offset 0; group "g" has member "m1", which owns
// both partitions and committed offset 2 of partition 0.
func (s *stack) streamState(t testing.TB) {
	t.Helper()
	wait := func(tok stream.Token, err error) {
		t.Helper()
		if err == nil {
			err = s.stream.Wait(tok)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wait(s.stream.Create("events", stream.Settings{Partitions: 2, MaxAge: time.Hour, MaxMessages: 1000}))
	// Appends without a key take the partitions in turn.
	for _, a := range []struct {
		payloads  []string
		partition int
		first     int64
	}{{[]string{"a"}, 0, 0}, {[]string{binaryValue}, 1, 0}, {[]string{"b", xssKey}, 0, 1}} {
		r, err := s.stream.Append("events", nil, bytesOf(a.payloads...))
		wait(r.Token, err)
		if r.Partition != a.partition || r.First != a.first {
			t.Fatalf("append %q: %+v", a.payloads, r)
		}
	}
	wait(s.stream.CreateGroup("events", "g", stream.FromEarliest()))
	if _, err := s.stream.GroupRead(context.Background(), "events", "g", "m1", 1, false); err != nil {
		t.Fatal(err)
	}
	wait(s.stream.Commit("events", "g", "m1", 0, 2))
}

func bytesOf(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, v := range ss {
		out[i] = []byte(v)
	}
	return out
}

func TestStreamPanel(t *testing.T) {
	t.Run("snapshot: partitions with offsets and retention, groups with members, commits and lag", func(t *testing.T) {
		s := startStack(t, nil)
		s.streamState(t)
		var snap struct {
			Brokers struct {
				Stream streamSnapshot `json:"stream"`
			} `json:"brokers"`
		}
		getJSON(t, s.url+"/api/snapshot", &snap)
		ss := snap.Brokers.Stream
		info, _, err := s.stream.Info("events")
		if err != nil {
			t.Fatal(err)
		}
		if ss.Streams != 1 || ss.Partitions != 2 || ss.Groups != 1 || ss.Messages != 4 || ss.Bytes != info.Partitions[0].Bytes+info.Partitions[1].Bytes ||
			ss.Persistence == "" || len(ss.List) != 1 {
			t.Fatalf("stream snapshot %+v", ss)
		}
		v := ss.List[0]
		if v.Name.Text != "events" || v.ID != base64.RawURLEncoding.EncodeToString([]byte("events")) || v.Settings.Partitions != 2 ||
			v.Settings.MaxAgeMillis != time.Hour.Milliseconds() || v.Settings.MaxBytes != 0 || v.Settings.MaxMessages != 1000 ||
			v.GroupCount != 1 || v.Messages != 4 || len(v.Partitions) != 2 {
			t.Fatalf("events %+v", v)
		}
		p0, p1 := v.Partitions[0], v.Partitions[1]
		if p0.Partition != 0 || p0.First != 0 || p0.Next != 3 || p0.Messages != 3 || p0.Bytes != info.Partitions[0].Bytes || p0.Bytes == 0 ||
			p1.Partition != 1 || p1.Next != 1 || p1.Messages != 1 || p1.DiskBytes == 0 {
			t.Fatalf("partitions %+v", v.Partitions)
		}
		if len(v.Groups) != 1 {
			t.Fatalf("groups %+v", v.Groups)
		}
		g := v.Groups[0]
		if g.Name.Text != "g" || len(g.Members) != 1 || g.Members[0].ID.Text != "m1" || fmt.Sprint(g.Members[0].Partitions) != "[0 1]" ||
			!g.Members[0].LastSeen.Equal(s.clock.Now()) || len(g.Partitions) != 2 || g.Lag != 2 {
			t.Fatalf("group %+v", g)
		}
		if gp := g.Partitions[0]; gp.Owner.Text != "m1" || gp.Committed != 2 || gp.Lag != 1 {
			t.Fatalf("group partition 0 %+v", gp)
		}
		if gp := g.Partitions[1]; gp.Owner.Text != "m1" || gp.Committed != 0 || gp.Lag != 1 {
			t.Fatalf("group partition 1 %+v", gp)
		}
		if _, err := s.stream.Append("other", nil, bytesOf("x")); err != nil {
			t.Fatal(err)
		}
		getJSON(t, s.url+"/api/snapshot?limit=1", &snap)
		if len(snap.Brokers.Stream.List) != 1 || snap.Brokers.Stream.Streams != 2 || snap.Brokers.Stream.List[0].Name.Text != "events" {
			t.Fatalf("limit 1: %+v", snap.Brokers.Stream)
		}
	})
	t.Run("messages from an offset, binary-safe, by name or id, without consuming them", func(t *testing.T) {
		s := startStack(t, nil)
		s.streamState(t)
		values := func(l messageList) string {
			var out []string
			for _, m := range l.Messages {
				out = append(out, strconv.FormatInt(m.Offset, 10)+"="+m.Value.Text)
			}
			return strings.Join(out, "|")
		}
		var l messageList
		getJSON(t, s.url+"/api/stream/messages?stream=events", &l)
		if l.Stream.Text != "events" || l.Partition != 0 || l.First != 0 || l.Next != 3 || l.NextFrom != 3 ||
			values(l) != "0=a|1=b|2="+xssKey || l.Messages[0].Key.Len != 0 || !l.Messages[0].Time.Equal(s.clock.Now()) {
			t.Fatalf("earliest: %+v", l)
		}
		getJSON(t, s.url+"/api/stream/messages?stream=events&from=1&count=1", &l)
		if values(l) != "1=b" || l.NextFrom != 2 {
			t.Fatalf("from 1 count 1: %+v", l)
		}
		getJSON(t, s.url+"/api/stream/messages?id="+base64.RawURLEncoding.EncodeToString([]byte("events"))+"&partition=1&from=0", &l)
		if l.Partition != 1 || len(l.Messages) != 1 || !l.Messages[0].Value.Binary || l.Messages[0].Value.Text != `\x00\xff\x01abc` {
			t.Fatalf("partition 1: %+v", l)
		}
		getJSON(t, s.url+"/api/stream/messages?stream=events&from=3", &l)
		if l.Messages == nil || len(l.Messages) != 0 || l.NextFrom != 3 {
			t.Fatalf("at the end: %+v", l)
		}
		gi, _, err := s.stream.GroupInfo("events", "g")
		if err != nil || gi.Partitions[0].Committed != 2 || gi.Partitions[0].Lag != 1 {
			t.Fatalf("listing changed the group: %+v %v", gi, err)
		}
	})
	t.Run("edge: count caps the list, keys and values are cut, large messages stop the list early", func(t *testing.T) {
		s := startStack(t, nil)
		big := strings.Repeat("é", 4096)
		payloads := make([]string, 60)
		for i := range payloads {
			payloads[i] = big
		}
		if r, err := s.stream.Append("many", []byte(big), bytesOf(payloads...)); err != nil || s.stream.Wait(r.Token) != nil {
			t.Fatal(err)
		}
		var l messageList
		getJSON(t, s.url+"/api/stream/messages?stream=many", &l)
		if len(l.Messages) != 50 || l.NextFrom != 50 {
			t.Fatalf("default count: %d, next from %d", len(l.Messages), l.NextFrom)
		}
		getJSON(t, s.url+"/api/stream/messages?stream=many&from=55&count=1000", &l)
		if len(l.Messages) != 5 || l.Messages[0].Offset != 55 {
			t.Fatalf("from 55: %+v", l.Messages)
		}
		getJSON(t, s.url+"/api/stream/messages?stream=many&count=7", &l)
		k, v := l.Messages[0].Key, l.Messages[0].Value
		if len(l.Messages) != 7 || !v.Truncated || v.Binary || v.Len != int64(len(big)) || len(v.Text) > messagePreviewBytes ||
			!strings.HasPrefix(big, v.Text) || !k.Truncated || k.Len != int64(len(big)) {
			t.Fatalf("count 7: %d messages, first %+v %+v", len(l.Messages), k, v)
		}
		// Enough large messages that one batch reads past the budget.
		large := strings.Repeat("x", stream.DefaultMaxPayload/2)
		n := messageReadBudget/len(large) + messageReadBatch
		payloads = make([]string, n)
		for i := range payloads {
			payloads[i] = large
		}
		if r, err := s.stream.Append("large", nil, bytesOf(payloads...)); err != nil || s.stream.Wait(r.Token) != nil {
			t.Fatal(err)
		}
		getJSON(t, s.url+"/api/stream/messages?stream=large&count=1000", &l)
		if len(l.Messages) != messageReadBatch || l.NextFrom != messageReadBatch || len(l.Messages[0].Value.Text) != messagePreviewBytes {
			t.Fatalf("large: %d messages of %d, next from %d", len(l.Messages), n, l.NextFrom)
		}
	})
	t.Run("edge: bad parameters are refused, an unknown stream is not found", func(t *testing.T) {
		s := startStack(t, nil)
		s.streamState(t)
		for q, want := range map[string]int{
			"":                                  http.StatusBadRequest,
			"stream=events&id=ZXZlbnRz":         http.StatusBadRequest,
			"id=***":                            http.StatusBadRequest,
			"stream=events&count=0":             http.StatusBadRequest,
			"stream=events&count=1001":          http.StatusBadRequest,
			"stream=events&count=x":             http.StatusBadRequest,
			"stream=events&partition=-1":        http.StatusBadRequest,
			"stream=events&partition=x":         http.StatusBadRequest,
			"stream=events&partition=2":         http.StatusBadRequest,
			"stream=events&partition=100000000": http.StatusBadRequest,
			"stream=events&from=-1":             http.StatusBadRequest,
			"stream=events&from=1.5":            http.StatusBadRequest,
			"stream=events&from=4":              http.StatusBadRequest,
			"stream=nothing":                    http.StatusNotFound,
			"stream=" + strings.Repeat("s", stream.MaxNameLen+1): http.StatusNotFound,
		} {
			body := wantStatus(t, s.url+"/api/stream/messages?"+q, want)
			if !strings.Contains(string(body), `"error"`) {
				t.Fatalf("%s: %s", q, body)
			}
		}
		if st := s.stream.Stats(); st.Streams != 1 || st.Messages != 4 {
			t.Fatalf("refused requests changed the broker: %+v", st)
		}
	})
	t.Run("edge: with a password, the messages need it", func(t *testing.T) {
		s := startStack(t, func(c *dashboard.Config) { c.Password = testPassword })
		s.streamState(t)
		u := s.url + "/api/stream/messages?stream=events"
		wantStatus(t, u, http.StatusUnauthorized)
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("", testPassword)
		if status, _, body := request(t, req); status != http.StatusOK {
			t.Fatalf("with the password: %d %s", status, body)
		}
	})
	t.Run("metrics: next offset and bytes per partition, lag per group and partition", func(t *testing.T) {
		s := startStack(t, nil)
		s.streamState(t)
		if r, err := s.stream.Append("b\xffin", nil, bytesOf("x", "y")); err != nil || s.stream.Wait(r.Token) != nil {
			t.Fatal(err)
		}
		if tok, err := s.stream.CreateGroup("b\xffin", "g\xfe", stream.FromOffset(1)); err != nil || s.stream.Wait(tok) != nil {
			t.Fatal(err)
		}
		info, _, err := s.stream.Info("events")
		if err != nil {
			t.Fatal(err)
		}
		got := scrape(t, s.url, "")
		wantMetrics(t, got, map[string]float64{
			`nexo_stream_partition_next_offset{partition="0",stream="events"}`:      3,
			`nexo_stream_partition_next_offset{partition="1",stream="events"}`:      1,
			`nexo_stream_partition_bytes{partition="0",stream="events"}`:            float64(info.Partitions[0].Bytes),
			`nexo_stream_partition_bytes{partition="1",stream="events"}`:            float64(info.Partitions[1].Bytes),
			`nexo_stream_group_lag{group="g",partition="0",stream="events"}`:        1,
			`nexo_stream_group_lag{group="g",partition="1",stream="events"}`:        1,
			`nexo_stream_partition_next_offset{partition="0",stream="b\\xffin"}`:    2,
			`nexo_stream_group_lag{group="g\\xfe",partition="0",stream="b\\xffin"}`: 1,
		})
		if info.Partitions[1].Bytes == 0 {
			t.Fatal("partition 1 holds no bytes")
		}
		types := metricTypes(t, s.url)
		for _, name := range []string{"nexo_stream_partition_next_offset", "nexo_stream_partition_bytes", "nexo_stream_group_lag"} {
			if types[name] != "gauge" {
				t.Fatalf("types: %v", types)
			}
		}
	})
}

func TestAuth(t *testing.T) {
	paths := []string{"/", "/app.js", "/api/snapshot", "/api/store/keys", "/api/queue/jobs?queue=q&state=ready",
		"/api/pubsub/retained", "/api/pubsub/subscriptions", "/metrics"}
	withAuth := func(t *testing.T, rawURL, user, pass string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, rawURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, pass)
		status, _, _ := request(t, req)
		return status
	}
	t.Run("with a password, everything but /healthz needs it, with any user name", func(t *testing.T) {
		s := startStack(t, func(c *dashboard.Config) { c.Password = testPassword })
		for _, p := range paths {
			status, h, _ := get(t, s.url+p)
			if status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("%s without credentials: %d %v", p, status, h)
			}
			for _, user := range []string{"", "default", "prometheus"} {
				if status := withAuth(t, s.url+p, user, testPassword); status != http.StatusOK {
					t.Fatalf("%s as %q: %d", p, user, status)
				}
			}
			if status := withAuth(t, s.url+p, "default", testPassword+"x"); status != http.StatusUnauthorized {
				t.Fatalf("%s with a wrong password: %d", p, status)
			}
		}
		wantStatus(t, s.url+"/healthz", http.StatusOK)
		req, _ := http.NewRequest(http.MethodPost, s.url+"/api/store/delete", strings.NewReader(`{"key":"k"}`))
		req.Header.Set("X-Nexo-Dashboard", "1")
		if status, _, _ := request(t, req); status != http.StatusUnauthorized {
			t.Fatalf("delete without credentials: %d", status)
		}
	})
	t.Run("without a password, everything is open", func(t *testing.T) {
		s := startStack(t, nil)
		for _, p := range append(paths, "/healthz") {
			wantStatus(t, s.url+p, http.StatusOK)
		}
	})
	t.Run("metrics only: no page and no API", func(t *testing.T) {
		s := startStack(t, func(c *dashboard.Config) { c.MetricsOnly = true })
		for _, p := range []string{"/", "/app.js", "/api/snapshot", "/api/store/keys"} {
			wantStatus(t, s.url+p, http.StatusNotFound)
		}
		wantStatus(t, s.url+"/metrics", http.StatusOK)
		if body := wantStatus(t, s.url+"/healthz", http.StatusOK); string(body) != "ok\n" {
			t.Fatalf("%q", body)
		}
	})
	t.Run("edge: a loopback server answers loopback host names only", func(t *testing.T) {
		s := startStack(t, nil)
		port := s.dash.Addr().(*net.TCPAddr).Port
		for host, want := range map[string]int{
			"127.0.0.1":              http.StatusOK,
			"localhost":              http.StatusOK,
			"app.localhost":          http.StatusOK,
			"[::1]":                  http.StatusOK,
			"evil.example":           http.StatusForbidden,
			"192.168.1.10":           http.StatusForbidden,
			"localhost.evil.example": http.StatusForbidden,
		} {
			req, _ := http.NewRequest(http.MethodGet, s.url+"/api/snapshot", nil)
			req.Host = host + ":" + strconv.Itoa(port)
			if status, _, _ := request(t, req); status != want {
				t.Fatalf("Host %s: %d, want %d", host, status, want)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, s.url+"/healthz", nil)
		req.Host = "evil.example"
		if status, _, _ := request(t, req); status != http.StatusOK {
			t.Fatalf("healthz for any host: %d", status)
		}
	})
}

func TestPage(t *testing.T) {
	t.Run("the embedded page and its scripts, with a strict policy", func(t *testing.T) {
		s := startStack(t, nil)
		for p, ctype := range map[string]string{
			"/":                "text/html",
			"/app.js":          "text/javascript",
			"/ui.js":           "text/javascript",
			"/panels/store.js": "text/javascript",
			"/style.css":       "text/css",
		} {
			status, h, body := get(t, s.url+p)
			if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), ctype) || len(body) == 0 {
				t.Fatalf("%s: %d %s", p, status, h.Get("Content-Type"))
			}
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s: headers %v", p, h)
			}
		}
		body := wantStatus(t, s.url+"/", http.StatusOK)
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
			t.Fatal("the page loads something from elsewhere")
		}
		// User data enters the page as text only: no script parses markup.
		for _, p := range []string{"/app.js", "/ui.js", "/panels/store.js", "/panels/queue.js", "/panels/pubsub.js", "/panels/stream.js"} {
			script := string(wantStatus(t, s.url+p, http.StatusOK))
			for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
				if strings.Contains(script, sink) {
					t.Errorf("%s uses %s", p, sink)
				}
			}
		}
	})
	t.Run("edge: no directory listings, no files outside the page", func(t *testing.T) {
		s := startStack(t, nil)
		for _, p := range []string{"/panels/", "/panels", "/missing.js", "/../dashboard.go", "/web/index.html", "/api/nothing"} {
			wantStatus(t, s.url+p, http.StatusNotFound)
		}
	})
}

// scrape reads /metrics into "name{labels}" -> value.
func scrape(t *testing.T, base, password string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if password != "" {
		req.SetBasicAuth("prometheus", password)
	}
	status, _, body := request(t, req)
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metricTypes reads the # TYPE lines of /metrics: name -> type.
func metricTypes(t *testing.T, base string) map[string]string {
	t.Helper()
	_, _, body := get(t, base+"/metrics")
	out := map[string]string{}
	for line := range strings.Lines(string(body)) {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			out[f[2]] = f[3]
		}
	}
	return out
}

func wantMetrics(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for name, v := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
		} else if g != v {
			t.Errorf("%s = %v, want %v", name, g, v)
		}
	}
}

func TestMetrics(t *testing.T) {
	t.Run("names, labels and values from known counters", func(t *testing.T) {
		var lat commands.Latency
		lat.Counts[0], lat.Counts[3], lat.Counts[commands.LatencyBuckets-1] = 1, 2, 1
		lat.Sum = 5 * time.Second
		fake := fakeStats{
			ConnectedClients: 3, MaxClients: 100, TotalConnections: 9, RejectedConnections: 2, ErrorReplies: 4,
			ProtocolErrors: 1, NetInputBytes: 1000, NetOutputBytes: 2000, HeapBytes: 4096,
			Commands: []commands.CommandStats{{Name: "config|get", Calls: 4, Failures: 1, Rejected: 2, Latency: lat}},
		}
		s := startStack(t, func(c *dashboard.Config) { c.Server = fake })
		got := scrape(t, s.url, "")
		cmd := `{command="config|get"}`
		bucket := func(le string) string {
			return `nexo_command_duration_seconds_bucket{command="config|get",le="` + le + `"}`
		}
		wantMetrics(t, got, map[string]float64{
			`nexo_build_info{goversion="` + runtimeVersion(t, got) + `",version="test"}`: 1,
			"nexo_clients_connected":                    3,
			"nexo_clients_max":                          100,
			"nexo_connections_received_total":           9,
			"nexo_connections_rejected_total":           2,
			"nexo_error_replies_total":                  4,
			"nexo_protocol_errors_total":                1,
			"nexo_net_input_bytes_total":                1000,
			"nexo_net_output_bytes_total":               2000,
			"nexo_memory_used_bytes":                    4096,
			"nexo_command_calls_total" + cmd:            4,
			"nexo_command_errors_total" + cmd:           1,
			"nexo_command_rejected_total" + cmd:         2,
			bucket("1e-06"):                             1,
			bucket("4e-06"):                             1,
			bucket("8e-06"):                             3,
			bucket("4.194304"):                          3,
			bucket("+Inf"):                              4,
			"nexo_command_duration_seconds_sum" + cmd:   5,
			"nexo_command_duration_seconds_count" + cmd: 4,
		})
		types := metricTypes(t, s.url)
		for name, typ := range types {
			if !strings.HasPrefix(name, "nexo_") {
				continue
			}
			if (typ == "counter") != strings.HasSuffix(name, "_total") {
				t.Errorf("%s is a %s: counters and only counters end in _total", name, typ)
			}
		}
		if types["nexo_command_duration_seconds"] != "histogram" || types["go_goroutines"] != "gauge" {
			t.Fatalf("types: %v", types)
		}
	})
	t.Run("the store's and the real server's counters after known operations", func(t *testing.T) {
		s := startStack(t, nil)
		rc := s.dial(t)
		rc.do(t, "SET", "a", "1")
		rc.do(t, "SET", "b", "2", "EX", "10")
		rc.do(t, "SET", "c", "3", "PX", "10")
		rc.do(t, "GET", "a")
		rc.do(t, "GET", "missing")
		rc.do(t, "GET")
		rc.do(t, "NOSUCHCOMMAND")
		s.clock.Advance(time.Second)
		rc.do(t, "GET", "c") // expired on access
		got := scrape(t, s.url, "")
		set, gets := `{command="set"}`, `{command="get"}`
		wantMetrics(t, got, map[string]float64{
			"nexo_command_calls_total" + set:             3,
			"nexo_command_errors_total" + set:            0,
			"nexo_command_duration_seconds_count" + set:  3,
			"nexo_command_calls_total" + gets:            3,
			"nexo_command_errors_total" + gets:           0,
			"nexo_command_rejected_total" + gets:         1,
			"nexo_command_duration_seconds_count" + gets: 3,
			"nexo_error_replies_total":                   2,
			"nexo_clients_connected":                     1,
			"nexo_connections_received_total":            1,
			"nexo_store_keys":                            2,
			"nexo_store_expiring_keys":                   1,
			"nexo_store_memory_max_bytes":                0,
			"nexo_store_keyspace_hits_total":             1,
			"nexo_store_keyspace_misses_total":           2,
			"nexo_store_expired_keys_total":              1,
			"nexo_store_evicted_keys_total":              0,
		})
		if got["nexo_store_memory_used_bytes"] <= 0 || got["nexo_command_duration_seconds_sum"+set] <= 0 || got["nexo_net_input_bytes_total"] <= 0 {
			t.Fatalf("memory %v, set time %v", got["nexo_store_memory_used_bytes"], got["nexo_command_duration_seconds_sum"+set])
		}
		if _, ok := got[`nexo_command_calls_total{command="hset"}`]; ok {
			t.Fatal("a command never called has series")
		}
		if reply := rc.do(t, "CONFIG", "RESETSTAT"); reply != "OK" {
			t.Fatal(reply)
		}
		got = scrape(t, s.url, "")
		if _, ok := got["nexo_command_duration_seconds_count"+set]; ok {
			t.Fatal("CONFIG RESETSTAT left the latency of SET")
		}
	})
	t.Run("edge: Prometheus passes the password with basic_auth", func(t *testing.T) {
		s := startStack(t, func(c *dashboard.Config) { c.Password = testPassword })
		if got := scrape(t, s.url, testPassword); got["nexo_clients_max"] != commands.DefaultMaxClients {
			t.Fatalf("%v", got["nexo_clients_max"])
		}
	})
}

// runtimeVersion reads the Go version from go_info.
func runtimeVersion(t *testing.T, got map[string]float64) string {
	t.Helper()
	for name := range got {
		if v, ok := strings.CutPrefix(name, `go_info{version="`); ok {
			return strings.TrimSuffix(v, `"}`)
		}
	}
	t.Fatal("go_info missing")
	return ""
}

func TestLifecycle(t *testing.T) {
	t.Run("binds in New, so port 0 reports the real port", func(t *testing.T) {
		s := startStack(t, nil)
		if port := s.dash.Addr().(*net.TCPAddr).Port; port == 0 {
			t.Fatal("port 0")
		}
		wantStatus(t, s.url+"/healthz", http.StatusOK)
	})
	t.Run("edge: invalid configurations are refused", func(t *testing.T) {
		if _, err := dashboard.New(dashboard.Config{Addr: "127.0.0.1:0"}); err == nil {
			t.Fatal("a dashboard without server stats")
		}
		if _, err := dashboard.New(dashboard.Config{Addr: "256.0.0.1:0", Server: fakeStats{}}); err == nil {
			t.Fatal("an invalid address")
		}
	})
	t.Run("edge: a port in use is an error; Shutdown before Serve frees it", func(t *testing.T) {
		d, err := dashboard.New(dashboard.Config{Addr: "127.0.0.1:0", Server: fakeStats{}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		addr := d.Addr().String()
		if _, err := dashboard.New(dashboard.Config{Addr: addr, Server: fakeStats{}}); err == nil {
			t.Fatal("bound the same port twice")
		}
		shutdown(t, d.Shutdown)
		if err := d.Serve(); err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
		again, err := dashboard.New(dashboard.Config{Addr: addr, Server: fakeStats{}, Logger: quietLogger()})
		if err != nil {
			t.Fatalf("port not freed: %v", err)
		}
		shutdown(t, again.Shutdown)
	})
	t.Run("restart: a dashboard on a new port sees the same store", func(t *testing.T) {
		s := startStack(t, nil)
		s.fill(t, "k", 5)
		shutdown(t, s.dash.Shutdown)
		d := serveDashboard(t, dashboard.Config{Addr: "127.0.0.1:0", Server: s.resp, Store: s.store, Logger: quietLogger()})
		var snap snapshot
		getJSON(t, "http://"+d.Addr().String()+"/api/snapshot", &snap)
		if snap.Brokers.Store.Keys != 5 {
			t.Fatal(snap.Brokers.Store.Keys)
		}
	})
}

// FuzzAPI sends one request of the input's method, path, query and body to
// the API of a dashboard over every broker holding some state, as a browser
// or a script may send it: every answer is a status the request deserves,
// never a panic or a 500 (the answer to an error nobody anticipated).
// Actions carry the dashboard's CSRF header so that they reach their
// handler.
func FuzzAPI(f *testing.F) {
	s := startStack(f, nil)
	s.fill(f, "k", 3)
	s.queueState(f)
	s.pubsubState(f)
	s.streamState(f)
	seeds := []struct {
		post              bool
		path, query, body string
	}{
		{false, "snapshot", "", ""},
		{false, "store/keys", "cursor=0&match=k*&count=2", ""},
		{false, "store/key", "id=azA", ""},
		{false, "store/key", "key=k1", ""},
		{true, "store/delete", "", `{"key":"k2"}`},
		{false, "queue/jobs", "queue=jobs&state=dead&count=10", ""},
		{true, "queue/purge", "", `{"queue":"jobs"}`},
		{true, "queue/requeue", "", `{"queue":"jobs","job":"2"}`},
		{false, "pubsub/subscriptions", "count=5", ""},
		{false, "pubsub/retained", "count=5", ""},
		{false, "stream/messages", "stream=events&partition=1&from=0&count=2", ""},
		{false, "store/keys", "cursor=x&count=0", ""},
		{false, "queue/jobs", "queue=jobs&state=bogus", ""},
		{true, "queue/requeue", "", `{"queue":"jobs","job":"x","extra":1}`},
		{false, "stream/messages", "stream=events&partition=-1&from=99", ""},
	}
	for _, sd := range seeds {
		f.Add(sd.post, sd.path, sd.query, sd.body)
	}
	f.Fuzz(func(t *testing.T, isPost bool, path, query, body string) {
		method := http.MethodGet
		if isPost {
			method = http.MethodPost
		}
		u := &url.URL{Scheme: "http", Host: s.dash.Addr().String(), Path: "/api/" + path, RawQuery: query}
		req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("X-Nexo-Dashboard", "1")
		rec := httptest.NewRecorder()
		s.dash.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: %d %s", method, u, body, rec.Code, rec.Body)
		}
	})
}
