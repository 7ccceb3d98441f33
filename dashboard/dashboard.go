// Package dashboard is NEXO's HTTP side port: a web page showing the live
// state of every broker, the JSON API behind it, Prometheus metrics and a
// health check.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (web/),
// with no build step and nothing fetched from elsewhere. Each broker is a
// panel (see panel): its state in the snapshot, its drill-down endpoints
// under /api/<name>/, optionally its metrics, and one renderer on the page
// (web/panels/<name>.js). The dashboard only reads the brokers' facades and
// the command layer's Stats; it never reaches into their internals.
package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"nexo/commands"
	"nexo/engine/pubsub"
	"nexo/engine/queue"
	"nexo/engine/store"
	"nexo/engine/stream"
)

// HTTP server limits.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Paths served outside the API.
const (
	healthPath  = "/healthz"
	metricsPath = "/metrics"
	apiPrefix   = "/api/"
)

// authRealm names the HTTP Basic authentication realm.
const authRealm = "NEXO"

// contentSecurityPolicy lets the page load only its own scripts, styles
// and API: even a value that slipped into markup could not run a script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed web
var embedded embed.FS

// ServerStats is what the dashboard needs from the command layer.
type ServerStats interface {
	Stats() commands.Stats
}

// Config configures the dashboard's HTTP server.
type Config struct {
	Addr     string // host:port to listen on; port 0 picks a free port
	Password string // empty: open; otherwise HTTP Basic auth with any user name
	Version  string
	// MetricsOnly serves /metrics and /healthz alone: no page, no API.
	MetricsOnly bool
	// DataDir and Fsync are shown as the overview's persistence settings.
	DataDir, Fsync string
	Logger         *slog.Logger
	Server         ServerStats // required
	Store          *store.Store
	Queue          *queue.Broker
	PubSub         *pubsub.Broker
	Stream         *stream.Broker
}

// Server is the dashboard's HTTP server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ln       net.Listener
	http     *http.Server
	mux      *http.ServeMux
	web      fs.FS
	panels   []panel
	registry *prometheus.Registry
	// loopback is set when the listener is on a loopback address: requests
	// must then name a loopback host (see hostAllowed).
	loopback bool
	passHash [sha256.Size]byte
}

// New validates cfg and binds the listener, so that Addr reports the real
// port before Serve runs.
func New(cfg Config) (*Server, error) {
	if cfg.Server == nil {
		return nil, errors.New("dashboard: server stats are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	web, err := fs.Sub(embedded, "web")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		ln:       ln,
		mux:      http.NewServeMux(),
		web:      web,
		registry: prometheus.NewRegistry(),
		passHash: sha256.Sum256([]byte(cfg.Password)),
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok {
		s.loopback = tcp.IP.IsLoopback()
	}
	if cfg.Store != nil {
		s.panels = append(s.panels, &storePanel{st: cfg.Store})
	}
	if cfg.Queue != nil {
		s.panels = append(s.panels, &queuePanel{qb: cfg.Queue})
	}
	if cfg.PubSub != nil {
		s.panels = append(s.panels, &pubsubPanel{pb: cfg.PubSub})
	}
	if cfg.Stream != nil {
		s.panels = append(s.panels, &streamPanel{sb: cfg.Stream})
	}
	if err := s.registerMetrics(); err != nil {
		ln.Close()
		return nil, err
	}
	s.routes()
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers HTTP requests until Shutdown.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, waits for the requests in progress (or ctx)
// and closes the connections.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	// Shutdown before Serve leaves the listener to close here.
	if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	return err
}

func (s *Server) registerMetrics() error {
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newServerCollector(s.cfg.Server, s.cfg.Version),
	}
	for _, p := range s.panels {
		if c, ok := p.(prometheus.Collector); ok {
			cs = append(cs, c)
		}
	}
	for _, c := range cs {
		if err := s.registry.Register(c); err != nil {
			return fmt.Errorf("dashboard: metrics: %w", err)
		}
	}
	return nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET "+healthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
	s.mux.Handle("GET "+metricsPath, promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
	if s.cfg.MetricsOnly {
		return
	}
	s.mux.HandleFunc("GET /", s.static)
	s.mux.HandleFunc("GET "+apiPrefix, api(s.log, func(*http.Request) (any, error) {
		return nil, notFound("no such API endpoint")
	}))
	s.mux.HandleFunc("GET "+apiPrefix+"snapshot", api(s.log, s.snapshot))
	for _, p := range s.panels {
		p.Routes(routes{mux: s.mux, log: s.log, prefix: apiPrefix + p.Name()})
	}
}

// ServeHTTP applies the checks every request but the health check passes:
// the host name, then the password.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path != healthPath {
		if !s.hostAllowed(r.Host) {
			http.Error(w, "forbidden host name: the dashboard listens on loopback and answers loopback names only", http.StatusForbidden)
			return
		}
		if !s.authorized(r) {
			h.Set("WWW-Authenticate", `Basic realm="`+authRealm+`", charset="UTF-8"`)
			http.Error(w, "authentication required: the password, with any user name", http.StatusUnauthorized)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// authorized checks HTTP Basic credentials when a password is configured:
// any user name, the server's password.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Password == "" {
		return true
	}
	_, pass, ok := r.BasicAuth()
	got := sha256.Sum256([]byte(pass))
	// Comparing digests keeps the time independent of the password's length.
	return ok && subtle.ConstantTimeCompare(got[:], s.passHash[:]) == 1
}

// hostAllowed guards against DNS rebinding: a web page on another site
// cannot make a browser send it the answers of a dashboard on loopback,
// because its requests carry that site's host name. A server bound to
// other addresses answers any name.
func (s *Server) hostAllowed(host string) bool {
	if !s.loopback {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// static serves the embedded page; directories are not listed.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	info, err := fs.Stat(s.web, name)
	if err != nil || info.IsDir() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, s.web, name)
}
