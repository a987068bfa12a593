/*
 * decode.cc: the WebAssembly face of libde265 that package hevc calls.
 * One instance decodes one HEVC image: the host writes the parameter sets
 * and the coded picture into memory it got from malloc, calls
 * hevc_decode, and reads the picture's planes in place through the frame
 * record (offsets into this instance's memory). No pixel is converted or
 * copied here.
 */
#include <stdint.h>

#include "frame.h"

#include "libde265/de265.h"
#include "libde265/decctx.h"


/*
 * The decoder outlives the call: the picture is its, and the host reads
 * the planes afterwards. The instance is closed, not the decoder freed.
 */
static de265_decoder_context *dec;

static int code(de265_error e) {
	if (e == DE265_ERROR_OUT_OF_MEMORY) return ERR_MEMORY;
	return ERR_INVALID;
}

/*
 * push gives the decoder the NAL units of buf, each after its length in
 * size bytes, big endian. A length that runs past the end is an error:
 * the data was cut short.
 */
static int push(const uint8_t *p, uint32_t n, uint32_t size) {
	while (n > 0) {
		if (n < size) return ERR_INVALID;
		uint32_t len = 0;
		for (uint32_t i = 0; i < size; i++) len = len << 8 | p[i];
		p += size;
		n -= size;
		if (len > n) return ERR_INVALID;
		if (len > 0) {
			de265_error e = de265_push_NAL(dec, p, (int)len, 0, nullptr);
			if (e != DE265_OK) return code(e);
		}
		p += len;
		n -= len;
	}
	return 0;
}

/*
 * too_large reports whether a sequence parameter set read so far codes
 * pictures of more than max pixels. The decoder reads each NAL unit in a
 * call of de265_decode of its own and allocates a picture only for a
 * slice, so checking after every call refuses a picture before its
 * memory is taken.
 */
static bool too_large(uint32_t max) {
	if (max == 0) return false;
	decoder_context *c = (decoder_context *)dec;
	for (int i = 0; i < DE265_MAX_SPS_SETS; i++) {
		const seq_parameter_set *s = c->get_sps(i);
		if (s && s->sps_read &&
		    (uint64_t)s->pic_width_in_luma_samples * (uint64_t)s->pic_height_in_luma_samples > max)
			return true;
	}
	return false;
}

/*
 * hevc_decode decodes one picture from ps, the parameter sets (VPS, SPS,
 * PPS) each after a 4-byte length, and data, the image's NAL units each
 * after a length of len_size bytes (1, 2 or 4), and fills f.
 */
extern "C" __attribute__((export_name("hevc_decode")))
int hevc_decode(const uint8_t *ps, uint32_t ps_len, const uint8_t *data, uint32_t data_len,
		uint32_t len_size, uint32_t max_pixels, frame *f) {
	if (len_size != 1 && len_size != 2 && len_size != 4) return ERR_INVALID;
	if (!de265_isOK(de265_init())) return ERR_OPEN;
	dec = de265_new_decoder();
	if (!dec) return ERR_OPEN;

	int r = push(ps, ps_len, 4);
	if (r == 0) r = push(data, data_len, len_size);
	if (r != 0) return r;
	if (de265_flush_data(dec) != DE265_OK) return ERR_MEMORY;

	const de265_image *img = nullptr;
	int more = 1;
	while (more && !img) {
		more = 0;
		de265_error e = de265_decode(dec, &more);
		if (too_large(max_pixels)) return ERR_LIMIT;
		if (e == DE265_ERROR_WAITING_FOR_INPUT_DATA) break;
		if (!de265_isOK(e)) return code(e);
		img = de265_peek_next_picture(dec);
	}
	if (!img) return ERR_NOPICTURE;

	int chroma = de265_get_chroma_format(img);
	int bpc = de265_get_bits_per_pixel(img, 0);
	int ystride = 0, ustride = 0, vstride = 0;
	const uint8_t *y = de265_get_image_plane(img, 0, &ystride);
	const uint8_t *u = nullptr, *v = nullptr;
	if (chroma != de265_chroma_mono) {
		/* The host's frame has one depth and one chroma stride. */
		if (de265_get_bits_per_pixel(img, 1) != bpc) return ERR_INVALID;
		u = de265_get_image_plane(img, 1, &ustride);
		v = de265_get_image_plane(img, 2, &vstride);
		if (ustride != vstride) return ERR_INVALID;
	}
	f->width = (uint32_t)de265_get_image_width(img, 0);
	f->height = (uint32_t)de265_get_image_height(img, 0);
	f->bpc = (uint32_t)bpc;
	f->layout = (uint32_t)chroma;
	f->y = (uint32_t)(uintptr_t)y;
	f->u = (uint32_t)(uintptr_t)u;
	f->v = (uint32_t)(uintptr_t)v;
	f->ystride = ystride;
	f->uvstride = ustride;
	f->primaries = f->transfer = f->matrix = 2;
	f->full_range = 0;
	const seq_parameter_set &s = img->get_sps();
	if (s.vui_parameters_present_flag) {
		if (s.vui.colour_description_present_flag) {
			f->primaries = s.vui.colour_primaries;
			f->transfer = s.vui.transfer_characteristics;
			f->matrix = s.vui.matrix_coeffs;
		}
		f->full_range = s.vui.video_full_range_flag;
	}
	return 0;
}
