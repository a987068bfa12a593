// Package door is what every door into the pipeline shares: it takes one
// bucket event — {bucket, key, action, event id, event time} — and returns
// one [Outcome], with one log line. The doors (the Lambda function, the
// Cloud Function, the MinIO webhook, the command line's watch, backfill and
// process) only parse their input into an [Event] and map the Outcome onto
// their platform: an error to retry on Lambda and Cloud Functions, a 5xx on
// MinIO, counts and an exit code on the command line.
//
// # What Handle does
//
// In order, each step ending the event when it decides:
//
//  1. An event that neither creates nor removes an object is Skipped.
//  2. An event older than Config.MaxEventAge is Dropped (acknowledged, logged
//     at ERROR: `thumbpipe backfill` catches up).
//  3. A bucket name that breaks the provider's naming rules
//     (Config.CheckBucket) or is outside the allow-list (Config.Buckets), and
//     an unsafe key ([pipeline.CheckKey]), are Refused before any storage call
//     or URL is made from them.
//  4. A key the configuration does not select, or an event whose object
//     metadata carries the thumbpipe marker, is Skipped.
//  5. The bucket is opened (Config.Open), the Thumbnailer made on first use,
//     and Process (Plan with Config.DryRun) or Delete called.
//  6. A failure is classified by [pipeline.Retryable]: FailedTransient (the
//     platform should deliver the event again) or FailedPermanent
//     (acknowledged). An event that has failed transiently
//     Config.MaxAttempts times is Dropped instead; waiting too long for
//     decode memory (pipeline.ErrBusy) is transient and not counted.
//  7. The Outcome carries the source's manifest (written, found current, or
//     removed with its thumbnails) or, on a permanent failure, the failure
//     record the pipeline wrote, whose attempts are this door's count.
//
// # Logs
//
// Each Handle or Refuse logs one line: its message says the status in
// words, and its fields are bucket, key, action, event, event_id, outcome,
// ms, and as they apply written, thumbnails, removed, published, reason and
// error.
// Done, UpToDate and Skipped are INFO, FailedTransient WARN, and Refused,
// FailedPermanent and Dropped ERROR: each of those needs a person.
//
// # Completion events
//
// With Config.Events set, Handle then publishes the completion event of a
// source made (Done or UpToDate, with its manifest), failed for good (with
// its failure record) or deleted (see internal/events). A publish that
// fails makes the event FailedTransient: delivered again, it finds the
// thumbnails up to date — they are not made again — and publishes again.
// A completion event may so be published more than once.
package door

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Action is what an event does to its object.
type Action int

// Actions. Other covers every event a thumbnailer ignores (tagging, ACLs,
// metadata updates, archiving...).
const (
	Other   Action = iota
	Created        // make the thumbnails
	Removed        // delete them
)

func (a Action) String() string {
	switch a {
	case Created:
		return "created"
	case Removed:
		return "removed"
	}
	return "other"
}

// Event is one bucket event, as a door parsed it.
type Event struct {
	Bucket string // bucket name as the event names it (or, on the command line, its URL)
	Key    string // object key, unescaped
	Action Action
	// Name is the platform's name for the event ("ObjectCreated:Put",
	// "google.cloud.storage.object.v1.finalized"), for logs and reasons.
	Name string
	// ID identifies the event across redeliveries (an S3 record's eTag and
	// sequencer, a CloudEvent's id); it keys the attempt bound. Empty: the
	// event is not counted.
	ID string
	// Time is when the event happened; zero when unknown (never too old).
	Time time.Time
	// Metadata is the object's custom metadata when the event carries it
	// (Cloud Storage does): an object with pipeline.MetaSource is a
	// thumbnail and is skipped before any storage call.
	Metadata map[string]string
}

// Status is what became of one event: the one vocabulary of every door.
type Status string

// Statuses of an [Outcome].
const (
	Done            Status = "done"             // thumbnails written (or would be, in a dry run) or removed
	UpToDate        Status = "up-to-date"       // every thumbnail already current
	Skipped         Status = "skipped"          // not ours to process: a thumbnail, excluded, not a create or remove
	Refused         Status = "refused"          // a bucket outside the allow-list or misnamed, an unsafe key
	FailedPermanent Status = "failed-permanent" // will fail again (corrupt, too large, gone): acknowledged
	FailedTransient Status = "failed-transient" // may pass (storage down): deliver again
	Dropped         Status = "dropped"          // too old, or failed too often: acknowledged, backfill catches up
)

// Outcome is what a door did with one event.
type Outcome struct {
	Event
	Status Status
	// Reason says why an event was skipped, refused or dropped.
	Reason string
	// Variants are the thumbnails of a created source, each with its status.
	Variants []pipeline.Variant
	// Removed are the thumbnails deleted for a removed source.
	Removed []string
	// Manifest is what was made of a created source (written, or found
	// current), or the manifest removed with a removed source's
	// thumbnails; nil otherwise.
	Manifest *pipeline.Manifest
	// Failure is the failure record written for a FailedPermanent
	// created source; nil otherwise.
	Failure *pipeline.Failure
	// SourceBytes counts the source bytes read to decode it.
	SourceBytes int64
	// Published is the type of the completion event published, "" if none.
	Published string
	// Err is the failure of a FailedPermanent, FailedTransient or Dropped
	// event, or why it was refused.
	Err      error
	Duration time.Duration
}

// Written counts the thumbnails written.
func (o Outcome) Written() int {
	return pipeline.Result{Variants: o.Variants}.Written()
}

// Retry reports whether the platform should deliver the event again.
func (o Outcome) Retry() bool { return o.Status == FailedTransient }

// Failed reports whether the event ended in a failure: permanent,
// transient or dropped.
func (o Outcome) Failed() bool {
	return o.Status == FailedPermanent || o.Status == FailedTransient || o.Status == Dropped
}

// ErrRefused marks the events Refused for their bucket.
var ErrRefused = errors.New("bucket refused")

// DefaultAttemptMemory is how many failing events Config.MaxAttempts
// remembers when Config.AttemptMemory is 0.
const DefaultAttemptMemory = 4096

// Config configures a [Door].
type Config struct {
	// Pipeline is the configuration the Thumbnailer is made from on first
	// use, when Thumbnailer is nil.
	Pipeline pipeline.Config
	// OutputURL is the URL of the thumbnails' bucket, opened through Open
	// when the Thumbnailer is made; "": each source's own bucket.
	OutputURL string
	// Thumbnailer, when set, is used instead of one made from Pipeline.
	Thumbnailer *pipeline.Thumbnailer
	// Open opens buckets (and the output bucket); usually a *buckets.Cache.
	// Required.
	Open buckets.Opener
	// BucketURL turns a checked bucket name into the URL it is opened at.
	// Nil: the name is the URL.
	BucketURL func(name string) string
	// Buckets is the allow-list of bucket names. Empty: every name that
	// passes CheckBucket.
	Buckets []string
	// CheckBucket reports whether a name follows the provider's naming
	// rules ([S3BucketName], [GCSBucketName]); nil checks nothing.
	CheckBucket func(name string) error
	// MaxEventAge drops events older than this. 0: never.
	MaxEventAge time.Duration
	// MaxAttempts drops an event (same bucket, key and ID) once it has
	// failed transiently this many times. 0: no bound.
	MaxAttempts int
	// AttemptMemory bounds how many failing events are remembered for
	// MaxAttempts (least recently failed forgotten first). Default
	// DefaultAttemptMemory.
	AttemptMemory int
	// DryRun plans instead of processing: nothing is written.
	DryRun bool
	// Logger receives one line per event. Default slog.Default().
	Logger *slog.Logger
	// Now tells the time, for MaxEventAge. Default time.Now.
	Now func() time.Time
	// Events publishes the completion events; nil publishes none.
	Events *events.Publisher
	// EventBucket names the bucket in the completion events of events
	// that name none (the command line's).
	EventBucket string

	// fill, in tests, fills in what the pipeline reports of an outcome
	// before its event is published.
	fill func(*Outcome)
}

// Door handles events. It is safe for concurrent use.
type Door struct {
	cfg    Config
	log    *slog.Logger
	shared *shared
}

// shared is what copies made by With share.
type shared struct {
	thumbs   *buckets.LazyThumbnailer
	attempts *attempts
}

// New returns a Door for cfg. It does no I/O.
func New(cfg Config) (*Door, error) {
	if cfg.Open == nil {
		return nil, errors.New("door: a bucket opener is required")
	}
	if cfg.MaxEventAge < 0 || cfg.MaxAttempts < 0 || cfg.AttemptMemory < 0 {
		return nil, errors.New("door: max event age, max attempts and attempt memory must not be negative")
	}
	if cfg.BucketURL == nil {
		cfg.BucketURL = func(name string) string { return name }
	}
	if cfg.AttemptMemory == 0 {
		cfg.AttemptMemory = DefaultAttemptMemory
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &shared{attempts: newAttempts(cfg.AttemptMemory)}
	if cfg.Thumbnailer == nil {
		s.thumbs = buckets.NewLazyThumbnailer(cfg.Pipeline, cfg.OutputURL, cfg.Open)
	}
	return &Door{cfg: cfg, log: cfg.Logger, shared: s}, nil
}

// With returns a Door that adds args to every log line (a request or
// message id) and shares everything else with d.
func (d *Door) With(args ...any) *Door {
	c := *d
	c.log = d.log.With(args...)
	return &c
}

// Config returns the door's configuration, defaults filled in.
func (d *Door) Config() Config { return d.cfg }

// Thumbnailer returns the Thumbnailer, making it on first use.
func (d *Door) Thumbnailer(ctx context.Context) (*pipeline.Thumbnailer, error) {
	if d.cfg.Thumbnailer != nil {
		return d.cfg.Thumbnailer, nil
	}
	return d.shared.thumbs.Get(ctx)
}

// pipelineConfig is the configuration the Thumbnailer has or will have.
func (d *Door) pipelineConfig() pipeline.Config {
	if d.cfg.Thumbnailer != nil {
		return d.cfg.Thumbnailer.Config()
	}
	return d.cfg.Pipeline
}

// Refuse returns, and logs, the outcome of an event the door could not
// accept as it came (a key that does not unescape): Refused, with err.
func (d *Door) Refuse(ctx context.Context, ev Event, err error) Outcome {
	o := Outcome{Event: ev, Status: Refused, Err: err, Reason: err.Error()}
	d.logOutcome(ctx, o)
	return o
}

// Handle handles one event and logs one line about it.
func (d *Door) Handle(ctx context.Context, ev Event) Outcome {
	start := d.cfg.Now()
	o := d.handle(ctx, ev)
	if d.cfg.fill != nil {
		d.cfg.fill(&o)
	}
	d.publish(ctx, &o)
	if o.Status != FailedTransient {
		// Done with, for good: its count of failures goes.
		d.shared.attempts.forget(ev)
	}
	o.Duration = d.cfg.Now().Sub(start)
	d.logOutcome(ctx, o)
	return o
}

func (d *Door) handle(ctx context.Context, ev Event) Outcome {
	o := Outcome{Event: ev}
	end := func(s Status, reason string, err error) Outcome {
		o.Status, o.Reason, o.Err = s, reason, err
		if reason == "" && err != nil {
			o.Reason = err.Error()
		}
		return o
	}
	if ev.Action != Created && ev.Action != Removed {
		return end(Skipped, fmt.Sprintf("event %s neither creates nor removes an object", ev.Name), nil)
	}
	if age := d.cfg.Now().Sub(ev.Time); d.cfg.MaxEventAge > 0 && !ev.Time.IsZero() && age > d.cfg.MaxEventAge {
		return end(Dropped, fmt.Sprintf("event is %s old, older than the %s allowed", age.Round(time.Second), d.cfg.MaxEventAge), nil)
	}
	if err := d.checkBucket(ev.Bucket); err != nil {
		return end(Refused, "", err)
	}
	if err := pipeline.CheckKey(ev.Key); err != nil {
		return end(Refused, "", err)
	}
	if src, ok := ev.Metadata[pipeline.MetaSource]; ok {
		return end(Skipped, "carries the thumbpipe marker: a thumbnail of "+src, nil)
	}
	if ok, why := d.pipelineConfig().Selects(ev.Key); !ok {
		return end(Skipped, why, nil)
	}

	err := d.run(ctx, &o)
	switch {
	case err == nil:
		switch {
		case o.Reason != "":
			return end(Skipped, o.Reason, nil)
		case ev.Action == Removed || o.Written() > 0 || slices.ContainsFunc(o.Variants, wouldWrite):
			return end(Done, "", nil)
		}
		return end(UpToDate, "", nil)
	case !pipeline.Retryable(err):
		return end(FailedPermanent, "", err)
	case errors.Is(err, pipeline.ErrBusy):
		// Other decodes held the memory: not a failure of this event,
		// so it does not count towards MaxAttempts.
		return end(FailedTransient, "", err)
	}
	if n := d.shared.attempts.failed(ev, d.cfg.MaxAttempts); n > 0 {
		return end(Dropped, fmt.Sprintf("failed %d times, the most allowed; last: %v", n, err), err)
	}
	return end(FailedTransient, "", err)
}

func wouldWrite(v pipeline.Variant) bool { return v.Status == pipeline.WouldWrite }

// publish publishes o's completion event, if it has one. A publish that
// fails turns o into a transient failure (or Dropped, once it has failed
// Config.MaxAttempts times), so that the platform delivers it again.
func (d *Door) publish(ctx context.Context, o *Outcome) {
	if d.cfg.Events == nil || d.cfg.DryRun {
		return
	}
	ev, ok, err := d.event(ctx, o)
	if !ok {
		return
	}
	if err == nil {
		err = d.cfg.Events.Publish(ctx, ev)
	}
	if err == nil {
		o.Published = ev.Type
		return
	}
	o.Err = fmt.Errorf("completion event not published: %w", err)
	o.Status, o.Reason = FailedTransient, o.Err.Error()
	if n := d.shared.attempts.failed(o.Event, d.cfg.MaxAttempts); n > 0 {
		o.Status, o.Reason = Dropped, fmt.Sprintf("failed %d times, the most allowed; last: %v", n, o.Err)
	}
}

// event returns o's completion event, and false when it has none: a
// created source made or up to date with its manifest, a permanent
// failure with its record, a removed source that is gone (its thumbnails
// deleted now, or by an earlier delivery).
func (d *Door) event(ctx context.Context, o *Outcome) (events.Event, bool, error) {
	bucket := o.Bucket
	if bucket == "" {
		bucket = d.cfg.EventBucket
	}
	var (
		ev  events.Event
		err error
	)
	switch {
	case o.Action == Created && (o.Status == Done || o.Status == UpToDate) && o.Manifest != nil:
		m := *o.Manifest
		if m.Bucket == "" {
			m.Bucket = bucket
		}
		ev, err = events.Created(bucket, &m)
	case o.Action == Created && o.Status == FailedPermanent && o.Failure != nil:
		f := *o.Failure
		if f.Bucket == "" {
			f.Bucket = bucket
		}
		ev, err = events.Failed(bucket, &f)
	case o.Action == Removed && o.Status == Done:
		if len(o.Removed) == 0 {
			// Nothing is removed while the key exists (a late delete event
			// of an overwritten version): then nothing was deleted.
			exists, err := d.exists(ctx, o)
			if exists || err != nil {
				return events.Event{}, err != nil, err
			}
		}
		ev, err = events.Deleted(bucket, o.Key, o.ID, o.Removed, d.cfg.Now())
	default:
		return events.Event{}, false, nil
	}
	return ev, true, err
}

// exists reports whether o's object exists.
func (d *Door) exists(ctx context.Context, o *Outcome) (bool, error) {
	b, err := d.cfg.Open.Open(ctx, d.cfg.BucketURL(o.Bucket))
	if err != nil {
		return false, fmt.Errorf("cannot open the bucket: %w", err)
	}
	return b.Exists(ctx, o.Key)
}

// checkBucket applies the naming rules and the allow-list.
func (d *Door) checkBucket(name string) error {
	if d.cfg.CheckBucket != nil {
		if err := d.cfg.CheckBucket(name); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	if len(d.cfg.Buckets) > 0 && !slices.Contains(d.cfg.Buckets, name) {
		return fmt.Errorf("%w: bucket %q is not in the allow-list", ErrRefused, Clip(name, 100))
	}
	return nil
}

// run opens the bucket and the Thumbnailer and calls the pipeline, filling
// in o. A skip comes back in o.Reason.
func (d *Door) run(ctx context.Context, o *Outcome) error {
	var b *blob.Bucket
	b, err := d.cfg.Open.Open(ctx, d.cfg.BucketURL(o.Bucket))
	if err != nil {
		return fmt.Errorf("cannot open the bucket: %w", err)
	}
	th, err := d.Thumbnailer(ctx)
	if err != nil {
		return fmt.Errorf("cannot open the output bucket: %w", err)
	}
	if o.Action == Removed {
		del, err := th.DeleteSource(ctx, b, o.Key)
		o.Removed, o.Manifest = del.Removed, del.Manifest
		o.setBucket()
		return err
	}
	var res pipeline.Result
	if d.cfg.DryRun {
		res, err = th.Plan(ctx, b, o.Key)
	} else {
		// This attempt, after those that failed transiently.
		res, err = th.ProcessAttempt(ctx, b, o.Key, d.shared.attempts.count(o.Event)+1)
	}
	o.Variants, o.SourceBytes, o.Reason = res.Variants, res.SourceBytes, res.Skipped
	o.Manifest, o.Failure = res.Manifest, res.Failure
	o.setBucket()
	return err
}

// setBucket names the event's bucket in copies of the manifest and the
// failure record: the pipeline does not know bucket names, a door does.
func (o *Outcome) setBucket() {
	if o.Bucket == "" {
		return
	}
	if o.Manifest != nil {
		m := *o.Manifest
		m.Bucket = o.Bucket
		o.Manifest = &m
	}
	if o.Failure != nil {
		f := *o.Failure
		f.Bucket = o.Bucket
		o.Failure = &f
	}
}

// messages are the log messages of each status.
var messages = map[Status]string{
	Done:            "done",
	UpToDate:        "up to date",
	Skipped:         "skipped",
	Refused:         "refused; acknowledged",
	FailedPermanent: "failed permanently; acknowledged",
	FailedTransient: "failed; will be retried",
	Dropped:         "dropped; acknowledged (run thumbpipe backfill to catch up)",
}

func (d *Door) logOutcome(ctx context.Context, o Outcome) {
	level := slog.LevelInfo
	switch o.Status {
	case FailedTransient:
		level = slog.LevelWarn
	case Refused, FailedPermanent, Dropped:
		level = slog.LevelError
	}
	if !d.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("bucket", Clip(o.Bucket, 256)), slog.String("key", Clip(o.Key, 1024)),
		slog.String("action", o.Action.String()), slog.String("event", Clip(o.Name, 256)),
		slog.String("outcome", string(o.Status)), slog.Int64("ms", o.Duration.Milliseconds()),
	}
	if o.ID != "" {
		attrs = append(attrs, slog.String("event_id", Clip(o.ID, 256)))
	}
	if !o.Time.IsZero() {
		attrs = append(attrs, slog.Time("event_time", o.Time))
	}
	switch {
	case o.Action == Created && o.Variants != nil:
		attrs = append(attrs, slog.Int("written", o.Written()), slog.Int("thumbnails", len(o.Variants)))
	case o.Action == Removed && o.Err == nil && o.Status == Done:
		attrs = append(attrs, slog.Int("removed", len(o.Removed)), slog.Any("keys", o.Removed))
	}
	if o.Published != "" {
		attrs = append(attrs, slog.String("published", o.Published))
	}
	if o.Err != nil {
		attrs = append(attrs, slog.String("error", Clip(o.Err.Error(), 2048)))
	} else if o.Reason != "" {
		attrs = append(attrs, slog.String("reason", Clip(o.Reason, 2048)))
	}
	d.log.LogAttrs(ctx, level, messages[o.Status], attrs...)
}

// Clip returns s cut to at most n bytes (at a rune boundary), marked with
// "…" when cut: what a door echoes of an event is bounded.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !runeStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }

// attempts remembers how often recent events failed transiently, for at
// most max events.
type attempts struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *attempt, most recent failure first
	byKey map[string]*list.Element
}

type attempt struct {
	key string
	n   int
}

func newAttempts(max int) *attempts {
	return &attempts{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func attemptKey(ev Event) string {
	return ev.Bucket + "\x00" + ev.Key + "\x00" + ev.ID
}

// failed counts a transient failure of ev and returns the count when it
// reached limit (the event is then forgotten), else 0.
func (a *attempts) failed(ev Event, limit int) int {
	if limit == 0 || ev.ID == "" {
		return 0
	}
	k := attemptKey(ev)
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.byKey[k]
	if !ok {
		e = a.order.PushFront(&attempt{key: k})
		a.byKey[k] = e
		for a.order.Len() > a.max {
			oldest := a.order.Back()
			delete(a.byKey, oldest.Value.(*attempt).key)
			a.order.Remove(oldest)
		}
	}
	a.order.MoveToFront(e)
	at := e.Value.(*attempt)
	at.n++
	if at.n < limit {
		return 0
	}
	delete(a.byKey, k)
	a.order.Remove(e)
	return at.n
}

// count returns how many times ev has failed transiently, as remembered.
func (a *attempts) count(ev Event) int {
	if ev.ID == "" {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.byKey[attemptKey(ev)]; ok {
		return e.Value.(*attempt).n
	}
	return 0
}

// forget drops what is remembered of ev.
func (a *attempts) forget(ev Event) {
	if ev.ID == "" {
		return
	}
	k := attemptKey(ev)
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.byKey[k]; ok {
		delete(a.byKey, k)
		a.order.Remove(e)
	}
}

// len reports how many events are remembered.
func (a *attempts) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.order.Len()
}

// WithLogger returns a Door that logs to l and shares everything else
// with d.
func (d *Door) WithLogger(l *slog.Logger) *Door {
	c := *d
	c.log = l
	return &c
}

// Made reports whether the Thumbnailer has been made (or was given).
func (d *Door) Made() bool {
	return d.cfg.Thumbnailer != nil || d.shared.thumbs.Made()
}
