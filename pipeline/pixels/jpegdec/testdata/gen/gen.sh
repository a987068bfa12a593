#!/bin/sh
# Regenerates the JPEG fixtures in ../ with libjpeg-turbo's cjpeg (2.1.5)
# and a small libjpeg program for CMYK/YCCK. Run from this directory.
set -e
T=$(mktemp -d)
go run mkppm.go 227 149 > $T/src.ppm
go run mkppm.go 64 48 > $T/small.ppm
cc -O2 -o $T/cmyk cmyk.c -ljpeg
o=..
cjpeg -quality 90 -sample 1x1 $T/src.ppm > $o/base444.jpg
cjpeg -quality 85 -sample 2x1 $T/src.ppm > $o/base422.jpg
cjpeg -quality 85 -sample 1x2 $T/src.ppm > $o/base440.jpg
cjpeg -quality 75 -sample 2x2 -optimize $T/src.ppm > $o/base420.jpg
cjpeg -quality 85 -sample 4x1 $T/src.ppm > $o/base411.jpg
cjpeg -quality 85 -sample 2x2 -restart 3B $T/src.ppm > $o/restart420.jpg
cjpeg -quality 85 -sample 2x2 -scans sequential.scans $T/src.ppm > $o/noninterleaved420.jpg
cjpeg -quality 85 -sample 2x2 -progressive $T/src.ppm > $o/prog420.jpg
cjpeg -quality 95 -sample 1x1 -progressive $T/src.ppm > $o/prog444.jpg
cjpeg -quality 85 -sample 2x1 -progressive -restart 1 $T/src.ppm > $o/progrestart422.jpg
cjpeg -quality 85 -sample 2x2 -scans custom.scans $T/src.ppm > $o/progcustom420.jpg
cjpeg -quality 85 -grayscale $T/src.ppm > $o/gray.jpg
cjpeg -quality 85 -grayscale -progressive $T/small.ppm > $o/grayprog.jpg
cjpeg -quality 85 -rgb $T/small.ppm > $o/rgb.jpg
cjpeg -quality 85 -arithmetic $T/small.ppm > $o/arith.jpg
$T/cmyk $T/small.ppm $o/cmyk.jpg cmyk
$T/cmyk $T/small.ppm $o/ycck.jpg ycck
$T/cmyk $T/small.ppm $o/ycckprog.jpg ycck progressive
rm -rf $T
