package pixels_test

import (
	"bytes"
	"errors"
	"image"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReadConfigStream checks that ReadConfig reads no more than the header
// (a JPEG's first buffer), that the reader it returns gives back the whole
// stream, and that DecodeFrom on it decodes the same pixels as Decode, for
// every format and however the bytes trickle in.
func TestReadConfigStream(t *testing.T) {
	photo := pixeltest.Photo(600, 400, 5)
	big := pixeltest.JPEG(photo, 95) // well over the decoder's 32 KiB buffer
	small := pixeltest.Photo(40, 30, 2)
	tests := []struct {
		name string
		data []byte
	}{
		{"jpeg", big},
		{"oriented jpeg", pixeltest.OrientedJPEG(64, 48, 6)},
		{"png", pixeltest.PNG(small)},
		{"gif", pixeltest.GIF(small)},
		{"webp", pixeltest.File("lossy.webp")},
		{"tiff", pixeltest.TIFF(small)},
		{"bmp", pixeltest.BMP(small)},
	}
	for _, tc := range tests {
		for _, trickle := range []bool{false, true} {
			name := tc.name
			if trickle {
				name += " one byte at a time"
			}
			t.Run(name, func(t *testing.T) {
				want, err := pixels.DecodeConfig(tc.data)
				if err != nil {
					t.Fatal(err)
				}
				src := &countingReader{r: bytes.NewReader(tc.data)}
				var r io.Reader = src
				if trickle {
					r = iotest.OneByteReader(r)
				}
				got, stream, err := pixels.ReadConfig(r)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("ReadConfig = %+v, %v; DecodeConfig gave %+v", got, err, want)
				}
				if tc.name == "jpeg" && src.n >= len(tc.data) {
					t.Errorf("ReadConfig read all %d bytes of a JPEG, not just its header", src.n)
				}
				wantImg, err := pixels.Decode(tc.data, want, 100, 100)
				if err != nil {
					t.Fatal(err)
				}
				img, err := pixels.DecodeFrom(stream, got, 100, 100)
				if err != nil {
					t.Fatalf("DecodeFrom: %v", err)
				}
				if !samePixels(img, wantImg) {
					t.Error("DecodeFrom after ReadConfig decodes other pixels than Decode")
				}
			})
		}
	}
}

func TestReadConfigReplaysEverything(t *testing.T) {
	data := pixeltest.JPEG(pixeltest.Photo(300, 200, 9), 90)
	_, stream, err := pixels.ReadConfig(iotest.HalfReader(bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(stream)
	if err != nil || !bytes.Equal(all, data) {
		t.Errorf("the returned reader gave %d bytes (%v), want the %d of the file", len(all), err, len(data))
	}
}

func TestReadConfigErrors(t *testing.T) {
	boom := errors.New("storage went away")
	if _, _, err := pixels.ReadConfig(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("failing reader: %v, want the read error", err)
	}
	jpg := pixeltest.JPEG(pixeltest.Photo(64, 64, 1), 80)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"text", []byte("not an image at all"), pixels.ErrUnsupported},
		{"empty", nil, pixels.ErrUnsupported},
		{"jpeg cut in its header", jpg[:40], pixels.ErrCorrupt},
	} {
		if _, _, err := pixels.ReadConfig(bytes.NewReader(tc.data)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}
