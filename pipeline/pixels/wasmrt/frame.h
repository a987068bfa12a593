/*
 * frame.h: what the codecs' entry points hand back to package wasmrt
 * (frameRecord and Errors.result in frame.go read them): the decoded
 * picture's frame record, and the results besides 0 (a picture).
 */
#ifndef THUMBPIPE_FRAME_H
#define THUMBPIPE_FRAME_H

#include <stdint.h>

typedef struct {
	uint32_t width, height, bpc, layout; /* layout: 0 I400, 1 I420, 2 I422, 3 I444 */
	uint32_t y, u, v;                    /* plane offsets */
	int32_t ystride, uvstride;           /* bytes a row */
	uint32_t primaries, transfer, matrix, full_range;
} frame;

enum {
	ERR_INVALID = -1,   /* the bitstream is not valid */
	ERR_MEMORY = -2,    /* the decoder ran out of memory */
	ERR_NOPICTURE = -3, /* valid data that holds no picture */
	ERR_LIMIT = -4,     /* larger than max_pixels */
	ERR_OPEN = -5,      /* the decoder would not open */
};

#endif
