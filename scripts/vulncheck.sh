#!/usr/bin/env bash
# vulncheck.sh runs govulncheck on the module against a pinned, offline copy
# of the Go vulnerability database, so that CI needs nothing but the Go
# module proxy and gives the same answer on every run.
#
#   scripts/vulncheck.sh            scan ./... (CI, make vulncheck)
#   scripts/vulncheck.sh ./cmd/...  scan some packages
#
# The database is the module golang.org/x/vulndb at VULNDB_VERSION: its
# data/osv/*.json are indexed once by its own cmd/indexdb into the layout
# `govulncheck -db file://...` reads (index/db.json, index/modules.json,
# index/vulns.json, ID/<id>.json, each also gzipped). govulncheck and indexdb
# are installed at pinned versions; everything is kept under
# ${THUMBPIPE_TOOLS_DIR:-$HOME/.cache/thumbpipe/tools} and rebuilt only when a
# version changes.
#
# The verdict: the scan fails when code in the module calls a vulnerable
# symbol of a dependency (what govulncheck itself fails on). Upgrade the
# module (`go get mod@fixed`) to fix it. Called vulnerabilities in the
# standard library fail it too: the build pins a patched toolchain
# (GOTOOLCHAIN in the Makefile); move that pin forward to fix them
# (VULNCHECK_STDLIB=report lists them without failing).
# Vulnerabilities in dependencies that the code imports or requires but
# does not call are listed as notes. The bump procedure: pick a newer
# golang.org/x/vulndb pseudo-version (go list -m -versions does not list
# them; `go mod download -json golang.org/x/vulndb@master` names the newest)
# and set VULNDB_VERSION.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # the patched toolchain every build uses (see Makefile)
cd "$(dirname "$0")/.."

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
GOVULNCHECK_VERSION=v1.9.0

TOOLS_DIR="${THUMBPIPE_TOOLS_DIR:-$HOME/.cache/thumbpipe/tools}"
mkdir -p "$TOOLS_DIR"
TOOLS_DIR="$(cd "$TOOLS_DIR" && pwd)"
DB_DIR="$TOOLS_DIR/vulndb-$VULNDB_VERSION"

log() { printf 'vulncheck: %s\n' "$*" >&2; }

if command -v flock >/dev/null 2>&1; then
	exec 9>"$TOOLS_DIR/.vulncheck.lock"
	flock 9
fi

# install NAME PKG VERSION: go install into the tools dir, with a version
# stamp beside the binary, unless the stamp already matches.
install() {
	local name=$1 pkg=$2 version=$3 tmp
	if [[ -x "$TOOLS_DIR/$name" && "$(cat "$TOOLS_DIR/$name.version" 2>/dev/null)" == "$pkg@$version" ]]; then
		return
	fi
	log "installing $pkg@$version"
	tmp="$(mktemp -d "$TOOLS_DIR/.build-$name.XXXXXX")"
	if ! GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "$pkg@$version"; then
		rm -rf "$tmp"
		log "go install $pkg@$version failed"
		exit 1
	fi
	rm -f "$TOOLS_DIR/$name.version"
	mv -f "$tmp/$name" "$TOOLS_DIR/$name"
	printf '%s@%s\n' "$pkg" "$version" >"$TOOLS_DIR/$name.version"
	rm -rf "$tmp"
}

install govulncheck golang.org/x/vuln/cmd/govulncheck "$GOVULNCHECK_VERSION"

if [[ ! -f "$DB_DIR/index/db.json" ]]; then
	log "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
	src="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
	if [[ -z "$src" || ! -d "$src/data/osv" ]]; then
		log "go mod download of golang.org/x/vulndb@$VULNDB_VERSION gave no data/osv directory"
		exit 1
	fi
	install indexdb golang.org/x/vulndb/cmd/indexdb "$VULNDB_VERSION"
	tmp="$(mktemp -d "$TOOLS_DIR/.vulndb.XXXXXX")"
	if ! "$TOOLS_DIR/indexdb" -vulns "$src/data/osv" -out "$tmp/db"; then
		rm -rf "$tmp"
		log "indexdb failed"
		exit 1
	fi
	rm -rf "$DB_DIR"
	mv "$tmp/db" "$DB_DIR"
	rm -rf "$tmp"
	log "database: $(find "$DB_DIR/ID" -name '*.json' | wc -l) entries in $DB_DIR"
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$TOOLS_DIR/govulncheck" -db "file://$DB_DIR" -format json "${@:-./...}" >"$out"
go run scripts/vulncheck-verdict.go -stdlib "${VULNCHECK_STDLIB:-fail}" <"$out"
