package envconfig

import (
	"flag"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestDefaultsMatch keeps the documented defaults of Vars and
// pipeline.DefaultConfig the same.
func TestDefaultsMatch(t *testing.T) {
	m := map[string]string{}
	for _, v := range Vars {
		m[v.Name] = v.Default
	}
	got, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if want := pipeline.DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Vars' defaults give %+v; DefaultConfig is %+v", got, want)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c pipeline.Config) bool
		err   []string
	}{
		{"empty env is the default", nil, func(c pipeline.Config) bool { return reflect.DeepEqual(c, pipeline.DefaultConfig()) }, nil},
		{"sizes", map[string]string{"THUMBPIPE_SIZES": "800x600, 64x64:fill"}, func(c pipeline.Config) bool {
			return len(c.Sizes) == 2 && c.Sizes[1].Mode == "fill" && c.Sizes[0].Width == 800
		}, nil},
		{"bytes with unit", map[string]string{"THUMBPIPE_MAX_BYTES": "5MiB"}, func(c pipeline.Config) bool { return c.MaxBytes == 5<<20 }, nil},
		{"globs", map[string]string{"THUMBPIPE_INCLUDE": "uploads/**,*.png", "THUMBPIPE_EXCLUDE": "**/*.tmp"}, func(c pipeline.Config) bool {
			return len(c.Include) == 2 && c.Exclude[0] == "**/*.tmp"
		}, nil},
		{"colour policy", map[string]string{"THUMBPIPE_COLOR": "Keep"}, func(c pipeline.Config) bool { return c.Color == pixels.ColorKeep }, nil},
		{"bad colour policy", map[string]string{"THUMBPIPE_COLOR": "p3"}, nil, []string{"THUMBPIPE_COLOR", `"p3"`}},
		{"metadata policy", map[string]string{"THUMBPIPE_METADATA": "Copyright"}, func(c pipeline.Config) bool { return c.Metadata == pixels.MetadataCopyright }, nil},
		{"metadata default", map[string]string{}, func(c pipeline.Config) bool { return c.Metadata == pixels.MetadataNone }, nil},
		{"bad metadata policy", map[string]string{"THUMBPIPE_METADATA": "all"}, nil, []string{"THUMBPIPE_METADATA", `"all"`}},
		{"every problem reported", map[string]string{"THUMBPIPE_SIZES": "big", "THUMBPIPE_JPEG_QUALITY": "high", "THUMBPIPE_MAX_BYTES": "lots"},
			nil, []string{"THUMBPIPE_SIZES", "THUMBPIPE_JPEG_QUALITY", "THUMBPIPE_MAX_BYTES"}},
		{"validation runs", map[string]string{"THUMBPIPE_INCLUDE": "**"}, nil, []string{"would be thumbnailed"}},
		{"parse and validation problems together", map[string]string{"THUMBPIPE_SIZES": "big", "THUMBPIPE_FORMAT": "heic"},
			nil, []string{"THUMBPIPE_SIZES", `format "heic"`}},
		{"per-size formats", map[string]string{"THUMBPIPE_SIZES": "200x200:fill:webp, 1200x1200:JPG, 64x64", "THUMBPIPE_FORMAT": "png"},
			func(c pipeline.Config) bool {
				return c.Format == "png" && c.Sizes[0].Format == "webp" && c.Sizes[0].Mode == "fill" &&
					c.Sizes[1].Format == "jpeg" && c.Sizes[1].Mode == "fit" && c.Sizes[2].Format == ""
			}, nil},
		{"an unwritable size format", map[string]string{"THUMBPIPE_SIZES": "200x200:fill:tiff"},
			nil, []string{`size 200x200: "tiff" is neither a mode (fit or fill) nor a format thumbpipe writes`}},
		{"webp and avif settings", map[string]string{"THUMBPIPE_WEBP_QUALITY": "70", "THUMBPIPE_WEBP_LOSSLESS": "TRUE", "THUMBPIPE_AVIF_QUALITY": "40", "THUMBPIPE_BACKGROUND": "#102030"},
			func(c pipeline.Config) bool {
				return c.WebPQuality == 70 && c.WebPLossless && c.AVIFQuality == 40 && c.Background == color.RGBA{R: 0x10, G: 0x20, B: 0x30, A: 0xff}
			}, nil},
		{"bad webp and avif settings", map[string]string{"THUMBPIPE_WEBP_QUALITY": "0", "THUMBPIPE_WEBP_LOSSLESS": "maybe", "THUMBPIPE_AVIF_QUALITY": "101", "THUMBPIPE_BACKGROUND": "teal"},
			nil, []string{"webp quality 0", "THUMBPIPE_WEBP_LOSSLESS", `"maybe" is neither true nor false`, "avif quality 101", "THUMBPIPE_BACKGROUND", `background "teal"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(env(tc.env))
			if tc.err != nil {
				if err == nil {
					t.Fatal("want an error")
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				return
			}
			if err != nil || !tc.check(c) {
				t.Fatalf("Load = %+v, %v", c, err)
			}
		})
	}
}

func TestFlagsWinOverEnv(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	getenv := Flags(fs, Process, env(map[string]string{"THUMBPIPE_SIZES": "10x10", "THUMBPIPE_FORMAT": "png"}))
	if err := fs.Parse([]string{"--sizes", "20x20"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sizes[0].Width != 20 || c.Format != "png" {
		t.Errorf("got %+v; want the flag's size and the env's format", c)
	}
}

func TestFlagsGivenEmpty(t *testing.T) {
	envm := map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "mem://thumbs", "THUMBPIPE_SIZES": "10x10", "THUMBPIPE_FORMAT": "png"}
	tests := []struct {
		args                []string
		outputBucket, sizes string // what the getenv returns
		format              string
	}{
		{nil, "mem://thumbs", "10x10", "png"},
		{[]string{"--output-bucket="}, "", "10x10", "png"},
		{[]string{"--output-bucket", ""}, "", "10x10", "png"},
		{[]string{"--output-bucket=mem://other"}, "mem://other", "10x10", "png"},
		{[]string{"--sizes=", "--format=jpeg"}, "mem://thumbs", "", "jpeg"},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		getenv := Flags(fs, Process, env(envm))
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		ob, sz, f := getenv("THUMBPIPE_OUTPUT_BUCKET"), getenv("THUMBPIPE_SIZES"), getenv("THUMBPIPE_FORMAT")
		if ob != tc.outputBucket || sz != tc.sizes || f != tc.format {
			t.Errorf("%q: output bucket %q, sizes %q, format %q; want %q, %q, %q", tc.args, ob, sz, f, tc.outputBucket, tc.sizes, tc.format)
		}
		st, err := Read(Process, getenv)
		if err != nil || st.OutputBucket != tc.outputBucket {
			t.Errorf("%q: Read = %+v, %v; want output bucket %q", tc.args, st, err, tc.outputBucket)
		}
	}
}

func TestSetBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"1048576", 1 << 20, ""},
		{"512KiB", 512 << 10, ""},
		{"50MiB", 50 << 20, ""},
		{"2 GiB", 2 << 30, ""},
		{"50_000KiB", 50_000 << 10, ""},
		{"1_048_576", 1 << 20, ""},
		{"8589934591GiB", 8589934591 << 30, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"17179869185GiB", 0, "too large"}, // 2^64 + 2^30: wrapped to 1GiB before
		{"8589934592GiB", 0, "too large"},
		{"9223372036854775808", 0, "too large"},
		{"-8589934593GiB", 0, "too large"},
		{"lots", 0, "not a byte count"},
		{"1GB", 0, "not a byte count"},
		{"MiB", 0, "not a byte count"},
	}
	for _, tc := range tests {
		got := int64(-1)
		err := setBytes(&got, tc.in)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("setBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || got != -1):
			t.Errorf("setBytes(%q) = %d, %v; want an error saying %q", tc.in, got, err, tc.wantErr)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1024", 1024, false}, {"4KiB", 4096, false}, {"1MiB", 1 << 20, false}, {" 2 MiB", 2 << 20, false},
		{"1GB", 0, true}, {"", 0, true}, {"KiB", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestREADMETable checks the README's configuration table against Vars:
// one row per variable, with its flag and, when it has one, its default.
func TestREADMETable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 4 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`THUMBPIPE_") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = cells[2:4]
		}
	}
	for _, v := range Vars {
		cells, ok := rows[v.Name]
		if !ok {
			t.Errorf("README has no row for %s", v.Name)
			continue
		}
		if got := strings.TrimSpace(cells[0]); v.Flag == "" && got != "" || v.Flag != "" && got != "`--"+v.Flag+"`" {
			t.Errorf("README: %s has flag %s, want `--%s`", v.Name, got, v.Flag)
		}
		if got := strings.TrimSpace(cells[1]); v.Default != "" && got != "`"+v.Default+"`" {
			t.Errorf("README: %s has default %s, want `%s`", v.Name, got, v.Default)
		}
	}
}
