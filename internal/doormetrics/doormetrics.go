// Package doormetrics is the Prometheus metrics of the long-running doors:
// the MinIO webhook (`thumbpipe serve`) and the queue worker (`thumbpipe
// worker`) count the same events under the same names, so one dashboard
// reads either.
//
// # Metrics
//
//	thumbpipe_events_total{outcome}            events handled, by [Outcome]
//	thumbpipe_variants_written_total           thumbnails written
//	thumbpipe_variants_deleted_total           thumbnails deleted with their source
//	thumbpipe_source_bytes_read_total          bytes read from sources
//	thumbpipe_thumbnail_bytes_written_total    bytes of thumbnails written
//	thumbpipe_event_duration_seconds{action}   time to handle one event
//
// plus one in-flight gauge whose name each door chooses, and the Go and
// process collectors. Each [Metrics] has a registry of its own, so several
// can live in one process.
package doormetrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/thumbpipe/thumbpipe/internal/door"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Outcome is what became of one event, or of a whole request or message
// that was turned away before its events were read. It is the "outcome"
// label of thumbpipe_events_total and the outcome field of the doors' logs.
type Outcome string

// Outcomes of an event.
const (
	Processed       Outcome = "processed"        // at least one thumbnail written
	UpToDate        Outcome = "up_to_date"       // every thumbnail already current
	Skipped         Outcome = "skipped"          // left alone by the pipeline (a thumbnail, excluded...)
	Deleted         Outcome = "deleted"          // the thumbnails of a removed source deleted
	Ignored         Outcome = "ignored"          // an event that is neither a create nor a remove
	Refused         Outcome = "refused"          // a bucket outside the allow-list or an unsafe key
	FailedPermanent Outcome = "failed_permanent" // will fail again (corrupt, too large...): acknowledged
	FailedTransient Outcome = "failed_transient" // may pass (storage down): delivered again
	Dropped         Outcome = "dropped"          // too old or failed too often: acknowledged, backfill catches up
)

// Outcomes of a request or message turned away before its events were
// read; each counts once.
const (
	Unauthorized Outcome = "unauthorized" // 401
	BadRequest   Outcome = "bad_request"  // 400, or a message that is not an event
	TooLarge     Outcome = "too_large"    // 413: body or record count over the limit
	Busy         Outcome = "busy"         // 503: every worker busy
)

// All lists every outcome; each shows in the metrics from 0.
var All = []Outcome{Processed, UpToDate, Skipped, Deleted, Ignored, Refused, FailedPermanent,
	FailedTransient, Dropped, Unauthorized, BadRequest, TooLarge, Busy}

// Of names a door outcome in the metrics' words.
func Of(o door.Outcome) Outcome {
	switch o.Status {
	case door.Skipped:
		if o.Action == door.Other {
			return Ignored
		}
		return Skipped
	case door.Done:
		if o.Action == door.Removed {
			return Deleted
		}
		return Processed
	case door.UpToDate:
		return UpToDate
	case door.Refused:
		return Refused
	case door.FailedTransient:
		return FailedTransient
	case door.Dropped:
		return Dropped
	}
	return FailedPermanent
}

// Metrics are one door's metrics, on a registry of their own.
type Metrics struct {
	reg             *prometheus.Registry
	events          *prometheus.CounterVec
	variantsWritten prometheus.Counter
	variantsDeleted prometheus.Counter
	bytesIn         prometheus.Counter
	bytesOut        prometheus.Counter
	duration        *prometheus.HistogramVec
	// InFlight is the door's gauge of work in progress (requests,
	// messages).
	InFlight prometheus.Gauge
}

// New returns the metrics with an in-flight gauge called inFlightName.
func New(inFlightName, inFlightHelp string) *Metrics {
	m := &Metrics{
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
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: inFlightName, Help: inFlightHelp}),
	}
	m.reg.MustRegister(m.events, m.variantsWritten, m.variantsDeleted, m.bytesIn, m.bytesOut, m.duration, m.InFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range All {
		m.events.WithLabelValues(string(o)) // every outcome shows, from 0
	}
	return m
}

// Count counts one event (or turned-away request) with outcome o.
func (m *Metrics) Count(o Outcome) { m.events.WithLabelValues(string(o)).Inc() }

// Observe counts a door outcome: its event, its duration, the bytes read
// and written and the thumbnails written or deleted. It returns the
// outcome's name.
func (m *Metrics) Observe(o door.Outcome) Outcome {
	name := Of(o)
	m.Count(name)
	m.duration.WithLabelValues(o.Action.String()).Observe(o.Duration.Seconds())
	m.bytesIn.Add(float64(o.SourceBytes))
	for _, v := range o.Variants {
		if v.Status == pipeline.Written {
			m.bytesOut.Add(float64(v.Bytes))
		}
	}
	m.variantsWritten.Add(float64(o.Written()))
	m.variantsDeleted.Add(float64(len(o.Removed)))
	return name
}

// Register adds collectors of the door's own to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
