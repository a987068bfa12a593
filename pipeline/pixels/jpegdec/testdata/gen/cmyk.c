/* cmyk: write a PPM as an Adobe CMYK or YCCK JPEG with libjpeg.
 *   cmyk in.ppm out.jpg cmyk|ycck [progressive]
 * C,M,Y are 255-R,G,B and K is a synthetic gradient; values are stored
 * inverted (Adobe convention), as Photoshop writes them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

int main(int argc, char **argv) {
  FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
  int w, h, maxv;
  if (!in || !out || fscanf(in, "P6 %d %d %d", &w, &h, &maxv) != 3) return 1;
  fgetc(in);
  unsigned char *rgb = malloc(w * h * 3), *row = malloc(w * 4);
  if (fread(rgb, 3, w * h, in) != (size_t)(w * h)) return 1;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, out);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, strcmp(argv[3], "ycck") == 0 ? JCS_YCCK : JCS_CMYK);
  jpeg_set_quality(&c, 90, TRUE);
  if (argc > 4) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      unsigned char *p = rgb + 3 * (y * w + x);
      int k = (x * 200) / w;
      /* Adobe inverted: stored = 255 - ink. */
      row[4 * x + 0] = p[0];
      row[4 * x + 1] = p[1];
      row[4 * x + 2] = p[2];
      row[4 * x + 3] = 255 - k;
    }
    JSAMPROW rp = row;
    jpeg_write_scanlines(&c, &rp, 1);
  }
  jpeg_finish_compress(&c);
  fclose(out);
  return 0;
}
