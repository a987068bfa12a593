package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{100, 1, 2, 3, 1000}, 3},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("median reordered its input: %v", in)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		m         metric
		tp, other float64
		want      string
	}{
		{msMetric, 100, 350, "3.50× faster"},
		{msMetric, 200, 100, "2.00× slower"},
		{rssMetric, 20, 40, "2.00× less"},
		{rssMetric, 50, 40, "1.25× more"},
		{perSecMetric, 12, 8, "1.50× more"},
		{perSecMetric, 4, 8, "2.00× fewer"},
		{msMetric, 100, 0, ""},
		{msMetric, 0, 100, ""},
	}
	for _, tt := range tests {
		if got := tt.m.compare(tt.tp, tt.other); got != tt.want {
			t.Errorf("%s compare(%v, %v) = %q, want %q", tt.m.label, tt.tp, tt.other, got, tt.want)
		}
	}
}

// fakeResults has every method on the 24MP and progressive inputs.
func fakeResults(tpMS, tpRSS, progRSS float64) results {
	in24 := input{name: "24MP baseline", size: 10e6}
	prog := input{name: "12MP progressive", size: 5e6}
	proc := func(ms, rss, ps float64) *procFigures {
		return &procFigures{ms: []float64{ms, ms + 50, ms - 5}, rssMB: []float64{rss}, perSec: []float64{ps}}
	}
	return results{
		inputs: []input{in24, prog},
		procs: map[figKey]*procFigures{
			{in24.name, thumbpipeName}: proc(tpMS, tpRSS, 10),
			{in24.name, naiveName}:     proc(1000, 45, 1.3),
			{in24.name, vipsName}:      proc(200, 39, 8),
			{prog.name, thumbpipeName}: proc(100, progRSS, 18),
			{prog.name, naiveName}:     proc(900, 98, 2),
			{prog.name, vipsName}:      proc(350, 72, 5),
		},
		inproc: map[figKey]*inprocFigures{
			{in24.name, thumbpipeName}: {ms: []float64{100}, allocMB: []float64{3.7}},
			{in24.name, naiveName}:     {ms: []float64{1300}, allocMB: []float64{40.6}},
		},
		workers: 2,
		vips:    true,
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name                 string
		tpMS, tpRSS, progRSS float64
		misses               []string
	}{
		{"all met", 150, 20, 45, nil},
		{"slower than vips", 250, 20, 45, []string{"24MP ms ≤ vipsthumbnail's"}},
		{"not 3.5x naive", 290, 20, 45, []string{"24MP ms ≤ vipsthumbnail's", "3.5×"}},
		{"memory", 150, 25.1, 60.5, []string{"24MP peak RSS", "progressive peak RSS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkMisses(t, fakeResults(tt.tpMS, tt.tpRSS, tt.progRSS).targets(), tt.misses)
		})
	}
}

// checkMisses checks that the MISS lines of targets are as many as want
// and each names its part of want, in order.
func checkMisses(t *testing.T, targets, want []string) {
	t.Helper()
	var misses []string
	for _, l := range targets {
		if strings.HasPrefix(l, "MISS") {
			misses = append(misses, l)
		}
	}
	if len(misses) != len(want) {
		t.Fatalf("misses %q, want %d containing %q", misses, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(misses[i], w) {
			t.Errorf("miss %d = %q, want it to name %q", i, misses[i], w)
		}
	}
}

// TestPNGTargets checks each PNG input's two targets, time against
// vipsthumbnail and peak RSS, and that a PNG input left out is n/a.
func TestPNGTargets(t *testing.T) {
	tests := []struct {
		name       string
		ms, rss    float64
		misses     []string
		leaveOut16 bool
	}{
		{"all met", 300, 40, nil, false},
		{"slower than vips", 400, 40, []string{png18 + " ms", png16 + " ms", pngInterlaced + " ms"}, false},
		{"memory", 300, 61, []string{png18 + " peak RSS", png16 + " peak RSS", pngInterlaced + " peak RSS"}, false},
		{"one left out", 300, 40, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fakeResults(150, 20, 45)
			for _, name := range []string{png18, png16, pngInterlaced} {
				if tt.leaveOut16 && name == png16 {
					continue
				}
				in := input{name: name, size: 40e6}
				r.inputs = append(r.inputs, in)
				r.procs[figKey{name, thumbpipeName}] = &procFigures{ms: []float64{tt.ms}, rssMB: []float64{tt.rss}, perSec: []float64{3}}
				r.procs[figKey{name, vipsName}] = &procFigures{ms: []float64{316}, rssMB: []float64{50}, perSec: []float64{3}}
			}
			lines := r.targets()
			checkMisses(t, lines, tt.misses)
			var na []string
			for _, l := range lines {
				if strings.HasPrefix(l, "n/a") && strings.Contains(l, "PNG") {
					na = append(na, l)
				}
			}
			if tt.leaveOut16 != (len(na) == 1 && strings.Contains(na[0], png16)) {
				t.Errorf("n/a lines %q", na)
			}
		})
	}
}

func TestTable(t *testing.T) {
	tab := fakeResults(150, 20, 45).table()
	want := map[int][]string{
		0:  {"input", "scope", "metric", "thumbpipe", "naive", "vips", "thumbpipe vs naive", "thumbpipe vs vips"},
		1:  {"24MP baseline (10.0 MB)", "process", "ms per image (median)", "150", "1000", "200", "6.67× faster", "1.33× faster"},
		3:  {"", "process", "images/s, 2 at a time", "10.00", "1.30", "8.00", "7.69× more", "1.25× more"},
		5:  {"", "in-proc", "allocated MB per image", "3.7", "40.6", "-", "10.97× less", ""},
		6:  {"12MP progressive (5.0 MB)", "process", "ms per image (median)", "100", "900", "350", "9.00× faster", "3.50× faster"},
		10: {"", "in-proc", "allocated MB per image", "-", "-", "-", "", ""}, // not measured
	}
	if len(tab) != 11 {
		t.Fatalf("%d rows, want a header and 5 per input:\n%q", len(tab), tab)
	}
	for i, row := range want {
		if !slices.Equal(tab[i], row) {
			t.Errorf("row %d = %q, want %q", i, tab[i], row)
		}
	}
	var b strings.Builder
	tab.write(&b)
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 11 ||
		strings.Index(lines[1], "150") != strings.Index(lines[0], "thumbpipe ") {
		t.Errorf("columns are not aligned:\n%s", b.String())
	}
}

func TestSelectInputs(t *testing.T) {
	all := []input{{name: "12MP baseline"}, {name: "24MP baseline"}, {name: "12MP progressive"}, {name: "2000x1500 PNG"}}
	names := func(ins []input) string {
		var s []string
		for _, in := range ins {
			s = append(s, in.name)
		}
		return strings.Join(s, ";")
	}
	for only, want := range map[string]string{
		"":                 "12MP baseline;24MP baseline;12MP progressive;2000x1500 PNG",
		"24mp":             "24MP baseline",
		"24MP, png":        "24MP baseline;2000x1500 PNG",
		"12MP":             "12MP baseline;12MP progressive",
		"webp":             "",
		"progressive,prog": "12MP progressive",
	} {
		if got := names(selectInputs(all, only)); got != want {
			t.Errorf("selectInputs(%q) = %q, want %q", only, got, want)
		}
	}
}

func TestReadMaxRSS(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]float64{
		"20480\n": 20.97152,
		"Command exited with non-zero status 1\n1000\n": 1.024,
	} {
		name := filepath.Join(dir, "rss")
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readMaxRSS(name)
		if err != nil || got != want {
			t.Errorf("readMaxRSS(%q) = %v, %v; want %v", content, got, err, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readMaxRSS(filepath.Join(dir, "empty")); err == nil {
		t.Error("readMaxRSS of an empty file: no error")
	}
}

func TestColourTarget(t *testing.T) {
	base, tagged := input{name: "12MP baseline"}, input{name: "12MP Adobe RGB"}
	for _, tt := range []struct {
		baseMS, taggedMS float64
		want             string
	}{
		{40, 41.9, "ok  "},
		{40, 42.1, "MISS"},
		{0, 0, "n/a "},
	} {
		r := results{inproc: map[figKey]*inprocFigures{
			{base.name, thumbpipeName}:   {ms: []float64{tt.baseMS}},
			{tagged.name, thumbpipeName}: {ms: []float64{tt.taggedMS}},
		}}
		if tt.baseMS > 0 {
			r.inputs = []input{base, tagged}
		}
		lines := r.targets()
		last := lines[len(lines)-1]
		if !strings.Contains(last, "Adobe RGB") || !strings.HasPrefix(last, tt.want) {
			t.Errorf("%v vs %v ms: %q, want it to start %q", tt.taggedMS, tt.baseMS, last, tt.want)
		}
	}
}

// TestWriteHostile checks the hostile table is Markdown: a header, the
// separator, a row per file with its figure above the baseline.
func TestWriteHostile(t *testing.T) {
	var b strings.Builder
	writeHostile(&b, []hostileRow{
		{name: "baseline-1x1.png", size: 70, tpMB: 20, vipsMB: 30, tpOutcome: "thumbnail", vipsOut: "thumbnail"},
		{name: "big.tif", size: 395654, tpMB: 31.5, vipsMB: 149, tpOutcome: "thumbnail", vipsOut: "thumbnail"},
		{name: "cmyk.jpg", size: 2_000_000, tpMB: 21, tpOutcome: "refused: too expensive"},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	for i, want := range []string{"| file ", "|---", "| baseline-1x1.png ", "| big.tif ", "| cmyk.jpg "} {
		if !strings.HasPrefix(lines[i], want) || !strings.HasSuffix(lines[i], "|") || strings.Count(lines[i], "|") != 8 {
			t.Errorf("line %d %q, want it to start with %q and have 8 |", i, lines[i], want)
		}
	}
	for _, want := range []string{"396 KB", "+11.5", "149.0", "2.0 MB", "refused: too expensive", "| -    "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}

// TestGist checks the reason a failed run gives is short: thumbpipe's
// error class, another tool's last line.
func TestGist(t *testing.T) {
	for _, tc := range []struct{ err, want string }{
		{"thumbpipe on x.jpg: exit status 1: failed      src/x.jpg: image too expensive to decode: decoding jpeg 65535x399 needs about 1 bytes",
			"image too expensive to decode"},
		{"vips on x.jpg: exit status 255: /usr/bin/vipsthumbnail: unable to thumbnail x.jpg\nVipsJpeg: Maximum supported image dimension is 65500 pixels",
			"VipsJpeg: Maximum supported image dimension is 65500 pixels"},
	} {
		if got := gist(errors.New(tc.err)); got != tc.want {
			t.Errorf("gist(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
