package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// httpTimeout bounds one HTTP request to the binary.
const httpTimeout = 5 * time.Second

// readyHTTP extracts the HTTP address from the ready line.
var readyHTTP = regexp.MustCompile(`\bhttp="?([^"\s]+)"?`)

// httpBase returns http://HOST:PORT of the server's HTTP port, read from
// its ready line.
func httpBase(t *testing.T, s *server) string {
	t.Helper()
	for line := range strings.Lines(s.logs()) {
		if !strings.Contains(line, readyMessage) {
			continue
		}
		m := readyHTTP.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("ready line without http=: %q", line)
		}
		if strings.HasSuffix(m[1], ":0") {
			t.Fatalf("ready line names no bound port: %q", line)
		}
		return "http://" + m[1]
	}
	t.Fatalf("no ready line in\n%s", s.logs())
	return ""
}

// httpGet fetches base+path, with the password when one is given.
func httpGet(t *testing.T, base, path, password string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if password != "" {
		req.SetBasicAuth("", password)
	}
	res, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

func TestDashboardBinary(t *testing.T) {
	t.Run("served on the HTTP port by default, showing what redis-cli wrote", func(t *testing.T) {
		s := startServer(t)
		base := httpBase(t, s)
		redisCLI(t, s.port, "SET", "dash:greeting", "hello")
		redisCLI(t, s.port, "HSET", "dash:user", "name", "Ada")
		if status, body := httpGet(t, base, "/healthz", ""); status != http.StatusOK || body != "ok\n" {
			t.Fatalf("/healthz: %d %q", status, body)
		}
		status, body := httpGet(t, base, "/api/snapshot", "")
		var snap struct {
			Overview struct {
				Version string `json:"version"`
			} `json:"overview"`
			Brokers struct {
				Store struct {
					Keys int `json:"keys"`
				} `json:"store"`
			} `json:"brokers"`
		}
		if status != http.StatusOK || json.Unmarshal([]byte(body), &snap) != nil || snap.Brokers.Store.Keys != 2 || snap.Overview.Version == "" {
			t.Fatalf("/api/snapshot: %d %s", status, body)
		}
		if status, body := httpGet(t, base, "/", ""); status != http.StatusOK || !strings.Contains(body, "<title>NEXO dashboard</title>") {
			t.Fatalf("/: %d", status)
		}
		status, body = httpGet(t, base, "/metrics", "")
		if status != http.StatusOK || !strings.Contains(body, `nexo_command_calls_total{command="hset"} 1`) || !strings.Contains(body, "nexo_store_keys 2") {
			t.Fatalf("/metrics: %d\n%s", status, body)
		}
		// A command refused for its arity is rejected, not called, as in Redis.
		redisCLI(t, s.port, "INCR")
		redisCLI(t, s.port, "INCR", "k", "extra")
		stats := redisCLI(t, s.port, "INFO", "commandstats")
		if !regexp.MustCompile(`cmdstat_set:calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0`).MatchString(stats) ||
			!strings.Contains(stats, "cmdstat_incr:calls=0,usec=0,usec_per_call=0.00,rejected_calls=2,failed_calls=0") {
			t.Fatalf("INFO commandstats: %s", stats)
		}
	})
	t.Run("with a password, HTTP Basic auth with any user name; /healthz stays open", func(t *testing.T) {
		s := startServer(t, "--password", testPassword)
		base := httpBase(t, s)
		for _, path := range []string{"/", "/api/snapshot", "/metrics"} {
			if status, _ := httpGet(t, base, path, ""); status != http.StatusUnauthorized {
				t.Fatalf("%s without the password: %d", path, status)
			}
			if status, _ := httpGet(t, base, path, testPassword); status != http.StatusOK {
				t.Fatalf("%s with the password: %d", path, status)
			}
		}
		if status, _ := httpGet(t, base, "/healthz", ""); status != http.StatusOK {
			t.Fatalf("/healthz: %d", status)
		}
	})
	t.Run("--dashboard no keeps /metrics and /healthz only", func(t *testing.T) {
		s := startServer(t, "--dashboard", "no")
		base := httpBase(t, s)
		for path, want := range map[string]int{"/": http.StatusNotFound, "/api/snapshot": http.StatusNotFound, "/metrics": http.StatusOK, "/healthz": http.StatusOK} {
			if status, _ := httpGet(t, base, path, ""); status != want {
				t.Fatalf("%s: %d, want %d", path, status, want)
			}
		}
	})
}
