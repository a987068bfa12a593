// Package schema holds the JSON Schemas of what thumbpipe tells
// applications: the manifest of a source's thumbnails, the failure record
// of a source that failed permanently, the record of a deletion, and the
// completion event (a CloudEvent) that carries one of them. Their $ids are stable; a
// change that removes or redefines a field gets a new file.
package schema

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The schemas' $ids.
const (
	ManifestID = "https://github.com/thumbpipe/thumbpipe/schema/manifest.v1.json"
	FailureID  = "https://github.com/thumbpipe/thumbpipe/schema/failure.v1.json"
	DeletionID = "https://github.com/thumbpipe/thumbpipe/schema/deletion.v1.json"
	EventID    = "https://github.com/thumbpipe/thumbpipe/schema/event.v1.json"
)

// FS holds the schema files.
//
//go:embed *.json
var FS embed.FS

// Compile compiles the schema with $id id (ManifestID, FailureID) for
// validation (ManifestID, FailureID, DeletionID, EventID), with "format" asserted (a "time" must be a date-time).
func Compile(id string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, err := FS.ReadDir(".")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		data, err := FS.ReadFile(f.Name())
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", f.Name(), err)
		}
		var head struct {
			ID string `json:"$id"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return nil, fmt.Errorf("schema %s: %w", f.Name(), err)
		}
		if err := c.AddResource(head.ID, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", f.Name(), err)
		}
	}
	return c.Compile(id)
}

// Validate validates the JSON document data against the schema with $id
// id.
func Validate(id string, data []byte) error {
	s, err := Compile(id)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(doc)
}
