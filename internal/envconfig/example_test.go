package envconfig_test

import (
	"flag"
	"fmt"

	"github.com/thumbpipe/thumbpipe/internal/envconfig"
)

// A flag given on the command line wins, even empty; then the environment;
// then the default.
func ExampleFlags() {
	environment := map[string]string{"THUMBPIPE_SIZES": "64x64", "THUMBPIPE_BACKFILL_PREFIX": "uploads/"}
	fs := flag.NewFlagSet("backfill", flag.ContinueOnError)
	getenv := envconfig.Flags(fs, envconfig.Backfill, func(k string) string { return environment[k] })
	if err := fs.Parse([]string{"--prefix=", "--jpeg-quality", "70"}); err != nil {
		panic(err)
	}
	s, err := envconfig.Read(envconfig.Backfill, getenv)
	if err != nil {
		panic(err)
	}
	fmt.Printf("sizes %v (environment), quality %d (flag), prefix %q (flag given empty), format %s (default)\n",
		s.Pipeline.Sizes, s.Pipeline.JPEGQuality, s.BackfillPrefix, s.Pipeline.Format)
	// Output: sizes [64x64:fit] (environment), quality 70 (flag), prefix "" (flag given empty), format auto (default)
}

// Every program warns at start about the THUMBPIPE_* variables it does not
// read.
func ExampleUnknown() {
	for _, w := range envconfig.Unknown(envconfig.S3Lambda, []string{"THUMBPIPE_SIZE=64x64", "THUMBPIPE_LISTEN=:8080", "THUMBPIPE_TOOLS_DIR=/tmp"}) {
		fmt.Println(w)
	}
	// Output:
	// THUMBPIPE_LISTEN is a setting of serve, worker, not of s3lambda; it is ignored here
	// THUMBPIPE_SIZE is not a thumbpipe setting and is ignored; did you mean THUMBPIPE_SIZES?
}
