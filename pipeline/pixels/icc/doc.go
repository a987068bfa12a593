// Package icc converts colours from the space an embedded ICC profile
// describes to sRGB, so that a Display P3 or Adobe RGB photo, or a CMYK
// JPEG made for print, looks right as an sRGB thumbnail. It is pure Go.
//
// A caller parses the profile once with [Parse], builds a [Transform] with
// [NewTransform] (safe for concurrent use) and converts decoded images with
// [Transform.Apply] or, in place, [Transform.ApplyNRGBA]. A [Cache] does
// the first two steps once per distinct profile, which matters because
// images share profiles and a CMYK transform's tables take tens of
// milliseconds to build. [Profile.IsSRGB] and [Transform.IsIdentity] tell
// when there is nothing to do.
//
// # Profiles
//
// ICC versions 2 and 4, with RGB, gray or CMYK device data and an XYZ or
// Lab connection space:
//
//   - matrix/TRC profiles: rXYZ, gXYZ, bXYZ colorants with rTRC, gTRC,
//     bTRC curves, each 'curv' (identity, gamma or table) or 'para' (all
//     five function types); gray profiles' kTRC. These cover Display P3,
//     Adobe RGB, ProPhoto, Rec. 2020 and the sRGB variants.
//   - LUT profiles: A2B0 and A2B1 of type 'mft1', 'mft2' or 'mAB ' (A
//     curves, a CLUT of up to eight inputs, M curves, matrix, B curves),
//     with tetrahedral interpolation in three dimensions and linear
//     interpolation across any further ones, as lcms does.
//
// Device-link, abstract, named-colour and Lab- or XYZ-data profiles are
// refused with an error wrapping [ErrUnsupported].
//
// # Colour
//
// The connection space is D50. Colorants are D50-adapted as the ICC
// requires; the sRGB side is built from its Rec. 709 primaries and D65
// white adapted to D50 with Bradford, as lcms builds its sRGB profile. The
// chad tag, where present, gives the source's own white
// ([Profile.SourceWhite]). A profile's A2B0 table is used with the
// perceptual intent where it has one, otherwise its matrix/TRC model or
// A2B1 (relative colorimetric). Like lcms converting to its version 4 sRGB
// profile with the perceptual intent, the transform maps the source's
// black point to sRGB's black (black point compensation), so a CMYK
// profile's richest black is black on screen rather than dark grey.
// Colours outside sRGB's gamut are clipped.
//
// # Speed
//
// A Transform precomputes its tables on first use: per-channel 8-bit and
// 16-bit linearisation tables for matrix/TRC profiles, and for LUT
// profiles the whole conversion to linear sRGB sampled on a device-space
// grid (17 points per channel for CMYK, 33 for RGB), interpolated at each
// 8-bit pixel and then encoded. A
// 200x200 thumbnail converts in well under a millisecond for matrix
// profiles and about a millisecond for CMYK; building a CMYK grid costs
// tens of milliseconds, once per Transform. 16-bit input is converted
// without going through 8 bits.
//
// # Hostile input
//
// [Parse] refuses profiles larger than [MaxSize], tag tables and tags that
// do not lie inside the profile, too many tags, curves, tables and CLUTs
// whose declared sizes exceed their tag or the package's limits (a CLUT
// claiming 2^30 values is refused before anything is allocated), and
// wrongly typed or zero-sized tags. Every refusal is an error wrapping
// [ErrInvalid] that says what was wrong; nothing in a profile can make the
// package panic.
//
// # Accuracy
//
// The tests convert grids of device colours with the package and with lcms
// (transicc, to its built-in sRGB, perceptual intent) and compare them by
// CIEDE2000. On 8-bit output, where rounding dominates, the mean
// difference is under 0.11 for matrix and gray profiles and under 0.21 for
// CMYK LUT profiles; [Transform.Convert], without tables or rounding,
// agrees with lcms to a mean under 0.003.
package icc
