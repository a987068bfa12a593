package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// inprocFigures are the in-process samples of one path on one input.
type inprocFigures struct {
	ms, allocMB []float64
}

// thumbpipePixels makes the thumbnail as Thumbnailer.Process does once the
// source bytes are read: the header, then pixels.Render (shrink-on-load
// decode at the box, Lanczos fit, orientation, JPEG encode).
func thumbpipePixels(data []byte) error {
	cfg, err := pixels.DecodeConfig(data)
	if err != nil {
		return err
	}
	outs := []pixels.Output{{Width: boxW, Height: boxH, Mode: pixels.Fit, Format: pixels.JPEG,
		Encode: pixels.EncodeOptions{Quality: quality}}}
	return pixels.Render(bytes.NewReader(data), cfg, outs, func(pixels.Rendered) error { return nil })
}

// naiveBytes is the naive path on bytes in memory.
func naiveBytes(data []byte) error { return naive(bytes.NewReader(data), io.Discard) }

// measureInProcess runs both paths on every input in this process,
// interleaved, after a collection each, and records time and bytes
// allocated per thumbnail.
func measureInProcess(inputs []input, runs int, log io.Writer) (map[figKey]*inprocFigures, error) {
	paths := []struct {
		name string
		fn   func([]byte) error
	}{{thumbpipeName, thumbpipePixels}, {naiveName, naiveBytes}}
	figs := map[figKey]*inprocFigures{}
	fmt.Fprintf(log, "in process: %d rounds of %d inputs × %d paths ", runs+1, len(inputs), len(paths))
	for _, in := range inputs {
		data, err := os.ReadFile(in.file)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			figs[figKey{in.name, p.name}] = &inprocFigures{}
		}
		for round := 0; round <= runs; round++ {
			for _, p := range paths {
				if in.noNaive && p.name == naiveName {
					continue
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				t := time.Now()
				err := p.fn(data)
				elapsed := time.Since(t)
				runtime.ReadMemStats(&after)
				if err != nil {
					return nil, fmt.Errorf("in process, %s on %s: %w", p.name, in.name, err)
				}
				if round == 0 {
					continue
				}
				f := figs[figKey{in.name, p.name}]
				f.ms = append(f.ms, float64(elapsed.Microseconds())/1e3)
				f.allocMB = append(f.allocMB, float64(after.TotalAlloc-before.TotalAlloc)/1e6)
			}
		}
		fmt.Fprint(log, ".")
	}
	fmt.Fprintln(log)
	return figs, nil
}

// avifEncodeMS is the median time, in milliseconds, pixels takes to encode
// a 200x200 thumbnail as AVIF (quality 60), after one warm-up encode that
// compiles the encoder.
func avifEncodeMS(runs int) (float64, error) {
	thumb := pixels.Resize(photo(800, 800, 5), boxW, boxH, pixels.Fit)
	var ms []float64
	for i := 0; i <= runs; i++ {
		t := time.Now()
		if err := pixels.Encode(io.Discard, thumb, pixels.AVIF, 60); err != nil {
			return 0, err
		}
		if i > 0 {
			ms = append(ms, float64(time.Since(t).Microseconds())/1e3)
		}
	}
	return median(ms), nil
}
