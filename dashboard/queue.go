package dashboard

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"nexo/engine/queue"
)

// Bounds of the queue panel's answers.
const (
	// jobPreviewBytes is how much of a job's payload a job list shows.
	jobPreviewBytes = 1024
	// queueNameBytes is how much of a queue's name the page shows.
	queueNameBytes = 256
)

// queuePersistence tells the page how durable the queues are.
const queuePersistence = "write-ahead log: every change is logged before it is answered"

// queuePanel is the QUEUE broker's panel. It shows the broker's memory as
// it is: it does not wait for the log index a read returns, which a
// command's reply waits for, so a page refreshed every second never waits
// behind an fsync, nor fails with a log that failed.
type queuePanel struct {
	qb *queue.Broker
}

func (p *queuePanel) Name() string { return "queue" }

// queueSnapshot is the QUEUE broker's state in the snapshot.
type queueSnapshot struct {
	Queues       int    `json:"queues"`
	Ready        int64  `json:"ready"`
	Delayed      int64  `json:"delayed"`
	InFlight     int64  `json:"inflight"`
	Dead         int64  `json:"dead"`
	Completed    int64  `json:"completed"` // kept by keep-completed
	Blocked      int64  `json:"blocked"`
	Pushed       int64  `json:"pushed"`
	Delivered    int64  `json:"delivered"`
	Acked        int64  `json:"acked"`
	Failed       int64  `json:"failed"` // nacks, timeouts and released jobs
	DeadLettered int64  `json:"dead_lettered"`
	Requeued     int64  `json:"requeued"`
	Purged       int64  `json:"purged"`
	Cancelled    int64  `json:"cancelled"`
	ReadOnly     bool   `json:"read_only"`
	LastError    string `json:"last_error,omitempty"`
	Persistence  string `json:"persistence"`
	// List holds at most limit queues, by name.
	List []queueView `json:"list"`
}

// queueView is one queue. ID is the name's bytes in unpadded base64url, to
// name it exactly in the queue endpoints.
type queueView struct {
	ID        string       `json:"id"`
	Name      bytesView    `json:"name"`
	Ready     int          `json:"ready"`
	Delayed   int          `json:"delayed"`
	InFlight  int          `json:"inflight"`
	Dead      int          `json:"dead"`
	Completed int          `json:"completed"`
	Paused    bool         `json:"paused"`
	Consumers int          `json:"consumers"`
	Repeats   int          `json:"repeats"` // schedules of repeatable jobs
	Settings  settingsView `json:"settings"`
	Overrides []string     `json:"overrides"`
	Pushed    int64        `json:"pushed"`
	Delivered int64        `json:"delivered"`
	Acked     int64        `json:"acked"`
	Failed    int64        `json:"failed"`
}

type settingsView struct {
	VisibilityMillis       int64   `json:"visibility_ms"`
	MaxAttempts            int     `json:"max_attempts"` // 0: unlimited
	Backoff                string  `json:"backoff"`
	BackoffDelayMillis     int64   `json:"backoff_delay_ms"`
	BackoffMaxMillis       int64   `json:"backoff_max_ms"`
	BackoffJitter          float64 `json:"backoff_jitter"`
	DeadLetterMax          int     `json:"dead_letter_max"`
	ReleaseOnDisconnect    bool    `json:"release_on_disconnect"`
	RateLimit              int     `json:"rate_limit"` // 0: none
	RateWindowMillis       int64   `json:"rate_window_ms"`
	MaxInFlight            int     `json:"max_in_flight"` // 0: none
	Events                 bool    `json:"events"`
	KeepCompleted          int     `json:"keep_completed"`        // 0: none
	KeepCompletedAgeMillis int64   `json:"keep_completed_age_ms"` // 0: no age bound
}

// jobView is one job of a list. ID is a string: JavaScript numbers cannot
// hold every uint64.
type jobView struct {
	ID           string     `json:"id"`
	State        string     `json:"state"`
	Payload      bytesView  `json:"payload"`
	Attempt      int        `json:"attempt"`
	Priority     int64      `json:"priority"`
	Enqueued     time.Time  `json:"enqueued"`
	Due          *time.Time `json:"due,omitempty"`      // delayed: when ready; dead: when it died; completed: when acked
	Deadline     *time.Time `json:"deadline,omitempty"` // in flight: end of its visibility
	Dedup        string     `json:"dedup,omitempty"`
	FailureCount int        `json:"failure_count"`
	LastError    string     `json:"last_error,omitempty"`
	Result       *bytesView `json:"result,omitempty"` // completed: what its consumer returned
}

// jobList is the answer of GET /api/queue/jobs.
type jobList struct {
	Queue bytesView `json:"queue"`
	State string    `json:"state"`
	Total int       `json:"total"` // jobs in that state, of which Jobs lists at most count
	Jobs  []jobView `json:"jobs"`
}

// repeatList is the answer of GET /api/queue/repeats: a queue's schedules
// of repeatable jobs, by name.
type repeatList struct {
	Queue   bytesView    `json:"queue"`
	Repeats []repeatView `json:"repeats"`
}

type repeatView struct {
	Name     bytesView  `json:"name"`
	EveryMs  int64      `json:"every_ms"` // 0 for a cron schedule
	Cron     string     `json:"cron"`     // "" for an interval
	TZ       string     `json:"tz"`       // "" for UTC
	Priority int64      `json:"priority"`
	Payload  bytesView  `json:"payload"`
	Next     *time.Time `json:"next"` // null when it fires no more
}

func (p *queuePanel) Snapshot(limit int) any {
	st := p.qb.Stats()
	snap := queueSnapshot{
		Queues:       st.Queues,
		Ready:        st.Ready,
		Delayed:      st.Delayed,
		InFlight:     st.InFlight,
		Dead:         st.Dead,
		Completed:    st.Completed,
		Blocked:      st.Blocked,
		Pushed:       st.Pushed,
		Delivered:    st.Delivered,
		Acked:        st.Acked,
		Failed:       st.Nacked + st.TimedOut + st.Released,
		DeadLettered: st.DeadLettered,
		Requeued:     st.Requeued,
		Purged:       st.Purged,
		Cancelled:    st.Cancelled,
		ReadOnly:     st.ReadOnly,
		LastError:    st.LastError,
		Persistence:  queuePersistence,
		List:         []queueView{},
	}
	list, _ := p.qb.List()
	for _, in := range list[:min(len(list), limit)] {
		snap.List = append(snap.List, viewQueue(in))
	}
	return snap
}

func viewQueue(in queue.QueueInfo) queueView {
	s := in.Settings
	qv := queueView{
		ID:        base64.RawURLEncoding.EncodeToString([]byte(in.Name)),
		Name:      cut([]byte(in.Name), queueNameBytes),
		Ready:     in.Ready,
		Delayed:   in.Delayed,
		InFlight:  in.InFlight,
		Dead:      in.Dead,
		Completed: in.Completed,
		Paused:    in.Paused,
		Consumers: in.Consumers,
		Repeats:   in.Repeats,
		Settings: settingsView{
			VisibilityMillis:       s.Visibility.Milliseconds(),
			MaxAttempts:            s.MaxAttempts,
			Backoff:                s.Backoff.String(),
			BackoffDelayMillis:     s.BackoffDelay.Milliseconds(),
			BackoffMaxMillis:       s.BackoffMax.Milliseconds(),
			BackoffJitter:          s.BackoffJitter,
			DeadLetterMax:          s.DeadLetterMax,
			ReleaseOnDisconnect:    s.ReleaseOnDisconnect,
			RateLimit:              s.RateLimit,
			RateWindowMillis:       s.RateWindow.Milliseconds(),
			MaxInFlight:            s.MaxInFlight,
			Events:                 s.Events,
			KeepCompleted:          s.KeepCompleted,
			KeepCompletedAgeMillis: s.KeepCompletedAge.Milliseconds(),
		},
		Overrides: in.Overrides,
		Pushed:    in.Pushed,
		Delivered: in.Delivered,
		Acked:     in.Acked,
		Failed:    in.Failed,
	}
	if qv.Overrides == nil {
		qv.Overrides = []string{}
	}
	return qv
}

func viewJob(j queue.JobInfo) jobView {
	jv := jobView{
		ID:           strconv.FormatUint(j.ID, 10),
		State:        j.State.String(),
		Payload:      cut(j.Payload, jobPreviewBytes),
		Attempt:      j.Attempt,
		Priority:     j.Priority,
		Enqueued:     j.Enqueued.UTC(),
		Dedup:        j.Dedup,
		FailureCount: j.FailureCount,
	}
	if !j.Due.IsZero() {
		due := j.Due.UTC()
		jv.Due = &due
	}
	if !j.Deadline.IsZero() {
		deadline := j.Deadline.UTC()
		jv.Deadline = &deadline
	}
	if n := len(j.Failures); n > 0 {
		jv.LastError = j.Failures[n-1].Message
	}
	if j.Result != nil {
		result := cut(j.Result, jobPreviewBytes)
		jv.Result = &result
	}
	return jv
}

func (p *queuePanel) Routes(r routes) {
	r.get("/jobs", p.jobs)
	r.get("/repeats", p.repeats)
	r.post("/purge", p.purge)
	r.post("/requeue", p.requeue)
}

// queueParam reads the queue a request names: id (unpadded base64url of the
// name, as the snapshot gives it) or queue (the name as text).
func queueParam(id, name string) (string, error) {
	switch {
	case id != "" && name != "":
		return "", badRequest("name the queue by id or by queue, not both")
	case id != "":
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			return "", badRequest("id must be a queue id from the snapshot (unpadded base64url)")
		}
		return string(b), nil
	case name != "":
		return name, nil
	}
	return "", badRequest("name a queue with id or queue")
}

// jobs answers GET /api/queue/jobs?queue=&state=&count=: the first jobs of
// one state, in the order the queue keeps them, without taking them.
func (p *queuePanel) jobs(r *http.Request) (any, error) {
	q := r.URL.Query()
	name, err := queueParam(q.Get("id"), q.Get("queue"))
	if err != nil {
		return nil, err
	}
	count, err := intParam(r, "count", defaultLimit, maxLimit)
	if err != nil {
		return nil, err
	}
	state, err := queue.ParseState(q.Get("state"))
	if err != nil {
		return nil, badRequest("state must be ready, delayed, inflight, dead or completed")
	}
	jobs, _, err := p.qb.Jobs(name, state, count)
	if err != nil {
		return nil, err
	}
	counts, _ := p.qb.Len(name)
	total := [...]int{queue.Ready: counts.Ready, queue.Delayed: counts.Delayed, queue.InFlight: counts.InFlight,
		queue.Dead: counts.Dead, queue.Completed: counts.Completed}
	list := jobList{
		Queue: cut([]byte(name), queueNameBytes),
		State: state.String(),
		Total: total[state],
		Jobs:  make([]jobView, len(jobs)),
	}
	for i, j := range jobs {
		list.Jobs[i] = viewJob(j)
	}
	return list, nil
}

// repeats answers GET /api/queue/repeats?queue=: the queue's schedules of
// repeatable jobs with their next fire times.
func (p *queuePanel) repeats(r *http.Request) (any, error) {
	q := r.URL.Query()
	name, err := queueParam(q.Get("id"), q.Get("queue"))
	if err != nil {
		return nil, err
	}
	rs, _ := p.qb.Repeats(name)
	list := repeatList{Queue: cut([]byte(name), queueNameBytes), Repeats: make([]repeatView, len(rs))}
	for i, rep := range rs {
		v := repeatView{Name: cut([]byte(rep.Name), queueNameBytes), EveryMs: rep.Every.Milliseconds(), Cron: rep.Cron, TZ: rep.TZ,
			Priority: rep.Priority, Payload: cut(rep.Payload, jobPreviewBytes)}
		if !rep.Next.IsZero() {
			next := rep.Next.UTC()
			v.Next = &next
		}
		list.Repeats[i] = v
	}
	return list, nil
}

// queueAction is the body of the queue's POST actions.
type queueAction struct {
	ID    string `json:"id"`
	Queue string `json:"queue"`
	// Job names one dead letter to requeue (decimal, as lists give it);
	// empty: all of them.
	Job string `json:"job"`
}

func decodeAction(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &apiError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		if errors.Is(err, io.EOF) {
			return badRequest(`a JSON body {"queue": "..."} is required`)
		}
		return badRequest("invalid JSON body: " + err.Error())
	}
	return nil
}

// queueError turns a refusal of the broker into an answer: a full or failed
// log is unavailability, a bad name or a job that is not a dead letter is
// the client's.
func queueError(err error) error {
	switch {
	case errors.Is(err, queue.ErrInvalidName):
		return badRequest(err.Error())
	case errors.Is(err, queue.ErrNotDead):
		return notFound(err.Error())
	case errors.Is(err, queue.ErrOverload), errors.Is(err, queue.ErrReadOnly), errors.Is(err, queue.ErrClosed):
		return &apiError{http.StatusServiceUnavailable, err.Error()}
	}
	return err
}

type purgeResult struct {
	Purged int `json:"purged"`
}

// purge answers POST /api/queue/purge {"queue": "..."} (or {"id": "..."}):
// QPURGE, dropping the queue's ready and delayed jobs once they are durably
// dropped.
func (p *queuePanel) purge(r *http.Request) (any, error) {
	var req queueAction
	if err := decodeAction(r, &req); err != nil {
		return nil, err
	}
	if req.Job != "" {
		return nil, badRequest("purge takes no job")
	}
	name, err := queueParam(req.ID, req.Queue)
	if err != nil {
		return nil, err
	}
	n, idx, err := p.qb.Purge(name)
	if err == nil {
		err = p.qb.Wait(idx)
	}
	if err != nil {
		return nil, queueError(err)
	}
	return purgeResult{Purged: n}, nil
}

type requeueResult struct {
	Requeued int `json:"requeued"`
}

// requeue answers POST /api/queue/requeue {"queue": "...", "job": "12"}:
// moves one dead letter (or, without job, all of them) back to the queue's
// ready jobs.
func (p *queuePanel) requeue(r *http.Request) (any, error) {
	var req queueAction
	if err := decodeAction(r, &req); err != nil {
		return nil, err
	}
	name, err := queueParam(req.ID, req.Queue)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	if req.Job != "" {
		id, err := strconv.ParseUint(req.Job, 10, 64)
		if err != nil {
			return nil, badRequest("job must be a job id (decimal)")
		}
		ids = []uint64{id}
	}
	n, idx, err := p.qb.Requeue(name, name, ids)
	if err == nil {
		err = p.qb.Wait(idx)
	}
	if err != nil {
		return nil, queueError(err)
	}
	return requeueResult{Requeued: n}, nil
}

// Metrics of the queues. Per-queue series carry the queue's name.
var (
	queueJobs      = queueDesc("jobs", "Jobs of each queue by state (ready, delayed, inflight, dead, completed).", "queue", "state")
	queuePushed    = queueDesc("pushed_total", "Jobs pushed to each queue since the server started.", "queue")
	queueDelivered = queueDesc("delivered_total", "Deliveries of each queue's jobs to consumers since the server started.", "queue")
	queueAcked     = queueDesc("acked_total", "Jobs of each queue acknowledged since the server started.", "queue")
	queueFailed    = queueDesc("failed_total", "Failed deliveries (nack, timeout, consumer gone) of each queue since the server started.", "queue")
)

func queueDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "queue", name), help, labels, nil)
}

// Describe implements prometheus.Collector.
func (p *queuePanel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueJobs, queuePushed, queueDelivered, queueAcked, queueFailed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *queuePanel) Collect(ch chan<- prometheus.Metric) {
	list, _ := p.qb.List()
	for _, in := range list {
		name := labelValue(in.Name)
		for _, s := range []struct {
			state queue.State
			n     int
		}{{queue.Ready, in.Ready}, {queue.Delayed, in.Delayed}, {queue.InFlight, in.InFlight}, {queue.Dead, in.Dead}, {queue.Completed, in.Completed}} {
			ch <- prometheus.MustNewConstMetric(queueJobs, prometheus.GaugeValue, float64(s.n), name, s.state.String())
		}
		for _, c := range []struct {
			d *prometheus.Desc
			v int64
		}{{queuePushed, in.Pushed}, {queueDelivered, in.Delivered}, {queueAcked, in.Acked}, {queueFailed, in.Failed}} {
			ch <- prometheus.MustNewConstMetric(c.d, prometheus.CounterValue, float64(c.v), name)
		}
	}
}

// labelValue is name as a label value, which must be UTF-8: binary names
// are escaped as the page shows them.
func labelValue(name string) string {
	if utf8.ValidString(name) {
		return name
	}
	return escapeBytes([]byte(name))
}
