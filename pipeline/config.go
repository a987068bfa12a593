package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/color"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// Size is one thumbnail box: at most Width×Height pixels (Mode fit) or
// exactly Width×Height (Mode fill), written in Format.
type Size struct {
	Width, Height int
	Mode          pixels.Mode
	// Format is the format of this size's thumbnails: "" follows
	// Config.Format; otherwise FormatAuto or the name of a format pixels
	// writes ("jpeg", "png", "gif", "webp").
	Format string
}

// ParseSize reads a size written as "WxH", optionally followed by a mode
// and a format, each after a colon and in either order: "200x200",
// "200x200:fill", "200x200:webp", "1200x1200:fit:avif". A word that is not
// a mode (fit, the default, or fill) is taken as the format, which
// [Config.Validate] checks against the formats pixels writes; "jpg" means
// "jpeg". Without a format, the size follows Config.Format.
func ParseSize(s string) (Size, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	sz := Size{Mode: pixels.Fit}
	if len(parts) > 3 {
		return Size{}, fmt.Errorf("size %q: want WxH[:mode][:format], e.g. 200x200:fill:webp", s)
	}
	var mode, format string
	for _, p := range parts[1:] {
		w := strings.ToLower(strings.TrimSpace(p))
		switch pixels.Mode(w) {
		case pixels.Fit, pixels.Fill:
			if mode != "" {
				return Size{}, fmt.Errorf("size %q: two modes, %q and %q", s, mode, w)
			}
			mode = w
			continue
		}
		if w == "" {
			return Size{}, fmt.Errorf("size %q: empty mode or format after a colon", s)
		}
		if format != "" {
			return Size{}, fmt.Errorf("size %q: %q is not a mode (fit or fill), and the format is already %q", s, w, format)
		}
		format = w
	}
	if mode != "" {
		sz.Mode = pixels.Mode(mode)
	}
	if format == "jpg" {
		format = string(pixels.JPEG)
	}
	sz.Format = format
	ws, hs, ok := strings.Cut(strings.ToLower(parts[0]), "x")
	if !ok {
		return Size{}, fmt.Errorf("size %q: want WxH, e.g. 200x200 or 200x200:fill", s)
	}
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if errW != nil || errH != nil {
		return Size{}, fmt.Errorf("size %q: width and height must be whole numbers", s)
	}
	sz.Width, sz.Height = w, h
	return sz, nil
}

// Box returns the size's box as "WxH", the name of its folder in the key layout.
func (s Size) Box() string { return fmt.Sprintf("%dx%d", s.Width, s.Height) }

// String returns the size as ParseSize reads it: "WxH:mode", then
// ":format" when it has its own.
func (s Size) String() string {
	if s.Format != "" {
		return s.Box() + ":" + string(s.Mode) + ":" + s.Format
	}
	return s.Box() + ":" + string(s.Mode)
}

// Format choices for Config.Format and Size.Format besides the formats
// pixels writes.
const (
	// FormatAuto keeps JPEG, PNG, GIF and WebP as they are and writes every
	// other format (HEIC, AVIF, TIFF, BMP) as JPEG.
	FormatAuto = "auto"
)

// Defaults, as [DefaultConfig] sets them.
const (
	DefaultPrefix      = "thumbnails/"
	DefaultJPEGQuality = 85
	// DefaultWebPQuality is sharp's and about cwebp's (75): at 200×200 it
	// gives a thumbnail some 30% smaller than JPEG's 85 at a similar look.
	DefaultWebPQuality = 80
	// DefaultAVIFQuality is sharp's: AVIF's scale runs lower than JPEG's
	// for the same look.
	DefaultAVIFQuality = 50
	DefaultMaxBytes    = 50 << 20
	DefaultMaxPixels   = 50_000_000
	// DefaultMaxDecodeMemory lets two decodes at their limit share a
	// 512 MB Lambda with the runtime and the thumbnails; the 16-bit PNGs,
	// large JPEGs and streamed formats at the pixel limit fit in it, and a
	// full-size decoder at 50 million pixels of 8-bit RGBA (200 MB) does.
	DefaultMaxDecodeMemory = 256 << 20
)

// The decompression-ratio guard: a decode estimated at more than
// DecodeRatioFloor bytes must come from a file at least 1/MaxDecodeRatio
// of that size, or it is refused with ErrTooExpensive before any pixel is
// decoded, whatever Config.MaxDecodeMemory allows. Formats decoded for the
// box (JPEG, PNG) stay far below the floor; full-size decoders (WebP, GIF,
// TIFF, BMP) reach it from a few bytes: a 34-byte lossless WebP declares
// 7071×7071 pixels of one colour. Real images are not that compressible:
// a 12 MP photo is 2 MB as WebP at quality 80 (a ratio of 9 to its 18 MB
// decode) and 7.6 MB lossless (11), a flat test card with gradients 32 KB
// lossy (560); so a thousandfold ratio above 64 MiB (the most a hostile
// file may cost the process) is a bomb, not a picture.
const (
	DecodeRatioFloor = 64 << 20
	MaxDecodeRatio   = 1000
)

// Config says what thumbnails to make and where to put them. Start from
// [DefaultConfig] and validate it before use: [Config.Validate] when the
// thumbnails go into the source bucket, [Config.ValidateFor] in general.
// Which bucket receives them is not part of Config: [NewThumbnailer] takes
// the opened bucket.
type Config struct {
	// Sizes are the boxes to make, each with its fit mode. Default: 200x200 fit.
	Sizes []Size
	// Format is the thumbnails' format where a size names none: "auto"
	// (default) or a format pixels writes ("jpeg", "png", "gif", "webp").
	Format string
	// JPEGQuality is the JPEG quality, 1 to 100. Default 85.
	JPEGQuality int
	// WebPQuality is the lossy WebP quality, 1 to 100. Default 80.
	WebPQuality int
	// WebPLossless writes WebP thumbnails losslessly (WebPQuality is then
	// unused). Default false.
	WebPLossless bool
	// AVIFQuality is the AVIF quality, 1 to 100. Default 50.
	AVIFQuality int
	// Background is the opaque colour transparent images are flattened on
	// when written as JPEG, which has no alpha. Default white.
	Background color.RGBA
	// Prefix is where thumbnails go: <Prefix><W>x<H>/<source key>.
	// Default "thumbnails/". It must end in "/" and may be empty only when
	// thumbnails go to a separate bucket.
	Prefix string
	// Include lists key globs (doublestar syntax, "**" crosses folders) a
	// source must match; empty means every key outside Prefix.
	Include []string
	// Exclude lists key globs that are never processed.
	Exclude []string
	// MaxBytes is the largest source object read. Default 50 MiB.
	MaxBytes int64
	// MaxPixels is the largest source image decoded, width×height.
	// Default 50 million.
	MaxPixels int64
	// MaxDecodeMemory is the most memory one decode may need, in bytes,
	// as estimated from the header before any pixel is decoded
	// ([pixels.RenderMemory]): an image that needs more is refused with
	// ErrTooExpensive. Default 256 MiB.
	MaxDecodeMemory int64
	// CacheControl, when set, is written on every thumbnail; otherwise the
	// source's Cache-Control is copied.
	CacheControl string
	// Color is what becomes of a colour profile embedded in the source:
	// pixels.ColorSRGB (default; "" means it too) converts the colours to
	// sRGB and writes no profile, pixels.ColorKeep keeps the pixel values
	// and embeds the source's RGB profile in JPEG, PNG, WebP and AVIF thumbnails.
	Color pixels.Color
	// Metadata is which of the source's metadata thumbnails carry:
	// pixels.MetadataNone (default; "" means it too) none at all,
	// pixels.MetadataCopyright only the creator and rights fields, in the
	// formats that carry metadata (JPEG, PNG, WebP; not GIF).
	Metadata pixels.Metadata
	// Admit, when set, admits each decode by its memory estimate, after
	// the header is read and the estimate checked against
	// MaxDecodeMemory: a [MemoryGate] shares one budget among the decodes
	// of a process. Nil admits every decode at once.
	Admit Admitter
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Sizes:       []Size{{Width: 200, Height: 200, Mode: pixels.Fit}},
		Format:      FormatAuto,
		JPEGQuality: DefaultJPEGQuality,
		WebPQuality: DefaultWebPQuality,
		AVIFQuality: DefaultAVIFQuality,
		Background:  DefaultBackground,
		Prefix:      DefaultPrefix,
		MaxBytes:    DefaultMaxBytes,
		MaxPixels:   DefaultMaxPixels,
		Color:       pixels.ColorSRGB,
		Metadata:    pixels.MetadataNone,

		MaxDecodeMemory: DefaultMaxDecodeMemory,
	}
}

// Validate reports every problem with c at once, or nil, for thumbnails
// written into the bucket of their source. It is ValidateFor(false).
func (c Config) Validate() error { return c.ValidateFor(false) }

// ValidateFor reports every problem with c at once, or nil. separate says
// whether thumbnails go to a bucket of their own: only then may the prefix
// be empty and an include glob match the thumbnails' keys, since no
// thumbnail lands where sources are listed.
func (c Config) ValidateFor(separate bool) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Sizes) == 0 {
		add("sizes: at least one size is needed")
	}
	boxes := map[string]bool{}
	for _, s := range c.Sizes {
		if s.Width < 1 || s.Height < 1 || s.Width > 10000 || s.Height > 10000 {
			add("size %s: width and height must be 1 to 10000", s.Box())
		}
		if s.Mode != pixels.Fit && s.Mode != pixels.Fill {
			add("size %s: mode %q is neither fit nor fill", s.Box(), s.Mode)
		}
		if s.Format != "" && !validFormat(s.Format) {
			add("size %s: %q is neither a mode (fit or fill) nor a format thumbpipe writes (%s)", s.Box(), s.Format, formatChoices())
		}
		if boxes[s.Box()] {
			add("size %s: listed twice; each box names one folder, so boxes must differ", s.Box())
		}
		boxes[s.Box()] = true
	}
	if !validFormat(c.Format) {
		add("format %q: want %s", c.Format, formatChoices())
	}
	for _, q := range []struct {
		name  string
		value int
	}{{"jpeg", c.JPEGQuality}, {"webp", c.WebPQuality}, {"avif", c.AVIFQuality}} {
		if q.value < 1 || q.value > 100 {
			add("%s quality %d: want 1 to 100", q.name, q.value)
		}
	}
	if c.Background.A != 0xff {
		add("background %s: must be opaque (JPEG has no alpha)", FormatBackground(c.Background))
	}
	if _, err := pixels.ParseColor(string(c.Color)); err != nil {
		add("%v", err)
	}
	if _, err := pixels.ParseMetadata(string(c.Metadata)); err != nil {
		add("%v", err)
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		add("prefix %q: must end with /", c.Prefix)
	}
	if strings.HasPrefix(c.Prefix, "/") {
		add("prefix %q: must not start with /", c.Prefix)
	}
	if c.Prefix == "" && !separate {
		add("prefix is empty and there is no output bucket: thumbnails would mix with sources")
	}
	if c.MaxBytes < 1 {
		add("max bytes %d: must be positive", c.MaxBytes)
	}
	if c.MaxPixels < 1 {
		add("max pixels %d: must be positive", c.MaxPixels)
	}
	if c.MaxDecodeMemory < 1 {
		add("max decode memory %d: must be positive", c.MaxDecodeMemory)
	}
	for _, g := range append(append([]string{}, c.Include...), c.Exclude...) {
		if !doublestar.ValidatePattern(g) {
			add("glob %q: not a valid pattern", g)
		}
	}
	if !separate {
		errs = append(errs, c.overlap()...)
	}
	return errors.Join(errs...)
}

// overlap reports include globs that could match the config's own outputs in
// the source bucket, unless an exclude glob takes those outputs out again.
// It tries each glob on sample output keys of every size and extension.
func (c Config) overlap() []error {
	var errs []error
	samples := c.sampleOutputKeys()
	for _, inc := range c.Include {
		if !doublestar.ValidatePattern(inc) {
			continue
		}
		for _, sample := range samples {
			if match(inc, sample) && !matchAny(c.Exclude, sample) {
				errs = append(errs, fmt.Errorf(
					"include %q matches thumbnails this config writes (e.g. %q), so thumbnails would be thumbnailed: narrow it (e.g. uploads/**) or add exclude %q",
					inc, sample, c.Prefix+"**"))
				break
			}
		}
	}
	return errs
}

func (c Config) sampleOutputKeys() []string {
	var keys []string
	names := []string{"a", "a.jpg", "a.jpeg", "a.JPG", "a.png", "a.gif", "a.webp", "a.tif", "a.bmp", "a.heic", "a.avif", "a/b.jpg", "a/b/c.png"}
	for _, s := range c.Sizes {
		for _, name := range []string{"a", "a.jpg", "a.jpeg", "a.JPG", "a.png", "a.gif", "a.webp", "a.tif", "a.bmp", "a.png.jpg", "a/b.jpg", "a/b/c.png.jpg"} {
			keys = append(keys, c.Prefix+s.Box()+"/"+name)
		}
		// Every key a source of those names gets in every format written.
		for _, name := range names {
			keys = append(keys, c.variantKeys(name, s)...)
		}
	}
	for _, name := range []string{"a.jpg", "a/b.png", "a"} {
		keys = append(keys, c.ManifestKey(name), c.FailureKey(name))
	}
	return keys
}

func match(glob, key string) bool {
	ok, err := doublestar.Match(glob, key)
	return err == nil && ok
}

func matchAny(globs []string, key string) bool {
	for _, g := range globs {
		if match(g, key) {
			return true
		}
	}
	return false
}

// Hash names the settings that shape a thumbnail in box s written as
// format out: its bytes (the format; the quality of a lossy format, or
// lossless WebP; the background a JPEG is flattened on when it is not
// white) and its Cache-Control. It is stored in every thumbnail's marker,
// so changing a setting makes stale just the thumbnails it shapes: adding a
// size leaves the others alone, a new JPEG quality does not rewrite PNG or
// WebP thumbnails, and a new WebP quality does not rewrite JPEG ones. A
// size that names its format hashes as one that gets the same format from
// Config.Format: the bytes are the same.
//
// The colour policy is hashed only when it is pixels.ColorKeep, so the
// default leaves the hashes of thumbnails made before there was a policy
// as they were (those of untagged sources are the same bytes). Switching
// the policy makes every thumbnail stale, not only those of sources with a
// profile: the hash is known before the source is read. The background
// works the same way for JPEG thumbnails.
//
// The metadata policy likewise is hashed only when it is not
// pixels.MetadataNone, and only for formats that carry metadata: choosing
// MetadataCopyright remakes JPEG, PNG, WebP and AVIF thumbnails, never GIF ones,
// whose bytes it does not change.
func (c Config) Hash(s Size, out pixels.Format) string {
	opts := c.EncodeOptions(out)
	quality := 0
	if out == pixels.JPEG || out == formatAVIF || out == pixels.WebP && !opts.Lossless {
		quality = opts.Quality
	}
	settings := fmt.Sprintf("v2|%s|%d|%s|%s:%s", out, quality, c.CacheControl, s.Box(), s.Mode)
	if out == pixels.WebP && opts.Lossless {
		settings += "|lossless"
	}
	if out == pixels.JPEG && c.Background != DefaultBackground {
		settings += "|background=" + FormatBackground(c.Background)
	}
	if c.Color == pixels.ColorKeep {
		settings += "|color=" + string(c.Color)
	}
	if m, _ := pixels.ParseMetadata(string(c.Metadata)); m != pixels.MetadataNone && out.CarriesMetadata() {
		settings += "|metadata=" + string(m)
	}
	sum := sha256.Sum256([]byte(settings))
	return hex.EncodeToString(sum[:8])
}

// formatAVIF is AVIF, whose codec another file registers: its quality
// setting lives here with the others.
const formatAVIF = pixels.Format("avif")

// EncodeOptions returns what the encoder of format out is told: its
// quality, WebP's lossless mode and the background JPEG flattens on.
func (c Config) EncodeOptions(out pixels.Format) pixels.EncodeOptions {
	opts := pixels.EncodeOptions{Background: c.Background}
	switch out {
	case pixels.JPEG:
		opts.Quality = c.JPEGQuality
	case pixels.WebP:
		opts.Quality, opts.Lossless = c.WebPQuality, c.WebPLossless
	case formatAVIF:
		opts.Quality = c.AVIFQuality
	}
	return opts
}

// validFormat reports whether f may be Config.Format or Size.Format:
// FormatAuto or a format pixels writes.
func validFormat(f string) bool {
	return f == FormatAuto || pixels.Format(f).Writable()
}

// writable lists the formats pixels writes, in registration order.
func writable() []pixels.Format {
	var out []pixels.Format
	for _, c := range pixels.Codecs() {
		if c.Encode != nil {
			out = append(out, c.Format)
		}
	}
	return out
}

// formatChoices names the formats a config may ask for, for messages:
// "auto, jpeg, png, gif or webp".
func formatChoices() string {
	names := []string{FormatAuto}
	for _, f := range writable() {
		names = append(names, string(f))
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// DefaultBackground is white, on which JPEG thumbnails of transparent
// images are flattened unless told otherwise.
var DefaultBackground = color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}

// ParseBackground reads an opaque colour written as "#rrggbb", "#rgb"
// (the "#" optional) or one of the names white and black.
func ParseBackground(s string) (color.RGBA, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "white":
		return DefaultBackground, nil
	case "black":
		return color.RGBA{A: 0xff}, nil
	}
	hexDigits := strings.TrimPrefix(v, "#")
	if len(hexDigits) == 3 {
		hexDigits = string([]byte{hexDigits[0], hexDigits[0], hexDigits[1], hexDigits[1], hexDigits[2], hexDigits[2]})
	}
	b, err := hex.DecodeString(hexDigits)
	if err != nil || len(b) != 3 {
		return color.RGBA{}, fmt.Errorf("background %q: want #rrggbb, #rgb, white or black", s)
	}
	return color.RGBA{R: b[0], G: b[1], B: b[2], A: 0xff}, nil
}

// FormatBackground writes an opaque colour as ParseBackground reads it:
// "#rrggbb".
func FormatBackground(c color.RGBA) string {
	return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)
}
