// Command thumbbench is the side-by-side benchmark behind `make bench`: it
// makes 200x200 JPEG (q85) thumbnails of camera-like images with thumbpipe,
// with the naive image/jpeg + imaging Lanczos path and with vipsthumbnail,
// interleaved in one run, and prints one table with the ratios.
//
// Whole-process figures run each tool as its own process per image:
// `thumbpipe process --bucket file://DIR KEY` (the built binary, writing a
// fresh thumbnail every time), `vipsthumbnail FILE -s 200x200`, and
// `thumbbench naive FILE OUT` (image.Decode, imaging.Fit Lanczos,
// jpeg.Encode). Peak RSS is GNU time's %M. Throughput runs one
// process per image, as many at a time as there are CPUs.
//
// With -hostile it measures instead the peak RSS of both tools on each
// costly file of the hostile corpus (pixeltest.CostlyFiles: small files
// declaring images at the pixel limit) beside a 1×1 PNG's, as a Markdown
// table for the README.
//
// In-process figures run thumbpipe's pixel path (pixels.DecodeConfig, then
// pixels.Render: decode at the box, Resize, Orient, Encode) and the naive path
// inside this program on bytes already in memory.
//
// Usage:
//
//	thumbbench -dir CACHE -thumbpipe BIN [-vips vipsthumbnail] [-runs 7] [-images 10]
//	thumbbench -hostile -dir CACHE -thumbpipe BIN [-vips vipsthumbnail] [-runs 3]
//	thumbbench naive IN OUT
package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/gif" // the naive path decodes what image.Decode knows
	"image/jpeg"
	_ "image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/tiff" // and TIFF, which the standard library lacks
)

// The thumbnail every method makes.
const (
	boxW, boxH = 200, 200
	quality    = 85
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "naive" {
		err = naiveMain(os.Args[2:])
	} else {
		err = benchMain(os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "thumbbench:", err)
		os.Exit(1)
	}
}

// naiveMain is the naive whole-process baseline: what a Go program written
// without shrink-on-load does.
func naiveMain(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: thumbbench naive IN OUT")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	out, err := os.Create(args[1])
	if err != nil {
		return err
	}
	if err := naive(f, out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// naive decodes r fully, fits it into the box with Lanczos and writes a
// JPEG to w.
func naive(r io.Reader, w io.Writer) error {
	img, _, err := image.Decode(r)
	if err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return jpeg.Encode(w, imaging.Fit(img, boxW, boxH, imaging.Lanczos), &jpeg.Options{Quality: quality})
}

// settings are the command line of a benchmark run.
type settings struct {
	dir, thumbpipe, vips string
	time                 string // GNU time, for peak RSS
	runs, images         int
	only                 string // comma-separated input name filter
	verbose              bool
	workers              int
	hostile              bool
}

func benchMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("thumbbench", flag.ContinueOnError)
	var s settings
	fs.StringVar(&s.dir, "dir", filepath.Join(os.TempDir(), "thumbbench"), "cache directory for inputs and outputs")
	fs.StringVar(&s.thumbpipe, "thumbpipe", "bin/thumbpipe", "the thumbpipe binary to measure")
	fs.StringVar(&s.vips, "vips", "vipsthumbnail", "vipsthumbnail binary; empty or missing skips it")
	fs.IntVar(&s.runs, "runs", 7, "timed runs per method and input (after one warm-up)")
	fs.IntVar(&s.images, "images", 10, "images per throughput batch")
	fs.IntVar(&s.workers, "workers", runtime.NumCPU(), "processes at a time in the throughput batches")
	fs.StringVar(&s.only, "inputs", "", "comma-separated parts of input names to run, e.g. 24MP,progressive (default all)")
	fs.BoolVar(&s.verbose, "v", false, "print every sample")
	fs.BoolVar(&s.hostile, "hostile", false, "instead, the peak RSS of each costly file of the hostile corpus (make bench-hostile)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.runs < 1 || s.images < 1 || s.workers < 1 {
		return errors.New("-runs, -images and -workers must be positive")
	}
	var err error
	if s.dir, err = filepath.Abs(s.dir); err != nil {
		return err
	}
	if s.thumbpipe, err = exec.LookPath(s.thumbpipe); err != nil {
		return fmt.Errorf("thumbpipe binary: %w", err)
	}
	if s.vips != "" {
		if s.vips, err = exec.LookPath(s.vips); err != nil {
			fmt.Fprintf(stdout, "vipsthumbnail not found (%v): its column is skipped\n", err)
			s.vips = ""
		}
	}
	if s.time, err = exec.LookPath("/usr/bin/time"); err != nil {
		fmt.Fprintln(stdout, "GNU time (/usr/bin/time) not found: peak RSS is not measured")
		s.time = ""
	}
	if s.hostile {
		return hostileMain(s, stdout)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}

	start := time.Now()
	inputs, err := makeInputs(filepath.Join(s.dir, "inputs"), stdout)
	if err != nil {
		return err
	}
	if inputs = selectInputs(inputs, s.only); len(inputs) == 0 {
		return fmt.Errorf("no input matches -inputs %q", s.only)
	}
	methods := []method{thumbpipeMethod(s.thumbpipe), naiveMethod(self)}
	if s.vips != "" {
		methods = append(methods, vipsMethod(s.vips))
	}
	work := filepath.Join(s.dir, "work")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	procs, err := measureProcesses(work, inputs, methods, s, stdout)
	if err != nil {
		return err
	}
	inproc, err := measureInProcess(inputs, s.runs, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nthumbpipe vs naive (image/jpeg + imaging.Fit Lanczos) vs vipsthumbnail: fit %dx%d, JPEG q%d\n",
		boxW, boxH, quality)
	fmt.Fprintf(stdout, "%d CPUs, median of %d runs interleaved per method, throughput: %d images, %d processes at a time; took %s\n",
		runtime.NumCPU(), s.runs, s.images, s.workers, time.Since(start).Round(time.Second))
	fmt.Fprintln(stdout, "process = whole process per image (start, read file, decode, resize, encode, write); in-proc = pixel path on bytes in memory")
	avifMS, err := avifEncodeMS(s.runs)
	if err != nil {
		return fmt.Errorf("AVIF encode: %w", err)
	}
	res := results{inputs: inputs, procs: procs, inproc: inproc, workers: s.workers, vips: s.vips != "", avifEncodeMS: avifMS}
	if s.verbose {
		res.samples(stdout)
	}
	res.table().write(stdout)
	fmt.Fprintln(stdout)
	for _, t := range res.targets() {
		fmt.Fprintln(stdout, t)
	}
	return nil
}
