package s3event_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// want is what one record of a fixture decodes to.
type want struct {
	bucket, key string
	action      s3event.Action
	size        int64
	etag        string
	sequencer   string
	keyErr      bool
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file    string
		wantErr bool
		want    []want
	}{
		{file: "../../../testdata/events/minio-put.json", want: []want{
			{bucket: "images", key: "uploads/my photo+1.jpg", action: s3event.Created, size: 5,
				etag: "5d41402abc4b2a76b9719d911017c592", sequencer: "18EB5CC17154617C"},
		}},
		{file: "../../../testdata/events/minio-delete.json", want: []want{
			{bucket: "images", key: "uploads/my photo+1.jpg", action: s3event.Removed, sequencer: "18EB5CC2A0B1C3D4"},
		}},
		{file: "../../../testdata/events/minio-batch.json", want: []want{
			{bucket: "images", key: "photos/2026/日本 café.png", action: s3event.Created, size: 1000,
				etag: "00000000000000000000000000000001", sequencer: "18EB5CC17154617C"},
			{bucket: "images", key: "a/b/c/d/deep.jpg", action: s3event.Created, size: 1001,
				etag: "00000000000000000000000000000002", sequencer: "18EB5CC17154617C"},
			{bucket: "images", key: "plus+and%percent.gif", action: s3event.Created, size: 1002,
				etag: "00000000000000000000000000000003", sequencer: "18EB5CC17154617C"},
			{bucket: "images", key: "a/b/c/d/deep.jpg", action: s3event.Other, size: 1001,
				etag: "00000000000000000000000000000002", sequencer: "18EB5CC17154617C"},
		}},
		{file: "testdata/aws-put.json", want: []want{
			{bucket: "photos-eu", key: "holiday/beach day+2.jpg", action: s3event.Created, size: 2048576,
				etag: "0f343b0931126a20f133d67c2b018a3b", sequencer: "0055AED6DCD90281E5"},
		}},
		{file: "testdata/aws-delete.json", want: []want{
			{bucket: "photos-eu", key: "Happy Face.jpg", action: s3event.Removed, sequencer: "0055AED6DCD90281E6"},
		}},
		{file: "testdata/traversal.json", want: []want{
			{bucket: "images", action: s3event.Created, size: 10, keyErr: true},
		}},
		{file: "testdata/control.json", want: []want{
			{bucket: "images", action: s3event.Created, size: 10, keyErr: true},
		}},
		{file: "testdata/truncated.json", wantErr: true},
		{file: "testdata/no-records.json", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := s3event.Parse(data)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Parse = %+v, want an error", ev)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []want
			for _, r := range ev.Records {
				key, err := r.Key()
				if err != nil && !errors.Is(err, pipeline.ErrUnsafeKey) {
					t.Errorf("Key error %v does not wrap ErrUnsafeKey", err)
				}
				got = append(got, want{bucket: r.S3.Bucket.Name, key: key, action: r.Action(), size: r.S3.Object.Size,
					etag: r.S3.Object.ETag, sequencer: r.S3.Object.Sequencer, keyErr: err != nil})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("records:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMinIOTopLevelKeyMatchesRecord(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/events/minio-put.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := s3event.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ev.Records[0].Key()
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.Records[0].S3.Bucket.Name + "/" + key; got != ev.Key {
		t.Errorf("bucket/key = %q, top-level Key = %q", got, ev.Key)
	}
	if ev.EventName != ev.Records[0].EventName {
		t.Errorf("EventName %q, record's %q", ev.EventName, ev.Records[0].EventName)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		body    string
		records int
		wantErr bool
	}{
		{`{"Records":[]}`, 0, false},
		{`{"Records":null}`, 0, true},
		{`{"Records":[{}],"extra":1}`, 1, false},
		{`{}`, 0, true},
		{``, 0, true},
		{`[]`, 0, true},
		{`{"Records":[]} {"Records":[]}`, 0, true},
		{`{"Records":"x"}`, 0, true},
		{`{"Records":[{"s3":{"object":{"size":"big"}}}]}`, 0, true},
	}
	for _, tc := range tests {
		ev, err := s3event.Parse([]byte(tc.body))
		if (err != nil) != tc.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", tc.body, err, tc.wantErr)
			continue
		}
		if err == nil && len(ev.Records) != tc.records {
			t.Errorf("Parse(%q) has %d records, want %d", tc.body, len(ev.Records), tc.records)
		}
	}
}

func TestParseAction(t *testing.T) {
	tests := []struct {
		name string
		want s3event.Action
	}{
		{"s3:ObjectCreated:Put", s3event.Created},
		{"ObjectCreated:Put", s3event.Created},
		{"s3:ObjectCreated:Copy", s3event.Created},
		{"ObjectCreated:CompleteMultipartUpload", s3event.Created},
		{"s3:ObjectCreated:PutRetention", s3event.Created},
		{"s3:ObjectRemoved:Delete", s3event.Removed},
		{"ObjectRemoved:DeleteMarkerCreated", s3event.Removed},
		{"s3:ObjectRemoved:NoOP", s3event.Removed},
		{"s3:ObjectAccessed:Get", s3event.Other},
		{"ObjectTagging:Put", s3event.Other},
		{"s3:ObjectRestore:Completed", s3event.Other},
		{"ObjectCreated", s3event.Created},
		{"objectcreated:put", s3event.Other},
		{"s3:s3:ObjectCreated:Put", s3event.Other},
		{"", s3event.Other},
	}
	for _, tc := range tests {
		if got := s3event.ParseAction(tc.name); got != tc.want {
			t.Errorf("ParseAction(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{"uploads%2Fmy+photo%2B1.jpg", "uploads/my photo+1.jpg", false},
		{"Happy%20Face.jpg", "Happy Face.jpg", false},
		{"a/b/c.png", "a/b/c.png", false},
		{"%E6%97%A5%E6%9C%AC.jpg", "日本.jpg", false},
		{"100%25.jpg", "100%.jpg", false},
		{"..jpg", "..jpg", false},
		{"a..b/c...d", "a..b/c...d", false},
		{"trailing%2F", "trailing/", false},
		{"", "", true},
		{"%ZZ.jpg", "", true},
		{"50%.jpg", "", true},
		{"..%2Fx.jpg", "", true},
		{"a%2F..%2Fb.jpg", "", true},
		{"a/../b.jpg", "", true},
		{"a%2F.%2Fb.jpg", "", true},
		{"x%2F..", "", true},
		{"..", "", true},
		{"tab%09.jpg", "", true},
		{"nul%00.jpg", "", true},
		{"del%7F.jpg", "", true},
		{"c1%C2%85.jpg", "", true},
		{"bad%FF.jpg", "", true},
	}
	for _, tc := range tests {
		r := s3event.Record{S3: s3event.Entity{Object: s3event.Object{Key: tc.raw}}}
		got, err := r.Key()
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Key(%q) = %q, %v; want %q, error %v", tc.raw, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, pipeline.ErrUnsafeKey) {
			t.Errorf("Key(%q) error %v does not wrap ErrUnsafeKey", tc.raw, err)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[s3event.Action]string{s3event.Created: "created", s3event.Removed: "removed", s3event.Other: "other"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(a), got, want)
		}
	}
}

func Example() {
	data, err := os.ReadFile("../../../testdata/events/minio-put.json")
	if err != nil {
		panic(err)
	}
	ev, err := s3event.Parse(data)
	if err != nil {
		panic(err)
	}
	for _, r := range ev.Records {
		key, err := r.Key()
		if err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Printf("%s %s/%s (%d bytes)\n", r.Action(), r.S3.Bucket.Name, key, r.S3.Object.Size)
	}
	// Output: created images/uploads/my photo+1.jpg (5 bytes)
}
