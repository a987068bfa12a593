package icc

import (
	"encoding/binary"
	"errors"
	"image"
	"runtime"
	"strings"
	"testing"
)

// hostile returns malformed profiles by name, each with a word its error
// must contain and the sentinel it must wrap.
func hostile() map[string]struct {
	data []byte
	want string
	is   error
} {
	p3 := matrixProfile(displayP3)
	with := func(f func(p []byte)) []byte {
		p := append([]byte(nil), p3...)
		f(p)
		return p
	}
	// cmykWith returns a CMYK profile whose A2B0 is tag.
	cmykWith := func(tag []byte) []byte {
		return buildProfile(0x02100000, "prtr", "CMYK", "Lab ", []tagSpec{{"A2B0", tag}})
	}
	rgbTag := func(sig string, data []byte) []byte {
		tags := []tagSpec{
			{"rXYZ", xyzTag(d50)}, {"gXYZ", xyzTag(d50)}, {"bXYZ", xyzTag(d50)},
			{"rTRC", curvGamma(2.2)}, {"gTRC", curvGamma(2.2)}, {"bTRC", curvGamma(2.2)},
		}
		for i := range tags {
			if tags[i].sig == sig {
				tags[i].data = data
			}
		}
		return buildProfile(0x04300000, "mntr", "RGB ", "XYZ ", tags)
	}
	huge := make([]byte, 100<<20)
	copy(huge, p3)
	binary.BigEndian.PutUint32(huge, uint32(len(huge)))

	mabGrid := func(g byte) []byte {
		t := []byte("mAB \x00\x00\x00\x00")
		t = append(t, 4, 3, 0, 0)
		for _, o := range []uint32{32, 0, 0, 32 + 3*16, 0} { // B curves, CLUT
			t = append(t, be32(o)...)
		}
		for range 3 {
			t = append(t, paraTag(0, 1)...)
		}
		t = append(t, g, g, g, g, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0)
		return append(t, make([]byte, 64)...)
	}
	return map[string]struct {
		data []byte
		want string
		is   error
	}{
		"empty":                {nil, "shorter than", ErrInvalid},
		"truncated header":     {p3[:100], "shorter than", ErrInvalid},
		"truncated tags":       {p3[:len(p3)-10], "truncated", ErrInvalid},
		"100 MB":               {huge, "exceeds the", ErrInvalid},
		"no acsp":              {with(func(p []byte) { copy(p[36:], "xxxx") }), "acsp", ErrInvalid},
		"size below header":    {with(func(p []byte) { binary.BigEndian.PutUint32(p, 100) }), "smaller than the header", ErrInvalid},
		"tag count 2^32-1":     {with(func(p []byte) { binary.BigEndian.PutUint32(p[headerSize:], 0xffffffff) }), "tag count", ErrInvalid},
		"tag table past end":   {with(func(p []byte) { binary.BigEndian.PutUint32(p[headerSize:], 1000) }), "runs past the end", ErrInvalid},
		"tag outside":          {with(func(p []byte) { binary.BigEndian.PutUint32(p[tagEntryOffset(p, "rXYZ")+4:], 0xfffffff0) }), "lies outside", ErrInvalid},
		"tag size overflow":    {with(func(p []byte) { binary.BigEndian.PutUint32(p[tagEntryOffset(p, "gXYZ")+8:], 0xffffffff) }), "lies outside", ErrInvalid},
		"tag in header":        {with(func(p []byte) { binary.BigEndian.PutUint32(p[tagEntryOffset(p, "bXYZ")+4:], 16) }), "lies outside", ErrInvalid},
		"zero-sized tag":       {with(func(p []byte) { binary.BigEndian.PutUint32(p[tagEntryOffset(p, "rTRC")+8:], 0) }), "too small", ErrInvalid},
		"XYZ tag of type curv": {rgbTag("rXYZ", curvGamma(2.2)), "want", ErrInvalid},
		"TRC of type XYZ":      {rgbTag("gTRC", xyzTag(d50)), "want", ErrInvalid},
		"short XYZ":            {rgbTag("bXYZ", []byte("XYZ \x00\x00\x00\x00\x00\x01")), "shorter than 20", ErrInvalid},
		"curve of 2^32-1":      {rgbTag("rTRC", append([]byte("curv\x00\x00\x00\x00"), be32(0xffffffff)...)), "entries", ErrInvalid},
		"curve past its tag":   {rgbTag("rTRC", append([]byte("curv\x00\x00\x00\x00"), be32(1000)...)), "only", ErrInvalid},
		"para type 9":          {rgbTag("rTRC", paraTag(9, 1)), "function type", ErrInvalid},
		"para missing params":  {rgbTag("rTRC", paraTag(4, 2.4)), "needs", ErrInvalid},
		"para zero gamma":      {rgbTag("rTRC", paraTag(0, 0)), "gamma", ErrInvalid},
		"gamma zero":           {rgbTag("bTRC", curvGamma(0)), "gamma", ErrInvalid},
		"A2B0 of type text":    {cmykWith([]byte("text\x00\x00\x00\x00hello")), "want", ErrInvalid},
		"mft2 CLUT 2^30":       {cmykWith(append(mft2Header(4, 181, 2, 2), make([]byte, 64)...)), "exceeds the limit", ErrInvalid},
		"mft2 grid 1":          {cmykWith(append(mft2Header(4, 1, 2, 2), make([]byte, 64)...)), "grid points", ErrInvalid},
		"mft2 tables 65535":    {cmykWith(append(mft2Header(4, 2, 65535, 2), make([]byte, 64)...)), "table entries", ErrInvalid},
		"mft2 truncated":       {cmykWith(append(mft2Header(4, 17, 256, 256), make([]byte, 64)...)), "needs", ErrInvalid},
		"mft2 wrong channels":  {cmykWith(append(mft2Header(3, 2, 2, 2), make([]byte, 200)...)), "channels", ErrInvalid},
		"mAB CLUT 255^4":       {cmykWith(mabGrid(255)), "exceeds the limit", ErrInvalid},
		"mAB CLUT truncated":   {cmykWith(mabGrid(9)), "needs", ErrInvalid},
		"mAB offset outside": {cmykWith(func() []byte {
			t := mabGrid(2)
			binary.BigEndian.PutUint32(t[24:], 1<<30)
			return t
		}()), "lies outside", ErrInvalid},
		"device link":      {buildProfile(0x04300000, "link", "RGB ", "CMYK", []tagSpec{{"wtpt", xyzTag(d50)}}), "device-link", ErrUnsupported},
		"Lab data space":   {buildProfile(0x04300000, "spac", "Lab ", "Lab ", []tagSpec{{"wtpt", xyzTag(d50)}}), "device colour space", ErrUnsupported},
		"RGB without tags": {buildProfile(0x04300000, "mntr", "RGB ", "XYZ ", []tagSpec{{"wtpt", xyzTag(d50)}}), "neither", ErrUnsupported},
		"version 5":        {with(func(p []byte) { p[8] = 5 }), "version", ErrUnsupported},
		"bad PCS":          {with(func(p []byte) { copy(p[20:], "CMYK") }), "connection space", ErrInvalid},
	}
}

func TestHostileProfiles(t *testing.T) {
	cases := hostile()
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			p, err := Parse(c.data)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", p)
			}
			if !errors.Is(err, c.is) {
				t.Errorf("error %q does not wrap %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			// Refusing costs no memory that the hostile input could choose.
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			const runs = 20
			for range runs {
				_, _ = Parse(c.data)
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 64<<10 {
				t.Errorf("refusing allocated %d bytes per Parse", per)
			}
		})
	}
}

// TestParseAllocationBounded: an accepted profile's memory follows its
// size; a CLUT at the limit is accepted only if its bytes are present.
func TestParseAllocationBounded(t *testing.T) {
	data := mabCMYK(17)
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := Parse(data); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 100 {
		t.Errorf("Parse of a CMYK mAB profile made %v allocations", allocs)
	}
}

// FuzzParse checks that no input makes Parse, NewTransform, Convert or
// Apply panic, that every refusal wraps ErrInvalid or ErrUnsupported, and that
// converted colours stay in [0, 1].
func FuzzParse(f *testing.F) {
	cases := hostile()
	for _, name := range sortedKeys(cases) {
		if d := cases[name].data; len(d) <= MaxSize {
			f.Add(d)
		}
	}
	for _, d := range [][]byte{matrixProfile(displayP3), matrixProfile(proPhoto), mabCMYK(3), mft1RGB()} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %q wraps neither ErrInvalid nor ErrUnsupported", err)
			}
			return
		}
		tr, err := NewTransform(p)
		if err != nil {
			return
		}
		in := make([]float64, p.ColorSpace().Channels())
		for _, v := range []float64{0, 0.3, 1} {
			for i := range in {
				in[i] = v
			}
			c, err := tr.Convert(in)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range c {
				if !(x >= 0 && x <= 1) {
					t.Fatalf("Convert(%v) = %v, outside [0, 1]", in, c)
				}
			}
		}
		var img image.Image
		switch r := image.Rect(0, 0, 2, 2); p.ColorSpace() {
		case Gray:
			img = &image.Gray{Pix: []uint8{0, 90, 200, 255}, Stride: 2, Rect: r}
		case CMYK:
			img = &image.CMYK{Pix: []uint8{0, 0, 0, 0, 255, 255, 255, 255, 10, 200, 30, 90, 255, 0, 0, 0}, Stride: 8, Rect: r}
		default:
			img = &image.NRGBA{Pix: []uint8{0, 0, 0, 255, 255, 255, 255, 255, 10, 200, 30, 90, 255, 0, 0, 0}, Stride: 8, Rect: r}
		}
		if _, err := tr.Apply(img); err != nil {
			t.Fatalf("Apply of a %T: %v", img, err)
		}
	})
}
