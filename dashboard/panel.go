package dashboard

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// panel is one broker's part of the dashboard. Adding a broker is one file
// that implements panel (and, for its metrics, prometheus.Collector), one
// line in New, and its renderer web/panels/<name>.js.
type panel interface {
	// Name is the broker's key in the snapshot, its API prefix
	// (/api/<name>/...) and the name of its renderer on the page.
	Name() string
	// Snapshot returns the broker's state now, for JSON; lists in it hold
	// at most limit items. It must not hold a broker-wide lock for long: a
	// snapshot never stalls command processing for more than a shard.
	Snapshot(limit int) any
	// Routes registers the broker's drill-down endpoints and actions.
	Routes(r routes)
}

// Limits of the API's lists.
const (
	// defaultLimit is the length of a list when a request names none.
	defaultLimit = 50
	// maxLimit caps every list of one response.
	maxLimit = 1000
	// maxActionBody bounds the JSON body of a POST.
	maxActionBody = 1 << 20
)

// csrfHeader must be present on every POST. A page of another site cannot
// send a custom header without a CORS preflight, which the server never
// grants, so an action cannot be forged from elsewhere even when the
// browser holds the dashboard's credentials.
const csrfHeader = "X-Nexo-Dashboard"

// routes registers a panel's endpoints under its prefix.
type routes struct {
	mux    *http.ServeMux
	log    *slog.Logger
	prefix string
}

// get registers a read endpoint.
func (r routes) get(path string, f apiFunc) {
	r.mux.HandleFunc("GET "+r.prefix+path, api(r.log, f))
}

// post registers an action, guarded against cross-site requests. A GET of
// its path is answered 405 rather than by the page.
func (r routes) post(path string, f apiFunc) {
	r.mux.HandleFunc("GET "+r.prefix+path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"this action takes POST"})
	})
	h := api(r.log, f)
	r.mux.HandleFunc("POST "+r.prefix+path, func(w http.ResponseWriter, req *http.Request) {
		if err := sameOrigin(req); err != nil {
			writeJSON(w, http.StatusForbidden, errorBody{err.Error()})
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, maxActionBody)
		h(w, req)
	})
}

// sameOrigin refuses requests that do not carry csrfHeader or that the
// browser marks as coming from another origin.
func sameOrigin(r *http.Request) error {
	if r.Header.Get(csrfHeader) == "" {
		return errors.New("missing " + csrfHeader + " header (actions are refused without it, against cross-site request forgery)")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errors.New("cross-site request refused")
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return errors.New("cross-origin request refused")
		}
	}
	return nil
}

// apiFunc answers an API request with a value for JSON or an error.
type apiFunc func(r *http.Request) (any, error)

// apiError is an error the client caused, with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(msg string) error { return &apiError{http.StatusBadRequest, msg} }

func notFound(msg string) error { return &apiError{http.StatusNotFound, msg} }

type errorBody struct {
	Error string `json:"error"`
}

// api adapts an apiFunc: JSON out, errors as {"error": "..."} with their
// status; an unexpected error is logged and answered 500.
func api(log *slog.Logger, f apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		var ae *apiError
		switch {
		case errors.As(err, &ae):
			writeJSON(w, ae.status, errorBody{ae.msg})
		case err != nil:
			log.Error("dashboard request failed", "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
		default:
			writeJSON(w, http.StatusOK, v)
		}
	}
}

// writeJSON writes v. The encoder escapes <, > and & inside strings, so a
// response read as HTML by mistake carries no markup.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// intParam reads an integer query parameter between 1 and max.
func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest(name + " must be an integer from 1 to " + strconv.Itoa(max))
	}
	return n, nil
}

// snapshot is the answer of GET /api/snapshot.
type snapshot struct {
	Time     time.Time `json:"time"`
	Overview overview  `json:"overview"`
	// Panels lists the brokers in the order the page shows them.
	Panels  []string       `json:"panels"`
	Brokers map[string]any `json:"brokers"`
}

// snapshot answers every broker's state at this instant, each broker
// answering for itself.
func (s *Server) snapshot(r *http.Request) (any, error) {
	limit, err := intParam(r, "limit", defaultLimit, maxLimit)
	if err != nil {
		return nil, err
	}
	snap := snapshot{
		Time:     time.Now().UTC(),
		Overview: s.overview(limit),
		Panels:   make([]string, 0, len(s.panels)),
		Brokers:  make(map[string]any, len(s.panels)),
	}
	for _, p := range s.panels {
		snap.Panels = append(snap.Panels, p.Name())
		snap.Brokers[p.Name()] = p.Snapshot(limit)
	}
	return snap, nil
}
