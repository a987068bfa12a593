package pixels

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
)

// Codec is everything pixels knows about one image format, registered once
// with [Register]: how its files start, how to read its header, how to
// decode it for a box, how to encode it (if it can be written) and which of
// its decoder's errors mean a feature it lacks rather than a broken file.
// Every function of the package that depends on the format asks the table.
type Codec struct {
	// Format names the format; it is also the key of the table.
	Format Format
	// Name is how messages name the format ("WebP").
	Name string
	// Ext is the file extension, with its dot (".jpg").
	Ext string
	// ContentType is the MIME type ("image/jpeg").
	ContentType string
	// Magic lists the byte patterns a file of the format starts with, any
	// one of which identifies it; '?' matches any byte, as in
	// [image.RegisterFormat]. None may be longer than [SniffLen].
	Magic []string
	// Header reads the header from r, which starts at the file's first
	// byte, without decoding pixels. It fills every field of [Config] it
	// can but Format; Orientation 0 means upright.
	Header func(r io.Reader) (Config, error)
	// Decode decodes the image r holds (from its first byte), whose header
	// is c, covering the box opts names where the format can decode at a
	// reduced size, and at full size otherwise.
	Decode func(r io.Reader, c Config, opts DecodeOptions) (image.Image, error)
	// Encode writes img in the format; nil for a format pixels only reads.
	Encode func(w io.Writer, img image.Image, opts EncodeOptions) error
	// Memory estimates the bytes Decode allocates for an image with header
	// c decoded for opts, from the header alone; nil means the full-size
	// image and nothing more (see [DecodeMemory]).
	Memory func(c Config, opts DecodeOptions) int64
	// Unsupported reports whether an error of Header or Decode means the
	// file uses a feature the decoder lacks (ErrUnsupported) rather than
	// that it is broken (ErrCorrupt); nil means every error is ErrCorrupt.
	Unsupported func(err error) bool
	// Metadata reads the creator and rights fields of the file r holds
	// (from its first byte), after Header, within the limits of package
	// metadata; its error says which blocks it ignored, and the rights it
	// returns are those of the blocks it read. nil for a format whose
	// metadata pixels does not read.
	Metadata func(r io.Reader) (metadata.Rights, error)
	// Embed adds a colour profile and metadata to data, which Encode
	// wrote, returning the new file; nil for a format that carries
	// neither (its thumbnails are converted to sRGB and carry nothing).
	Embed func(data []byte, e Embedding) ([]byte, error)
	// TooExpensive reports whether an error of Decode means the file
	// would cost more than the decoder's bounds allow (ErrTooExpensive),
	// such as a JPEG of too many scans; nil means none does.
	TooExpensive func(err error) bool
}

// DecodeOptions are what a [Codec]'s decoder is told.
type DecodeOptions struct {
	// Width and Height are the box the decoded image must still cover, in
	// the image's stored orientation; 0 (either) means full size.
	Width, Height int
	// MinWidth and MinHeight are the least size the decoded image must
	// have for every thumbnail to be made at full quality, in the stored
	// orientation: a Fit thumbnail's own size (the image fitted into its
	// box), a Fill thumbnail's box. A decoder that reduces on load by
	// powers of two (JPEG) picks its scale from them, so an image far
	// wider than its box is reduced as far as its thumbnail allows; 0
	// (either) means Width and Height.
	MinWidth, MinHeight int
	// MaxPixels, when positive, refuses an image whose pixels (width ×
	// height) are more, where the decoder can tell before it allocates.
	MaxPixels int64
	// CMYK asks for a CMYK image as an *image.CMYK of ink amounts (0 is
	// no ink), for its colour profile to convert, where the decoder would
	// otherwise convert it to RGB itself.
	CMYK bool
	// Context, when set, stops a decoder that checks it (JPEG, before
	// each scan) with the context's error once it is done.
	Context context.Context
}

// EncodeOptions are what a [Codec]'s encoder is told.
type EncodeOptions struct {
	// Quality is the lossy formats' quality, 1 to 100.
	Quality int
	// Lossless asks a format that has both kinds (WebP) for lossless
	// compression; Quality is then ignored.
	Lossless bool
	// Background is the opaque colour a format without alpha (JPEG)
	// flattens transparent pixels on; nil means white. Formats with alpha
	// keep transparency and ignore it.
	Background color.Color
}

// codecs is the table, in registration order: the order of sniffing.
// Registration happens at init, lookups on every image, so the slice is
// replaced, never changed in place.
var (
	codecs     atomic.Pointer[[]*Codec]
	registerMu sync.Mutex
)

// Register adds a format to the table. Formats are sniffed in the order
// they were registered. It panics if the codec is incomplete, its Format
// is already registered or a magic pattern is longer than [SniffLen]: a
// programming error, found at start. Call it from an init function.
func Register(c Codec) {
	if err := c.check(); err != nil {
		panic("pixels.Register: " + err.Error())
	}
	registerMu.Lock()
	defer registerMu.Unlock()
	var table []*Codec
	if old := codecs.Load(); old != nil {
		table = append(table, *old...)
	}
	for _, have := range table {
		if have.Format == c.Format {
			panic(fmt.Sprintf("pixels.Register: format %q registered twice", c.Format))
		}
	}
	c.Magic = slices.Clone(c.Magic)
	table = append(table, &c)
	codecs.Store(&table)
}

// check reports what a codec lacks to be registered.
func (c *Codec) check() error {
	var missing []string
	for _, f := range []struct {
		name  string
		empty bool
	}{
		{"Format", c.Format == Unknown},
		{"Name", c.Name == ""},
		{"Ext", !strings.HasPrefix(c.Ext, ".") || len(c.Ext) < 2},
		{"ContentType", !strings.Contains(c.ContentType, "/")},
		{"Magic", len(c.Magic) == 0},
		{"Header", c.Header == nil},
		{"Decode", c.Decode == nil},
	} {
		if f.empty {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("codec %q lacks %s", c.Format, strings.Join(missing, ", "))
	}
	for _, m := range c.Magic {
		if m == "" || len(m) > SniffLen {
			return fmt.Errorf("codec %q: magic %q must be 1 to SniffLen (%d) bytes", c.Format, m, SniffLen)
		}
	}
	return nil
}

// Codecs returns the registered codecs in sniffing order.
func Codecs() []Codec {
	table := loadCodecs()
	out := make([]Codec, len(table))
	for i, c := range table {
		out[i] = *c
		out[i].Magic = slices.Clone(c.Magic)
	}
	return out
}

func loadCodecs() []*Codec {
	if t := codecs.Load(); t != nil {
		return *t
	}
	return nil
}

// lookup returns f's codec, or nil.
func lookup(f Format) *Codec {
	for _, c := range loadCodecs() {
		if c.Format == f {
			return c
		}
	}
	return nil
}

// sniff returns the first codec whose magic starts b, or nil.
func sniff(b []byte) *Codec {
	for _, c := range loadCodecs() {
		for _, m := range c.Magic {
			if matchMagic(m, b) {
				return c
			}
		}
	}
	return nil
}

func matchMagic(magic string, b []byte) bool {
	if len(b) < len(magic) {
		return false
	}
	for i := 0; i < len(magic); i++ {
		if magic[i] != '?' && magic[i] != b[i] {
			return false
		}
	}
	return true
}

// Readable names every format pixels reads, for messages: "JPEG, PNG or
// GIF".
func Readable() string {
	table := loadCodecs()
	names := make([]string, len(table))
	for i, c := range table {
		names[i] = c.Name
	}
	switch len(names) {
	case 0:
		return "no format"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
