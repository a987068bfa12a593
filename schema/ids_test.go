package schema_test

import (
	"testing"

	"github.com/thumbpipe/thumbpipe/internal/events"
	"github.com/thumbpipe/thumbpipe/schema"
)

// TestEventsNameTheseSchemas pins the dataschema URLs the completion
// events carry (package events keeps its own constants, so that the doors
// do not link a validator) to the $ids of the files here.
func TestEventsNameTheseSchemas(t *testing.T) {
	for _, tc := range []struct{ events, schema string }{
		{events.ManifestSchemaURL, schema.ManifestID},
		{events.FailureSchemaURL, schema.FailureID},
		{events.DeletionSchemaURL, schema.DeletionID},
		{events.EventSchemaURL, schema.EventID},
	} {
		if tc.events != tc.schema {
			t.Errorf("events names %q, the schema's $id is %q", tc.events, tc.schema)
		}
		if _, err := schema.Compile(tc.schema); err != nil {
			t.Errorf("%s: %v", tc.schema, err)
		}
	}
}
