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
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/av1"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/hevc"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// hostileHeapBound is how far the live heap may rise above its baseline
// while any one file of the hostile corpus is processed.
const hostileHeapBound = 64 << 20

// hostile is one file of the hostile corpus and the outcome it must have:
// a permanent error of class want, or (want nil) a correct thumbnail.
type hostile struct {
	name string
	data []byte
	want error
}

// costlySide is the side of the costly files: 7071² is 50 million pixels,
// the default pixel limit; under the race detector, which makes inflating
// about ten times slower, an eighth of that.
func costlySide() uint32 {
	if raceEnabled {
		return 2500
	}
	return 7071
}

// costlyWant is the outcome of the files of pixeltest.CostlyFiles that do
// not make a thumbnail.
var costlyWant = map[string]error{
	// A lossless WebP is decoded whole, up to 7 bytes a pixel: 335 MiB at
	// 7071², over the default decode budget (at the race run's 2500², 42
	// MiB, within it and within the bound).
	"one-colour-lossless-7071.webp": pipeline.ErrTooExpensive,
}

// costlyWantSide is costlyWant for the files whose outcome depends on the
// side: a 47-byte GIF whose screen is 7071² is counted at its screen's
// size (190 MiB, over a thousand times the file: the decompression-ratio
// guard), while at 2500² (24 MiB) its frame is placed on a reduced screen.
func costlyWantSide(name string, side uint32) error {
	if name == "huge-screen.gif" && side > 4096 {
		return pipeline.ErrTooExpensive
	}
	return costlyWant[name]
}

// costlyCorpus is pixeltest.CostlyFiles, the table of issue #14 and its
// variants, at the pixel limit. Each makes a thumbnail or is refused
// before its pixels are allocated. The huge-screen GIF's thumbnail size is
// the GIF decoder's to choose (image/gif gives its 16×16 frame alone; one
// that places the frame on its screen gives 200×200), but its screen must
// never be allocated at full size.
func costlyCorpus() []hostile {
	var corpus []hostile
	for _, f := range pixeltest.CostlyFiles(costlySide()) {
		corpus = append(corpus, hostile{f.Name, f.Data, costlyWantSide(f.Name, costlySide())})
	}
	return corpus
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
		// 45,000 repeats of one scan: a bogus progression.
		{"scan-bomb.jpg", pixeltest.ScanBomb(4096, 4096, 45000), pipeline.ErrCorrupt},
		// A refinement of a bit already sent.
		{"progression-bomb.jpg", pixeltest.ProgressionBomb(4096, 4096, 1000), pipeline.ErrCorrupt},
		// 882 scans that each add a bit: over the scan limit.
		{"many-scans.jpg", pixeltest.ManyScans(4096, 4096, 882), pipeline.ErrTooExpensive},
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
	corpus = append(corpus, costlyCorpus()...)
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
// hostileHeapBound of where it was before the file (or the file's own
// bound).
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
	// The WebAssembly codecs compile once per process, on the first
	// image of their format: a cost of the process, not of a file, so it
	// is paid before the baselines.
	if err := hevc.Compile(); err != nil {
		t.Fatal(err)
	}
	if err := av1.Compile(); err != nil {
		t.Fatal(err)
	}
	avif.InitEncoder()
	var worst uint64
	for _, h := range corpus {
		t.Run(h.name, func(t *testing.T) {
			key := "hostile/" + h.name
			var (
				res pipeline.Result
				err error
			)
			peak := peakHeap(t, func() { res, err = th.Process(ctx, b, key) })
			worst = max(worst, peak)
			bound := uint64(hostileHeapBound)
			t.Logf("%d bytes: peak heap %.1f MiB above baseline; %v", len(h.data), float64(peak)/(1<<20), err)
			if peak > bound {
				t.Errorf("peak heap rose %.1f MiB above baseline; bound %d MiB", float64(peak)/(1<<20), bound>>20)
			}
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
				// The costly files are squares larger than the box.
				side := fmt.Sprintf("-%d", costlySide())
				if c, err := pixels.DecodeConfig(out); err != nil ||
					strings.Contains(h.name, side) && (c.Width != 200 || c.Height != 200) {
					t.Errorf("thumbnail %dx%d, %v; want 200x200", c.Width, c.Height, err)
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
	t.Logf("hostile corpus: %d files, peak heap at most %.1f MiB above baseline (bound %d MiB)",
		len(corpus), float64(worst)/(1<<20), hostileHeapBound>>20)
}

// peakHeap is [pixeltest.PeakHeap] in a test.
func peakHeap(t *testing.T, fn func()) uint64 {
	t.Helper()
	return pixeltest.PeakHeap(fn)
}

// TestHostileWideJPEG makes thumbnails of very wide progressive CMYK JPEGs
// in two sizes, as the pixel limit allows them: each size is a sliver, so
// the decoder reduces them eightfold and the heap stays within
// hostileHeapBound of its baseline. Filled, a box needs the full height:
// the decode budget refuses it from the header.
func TestHostileWideJPEG(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: pixels.Fit}, {Width: 800, Height: 800, Mode: pixels.Fit}}
	fit, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sizes = []pipeline.Size{{Width: 800, Height: 800, Mode: pixels.Fill}}
	fill, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		w, h uint16
		th   *pipeline.Thumbnailer
		want error
	}{
		{31250, 1599, fit, nil},
		{65535, 399, fit, nil},
		{31250, 1599, fill, pipeline.ErrTooExpensive},
	} {
		key := fmt.Sprintf("wide/%dx%d.jpg", tc.w, tc.h)
		if err := b.WriteAll(ctx, key, pixeltest.ProgressiveCMYK(tc.w, tc.h), nil); err != nil {
			t.Fatal(err)
		}
		var res pipeline.Result
		peak := peakHeap(t, func() { res, err = tc.th.Process(ctx, b, key) })
		t.Logf("%s: peak heap %.1f MiB above baseline; %v", key, float64(peak)/(1<<20), err)
		if peak > hostileHeapBound {
			t.Errorf("%s: peak heap rose %d MiB above baseline; bound %d MiB", key, peak>>20, hostileHeapBound>>20)
		}
		if tc.want != nil {
			if !errors.Is(err, tc.want) || pipeline.Retryable(err) {
				t.Errorf("%s: got %v; want a permanent %v", key, err, tc.want)
			}
			continue
		}
		if err != nil || res.Written() != len(res.Variants) {
			t.Fatalf("%s: want every thumbnail, got %+v, %v", key, res, err)
		}
		for _, v := range res.Variants {
			if v.Width != v.Size.Width || v.Height < 1 || v.Height > 1+v.Size.Width*int(tc.h)/int(tc.w) {
				t.Errorf("%s: %s thumbnail is %dx%d", key, v.Size.Box(), v.Width, v.Height)
			}
		}
	}
}
