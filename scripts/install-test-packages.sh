#!/usr/bin/env bash
# Installs the Debian packages whose tools and files the tests use as
# references, once: a package already installed is left alone, and nothing
# is done (not even apt-get update) when every package is present.
#
#   liblcms2-utils     transicc: lcms, the reference colour conversions
#   icc-profiles-free  sRGB, Adobe RGB compatible and gray ICC profiles
#   libgs-common       Ghostscript's ICC profiles, among them CMYK LUT ones
#   libvips-tools      vips: lcms conversions of whole images, and CMYK JPEGs
#   libtiff-tools      tiffcp: TIFFs in every compression and layout libtiff writes
#   libimage-exiftool-perl  exiftool: writes metadata fixtures, reads thumbnails' back
#   webp               cwebp, dwebp, img2webp, gif2webp, webpmux: WebP fixtures
#                      and libwebp's own decoding, the reference
#   libheif-examples   heif-enc, heif-convert: HEIC fixtures and their reference decodes
#   libavif-bin        avifenc, avifdec: AVIF fixtures and their reference decodes
#
# Installing needs root; run as another user with a package missing, the
# script says what to install and fails. Tests whose reference is missing
# fail when CI is set and are skipped otherwise.
#
# Usage: install-test-packages.sh
set -euo pipefail

PACKAGES=(
	liblcms2-utils
	icc-profiles-free
	libgs-common
	libvips-tools
	libimage-exiftool-perl
	webp
	libtiff-tools
	libheif-examples
	libavif-bin
)

log() { printf 'install-test-packages: %s\n' "$*"; }

installed() { # package -> true if dpkg has it installed
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == installed ]]
}

if ! command -v dpkg-query >/dev/null 2>&1; then
	log "not a Debian system (no dpkg-query); install the equivalents of: ${PACKAGES[*]}" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	log "all present: ${PACKAGES[*]}"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	log "missing ${missing[*]}; installing needs root: sudo $0" >&2
	exit 1
fi

log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
for p in "${missing[@]}"; do
	if ! installed "$p"; then
		log "$p is still not installed" >&2
		exit 1
	fi
done
log "installed ${missing[*]}"
