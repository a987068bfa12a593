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
	src := photo16(w, h)
	for _, tc := range []struct {
		name string
		p    rawPNG
	}{
		{"rgb8", rawPNG{w: w, h: h, depth: 8, ct: RGB, interlace: true,
			sample: func(x, y, ch int) uint16 { return src(x, y, ch) >> 8 }}},
		{"rgba16", rawPNG{w: w, h: h, depth: 16, ct: RGBA, interlace: true, sample: src}},
	} {
		data := tc.p.encode()
		ref, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		full := ref8(t, ref)
		for _, tt := range []struct {
			s int
			// minPSNR bounds the error of taking the grid pixels (the box's
			// top-left corner at s = 8, 4, 2) instead of every pixel.
			minPSNR float64
			// maxRead is the share of the file read: the passes needed,
			// plus the input buffer.
			maxRead float64
		}{
			{2, 30, 0.55},
			{4, 27, 0.25},
			{8, 24, 0.10},
			{16, 28, 0.10},
			{12, 30, 0.25},
		} {
			cr := &countingReader{r: bytes.NewReader(data)}
			got, _, err := Decode(cr, Options{Scale: tt.s})
			if err != nil {
				t.Fatalf("%s 1/%d: %v", tc.name, tt.s, err)
			}
			p := psnr(t, asNRGBA(t, got), boxDown(full, tt.s))
			read := float64(cr.n) / float64(len(data))
			t.Logf("%s 1/%d: PSNR %.1f dB, read %.1f%% of %d bytes", tc.name, tt.s, p, 100*read, len(data))
			if p < tt.minPSNR {
				t.Errorf("%s 1/%d: PSNR %.1f dB, want >= %.0f", tc.name, tt.s, p, tt.minPSNR)
			}
			if read > tt.maxRead {
				t.Errorf("%s 1/%d: read %.1f%% of the file, want <= %.0f%%", tc.name, tt.s, 100*read, 100*tt.maxRead)
			}
		}
	}
}
