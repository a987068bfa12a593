package pixels

import (
	"fmt"
	"image"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// Color says what a thumbnail does with the colour profile its source
// carries.
type Color string

// The colour policies. The zero value is ColorSRGB.
const (
	// ColorSRGB converts the colours of a source with an embedded profile
	// to sRGB and writes no profile: an untagged image is read as sRGB by
	// browsers, so the profile would only cost bytes.
	ColorSRGB Color = "srgb"
	// ColorKeep keeps the pixel values of a source with an RGB profile and
	// embeds that profile in the thumbnail (JPEG APP2 segments, PNG iCCP,
	// WebP ICCP).
	// A gray or CMYK profile, which an RGB thumbnail cannot carry, and
	// any profile for a GIF thumbnail are converted as with ColorSRGB.
	ColorKeep Color = "keep"
)

// ParseColor returns the policy s names ("srgb" or "keep"; "" is srgb).
func ParseColor(s string) (Color, error) {
	switch Color(s) {
	case "", ColorSRGB:
		return ColorSRGB, nil
	case ColorKeep:
		return ColorKeep, nil
	}
	return "", fmt.Errorf("colour policy %q: want %q or %q", s, ColorSRGB, ColorKeep)
}

// profiles holds the transforms of the profiles images carry, shared by
// every Render: photos from one camera or phone share one profile. A CMYK
// transform's grid takes about 1 MB, so 16 bound the cache to some 16 MB
// even if every one were CMYK.
var profiles = icc.NewCache(16)

// colorPlan is what Render does with an image's profile.
type colorPlan struct {
	// t converts the image to sRGB; nil when there is nothing to convert.
	t *icc.Transform
	// embed is the profile thumbnails kept in its space carry.
	embed []byte
	// note says why the profile was ignored, or is "".
	note string
}

// planColor looks up the transform of c's profile. A profile that is sRGB
// needs none; one that the icc package refuses is ignored, with the reason
// in note, and the image is made as if untagged.
func planColor(c Config) colorPlan {
	if len(c.ICC) == 0 {
		if c.ICCIgnored != "" {
			return colorPlan{note: "colour profile ignored: " + c.ICCIgnored}
		}
		return colorPlan{}
	}
	t, err := profiles.Transform(c.ICC)
	if err != nil {
		return colorPlan{note: fmt.Sprintf("colour profile ignored: %v", err)}
	}
	if t.IsIdentity() {
		return colorPlan{}
	}
	p := colorPlan{t: t}
	if t.ColorSpace() == icc.RGB {
		p.embed = c.ICC
	}
	return p
}

// early reports whether the image is converted as decoded, before it is
// resized: CMYK, because the resampler works on RGB, and gray, because
// the transform takes the gray image the resampler would turn into RGB.
func (p *colorPlan) early() bool { return p.t != nil && p.t.ColorSpace() != icc.RGB }

// fits reports whether the decoded image, whose header is c, is in the
// profile's space; a profile that does not fit its image is ignored. A
// JPEG's components say its space before its decoder turns CMYK into RGB.
func (p *colorPlan) fits(c Config, img image.Image) bool {
	if c.Format == JPEG && c.Channels != p.t.ColorSpace().Channels() {
		return false
	}
	switch img.(type) {
	case *image.Gray, *image.Gray16:
		return p.t.ColorSpace() == icc.Gray
	case *image.CMYK:
		return p.t.ColorSpace() == icc.CMYK
	}
	return p.t.ColorSpace() == icc.RGB
}

// keeps reports whether output o keeps the source's pixel values and
// carries its profile rather than being converted: its format's codec
// embeds profiles.
func (p *colorPlan) keeps(o Output) bool {
	return p.embed != nil && o.Color == ColorKeep && o.Format.CarriesMetadata()
}

// toSRGB converts thumb, a thumbnail of decoded (possibly decoded itself),
// to sRGB: in place when it is an RGB image of its own.
func (p *colorPlan) toSRGB(thumb, decoded image.Image) (image.Image, error) {
	if n, ok := thumb.(*image.NRGBA); ok && thumb != decoded {
		return n, p.t.ApplyNRGBA(n)
	}
	return p.t.Apply(thumb)
}
