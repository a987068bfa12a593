package pipeline

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

func TestSourceReader(t *testing.T) {
	boom := errors.New("connection reset")
	tests := []struct {
		name     string
		r        io.Reader
		limit    int64
		wantN    int64
		wantErr  error // of err() after reading to the end
		wantRead string
	}{
		{"under the limit", strings.NewReader("0123456789"), 20, 10, nil, "0123456789"},
		{"at the limit", strings.NewReader("0123456789"), 10, 10, nil, "0123456789"},
		{"over the limit", strings.NewReader("0123456789"), 4, 5, ErrTooLarge, "01234"},
		{"read error", io.MultiReader(strings.NewReader("0123"), iotest.ErrReader(boom)), 20, 4, boom, "0123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sourceReader{r: tt.r, limit: tt.limit}
			got, readErr := io.ReadAll(iotest.OneByteReader(s))
			if string(got) != tt.wantRead || s.n != tt.wantN {
				t.Errorf("read %q (n %d), want %q (n %d)", got, s.n, tt.wantRead, tt.wantN)
			}
			err := s.err()
			if tt.wantErr == nil {
				if err != nil || readErr != nil {
					t.Errorf("err() = %v, ReadAll: %v; want none", err, readErr)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !errors.Is(readErr, tt.wantErr) {
				t.Errorf("err() = %v, ReadAll: %v; want %v from both", err, readErr, tt.wantErr)
			}
			// A decoder that reads on gets the same answer and no bytes.
			if n, err := s.Read(make([]byte, 8)); tt.wantErr == ErrTooLarge && (n != 0 || !errors.Is(err, ErrTooLarge)) {
				t.Errorf("Read after the limit = %d, %v", n, err)
			}
		})
	}
}

// TestProcessStreams checks that the source streams into the decoder: an
// image refused for its pixel count is read no further than its header.
func TestProcessStreams(t *testing.T) {
	ctx := context.Background()
	data := pixeltest.JPEG(pixeltest.Photo(800, 600, 3), 95)
	b := memblob.OpenBucket(nil)
	defer b.Close()
	if err := b.WriteAll(ctx, "big.jpg", data, nil); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MaxPixels = 1000
	th, err := NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := th.Process(ctx, b, "big.jpg")
	if !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("Process: %v, want ErrTooManyPixels", err)
	}
	if res.SourceBytes <= 0 || res.SourceBytes >= int64(len(data))/2 {
		t.Errorf("read %d of %d bytes to refuse the image; want just its header", res.SourceBytes, len(data))
	}
}
