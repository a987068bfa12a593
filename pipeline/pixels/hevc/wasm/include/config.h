/* config.h for libde265 built for wasm32-wasi: no SIMD acceleration. */
#define HAVE_ALLOCA_H 1
#define HAVE_MALLOC_H 1
#define HAVE_POSIX_MEMALIGN 1
#define HAVE_STDINT_H 1
