#!/usr/bin/env bash
# build.sh rebuilds de265.wasm.gz, the HEVC decoder package hevc embeds:
# libde265 1.0.11 as Debian 12 ships it (its source and patches, security
# fixes included, from deb.debian.org, checked against the .dsc's
# digests), compiled for wasm32-wasi by Debian's clang, wasi-libc and
# libc++, without exceptions, SIMD code or threads (include/pthread.h,
# no-threads.patch), with decode.cc as its only entry point.
#   sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 xz-utils \
#     libc++-14-dev-wasm32 libc++abi-14-dev-wasm32
#   pipeline/pixels/hevc/wasm/build.sh
# The output is deterministic for a given clang: CI does not rebuild it;
# TestModule checks what the embedded module imports and exports.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
work=${DE265_WORK:-$(mktemp -d)}
version=1.0.11
debian=1+deb12u2
pool=http://deb.debian.org/debian/pool/main/libd/libde265
orig_md5=2b07416559819212aed2fd75f74fd393
patch_md5=fca722298437dc95908a0d599b7da414

cd "$work"
fetch() { [ -f "$1" ] || curl -fsS -m 120 -o "$1" "$pool/$1"; echo "$2  $1" | md5sum -c --quiet; }
fetch "libde265_${version}.orig.tar.gz" "$orig_md5"
fetch "libde265_${version}-${debian}.debian.tar.xz" "$patch_md5"
rm -rf "libde265-${version}" debian obj
tar xf "libde265_${version}.orig.tar.gz"
tar xf "libde265_${version}-${debian}.debian.tar.xz"
src=$work/libde265-${version}
while read -r p; do
	[ -n "$p" ] && patch -s -d "$src" -p1 <"debian/patches/$p"
done <debian/patches/series
patch -s -d "$src" -p1 <"$here/no-threads.patch"
mkdir -p obj

# The decoder's sources (libde265/Makefile.am less the encoder, the x86
# and ARM acceleration and the debugging visualisation). RTTI stays on:
# configparam.cc needs it.
cxx=(clang++ --target=wasm32-wasi --sysroot=/usr -O3 -DNDEBUG -DHAVE_CONFIG_H -std=c++11
	-fno-exceptions -fno-math-errno -ffunction-sections -fdata-sections
	-Wno-unused-command-line-argument -w
	-I"$here/include" -I"$here/../../wasmrt" -I"$src" -I"$src/libde265")
sources=(alloc_pool bitstream cabac configparam contextmodel de265 deblock decctx dpb
	fallback fallback-dct fallback-motion image image-io intrapred md5 motion nal nal-parser
	pps quality refpic sao scan sei slice sps threads transform util vps vui)
objs=() pids=()
compile() {
	while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 0.2; done
	"${cxx[@]}" "$@" &
	pids+=($!)
}
for f in "${sources[@]}"; do
	compile -c "$src/libde265/$f.cc" -o "obj/$f.o"
	objs+=("obj/$f.o")
done
compile -c "$here/decode.cc" -o obj/shim.o
objs+=(obj/shim.o)
for p in "${pids[@]}"; do wait "$p"; done
# A reactor (no main): the host calls _initialize, then hevc_decode.
clang++ --target=wasm32-wasi --sysroot=/usr -O3 -mexec-model=reactor -nostartfiles \
	-Wl,--no-entry -Wl,--gc-sections -Wl,--strip-all -Wl,-z,stack-size=1048576 \
	-Wl,--export=malloc -Wl,--export=free -Wl,--export=_initialize \
	-o obj/de265.wasm "${objs[@]}" /usr/lib/wasm32-wasi/crt1-reactor.o -lc++ -lc++abi
gzip -9n <obj/de265.wasm >"$here/de265.wasm.gz"
cp "$src/COPYING" "$here/COPYING"
ls -l obj/de265.wasm "$here/de265.wasm.gz"
