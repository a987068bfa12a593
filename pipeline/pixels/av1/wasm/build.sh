#!/usr/bin/env bash
# build.sh rebuilds dav1d.wasm.gz, the AV1 decoder package av1 embeds:
# dav1d 1.0.0 as Debian 12 ships it (its source and security patch from
# deb.debian.org, checked against the .dsc's digests), compiled for
# wasm32-wasi by Debian's clang and wasi-libc, with no assembly and one
# thread (include/pthread.h), and decode.c as its only entry point.
#   sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 xz-utils
#   pipeline/pixels/av1/wasm/build.sh
# The output is deterministic for a given clang (a rebuild is byte for
# byte the file committed); CI does not rebuild it.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
work=${DAV1D_WORK:-$(mktemp -d)}
version=1.0.0
debian=2+deb12u1
pool=http://deb.debian.org/debian/pool/main/d/dav1d
orig_md5=424548396e45406fe2f395e248b38121
patch_md5=1e9804f892484ade4d8c1acc7c9210c9

cd "$work"
fetch() { [ -f "$1" ] || curl -fsS -m 120 -o "$1" "$pool/$1"; echo "$2  $1" | md5sum -c --quiet; }
fetch "dav1d_${version}.orig.tar.xz" "$orig_md5"
fetch "dav1d_${version}-${debian}.debian.tar.xz" "$patch_md5"
rm -rf "dav1d-${version}" debian obj
tar xf "dav1d_${version}.orig.tar.xz"
tar xf "dav1d_${version}-${debian}.debian.tar.xz"
src=$work/dav1d-${version}
while read -r p; do
	[ -n "$p" ] && patch -s -d "$src" -p1 <"debian/patches/$p"
done <debian/patches/series

mkdir -p obj/include/dav1d
cat >obj/include/dav1d/version.h <<VERSION
#ifndef DAV1D_VERSION_H
#define DAV1D_VERSION_H
#define DAV1D_API_VERSION_MAJOR 6
#define DAV1D_API_VERSION_MINOR 6
#define DAV1D_API_VERSION_PATCH 0
#endif
VERSION
echo "#define DAV1D_VERSION \"${version}-${debian}\"" >obj/include/vcs_version.h

cc=(clang --target=wasm32-wasi --sysroot=/usr -O3 -DNDEBUG -std=c99 -D_GNU_SOURCE
	-fno-math-errno -ffunction-sections -fdata-sections
	-Wno-unused-command-line-argument
	-I"$here/include" -I"$here/../../wasmrt" -I"$work/obj/include" -I"$work/obj/include/dav1d" -I"$src" -I"$src/include" -I"$src/include/dav1d")
common=(cdf cpu data decode dequant_tables getbits intra_edge itx_1d lf_mask log mem msac obu
	picture qm ref refmvs scan tables warpmv wedge lib thread_task)
tmpl=(cdef_apply cdef filmgrain fg_apply ipred_prepare ipred itx lf_apply loopfilter
	looprestoration lr_apply mc recon)
objs=() pids=()
compile() { "${cc[@]}" "$@" & pids+=($!); }
for f in "${common[@]}"; do
	compile -c "$src/src/$f.c" -o "obj/$f.o"
	objs+=("obj/$f.o")
done
for f in "${tmpl[@]}"; do
	for bd in 8 16; do
		compile -DBITDEPTH=$bd -c "$src/src/${f}_tmpl.c" -o "obj/${f}_$bd.o"
		objs+=("obj/${f}_$bd.o")
	done
done
compile -c "$here/decode.c" -o obj/shim.o
objs+=(obj/shim.o)
for p in "${pids[@]}"; do wait "$p"; done
# A reactor (no main): the host calls _initialize, then av1_decode.
clang --target=wasm32-wasi --sysroot=/usr -O3 -mexec-model=reactor -nostartfiles \
	-Wl,--no-entry -Wl,--gc-sections -Wl,--strip-all -Wl,-z,stack-size=4194304 \
	-Wl,--export=malloc -Wl,--export=free -Wl,--export=_initialize \
	-o obj/dav1d.wasm "${objs[@]}" /usr/lib/wasm32-wasi/crt1-reactor.o
gzip -9n <obj/dav1d.wasm >"$here/dav1d.wasm.gz"
cp "$src/COPYING" "$here/COPYING.dav1d"
ls -l obj/dav1d.wasm "$here/dav1d.wasm.gz"
