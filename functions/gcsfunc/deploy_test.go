package gcsfunc

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thumbpipe/thumbpipe/internal/envconfig"
	"github.com/thumbpipe/thumbpipe/internal/testing/testserver"
	"github.com/thumbpipe/thumbpipe/pipeline/pipelinetest"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

const deployScript = "../../deploy/gcloud/deploy.sh"

// runDeploy runs deploy.sh with args and exactly the given THUMBPIPE_* and
// GCF_* variables (the rest of the environment is kept).
func runDeploy(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{deployScript}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "THUMBPIPE_") && !strings.HasPrefix(kv, "GCF_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// printedCommands splits the dry run's "+ cmd args..." lines into argument
// lists, unquoting them as bash would.
func printedCommands(t *testing.T, stdout string) [][]string {
	t.Helper()
	var cmds [][]string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		line, ok := strings.CutPrefix(line, "+ ")
		if !ok {
			t.Fatalf("unexpected output line %q", line)
		}
		out, err := exec.Command("bash", "-c", `eval "set -- $1"; printf '%s\0' "$@"`, "_", line).Output()
		if err != nil {
			t.Fatalf("unquote %q: %v", line, err)
		}
		cmds = append(cmds, strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00"))
	}
	return cmds
}

// envFlag decodes --set-env-vars=[^D^]K=V<D>K=V... (gcloud topic escaping).
func envFlag(t *testing.T, v string) map[string]string {
	t.Helper()
	sep := ","
	if strings.HasPrefix(v, "^") {
		end := strings.Index(v[1:], "^")
		if end < 1 {
			t.Fatalf("bad delimiter syntax in %q", v)
		}
		sep, v = v[1:end+1], v[end+2:]
	}
	m := map[string]string{}
	for _, kv := range strings.Split(v, sep) {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("%q in --set-env-vars has no =", kv)
		}
		m[k] = val
	}
	return m
}

// flags collects a command's --name=value flags; repeated flags keep every
// value.
func flags(args []string) map[string][]string {
	m := map[string][]string{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "--") {
			m[k] = append(m[k], v)
		} else if strings.HasPrefix(a, "--") {
			m[a] = append(m[a], "")
		}
	}
	return m
}

func TestDeployScriptKnowsEveryVariable(t *testing.T) {
	out, _, err := runDeploy(t, nil, "--list-vars")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out)
	want := EnvVars()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("deploy.sh passes on %v\nthe function reads  %v", got, want)
	}

	// The variables it neither passes on nor warns about are the
	// registry's test-only ones.
	script, err := os.ReadFile(deployScript)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^NOT_FUNCTION_VARS=\(([^)]*)\)$`).FindStringSubmatch(string(script))
	if m == nil {
		t.Fatal("deploy.sh has no NOT_FUNCTION_VARS=(...) line")
	}
	notFunction := strings.Fields(strings.ReplaceAll(m[1], "'", ""))
	if !slices.Equal(notFunction, envconfig.TestOnly) {
		t.Errorf("deploy.sh's NOT_FUNCTION_VARS %q, the registry's TestOnly %q", notFunction, envconfig.TestOnly)
	}
}

// TestDeployDryRun stages the function, builds it, and checks the gcloud
// commands it would run, with every variable the function reads set.
func TestDeployDryRun(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	for _, name := range EnvVars() {
		env[name] = "" // each must be set below
	}
	set := map[string]string{
		"THUMBPIPE_SIZES":             "200x200,800x600:fill",
		"THUMBPIPE_FORMAT":            "jpeg",
		"THUMBPIPE_JPEG_QUALITY":      "80",
		"THUMBPIPE_WEBP_QUALITY":      "70",
		"THUMBPIPE_WEBP_LOSSLESS":     "true",
		"THUMBPIPE_AVIF_QUALITY":      "45",
		"THUMBPIPE_BACKGROUND":        "#203040",
		"THUMBPIPE_COLOR":             "keep",
		"THUMBPIPE_METADATA":          "copyright",
		"THUMBPIPE_OUTPUT_PREFIX":     "thumbs/",
		"THUMBPIPE_OUTPUT_BUCKET":     "gs://photos-thumbs",
		"THUMBPIPE_INCLUDE":           "uploads/**,incoming/*.jpg",
		"THUMBPIPE_EXCLUDE":           "**/private/**",
		"THUMBPIPE_MAX_BYTES":         "20MiB",
		"THUMBPIPE_MAX_PIXELS":        "40000000",
		"THUMBPIPE_MAX_DECODE_MEMORY": "200MiB",
		"THUMBPIPE_CACHE_CONTROL":     "public, max-age=86400",
		EnvMaxEventAge:                "30m",
		"THUMBPIPE_BUCKETS":           "photos",
		"THUMBPIPE_EVENTS_TOPIC":      "gcppubsub://projects/my-project/topics/thumbnail-events",
	}
	for k, v := range set {
		if _, ok := env[k]; !ok {
			t.Fatalf("the test sets %s, which the function does not read", k)
		}
		env[k] = v
	}
	for k, v := range env {
		if v == "" {
			t.Fatalf("the test gives %s no value: add it to the table", k)
		}
	}
	// The values make a valid configuration: the deployed function starts.
	if _, err := loadSettings(func(k string) string { return env[k] }); err != nil {
		t.Fatalf("test values: %v", err)
	}
	env["THUMBPIPE_TOOLS_DIR"] = t.TempDir() // tooling, not the function's: not passed, no warning
	env["THUMBPIPE_SOAK_N"] = "5"            // a test's, matched by a pattern: not passed, no warning
	env["GCF_PROJECT"] = "my-project"

	stage := filepath.Join(t.TempDir(), "stage")
	stdout, stderr, err := runDeploy(t, env, "--dry-run", "--bucket", "photos", "--region=europe-west1",
		"--trigger-location", "eu", "--stage-dir", stage, "--memory", "2Gi", "--max-instances", "5", "--events-topic", "thumbnail-events")
	if err != nil {
		t.Fatalf("deploy.sh: %v\n%s", err, stderr)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("unexpected warning:\n%s", stderr)
	}

	cmds := printedCommands(t, stdout)
	// The output bucket (THUMBPIPE_OUTPUT_BUCKET) is created if missing.
	if len(cmds) == 0 || !slices.Equal(cmds[0][:5], []string{"gcloud", "storage", "buckets", "create", "gs://photos-thumbs"}) {
		t.Fatalf("the first command does not create the output bucket:\n%s", stdout)
	}
	// So is the events topic.
	if len(cmds) < 2 || !slices.Equal(cmds[1], []string{"gcloud", "pubsub", "topics", "create", "thumbnail-events", "--project=my-project"}) {
		t.Fatalf("the second command does not create the events topic:\n%s", stdout)
	}
	cmds = cmds[2:]
	if len(cmds) != 2 {
		t.Fatalf("%d commands, want the upload and the delete function:\n%s", len(cmds), stdout)
	}
	for i, want := range []struct{ name, typ string }{{"thumbpipe", TypeFinalized}, {"thumbpipe-delete", TypeDeleted}} {
		args := cmds[i]
		if !slices.Equal(args[:4], []string{"gcloud", "functions", "deploy", want.name}) {
			t.Errorf("command %d starts %q", i, args[:4])
		}
		f := flags(args)
		for flag, v := range map[string]string{
			"--runtime":          "go127",
			"--entry-point":      EntryPoint,
			"--source":           stage,
			"--region":           "europe-west1",
			"--project":          "my-project",
			"--memory":           "2Gi",
			"--timeout":          "120s",
			"--max-instances":    "5",
			"--trigger-location": "eu",
		} {
			if got := f[flag]; len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s = %q, want %q", want.name, flag, got, v)
			}
		}
		for _, flag := range []string{"--gen2", "--retry"} {
			if _, ok := f[flag]; !ok {
				t.Errorf("%s: no %s", want.name, flag)
			}
		}
		filters := f["--trigger-event-filters"]
		slices.Sort(filters)
		if !slices.Equal(filters, []string{"bucket=photos", "type=" + want.typ}) {
			t.Errorf("%s: trigger filters %q", want.name, filters)
		}
		if len(f["--set-env-vars"]) != 1 {
			t.Fatalf("%s: --set-env-vars %q", want.name, f["--set-env-vars"])
		}
		got := envFlag(t, f["--set-env-vars"][0])
		for _, name := range EnvVars() {
			if got[name] != env[name] {
				t.Errorf("%s: %s = %q, want %q", want.name, name, got[name], env[name])
			}
		}
		if len(got) != len(EnvVars()) {
			t.Errorf("%s: passes %d variables, want %d: %v", want.name, len(got), len(EnvVars()), got)
		}
	}

	// The staged source: a root package importing the function, the module
	// files, the packages it links, and no tests or fixtures.
	for _, f := range []string{"go.mod", "go.sum", "function.go", "functions/gcsfunc/gcsfunc.go", "functions/gcsfunc/event.go", "pipeline/thumbnailer.go"} {
		if _, err := os.Stat(filepath.Join(stage, f)); err != nil {
			t.Errorf("staged source lacks %s", f)
		}
	}
	err = filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		if strings.HasSuffix(p, "_test.go") || d.Name() == "testdata" || strings.HasPrefix(rel, "cmd") || strings.HasPrefix(rel, "deploy") {
			t.Errorf("staged source holds %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The script built it; check the root package is what the buildpack
	// wants: package at the module path, linking the function and framework.
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".")
	cmd.Dir = stage
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list in the staged source: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, want := range []string{"github.com/thumbpipe/thumbpipe", "github.com/thumbpipe/thumbpipe/functions/gcsfunc", "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"} {
		if !slices.Contains(deps, want) {
			t.Errorf("the staged root package does not link %s", want)
		}
	}
	root, err := os.ReadFile(filepath.Join(stage, "function.go"))
	if err != nil || !bytes.Contains(root, []byte("package thumbpipe")) {
		t.Errorf("function.go: %v\n%s", err, root)
	}
}

// TestDeployDryRunDefaults checks the defaults, then runs the staged source
// the way Cloud Run does: a main like the buildpack's serves the root
// package's function on PORT with FUNCTION_TARGET set.
func TestDeployDryRunDefaults(t *testing.T) {
	t.Parallel()
	stage := filepath.Join(t.TempDir(), "stage")
	stdout, stderr, err := runDeploy(t, map[string]string{"GCF_BUCKET": "photos", "THUMBPIPE_SIZE": "64x64"},
		"--dry-run", "--no-deletes", "--stage-dir", stage)
	if err != nil {
		t.Fatalf("deploy.sh: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "THUMBPIPE_SIZE is set but the function does not read it") {
		t.Errorf("a misspelt variable went unnoticed:\n%s", stderr)
	}
	cmds := printedCommands(t, stdout)
	// Without --trigger-location the bucket's location is looked up; the
	// thumbnails' own bucket is created there.
	if len(cmds) != 3 || cmds[0][1] != "storage" || cmds[2][3] != "thumbpipe" {
		t.Fatalf("commands:\n%s", stdout)
	}
	if want := []string{"gcloud", "storage", "buckets", "create", "gs://photos-thumbnails", "--location=BUCKET_LOCATION"}; !slices.Equal(cmds[1][:6], want) {
		t.Errorf("output bucket: %q, want %q", cmds[1], want)
	}
	f := flags(cmds[2])
	// Only the output bucket is set: a trigger on "photos" never sees a thumbnail.
	if f["--set-env-vars"] == nil || !maps.Equal(envFlag(t, f["--set-env-vars"][0]), map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "gs://photos-thumbnails"}) {
		t.Errorf("with no variables set the function gets the output bucket alone: %q", cmds[2])
	}
	if f["--memory"][0] != "1Gi" || f["--region"][0] != "us-central1" || f["--project"] != nil {
		t.Errorf("defaults: %q", cmds[2])
	}

	bin := buildStagedFunction(t, stage)
	g := testserver.StartGCS(t)
	g.CreateBucket(t, "photos")
	b := g.OpenBucket(t, "photos")
	ctx := context.Background()
	const key = "uploads/dog.jpg"
	if err := b.WriteAll(ctx, key, pixeltest.JPEG(pixeltest.Photo(320, 240, 9), 85), nil); err != nil {
		t.Fatal(err)
	}
	fnURL, logs := serveStaged(t, bin, "STORAGE_EMULATOR_HOST="+g.EmulatorHost(), "THUMBPIPE_SIZES=64x64:fill")
	code, body := post(t, fnURL, false, TypeFinalized, "photos", key, objectResource(t, g, "photos", key))
	if code != http.StatusOK {
		t.Fatalf("status %d: %s\n%s", code, body, logs)
	}
	pipelinetest.CheckVariant(t, b, "thumbnails/64x64/"+key, key, "image/jpeg", 64, 64, true)
	if !strings.Contains(logs.String(), `"severity":"INFO","message":"done"`) {
		t.Errorf("no structured log line for the event:\n%s", logs)
	}

	// An invalid configuration stops the function at start, saying why.
	cmd := exec.Command(bin)
	cmd.Env = append(cleanEnv(), "PORT=1", "FUNCTION_TARGET="+EntryPoint, "THUMBPIPE_SIZES=big")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("with THUMBPIPE_SIZES=big the function: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"severity":"ERROR","message":"invalid configuration"`) || !strings.Contains(string(out), "THUMBPIPE_SIZES") {
		t.Errorf("start-up failure does not say why:\n%s", out)
	}
}

// buildpackMain is what Google's Go buildpack generates to serve a function
// package (with the host pinned to loopback for tests).
const buildpackMain = `package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/thumbpipe/thumbpipe"
)

func main() {
	if err := funcframework.StartHostPort("127.0.0.1", os.Getenv("PORT")); err != nil {
		log.Fatal(err)
	}
}
`

// buildStagedFunction builds the staged source into a server binary and
// returns its path. The main package is written into the staged directory
// for the build and removed after it.
func buildStagedFunction(t *testing.T, stage string) string {
	t.Helper()
	dir := filepath.Join(stage, "buildpackmain")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(buildpackMain), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "function")
	cmd := exec.Command("go", "build", "-mod=readonly", "-o", bin, "./buildpackmain")
	cmd.Dir = stage
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the staged function: %v\n%s", err, out)
	}
	return bin
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "THUMBPIPE_") && !strings.HasPrefix(kv, "STORAGE_EMULATOR_HOST=") && !strings.HasPrefix(kv, "FUNCTION_TARGET=") {
			env = append(env, kv)
		}
	}
	return env
}

// serveStaged runs the function binary on a loopback port until the test
// ends and returns its URL and its output.
func serveStaged(t *testing.T, bin string, env ...string) (string, *testserver.Buffer) {
	t.Helper()
	port := strconv.Itoa(testserver.FreePort(t))
	logs := &testserver.Buffer{}
	cmd := exec.Command(bin)
	cmd.Env = append(append(cleanEnv(), "PORT="+port, "FUNCTION_TARGET="+EntryPoint), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return "http://127.0.0.1:" + port + "/", logs
		}
		select {
		case <-done:
			t.Fatalf("the function exited:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the function did not listen within 20s:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeployOutputBucket checks where thumbnails go: a bucket of their own
// unless --same-bucket accepts a billed invocation per thumbnail.
func TestDeployOutputBucket(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		create string // the bucket created, "" for none
		out    string // THUMBPIPE_OUTPUT_BUCKET, "" for unset
		warn   string
	}{
		{"flag", nil, []string{"--output-bucket", "thumbs"}, "gs://thumbs", "gs://thumbs", ""},
		{"environment", map[string]string{"GCF_OUTPUT_BUCKET": "thumbs"}, nil, "gs://thumbs", "gs://thumbs", ""},
		{"pipeline variable", map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "gs://thumbs"}, nil, "gs://thumbs", "gs://thumbs", ""},
		{"same bucket", nil, []string{"--same-bucket"}, "", "", "billed"},
		{"same bucket from the environment", map[string]string{"GCF_SAME_BUCKET": "1"}, nil, "", "", "billed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--dry-run", "--no-deletes", "--bucket", "photos", "--trigger-location", "eu",
				"--stage-dir", filepath.Join(t.TempDir(), "stage")}, tc.args...)
			stdout, stderr, err := runDeploy(t, tc.env, args...)
			if err != nil {
				t.Fatalf("deploy.sh: %v\n%s", err, stderr)
			}
			if tc.warn == "" && strings.Contains(stderr, "warning") || tc.warn != "" && !strings.Contains(stderr, tc.warn) {
				t.Errorf("stderr, want a warning only with %q:\n%s", tc.warn, stderr)
			}
			cmds := printedCommands(t, stdout)
			var created []string
			for _, c := range cmds {
				if slices.Equal(c[:4], []string{"gcloud", "storage", "buckets", "create"}) {
					created = append(created, c[4])
					if f := flags(c); !slices.Equal(f["--location"], []string{"eu"}) {
						t.Errorf("output bucket not created in the source's location: %q", c)
					}
				}
			}
			if want := []string{tc.create}; tc.create == "" && created != nil || tc.create != "" && !slices.Equal(created, want) {
				t.Errorf("buckets created %q, want %q", created, tc.create)
			}
			f := flags(cmds[len(cmds)-1])
			filters := f["--trigger-event-filters"]
			if !slices.Contains(filters, "bucket=photos") {
				t.Errorf("trigger filters %q", filters)
			}
			env := map[string]string{}
			if v := f["--set-env-vars"]; v != nil {
				env = envFlag(t, v[0])
			}
			if env["THUMBPIPE_OUTPUT_BUCKET"] != tc.out {
				t.Errorf("THUMBPIPE_OUTPUT_BUCKET = %q, want %q", env["THUMBPIPE_OUTPUT_BUCKET"], tc.out)
			}
		})
	}
}

func TestDeployRefuses(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no bucket", nil, []string{"--dry-run"}, "--bucket"},
		{"gs URL for a bucket", nil, []string{"--dry-run", "--bucket", "gs://photos"}, "without gs://"},
		{"unknown option", nil, []string{"--bucket", "b", "--dryrun"}, "unknown option --dryrun"},
		{"missing value", nil, []string{"--bucket"}, "--bucket needs a value"},
		{"bad GCF_DELETES", map[string]string{"GCF_DELETES": "yes"}, []string{"--bucket", "b", "--dry-run"}, "GCF_DELETES"},
		{"output bucket is the source", nil, []string{"--bucket", "b", "--output-bucket", "b", "--dry-run"}, "--same-bucket"},
		{"output variable is the source", map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "gs://b"}, []string{"--bucket", "b", "--dry-run"}, "--same-bucket"},
		{"same bucket and an output bucket", nil, []string{"--bucket", "b", "--output-bucket", "t", "--same-bucket", "--dry-run"}, "exclude each other"},
		{"flag and variable disagree", map[string]string{"THUMBPIPE_OUTPUT_BUCKET": "gs://t"}, []string{"--bucket", "b", "--output-bucket", "u", "--dry-run"}, "disagree"},
		{"gs URL for the output bucket", nil, []string{"--bucket", "b", "--output-bucket", "gs://t", "--dry-run"}, "without gs://"},
		{"events topic as a path", nil, []string{"--bucket", "b", "--project", "p", "--events-topic", "projects/p/topics/t", "--dry-run"}, "topic name"},
		{"events topic without a project", nil, []string{"--bucket", "b", "--events-topic", "events", "--dry-run"}, "--project"},
		{"events flag and variable disagree", map[string]string{"THUMBPIPE_EVENTS_TOPIC": "mem://events"},
			[]string{"--bucket", "b", "--project", "p", "--events-topic", "events", "--dry-run"}, "disagree"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runDeploy(t, tc.env, tc.args...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("err %v, want exit status 2\n%s%s", err, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("printed commands: %s", stdout)
			}
		})
	}
}
