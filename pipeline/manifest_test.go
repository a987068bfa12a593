package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/buckket/go-blurhash"
	"github.com/disintegration/imaging"
	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
	"github.com/thumbpipe/thumbpipe/schema"
)

// TestRecordsMatchSchema: the manifests and failure records the pipeline
// writes, of every format it reads, validate against the checked-in
// schemas.
func TestRecordsMatchSchema(t *testing.T) {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 48, Height: 48, Mode: "fill"}}
	cfg.MaxBytes = 1 << 20
	cfg.MaxPixels = 100_000
	th, err := pipeline.NewThumbnailer(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	photo := pixeltest.Photo(320, 200, 1)
	sources := map[string][]byte{
		"a.jpg": pixeltest.JPEG(photo, 90), "b.png": pixeltest.PNG(photo), "c.gif": pixeltest.GIF(photo),
		"d.webp": pixeltest.File("lossy.webp"), "e.tiff": pixeltest.TIFF(photo), "f.bmp": pixeltest.BMP(photo),
		"g.jpg": pixeltest.OrientedJPEG(300, 100, 8),
	}
	for key, data := range sources {
		if err := b.WriteAll(ctx, key, data, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := th.Process(ctx, b, key); err != nil {
			t.Fatal(err)
		}
		validate(t, b, schema.ManifestID, cfg.ManifestKey(key))
	}
	full := pixeltest.JPEG(photo, 90)
	failing := map[string][]byte{
		"x-corrupt.jpg": full[:len(full)/2], "x-text.jpg": []byte("not an image at all"),
		"x-huge.png": pixeltest.PNG(pixeltest.Photo(400, 400, 3)), "x-big.jpg": bytes.Repeat(full, 1+(1<<20)/len(full)),
	}
	for key, data := range failing {
		if err := b.WriteAll(ctx, key, data, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := th.Process(ctx, b, key); err == nil || pipeline.Retryable(err) {
			t.Fatalf("%s: %v, want a permanent failure", key, err)
		}
		validate(t, b, schema.FailureID, cfg.FailureKey(key))
	}
}

func validate(t *testing.T, b *blob.Bucket, id, key string) {
	t.Helper()
	data, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if err := schema.Validate(id, data); err != nil {
		t.Errorf("%s does not validate against %s: %v\n%s", key, id, err, data)
	}
}

// TestBlurHashCloseToThumbnail: the BlurHash decodes to an image close to
// the thumbnail blurred as much as a 4-component hash blurs: at least 20 dB
// PSNR against the thumbnail under a Gaussian blur of sigma = its longer
// side / 8, and a mean colour, averaged in linear light as the hash's DC
// term is, within 3 (of 255, per sRGB channel) of the thumbnail's. And the
// hash carries the picture, not only its colour: it beats, by 1 dB at
// least, a flat image of the thumbnail's mean colour.
func TestBlurHashCloseToThumbnail(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		data []byte
	}{
		{"quadrants", pixeltest.JPEG(pixeltest.Upright(640, 480), 90)},
		{"photo", pixeltest.JPEG(pixeltest.Photo(800, 600, 2), 90)},
		{"portrait", pixeltest.OrientedJPEG(400, 300, 6)},
		{"panorama png", pixeltest.PNG(pixeltest.Upright(1200, 300))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := memblob.OpenBucket(nil)
			defer b.Close()
			th, err := pipeline.NewThumbnailer(pipeline.DefaultConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.WriteAll(ctx, "s", tc.data, nil); err != nil {
				t.Fatal(err)
			}
			res, err := th.Process(ctx, b, "s")
			if err != nil {
				t.Fatal(err)
			}
			m := res.Manifest
			thumbData, err := b.ReadAll(ctx, m.Variants[len(m.Variants)-1].Key)
			if err != nil {
				t.Fatal(err)
			}
			thumb, _, err := image.Decode(bytes.NewReader(thumbData))
			if err != nil {
				t.Fatal(err)
			}
			w, h := thumb.Bounds().Dx(), thumb.Bounds().Dy()
			x, y, err := blurhash.Components(m.BlurHash)
			if err != nil {
				t.Fatal(err)
			}
			if wx, wy := pipeline.BlurHashComponents(w, h); x != wx || y != wy {
				t.Errorf("components %dx%d for a %dx%d thumbnail, want %dx%d", x, y, w, h, wx, wy)
			}
			decoded, err := blurhash.Decode(m.BlurHash, w, h, 1)
			if err != nil {
				t.Fatal(err)
			}
			blurred := imaging.Blur(thumb, float64(max(w, h))/8)
			psnr := pixeltest.PSNR(decoded, blurred)
			dist := colorDistance(mean(decoded), mean(thumb))
			t.Logf("%s: %dx%d, hash %s (%dx%d), PSNR %.1f dB against the blurred thumbnail, mean colour %.1f apart, dominant %s",
				tc.name, w, h, m.BlurHash, x, y, psnr, dist, m.DominantColor)
			m0 := mean(thumb)
			flat := image.NewNRGBA(image.Rect(0, 0, w, h))
			for i := 0; i < len(flat.Pix); i += 4 {
				flat.Pix[i], flat.Pix[i+1], flat.Pix[i+2], flat.Pix[i+3] = uint8(m0[0]+0.5), uint8(m0[1]+0.5), uint8(m0[2]+0.5), 255
			}
			flatPSNR := pixeltest.PSNR(flat, blurred)
			t.Logf("a flat image of the mean colour: %.1f dB", flatPSNR)
			if psnr < flatPSNR+1 {
				t.Errorf("PSNR %.1f dB, no better than a flat image's %.1f", psnr, flatPSNR)
			}
			if psnr < 20 {
				t.Errorf("PSNR %.1f dB, want at least 20", psnr)
			}
			if dist > 3 {
				t.Errorf("mean colour %.1f apart, want at most 3", dist)
			}
		})
	}
}

// mean is img's mean colour, averaged in linear light, in sRGB 0-255.
func mean(img image.Image) [3]float64 {
	var s [3]float64
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			for i, v := range []uint8{c.R, c.G, c.B} {
				s[i] += toLinear(float64(v) / 255)
			}
		}
	}
	n := float64(r.Dx() * r.Dy())
	for i := range s {
		s[i] = 255 * toSRGB(s[i]/n)
	}
	return s
}

func toLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func toSRGB(v float64) float64 {
	if v <= 0.0031308 {
		return v * 12.92
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

// colorDistance is the largest per-channel difference.
func colorDistance(a, b [3]float64) float64 {
	return max(math.Abs(a[0]-b[0]), math.Abs(a[1]-b[1]), math.Abs(a[2]-b[2]))
}

func TestBlurHashComponents(t *testing.T) {
	tests := []struct{ w, h, x, y int }{
		{200, 200, 4, 4}, {200, 150, 4, 3}, {150, 200, 3, 4}, {200, 100, 4, 2}, {200, 20, 4, 1}, {1, 200, 1, 4}, {0, 0, 4, 4},
	}
	for _, tc := range tests {
		if x, y := pipeline.BlurHashComponents(tc.w, tc.h); x != tc.x || y != tc.y {
			t.Errorf("BlurHashComponents(%d, %d) = %d, %d; want %d, %d", tc.w, tc.h, x, y, tc.x, tc.y)
		}
	}
}

func TestPlaceholderDominantColor(t *testing.T) {
	tests := []struct {
		name string
		img  image.Image
		want string
	}{
		{"red with a blue band", bands(color.NRGBA{R: 255, A: 255}, color.NRGBA{B: 255, A: 255}, 0.3), "#ff0000"},
		{"mostly blue", bands(color.NRGBA{R: 255, A: 255}, color.NRGBA{B: 255, A: 255}, 0.8), "#0000ff"},
		{"transparent left, grey right", bands(color.NRGBA{}, color.NRGBA{R: 128, G: 128, B: 128, A: 255}, 0.3), "#808080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := pipeline.Placeholder(pixeltest.PNG(tc.img))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("dominant colour %s, want %s", got, tc.want)
			}
		})
	}
	if _, _, err := pipeline.Placeholder([]byte("no image")); !errors.Is(err, pipeline.ErrUnsupported) {
		t.Errorf("placeholder of text: %v, want ErrUnsupported", err)
	}
}

// bands returns a 100×60 image of colour a with its right share of
// columns in colour b.
func bands(a, b color.NRGBA, share float64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 100, 60))
	for y := 0; y < 60; y++ {
		for x := 0; x < 100; x++ {
			c := a
			if float64(x) >= 100*(1-share) {
				c = b
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func ExampleConfig_ManifestKey() {
	cfg := pipeline.DefaultConfig()
	fmt.Println(cfg.ManifestKey("uploads/cat.jpg"))
	fmt.Println(cfg.FailureKey("uploads/cat.jpg"))
	// Output:
	// thumbnails/manifests/uploads/cat.jpg.json
	// thumbnails/failures/uploads/cat.jpg.json
}

// ExampleManifest shows a manifest as an application reads it.
func ExampleManifest() {
	ctx := context.Background()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	cfg := pipeline.DefaultConfig()
	cfg.Sizes = []pipeline.Size{{Width: 200, Height: 200, Mode: "fit"}, {Width: 64, Height: 64, Mode: "fill"}}
	th, _ := pipeline.NewThumbnailer(cfg, nil)
	_ = b.WriteAll(ctx, "uploads/cat.jpg", pixeltest.JPEG(pixeltest.Upright(640, 480), 90), nil)
	if _, err := th.Process(ctx, b, "uploads/cat.jpg"); err != nil {
		fmt.Println(err)
		return
	}
	m, err := th.ReadManifest(ctx, b, "uploads/cat.jpg")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Schema, m.Source.Width, m.Source.Height, m.DominantColor)
	for _, v := range m.Variants {
		fmt.Printf("%s %dw (%s, %dx%d)\n", v.Key, v.Width, v.Mode, v.Width, v.Height)
	}
	_, err = json.Marshal(m)
	fmt.Println(err)
	// Output:
	// thumbpipe.manifest/v1 640 480 #556e81
	// thumbnails/200x200/uploads/cat.jpg 200w (fit, 200x150)
	// thumbnails/64x64/uploads/cat.jpg 64w (fill, 64x64)
	// <nil>
}
