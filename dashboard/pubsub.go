package dashboard

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"nexo/engine/pubsub"
)

// Bounds of the pubsub panel's answers.
const (
	// retainedPreviewBytes is how much of a retained payload a list shows.
	retainedPreviewBytes = 1024
	// topicBytes is how much of a topic, filter or pattern the page shows.
	topicBytes = 1024
)

// pubsubPersistence tells the page how durable pub/sub is.
const pubsubPersistence = "retained values: write-ahead log; messages: volatile"

// kindName names a kind of subscription for the page.
func kindName(k pubsub.Kind) string {
	switch k {
	case pubsub.Channel:
		return "channel"
	case pubsub.Pattern:
		return "pattern"
	}
	return "filter"
}

// pubsubPanel is the PUBSUB broker's panel.
type pubsubPanel struct {
	pb *pubsub.Broker
}

func (p *pubsubPanel) Name() string { return "pubsub" }

// pubsubSnapshot is the PUBSUB broker's state in the snapshot.
type pubsubSnapshot struct {
	Subscribers   int    `json:"subscribers"`
	Subscriptions int    `json:"subscriptions"`
	Filters       int    `json:"filters"`
	Channels      int    `json:"channels"`
	Patterns      int    `json:"patterns"`
	Retained      int    `json:"retained"`
	RetainedBytes int64  `json:"retained_bytes"`
	Published     int64  `json:"published"`
	Delivered     int64  `json:"delivered"`
	Refused       int64  `json:"refused"`
	SlowConsumers int64  `json:"slow_consumers"`
	ReadOnly      bool   `json:"read_only"`
	LastError     string `json:"last_error,omitempty"`
	Persistence   string `json:"persistence"`
	// Topics and RetainedValues hold at most limit items each.
	Topics         subscriptionList `json:"topics"`
	RetainedValues retainedList     `json:"retained_values"`
}

// subscriptionList is the subscribed filters, channels and patterns, by name.
type subscriptionList struct {
	Total int                `json:"total"`
	List  []subscriptionView `json:"list"`
}

type subscriptionView struct {
	Kind        string    `json:"kind"`
	Name        bytesView `json:"name"`
	Subscribers int       `json:"subscribers"`
}

// retainedList is the retained values, by topic.
type retainedList struct {
	Total int            `json:"total"`
	List  []retainedView `json:"list"`
}

type retainedView struct {
	Topic     bytesView `json:"topic"`
	Payload   bytesView `json:"payload"`
	AgeMillis int64     `json:"age_ms"`
}

func (p *pubsubPanel) Snapshot(limit int) any {
	st := p.pb.Stats()
	return pubsubSnapshot{
		Subscribers:    st.Subscribers,
		Subscriptions:  st.Subscriptions,
		Filters:        st.Filters,
		Channels:       st.Channels,
		Patterns:       st.Patterns,
		Retained:       st.Retained,
		RetainedBytes:  st.RetainedBytes,
		Published:      st.Published,
		Delivered:      st.Delivered,
		Refused:        st.Refused,
		SlowConsumers:  st.SlowConsumers,
		ReadOnly:       st.ReadOnly,
		LastError:      st.LastError,
		Persistence:    pubsubPersistence,
		Topics:         p.subscriptionList(limit),
		RetainedValues: p.retainedList(limit),
	}
}

func (p *pubsubPanel) subscriptionList(limit int) subscriptionList {
	subs, total := p.pb.SubscriptionList(limit)
	out := subscriptionList{Total: total, List: make([]subscriptionView, len(subs))}
	for i, s := range subs {
		out.List[i] = subscriptionView{Kind: kindName(s.Kind), Name: cut([]byte(s.Name), topicBytes), Subscribers: s.Subscribers}
	}
	return out
}

func (p *pubsubPanel) retainedList(limit int) retainedList {
	vals, total := p.pb.RetainedList(limit)
	out := retainedList{Total: total, List: make([]retainedView, len(vals))}
	for i, v := range vals {
		out.List[i] = retainedView{
			Topic:     cut([]byte(v.Topic), topicBytes),
			Payload:   cut(v.Payload, retainedPreviewBytes),
			AgeMillis: v.Age.Milliseconds(),
		}
	}
	return out
}

func (p *pubsubPanel) Routes(r routes) {
	r.get("/subscriptions", p.subscriptions)
	r.get("/retained", p.retained)
}

// subscriptions answers GET /api/pubsub/subscriptions?count=: the first
// subscribed filters, channels and patterns by name, with their subscribers.
func (p *pubsubPanel) subscriptions(r *http.Request) (any, error) {
	count, err := intParam(r, "count", defaultLimit, maxLimit)
	if err != nil {
		return nil, err
	}
	return p.subscriptionList(count), nil
}

// retained answers GET /api/pubsub/retained?count=: the first retained
// values by topic, with their age and a payload preview.
func (p *pubsubPanel) retained(r *http.Request) (any, error) {
	count, err := intParam(r, "count", defaultLimit, maxLimit)
	if err != nil {
		return nil, err
	}
	return p.retainedList(count), nil
}

// Metrics of pub/sub.
var (
	pubsubPublished     = pubsubDesc("messages_published_total", "Messages published.")
	pubsubDelivered     = pubsubDesc("messages_delivered_total", "Messages delivered to subscribers (one per matching subscription).")
	pubsubSubscriptions = pubsubDesc("subscriptions", "Subscriptions of every kind: filters, channels and patterns.")
	pubsubRetained      = pubsubDesc("retained_topics", "Topics with a retained value.")
	pubsubSlow          = pubsubDesc("slow_consumer_disconnects_total", "Subscribers disconnected for exceeding their output limit.")
)

func pubsubDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "pubsub", name), help, nil, nil)
}

// Describe implements prometheus.Collector.
func (p *pubsubPanel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{pubsubPublished, pubsubDelivered, pubsubSubscriptions, pubsubRetained, pubsubSlow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *pubsubPanel) Collect(ch chan<- prometheus.Metric) {
	st := p.pb.Stats()
	for _, m := range []struct {
		d *prometheus.Desc
		t prometheus.ValueType
		v int64
	}{
		{pubsubPublished, prometheus.CounterValue, st.Published},
		{pubsubDelivered, prometheus.CounterValue, st.Delivered},
		{pubsubSubscriptions, prometheus.GaugeValue, int64(st.Subscriptions)},
		{pubsubRetained, prometheus.GaugeValue, int64(st.Retained)},
		{pubsubSlow, prometheus.CounterValue, st.SlowConsumers},
	} {
		ch <- prometheus.MustNewConstMetric(m.d, m.t, float64(m.v))
	}
}
