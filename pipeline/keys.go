package pipeline

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
)

// OutputFormat returns the format a source of format src is written in by
// a size without a format of its own: Config.Format's choice.
func (c Config) OutputFormat(src pixels.Format) pixels.Format {
	return resolveFormat(c.Format, src)
}

// SizeFormat returns the format a source of format src is written in, in
// size s: the size's own format, or Config.Format's choice.
func (c Config) SizeFormat(s Size, src pixels.Format) pixels.Format {
	if s.Format != "" {
		return resolveFormat(s.Format, src)
	}
	return c.OutputFormat(src)
}

// resolveFormat applies a format choice to a source of format src:
// FormatAuto keeps the formats browsers show and pixels writes alike
// (JPEG, PNG, GIF, WebP) and writes every other as JPEG.
func resolveFormat(choice string, src pixels.Format) pixels.Format {
	if choice != FormatAuto {
		return pixels.Format(choice)
	}
	switch src {
	case pixels.JPEG, pixels.PNG, pixels.GIF, pixels.WebP:
		return src
	}
	return pixels.JPEG
}

// VariantKey returns where the thumbnail of key in box size, written as
// format out, is stored: <Prefix><W>x<H>/<key>, with out's extension appended
// when the key does not already end in one that names out
// ("a/b.png" as JPEG → "thumbnails/200x200/a/b.png.jpg").
func (c Config) VariantKey(key string, size Size, out pixels.Format) string {
	k := c.Prefix + size.Box() + "/" + key
	if !extNames(path.Ext(key), out) {
		k += out.Ext()
	}
	return k
}

// variantKeys returns every key a thumbnail of key in box size may have,
// whatever format it was written in (every format pixels writes, since the
// settings may have changed since): the candidates [Thumbnailer.Delete]
// looks at.
func (c Config) variantKeys(key string, size Size) []string {
	// Distinct: at most one of the formats keeps the key's extension, and
	// the others append different ones.
	var keys []string
	for _, f := range writable() {
		keys = append(keys, c.VariantKey(key, size, f))
	}
	return keys
}

// extNames reports whether a file extension (with its dot, any case) is one
// that format f is usually written with.
func extNames(ext string, f pixels.Format) bool {
	switch strings.ToLower(ext) {
	case ".jpg", ".jpeg", ".jpe", ".jfif":
		return f == pixels.JPEG
	case ".png":
		return f == pixels.PNG
	case ".gif":
		return f == pixels.GIF
	case ".webp":
		return f == pixels.WebP
	case ".avif":
		return f == formatAVIF
	}
	return false
}

// IsOutput reports whether key lies under the output prefix, where only
// thumbnails live.
func (c Config) IsOutput(key string) bool {
	return c.Prefix != "" && strings.HasPrefix(key, c.Prefix)
}

// Selects reports whether key is a source this config processes, and if not,
// why. It looks at the key alone: the first layer of the recursion guard.
func (c Config) Selects(key string) (ok bool, reason string) {
	switch {
	case key == "" || strings.HasSuffix(key, "/"):
		return false, "not an object (folder marker)"
	case c.IsOutput(key):
		return false, "under the output prefix " + c.Prefix
	case len(c.Include) > 0 && !matchAny(c.Include, key):
		return false, "matches no include glob"
	case matchAny(c.Exclude, key):
		return false, "matches an exclude glob"
	}
	return true, ""
}

// MaxKeyBytes is the longest object key S3 and Cloud Storage store, in
// bytes of UTF-8.
const MaxKeyBytes = 1024

// CheckKey reports, with an error wrapping [ErrUnsafeKey], whether key is
// unsafe to read and write: empty, not valid UTF-8, with a control
// character, a backslash, a leading "/", an empty path segment ("a//b") or a
// "." or ".." segment. Some backends, such as fileblob, would resolve such a
// key outside the bucket or to the same file as another key ("/a.png" and
// "a.png"), and S3 refuses several of them. A single trailing "/" (a folder
// marker) is allowed. Process and Delete refuse such keys before touching
// storage, whichever door they came through.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrUnsafeKey)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrUnsafeKey, key)
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: %q has a control character", ErrUnsafeKey, key)
		}
	}
	if strings.Contains(key, `\`) {
		return fmt.Errorf("%w: %q has a backslash (a path separator on some systems)", ErrUnsafeKey, key)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: %q starts with \"/\"", ErrUnsafeKey, key)
	}
	for _, seg := range strings.Split(strings.TrimSuffix(key, "/"), "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: %q has an empty path segment (\"//\")", ErrUnsafeKey, key)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q segment", ErrUnsafeKey, key, seg)
		}
	}
	return nil
}

// CheckThumbnailKeys reports, with an error wrapping [ErrKeyTooLong],
// whether the longest key a thumbnail of key may have, in any configured
// size and output format, is longer than [MaxKeyBytes] (a manifest's and a
// failure record's keys always fit: see [Config.ManifestKey]). Process refuses such
// a source before reading it: its thumbnails could never be written.
func (c Config) CheckThumbnailKeys(key string) error {
	longest := ""
	for _, s := range c.Sizes {
		for _, vk := range c.variantKeys(key, s) {
			if len(vk) > len(longest) {
				longest = vk
			}
		}
	}
	if len(longest) > MaxKeyBytes {
		return fmt.Errorf("%w: the source key is %d bytes, so its thumbnail key %.40q... would be %d bytes, the limit is %d",
			ErrKeyTooLong, len(key), longest, len(longest), MaxKeyBytes)
	}
	return nil
}

// checkSource runs the checks on a source key that need no storage call:
// [CheckKey], and [Config.CheckThumbnailKeys] for a key the config selects
// (a long key under the output prefix is skipped, not refused).
func (c Config) checkSource(key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if ok, _ := c.Selects(key); !ok {
		return nil
	}
	return c.CheckThumbnailKeys(key)
}
