package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/heic"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// hostileHeapBound is how far the live heap may rise above its baseline
// while the whole hostile corpus is processed one file at a time.
const hostileHeapBound = 64 << 20

// hostile is one file of the hostile corpus and the outcome it must have:
// a permanent error of class want, or (want nil) a correct thumbnail.
type hostile struct {
	name string
	data []byte
	want error
}

func hostileCorpus() []hostile {
	photo := pixeltest.JPEG(pixeltest.Photo(640, 480, 1), 90)
	png := pixeltest.PNG(pixeltest.Photo(320, 240, 2))
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	corpus := []hostile{
		{"bomb-png.png", pixeltest.PNGBomb(60000, 60000), pipeline.ErrTooManyPixels},
		{"bomb-gif.gif", pixeltest.GIFBomb(60000, 60000), pipeline.ErrTooManyPixels},
		{"bomb-jpeg.jpg", pixeltest.JPEGBomb(60000, 60000), pipeline.ErrTooManyPixels},
		{"bomb-webp.webp", pixeltest.WebPBomb(16384, 16384), pipeline.ErrTooManyPixels},
		{"bomb-tiff.tif", pixeltest.TIFFBomb(60000, 60000), pipeline.ErrTooManyPixels},
		{"bomb-bmp.bmp", pixeltest.BMPBomb(60000, 60000), pipeline.ErrTooManyPixels},
		{"zlib-bomb-1GiB.png", pixeltest.PNGZlibBomb(1000, 1000, 1024), pipeline.ErrCorrupt},
		{"animated-3000-frames.gif", pixeltest.AnimatedGIF(64, 64, 3000), nil},
		{"zero-bytes.jpg", nil, pipeline.ErrCorrupt},
		{"random-bytes.jpg", random, pipeline.ErrUnsupported},
		{"html-named.png", []byte("<!doctype html><html><script>alert(1)</script></html>"), pipeline.ErrUnsupported},
		{"html-jpeg-polyglot.jpg", pixeltest.Polyglot(), nil},
		{"huge-exif.jpg", pixeltest.HugeEXIF(), nil},
		{"cmyk-without-adobe.jpg", pixeltest.WithoutAPP(pixeltest.File("cmyk.jpg"), 0xEE), pipeline.ErrUnsupported},
		{"cmyk.jpg", pixeltest.File("cmyk.jpg"), nil},
		{"16-bit.png", pixeltest.PNG(pixeltest.Deep(300, 200)), nil},
		{"interlaced.png", pixeltest.File("interlaced.png"), nil},
		{"bad-huffman.jpg", pixeltest.BadHuffman(), pipeline.ErrCorrupt},
		{"jpeg-only-soi.jpg", []byte{0xFF, 0xD8, 0xFF}, pipeline.ErrCorrupt},
		{"bomb-heic.heic", pixeltest.HEIFBomb(60000, 60000), pipeline.ErrTooManyPixels},
		{"heic-grid-not-covered.heic", pixeltest.HEIFBadGrid(2, 2, 300, 300, 64, 64, 4), pipeline.ErrCorrupt},
		{"heic-grid-65536-tiles.heic", pixeltest.HEIFBadGrid(256, 256, 4096, 4096, 16, 16, 4), pipeline.ErrUnsupported},
		{"heic-grid-5000-tiles.heic", pixeltest.HEIFBadGrid(100, 50, 6400, 3200, 64, 64, 5000), pipeline.ErrUnsupported},
		{"grid.heic", pixeltest.File("grid.heic"), nil},
		{"alpha.avif", pixeltest.File("alpha.avif"), nil},
	}
	heic := pixeltest.File("photo.heic")
	for _, cut := range []int{12, 30, 300, len(heic) / 2} {
		corpus = append(corpus, hostile{fmt.Sprintf("heic-cut-at-%d.heic", cut), heic[:cut], pipeline.ErrCorrupt})
	}
	for _, cut := range []int{3, 20, 200, len(photo) / 2, len(photo) - 200} {
		corpus = append(corpus, hostile{fmt.Sprintf("jpeg-cut-at-%d.jpg", cut), photo[:cut], pipeline.ErrCorrupt})
	}
	// Only the end-of-image marker missing: every pixel is there, so, like
	// libjpeg, the decoder makes the image.
	corpus = append(corpus, hostile{"jpeg-without-eoi.jpg", photo[:len(photo)-2], nil})
	// len(png)-13 cuts the last byte of the image data's chunk CRC.
	for _, cut := range []int{8, 33, 100, len(png) / 2, len(png) - 13} {
		corpus = append(corpus, hostile{fmt.Sprintf("png-cut-at-%d.png", cut), png[:cut], pipeline.ErrCorrupt})
	}
	// Only the IEND chunk missing: every pixel is there and checked, so, as
	// for the JPEG without its end marker, the decoder makes the image.
	corpus = append(corpus, hostile{"png-without-iend.png", png[:len(png)-12], nil})
	return corpus
}

// TestHostileCorpus processes every hostile file: each gets its expected
// outcome (a permanent error that names the object and the reason, or a
// correct thumbnail), nothing panics, and the heap stays within
// hostileHeapBound of where it started.
func TestHostileCorpus(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	corpus := hostileCorpus()
	for _, h := range corpus {
		if err := b.WriteAll(ctx, "hostile/"+h.name, h.data, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The WebAssembly decoders compile once per process, on the first
	// HEIC and AVIF: a cost of the process, not of a file, so it is paid
	// before the baseline.
	heic.Init()
	avif.InitDecoder()
	avif.InitEncoder()
	peak := peakHeap(t, func() {
		for _, h := range corpus {
			t.Run(h.name, func(t *testing.T) {
				key := "hostile/" + h.name
				res, err := th.Process(ctx, b, key)
				if h.want == nil {
					if err != nil || res.Written() != 1 {
						t.Fatalf("want a thumbnail, got %+v, %v", res, err)
					}
					out, err := b.ReadAll(ctx, res.Variants[0].Key)
					if err != nil {
						t.Fatal(err)
					}
					if bytes.Contains(out, []byte("<script")) || bytes.Contains(out, []byte("Exif")) {
						t.Errorf("source bytes passed through into %s", res.Variants[0].Key)
					}
					return
				}
				if !errors.Is(err, h.want) || pipeline.Retryable(err) {
					t.Fatalf("got %v; want a permanent %v", err, h.want)
				}
				if !strings.Contains(err.Error(), key) {
					t.Errorf("error %q does not name the object", err)
				}
				if pipelinetest.Exists(t, b, "thumbnails/200x200/"+key) {
					t.Error("a refused file got a thumbnail")
				}
			})
		}
	})
	t.Logf("hostile corpus: %d files, peak heap %.1f MiB above baseline (bound %d MiB)",
		len(corpus), float64(peak)/(1<<20), hostileHeapBound>>20)
	if peak > hostileHeapBound {
		t.Errorf("peak heap rose %d MiB above baseline; bound %d MiB", peak>>20, hostileHeapBound>>20)
	}
}

// peakHeap is [pixeltest.PeakHeap] in a test.
func peakHeap(t *testing.T, fn func()) uint64 {
	t.Helper()
	return pixeltest.PeakHeap(fn)
}
