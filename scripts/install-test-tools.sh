#!/usr/bin/env bash
# Installs the pinned server binaries that the integration tests run as
# separate processes (never linked into thumbpipe):
#
#   minio            real S3-compatible server (AGPL; run as a process only)
#   aws-lambda-rie   AWS Lambda runtime interface emulator
#   fake-gcs-server  Google Cloud Storage emulator
#   nats-server      NATS with JetStream (queue worker and completion events)
#
# Binaries go to ${THUMBPIPE_TOOLS_DIR:-$HOME/.cache/thumbpipe/tools}. Next to
# each binary a <name>.version stamp records "<module>@<version>"; a tool is
# rebuilt only when the binary is missing or its stamp differs, so re-running
# this script is cheap. Builds run in parallel (MinIO takes several minutes).
#
# Usage: install-test-tools.sh [name...]   (default: all tools)
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # the patched toolchain every build uses (see Makefile)

TOOLS_DIR="${THUMBPIPE_TOOLS_DIR:-$HOME/.cache/thumbpipe/tools}"

# name|package to go install|version
TOOLS=(
	"minio|github.com/minio/minio|v0.0.0-20260212201848-7aac2a2c5b7c"
	"aws-lambda-rie|github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie|v0.0.0-20261030222936-bef5c4ba774d"
	"fake-gcs-server|github.com/fsouza/fake-gcs-server|v1.56.1"
	"nats-server|github.com/nats-io/nats-server/v2|v2.15.3"
)

log() { printf 'install-test-tools: %s\n' "$*"; }

if ! command -v go >/dev/null 2>&1; then
	log "go is not on PATH" >&2
	exit 1
fi

mkdir -p "$TOOLS_DIR"
TOOLS_DIR="$(cd "$TOOLS_DIR" && pwd)"

# Serialise concurrent runs (e.g. two test jobs) on the same tools dir.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$TOOLS_DIR/.install.lock"
	flock 9
	# Leftovers of an interrupted run (no other run can be building now).
	rm -rf "$TOOLS_DIR"/.build-*
fi

stamp_of() { # name -> "<pkg>@<version>" or empty
	cat "$TOOLS_DIR/$1.version" 2>/dev/null || true
}

# build NAME PKG VERSION LOG: go install into a private dir, then move the
# binary and its stamp into place so a half-built binary is never visible.
build() {
	local name=$1 pkg=$2 version=$3 logfile=$4
	local tmp start=$SECONDS
	tmp="$(mktemp -d "$TOOLS_DIR/.build-$name.XXXXXX")"
	if ! GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "$pkg@$version" >"$logfile" 2>&1; then
		rm -rf "$tmp"
		return 1
	fi
	if [[ ! -x "$tmp/$name" ]]; then
		echo "go install produced no $name binary" >>"$logfile"
		rm -rf "$tmp"
		return 1
	fi
	# Binary first, stamp last: a stamp never vouches for a missing binary.
	rm -f "$TOOLS_DIR/$name.version"
	mv -f "$tmp/$name" "$TOOLS_DIR/$name" || return 1
	printf '%s@%s\n' "$pkg" "$version" >"$TOOLS_DIR/$name.version" || return 1
	rm -rf "$tmp"
	echo $((SECONDS - start)) >"$logfile.secs"
}

declare -A pids=()
logdir="$(mktemp -d)"
trap 'rm -rf "$logdir"' EXIT

wanted() { # name -> true if selected on the command line (or no selection)
	local n
	(($# == 1)) && return 0
	for n in "${@:2}"; do [[ $n == "$1" ]] && return 0; done
	return 1
}

for arg in "$@"; do
	known=0
	for entry in "${TOOLS[@]}"; do [[ ${entry%%|*} == "$arg" ]] && known=1; done
	if ((!known)); then
		log "unknown tool: $arg" >&2
		exit 2
	fi
done

for entry in "${TOOLS[@]}"; do
	IFS='|' read -r name pkg version <<<"$entry"
	wanted "$name" "$@" || continue
	want="$pkg@$version"
	if [[ -x "$TOOLS_DIR/$name" && "$(stamp_of "$name")" == "$want" ]]; then
		log "$name: up to date ($version)"
		continue
	fi
	have="$(stamp_of "$name")"
	if [[ -n "$have" ]]; then
		log "$name: stamp is ${have##*@}, installing $version"
	else
		log "$name: installing $want"
	fi
	build "$name" "$pkg" "$version" "$logdir/$name.log" &
	pids[$name]=$!
done

failed=0
for name in "${!pids[@]}"; do
	if wait "${pids[$name]}"; then
		log "$name: installed in $(cat "$logdir/$name.log.secs")s -> $TOOLS_DIR/$name"
	else
		failed=1
		log "$name: FAILED; last lines of go install output:" >&2
		tail -n 40 "$logdir/$name.log" >&2 || true
	fi
done

if ((failed)); then
	exit 1
fi
log "all tools present in $TOOLS_DIR"
