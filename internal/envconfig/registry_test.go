package envconfig

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/functions/miniohook"
)

var update = flag.Bool("update", false, "rewrite the README's generated configuration tables")

// TestRegistryWellFormed: every variable has one entry with a name under
// the prefix, a doc, a group and readers; no program has two variables on
// one flag; a default parses.
func TestRegistryWellFormed(t *testing.T) {
	names := map[string]bool{}
	name := regexp.MustCompile(`^THUMBPIPE_[A-Z0-9_]+$`)
	for _, v := range Vars {
		if !name.MatchString(v.Name) || names[v.Name] {
			t.Errorf("%s: malformed or registered twice", v.Name)
		}
		names[v.Name] = true
		if v.Doc == "" || v.Programs == 0 || v.set == nil || !slices.Contains([]string{GroupPipeline, GroupCommandLine, GroupDoors, GroupServe, GroupMinIOSetup}, v.Group) {
			t.Errorf("%s: needs a doc, readers, a parser and a known group: %+v", v.Name, v)
		}
		if v.Default != "" && v.DefaultDoc != "" {
			t.Errorf("%s: both a default %q and a default doc %q", v.Name, v.Default, v.DefaultDoc)
		}
		if IsTestOnly(v.Name) {
			t.Errorf("%s is registered and test-only", v.Name)
		}
		if v.Default != "" {
			var s Settings
			if err := v.set(&s, v.Default); err != nil {
				t.Errorf("%s: default %q: %v", v.Name, v.Default, err)
			}
		}
	}
	for _, pn := range programNames {
		flags := map[string]string{}
		for _, v := range Vars {
			if v.Programs&pn.p == 0 || v.Flag == "" {
				continue
			}
			if other, ok := flags[v.Flag]; ok {
				t.Errorf("%s: --%s is both %s and %s", pn.name, v.Flag, other, v.Name)
			}
			flags[v.Flag] = v.Name
		}
	}
}

// TestDefaultsOfOtherPackages keeps the registry's defaults and the ones
// the packages document the same.
func TestDefaultsOfOtherPackages(t *testing.T) {
	s, err := Read(Serve|MinIOSetup, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxBodyBytes != miniohook.DefaultMaxBodyBytes || s.ProcessTimeout != miniohook.DefaultProcessTimeout {
		t.Errorf("serve's defaults %d, %s; miniohook documents %d, %s",
			s.MaxBodyBytes, s.ProcessTimeout, miniohook.DefaultMaxBodyBytes, miniohook.DefaultProcessTimeout)
	}
	if !strings.Contains(strings.Join(Names(Serve), " "), "THUMBPIPE_WEBHOOK_TOKEN") {
		t.Error("serve does not read its token")
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		p     Program
		env   map[string]string
		check func(s Settings) bool
		err   []string // each in the error; nil = no error
	}{
		{"defaults of the doors", Serve, nil, func(s Settings) bool {
			return s.MaxAttempts == 100 && s.MaxRecords == 100 && s.MaxEventAge == 24*time.Hour && s.Listen == ":8080" &&
				s.LogFormat == LogAuto && s.MinIOWebhookID == "THUMBPIPE" && s.MinIOWait == time.Minute &&
				s.ReadHeaderTimeout == 10*time.Second && s.ReadTimeout == 30*time.Second && s.Workers == 0 && s.Buckets == nil
		}, nil},
		{"a program reads only its own", S3Lambda, map[string]string{"THUMBPIPE_LISTEN": "x", "THUMBPIPE_MAX_EVENT_AGE": "bad"}, func(s Settings) bool {
			return s.Listen == "" && s.MaxEventAge == 0 && s.MaxRecords == 100
		}, nil},
		{"every door's allow-list", GCSFunc, map[string]string{"THUMBPIPE_BUCKETS": "a, b,"}, func(s Settings) bool {
			return slices.Equal(s.Buckets, []string{"a", "b"})
		}, nil},
		{"MinIO's event age", Serve, map[string]string{"THUMBPIPE_MAX_EVENT_AGE": "0"}, func(s Settings) bool { return s.MaxEventAge == 0 }, nil},
		{"attempts and records", Serve, map[string]string{"THUMBPIPE_MAX_ATTEMPTS": "3", "THUMBPIPE_MAX_RECORDS": "5"}, func(s Settings) bool {
			return s.MaxAttempts == 3 && s.MaxRecords == 5
		}, nil},
		{"command line", Backfill, map[string]string{"THUMBPIPE_BUCKET": "./photos", "THUMBPIPE_BACKFILL_PREFIX": "uploads/", "THUMBPIPE_CONCURRENCY": "4"}, func(s Settings) bool {
			return s.Bucket == "./photos" && s.BackfillPrefix == "uploads/" && s.Concurrency == 4
		}, nil},
		{"log format in capitals", MinIOSetup, map[string]string{"THUMBPIPE_LOG_FORMAT": "TEXT"}, func(s Settings) bool { return s.LogFormat == LogText }, nil},
		{"log format typo", Serve, map[string]string{"THUMBPIPE_LOG_FORMAT": "jsno"}, nil, []string{"THUMBPIPE_LOG_FORMAT", `"jsno"`}},
		{"output bucket allows what its own bucket would not", Process, map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "mem://thumbs", "THUMBPIPE_INCLUDE": "**"}, func(s Settings) bool {
			return s.OutputBucket == "mem://thumbs" && s.Pipeline.Include[0] == "**"
		}, nil},
		{"no output bucket refuses it", Process, map[string]string{"THUMBPIPE_INCLUDE": "**"}, nil, []string{"would be thumbnailed"}},
		{"every problem at once", Serve, map[string]string{
			"THUMBPIPE_WORKERS": "0", "THUMBPIPE_MAX_BODY_BYTES": "lots", "THUMBPIPE_PROCESS_TIMEOUT": "soon",
			"THUMBPIPE_READ_TIMEOUT": "-1s", "THUMBPIPE_MAX_EVENT_AGE": "-1h", "THUMBPIPE_MAX_ATTEMPTS": "none",
			"THUMBPIPE_MAX_RECORDS": "-5", "THUMBPIPE_MINIO_WAIT": "ever", "THUMBPIPE_SIZES": "big",
		}, nil, []string{"THUMBPIPE_WORKERS", "THUMBPIPE_MAX_BODY_BYTES", "THUMBPIPE_PROCESS_TIMEOUT", "THUMBPIPE_READ_TIMEOUT",
			"THUMBPIPE_MAX_EVENT_AGE", "THUMBPIPE_MAX_ATTEMPTS", "THUMBPIPE_MAX_RECORDS", "THUMBPIPE_MINIO_WAIT", "THUMBPIPE_SIZES"}},
		{"zero body limit", Serve, map[string]string{"THUMBPIPE_MAX_BODY_BYTES": "0"}, nil, []string{"THUMBPIPE_MAX_BODY_BYTES"}},
		{"zero concurrency", Backfill, map[string]string{"THUMBPIPE_CONCURRENCY": "0"}, nil, []string{"THUMBPIPE_CONCURRENCY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Read(tc.p, env(tc.env))
			if tc.err != nil {
				if err == nil {
					t.Fatalf("Read = %+v; want an error", s)
				}
				for _, w := range tc.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Fatalf("Read = %+v, %v", s, err)
			}
		})
	}
}

// TestPrecedence: a flag given on the command line wins, even empty; then
// the environment; then the default — for every kind of setting.
func TestPrecedence(t *testing.T) {
	envm := map[string]string{"THUMBPIPE_LISTEN": ":9000", "THUMBPIPE_BUCKETS": "env", "THUMBPIPE_BACKFILL_PREFIX": "env/", "THUMBPIPE_SIZES": "10x10"}
	tests := []struct {
		p     Program
		args  []string
		name  string
		value func(Settings) string
		want  string
	}{
		{Serve, nil, "env", func(s Settings) string { return s.Listen }, ":9000"},
		{Serve, []string{"--listen", ":7000"}, "flag", func(s Settings) string { return s.Listen }, ":7000"},
		{Serve, []string{"--listen="}, "flag given empty: the default", func(s Settings) string { return s.Listen }, ":8080"},
		{Serve, []string{"--buckets="}, "flag given empty: no list", func(s Settings) string { return strings.Join(s.Buckets, ",") }, ""},
		{Serve, nil, "env list", func(s Settings) string { return strings.Join(s.Buckets, ",") }, "env"},
		{Serve, nil, "default", func(s Settings) string { return s.MinIOWait.String() }, "1m0s"},
		{Serve, []string{"--minio-wait", "5s"}, "flag over default", func(s Settings) string { return s.MinIOWait.String() }, "5s"},
		{Backfill, nil, "backfill env", func(s Settings) string { return s.BackfillPrefix }, "env/"},
		{Backfill, []string{"--prefix="}, "backfill flag given empty", func(s Settings) string { return s.BackfillPrefix }, ""},
		{Backfill, []string{"--sizes="}, "pipeline flag given empty", func(s Settings) string { return s.Pipeline.Sizes[0].Box() }, "200x200"},
		{Watch, nil, "pipeline env", func(s Settings) string { return s.Pipeline.Sizes[0].Box() }, "10x10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			getenv := Flags(fs, tc.p, env(envm))
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			s, err := Read(tc.p, getenv)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.value(s); got != tc.want {
				t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

// TestFlagsOfEachProgram: each program gets the flags of exactly the
// variables it reads.
func TestFlagsOfEachProgram(t *testing.T) {
	for _, pn := range programNames {
		fs := flag.NewFlagSet(pn.name, flag.ContinueOnError)
		Flags(fs, pn.p, env(nil))
		for _, v := range Vars {
			got := v.Flag != "" && fs.Lookup(v.Flag) != nil
			if want := v.Flag != "" && v.Programs&pn.p != 0; got != want {
				t.Errorf("%s: --%s registered %v, want %v", pn.name, v.Flag, got, want)
			}
			if f := fs.Lookup(v.Flag); f != nil && (!strings.Contains(f.Usage, v.Name) || strings.Contains(f.Usage, "`")) {
				t.Errorf("%s: --%s's usage %q does not name %s or has a backquote (which flag takes for the value's name)", pn.name, v.Flag, f.Usage, v.Name)
			}
		}
	}
}

func TestUnknown(t *testing.T) {
	tests := []struct {
		name    string
		p       Program
		environ []string
		want    []string // each in one warning, in order; nil = none
	}{
		{"none", Serve, []string{"HOME=/root", "THUMBPIPE_SIZES=64x64", "THUMBPIPE_LISTEN=:1"}, nil},
		{"a typo names the closest", Process, []string{"THUMBPIPE_SIZE=64x64"}, []string{"THUMBPIPE_SIZE is not a thumbpipe setting", "did you mean THUMBPIPE_SIZES?"}},
		{"another typo", Serve, []string{"THUMBPIPE_WEBHOOK_TOKNE=x"}, []string{"did you mean THUMBPIPE_WEBHOOK_TOKEN?"}},
		{"a door's", GCSFunc, []string{"THUMBPIPE_MAX_EVENT_AGES=1h"}, []string{"did you mean THUMBPIPE_MAX_EVENT_AGE?"}},
		{"another program's", S3Lambda, []string{"THUMBPIPE_LISTEN=:1"}, []string{"THUMBPIPE_LISTEN is a setting of serve, worker, not of s3lambda"}},
		{"test-only", S3Lambda, []string{"THUMBPIPE_TOOLS_DIR=/x", "THUMBPIPE_SOAK_N=5", "THUMBPIPE_TESTSERVER_LOGS=1", "THUMBPIPE_BENCH_DIR=/y"}, nil},
		{"the command", Command, []string{"THUMBPIPE_MINIO_WAIT=1s", "THUMBPIPE_BUCKET=.", "THUMBPIPE_EXCLUDES=x"}, []string{"did you mean THUMBPIPE_EXCLUDE?"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Unknown(tc.p, tc.environ)
			if len(tc.want) == 0 {
				if len(got) != 0 {
					t.Errorf("warnings %q, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("warnings %q, want one", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("warning %q does not say %q", got[0], w)
				}
			}
		})
	}
}

// TestNoReadsOutsideRegistry: no Go code outside this package names a
// THUMBPIPE_* variable in a string literal of its own (a read by hand, which
// the docs and deploy checks would not see), except test code and the test
// support and bench tool reading [TestOnly] variables.
func TestNoReadsOutsideRegistry(t *testing.T) {
	root := filepath.Join("..", "..")
	whole := regexp.MustCompile(`^THUMBPIPE_[A-Z0-9_]*$`)
	testSupport := []string{filepath.Join("internal", "testing") + string(filepath.Separator), filepath.Join("cmd", "thumbbench") + string(filepath.Separator)}
	var files int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || rel == filepath.Join("internal", "envconfig") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		support := slices.ContainsFunc(testSupport, func(dir string) bool { return strings.HasPrefix(rel, dir) })
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !whole.MatchString(s) {
				return true
			}
			switch {
			case support && (IsTestOnly(s) || s == Prefix):
			case support:
				t.Errorf("%s: %q is not a test-only variable (add it to TestOnly, or read it through the registry)", rel, s)
			default:
				t.Errorf("%s: reads %s by hand; register it in internal/envconfig and read it through Read", rel, s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("scanned %d Go files; the walk missed the module", files)
	}
}

// TestNoReadsOutsideRegistryCatches runs the scan's rule on sources that
// must and must not pass.
func TestNoReadsOutsideRegistryCatches(t *testing.T) {
	whole := regexp.MustCompile(`^THUMBPIPE_[A-Z0-9_]*$`)
	tests := []struct {
		src  string
		hits int
	}{
		{`package p; import "os"; var _ = os.Getenv("THUMBPIPE_CONCURRENCY")`, 1},
		{`package p; const env = "THUMBPIPE_MAX_EVENT_AGE"`, 1},
		{`package p; import "errors"; var _ = errors.New("THUMBPIPE_BUCKETS (or --buckets) is required")`, 0},
	}
	for _, tc := range tests {
		f, err := parser.ParseFile(token.NewFileSet(), "x.go", tc.src, 0)
		if err != nil {
			t.Fatal(err)
		}
		hits := 0
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && whole.MatchString(s) {
					hits++
				}
			}
			return true
		})
		if hits != tc.hits {
			t.Errorf("%s: %d hits, want %d", tc.src, hits, tc.hits)
		}
	}
}

const (
	readmeBegin = "<!-- begin: configuration tables, generated from internal/envconfig (go test ./internal/envconfig -run TestREADMEGenerated -update) -->"
	readmeEnd   = "<!-- end: configuration tables -->"
)

// markdown renders the registry as the README's configuration tables.
func markdown() string {
	groups := []struct{ group, title string }{
		{GroupPipeline, "The pipeline's settings, read by every program that makes thumbnails:"},
		{GroupCommandLine, "The command line's:"},
		{GroupDoors, "The doors' (`serve` is the MinIO door):"},
		{GroupServe, "`serve`'s:"},
		{GroupMinIOSetup, "`minio-setup`'s (also read by `serve --minio-setup`):"},
	}
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n\n| variable | flag | default | read by | meaning |\n|---|---|---|---|---|\n", g.title)
		for _, v := range Vars {
			if v.Group != g.group {
				continue
			}
			flagCell, def, by := "", v.DefaultDoc, v.Programs.String()
			if v.Flag != "" {
				flagCell = "`--" + v.Flag + "`"
			}
			if v.Default != "" {
				def = "`" + v.Default + "`"
			}
			if v.Programs == Thumbnailers {
				by = "all but minio-setup"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", v.Name, flagCell, def, by, v.Doc)
		}
	}
	return b.String()
}

// TestREADMEGenerated: the README's configuration tables are the registry's,
// generated between two markers (-update rewrites them).
func TestREADMEGenerated(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	begin, end := strings.Index(text, readmeBegin), strings.Index(text, readmeEnd)
	if begin < 0 || end < begin || strings.Count(text, readmeBegin) != 1 {
		t.Fatalf("README.md needs one pair of markers:\n%s\n%s", readmeBegin, readmeEnd)
	}
	got := text[begin+len(readmeBegin)+1 : end]
	want := markdown()
	if got == want {
		return
	}
	if *update {
		text = text[:begin+len(readmeBegin)+1] + want + text[end:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's configuration tables differ from the registry; run go test ./internal/envconfig -run TestREADMEGenerated -update\n got:\n%s\nwant:\n%s", got, want)
}

// TestREADMEOneRowEach: each THUMBPIPE_* variable has exactly one table row
// in the README, and no row names a variable the registry does not know.
func TestREADMEOneRowEach(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if cells := strings.Split(line, "|"); len(cells) > 4 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`THUMBPIPE_") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")]++
		}
	}
	for name, n := range rows {
		if _, ok := Lookup(name); !ok || n != 1 {
			t.Errorf("README: %d rows for %s (registered: %v)", n, name, ok)
		}
	}
	for _, v := range Vars {
		if rows[v.Name] != 1 {
			t.Errorf("README: no row for %s", v.Name)
		}
	}
}
