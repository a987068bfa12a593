package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// TestMeasureInProcess runs both in-process paths on a small oriented JPEG
// and a PNG: each succeeds and yields one sample a run.
func TestMeasureInProcess(t *testing.T) {
	dir := t.TempDir()
	var inputs []input
	for name, data := range map[string][]byte{
		"oriented jpeg": pixeltest.OrientedJPEG(480, 320, 6),
		"png":           pixeltest.PNG(pixeltest.Photo(300, 200, 1)),
	} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{name: name, file: file, size: int64(len(data))})
	}
	figs, err := measureInProcess(inputs, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		for _, path := range []string{thumbpipeName, naiveName} {
			f := figs[figKey{in.name, path}]
			if f == nil || len(f.ms) != 2 || len(f.allocMB) != 2 {
				t.Errorf("%s on %s: %+v, want 2 samples", path, in.name, f)
			}
		}
	}
}
