package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// method is one way of making a thumbnail in a process of its own.
type method struct {
	name string
	// command readies slot (one of the images of a throughput batch, or 0)
	// to make a fresh thumbnail of in under work, and returns the command
	// that makes it and a check of its outcome.
	command func(work string, in input, slot int) (*exec.Cmd, func(stdout []byte) error, error)
}

const (
	thumbpipeName = "thumbpipe"
	naiveName     = "naive"
	vipsName      = "vips"
)

// thumbpipeMethod runs `thumbpipe process` on a file bucket under work
// whose source keys are links to the inputs. The slot's thumbnails are
// removed first, so every run really decodes and writes.
func thumbpipeMethod(bin string) method {
	return method{name: thumbpipeName, command: func(work string, in input, slot int) (*exec.Cmd, func([]byte) error, error) {
		bucket := filepath.Join(work, "bucket")
		key := fmt.Sprintf("src/%d/%s", slot, filepath.Base(in.file))
		if err := link(in.file, filepath.Join(bucket, filepath.FromSlash(key))); err != nil {
			return nil, nil, err
		}
		if err := os.RemoveAll(filepath.Join(bucket, "thumbnails", fmt.Sprint(boxW, "x", boxH), "src", fmt.Sprint(slot))); err != nil {
			return nil, nil, err
		}
		u := url.URL{Scheme: "file", Path: filepath.ToSlash(bucket)}
		args := []string{"process", "--bucket", u.String(),
			"--sizes", fmt.Sprint(boxW, "x", boxH), "--format", "jpeg", "--jpeg-quality", fmt.Sprint(quality)}
		cmd := exec.Command(bin, append(args, key)...)
		cmd.Env = cleanEnv()
		check := func(stdout []byte) error {
			if !bytes.HasPrefix(stdout, []byte("written ")) {
				return fmt.Errorf("thumbpipe wrote nothing: %s", bytes.TrimSpace(stdout))
			}
			return nil
		}
		return cmd, check, nil
	}}
}

// naiveMethod runs this program's naive mode.
func naiveMethod(self string) method {
	return outputMethod(naiveName, func(in input, out string) *exec.Cmd {
		return exec.Command(self, "naive", in.file, out)
	})
}

// vipsMethod runs vipsthumbnail with libvips' defaults (its own threads,
// shrink-on-load).
func vipsMethod(bin string) method {
	return outputMethod(vipsName, func(in input, out string) *exec.Cmd {
		return exec.Command(bin, in.file, "-s", fmt.Sprint(boxW, "x", boxH), "-o", fmt.Sprintf("%s[Q=%d]", out, quality))
	})
}

// outputMethod is a method that writes one JPEG file per slot, removed
// before each run and checked after it.
func outputMethod(name string, cmd func(in input, out string) *exec.Cmd) method {
	return method{name: name, command: func(work string, in input, slot int) (*exec.Cmd, func([]byte) error, error) {
		dir := filepath.Join(work, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, err
		}
		out := filepath.Join(dir, fmt.Sprintf("%d.jpg", slot))
		if err := os.Remove(out); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		check := func([]byte) error {
			if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
				return fmt.Errorf("%s wrote no thumbnail", name)
			}
			return nil
		}
		return cmd(in, out), check, nil
	}}
}

// link makes dst name the same file as src (a copy where links fail).
func link(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if os.Link(src, dst) == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, data)
}

// cleanEnv is the environment without THUMBPIPE_ variables, so that only
// the command line sets the thumbnails.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "THUMBPIPE_") {
			env = append(env, kv)
		}
	}
	return env
}

// run is one finished process.
type run struct {
	ms    float64
	rssMB float64
}

// runOnce runs m on in in slot and measures it. The peak RSS comes from
// GNU time when timeBin is set: the rusage of a child that Go starts
// reports at least this program's own peak (Linux carries the high-water
// mark of the memory a vfork'ed child shares with its parent across exec),
// so it cannot be read from ProcessState here.
func runOnce(work, timeBin string, m method, in input, slot int) (run, error) {
	cmd, check, err := m.command(work, in, slot)
	if err != nil {
		return run{}, err
	}
	rssFile := filepath.Join(work, "maxrss")
	if timeBin != "" {
		cmd = exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile, cmd.Path}, cmd.Args[1:]...)...)
		cmd.Env = cleanEnv()
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t := time.Now()
	err = cmd.Run()
	elapsed := time.Since(t)
	if err != nil {
		// thumbpipe says why on stdout, other tools on stderr.
		why := bytes.TrimSpace(stderr.Bytes())
		if len(why) == 0 {
			why = bytes.TrimSpace(stdout.Bytes())
		}
		return run{}, fmt.Errorf("%s on %s: %w: %s", m.name, in.name, err, why)
	}
	if err := check(stdout.Bytes()); err != nil {
		return run{}, fmt.Errorf("%s on %s: %w", m.name, in.name, err)
	}
	r := run{ms: float64(elapsed.Microseconds()) / 1e3}
	if timeBin != "" {
		if r.rssMB, err = readMaxRSS(rssFile); err != nil {
			return run{}, fmt.Errorf("%s on %s: %w", m.name, in.name, err)
		}
	}
	return r, nil
}

// readMaxRSS reads what GNU time -f %M wrote: the peak RSS in KiB, as MB.
func readMaxRSS(name string) (float64, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 0, fmt.Errorf("no peak RSS in %s", name)
	}
	// The last line is the figure; "Command exited..." may precede it.
	kib, err := strconv.ParseFloat(fields[len(fields)-1], 64)
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	return kib * 1024 / 1e6, nil
}

// batch runs m on n slots of in, workers processes at a time, and returns
// images per second.
func batch(work string, m method, in input, n, workers int) (float64, error) {
	cmds := make([]func() error, n)
	for slot := range n {
		cmd, check, err := m.command(work, in, slot)
		if err != nil {
			return 0, err
		}
		cmds[slot] = func() error {
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s on %s: %w: %s", m.name, in.name, err, bytes.TrimSpace(stderr.Bytes()))
			}
			return check(stdout.Bytes())
		}
	}
	jobs := make(chan func() error)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	t := time.Now()
	for range workers {
		wg.Go(func() {
			for job := range jobs {
				errs <- job()
			}
		})
	}
	for _, job := range cmds {
		jobs <- job
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(t)
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(n) / elapsed.Seconds(), nil
}

// procFigures are the whole-process samples of one method on one input.
type procFigures struct {
	ms, rssMB, perSec []float64
}

// measureProcesses runs every method on every input, interleaved: one
// warm-up round, then s.runs timed rounds of (input 1: A, B, C; input 2:
// A, B, C ...), then three interleaved throughput rounds.
func measureProcesses(work string, inputs []input, methods []method, s settings, log io.Writer) (map[figKey]*procFigures, error) {
	figs := map[figKey]*procFigures{}
	for _, in := range inputs {
		for _, m := range methods {
			figs[figKey{in.name, m.name}] = &procFigures{}
		}
	}
	fmt.Fprintf(log, "whole process: %d rounds of %d inputs × %d methods ", s.runs+1, len(inputs), len(methods))
	for round := 0; round <= s.runs; round++ {
		for _, in := range inputs {
			for _, m := range methods {
				if in.noNaive && m.name == naiveName {
					continue
				}
				r, err := runOnce(work, s.time, m, in, 0)
				if err != nil {
					return nil, err
				}
				if round == 0 {
					continue // warm-up: page cache, first-run costs
				}
				f := figs[figKey{in.name, m.name}]
				f.ms = append(f.ms, r.ms)
				f.rssMB = append(f.rssMB, r.rssMB)
			}
		}
		fmt.Fprint(log, ".")
	}
	fmt.Fprintf(log, "\nthroughput: 3 rounds of %d images, %d processes at a time ", s.images, s.workers)
	for range 3 {
		for _, in := range inputs {
			for _, m := range methods {
				if in.noNaive && m.name == naiveName {
					continue
				}
				ps, err := batch(work, m, in, s.images, s.workers)
				if err != nil {
					return nil, err
				}
				f := figs[figKey{in.name, m.name}]
				f.perSec = append(f.perSec, ps)
			}
		}
		fmt.Fprint(log, ".")
	}
	fmt.Fprintln(log)
	return figs, nil
}

// figKey names the figures of one method on one input.
type figKey struct{ input, method string }
