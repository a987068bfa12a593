package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/disintegration/imaging"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// input is one benchmark image in the cache directory.
type input struct {
	name string // as the table shows it, e.g. "24MP baseline"
	file string // absolute path
	size int64
	// noNaive leaves the naive path out: for HEIC and AVIF it is the
	// WebAssembly decoder on the whole file (1.8 GB for the 18 MP AVIF
	// with libavif/aom), which the issue measured once; repeating it is
	// no comparison.
	noNaive bool
}

// grain is the amplitude of the luma noise added to pixeltest.Photo. With
// it a 12 MP q90 4:2:0 JPEG is about 5.5 MB, the size of a camera's and the
// jpegdec benchmarks', so entropy decoding gets its realistic share of the
// time (Photo alone gives 3.5 MB).
const grain = 16

// adobeRGB is the Adobe RGB (1998) compatible profile Debian's
// icc-profiles-free installs.
const adobeRGB = "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc"

// makeInputs writes the benchmark images into dir unless they are already
// there: made deterministically, so a cached file is the same file.
func makeInputs(dir string, log io.Writer) ([]input, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	jpeg12 := filepath.Join(dir, "12mp-q90.jpg")
	specs := []struct {
		name, file string
		make       func() ([]byte, error)
		noNaive    bool
	}{
		{"12MP baseline", jpeg12, func() ([]byte, error) { return encodeJPEG(photo(4000, 3000, 12)) }, false},
		{"24MP baseline", filepath.Join(dir, "24mp-q90.jpg"), func() ([]byte, error) { return encodeJPEG(photo(6000, 4000, 24)) }, false},
		{"12MP progressive", filepath.Join(dir, "12mp-q90-progressive.jpg"), func() ([]byte, error) {
			// Lossless: the same coefficients as the baseline file, in
			// progressive scans.
			return exec.Command("jpegtran", "-progressive", "-copy", "all", jpeg12).Output()
		}, false},
		{"12MP Adobe RGB", filepath.Join(dir, "12mp-q90-adobergb.jpg"), func() ([]byte, error) {
			// The baseline file's pixels, tagged: what converting the
			// profile to sRGB costs over the untagged photo.
			profile, err := os.ReadFile(adobeRGB)
			if err != nil {
				return nil, fmt.Errorf("%w (Debian package icc-profiles-free)", err)
			}
			data, err := os.ReadFile(jpeg12)
			if err != nil {
				return nil, err
			}
			return pixeltest.WithICC(data, profile), nil
		}, false},
		{"12MP lossy WebP", filepath.Join(dir, "12mp-q80.webp"), func() ([]byte, error) {
			// The baseline photo as a phone or a site saves WebP (libwebp's
			// cwebp, quality 80): a whole-file decoder against libvips'
			// shrink-on-load.
			return exec.Command("cwebp", "-quiet", "-q", "80", jpeg12, "-o", "-").Output()
		}, false},
		{"2000x1500 PNG", filepath.Join(dir, "2000x1500.png"), func() ([]byte, error) {
			return pixeltest.PNG(photo(2000, 1500, 3)), nil
		}, false},
		// The size of the camera photo saved as PNG (5640x3172).
		{png18, filepath.Join(dir, "18mp-rgb.png"), func() ([]byte, error) {
			return pixeltest.PNG(photo(5640, 3172, 18)), nil
		}, false},
		{png16, filepath.Join(dir, "12mp-rgb16.png"), func() ([]byte, error) {
			return pixeltest.PNG(deep(photo(4000, 3000, 16))), nil
		}, false},
		{pngInterlaced, filepath.Join(dir, "12mp-rgba-interlaced.png"), func() ([]byte, error) {
			return pixeltest.InterlacedPNG(photo(4000, 3000, 7)), nil
		}, false},
		// TIFFs as libvips (libtiff) writes them: strips, the horizontal
		// predictor.
		{tiffLZW, filepath.Join(dir, "24mp-rgb-lzw.tif"), func() ([]byte, error) {
			return vipsTIFF(dir, photo(6000, 4000, 25), "lzw")
		}, false},
		{tiff16, filepath.Join(dir, "12mp-rgb16-deflate.tif"), func() ([]byte, error) {
			return vipsTIFF(dir, deep(photo(4000, 3000, 17)), "deflate")
		}, false},
		// What an iPhone writes: 4032x3024 in 48 HEVC tiles of 512x512, a
		// 320x240 thumbnail item, turned by irot.
		{heic12, filepath.Join(dir, "12mp-grid.heic"), func() ([]byte, error) { return iPhoneHEIC(photo(4032, 3024, 12)) }, true},
		// An 18 MP AVIF in one 4:2:0 AV1 image, as cameras and
		// converters write.
		{avif18, filepath.Join(dir, "18mp-420.avif"), func() ([]byte, error) {
			tmp, err := os.MkdirTemp("", "thumbbench")
			if err != nil {
				return nil, err
			}
			defer os.RemoveAll(tmp)
			return pixeltest.EncodeAVIF(tmp, photo(5184, 3456, 18), "--speed", "10", "--min", "20", "--max", "30", "--yuv", "420")
		}, true},
	}
	var inputs []input
	for _, s := range specs {
		fi, err := os.Stat(s.file)
		if err != nil {
			t := time.Now()
			data, err := s.make()
			if err != nil {
				fmt.Fprintf(log, "%s: cannot make it (%v): skipped\n", s.name, describe(err))
				continue
			}
			if err := writeFile(s.file, data); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "made %s (%d bytes) in %s\n", s.file, len(data), time.Since(t).Round(time.Millisecond))
			if fi, err = os.Stat(s.file); err != nil {
				return nil, err
			}
		}
		inputs = append(inputs, input{name: s.name, file: s.file, size: fi.Size(), noNaive: s.noNaive})
	}
	return inputs, nil
}

// describe adds a command's stderr to its error.
func describe(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}

// The PNG, TIFF, HEIC and AVIF inputs' names, which the targets look up.
const (
	png18         = "18MP RGB PNG"
	png16         = "12MP 16-bit PNG"
	pngInterlaced = "12MP interlaced PNG"
	tiffLZW       = "24MP RGB LZW TIFF"
	tiff16        = "12MP 16-bit TIFF"
	heic12        = "12MP HEIC grid"
	avif18        = "18MP AVIF"
)

// iPhoneHEIC lays img out as an iPhone does (heif-enc codes the tiles and
// the thumbnail; Debian's libheif-examples).
func iPhoneHEIC(img image.Image) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "thumbbench")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	thumb, err := pixeltest.EncodeHEIF(tmp, []image.Image{imaging.Resize(img, 320, 240, imaging.Lanczos)}, "-q", "50")
	if err != nil {
		return nil, err
	}
	return pixeltest.HEIFGrid(img, 512, 512, func(tiles []image.Image) ([]byte, error) {
		return pixeltest.EncodeHEIF(tmp, tiles, "-q", "50")
	}, pixeltest.HEIFGridOptions{Thumbnail: thumb, Orientation: 6})
}

// vipsTIFF writes img as a TIFF with vips tiffsave (libtiff) in the given
// compression, through a PNG file in dir.
func vipsTIFF(dir string, img image.Image, compression string) ([]byte, error) {
	src, err := os.CreateTemp(dir, "tiff-source-*.png")
	if err != nil {
		return nil, err
	}
	defer os.Remove(src.Name())
	_, err = src.Write(pixeltest.PNG(img))
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	out := src.Name() + ".tif"
	defer os.Remove(out)
	if err := exec.Command("vips", "tiffsave", src.Name(), out, "--compression", compression,
		"--predictor", "horizontal").Run(); err != nil {
		return nil, fmt.Errorf("vips tiffsave (Debian package libvips-tools): %w", describe(err))
	}
	return os.ReadFile(out)
}

// deep widens img to 16 bits a sample, each byte repeated (v*257), so the
// PNG encoder writes 16-bit RGB.
func deep(img image.Image) image.Image {
	out := image.NewRGBA64(img.Bounds())
	draw.Draw(out, out.Rect, img, out.Rect.Min, draw.Src)
	return out
}

// photo is pixeltest.Photo with camera-like grain added.
func photo(w, h int, seed uint64) image.Image {
	img := pixeltest.Photo(w, h, seed)
	rng := rand.New(rand.NewPCG(seed, 99))
	for i := 0; i < len(img.Pix); i += 4 {
		n := int(rng.Uint32()%(2*grain+1)) - grain
		for c := i; c < i+3; c++ {
			img.Pix[c] = uint8(min(255, max(0, int(img.Pix[c])+n)))
		}
	}
	return img
}

// encodeJPEG writes a baseline 4:2:0 JPEG at q90, as image/jpeg does.
func encodeJPEG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	return b.Bytes(), err
}

// writeFile writes data to name through a temporary file, so an
// interrupted run leaves no half-written input behind.
func writeFile(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// selectInputs keeps the inputs whose names contain one of the
// comma-separated parts of only (case-insensitive); an empty only keeps all.
func selectInputs(inputs []input, only string) []input {
	if only == "" {
		return inputs
	}
	var keep []input
	for _, in := range inputs {
		for _, part := range strings.Split(only, ",") {
			if part != "" && strings.Contains(strings.ToLower(in.name), strings.ToLower(strings.TrimSpace(part))) {
				keep = append(keep, in)
				break
			}
		}
	}
	return keep
}
