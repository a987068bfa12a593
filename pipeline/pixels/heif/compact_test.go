package heif_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// parseHead parses file as a stream and returns the header read and the
// rest of the stream.
func parseHead(t *testing.T, file []byte) (*heif.File, []byte, io.Reader) {
	t.Helper()
	var head bytes.Buffer
	r := bytes.NewReader(file)
	f, err := heif.Parse(io.TeeReader(r, &head))
	if err != nil {
		t.Fatal(err)
	}
	return f, head.Bytes(), r
}

// TestCompact keeps only the data of the items asked for, each readable
// as it is in the whole file, in less than the file.
func TestCompact(t *testing.T) {
	for _, name := range []string{"grid.heic", "photo.heic", "alpha.heic", "photo.avif", "alpha.avif"} {
		t.Run(name, func(t *testing.T) {
			file := pixeltest.File(name)
			whole, err := heif.Parse(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			for _, pick := range []struct {
				what  string
				items func(f *heif.File) []*heif.Item
			}{
				{"primary", func(f *heif.File) []*heif.Item {
					p := f.Primary
					return append([]*heif.Item{p, p.Alpha}, p.Tiles...)
				}},
				{"thumbnails", func(f *heif.File) []*heif.Item { return f.Primary.Thumbnails }},
				{"everything twice", func(f *heif.File) []*heif.Item { return append(f.Items(), f.Items()...) }},
			} {
				f, head, rest := parseHead(t, file)
				items := pick.items(f)
				data, err := f.Compact(rest, head, items...)
				if err != nil {
					t.Fatalf("%s: %v", pick.what, err)
				}
				if len(data) > len(file) {
					t.Errorf("%s: kept %d bytes of a %d-byte file", pick.what, len(data), len(file))
				}
				for _, it := range items {
					if it == nil {
						continue
					}
					want, err := whole.ItemData(file, whole.Item(it.ID))
					if err != nil {
						t.Fatal(err)
					}
					got, err := f.ItemData(data, it)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%s: item %d: %d bytes (%v), want the file's %d", pick.what, it.ID, len(got), err, len(want))
					}
				}
			}
		})
	}
}

// TestCompactTruncated refuses a file that ends before the data it was
// asked for.
func TestCompactTruncated(t *testing.T) {
	file := pixeltest.File("grid.heic")
	f, head, _ := parseHead(t, file)
	short := bytes.NewReader(file[len(head) : len(head)+(len(file)-len(head))/2])
	p := f.Primary
	if _, err := f.Compact(short, head, append([]*heif.Item{p}, p.Tiles...)...); !errors.Is(err, heif.ErrCorrupt) {
		t.Fatalf("got %v, want %v", err, heif.ErrCorrupt)
	}
}
