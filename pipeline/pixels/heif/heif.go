// Package heif reads the container of HEIF files (HEIC, AVIF): ISO BMFF
// boxes, the items of the meta box, their properties and references, so
// that dimensions, orientation, depth, alpha and colour are known before
// any pixel is decoded, and so that one item (a thumbnail, a grid's tile)
// can be decoded on its own.
//
// [Parse] reads the header from a stream and stops after the meta box;
// [File.Compact] then reads, of the rest, only the data of the items to be
// decoded, and [File.ItemData] hands out one item's. [File.Images] lays
// out one coded image item (and its alpha plane) as the items of a
// minimal file, which [Build] writes (an encoder's output rewritten with a
// profile and metadata).
//
// # Limits
//
// Every count and size is bounded before anything is allocated for it: the
// meta box ([MaxMeta]), the items ([MaxItems]), a grid's tiles
// ([MaxTiles]), the properties and references. A file that breaks the
// format's rules is refused with an error wrapping [ErrCorrupt]; one that
// uses a feature this package does not read (an overlay or derived image,
// data by item reference, an unknown essential property) with
// [ErrUnsupported].
package heif

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Errors wrapped by every refusal.
var (
	// ErrCorrupt means the container breaks the format's rules.
	ErrCorrupt = errors.New("corrupt HEIF container")
	// ErrUnsupported means the file uses a feature the package lacks.
	ErrUnsupported = errors.New("unsupported HEIF feature")
)

// Limits on what a file may hold.
const (
	// MaxMeta is the largest meta box read, in bytes: an iPhone photo's is
	// a few kilobytes, an embedded ICC profile at most a few hundred.
	MaxMeta = 8 << 20
	// MaxItems is the most items a file may declare.
	MaxItems = 1 << 14
	// MaxTiles is the most tiles a grid may have: 256 tiles a side, the
	// grid box's own limit, of which a 100-megapixel photo in 512-pixel
	// tiles uses some 400.
	MaxTiles = 4096
	// maxTopBoxes bounds the top-level boxes read before the meta box.
	maxTopBoxes = 64
	// maxProperties bounds the properties of the ipco box.
	maxProperties = 1 << 12
	// maxDimension bounds an ispe side, far above any codec's limit.
	maxDimension = 1 << 20
)

// Item types this package knows.
const (
	TypeHEVC = "hvc1"
	TypeAV1  = "av01"
	TypeGrid = "grid"
)

// File is the header of a HEIF file.
type File struct {
	// Brands are the ftyp box's major brand, then its compatible brands.
	Brands []string
	// Primary is the primary image item.
	Primary *Item
	// items holds every item, by ID.
	items map[uint32]*Item
	// idat is the meta box's idat payload (data construction method 1).
	idat []byte
}

// Item is one item of the file with what its properties and references
// say.
type Item struct {
	ID   uint32
	Type string
	// Hidden is the infe flag for items not meant to be shown alone.
	Hidden bool
	// Width and Height come from the ispe property: the stored size.
	Width, Height int
	// Orientation is the EXIF orientation (1 to 8) the irot and imir
	// properties, in their order, amount to.
	Orientation int
	// BitDepth and Channels come from the pixi property (0 without one).
	BitDepth, Channels int
	// ICC is a colr property's profile ('prof' or 'rICC').
	ICC []byte
	// NCLX is a colr property's coded colour description, or nil.
	NCLX *NCLX
	// Alpha is the item's alpha plane (an auxl reference to it, with an
	// alpha auxC), or nil.
	Alpha *Item
	// Thumbnails are the items that are thumbnails of this one (thmb).
	Thumbnails []*Item
	// Tiles are a grid's tiles in row-major order (dimg).
	Tiles []*Item
	// Grid is a grid item's layout; nil until [File.ReadGrid] read it, or
	// for other items.
	Grid *Grid
	// Unsupported names an essential property this package does not
	// know, or is "".
	Unsupported string

	auxType   string
	props     []property
	method    uint8
	extents   []extent
	baseItems []uint32 // dimg
	thumbOf   uint32   // thmb
	auxOf     uint32   // auxl
}

// Grid is the layout of a grid item: Rows×Columns tiles, the image being
// the top-left Width×Height pixels of their mosaic.
type Grid struct {
	Rows, Columns int
	Width, Height int
}

// NCLX is the coded colour description of a colr box of type nclx, with
// the code points of ITU-T H.273.
type NCLX struct {
	Primaries, Transfer, Matrix uint16
	FullRange                   bool
}

// property is one ipco box, kept whole for writing.
type property struct {
	typ       string
	body      []byte
	essential bool
}

type extent struct{ offset, length uint64 }

// brands are the ftyp brands of HEIF image files.
var brands = []string{"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis", "mif2"}

// Parse reads a HEIF file's header from r, which starts at the file's
// first byte: the ftyp box, then the top-level boxes up to and including
// meta, which it reads whole (up to [MaxMeta] bytes). It reads nothing
// after the meta box.
func Parse(r io.Reader) (*File, error) {
	f := &File{}
	for n := 0; ; n++ {
		if n == maxTopBoxes {
			return nil, fmt.Errorf("%w: no meta box in the first %d boxes", ErrCorrupt, maxTopBoxes)
		}
		typ, size, err := readBoxHeader(r)
		if err != nil {
			return nil, err
		}
		if n == 0 && typ != "ftyp" {
			return nil, fmt.Errorf("%w: first box is %q, not ftyp", ErrCorrupt, typ)
		}
		switch typ {
		case "ftyp", "meta":
			limit := uint64(MaxMeta)
			if typ == "ftyp" {
				limit = 4 << 10
			}
			if size < 0 {
				return nil, fmt.Errorf("%w: %s box runs to the end of the file", ErrUnsupported, typ)
			}
			if uint64(size) > limit {
				return nil, fmt.Errorf("%w: %s box of %d bytes exceeds %d", ErrUnsupported, typ, size, limit)
			}
			body := make([]byte, size)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, fmt.Errorf("%w: %s box truncated", ErrCorrupt, typ)
			}
			if typ == "ftyp" {
				if err := f.parseFtyp(body); err != nil {
					return nil, err
				}
				continue
			}
			if err := f.parseMeta(body); err != nil {
				return nil, err
			}
			return f, nil
		default:
			if size < 0 {
				return nil, fmt.Errorf("%w: %q box runs to the end of the file before meta", ErrCorrupt, typ)
			}
			if _, err := io.CopyN(io.Discard, r, size); err != nil {
				return nil, fmt.Errorf("%w: %q box truncated", ErrCorrupt, typ)
			}
		}
	}
}

// readBoxHeader reads a top-level box's header and returns its type and
// payload size, -1 for a box that runs to the end of the file.
func readBoxHeader(r io.Reader) (string, int64, error) {
	var h [16]byte
	if _, err := io.ReadFull(r, h[:8]); err != nil {
		return "", 0, fmt.Errorf("%w: box header truncated before the meta box", ErrCorrupt)
	}
	size := uint64(h[0])<<24 | uint64(h[1])<<16 | uint64(h[2])<<8 | uint64(h[3])
	typ := string(h[4:8])
	switch size {
	case 0:
		return typ, -1, nil
	case 1:
		if _, err := io.ReadFull(r, h[8:16]); err != nil {
			return "", 0, fmt.Errorf("%w: %q box header truncated", ErrCorrupt, typ)
		}
		size = newReader("box", h[8:16]).u64()
		if size < 16 || size > 1<<62 {
			return "", 0, fmt.Errorf("%w: %q box declares %d bytes", ErrCorrupt, typ, size)
		}
		return typ, int64(size - 16), nil
	}
	if size < 8 {
		return "", 0, fmt.Errorf("%w: %q box declares %d bytes", ErrCorrupt, typ, size)
	}
	return typ, int64(size - 8), nil
}

func (f *File) parseFtyp(b []byte) error {
	r := newReader("ftyp", b)
	f.Brands = append(f.Brands, r.fourCC())
	r.u32() // minor version
	for r.err == nil && r.off+4 <= len(r.b) {
		f.Brands = append(f.Brands, r.fourCC())
	}
	if r.err != nil {
		return r.err
	}
	for _, b := range f.Brands {
		if slices.Contains(brands, b) {
			return nil
		}
	}
	return fmt.Errorf("%w: ftyp brands %q name no HEIF image format", ErrUnsupported, f.Brands)
}

// HasBrand reports whether the ftyp box lists brand.
func (f *File) HasBrand(brand string) bool { return slices.Contains(f.Brands, brand) }

// Item returns the item with the given ID, or nil.
func (f *File) Item(id uint32) *Item { return f.items[id] }

func (f *File) parseMeta(b []byte) error {
	r := newReader("meta", b)
	r.fullBox()
	if r.err != nil {
		return r.err
	}
	children, err := boxes("meta", r.rest(), 64)
	if err != nil {
		return err
	}
	byType := map[string][]byte{}
	for _, c := range children {
		if _, dup := byType[c.typ]; dup && c.typ != "free" {
			return fmt.Errorf("%w: meta holds two %s boxes", ErrCorrupt, c.typ)
		}
		byType[c.typ] = c.body
	}
	for _, need := range []string{"hdlr", "pitm", "iinf", "iloc", "iprp"} {
		if _, ok := byType[need]; !ok {
			return fmt.Errorf("%w: meta lacks its %s box", ErrCorrupt, need)
		}
	}
	hr := newReader("hdlr", byType["hdlr"])
	hr.fullBox()
	hr.u32()
	if h := hr.fourCC(); hr.err != nil || h != "pict" {
		return fmt.Errorf("%w: meta handler %q is not pict", ErrUnsupported, h)
	}
	f.idat = byType["idat"]
	if err := f.parseIinf(byType["iinf"]); err != nil {
		return err
	}
	if err := f.parseIloc(byType["iloc"]); err != nil {
		return err
	}
	if ref, ok := byType["iref"]; ok {
		if err := f.parseIref(ref); err != nil {
			return err
		}
	}
	if err := f.parseIprp(byType["iprp"]); err != nil {
		return err
	}
	pr := newReader("pitm", byType["pitm"])
	v, _ := pr.fullBox()
	var primary uint32
	if v == 0 {
		primary = uint32(pr.u16())
	} else {
		primary = pr.u32()
	}
	if pr.err != nil {
		return pr.err
	}
	f.Primary = f.items[primary]
	if f.Primary == nil {
		return fmt.Errorf("%w: primary item %d is not declared", ErrCorrupt, primary)
	}
	return f.link()
}

func (f *File) parseIinf(b []byte) error {
	r := newReader("iinf", b)
	v, _ := r.fullBox()
	var count uint32
	if v == 0 {
		count = uint32(r.u16())
	} else {
		count = r.u32()
	}
	if r.err != nil {
		return r.err
	}
	if count > MaxItems {
		return fmt.Errorf("%w: %d items, more than %d", ErrUnsupported, count, MaxItems)
	}
	entries, err := boxes("iinf", r.rest(), int(count))
	if err != nil {
		return err
	}
	if len(entries) != int(count) {
		return fmt.Errorf("%w: iinf declares %d items and holds %d", ErrCorrupt, count, len(entries))
	}
	f.items = make(map[uint32]*Item, count)
	for _, e := range entries {
		if e.typ != "infe" {
			return fmt.Errorf("%w: %q box in iinf", ErrCorrupt, e.typ)
		}
		er := newReader("infe", e.body)
		v, flags := er.fullBox()
		if v < 2 {
			return fmt.Errorf("%w: infe version %d", ErrUnsupported, v)
		}
		it := &Item{Hidden: flags&1 != 0, Orientation: 1}
		if v == 2 {
			it.ID = uint32(er.u16())
		} else {
			it.ID = er.u32()
		}
		er.u16() // protection index
		it.Type = er.fourCC()
		if er.err != nil {
			return er.err
		}
		if _, dup := f.items[it.ID]; dup {
			return fmt.Errorf("%w: item %d declared twice", ErrCorrupt, it.ID)
		}
		f.items[it.ID] = it
	}
	return nil
}

func (f *File) parseIloc(b []byte) error {
	r := newReader("iloc", b)
	v, _ := r.fullBox()
	if v > 2 {
		return fmt.Errorf("%w: iloc version %d", ErrUnsupported, v)
	}
	sizes := r.u16()
	offSize, lenSize, baseSize, indexSize := int(sizes>>12), int(sizes>>8&15), int(sizes>>4&15), 0
	if v >= 1 {
		indexSize = int(sizes & 15)
	}
	var count uint32
	if v < 2 {
		count = uint32(r.u16())
	} else {
		count = r.u32()
	}
	if r.err == nil && count > MaxItems {
		return fmt.Errorf("%w: iloc locates %d items, more than %d", ErrUnsupported, count, MaxItems)
	}
	for i := uint32(0); i < count && r.err == nil; i++ {
		var id uint32
		if v < 2 {
			id = uint32(r.u16())
		} else {
			id = r.u32()
		}
		var method uint8
		if v >= 1 {
			method = uint8(r.u16() & 15)
		}
		if ref := r.u16(); ref != 0 && r.err == nil {
			return fmt.Errorf("%w: item %d is in another file (data reference %d)", ErrUnsupported, id, ref)
		}
		base := r.uint(baseSize)
		n := int(r.u16())
		if r.err != nil {
			break
		}
		// Each extent takes at least offset and length bytes, so a count
		// the box cannot hold is refused before anything is allocated.
		if need := n * (offSize + lenSize + indexSize); need > len(r.b)-r.off {
			return fmt.Errorf("%w: item %d declares %d extents iloc cannot hold", ErrCorrupt, id, n)
		}
		it := f.items[id]
		if it == nil {
			return fmt.Errorf("%w: iloc locates undeclared item %d", ErrCorrupt, id)
		}
		if it.extents != nil {
			return fmt.Errorf("%w: item %d located twice", ErrCorrupt, id)
		}
		if method > 1 {
			return fmt.Errorf("%w: item %d: data construction method %d", ErrUnsupported, id, method)
		}
		it.method = method
		it.extents = make([]extent, 0, n)
		for range n {
			r.uint(indexSize)
			off, length := r.uint(offSize), r.uint(lenSize)
			if off > 1<<62 || base > 1<<62 || length > 1<<62 {
				return fmt.Errorf("%w: item %d: extent beyond any file", ErrCorrupt, id)
			}
			it.extents = append(it.extents, extent{base + off, length})
		}
	}
	return r.err
}

func (f *File) parseIref(b []byte) error {
	r := newReader("iref", b)
	v, _ := r.fullBox()
	if r.err != nil {
		return r.err
	}
	refs, err := boxes("iref", r.rest(), MaxItems)
	if err != nil {
		return err
	}
	id := func(rr *reader) uint32 {
		if v == 0 {
			return uint32(rr.u16())
		}
		return rr.u32()
	}
	for _, ref := range refs {
		rr := newReader("iref "+ref.typ, ref.body)
		from := f.items[id(rr)]
		n := int(rr.u16())
		if rr.err != nil {
			return rr.err
		}
		if from == nil {
			return fmt.Errorf("%w: %s reference from an undeclared item", ErrCorrupt, ref.typ)
		}
		var to []uint32
		if ref.typ == "dimg" {
			if n > MaxTiles {
				return fmt.Errorf("%w: item %d derives from %d images, more than %d", ErrUnsupported, from.ID, n, MaxTiles)
			}
			to = make([]uint32, 0, n)
		}
		for range n {
			t := id(rr)
			if rr.err != nil {
				return rr.err
			}
			if f.items[t] == nil {
				return fmt.Errorf("%w: %s reference from item %d to undeclared item %d", ErrCorrupt, ref.typ, from.ID, t)
			}
			to = append(to, t)
		}
		switch ref.typ {
		case "dimg":
			if from.baseItems != nil {
				return fmt.Errorf("%w: item %d has two dimg references", ErrCorrupt, from.ID)
			}
			from.baseItems = to
		case "thmb":
			if len(to) > 0 {
				from.thumbOf = to[0]
			}
		case "auxl":
			if len(to) > 0 {
				from.auxOf = to[0]
			}
		}
	}
	return nil
}

func (f *File) parseIprp(b []byte) error {
	children, err := boxes("iprp", b, 16)
	if err != nil {
		return err
	}
	var ipco []box
	var ipmas [][]byte
	for _, c := range children {
		switch c.typ {
		case "ipco":
			if ipco, err = boxes("ipco", c.body, maxProperties); err != nil {
				return err
			}
		case "ipma":
			ipmas = append(ipmas, c.body)
		}
	}
	seen := map[uint32]bool{}
	for _, b := range ipmas {
		r := newReader("ipma", b)
		v, flags := r.fullBox()
		count := r.u32()
		if r.err == nil && count > MaxItems {
			return fmt.Errorf("%w: ipma lists %d items, more than %d", ErrUnsupported, count, MaxItems)
		}
		for i := uint32(0); i < count && r.err == nil; i++ {
			var id uint32
			if v < 1 {
				id = uint32(r.u16())
			} else {
				id = r.u32()
			}
			n := int(r.u8())
			it := f.items[id]
			if r.err == nil && it == nil {
				return fmt.Errorf("%w: ipma lists undeclared item %d", ErrCorrupt, id)
			}
			if seen[id] {
				return fmt.Errorf("%w: ipma lists item %d twice", ErrCorrupt, id)
			}
			seen[id] = true
			for range n {
				var idx int
				var essential bool
				if flags&1 != 0 {
					a := r.u16()
					essential, idx = a&0x8000 != 0, int(a&0x7fff)
				} else {
					a := r.u8()
					essential, idx = a&0x80 != 0, int(a&0x7f)
				}
				if r.err != nil {
					break
				}
				if idx == 0 {
					continue
				}
				if idx > len(ipco) {
					return fmt.Errorf("%w: item %d: property %d of %d", ErrCorrupt, id, idx, len(ipco))
				}
				p := ipco[idx-1]
				if err := it.addProperty(property{typ: p.typ, body: p.body, essential: essential}); err != nil {
					return err
				}
			}
		}
		if r.err != nil {
			return r.err
		}
	}
	return nil
}

// addProperty reads what it needs from one property of the item.
func (it *Item) addProperty(p property) error {
	it.props = append(it.props, p)
	r := newReader(p.typ, p.body)
	switch p.typ {
	case "ispe":
		r.fullBox()
		w, h := r.u32(), r.u32()
		if r.err != nil {
			return r.err
		}
		if w == 0 || h == 0 || w > maxDimension || h > maxDimension {
			return fmt.Errorf("%w: item %d: ispe declares %dx%d pixels", ErrCorrupt, it.ID, w, h)
		}
		it.Width, it.Height = int(w), int(h)
	case "irot":
		a := r.u8()
		it.Orientation = compose(it.Orientation, rotation(int(a&3)))
	case "imir":
		a := r.u8()
		it.Orientation = compose(it.Orientation, mirror(int(a&1)))
	case "pixi":
		r.fullBox()
		n := int(r.u8())
		depths := r.take(n)
		if r.err != nil {
			return r.err
		}
		it.Channels = n
		if n > 0 {
			it.BitDepth = int(depths[0])
		}
	case "colr":
		switch kind := r.fourCC(); kind {
		case "nclx":
			n := &NCLX{Primaries: r.u16(), Transfer: r.u16(), Matrix: r.u16(), FullRange: r.u8()&0x80 != 0}
			if r.err != nil {
				return r.err
			}
			it.NCLX = n
		case "prof", "rICC":
			it.ICC = r.rest()
		}
	case "auxC":
		r.fullBox()
		it.auxType = r.cstring()
	case "hvcC", "av1C", "clap", "pasp", "a1lx", "clli", "mdcv", "rloc", "auxi":
		// The decoder's configuration and what a thumbnail can do
		// without (a clean aperture is not cropped).
	default:
		// lsel, a1op (layers and operating points) and what this
		// package does not know.
		if p.essential {
			it.Unsupported = p.typ
		}
	}
	return r.err
}

// alphaURNs name the auxiliary type of an alpha plane.
var alphaURNs = []string{"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha", "urn:mpeg:hevc:2015:auxid:1"}

// link resolves the references into the items' fields and checks the
// primary image.
func (f *File) link() error {
	for _, it := range f.items {
		if it.auxOf != 0 && slices.Contains(alphaURNs, it.auxType) {
			f.items[it.auxOf].Alpha = it
		}
		if it.thumbOf != 0 {
			to := f.items[it.thumbOf]
			to.Thumbnails = append(to.Thumbnails, it)
		}
		for _, id := range it.baseItems {
			it.Tiles = append(it.Tiles, f.items[id])
		}
	}
	for _, it := range f.items {
		slices.SortFunc(it.Thumbnails, func(a, b *Item) int { return int(a.ID) - int(b.ID) })
	}
	p := f.Primary
	switch p.Type {
	case TypeHEVC, TypeAV1:
	case TypeGrid:
		if len(p.Tiles) == 0 {
			return fmt.Errorf("%w: grid item %d has no tiles", ErrCorrupt, p.ID)
		}
		for _, t := range p.Tiles {
			if t.Type != p.Tiles[0].Type || (t.Type != TypeHEVC && t.Type != TypeAV1) {
				return fmt.Errorf("%w: grid of %s and %s tiles", ErrUnsupported, p.Tiles[0].Type, t.Type)
			}
		}
	default:
		return fmt.Errorf("%w: primary item of type %q", ErrUnsupported, p.Type)
	}
	if p.Unsupported != "" {
		return fmt.Errorf("%w: primary item has essential property %q", ErrUnsupported, p.Unsupported)
	}
	if p.Width == 0 {
		return fmt.Errorf("%w: primary item %d has no ispe", ErrCorrupt, p.ID)
	}
	if p.Alpha != nil && p.Alpha.Type == TypeGrid && len(p.Alpha.Tiles) != len(p.Tiles) {
		return fmt.Errorf("%w: alpha grid of %d tiles for an image of %d", ErrUnsupported, len(p.Alpha.Tiles), len(p.Tiles))
	}
	if p.Type == TypeGrid && f.inMeta(p) {
		if _, err := f.ReadGrid(nil, p); err != nil {
			return err
		}
	}
	return nil
}

// Codec returns the coding of the primary image's pixels, TypeHEVC or
// TypeAV1: the primary item's type, or its tiles'.
func (f *File) Codec() string {
	if f.Primary.Type == TypeGrid {
		return f.Primary.Tiles[0].Type
	}
	return f.Primary.Type
}

// inMeta reports whether the item's data lies in the meta box (idat).
func (f *File) inMeta(it *Item) bool { return it.method == 1 }

// ItemData returns the item's data from data, the whole file; an item
// whose data lies in the meta box's idat needs no file (data may be nil).
// It refuses an extent that lies outside the file or the idat box.
func (f *File) ItemData(data []byte, it *Item) ([]byte, error) {
	src, where := data, "file"
	if it.method == 1 {
		src, where = f.idat, "idat box"
	}
	if len(it.extents) == 0 {
		return nil, fmt.Errorf("%w: item %d has no data", ErrCorrupt, it.ID)
	}
	if len(it.extents) == 1 {
		e := it.extents[0]
		if e.length == 0 {
			e.length = uint64(len(src)) - min(e.offset, uint64(len(src)))
		}
		if e.offset > uint64(len(src)) || e.length > uint64(len(src))-e.offset {
			return nil, fmt.Errorf("%w: item %d's data at %d (%d bytes) lies outside the %d-byte %s", ErrCorrupt, it.ID, e.offset, e.length, len(src), where)
		}
		return src[e.offset : e.offset+e.length], nil
	}
	var total uint64
	for _, e := range it.extents {
		if e.offset > uint64(len(src)) || e.length > uint64(len(src))-e.offset {
			return nil, fmt.Errorf("%w: item %d's data at %d (%d bytes) lies outside the %d-byte %s", ErrCorrupt, it.ID, e.offset, e.length, len(src), where)
		}
		total += e.length
	}
	out := make([]byte, 0, total)
	for _, e := range it.extents {
		out = append(out, src[e.offset:e.offset+e.length]...)
	}
	return out, nil
}

// Compact reads, from the rest of the file r (head is what was read of it
// before: its start, up to the meta box), the data of items and nothing
// else, into one buffer: the bytes between are read past, not kept. It
// moves the items' extents onto the buffer and returns it, for
// [File.ItemData] and [File.ReadGrid] to read those items from (and only
// those). An extent that runs to the end of the file makes Compact keep
// all of it, as it is; a file that ends before an extent does is corrupt.
func (f *File) Compact(r io.Reader, head []byte, items ...*Item) ([]byte, error) {
	var exts []*extent
	var size uint64
	seen := map[*Item]bool{}
	for _, it := range items {
		if it == nil || it.method == 1 || seen[it] {
			continue
		}
		seen[it] = true
		for i := range it.extents {
			if it.extents[i].length == 0 {
				rest, err := io.ReadAll(r)
				return append(head, rest...), err
			}
			exts = append(exts, &it.extents[i])
			size += it.extents[i].length
		}
	}
	slices.SortFunc(exts, func(a, b *extent) int { return cmp.Compare(a.offset, b.offset) })
	buf := make([]byte, 0, min(size, maxCompact))
	pos := uint64(len(head)) // how far r has been read
	for i := 0; i < len(exts); {
		// A span of the file: the extents from i that overlap or touch.
		start, end := exts[i].offset, exts[i].offset+exts[i].length
		j := i + 1
		for ; j < len(exts) && exts[j].offset <= end; j++ {
			end = max(end, exts[j].offset+exts[j].length)
		}
		at, from := uint64(len(buf)), start
		if start < pos {
			buf = append(buf, head[start:min(end, pos)]...)
			start = min(end, pos)
		}
		if start > pos {
			n, _ := io.CopyN(io.Discard, r, int64(start-pos))
			if pos += uint64(n); pos < start {
				return nil, fmt.Errorf("%w: the file ends at %d bytes, before item data at %d", ErrCorrupt, pos, start)
			}
		}
		for pos < end {
			n := min(end-pos, 1<<20) // grown as the data arrives
			buf = append(buf, make([]byte, n)...)
			got, _ := io.ReadFull(r, buf[uint64(len(buf))-n:])
			if pos += uint64(got); got < int(n) {
				return nil, fmt.Errorf("%w: the file ends at %d bytes, within item data that runs to %d", ErrCorrupt, pos, end)
			}
		}
		for _, e := range exts[i:j] {
			e.offset = at + e.offset - from
		}
		i = j
	}
	return buf, nil
}

// maxCompact is the most [File.Compact] allocates before the data
// arrives, so that a header cannot make it allocate what the file does
// not hold.
const maxCompact = 16 << 20

// ReadGrid reads a grid item's layout from its data (data is the whole
// file; nil will do when the grid's data is in the meta box), checks it
// against the item's tiles and ispe, sets it.Grid and returns it. Tiles
// that do not cover the image, or a grid with another count of tiles than
// it references, are refused.
func (f *File) ReadGrid(data []byte, it *Item) (*Grid, error) {
	if it.Grid != nil {
		return it.Grid, nil
	}
	b, err := f.ItemData(data, it)
	if err != nil {
		return nil, err
	}
	r := newReader("grid", b)
	r.u8() // version
	flags := r.u8()
	g := &Grid{Rows: int(r.u8()) + 1, Columns: int(r.u8()) + 1}
	if flags&1 != 0 {
		g.Width, g.Height = int(r.u32()), int(r.u32())
	} else {
		g.Width, g.Height = int(r.u16()), int(r.u16())
	}
	if r.err != nil {
		return nil, r.err
	}
	n := g.Rows * g.Columns
	if n > MaxTiles {
		return nil, fmt.Errorf("%w: grid of %dx%d tiles, more than %d", ErrUnsupported, g.Columns, g.Rows, MaxTiles)
	}
	if n != len(it.Tiles) {
		return nil, fmt.Errorf("%w: grid of %dx%d tiles references %d", ErrCorrupt, g.Columns, g.Rows, len(it.Tiles))
	}
	if g.Width != it.Width || g.Height != it.Height {
		return nil, fmt.Errorf("%w: grid of %dx%d pixels has an ispe of %dx%d", ErrCorrupt, g.Width, g.Height, it.Width, it.Height)
	}
	tw, th := it.Tiles[0].Width, it.Tiles[0].Height
	for _, t := range it.Tiles {
		if t.Width == 0 || t.Width != tw || t.Height != th {
			return nil, fmt.Errorf("%w: grid tiles of different or unknown sizes (%dx%d, %dx%d)", ErrCorrupt, tw, th, t.Width, t.Height)
		}
	}
	if int64(tw)*int64(g.Columns) < int64(g.Width) || int64(th)*int64(g.Rows) < int64(g.Height) {
		return nil, fmt.Errorf("%w: %dx%d tiles of %dx%d do not cover the %dx%d image", ErrCorrupt, g.Columns, g.Rows, tw, th, g.Width, g.Height)
	}
	if int64(tw)*int64(g.Columns-1) >= int64(g.Width) || int64(th)*int64(g.Rows-1) >= int64(g.Height) {
		return nil, fmt.Errorf("%w: %dx%d tiles of %dx%d: a whole row or column lies outside the %dx%d image", ErrCorrupt, g.Columns, g.Rows, tw, th, g.Width, g.Height)
	}
	it.Grid = g
	return g, nil
}

// IsAlpha reports whether the item is an alpha plane.
func (it *Item) IsAlpha() bool { return slices.Contains(alphaURNs, it.auxType) }

// Items returns every item of the file, in ID order.
func (f *File) Items() []*Item {
	out := make([]*Item, 0, len(f.items))
	for _, it := range f.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b *Item) int { return int(a.ID) - int(b.ID) })
	return out
}

// IsThumbnail reports whether the item is a thumbnail of another.
func (it *Item) IsThumbnail() bool { return it.thumbOf != 0 }

// Property returns the body of the item's first property of type typ
// (after the box header; for a full box, its version and flags come
// first), such as the decoder configuration "hvcC" or "av1C", or nil.
func (it *Item) Property(typ string) []byte {
	for _, p := range it.props {
		if p.typ == typ {
			return p.body
		}
	}
	return nil
}
