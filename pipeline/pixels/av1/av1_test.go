package av1_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sync"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/av1"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/heif"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/wasmrt"
)

// coded returns the AV1 data of the primary item of an AVIF that avifenc
// makes of img with args.
func coded(t testing.TB, img image.Image, args ...string) []byte {
	t.Helper()
	pixeltest.NeedTool(t, "avifenc", "libavif-bin")
	file, err := pixeltest.EncodeAVIF(t.TempDir(), img, args...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := heif.Parse(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	data, err := f.ItemData(file, f.Primary)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// flat is a w×h picture of one colour.
func flat(w, h int, c color.Color) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{}, draw.Src)
	return img
}

// TestDecode decodes mid-gray pictures of each layout and depth avifenc
// writes: the frame says what was coded, and every luma sample is the
// gray's code value (128 at 8 bits, full range), give or take the codec's
// rounding.
func TestDecode(t *testing.T) {
	gray := flat(96, 64, color.RGBA{128, 128, 128, 255})
	for _, tt := range []struct {
		name   string
		args   []string
		bits   int
		layout wasmrt.Layout
	}{
		{"8-bit 4:2:0", []string{"--yuv", "420"}, 8, wasmrt.I420},
		{"8-bit 4:4:4", []string{"--yuv", "444"}, 8, wasmrt.I444},
		{"10-bit 4:2:2", []string{"--yuv", "422", "--depth", "10"}, 10, wasmrt.I422},
		{"12-bit 4:2:0", []string{"--yuv", "420", "--depth", "12"}, 12, wasmrt.I420},
		{"8-bit monochrome", []string{"--yuv", "400"}, 8, wasmrt.I400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := coded(t, gray, append([]string{"--min", "0", "--max", "0"}, tt.args...)...)
			err := av1.Decode(context.Background(), data, 0, 0, func(f *wasmrt.Frame) error {
				if f.Width != 96 || f.Height != 64 || f.BitDepth != tt.bits || f.Layout != tt.layout {
					return fmt.Errorf("frame %dx%d, %d bits, layout %d; want 96x64, %d bits, layout %d",
						f.Width, f.Height, f.BitDepth, f.Layout, tt.bits, tt.layout)
				}
				if (f.Cb == nil) != (tt.layout == wasmrt.I400) {
					return fmt.Errorf("chroma planes %v for layout %d", f.Cb != nil, f.Layout)
				}
				want := 128 << (tt.bits - 8)
				for y := range f.Height {
					for x := range f.Width {
						v := int(f.Y[y*f.YStride+x])
						if tt.bits > 8 {
							v = int(f.Y[y*f.YStride+2*x]) | int(f.Y[y*f.YStride+2*x+1])<<8
						}
						if d := v - want; d < -(1<<(tt.bits-8)) || d > 1<<(tt.bits-8) {
							return fmt.Errorf("luma at %d,%d is %d, want %d", x, y, v, want)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDecodeRefuses feeds the decoder what it must refuse, each with the
// error that says why.
func TestDecodeRefuses(t *testing.T) {
	photo := coded(t, pixeltest.Photo(1024, 768, 3), "--min", "20", "--max", "30")
	for _, tt := range []struct {
		name      string
		data      []byte
		maxPixels int
		maxMemory int64
		want      error
	}{
		{"empty", nil, 0, 0, av1.ErrCorrupt},
		{"garbage", bytes.Repeat([]byte{0x5a, 0xa5, 0x12}, 1000), 0, 0, av1.ErrCorrupt},
		{"truncated to its headers", photo[:40], 0, 0, av1.ErrCorrupt},
		{"truncated by half", photo[:len(photo)/2], 0, 0, av1.ErrCorrupt},
		{"larger than the pixel limit", photo, 1024*768 - 1, 0, av1.ErrTooLarge},
		{"more memory than allowed", photo, 0, 6 << 20, av1.ErrMemory},
	} {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := av1.Decode(context.Background(), tt.data, tt.maxPixels, tt.maxMemory, func(*wasmrt.Frame) error {
				called = true
				return nil
			})
			if !errors.Is(err, tt.want) || called {
				t.Fatalf("got %v (picture: %v), want %v", err, called, tt.want)
			}
			t.Log(err)
		})
	}
	// The same data within its limits decodes.
	if err := av1.Decode(context.Background(), photo, 1024*768, 64<<20, func(*wasmrt.Frame) error { return nil }); err != nil {
		t.Fatalf("within its limits: %v", err)
	}
}

// TestDecodeConcurrent decodes from several goroutines at once, each in
// an instance of its own, and finds every instance's memory given back.
func TestDecodeConcurrent(t *testing.T) {
	data := coded(t, pixeltest.Photo(320, 240, 5), "--min", "10", "--max", "20")
	var sums [4]int
	var wg sync.WaitGroup
	errs := make(chan error, len(sums))
	peak := wasmrt.Peak(func() {
		for i := range sums {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- av1.Decode(context.Background(), data, 0, 0, func(f *wasmrt.Frame) error {
					for _, v := range f.Y[:f.Width] {
						sums[i] += int(v)
					}
					return nil
				})
			}()
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range sums {
		if sums[i] != sums[0] {
			t.Fatalf("decodes differ: %v", sums)
		}
	}
	if peak <= 0 {
		t.Errorf("no memory mapped at the peak (%d)", peak)
	}
	if now := wasmrt.Peak(func() {}); now != 0 {
		t.Errorf("%d bytes still mapped after every decode returned", now)
	}
}

// TestDecodeStopped returns the context's error when it is done.
func TestDecodeStopped(t *testing.T) {
	data := coded(t, pixeltest.Photo(64, 64, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := av1.Decode(ctx, data, 0, 0, func(*wasmrt.Frame) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want %v", err, context.Canceled)
	}
}
