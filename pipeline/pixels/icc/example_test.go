package icc_test

import (
	"fmt"
	"image"
	"image/color"
	"log"
	"os"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/icc"
)

// An iPhone photo carries a Display P3 profile: convert its pixels to sRGB
// before making the thumbnail.
func Example() {
	data, err := os.ReadFile("testdata/DisplayP3.icc") // as embedded in the photo
	if err != nil {
		log.Fatal(err)
	}
	profile, err := icc.Parse(data)
	if err != nil {
		log.Fatal(err)
	}
	t, err := icc.NewTransform(profile) // build once per profile, reuse
	if err != nil {
		log.Fatal(err)
	}

	img := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	img.SetNRGBA(0, 0, color.NRGBA{R: 200, G: 100, B: 50, A: 255})
	if err := t.ApplyNRGBA(img); err != nil {
		log.Fatal(err)
	}
	fmt.Println(profile.ColorSpace(), t.Intent(), img.NRGBAAt(0, 0)) // lcms: 214.9 92.6 31.0
	// Output: RGB relative colorimetric {215 93 31 255}
}

// Converting one colour, exactly: P3's pure green lies outside sRGB and
// is clipped.
func ExampleTransform_Convert() {
	data, err := os.ReadFile("testdata/DisplayP3.icc")
	if err != nil {
		log.Fatal(err)
	}
	profile, err := icc.Parse(data)
	if err != nil {
		log.Fatal(err)
	}
	t, err := icc.NewTransform(profile)
	if err != nil {
		log.Fatal(err)
	}
	c, err := t.Convert([]float64{0, 1, 0})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.3f %.3f %.3f\n", c[0], c[1], c[2])
	// Output: 0.000 1.000 0.000
}

// A profile that is sRGB needs no conversion.
func ExampleProfile_IsSRGB() {
	data, err := os.ReadFile("testdata/DisplayP3.icc")
	if err != nil {
		log.Fatal(err)
	}
	profile, err := icc.Parse(data)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(profile.IsSRGB())
	// Output: false
}

// Hostile profiles are refused with an error that says why.
func ExampleParse_hostile() {
	data, err := os.ReadFile("testdata/DisplayP3.icc")
	if err != nil {
		log.Fatal(err)
	}
	_, err = icc.Parse(data[:len(data)-1])
	fmt.Println(err)
	// Output: icc: invalid profile: header declares 448 bytes but only 447 are present (truncated)
}
