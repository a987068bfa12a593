package miniohook

import "github.com/thumbpipe/thumbpipe/internal/doormetrics"

// Outcome is what became of one record, or of a whole request that was
// turned away before its records were read. It is the "outcome" label of
// the thumbpipe_events_total metric and the outcome field of the logs; the
// queue worker counts the same outcomes (see internal/doormetrics).
type Outcome = doormetrics.Outcome

// Outcomes of a record.
const (
	Processed       = doormetrics.Processed       // at least one thumbnail written
	UpToDate        = doormetrics.UpToDate        // every thumbnail already current
	Skipped         = doormetrics.Skipped         // left alone by the pipeline (a thumbnail, excluded...)
	Deleted         = doormetrics.Deleted         // the thumbnails of a removed source deleted
	Ignored         = doormetrics.Ignored         // an event that is neither a create nor a remove
	Refused         = doormetrics.Refused         // a bucket outside the allow-list or an unsafe key
	FailedPermanent = doormetrics.FailedPermanent // will fail again (corrupt, too large...): acknowledged
	FailedTransient = doormetrics.FailedTransient // may pass (storage down): answered 5xx so MinIO retries
	Dropped         = doormetrics.Dropped         // too old or failed too often: acknowledged, backfill catches up
)

// Outcomes of a request turned away before its records were read; each
// counts once per request.
const (
	Unauthorized = doormetrics.Unauthorized // 401
	BadRequest   = doormetrics.BadRequest   // 400
	TooLarge     = doormetrics.TooLarge     // 413: body or record count over the limit
	Busy         = doormetrics.Busy         // 503: every worker busy
)

var allOutcomes = doormetrics.All

// newMetrics returns the webhook's metrics: the doors' own, with a gauge
// of the requests in progress.
func newMetrics() *doormetrics.Metrics {
	return doormetrics.New("thumbpipe_webhook_requests_in_flight", "Webhook requests being processed.")
}
