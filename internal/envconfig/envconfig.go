// Package envconfig reads pipeline.Config from THUMBPIPE_* environment
// variables (and the command line's flags, which mirror them). It is the one
// list of the variables the pipeline reads: the README table, the SAM
// template and the gcloud deploy script are checked against [Vars].
package envconfig

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/thumbpipe/thumbpipe/pipeline"
)

// Var is one environment variable of the pipeline's config.
type Var struct {
	Name    string // e.g. THUMBPIPE_SIZES
	Flag    string // the command line's flag, e.g. sizes
	Default string
	Usage   string
	apply   func(c *pipeline.Config, v string) error
}

// Vars lists every variable the pipeline's config is read from.
var Vars = []Var{
	{"THUMBPIPE_SIZES", "sizes", "200x200", "comma-separated boxes WxH, each optionally :fit (inside the box, default) or :fill (cover and crop)",
		func(c *pipeline.Config, v string) error {
			c.Sizes = nil
			for _, s := range SplitList(v) {
				sz, err := pipeline.ParseSize(s)
				if err != nil {
					return err
				}
				c.Sizes = append(c.Sizes, sz)
			}
			return nil
		}},
	{"THUMBPIPE_FORMAT", "format", "auto", "output format: auto (JPEG, PNG, GIF stay; others become JPEG), jpeg, png or gif",
		func(c *pipeline.Config, v string) error { c.Format = strings.ToLower(v); return nil }},
	{"THUMBPIPE_JPEG_QUALITY", "jpeg-quality", "85", "JPEG quality, 1 to 100",
		func(c *pipeline.Config, v string) error { return setInt(&c.JPEGQuality, v) }},
	{"THUMBPIPE_OUTPUT_PREFIX", "output-prefix", "thumbnails/", "key prefix thumbnails are written under; never processed as sources",
		func(c *pipeline.Config, v string) error { c.Prefix = v; return nil }},
	{"THUMBPIPE_OUTPUT_BUCKET", "output-bucket", "", "URL of a separate bucket for thumbnails (empty: the source bucket)",
		func(c *pipeline.Config, v string) error { c.OutputBucket = v; return nil }},
	{"THUMBPIPE_INCLUDE", "include", "", "comma-separated key globs a source must match (** crosses folders); empty: every key",
		func(c *pipeline.Config, v string) error { c.Include = SplitList(v); return nil }},
	{"THUMBPIPE_EXCLUDE", "exclude", "", "comma-separated key globs never processed",
		func(c *pipeline.Config, v string) error { c.Exclude = SplitList(v); return nil }},
	{"THUMBPIPE_MAX_BYTES", "max-bytes", "50MiB", "largest source object read (bytes, or with KiB/MiB/GiB)",
		func(c *pipeline.Config, v string) error { return setBytes(&c.MaxBytes, v) }},
	{"THUMBPIPE_MAX_PIXELS", "max-pixels", "50000000", "largest source image decoded, width×height",
		func(c *pipeline.Config, v string) error { return setInt64(&c.MaxPixels, v) }},
	{"THUMBPIPE_CACHE_CONTROL", "cache-control", "", "Cache-Control for thumbnails (empty: copy the source's)",
		func(c *pipeline.Config, v string) error { c.CacheControl = v; return nil }},
}

// Names returns the names of Vars, in order: what a deployment sets.
func Names() []string {
	names := make([]string, len(Vars))
	for i, v := range Vars {
		names[i] = v.Name
	}
	return names
}

// Load reads the config from getenv (os.Getenv, or a test's map), starting
// from pipeline.DefaultConfig, and validates it. Every problem is reported.
func Load(getenv func(string) string) (pipeline.Config, error) {
	c := pipeline.DefaultConfig()
	var errs []error
	for _, v := range Vars {
		if s := strings.TrimSpace(getenv(v.Name)); s != "" {
			if err := v.apply(&c, s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", v.Name, err))
			}
		}
	}
	// A value that does not parse leaves its default, which is valid, so
	// validating the rest still reports every other problem.
	errs = append(errs, c.Validate())
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Flags registers one flag per variable on fs and returns a getenv for
// [Load] in which a flag given on the command line wins over the
// environment, even when it is given empty (--output-bucket= clears
// THUMBPIPE_OUTPUT_BUCKET). Call the getenv after fs is parsed.
func Flags(fs *flag.FlagSet, getenv func(string) string) func(string) string {
	vals := map[string]*string{}
	flagOf := map[string]string{}
	for _, v := range Vars {
		vals[v.Name] = fs.String(v.Flag, "", fmt.Sprintf("%s (env %s, default %q)", v.Usage, v.Name, v.Default))
		flagOf[v.Name] = v.Flag
	}
	return func(name string) string {
		given := false
		if f, ok := flagOf[name]; ok {
			fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == f })
		}
		if given {
			return *vals[name]
		}
		return getenv(name)
	}
}

// SplitList splits a comma-separated list, trimming each item and dropping
// empty ones.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func setInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

func setInt64(dst *int64, v string) error {
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*dst = n
	return nil
}

// setBytes stores the byte count [ParseBytes] reads from v.
func setBytes(dst *int64, v string) error {
	n, err := ParseBytes(v)
	if err != nil {
		return err
	}
	*dst = n
	return nil
}

// ParseBytes reads a byte count: "1048576", "512KiB", "50MiB", "1GiB",
// with optional _ digit separators ("50_000KiB"). A count beyond int64 is
// refused rather than wrapped around.
func ParseBytes(v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = s, u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(num), "_", ""), 10, 64)
	if errors.Is(err, strconv.ErrRange) || err == nil && (n > math.MaxInt64/mult || n < math.MinInt64/mult) {
		return 0, fmt.Errorf("%q is too large a byte count (the most is %d bytes)", v, int64(math.MaxInt64))
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a byte count (e.g. 52428800 or 50MiB)", v)
	}
	return n * mult, nil
}
