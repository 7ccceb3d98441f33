package dashboard

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"nexo/engine/store"
)

// Bounds of the store panel's answers.
const (
	// pagePreviewBytes and pagePreviewFields bound each key of a page: a
	// glance, not the value.
	pagePreviewBytes  = 96
	pagePreviewFields = 4
	// detailPreviewBytes and detailPreviewFields bound the one key a detail
	// view shows.
	detailPreviewBytes  = 64 << 10
	detailPreviewFields = 1000
	// pageKeyBytes is how much of a key's name a page shows.
	pageKeyBytes = 256
	// maxKeyID is the longest key given an id: longer keys are listed
	// without one, so that no page carries megabytes of key names.
	maxKeyID = 64 << 10
)

// storePersistence tells the page how durable the store is.
const storePersistence = "none: the store is a volatile in-memory cache"

// storePanel is the STORE broker's panel.
type storePanel struct {
	st *store.Store
}

func (p *storePanel) Name() string { return "store" }

// storeSnapshot is the store's state in the snapshot.
type storeSnapshot struct {
	Keys            int64  `json:"keys"`
	Expires         int64  `json:"expires"`
	UsedMemoryBytes int64  `json:"used_memory_bytes"`
	MaxMemoryBytes  int64  `json:"max_memory_bytes"`
	Policy          string `json:"policy"`
	Hits            int64  `json:"hits"`
	Misses          int64  `json:"misses"`
	ExpiredKeys     int64  `json:"expired_keys"`
	EvictedKeys     int64  `json:"evicted_keys"`
	Persistence     string `json:"persistence"`
	// Page is the first page of keys: at most limit of the Keys in total.
	Page keyPage `json:"page"`
}

// keyPage is one page of a browse.
type keyPage struct {
	Match string `json:"match"`
	// Cursor continues the walk; "0" when it is complete.
	Cursor string    `json:"cursor"`
	Keys   []keyView `json:"keys"`
}

// keyView is one key. ID is the key's bytes in unpadded base64url, to name
// it exactly in /api/store/key and /api/store/delete.
type keyView struct {
	ID          string      `json:"id,omitempty"`
	Key         bytesView   `json:"key"`
	Type        string      `json:"type"`
	TTLMillis   int64       `json:"ttl_ms"` // -1: no TTL
	Len         int64       `json:"len"`    // string: bytes; hash: fields
	MemoryBytes int64       `json:"memory_bytes"`
	Value       *bytesView  `json:"value,omitempty"`
	Fields      []fieldView `json:"fields,omitempty"`
}

type fieldView struct {
	Name  bytesView `json:"name"`
	Value bytesView `json:"value"`
}

func (p *storePanel) Snapshot(limit int) any {
	st := p.st.Stats()
	return storeSnapshot{
		Keys:            st.Keys,
		Expires:         st.Expires,
		UsedMemoryBytes: st.UsedMemory,
		MaxMemoryBytes:  st.MaxMemory,
		Policy:          st.Policy.String(),
		Hits:            st.KeyspaceHits,
		Misses:          st.KeyspaceMisses,
		ExpiredKeys:     st.ExpiredKeys,
		EvictedKeys:     st.EvictedKeys,
		Persistence:     storePersistence,
		Page:            p.browse(0, "*", limit),
	}
}

func (p *storePanel) browse(cursor uint64, match string, count int) keyPage {
	next, infos := p.st.Browse(cursor, []byte(match), count, store.Preview{Bytes: pagePreviewBytes, Fields: pagePreviewFields})
	page := keyPage{Match: match, Cursor: formatCursor(next), Keys: make([]keyView, len(infos))}
	for i, ki := range infos {
		page.Keys[i] = viewKey(ki, pageKeyBytes, false)
	}
	return page
}

// viewKey describes ki, showing at most keyBytes of its name; withData adds
// the bytes of the value and fields for a hex view.
func viewKey(ki store.KeyInfo, keyBytes int, withData bool) keyView {
	view := viewBytes
	if withData {
		view = viewBytesWithData
	}
	kv := keyView{
		Key:         viewBytes(ki.Key[:min(len(ki.Key), keyBytes)], int64(len(ki.Key))),
		Type:        ki.Type,
		TTLMillis:   ki.PTTL,
		Len:         ki.Len,
		MemoryBytes: ki.Memory,
	}
	if len(ki.Key) <= maxKeyID {
		kv.ID = base64.RawURLEncoding.EncodeToString(ki.Key)
	}
	if ki.Type == "hash" {
		kv.Fields = make([]fieldView, len(ki.Fields))
		for i, f := range ki.Fields {
			kv.Fields[i] = fieldView{Name: view(f.Name, int64(f.NameLen)), Value: view(f.Value, int64(f.ValueLen))}
		}
		return kv
	}
	v := view(ki.Value, ki.Len)
	kv.Value = &v
	return kv
}

func (p *storePanel) Routes(r routes) {
	r.get("/keys", p.keys)
	r.get("/key", p.key)
	r.post("/delete", p.delete)
}

// keys answers GET /api/store/keys?match=&cursor=&count=: one page of a
// SCAN-like walk.
func (p *storePanel) keys(r *http.Request) (any, error) {
	q := r.URL.Query()
	count, err := intParam(r, "count", defaultLimit, maxLimit)
	if err != nil {
		return nil, err
	}
	cursor := uint64(0)
	if c := q.Get("cursor"); c != "" {
		if cursor, err = strconv.ParseUint(c, 10, 64); err != nil {
			return nil, badRequest("cursor must be a cursor returned by an earlier page, or 0")
		}
	}
	match := q.Get("match")
	if match == "" {
		match = "*"
	}
	return p.browse(cursor, match, count), nil
}

// keyParam reads the key a request names: id (unpadded base64url of the
// key's bytes, as pages give it) or key (the name as text).
func keyParam(id, key string) ([]byte, error) {
	switch {
	case id != "" && key != "":
		return nil, badRequest("name the key by id or by key, not both")
	case id != "":
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			return nil, badRequest("id must be a key id from a page (unpadded base64url)")
		}
		return b, nil
	case key != "":
		return []byte(key), nil
	}
	return nil, badRequest("name a key with id or key")
}

// key answers GET /api/store/key?id= (or ?key=): one key with a larger
// preview of its value.
func (p *storePanel) key(r *http.Request) (any, error) {
	q := r.URL.Query()
	key, err := keyParam(q.Get("id"), q.Get("key"))
	if err != nil {
		return nil, err
	}
	ki, ok := p.st.Inspect(key, store.Preview{Bytes: detailPreviewBytes, Fields: detailPreviewFields})
	if !ok {
		return nil, notFound("no such key")
	}
	return viewKey(ki, detailPreviewBytes, true), nil
}

type deleteRequest struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

type deleteResult struct {
	Deleted int `json:"deleted"`
}

// delete answers POST /api/store/delete with a JSON body {"id": "..."} (or
// {"key": "..."}): DEL of one key.
func (p *storePanel) delete(r *http.Request) (any, error) {
	var req deleteRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "request body too large"}
		}
		if errors.Is(err, io.EOF) {
			return nil, badRequest(`a JSON body {"id": "..."} is required`)
		}
		return nil, badRequest("invalid JSON body: " + err.Error())
	}
	key, err := keyParam(req.ID, req.Key)
	if err != nil {
		return nil, err
	}
	return deleteResult{Deleted: p.st.Del([][]byte{key})}, nil
}

// Metrics of the store.
var (
	storeKeys     = storeDesc("keys", "Keys in the store, including expired keys not reclaimed yet.")
	storeExpiring = storeDesc("expiring_keys", "Keys with a TTL.")
	storeUsed     = storeDesc("memory_used_bytes", "The store's accounted data: keys, values and per-key overhead (what maxmemory limits).")
	storeMax      = storeDesc("memory_max_bytes", "The maxmemory setting; 0 = no limit.")
	storeEvicted  = storeDesc("evicted_keys_total", "Keys evicted at maxmemory.")
	storeExpired  = storeDesc("expired_keys_total", "Keys deleted because their TTL passed.")
	storeHits     = storeDesc("keyspace_hits_total", "Reads that found their key.")
	storeMisses   = storeDesc("keyspace_misses_total", "Reads that did not find their key.")
)

func storeDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "store", name), help, nil, nil)
}

// Describe implements prometheus.Collector.
func (p *storePanel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeKeys, storeExpiring, storeUsed, storeMax, storeEvicted, storeExpired, storeHits, storeMisses} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *storePanel) Collect(ch chan<- prometheus.Metric) {
	st := p.st.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v int64
	}{
		{storeKeys, prometheus.GaugeValue, st.Keys},
		{storeExpiring, prometheus.GaugeValue, st.Expires},
		{storeUsed, prometheus.GaugeValue, st.UsedMemory},
		{storeMax, prometheus.GaugeValue, st.MaxMemory},
		{storeEvicted, prometheus.CounterValue, st.EvictedKeys},
		{storeExpired, prometheus.CounterValue, st.ExpiredKeys},
		{storeHits, prometheus.CounterValue, st.KeyspaceHits},
		{storeMisses, prometheus.CounterValue, st.KeyspaceMisses},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, float64(m.v))
	}
}
