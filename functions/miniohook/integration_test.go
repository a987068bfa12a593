package miniohook_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
)

// TestConformanceOnMinIO runs the pipeline's conformance suite on a real
// MinIO server through s3blob: the storage the webhook writes to.
func TestConformanceOnMinIO(t *testing.T) {
	m := testserver.StartMinIO(t, testserver.MinIOOptions{})
	m.SetAWSEnv(t)
	var n atomic.Int64
	pipelinetest.Run(t, func(t *testing.T) *blob.Bucket {
		name := fmt.Sprintf("conformance-%d", n.Add(1))
		m.CreateBucket(t, name)
		b, err := blob.OpenBucket(context.Background(), m.BucketURL(name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
