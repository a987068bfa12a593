package gcsfunc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// objectData is the part of a Cloud Storage object event's data
// (google.events.cloud.storage.v1.StorageObjectData, the JSON resource of
// https://cloud.google.com/storage/docs/json_api/v1/objects) that thumbpipe
// reads. Fields it does not name (id, selfLink, md5Hash, crc32c, etag,
// storageClass, ...) are ignored, so new fields never break decoding.
//
// The JSON encodes 64-bit integers (size, generation, metageneration) as
// strings, as proto3's JSON mapping does; bare numbers are accepted too.
// Absent or null numbers and times are zero.
type objectData struct {
	Bucket         string            `json:"bucket"`         // bucket name, without gs://
	Name           string            `json:"name"`           // object key
	Generation     flexInt           `json:"generation"`     // object generation
	Metageneration flexInt           `json:"metageneration"` // metadata generation
	ContentType    string            `json:"contentType"`    // as uploaded, not trusted for the format
	Size           flexInt           `json:"size"`           // bytes
	Metadata       map[string]string `json:"metadata"`       // custom metadata, where the thumbpipe marker lives
	TimeCreated    time.Time         `json:"timeCreated"`
	Updated        time.Time         `json:"updated"`
}

// errMalformed marks event data that does not describe an object. It is
// permanent: a redelivery carries the same bytes.
var errMalformed = errors.New("malformed Cloud Storage event data")

// decodeObject reads a Cloud Storage object event's data. It needs a JSON
// object with a bucket and a name; everything else is optional.
func decodeObject(data []byte) (objectData, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return objectData{}, fmt.Errorf("%w: no data", errMalformed)
	}
	var o objectData
	if err := json.Unmarshal(data, &o); err != nil {
		return objectData{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if o.Bucket == "" || o.Name == "" {
		return objectData{}, fmt.Errorf("%w: bucket %q and name %q must both be set", errMalformed, o.Bucket, o.Name)
	}
	return o, nil
}

// flexInt is an int64 written as a JSON string ("4154") or number (4154).
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	if s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = flexInt(v)
	return nil
}
