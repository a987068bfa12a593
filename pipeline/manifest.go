package pipeline

import "time"

// ManifestSchema and FailureSchema name the versions of the JSON documents
// below; a consumer checks them before reading the rest. A change that
// removes or redefines a field gets a new version.
const (
	ManifestSchema = "thumbpipe.manifest/v1"
	FailureSchema  = "thumbpipe.failure/v1"
)

// Manifest is what was made of one source: one JSON object written after
// its thumbnails, carrying the thumbnail marker so that it is never
// processed as a source. An application builds its <img srcset> and
// placeholder from it alone.
type Manifest struct {
	// Schema is ManifestSchema.
	Schema string `json:"schema"`
	// Bucket is the source's bucket, where the door knows it.
	Bucket string `json:"bucket,omitempty"`
	// Source is the image the thumbnails were made from.
	Source ManifestSource `json:"source"`
	// Variants are the thumbnails, largest box first.
	Variants []ManifestVariant `json:"variants"`
	// BlurHash is a compact placeholder (https://blurha.sh) computed from
	// the smallest variant.
	BlurHash string `json:"blurhash"`
	// DominantColor is the image's dominant colour as "#rrggbb", from the
	// smallest variant.
	DominantColor string `json:"dominant_color"`
	// Status is "complete" when every variant listed is written.
	Status string `json:"status"`
	// Time is when the manifest was written.
	Time time.Time `json:"time"`
}

// ManifestSource describes the source image of a [Manifest].
type ManifestSource struct {
	Key string `json:"key"`
	// Version is the source's ETag (or generation) when the thumbnails
	// were made; with Key it identifies the upload.
	Version string `json:"version"`
	// Format is the format sniffed from the bytes ("jpeg").
	Format string `json:"format"`
	// Width and Height are as shown, after EXIF orientation.
	Width  int   `json:"width"`
	Height int   `json:"height"`
	Bytes  int64 `json:"bytes"`
}

// ManifestVariant is one thumbnail of a [Manifest].
type ManifestVariant struct {
	// Box is the configured box, "200x200", and Mode "fit" or "fill".
	Box         string `json:"box"`
	Mode        string `json:"mode"`
	Key         string `json:"key"`
	Format      string `json:"format"`
	ContentType string `json:"content_type"`
	// Width and Height are the thumbnail's own pixels.
	Width  int   `json:"width"`
	Height int   `json:"height"`
	Bytes  int64 `json:"bytes"`
}

// Failure is the record of a source that failed permanently, written where
// its manifest would be and removed by a later success, so that failures
// can be listed and retried.
type Failure struct {
	// Schema is FailureSchema.
	Schema string `json:"schema"`
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key"`
	// Version is the source's ETag (or generation) that failed.
	Version string `json:"version"`
	// Reason is the error message; Class its permanent error class
	// ("corrupt", "unsupported", "too-large", "too-many-pixels",
	// "too-expensive", ...).
	Reason   string    `json:"reason"`
	Class    string    `json:"class"`
	Attempts int       `json:"attempts"`
	Time     time.Time `json:"time"`
}
