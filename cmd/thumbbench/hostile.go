package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// hostileSide is the side of the costly files: 50 million pixels, the
// default pixel limit.
const hostileSide = 7071

// hostileRow is the figures of one hostile file.
type hostileRow struct {
	name               string
	size               int64
	tpMB, vipsMB       float64 // peak RSS, medians; 0 when not measured
	tpOutcome, vipsOut string
}

// hostileMain is `thumbbench -hostile`: the peak RSS of thumbpipe process
// and vipsthumbnail on each file of pixeltest.CostlyFiles, interleaved, the
// median of s.runs runs each, beside that of a 1×1 PNG (the process's
// baseline), printed as a Markdown table.
func hostileMain(s settings, stdout io.Writer) error {
	if s.time == "" {
		return errors.New("-hostile measures peak RSS: it needs GNU time (/usr/bin/time)")
	}
	dir := filepath.Join(s.dir, "hostile")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := append([]pixeltest.CostlyFile{{Name: "baseline-1x1.png", Data: pixeltest.PNG(pixeltest.Photo(1, 1, 1))}},
		pixeltest.CostlyFiles(hostileSide)...)
	var inputs []input
	for _, f := range files {
		file := filepath.Join(dir, f.Name)
		if err := writeFile(file, f.Data); err != nil {
			return err
		}
		inputs = append(inputs, input{name: f.Name, file: file, size: int64(len(f.Data))})
	}
	methods := []method{thumbpipeMethod(s.thumbpipe)}
	if s.vips != "" {
		methods = append(methods, vipsMethod(s.vips))
	}
	work := filepath.Join(s.dir, "work-hostile")
	if err := os.RemoveAll(work); err != nil {
		return err
	}
	rss := map[figKey][]float64{}
	outcome := map[figKey]string{}
	fmt.Fprintf(stdout, "hostile files: %d rounds of %d files × %d methods ", s.runs, len(inputs), len(methods))
	for range s.runs {
		for _, in := range inputs {
			for _, m := range methods {
				k := figKey{in.name, m.name}
				r, err := runOnce(work, s.time, m, in, 0)
				if err != nil {
					// A refusal is an outcome; its peak RSS still counts.
					outcome[k] = "refused: " + gist(err)
					mb, rerr := readMaxRSS(filepath.Join(work, "maxrss"))
					if rerr != nil {
						return fmt.Errorf("%w (and no peak RSS: %v)", err, rerr)
					}
					r.rssMB = mb
				} else {
					outcome[k] = "thumbnail"
				}
				rss[k] = append(rss[k], r.rssMB)
			}
		}
		fmt.Fprint(stdout, ".")
	}
	fmt.Fprintln(stdout)
	var rows []hostileRow
	for _, in := range inputs {
		rows = append(rows, hostileRow{name: in.name, size: in.size,
			tpMB: median(rss[figKey{in.name, thumbpipeName}]), vipsMB: median(rss[figKey{in.name, vipsName}]),
			tpOutcome: outcome[figKey{in.name, thumbpipeName}], vipsOut: outcome[figKey{in.name, vipsName}]})
	}
	fmt.Fprintf(stdout, "\npeak RSS of one process per file, 200x200 JPEG q%d, median of %d runs\n\n", quality, s.runs)
	writeHostile(stdout, rows)
	return nil
}

// gist is the reason a tool gives for failing, from runOnce's error: the
// last line of what it printed, for thumbpipe's "failed KEY: reason:
// detail" the reason alone.
func gist(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "exit status"); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[i+j+2:]
		}
	}
	msg = strings.TrimSpace(msg[strings.LastIndex(msg, "\n")+1:])
	if rest, ok := strings.CutPrefix(msg, "failed"); ok {
		_, msg, _ = strings.Cut(rest, ": ")
		msg, _, _ = strings.Cut(msg, ": ")
	}
	return msg
}

// writeHostile prints rows as a Markdown table, RSS in MB and, for
// thumbpipe, above the first row (the baseline).
func writeHostile(w io.Writer, rows []hostileRow) {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| file\t size\t thumbpipe MB\t above baseline\t vipsthumbnail MB\t thumbpipe\t vipsthumbnail\t")
	fmt.Fprintln(tw, "|---\t---:\t---:\t---:\t---:\t---\t---\t")
	for _, r := range rows {
		above := ""
		if r.tpMB > 0 {
			above = fmt.Sprintf("%+.1f", r.tpMB-rows[0].tpMB)
		}
		vips, vipsOut := "-", "-"
		if r.vipsMB > 0 {
			vips, vipsOut = fmt.Sprintf("%.1f", r.vipsMB), r.vipsOut
		}
		fmt.Fprintf(tw, "| %s\t %s\t %.1f\t %s\t %s\t %s\t %s\t\n", r.name, humanBytes(r.size), r.tpMB, above, vips, r.tpOutcome, vipsOut)
	}
	tw.Flush()
	// tabwriter's Debug separators are '|': the table is Markdown as it is.
	w.Write(b.Bytes())
}

// humanBytes writes n as B, KB or MB.
func humanBytes(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
