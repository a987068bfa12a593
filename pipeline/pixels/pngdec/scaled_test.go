package pngdec

import (
	"bytes"
	"image/png"
	"io"
	"testing"
)

func TestScaledPSNR(t *testing.T) {
	for _, f := range allFixtures(t) {
		ref, err := png.Decode(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s: image/png: %v", f.name, err)
		}
		full := ref8(t, ref)
		cfg, err := DecodeConfig(bytes.NewReader(f.data))
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		for _, s := range []int{2, 3, 4, 5, 8, 16, 64} {
			if cfg.Interlaced && s%2 == 0 {
				continue // early passes: TestAdam7EarlyPasses
			}
			got, _, err := Decode(bytes.NewReader(f.data), Options{Scale: s})
			if err != nil {
				t.Errorf("%s 1/%d: %v", f.name, s, err)
				continue
			}
			if p := psnr(t, asNRGBA(t, got), boxDown(full, s)); p < 35 {
				t.Errorf("%s 1/%d: PSNR %.1f dB, want >= 35", f.name, s, p)
			}
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestAdam7EarlyPasses(t *testing.T) {
	const w, h = 1000, 750
	smooth := nrgba64(w, h, photoBars(w, h, false), true)
	for _, tc := range []struct {
		name string
		data []byte
		// minPSNR bounds, per scale, the error of sampling the grid of
		// the early passes instead of averaging every pixel: small on a
		// smooth photo, large where bars 4 pixels wide alias.
		minPSNR map[int]float64
	}{
		{"smooth-rgb8", rawPNG{w: w, h: h, depth: 8, ct: RGB, interlace: true,
			sample: func(x, y, ch int) uint16 { return photoBars(w, h, false)(x, y, ch) >> 8 }}.encode(),
			map[int]float64{2: 40, 4: 40, 8: 40, 16: 37, 12: 40}},
		{"smooth-rgba16", rawPNG{w: w, h: h, depth: 16, ct: RGBA, interlace: true, sample: photoBars(w, h, false)}.encode(),
			map[int]float64{2: 40, 4: 40, 8: 40, 16: 37, 12: 40}},
		{"smooth-rgba16-vips", vipsInterlace(t, smooth),
			map[int]float64{2: 40, 4: 40, 8: 40, 16: 37, 12: 40}},
		{"bars-rgb8", rawPNG{w: w, h: h, depth: 8, ct: RGB, interlace: true,
			sample: func(x, y, ch int) uint16 { return photo16(w, h)(x, y, ch) >> 8 }}.encode(),
			map[int]float64{2: 29, 4: 25, 8: 21, 16: 22, 12: 30}},
	} {
		data := tc.data
		ref, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		full := ref8(t, ref)
		for _, tt := range []struct {
			s int
			// maxRead is the share of the file read: the passes needed,
			// plus the input buffer.
			maxRead float64
		}{
			{2, 0.35},
			{4, 0.12},
			{8, 0.07},
			{16, 0.07},
			{12, 0.12},
		} {
			cr := &countingReader{r: bytes.NewReader(data)}
			got, _, err := Decode(cr, Options{Scale: tt.s})
			if err != nil {
				t.Fatalf("%s 1/%d: %v", tc.name, tt.s, err)
			}
			want := boxDown(full, tt.s)
			p := psnr(t, asNRGBA(t, got), want)
			read := float64(cr.n) / float64(len(data))
			t.Logf("%s 1/%d: PSNR %.1f dB, read %.1f%% of %d bytes", tc.name, tt.s, p, 100*read, len(data))
			if p < tc.minPSNR[tt.s] {
				t.Errorf("%s 1/%d: PSNR %.1f dB, want >= %.0f", tc.name, tt.s, p, tc.minPSNR[tt.s])
			}
			if read > tt.maxRead {
				t.Errorf("%s 1/%d: read %.1f%% of the file, want <= %.0f%%", tc.name, tt.s, 100*read, 100*tt.maxRead)
			}
			// AllPasses reads everything and averages every pixel.
			cr = &countingReader{r: bytes.NewReader(data)}
			got, _, err = Decode(cr, Options{Scale: tt.s, AllPasses: true})
			if err != nil {
				t.Fatalf("%s 1/%d all passes: %v", tc.name, tt.s, err)
			}
			if p := psnr(t, asNRGBA(t, got), want); p < 45 || cr.n != int64(len(data)) {
				t.Errorf("%s 1/%d all passes: PSNR %.1f dB, read %d of %d bytes", tc.name, tt.s, p, cr.n, len(data))
			}
		}
	}
}
