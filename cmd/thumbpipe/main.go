// Command thumbpipe makes thumbnails of the images in a bucket: it processes
// keys, backfills whole buckets, watches a local folder, serves the MinIO
// webhook, and consumes bucket notifications from a queue.
//
// Buckets are gocloud URLs: file:///dir (or a plain directory path),
// mem://, s3://name (MinIO with ?endpoint=...&use_path_style=true) and
// gs://name. Every setting is a THUMBPIPE_* environment variable of
// internal/envconfig, mirrored by a flag: a flag given on the command line
// wins, even empty; then the variable; then the default.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/thumbpipe/thumbpipe/internal/envconfig"

	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"
	_ "gocloud.dev/pubsub/awssnssqs"
	_ "gocloud.dev/pubsub/gcppubsub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runEnv(ctx, os.Args[1:], env{getenv: os.Getenv, environ: os.Environ(), stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode reports err on stderr unless it is already reported (errQuiet)
// or is a request for help, whose usage the flag set has printed, and
// returns the status to exit with: 0, 2 for usage errors, else 1.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if !errors.Is(err, errQuiet) {
		fmt.Fprintln(stderr, "thumbpipe:", err)
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// env is what a command reads from its surroundings: the environment and
// where it writes.
type env struct {
	getenv func(string) string
	// environ is the whole environment ("NAME=value"), searched for
	// THUMBPIPE_* variables the command does not read.
	environ        []string
	stdout, stderr io.Writer
	// warnings are the environment's, for a command that logs them itself
	// (see logsWarnings).
	warnings []string
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, e env) error
}

// commands lists the subcommands by name; each lives in its own file.
var commands = map[string]command{
	"process":     {"make the thumbnails of the given keys", runProcess},
	"backfill":    {"make the thumbnails of every object in a bucket", runBackfill},
	"watch":       {"watch a folder (or bucket) and keep its thumbnails current", runWatch},
	"serve":       {"serve the MinIO bucket-notification webhook", runServe},
	"worker":      {"consume bucket notifications from NATS JetStream, SQS or Pub/Sub", runWorker},
	"minio-setup": {"create MinIO buckets and point their notifications at the webhook", runMinIOSetup},
	"manifest":    {"print the manifest of a source: its thumbnails, sizes and placeholder (JSON)", runManifest},
	"failures":    {"list the sources that failed permanently, with their reasons", runFailures},
	"prune":       {"remove thumbnails and manifests whose source is gone or no longer lists them", runPrune},
}

// programs says which settings each command reads.
var programs = map[string]envconfig.Program{
	"process":     envconfig.Process,
	"backfill":    envconfig.Backfill,
	"watch":       envconfig.Watch,
	"serve":       envconfig.Serve,
	"worker":      envconfig.Worker,
	"minio-setup": envconfig.MinIOSetup,
	"manifest":    envconfig.Manifest,
	"failures":    envconfig.Failures,
	"prune":       envconfig.Prune,
}

// logsWarnings lists the commands that log the environment's warnings
// with their own logger; the others get them on stderr before they start.
var logsWarnings = map[string]bool{"serve": true, "worker": true, "minio-setup": true}

var (
	errUsage = errors.New("usage")
	// errQuiet marks an error the command has already reported.
	errQuiet = errors.New("already reported")
)

// run is main without the process: tests drive it end to end.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runEnv(ctx, args, env{getenv: getenv, stdout: stdout, stderr: stderr})
}

// runEnv is run with the whole environment, whose unknown THUMBPIPE_*
// variables are warned about.
func runEnv(ctx context.Context, args []string, e env) error {
	stderr := e.stderr
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	cmd, ok := commands[args[0]]
	if !ok {
		usage(stderr)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	e.warnings = envconfig.Unknown(programs[args[0]], e.environ)
	if !logsWarnings[args[0]] {
		for _, w := range e.warnings {
			fmt.Fprintln(stderr, "thumbpipe: warning:", w)
		}
		e.warnings = nil
	}
	return cmd.run(ctx, args[1:], e)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "thumbpipe makes thumbnails of the images in a bucket.\n\nUsage: thumbpipe COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'thumbpipe COMMAND --help' for a command's flags.")
}

// newFlags returns a flag set for a subcommand that prints its usage to
// e.stderr.
func newFlags(name, synopsis string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: thumbpipe %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning -h into flag.ErrHelp for run's caller.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// bucketURL turns the --bucket value into a gocloud URL: a plain directory
// path becomes a file:// URL.
func bucketURL(v string) (string, error) {
	if v == "" {
		return "", fmt.Errorf("%w: --bucket (or THUMBPIPE_BUCKET) is required, e.g. --bucket ./photos or s3://name", errUsage)
	}
	if strings.Contains(v, "://") {
		return v, nil
	}
	return dirURL(v)
}
