#!/usr/bin/env bash
# bench.sh is `make bench`: thumbpipe against the naive image/jpeg + imaging
# path and vipsthumbnail, side by side (see cmd/thumbbench).
#   scripts/bench.sh [THUMBPIPE_BINARY] [thumbbench flags...]
# The binary defaults to bin/thumbpipe (make build). vipsthumbnail
# (libvips-tools), jpegtran (libjpeg-turbo-progs, for the progressive
# input) and cwebp (webp, for the WebP input) are installed with apt-get when missing and this runs as root;
# otherwise what needs them is skipped. Inputs are cached in
# ${THUMBPIPE_BENCH_DIR:-$HOME/.cache/thumbpipe/bench}.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # the patched toolchain every build uses (see Makefile)
cd "$(dirname "$0")/.."
GO=${GO:-go}
bin=bin/thumbpipe
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	bin=$1
	shift
fi
dir=${THUMBPIPE_BENCH_DIR:-$HOME/.cache/thumbpipe/bench}

missing=()
command -v vipsthumbnail >/dev/null || missing+=(libvips-tools)
command -v jpegtran >/dev/null || missing+=(libjpeg-turbo-progs)
command -v cwebp >/dev/null || missing+=(webp)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "installing ${missing[*]}"
		apt-get install -y --no-install-recommends "${missing[@]}" ||
			{ apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } ||
			echo "could not install ${missing[*]}: what needs them is skipped"
	else
		echo "${missing[*]} missing (not root or no apt-get): vips, the progressive input or peak RSS are skipped"
	fi
fi

mkdir -p "$dir/bin"
$GO build -tags "${BUILD_TAGS:-nodynamic}" -trimpath -o "$dir/bin/thumbbench" ./cmd/thumbbench
exec "$dir/bin/thumbbench" -dir "$dir" -thumbpipe "$bin" "$@"
