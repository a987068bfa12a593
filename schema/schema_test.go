package schema_test

import (
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/schema"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name, id, doc, wantErr string
	}{
		{"manifest", schema.ManifestID, `{"schema":"thumbpipe.manifest/v1","source":{"key":"a.jpg","version":"\"e1\"","format":"jpeg","width":640,"height":480,"bytes":1234},
			"variants":[{"box":"200x200","mode":"fit","key":"thumbnails/200x200/a.jpg","format":"jpeg","content_type":"image/jpeg","width":200,"height":150,"bytes":999}],
			"blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj","dominant_color":"#a1b2c3","status":"complete","time":"2026-11-30T07:00:00Z"}`, ""},
		{"manifest without variants", schema.ManifestID, `{"schema":"thumbpipe.manifest/v1","source":{"key":"a.jpg","version":"e","format":"jpeg","width":1,"height":1,"bytes":1},
			"blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj","dominant_color":"#a1b2c3","status":"complete","time":"2026-11-30T07:00:00Z"}`, "variants"},
		{"manifest with a bad time", schema.ManifestID, `{"schema":"thumbpipe.manifest/v1","source":{"key":"a.jpg","version":"e","format":"jpeg","width":1,"height":1,"bytes":1},"variants":[],
			"blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj","dominant_color":"#a1b2c3","status":"complete","time":"yesterday"}`, "date-time"},
		{"failure", schema.FailureID, `{"schema":"thumbpipe.failure/v1","key":"a.jpg","version":"e","reason":"corrupt","class":"corrupt","attempts":1,"time":"2026-11-30T07:00:00Z"}`, ""},
		{"failure of another schema", schema.FailureID, `{"schema":"thumbpipe.manifest/v1","key":"a.jpg","version":"e","reason":"corrupt","class":"corrupt","attempts":1,"time":"2026-11-30T07:00:00Z"}`, "schema"},
		{"failure without attempts", schema.FailureID, `{"schema":"thumbpipe.failure/v1","key":"a.jpg","version":"e","reason":"corrupt","class":"corrupt","attempts":0,"time":"2026-11-30T07:00:00Z"}`, "attempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := schema.Validate(tc.id, []byte(tc.doc))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid document refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
}
