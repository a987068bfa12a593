#!/usr/bin/env bash
# check-deps.sh keeps the core free of cloud SDKs, blob drivers and function
# frameworks: it compares the non-standard packages that ./pipeline/...
# depends on with the checked-in allow-list pipeline/deps.allow. It also
# checks that the release builds (tags from the Makefile) leave out purego
# (the nodynamic tag: HEIC and AVIF decode in WebAssembly, no host library) and
# golang.org/x/net/trace: its html/template stops the linker from removing
# unused methods, which costs ~14 MB of binary and ~5 MB of resident memory.
#   scripts/check-deps.sh           check (CI)
#   scripts/check-deps.sh --update  rewrite the allow-list after a reviewed change
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # the patched toolchain every build uses (see Makefile)
cd "$(dirname "$0")/.."
allow=pipeline/deps.allow
current=$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./pipeline/... | sort -u | sed '/^$/d')

forbidden=$(grep -E 'aws|lambda|functions-framework|cloudevents|minio|cloud.google.com/go/storage|gocloud.dev/blob/(s3|gcs|file|mem|azure)blob' <<<"$current" || true)
if [ -n "$forbidden" ]; then
	echo "pipeline/ must not depend on a cloud SDK, blob driver or function framework; it does on:" >&2
	sed 's/^/  /' <<<"$forbidden" >&2
	exit 1
fi
if [ "${1:-}" = "--update" ]; then
	printf '%s\n' "$current" >"$allow"
	echo "wrote $allow ($(wc -l <"$allow") packages)"
	exit 0
fi
extra=$(comm -13 "$allow" <(printf '%s\n' "$current"))
if [ -n "$extra" ]; then
	echo "pipeline/ depends on packages not in $allow:" >&2
	sed 's/^/  /' <<<"$extra" >&2
	echo "If that is intended, review them and run scripts/check-deps.sh --update." >&2
	exit 1
fi
for build in "${BUILD_TAGS:-disable_grpc_modules,grpcnotrace,nodynamic} ./cmd/thumbpipe" \
	"${LAMBDA_TAGS:-lambda.norpc,grpcnotrace,nodynamic} ./functions/s3lambda"; do
	read -r tags pkg <<<"$build"
	deps=$(go list -tags "$tags" -deps "$pkg")
	if grep -qx 'golang.org/x/net/trace' <<<"$deps"; then
		echo "$pkg built with -tags $tags links golang.org/x/net/trace (see the Makefile's BUILD_TAGS)" >&2
		exit 1
	fi
	# Without nodynamic the HEIC and AVIF decoders load host libraries
	# through purego instead of running their WebAssembly builds.
	if grep -qx 'github.com/ebitengine/purego' <<<"$deps"; then
		echo "$pkg built with -tags $tags links github.com/ebitengine/purego (the nodynamic tag is missing)" >&2
		exit 1
	fi
done
echo "pipeline dependencies: $(wc -l <<<"$current") packages, all allowed"
