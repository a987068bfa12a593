package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// Size is one thumbnail box: at most Width×Height pixels (Mode fit) or
// exactly Width×Height (Mode fill).
type Size struct {
	Width, Height int
	Mode          pixels.Mode
}

// ParseSize reads a size written as "WxH" (fit) or "WxH:fit" / "WxH:fill".
func ParseSize(s string) (Size, error) {
	box, mode, hasMode := strings.Cut(strings.TrimSpace(s), ":")
	sz := Size{Mode: pixels.Fit}
	if hasMode {
		sz.Mode = pixels.Mode(strings.ToLower(strings.TrimSpace(mode)))
	}
	ws, hs, ok := strings.Cut(strings.ToLower(box), "x")
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

// String returns the size as ParseSize reads it.
func (s Size) String() string { return s.Box() + ":" + string(s.Mode) }

// Format choices for Config.Format besides the pixel formats JPEG, PNG and GIF.
const (
	// FormatAuto keeps JPEG, PNG and GIF as they are and writes every other
	// format as JPEG.
	FormatAuto = "auto"
)

// Defaults, as [DefaultConfig] sets them.
const (
	DefaultPrefix      = "thumbnails/"
	DefaultJPEGQuality = 85
	DefaultMaxBytes    = 50 << 20
	DefaultMaxPixels   = 50_000_000
	// DefaultMaxDecodeMemory lets two decodes at their limit share a
	// 512 MB Lambda with the runtime and the thumbnails; the 16-bit PNGs,
	// large JPEGs and streamed formats at the pixel limit fit in it, and a
	// full-size decoder at 50 million pixels of 8-bit RGBA (200 MB) does.
	DefaultMaxDecodeMemory = 256 << 20
)

// Config says what thumbnails to make and where to put them. Start from
// [DefaultConfig] and validate it before use: [Config.Validate] when the
// thumbnails go into the source bucket, [Config.ValidateFor] in general.
// Which bucket receives them is not part of Config: [NewThumbnailer] takes
// the opened bucket.
type Config struct {
	// Sizes are the boxes to make, each with its fit mode. Default: 200x200 fit.
	Sizes []Size
	// Format is "auto" (default), "jpeg", "png" or "gif".
	Format string
	// JPEGQuality is the JPEG quality, 1 to 100. Default 85.
	JPEGQuality int
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
	// and embeds the source's RGB profile in JPEG and PNG thumbnails.
	Color pixels.Color
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Sizes:       []Size{{Width: 200, Height: 200, Mode: pixels.Fit}},
		Format:      FormatAuto,
		JPEGQuality: DefaultJPEGQuality,
		Prefix:      DefaultPrefix,
		MaxBytes:    DefaultMaxBytes,
		MaxPixels:   DefaultMaxPixels,
		Color:       pixels.ColorSRGB,

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
		if boxes[s.Box()] {
			add("size %s: listed twice; each box names one folder, so boxes must differ", s.Box())
		}
		boxes[s.Box()] = true
	}
	switch c.Format {
	case FormatAuto, string(pixels.JPEG), string(pixels.PNG), string(pixels.GIF):
	default:
		add("format %q: want auto, jpeg, png or gif", c.Format)
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		add("jpeg quality %d: want 1 to 100", c.JPEGQuality)
	}
	if _, err := pixels.ParseColor(string(c.Color)); err != nil {
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
	for _, s := range c.Sizes {
		for _, name := range []string{"a", "a.jpg", "a.jpeg", "a.JPG", "a.png", "a.gif", "a.webp", "a.tif", "a.bmp", "a.png.jpg", "a/b.jpg", "a/b/c.png.jpg"} {
			keys = append(keys, c.Prefix+s.Box()+"/"+name)
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
// format out: its bytes (the format, and the quality for JPEG) and its
// Cache-Control. It is stored in every thumbnail's marker, so changing a
// setting makes stale just the thumbnails it shapes: adding a size leaves
// the others alone, and a new JPEG quality does not rewrite PNG thumbnails.
//
// The colour policy is hashed only when it is pixels.ColorKeep, so the
// default leaves the hashes of thumbnails made before there was a policy
// as they were (those of untagged sources are the same bytes). Switching
// the policy makes every thumbnail stale, not only those of sources with a
// profile: the hash is known before the source is read.
func (c Config) Hash(s Size, out pixels.Format) string {
	quality := 0
	if out == pixels.JPEG {
		quality = c.JPEGQuality
	}
	settings := fmt.Sprintf("v2|%s|%d|%s|%s", out, quality, c.CacheControl, s)
	if c.Color == pixels.ColorKeep {
		settings += "|color=" + string(c.Color)
	}
	sum := sha256.Sum256([]byte(settings))
	return hex.EncodeToString(sum[:8])
}
