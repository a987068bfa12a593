package miniohook

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcome is what became of one record, or of a whole request that was
// turned away before its records were read. It is the "outcome" label of
// the thumbpipe_events_total metric and the outcome field of the logs.
type Outcome string

// Outcomes of a record.
const (
	Processed       Outcome = "processed"        // at least one thumbnail written
	UpToDate        Outcome = "up_to_date"       // every thumbnail already current
	Skipped         Outcome = "skipped"          // left alone by the pipeline (a thumbnail, excluded...)
	Deleted         Outcome = "deleted"          // the thumbnails of a removed source deleted
	Ignored         Outcome = "ignored"          // an event that is neither a create nor a remove
	Refused         Outcome = "refused"          // a bucket outside the allow-list or an unsafe key
	FailedPermanent Outcome = "failed_permanent" // will fail again (corrupt, too large...): acknowledged
	FailedTransient Outcome = "failed_transient" // may pass (storage down): answered 5xx so MinIO retries
	Dropped         Outcome = "dropped"          // too old or failed too often: acknowledged, backfill catches up
)

// Outcomes of a request turned away before its records were read; each
// counts once per request.
const (
	Unauthorized Outcome = "unauthorized" // 401
	BadRequest   Outcome = "bad_request"  // 400
	TooLarge     Outcome = "too_large"    // 413: body or record count over the limit
	Busy         Outcome = "busy"         // 503: every worker busy
)

var allOutcomes = []Outcome{Processed, UpToDate, Skipped, Deleted, Ignored, Refused, FailedPermanent,
	FailedTransient, Dropped, Unauthorized, BadRequest, TooLarge, Busy}

// metrics are the handler's Prometheus metrics, on a registry of its own
// so that several handlers can live in one process.
type metrics struct {
	reg             *prometheus.Registry
	events          *prometheus.CounterVec
	variantsWritten prometheus.Counter
	variantsDeleted prometheus.Counter
	bytesIn         prometheus.Counter
	bytesOut        prometheus.Counter
	duration        *prometheus.HistogramVec
	inFlight        prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thumbpipe_events_total",
			Help: "Bucket events (records) handled, by outcome; requests turned away count once.",
		}, []string{"outcome"}),
		variantsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thumbpipe_variants_written_total",
			Help: "Thumbnails written.",
		}),
		variantsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thumbpipe_variants_deleted_total",
			Help: "Thumbnails deleted because their source was removed.",
		}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thumbpipe_source_bytes_read_total",
			Help: "Bytes read from source objects.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "thumbpipe_thumbnail_bytes_written_total",
			Help: "Bytes of thumbnails written.",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "thumbpipe_event_duration_seconds",
			Help:    "Time to handle one record, by action (created, removed, other).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"action"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "thumbpipe_webhook_requests_in_flight",
			Help: "Webhook requests being processed.",
		}),
	}
	m.reg.MustRegister(m.events, m.variantsWritten, m.variantsDeleted, m.bytesIn, m.bytesOut, m.duration, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range allOutcomes {
		m.events.WithLabelValues(string(o)) // every outcome shows, from 0
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
