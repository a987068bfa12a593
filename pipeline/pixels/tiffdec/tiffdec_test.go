package tiffdec

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestEncoders decodes TIFFs written by libvips' tiffsave and libtiff's
// tiffcp, in every compression, predictor, layout and sample layout they
// write, at scales 1, 3 and 8, from memory and from a stream. The
// reference is libtiff's own decode (vips copy to PNG): equal at scale 1
// (16-bit samples within their rounding to 8 bits) and its box average
// within 45 dB PSNR below.
func TestEncoders(t *testing.T) {
	vips := needTool(t, "vips")
	tiffcp := needTool(t, "tiffcp")
	dir := t.TempDir()
	const w, h = 83, 61
	writePNG(t, filepath.Join(dir, "rgba16.png"), photo16(w, h, true))
	writePNG(t, filepath.Join(dir, "rgb16.png"), photo16(w, h, false))
	writePNG(t, filepath.Join(dir, "rgb8.png"), pixeltest.Photo(w, h, 3))
	run(t, dir, vips, "colourspace", "rgba16.png", "ga16.v", "grey16")
	run(t, dir, vips, "colourspace", "rgb8.png", "g8.v", "b-w")
	run(t, dir, vips, "colourspace", "rgba16.png", "ga8.v", "b-w")
	type fixture struct{ name, src string }
	var fs []fixture
	save := func(name, src string, args ...string) {
		run(t, dir, vips, append([]string{"tiffsave", src, name + ".tif"}, args...)...)
		fs = append(fs, fixture{name, name + ".tif"})
	}
	for _, src := range []string{"rgb8.png", "rgba16.png", "rgb16.png", "ga16.v", "g8.v", "ga8.v"} {
		base := src[:len(src)-len(filepath.Ext(src))]
		save(base+"-none", src)
		save(base+"-lzw", src, "--compression", "lzw", "--predictor", "horizontal")
		save(base+"-deflate-tiled", src, "--compression", "deflate", "--predictor", "none", "--tile", "--tile-width", "32", "--tile-height", "16")
		save(base+"-packbits", src, "--compression", "packbits")
	}
	save("rgba16-premultiplied", "rgba16.png", "--premultiply", "--compression", "deflate")
	save("ga8-premultiplied-tiled", "ga8.v", "--premultiply", "--tile", "--tile-width", "16", "--tile-height", "16")
	save("g1", "g8.v", "--bitdepth", "1")
	save("g2-miniswhite", "g8.v", "--bitdepth", "2", "--miniswhite")
	save("g4", "g8.v", "--bitdepth", "4")
	for _, c := range []struct{ name, src string }{{"rgb8", "rgb8-none.tif"}, {"rgba16", "rgba16-none.tif"}, {"ga16", "ga16-none.tif"}} {
		for _, args := range [][]string{
			{"-c", "lzw:2", "-r", "7"}, {"-c", "zip:2", "-t", "-w", "48", "-l", "32"}, {"-c", "packbits", "-r", "1"},
			{"-c", "none", "-B", "-t", "-w", "16", "-l", "64"}, {"-c", "zip", "-r", "5", "-B"},
		} {
			name := fmt.Sprintf("tiffcp-%s%v", c.name, args)
			run(t, dir, tiffcp, append(args, c.src, name+".tif")...)
			fs = append(fs, fixture{name, name + ".tif"})
		}
	}
	for _, f := range fs {
		t.Run(f.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, f.src))
			if err != nil {
				t.Fatal(err)
			}
			run(t, dir, vips, "copy", f.src, f.name+"-ref.png")
			ref := readPNG(t, filepath.Join(dir, f.name+"-ref.png"))
			for _, s := range []int{1, 3, 8} {
				img, c := decodeBoth(t, data, s)
				if c.Width != w || c.Height != h {
					t.Fatalf("config %+v", c)
				}
				var want image.Image = ref
				if s > 1 {
					want = boxReduce(ref, s)
				}
				psnr := pixeltest.PSNR(img, want)
				bound := 45.0
				if s == 1 && c.BitsPerSample <= 8 && c.Alpha != Associated {
					bound = math.Inf(1)
				}
				if psnr < bound {
					t.Errorf("scale %d (%+v): PSNR %.1f dB against libtiff, want at least %.0f", s, c, psnr, bound)
				}
			}
		})
	}
}

// TestSyntheticLayouts decodes images written by pixeltest.BuildTIFF
// from known pixels, in layouts the real encoders do not write: a palette,
// associated 8-bit alpha, 16-bit predictor on big-endian data, strips of
// one row, old-style LZW, exactly.
func TestSyntheticLayouts(t *testing.T) {
	const w, h = 37, 23
	src := photo16(w, h, true)
	pix := func(spp int, bits int, bigEndian bool, f func(c color.NRGBA64) []uint16) func(i, size int) []byte {
		return func(i, size int) []byte {
			var b []byte
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					for _, v := range f(src.NRGBA64At(x, y)) {
						switch {
						case bits == 8:
							b = append(b, byte(v>>8))
						case bigEndian:
							b = append(b, byte(v>>8), byte(v))
						default:
							b = append(b, byte(v), byte(v>>8))
						}
					}
				}
			}
			return b
		}
	}
	rgba := func(c color.NRGBA64) []uint16 { return []uint16{c.R, c.G, c.B, c.A} }
	want16 := image.NewNRGBA(src.Rect)
	want8 := image.NewNRGBA(src.Rect)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := src.NRGBA64At(x, y)
			want16.SetNRGBA(x, y, color.NRGBA{to8(c.R), to8(c.G), to8(c.B), to8(c.A)})
			want8.SetNRGBA(x, y, color.NRGBA{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8), uint8(c.A >> 8)})
		}
	}
	predict := func(b []byte, spp int, bigEndian bool) []byte {
		// Horizontal differencing of 16-bit samples, row by row, from the end.
		out := bytes.Clone(b)
		get := func(i int) uint16 {
			if bigEndian {
				return uint16(b[2*i])<<8 | uint16(b[2*i+1])
			}
			return uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
		for i := 0; i < len(b)/2; i++ {
			v := get(i)
			if i%(w*spp) >= spp {
				v -= get(i - spp)
			}
			if bigEndian {
				out[2*i], out[2*i+1] = byte(v>>8), byte(v)
			} else {
				out[2*i], out[2*i+1] = byte(v), byte(v>>8)
			}
		}
		return out
	}
	rows := func(f func(i, size int) []byte, rps int) func(i, size int) []byte {
		all := f(0, 0)
		rb := len(all) / h
		return func(i, _ int) []byte { return all[i*rps*rb : min((i+1)*rps, h)*rb] }
	}
	tests := []struct {
		name string
		spec pixeltest.TIFFSpec
		want image.Image
	}{
		{"rgba16-be-predictor", pixeltest.TIFFSpec{Bits: 16, Samples: 4, Photometric: 2, Alpha: 2, Compression: 8, Predictor: 2, BigEndian: true,
			Block: func(i, size int) []byte { return predict(pix(4, 16, true, rgba)(i, size), 4, true) }}, want16},
		{"rgba8-one-row-strips", pixeltest.TIFFSpec{Bits: 8, Samples: 4, Photometric: 2, Alpha: 2, RowsPerStrip: 1,
			Block: rows(pix(4, 8, false, rgba), 1)}, want8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Width, tc.spec.Height = w, h
			data := pixeltest.BuildTIFF(tc.spec)
			img, _ := decodeBoth(t, data, 1)
			if p := pixeltest.PSNR(img, tc.want); !math.IsInf(p, 1) {
				t.Errorf("PSNR %.1f dB, want equal", p)
			}
			for _, s := range []int{2, 3, 8} {
				img, _ := decodeBoth(t, data, s)
				if p := pixeltest.PSNR(img, boxReduce(tc.want, s)); p < 45 {
					t.Errorf("scale %d: PSNR %.1f dB", s, p)
				}
			}
		})
	}
}
