package s3event_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/thumbpipe/thumbpipe/functions/internal/s3event"
	"github.com/thumbpipe/thumbpipe/pipeline"
)

// addFixtures seeds f with every captured event payload: the repository's
// testdata/events and this package's testdata.
func addFixtures(f *testing.F) {
	f.Helper()
	var files []string
	for _, glob := range []string{"../../../testdata/events/*.json", "testdata/*.json"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 10 {
		f.Fatalf("only %d event fixtures found", len(files))
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkSafe fails unless key keeps CheckKey's promises.
func checkSafe(t *testing.T, key string) {
	t.Helper()
	if key == "" || !utf8.ValidString(key) {
		t.Fatalf("key %q accepted: empty or not UTF-8", key)
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			t.Fatalf("key %q accepted with control character %U", key, c)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("key %q accepted with a %q segment", key, seg)
		}
	}
}

// FuzzParse feeds arbitrary bytes to Parse as a webhook body or Lambda
// payload: it never panics, a decoded event survives a JSON round trip
// unchanged, and every key a record hands out is safe.
func FuzzParse(f *testing.F) {
	addFixtures(f)
	for _, s := range []string{`{"Records":[]}`, `{"Records":null}`, `{"Records":[{"s3":{"object":{"key":"a%2F..%2Fb"}}}]}`,
		`{"Records":[{"eventName":"s3:ObjectRemoved:Delete","s3":{"object":{"key":"%E2%28%A1"}}}]}`, `[]`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := s3event.Parse(data)
		if err != nil {
			if !reflect.DeepEqual(ev, s3event.Event{}) {
				t.Fatalf("Parse failed (%v) but returned %+v", err, ev)
			}
			return
		}
		if ev.Records == nil {
			t.Fatal("Parse succeeded with nil Records")
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		ev2, err := s3event.Parse(again)
		if err != nil {
			t.Fatalf("re-encoded event %s does not parse: %v", again, err)
		}
		if !reflect.DeepEqual(ev, ev2) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, ev2)
		}
		for _, r := range ev.Records {
			key, err := r.Key()
			if err != nil {
				if !errors.Is(err, pipeline.ErrUnsafeKey) || key != "" {
					t.Fatalf("Key() = %q, %v: want \"\" and an ErrUnsafeKey", key, err)
				}
				continue
			}
			checkSafe(t, key)
			if err := pipeline.CheckKey(key); err != nil {
				t.Fatalf("Key() returned %q that CheckKey refuses: %v", key, err)
			}
			switch a := r.Action(); a {
			case s3event.Created, s3event.Removed, s3event.Other:
			default:
				t.Fatalf("Action() = %d", a)
			}
		}
	})
}

// FuzzCheckKey checks CheckKey against its definition, and that any key it
// accepts comes back unchanged from a record holding the key escaped the
// way S3 and MinIO escape it.
func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"uploads/my photo+1.jpg", "a/../b", "./a", "a/.", "..", "a//b", "a\x00b", "\u0085x",
		"日本/café.png", "a\xffb", "", "%2e%2e/x", "a/.../b", "plus+and%percent.gif"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := pipeline.CheckKey(key)
		if err != nil {
			if !errors.Is(err, pipeline.ErrUnsafeKey) {
				t.Fatalf("CheckKey(%q) = %v, not an ErrUnsafeKey", key, err)
			}
			return
		}
		checkSafe(t, key)
		var r s3event.Record
		r.S3.Object.Key = url.QueryEscape(key)
		got, err := r.Key()
		if err != nil || got != key {
			t.Fatalf("record with key %q (escaped %q): Key() = %q, %v", key, r.S3.Object.Key, got, err)
		}
	})
}
