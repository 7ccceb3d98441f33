package dashboard

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"nexo/engine/stream"
)

// Bounds of the stream panel's answers.
const (
	// messagePreviewBytes is how much of a message's key and value a
	// message list shows.
	messagePreviewBytes = 1024
	// streamNameBytes is how much of a stream, group or member name the
	// page shows.
	streamNameBytes = 256
	// messageReadBatch is how many messages a message list reads from the
	// broker at a time.
	messageReadBatch = 16
	// messageReadBudget bounds the key and value bytes one message list
	// reads: the list stops at the batch that crosses it, so a list of
	// large messages never holds count of them whole.
	messageReadBudget = 4 << 20
)

// streamPersistence tells the page how durable the streams are.
const streamPersistence = "write-ahead log per partition: every message is logged before it is answered"

// streamPanel is the STREAM broker's panel. It shows the broker's memory
// as it is, as queuePanel does: it does not wait for the tokens a read
// returns.
type streamPanel struct {
	sb *stream.Broker
}

func (p *streamPanel) Name() string { return "stream" }

// streamSnapshot is the STREAM broker's state in the snapshot.
type streamSnapshot struct {
	Streams     int    `json:"streams"`
	Partitions  int    `json:"partitions"`
	Groups      int    `json:"groups"`
	Messages    int64  `json:"messages"`
	Bytes       int64  `json:"bytes"`
	Persistence string `json:"persistence"`
	// List holds at most limit streams, by name, each with at most limit
	// groups.
	List []streamView `json:"list"`
}

// streamView is one stream. ID is the name's bytes in unpadded base64url,
// to name it exactly in the stream endpoints.
type streamView struct {
	ID         string             `json:"id"`
	Name       bytesView          `json:"name"`
	Settings   streamSettingsView `json:"settings"`
	Partitions []partitionView    `json:"partitions"`
	Groups     []streamGroupView  `json:"groups"`
	GroupCount int                `json:"group_count"`
	Messages   int64              `json:"messages"`
	Bytes      int64              `json:"bytes"`
}

// streamSettingsView is a stream's partition count and retention; 0 means
// no limit.
type streamSettingsView struct {
	Partitions   int   `json:"partitions"`
	MaxAgeMillis int64 `json:"max_age_ms"`
	MaxBytes     int64 `json:"max_bytes"`
	MaxMessages  int64 `json:"max_messages"`
}

type partitionView struct {
	Partition int   `json:"partition"`
	First     int64 `json:"first"` // earliest retained offset
	Next      int64 `json:"next"`  // offset of the next message
	Messages  int64 `json:"messages"`
	Bytes     int64 `json:"bytes"`
	DiskBytes int64 `json:"disk_bytes"`
}

type streamGroupView struct {
	Name       bytesView            `json:"name"`
	Members    []memberView         `json:"members"`
	Partitions []groupPartitionView `json:"partitions"`
	Lag        int64                `json:"lag"` // over every partition
}

type memberView struct {
	ID         bytesView `json:"id"`
	Partitions []int     `json:"partitions"`
	LastSeen   time.Time `json:"last_seen"`
	Blocked    bool      `json:"blocked"`
}

type groupPartitionView struct {
	Partition int       `json:"partition"`
	Owner     bytesView `json:"owner"` // empty: no member
	Committed int64     `json:"committed"`
	Lag       int64     `json:"lag"`
}

// messageView is one message of a list.
type messageView struct {
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"`
	Key    bytesView `json:"key"`
	Value  bytesView `json:"value"`
}

// messageList is the answer of GET /api/stream/messages.
type messageList struct {
	Stream    bytesView `json:"stream"`
	Partition int       `json:"partition"`
	First     int64     `json:"first"`
	Next      int64     `json:"next"`
	// NextFrom is the offset following the last message listed, where
	// the following page starts.
	NextFrom int64         `json:"next_from"`
	Messages []messageView `json:"messages"`
}

func (p *streamPanel) Snapshot(limit int) any {
	st := p.sb.Stats()
	snap := streamSnapshot{
		Streams:     st.Streams,
		Partitions:  st.Partitions,
		Groups:      st.Groups,
		Messages:    st.Messages,
		Bytes:       st.Bytes,
		Persistence: streamPersistence,
		List:        []streamView{},
	}
	names := p.sb.List()
	for _, name := range names[:min(len(names), limit)] {
		info, _, err := p.sb.Info(name)
		if err != nil {
			continue // closed since List
		}
		snap.List = append(snap.List, p.viewStream(info, limit))
	}
	return snap
}

func (p *streamPanel) viewStream(info stream.Info, limit int) streamView {
	s := info.Settings
	sv := streamView{
		ID:   base64.RawURLEncoding.EncodeToString([]byte(info.Name)),
		Name: cut([]byte(info.Name), streamNameBytes),
		Settings: streamSettingsView{
			Partitions:   s.Partitions,
			MaxAgeMillis: s.MaxAge.Milliseconds(),
			MaxBytes:     s.MaxBytes,
			MaxMessages:  s.MaxMessages,
		},
		Partitions: make([]partitionView, len(info.Partitions)),
		Groups:     []streamGroupView{},
		GroupCount: len(info.Groups),
	}
	for i, pi := range info.Partitions {
		sv.Partitions[i] = partitionView{Partition: pi.Partition, First: pi.First, Next: pi.Next,
			Messages: pi.Messages, Bytes: pi.Bytes, DiskBytes: pi.DiskBytes}
		sv.Messages += pi.Messages
		sv.Bytes += pi.Bytes
	}
	for _, g := range info.Groups[:min(len(info.Groups), limit)] {
		gi, _, err := p.sb.GroupInfo(info.Name, g)
		if err != nil {
			continue // deleted since Info
		}
		sv.Groups = append(sv.Groups, viewGroup(gi))
	}
	return sv
}

func viewGroup(gi stream.GroupInfo) streamGroupView {
	gv := streamGroupView{
		Name:       cut([]byte(gi.Name), streamNameBytes),
		Members:    make([]memberView, len(gi.Members)),
		Partitions: make([]groupPartitionView, len(gi.Partitions)),
	}
	for i, m := range gi.Members {
		parts := m.Partitions
		if parts == nil {
			parts = []int{}
		}
		gv.Members[i] = memberView{ID: cut([]byte(m.ID), streamNameBytes), Partitions: parts, LastSeen: m.LastSeen.UTC(), Blocked: m.Blocked}
	}
	for i, gp := range gi.Partitions {
		gv.Partitions[i] = groupPartitionView{Partition: gp.Partition, Owner: cut([]byte(gp.Owner), streamNameBytes),
			Committed: gp.Committed, Lag: gp.Lag}
		gv.Lag += gp.Lag
	}
	return gv
}

func (p *streamPanel) Routes(r routes) {
	r.get("/messages", p.messages)
}

// streamParam reads the stream a request names: id (unpadded base64url of
// the name, as the snapshot gives it) or stream (the name as text).
func streamParam(id, name string) (string, error) {
	switch {
	case id != "" && name != "":
		return "", badRequest("name the stream by id or by stream, not both")
	case id != "":
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			return "", badRequest("id must be a stream id from the snapshot (unpadded base64url)")
		}
		return string(b), nil
	case name != "":
		return name, nil
	}
	return "", badRequest("name a stream with id or stream")
}

// offsetParam reads a non-negative integer query parameter; def when absent.
func offsetParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(name + " must be a non-negative integer")
	}
	return n, nil
}

// streamError turns a refusal of the broker into an answer.
func streamError(err error) error {
	switch {
	case errors.Is(err, stream.ErrUnknownStream):
		return notFound(err.Error())
	case errors.Is(err, stream.ErrPartitionOutOfRange), errors.Is(err, stream.ErrOffsetOutOfRange), errors.Is(err, stream.ErrInvalidValue):
		return badRequest(err.Error())
	case errors.Is(err, stream.ErrClosed), errors.Is(err, stream.ErrFailed):
		return &apiError{http.StatusServiceUnavailable, err.Error()}
	}
	return err
}

// messages answers GET /api/stream/messages?stream=&partition=&from=&count=:
// up to count messages of one partition from offset from (default: the
// earliest retained), without consuming them. A from older than the
// earliest retained message starts there.
func (p *streamPanel) messages(r *http.Request) (any, error) {
	q := r.URL.Query()
	name, err := streamParam(q.Get("id"), q.Get("stream"))
	if err != nil {
		return nil, err
	}
	count, err := intParam(r, "count", defaultLimit, maxLimit)
	if err != nil {
		return nil, err
	}
	partition, err := offsetParam(r, "partition", 0)
	if err != nil || partition >= stream.MaxPartitions {
		return nil, badRequest("partition must be an integer from 0 to " + strconv.Itoa(stream.MaxPartitions-1))
	}
	from, err := offsetParam(r, "from", -1)
	if err != nil {
		return nil, err
	}
	info, _, err := p.sb.Info(name)
	if err != nil {
		return nil, streamError(err)
	}
	if int(partition) >= len(info.Partitions) {
		return nil, streamError(stream.ErrPartitionOutOfRange)
	}
	part := info.Partitions[partition]
	list := messageList{
		Stream:    cut([]byte(name), streamNameBytes),
		Partition: int(partition),
		First:     part.First,
		Next:      part.Next,
		Messages:  []messageView{},
	}
	start := stream.FromOffset(from)
	if from < 0 {
		start = stream.FromEarliest()
	}
	list.NextFrom = max(from, part.First)
	var read int64
	for len(list.Messages) < count && read < messageReadBudget {
		msgs, err := p.sb.Read(name, int(partition), start, min(messageReadBatch, count-len(list.Messages)))
		if err != nil {
			return nil, streamError(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			read += int64(len(m.Key) + len(m.Value))
			list.Messages = append(list.Messages, messageView{Offset: m.Offset, Time: m.Time.UTC(),
				Key: cut(m.Key, messagePreviewBytes), Value: cut(m.Value, messagePreviewBytes)})
		}
		list.NextFrom = msgs[len(msgs)-1].Offset + 1
		start = stream.FromOffset(list.NextFrom)
	}
	return list, nil
}

// Metrics of the streams. Per-partition series carry the stream's name
// and the partition number.
var (
	streamNextOffset = streamDesc("partition_next_offset", "Offset the next message of each partition gets: messages ever appended to it.", "stream", "partition")
	streamBytes      = streamDesc("partition_bytes", "Bytes of the retained message records of each partition.", "stream", "partition")
	streamGroupLag   = streamDesc("group_lag", "Retained messages of each partition after a consumer group's committed offset.", "stream", "group", "partition")
)

func streamDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "stream", name), help, labels, nil)
}

// Describe implements prometheus.Collector.
func (p *streamPanel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{streamNextOffset, streamBytes, streamGroupLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *streamPanel) Collect(ch chan<- prometheus.Metric) {
	for _, name := range p.sb.List() {
		info, _, err := p.sb.Info(name)
		if err != nil {
			continue // closed since List
		}
		label := labelValue(name)
		for _, pi := range info.Partitions {
			part := strconv.Itoa(pi.Partition)
			ch <- prometheus.MustNewConstMetric(streamNextOffset, prometheus.GaugeValue, float64(pi.Next), label, part)
			ch <- prometheus.MustNewConstMetric(streamBytes, prometheus.GaugeValue, float64(pi.Bytes), label, part)
		}
		for _, g := range info.Groups {
			gi, _, err := p.sb.GroupInfo(name, g)
			if err != nil {
				continue // deleted since Info
			}
			group := labelValue(g)
			for _, gp := range gi.Partitions {
				ch <- prometheus.MustNewConstMetric(streamGroupLag, prometheus.GaugeValue, float64(gp.Lag), label, group, strconv.Itoa(gp.Partition))
			}
		}
	}
}
