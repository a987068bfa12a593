package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none. xs is left as it is.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// metric is what a row of the table measures and which way is better.
type metric struct {
	label       string
	lowerBetter bool
	better      string // the word for thumbpipe doing better: "faster"
	worse       string // and for doing worse: "slower"
	format      string // of the values
}

var (
	msMetric     = metric{"ms per image (median)", true, "faster", "slower", "%.0f"}
	rssMetric    = metric{"peak RSS MB (median)", true, "less", "more", "%.1f"}
	perSecMetric = metric{"images/s (median)", false, "more", "fewer", "%.2f"}
	allocMetric  = metric{"allocated MB per image", true, "less", "more", "%.1f"}
)

// compare says how thumbpipe's value tp does against other's: "3.52×
// faster". It is empty when either value is missing.
func (m metric) compare(tp, other float64) string {
	if tp <= 0 || other <= 0 {
		return ""
	}
	r := tp / other
	if m.lowerBetter {
		r = other / tp
	}
	if r >= 1 {
		return fmt.Sprintf("%.2f× %s", r, m.better)
	}
	return fmt.Sprintf("%.2f× %s", 1/r, m.worse)
}

// results are everything a run measured.
type results struct {
	inputs  []input
	procs   map[figKey]*procFigures
	inproc  map[figKey]*inprocFigures
	workers int
	vips    bool
	// avifEncodeMS is the median in-process AVIF encode of a 200x200
	// thumbnail; 0 when not measured.
	avifEncodeMS float64
}

// value is the median of one method's samples of one metric on one input,
// 0 when it was not measured.
func (r results) value(in input, method string, m metric) float64 {
	f := r.procs[figKey{in.name, method}]
	if f == nil {
		return 0
	}
	switch m {
	case msMetric:
		return median(f.ms)
	case rssMetric:
		return median(f.rssMB)
	case perSecMetric:
		return median(f.perSec)
	}
	return 0
}

// inprocValue is the median of one path's in-process samples.
func (r results) inprocValue(in input, path string, m metric) float64 {
	f := r.inproc[figKey{in.name, path}]
	if f == nil {
		return 0
	}
	if m == allocMetric {
		return median(f.allocMB)
	}
	return median(f.ms)
}

// table is rows of cells, the first the header.
type table [][]string

func (t table) write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range t {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}

// table lays the results out: per input, the whole-process rows and the
// in-process rows, each with thumbpipe's ratios to the others.
func (r results) table() table {
	t := table{{"input", "scope", "metric", "thumbpipe", "naive", "vips", "thumbpipe vs naive", "thumbpipe vs vips"}}
	cell := func(m metric, v float64) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf(m.format, v)
	}
	for _, in := range r.inputs {
		first := fmt.Sprintf("%s (%.1f MB)", in.name, float64(in.size)/1e6)
		label := func(m metric) string {
			if m == perSecMetric {
				return fmt.Sprintf("images/s, %d at a time", r.workers)
			}
			return m.label
		}
		for _, m := range []metric{msMetric, rssMetric, perSecMetric} {
			tp, nv, vp := r.value(in, thumbpipeName, m), r.value(in, naiveName, m), r.value(in, vipsName, m)
			t = append(t, []string{first, "process", label(m), cell(m, tp), cell(m, nv), cell(m, vp), m.compare(tp, nv), m.compare(tp, vp)})
			first = ""
		}
		for _, m := range []metric{msMetric, allocMetric} {
			tp, nv := r.inprocValue(in, thumbpipeName, m), r.inprocValue(in, naiveName, m)
			t = append(t, []string{"", "in-proc", m.label, cell(m, tp), cell(m, nv), "-", m.compare(tp, nv), ""})
		}
	}
	return t
}

// targets checks the targets and returns one line each.
func (r results) targets() []string {
	find := func(name string) (input, bool) {
		for _, in := range r.inputs {
			if in.name == name {
				return in, true
			}
		}
		return input{}, false
	}
	var lines []string
	check := func(what string, ok bool, figures string) {
		verdict := "MISS"
		if ok {
			verdict = "ok  "
		}
		lines = append(lines, fmt.Sprintf("%s %-52s %s", verdict, what, figures))
	}
	na := func(what, why string) { lines = append(lines, fmt.Sprintf("n/a  %-52s %s", what, why)) }
	lines = append(lines, "targets (whole process):")
	if in, ok := find("24MP baseline"); ok {
		tp, nv, vp := r.value(in, thumbpipeName, msMetric), r.value(in, naiveName, msMetric), r.value(in, vipsName, msMetric)
		if r.vips {
			check("24MP ms ≤ vipsthumbnail's", tp <= vp, fmt.Sprintf("%.0f vs %.0f ms", tp, vp))
		} else {
			na("24MP ms ≤ vipsthumbnail's", "vipsthumbnail not measured")
		}
		check("24MP ≥ 3.5× faster than naive", tp*3.5 <= nv, fmt.Sprintf("%.0f vs %.0f ms: %.2f×", tp, nv, nv/tp))
		rss := r.value(in, thumbpipeName, rssMetric)
		check("24MP peak RSS ≤ 25 MB", rss <= 25, fmt.Sprintf("%.1f MB", rss))
		ps, vps := r.value(in, thumbpipeName, perSecMetric), r.value(in, vipsName, perSecMetric)
		what := fmt.Sprintf("24MP images/s, %d at a time ≥ vipsthumbnail's", r.workers)
		if r.vips {
			check(what, ps >= vps, fmt.Sprintf("%.2f vs %.2f", ps, vps))
		} else {
			na(what, "vipsthumbnail not measured")
		}
	} else {
		na("24MP targets", "not measured (-inputs left it out)")
	}
	if in, ok := find("12MP progressive"); ok {
		rss := r.value(in, thumbpipeName, rssMetric)
		check("12MP progressive peak RSS ≤ 60 MB", rss <= 60, fmt.Sprintf("%.1f MB (naive %.1f MB)", rss, r.value(in, naiveName, rssMetric)))
	} else {
		na("12MP progressive peak RSS ≤ 60 MB", "not measured (no jpegtran, or -inputs left it out)")
	}
	for _, name := range []string{png18, png16, pngInterlaced} {
		in, ok := find(name)
		if !ok {
			na(name+" targets", "not measured (-inputs left it out)")
			continue
		}
		tp, vp := r.value(in, thumbpipeName, msMetric), r.value(in, vipsName, msMetric)
		if r.vips {
			check(name+" ms ≤ vipsthumbnail's", tp <= vp, fmt.Sprintf("%.0f vs %.0f ms", tp, vp))
		} else {
			na(name+" ms ≤ vipsthumbnail's", "vipsthumbnail not measured")
		}
		rss := r.value(in, thumbpipeName, rssMetric)
		check(name+" peak RSS ≤ 60 MB", rss <= 60, fmt.Sprintf("%.1f MB (vipsthumbnail %.1f MB)", rss, r.value(in, vipsName, rssMetric)))
	}
	if in, ok := find(heic12); ok {
		tp, vp := r.value(in, thumbpipeName, msMetric), r.value(in, vipsName, msMetric)
		if r.vips {
			check(heic12+" ms ≤ vipsthumbnail's", tp <= vp, fmt.Sprintf("%.0f vs %.0f ms", tp, vp))
		} else {
			na(heic12+" ms ≤ vipsthumbnail's", "vipsthumbnail not measured")
		}
		rss := r.value(in, thumbpipeName, rssMetric)
		check(heic12+" peak RSS ≤ 100 MB", rss <= 100, fmt.Sprintf("%.1f MB (vipsthumbnail %.1f MB)", rss, r.value(in, vipsName, rssMetric)))
	} else {
		na(heic12+" targets", "not measured (no heif-enc, or -inputs left it out)")
	}
	if in, ok := find(avif18); ok {
		tp, vp := r.value(in, thumbpipeName, msMetric), r.value(in, vipsName, msMetric)
		if r.vips {
			check(avif18+" ms ≤ 2× vipsthumbnail's", tp <= 2*vp, fmt.Sprintf("%.0f vs %.0f ms: %.2f×", tp, vp, tp/vp))
		} else {
			na(avif18+" ms ≤ 2× vipsthumbnail's", "vipsthumbnail not measured")
		}
		rss := r.value(in, thumbpipeName, rssMetric)
		check(avif18+" peak RSS ≤ 200 MB", rss <= 200, fmt.Sprintf("%.1f MB (vipsthumbnail %.1f MB)", rss, r.value(in, vipsName, rssMetric)))
	} else {
		na(avif18+" targets", "not measured (no avifenc, or -inputs left it out)")
	}
	if r.avifEncodeMS > 0 {
		check("AVIF encode of a 200x200 thumbnail ≤ 20 ms (in-proc)", r.avifEncodeMS <= 20, fmt.Sprintf("%.1f ms", r.avifEncodeMS))
	}
	// The colour conversion's cost, on the pixel path where it runs: the
	// whole process adds start-up noise larger than the 5 %.
	base, okBase := find("12MP baseline")
	tagged, okTagged := find("12MP Adobe RGB")
	if what := "12MP Adobe RGB in-proc ms ≤ 105% of baseline's"; okBase && okTagged {
		b, a := r.inprocValue(base, thumbpipeName, msMetric), r.inprocValue(tagged, thumbpipeName, msMetric)
		check(what, a <= 1.05*b, fmt.Sprintf("%.0f vs %.0f ms: %+.1f%%", a, b, 100*(a/b-1)))
	} else {
		na(what, "not measured (no profile, or -inputs left it out)")
	}
	return lines
}

// samples prints every sample, for a look at the spread behind a median.
func (r results) samples(w io.Writer) {
	for _, in := range r.inputs {
		for _, m := range []string{thumbpipeName, naiveName, vipsName} {
			if f := r.procs[figKey{in.name, m}]; f != nil {
				fmt.Fprintf(w, "%s, %s, process: ms %.0f, RSS MB %.1f, images/s %.2f\n", in.name, m, f.ms, f.rssMB, f.perSec)
			}
			if f := r.inproc[figKey{in.name, m}]; f != nil {
				fmt.Fprintf(w, "%s, %s, in-proc: ms %.0f, MB allocated %.1f\n", in.name, m, f.ms, f.allocMB)
			}
		}
	}
}
