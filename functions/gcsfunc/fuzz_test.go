package gcsfunc

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/internal/buckets"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// FuzzEventData feeds arbitrary bytes as the data of a Cloud Storage
// CloudEvent. For any data: decodeObject never panics and, when it accepts
// the data, hands out exactly the bucket, name and numbers the JSON holds;
// the function (on an empty bucket) acknowledges the event, opens no bucket
// for an event it cannot decode or one carrying the thumbnail marker, and
// writes nothing.
func FuzzEventData(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "events", "gcs-*.json"))
	if err != nil || len(files) < 3 {
		f.Fatalf("GCS event fixtures: %d files, %v", len(files), err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, true)
		f.Add(data, false)
	}
	for _, s := range []string{`{"bucket":"b","name":"k","size":12,"generation":7}`, `{"bucket":"b","name":"k","size":null,"generation":""}`,
		`{"bucket":"b","name":"a/../../k.jpg"}`, `{"bucket":"b","name":"k.jpg","metadata":{"thumbpipe-source":"x"}}`,
		`{"bucket":"b","name":"k","updated":"2025-04-04T07:43:02Z"}`, `{"bucket":"b","name":"k","size":"-9223372036854775808"}`,
		`<xml/>`, `[1]`, ` `} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, finalized bool) {
		obj, err := decodeObject(data)
		if err == nil {
			checkDecoded(t, data, obj)
		}

		src := memblob.OpenBucket(nil)
		defer src.Close()
		opened := 0
		open := buckets.OpenerFunc(func(ctx context.Context, url string) (*blob.Bucket, error) {
			opened++
			return src, nil
		})
		h := newHandler(settings{cfg: smallConfig()}, open, slog.New(slog.NewTextHandler(io.Discard, nil)))
		e := event.New()
		e.SetID("fuzz")
		e.SetSource("//storage.googleapis.com/projects/_/buckets/b")
		e.SetType(TypeDeleted)
		if finalized {
			e.SetType(TypeFinalized)
		}
		e.SetTime(time.Now())
		e.DataEncoded = data
		if herr := h.handle(context.Background(), e); herr != nil {
			t.Fatalf("data %q: handle = %v, want an acknowledgement on an empty bucket", data, herr)
		}
		if opened > 0 && err != nil {
			t.Fatalf("data %q does not decode (%v) but the function opened a bucket", data, err)
		}
		if _, marked := obj.Metadata[pipeline.MetaSource]; marked && opened > 0 {
			t.Fatalf("data %q carries the thumbnail marker but the function opened a bucket", data)
		}
		if o, lerr := src.List(nil).Next(context.Background()); lerr == nil {
			t.Fatalf("data %q: the function wrote %s", data, o.Key)
		}
	})
}

// checkDecoded compares obj with a generic decoding of data.
func checkDecoded(t *testing.T, data []byte, obj objectData) {
	t.Helper()
	if obj.Bucket == "" || obj.Name == "" {
		t.Fatalf("data %q accepted without a bucket or name: %+v", data, obj)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("data %q accepted but is not a JSON object: %v", data, err)
	}
	field := func(name string) any {
		// encoding/json matches field names case-insensitively; a key
		// repeated exactly is held once by the map, the last one, as
		// encoding/json keeps the last.
		var v any
		for k, x := range raw {
			if strings.EqualFold(k, name) {
				v = x
			}
		}
		return v
	}
	if ambiguous(raw) {
		return // duplicate keys differing in case: encoding/json's choice depends on order
	}
	if b, _ := field("bucket").(string); b != obj.Bucket {
		t.Fatalf("data %q: bucket %q, want %q", data, obj.Bucket, b)
	}
	if n, _ := field("name").(string); n != obj.Name {
		t.Fatalf("data %q: name %q, want %q", data, obj.Name, n)
	}
	for name, got := range map[string]int64{"size": int64(obj.Size), "generation": int64(obj.Generation), "metageneration": int64(obj.Metageneration)} {
		var want int64
		switch v := field(name).(type) {
		case string:
			want, _ = strconv.ParseInt(v, 10, 64)
		case float64:
			n, err := strconv.ParseInt(strconv.FormatFloat(v, 'f', -1, 64), 10, 64)
			if err != nil {
				continue // a number json reads as float64 but not as an exact int64
			}
			want = n
		}
		if got != want {
			t.Fatalf("data %q: %s = %d, want %d", data, name, got, want)
		}
	}
}

// ambiguous reports whether two keys of m are equal under the case
// folding encoding/json applies when it matches field names.
func ambiguous(m map[string]any) bool {
	keys := make([]string, 0, len(m))
	for k := range m {
		for _, o := range keys {
			if strings.EqualFold(k, o) {
				return true
			}
		}
		keys = append(keys, k)
	}
	return false
}
