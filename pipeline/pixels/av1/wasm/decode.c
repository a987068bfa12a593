/*
 * decode.c: the WebAssembly face of dav1d that package av1 calls. One
 * instance decodes one AV1 image: the host writes the coded OBUs into
 * memory it got from malloc, calls av1_decode, and reads the picture's
 * planes in place through the frame record (offsets into this instance's
 * memory). No pixel is converted or copied here.
 */
#include <errno.h>
#include <stdint.h>

#include "frame.h"
#include <string.h>

#include "dav1d/dav1d.h"


static void keep(const uint8_t *buf, void *cookie) {
	(void)buf;
	(void)cookie;
}

static int code(int r) {
	if (r == DAV1D_ERR(ENOMEM)) return ERR_MEMORY;
	if (r == DAV1D_ERR(ERANGE)) return ERR_LIMIT;
	return ERR_INVALID;
}

/* The picture outlives the call: the host reads its planes afterwards. */
static Dav1dPicture pic;

__attribute__((export_name("av1_decode")))
int av1_decode(const uint8_t *data, uint32_t size, uint32_t max_pixels, frame *f) {
	Dav1dSettings s;
	dav1d_default_settings(&s);
	s.n_threads = 1;
	s.max_frame_delay = 1;
	s.frame_size_limit = max_pixels;
	s.all_layers = 0;
	s.apply_grain = 1;

	Dav1dContext *c = NULL;
	if (dav1d_open(&c, &s) < 0) return ERR_OPEN;

	Dav1dData d;
	if (dav1d_data_wrap(&d, data, size, keep, NULL) < 0) {
		dav1d_close(&c);
		return ERR_MEMORY;
	}
	int r = DAV1D_ERR(EAGAIN);
	memset(&pic, 0, sizeof pic);
	while (d.sz > 0) {
		r = dav1d_send_data(c, &d);
		if (r < 0 && r != DAV1D_ERR(EAGAIN)) break;
		r = dav1d_get_picture(c, &pic);
		if (r != DAV1D_ERR(EAGAIN)) break;
	}
	if (r == DAV1D_ERR(EAGAIN)) {
		/* All data sent: ask once more, as a drain. */
		r = dav1d_get_picture(c, &pic);
	}
	if (d.sz > 0) dav1d_data_unref(&d);
	dav1d_close(&c);
	if (r == DAV1D_ERR(EAGAIN)) return ERR_NOPICTURE;
	if (r < 0) return code(r);

	f->width = (uint32_t)pic.p.w;
	f->height = (uint32_t)pic.p.h;
	f->bpc = (uint32_t)pic.p.bpc;
	f->layout = (uint32_t)pic.p.layout;
	f->y = (uint32_t)(uintptr_t)pic.data[0];
	f->u = (uint32_t)(uintptr_t)pic.data[1];
	f->v = (uint32_t)(uintptr_t)pic.data[2];
	f->ystride = (int32_t)pic.stride[0];
	f->uvstride = (int32_t)pic.stride[1];
	f->primaries = (uint32_t)pic.seq_hdr->pri;
	f->transfer = (uint32_t)pic.seq_hdr->trc;
	f->matrix = (uint32_t)pic.seq_hdr->mtrx;
	f->full_range = (uint32_t)pic.seq_hdr->color_range;
	return 0;
}
