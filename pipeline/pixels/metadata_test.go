package pixels_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/thumbpipe/thumbpipe/pipeline/pixels"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/metadata"
	"github.com/thumbpipe/thumbpipe/pipeline/pixels/pixeltest"
)

// The rights of the fixtures made by exiftool (testdata/images/README.md):
// XMP's creators and rights win over EXIF's Artist and IPTC's notice.
const (
	wantCreator   = "Ada Lovelace"
	wantCreators  = "Ada Lovelace; Charles Babbage" // EXIF Artist
	wantCopyright = "© 2026 Ada Lovelace, all rights reserved"
)

// exiftoolTags reads data's metadata with exiftool: every tag, as
// "Group:Tag" (family 1 groups) to its value, less the file system's and
// exiftool's own.
func exiftoolTags(t *testing.T, exiftool string, data []byte, ext string) map[string]any {
	t.Helper()
	path := filepath.Join(t.TempDir(), "thumb"+ext)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exiftool, "-j", "-a", "-G1", "-s", "-struct", "-charset", "UTF8", path).Output()
	if err != nil {
		t.Fatalf("exiftool: %v", err)
	}
	var all []map[string]any
	if err := json.Unmarshal(out, &all); err != nil || len(all) != 1 {
		t.Fatalf("exiftool output %s: %v", out, err)
	}
	tags := all[0]
	for k := range tags {
		g, _, _ := strings.Cut(k, ":")
		if k == "SourceFile" || slices.Contains([]string{"System", "ExifTool", "File", "Composite"}, g) {
			delete(tags, k)
		}
	}
	return tags
}

// structural are the tags a thumbnail has without any metadata: those of
// its format's own structure, and the housekeeping of the blocks written.
var structural = []string{
	"PNG:", "RIFF:", "JFIF:", // the formats' own headers
	"IPTC:CodedCharacterSet", "IPTC:EnvelopeRecordVersion", "IPTC:ApplicationRecordVersion",
}

func isStructural(tag string) bool {
	for _, s := range structural {
		if strings.HasPrefix(tag, s) {
			return true
		}
	}
	return false
}

// TestMetadataPolicy renders exiftool-made fixtures that carry GPS
// positions, camera and lens serial numbers, an orientation, a city and a
// subject next to their creators and copyright, and reads every thumbnail
// back with exiftool: by default it has no metadata at all; with
// MetadataCopyright, only EXIF Artist and Copyright, XMP dc:creator and
// dc:rights and, in JPEG, IPTC By-line and Copyright Notice.
func TestMetadataPolicy(t *testing.T) {
	exiftool := pixeltest.NeedTool(t, "exiftool", "libimage-exiftool-perl")
	outputs := []pixels.Format{pixels.JPEG, pixels.PNG}
	if pixels.WebP.Writable() {
		outputs = append(outputs, pixels.WebP)
	} else {
		t.Log("WebP is not writable: its Embed step is tested on cwebp's files by TestEmbedWebP")
	}
	for _, src := range []string{"rights.jpg", "rights.png", "rights.webp"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "images", src))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range outputs {
			for _, policy := range []pixels.Metadata{"", pixels.MetadataNone, pixels.MetadataCopyright} {
				t.Run(src+"/"+string(f)+"/"+string(policy), func(t *testing.T) {
					o := pixels.Output{Width: 40, Height: 40, Mode: pixels.Fit, Format: f,
						Encode: pixels.EncodeOptions{Quality: 85}, Metadata: policy}
					out, note := renderMeta(t, data, o)
					if note != "" {
						t.Errorf("MetadataNote %q for a sound file", note)
					}
					tags := exiftoolTags(t, exiftool, out, f.Ext())
					want := map[string]any{}
					if policy == pixels.MetadataCopyright {
						want = map[string]any{
							"IFD0:Artist":    wantCreators,
							"IFD0:Copyright": wantCopyright,
							"XMP-dc:Creator": []any{wantCreator, "Charles Babbage"},
							"XMP-dc:Rights":  wantCopyright,
						}
						if f == pixels.JPEG {
							want["IPTC:By-line"] = []any{wantCreator, "Charles Babbage"}
							want["IPTC:CopyrightNotice"] = wantCopyright
						}
					}
					for k, v := range tags {
						if isStructural(k) {
							continue
						}
						w, ok := want[k]
						if !ok {
							t.Errorf("thumbnail carries %s = %v", k, v)
						} else if !jsonEqual(v, w) {
							t.Errorf("%s = %v, want %v", k, v, w)
						}
					}
					for k, w := range want {
						if _, ok := tags[k]; !ok {
							t.Errorf("thumbnail lacks %s (want %v)", k, w)
						}
					}
					// The orientation (6, a quarter turn) was applied to
					// the pixels where the header reports it, and is never
					// written: no reader turns the thumbnail again.
					w, h := 40, 26
					if cfg, _ := pixels.DecodeConfig(data); pixels.Swaps(cfg.Orientation) {
						w, h = h, w
					}
					if img, err := pixels.DecodeConfig(out); err != nil || img.Width != w || img.Height != h {
						t.Errorf("thumbnail %dx%d (%v), want %dx%d", img.Width, img.Height, err, w, h)
					}
				})
			}
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// renderMeta makes one output of data and returns its bytes and metadata
// note.
func renderMeta(t *testing.T, data []byte, o pixels.Output) ([]byte, string) {
	t.Helper()
	r := renderOne(t, data, o)
	return r.Data, r.MetadataNote
}

// withSegments inserts JPEG marker segments right after jpeg's SOI.
func withSegments(jpeg []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), jpeg[:2]...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return append(out, jpeg[2:]...)
}

// segment returns a JPEG marker segment with the given data.
func segment(marker byte, data ...string) []byte {
	d := strings.Join(data, "")
	return append([]byte{0xFF, marker, byte((len(d) + 2) >> 8), byte(len(d) + 2)}, d...)
}

// TestMetadataHostile: broken metadata blocks (a truncated IFD, offsets
// outside the block, counts in the billions, XML that does not parse) are
// ignored with a note saying which and why, never a failure: the other
// blocks' rights are still kept, and the thumbnail is made.
func TestMetadataHostile(t *testing.T) {
	base := pixeltest.JPEG(pixeltest.Photo(48, 32, 2), 85)
	xmp := segment(0xE1, metadata.XMPHeader, string(metadata.XMP(metadata.Rights{Copyright: "kept"})))
	exif := metadata.EXIF(metadata.Rights{Creators: []string{"A. Artist"}, Copyright: "exif notice"})
	tests := []struct {
		name string
		data []byte
		note string // a substring of the note
		want metadata.Rights
	}{
		{"truncated IFD", withSegments(base, segment(0xE1, metadata.ExifHeader, string(exif[:14])), xmp),
			"EXIF ignored", metadata.Rights{Copyright: "kept"}},
		{"IFD offset outside", withSegments(base, segment(0xE1, metadata.ExifHeader, "MM\x00\x2a\x7f\xff\xff\xff"), xmp),
			"outside", metadata.Rights{Copyright: "kept"}},
		{"huge entry count", withSegments(base, segment(0xE1, metadata.ExifHeader, "MM\x00\x2a\x00\x00\x00\x08\xff\xff"), xmp),
			"entries", metadata.Rights{Copyright: "kept"}},
		{"huge value count", withSegments(base, segment(0xE1, metadata.ExifHeader,
			"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x82\x98\x00\x02\x7f\xff\xff\xff\x00\x00\x00\x08\x00\x00\x00\x00"), xmp),
			"outside", metadata.Rights{Copyright: "kept"}},
		{"broken XMP", withSegments(base, segment(0xE1, metadata.XMPHeader, "<x:xmpmeta"), segment(0xE1, metadata.ExifHeader, string(exif))),
			"XMP ignored", metadata.Rights{Creators: []string{"A. Artist"}, Copyright: "exif notice"}},
		{"truncated IPTC", withSegments(base, segment(0xED, metadata.PhotoshopHeader, "8BIM\x04\x04\x00\x00\x00\x00\x10\x00\x1c"), xmp),
			"IPTC ignored", metadata.Rights{Copyright: "kept"}},
	}
	// PNG: a broken eXIf chunk beside a sound XMP packet; WebP: flags that
	// promise EXIF the file lacks, and a broken EXIF chunk.
	xmpPNG, err := embedStep(t, pixels.PNG)(pixeltest.PNG(pixeltest.Photo(48, 32, 2)), pixels.Embedding{Rights: metadata.Rights{Copyright: "kept"}})
	if err != nil {
		t.Fatal(err)
	}
	webp := pixeltest.File("lossy.webp")
	flagged, err := embedStep(t, pixels.WebP)(webp, pixels.Embedding{Rights: metadata.Rights{Copyright: "kept"}})
	if err != nil {
		t.Fatal(err)
	}
	tests = append(tests, []struct {
		name string
		data []byte
		note string
		want metadata.Rights
	}{
		{"PNG truncated eXIf", withPNGChunk(xmpPNG, "eXIf", exif[:14]), "EXIF ignored", metadata.Rights{Copyright: "kept"}},
		{"WebP EXIF chunk broken", withWebPChunk(flagged, "EXIF", []byte("MM\x00\x2a\x7f\xff\xff\xff")), "outside", metadata.Rights{Copyright: "kept"}},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pixels.DecodeConfig(tc.data)
			if err != nil {
				t.Fatalf("DecodeConfig: %v", err)
			}
			if !strings.Contains(cfg.MetadataIgnored, tc.note) {
				t.Errorf("MetadataIgnored %q, want it to say %q", cfg.MetadataIgnored, tc.note)
			}
			if !reflect.DeepEqual(cfg.Rights, tc.want) {
				t.Errorf("Rights %+v, want %+v", cfg.Rights, tc.want)
			}
			out, note := renderMeta(t, tc.data, pixels.Output{Width: 20, Height: 20, Mode: pixels.Fit, Format: pixels.JPEG,
				Encode: pixels.EncodeOptions{Quality: 85}, Metadata: pixels.MetadataCopyright})
			if note != cfg.MetadataIgnored {
				t.Errorf("MetadataNote %q, want %q", note, cfg.MetadataIgnored)
			}
			got, err := pixels.DecodeConfig(out)
			if err != nil || !reflect.DeepEqual(got.Rights, tc.want) || got.MetadataIgnored != "" {
				t.Errorf("thumbnail's rights %+v (%q, %v), want %+v", got.Rights, got.MetadataIgnored, err, tc.want)
			}
		})
	}
}

// TestMetadataRoundTrip: the rights read from each fixture are those its
// thumbnails carry, in every format that carries metadata, read back by
// pixels' own readers.
func TestMetadataRoundTrip(t *testing.T) {
	for _, src := range []string{"rights.jpg", "rights.png", "rights.webp"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "images", src))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pixels.DecodeConfig(data)
		if err != nil {
			t.Fatal(err)
		}
		want := metadata.Rights{Creators: []string{wantCreator, "Charles Babbage"}, Copyright: wantCopyright}
		if !reflect.DeepEqual(cfg.Rights, want) || cfg.MetadataIgnored != "" {
			t.Errorf("%s: Rights %+v (%q), want %+v", src, cfg.Rights, cfg.MetadataIgnored, want)
		}
		for _, f := range []pixels.Format{pixels.JPEG, pixels.PNG, pixels.GIF} {
			out, _ := renderMeta(t, data, pixels.Output{Width: 20, Height: 20, Mode: pixels.Fit, Format: f,
				Encode: pixels.EncodeOptions{Quality: 85}, Metadata: pixels.MetadataCopyright})
			got, err := pixels.DecodeConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			w := want
			if !f.CarriesMetadata() {
				w = metadata.Rights{}
			}
			if !reflect.DeepEqual(got.Rights, w) {
				t.Errorf("%s as %s: thumbnail's rights %+v, want %+v", src, f, got.Rights, w)
			}
		}
	}
}

func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want pixels.Metadata
		ok   bool
	}{
		{"", pixels.MetadataNone, true},
		{"none", pixels.MetadataNone, true},
		{"copyright", pixels.MetadataCopyright, true},
		{"all", "", false},
		{"Copyright", "", false}, // the configuration lowers case first
	} {
		got, err := pixels.ParseMetadata(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseMetadata(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// withPNGChunk inserts a chunk right after png's IHDR.
func withPNGChunk(png []byte, typ string, data []byte) []byte {
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	body := append([]byte(typ), data...)
	out := append([]byte(nil), png[:ihdrEnd]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, body...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	return append(out, png[ihdrEnd:]...)
}

// withWebPChunk replaces the chunk of type typ in an extended WebP with
// one holding data, fixing the RIFF size.
func withWebPChunk(webp []byte, typ string, data []byte) []byte {
	out := append([]byte(nil), webp[:12]...)
	for p := 12; p+8 <= len(webp); {
		n := int(binary.LittleEndian.Uint32(webp[p+4:]))
		next := min(len(webp), p+8+n+n&1)
		if string(webp[p:p+4]) == typ {
			out = append(out, typ...)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
			out = append(out, data...)
			if len(data)%2 == 1 {
				out = append(out, 0)
			}
		} else {
			out = append(out, webp[p:next]...)
		}
		p = next
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out
}
