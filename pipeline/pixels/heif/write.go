package heif

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Image is one item of a file [Build] writes.
type Image struct {
	ID   uint32
	Type string
	// Hidden sets the infe flag of items not meant to be shown alone.
	Hidden bool
	// Properties are the item's properties, in order.
	Properties []Property
	// Data is the item's data (a coded image, a grid's layout).
	Data []byte
	// Refs are the item's references to other items.
	Refs []Ref
	// ContentType is a "mime" item's MIME type (an XMP packet's is
	// "application/rdf+xml"); other items have none.
	ContentType string
}

// Property is one item property: a box's type and payload.
type Property struct {
	Type      string
	Body      []byte
	Essential bool
}

// Ref is a reference of one type ("dimg", "thmb", "auxl") from an item to
// others.
type Ref struct {
	Type string
	To   []uint32
}

// Build writes a HEIF file of images with the given ftyp brands (major
// first) whose primary item is primary: ftyp, a meta box (hdlr, pitm,
// iinf, iref, iprp, iloc) and one mdat box holding every item's data.
// Identical properties are stored once.
func Build(brands []string, primary uint32, images []Image) ([]byte, error) {
	if len(brands) == 0 || len(images) == 0 || len(images) > MaxItems {
		return nil, fmt.Errorf("heif: build %d images with %d brands", len(images), len(brands))
	}
	var w writer
	at := w.open("ftyp")
	w.b = append(w.b, brands[0]...)
	w.u32(0)
	for _, b := range brands {
		w.b = append(w.b, b...)
	}
	w.close(at)

	meta := w.openFull("meta", 0, 0)
	at = w.openFull("hdlr", 0, 0)
	w.u32(0)
	w.b = append(w.b, "pict"...)
	w.b = append(w.b, make([]byte, 12)...)
	w.u8(0) // empty name
	w.close(at)

	wide := primary > 0xffff
	for _, im := range images {
		wide = wide || im.ID > 0xffff
	}
	id := func(v uint32) {
		if wide {
			w.u32(v)
		} else {
			w.u16(uint16(v))
		}
	}
	var version uint8
	if wide {
		version = 1
	}
	at = w.openFull("pitm", version, 0)
	id(primary)
	w.close(at)

	// iinf: version 0 counts in 16 bits, infe version 2 holds 16-bit IDs.
	infeVersion := uint8(2)
	if wide {
		infeVersion = 3
	}
	at = w.openFull("iinf", version, 0)
	if wide {
		w.u32(uint32(len(images)))
	} else {
		w.u16(uint16(len(images)))
	}
	for _, im := range images {
		var flags uint32
		if im.Hidden {
			flags = 1
		}
		e := w.openFull("infe", infeVersion, flags)
		id(im.ID)
		w.u16(0)
		w.b = append(w.b, im.Type...)
		w.u8(0) // empty name
		if im.Type == "mime" {
			w.b = append(w.b, im.ContentType...)
			w.u8(0)
		}
		w.close(e)
	}
	w.close(at)

	hasRefs := slices.ContainsFunc(images, func(im Image) bool { return len(im.Refs) > 0 })
	if hasRefs {
		at = w.openFull("iref", version, 0)
		for _, im := range images {
			for _, ref := range im.Refs {
				if len(ref.To) > 0xffff {
					return nil, fmt.Errorf("heif: %d %s references", len(ref.To), ref.Type)
				}
				r := w.open(ref.Type)
				id(im.ID)
				w.u16(uint16(len(ref.To)))
				for _, t := range ref.To {
					id(t)
				}
				w.close(r)
			}
		}
		w.close(at)
	}

	// iprp: the distinct properties, then each item's indices (16-bit
	// when there are more than 127).
	var props []Property
	index := make([][]int, len(images))
	for i, im := range images {
		for _, p := range im.Properties {
			k := slices.IndexFunc(props, func(q Property) bool { return q.Type == p.Type && string(q.Body) == string(p.Body) })
			if k < 0 {
				k = len(props)
				props = append(props, Property{Type: p.Type, Body: p.Body})
			}
			index[i] = append(index[i], k+1)
		}
	}
	if len(props) > 0x7fff {
		return nil, fmt.Errorf("heif: %d distinct properties", len(props))
	}
	at = w.open("iprp")
	co := w.open("ipco")
	for _, p := range props {
		w.raw(p.Type, p.Body)
	}
	w.close(co)
	var ipmaFlags uint32
	if len(props) > 127 {
		ipmaFlags = 1
	}
	ma := w.openFull("ipma", version, ipmaFlags)
	w.u32(uint32(len(images)))
	for i, im := range images {
		id(im.ID)
		if len(index[i]) > 255 {
			return nil, fmt.Errorf("heif: item %d has %d properties", im.ID, len(index[i]))
		}
		w.u8(uint8(len(index[i])))
		for j, k := range index[i] {
			essential := im.Properties[j].Essential
			if ipmaFlags&1 != 0 {
				v := uint16(k)
				if essential {
					v |= 0x8000
				}
				w.u16(v)
			} else {
				v := uint8(k)
				if essential {
					v |= 0x80
				}
				w.u8(v)
			}
		}
	}
	w.close(ma)
	w.close(at)

	// iloc version 1 (construction method 0), 4-byte offsets and lengths,
	// or 8-byte ones for data past 4 GB; the offsets are set once the
	// meta box's size is known.
	var total uint64
	for _, im := range images {
		total += uint64(len(im.Data))
	}
	offSize := 4
	if total > 0xffffffff-(1<<20) {
		offSize = 8
	}
	at = w.openFull("iloc", version+1, 0)
	w.u16(uint16(offSize<<12 | offSize<<8))
	if wide {
		w.u32(uint32(len(images)))
	} else {
		w.u16(uint16(len(images)))
	}
	patch := make([]int, len(images))
	for i, im := range images {
		id(im.ID)
		w.u16(0) // construction method 0
		w.u16(0) // this file
		w.u16(1) // one extent
		patch[i] = len(w.b)
		w.b = append(w.b, make([]byte, offSize)...)
		if offSize == 8 {
			w.b = binary.BigEndian.AppendUint64(w.b, uint64(len(im.Data)))
		} else {
			w.u32(uint32(len(im.Data)))
		}
	}
	w.close(at)
	w.close(meta)

	mdatHead := 8
	if total+8 > 0xffffffff {
		mdatHead = 16
	}
	off := uint64(len(w.b) + mdatHead)
	for i, im := range images {
		if offSize == 8 {
			binary.BigEndian.PutUint64(w.b[patch[i]:], off)
		} else {
			binary.BigEndian.PutUint32(w.b[patch[i]:], uint32(off))
		}
		off += uint64(len(im.Data))
	}
	out := make([]byte, len(w.b), len(w.b)+mdatHead+int(total))
	copy(out, w.b)
	if mdatHead == 16 {
		out = binary.BigEndian.AppendUint32(out, 1)
		out = append(out, "mdat"...)
		out = binary.BigEndian.AppendUint64(out, total+16)
	} else {
		out = binary.BigEndian.AppendUint32(out, uint32(total+8))
		out = append(out, "mdat"...)
	}
	for _, im := range images {
		out = append(out, im.Data...)
	}
	return out, nil
}

// Images returns the items of a minimal file whose primary item is it,
// a coded image of the file whose bytes are data, with its alpha plane
// alpha (nil for none), for [Build] with f.Brands: it as item 1 and the
// alpha plane as item 2 (hidden, an auxl of 1), each with its properties
// (less irot and imir: the caller turns the decoded image upright by
// it.Orientation, and clap) and data. A property the item lacks but from
// has (colr, pixi: a grid's tiles may leave them to the grid) is copied
// from from, which may be nil. The caller may add properties and items
// before it builds the file.
func (f *File) Images(data []byte, it, alpha, from *Item) ([]Image, error) {
	if it.Type != TypeHEVC && it.Type != TypeAV1 {
		return nil, fmt.Errorf("%w: item %d of type %q is not a coded image", ErrUnsupported, it.ID, it.Type)
	}
	if it.Unsupported != "" {
		return nil, fmt.Errorf("%w: item %d has essential property %q", ErrUnsupported, it.ID, it.Unsupported)
	}
	main, err := f.Image(data, it, 1, from)
	if err != nil {
		return nil, err
	}
	images := []Image{main}
	if alpha != nil {
		a, err := f.Image(data, alpha, 2, nil)
		if err != nil {
			return nil, err
		}
		a.Hidden = true
		a.Refs = []Ref{{Type: "auxl", To: []uint32{1}}}
		images = append(images, a)
	}
	return images, nil
}

// Image returns item it of the file whose bytes are data as an [Image]
// for [Build] with the given ID: its properties (less irot, imir and
// clap; with from's colr and pixi where it has none) and its data.
func (f *File) Image(data []byte, it *Item, id uint32, from *Item) (Image, error) {
	b, err := f.ItemData(data, it)
	if err != nil {
		return Image{}, err
	}
	im := Image{ID: id, Type: it.Type, Data: b}
	have := map[string]bool{}
	for _, p := range it.props {
		switch p.typ {
		case "irot", "imir", "clap":
			continue
		}
		have[p.typ] = true
		im.Properties = append(im.Properties, Property{Type: p.typ, Body: p.body, Essential: p.essential})
	}
	if from != nil {
		for _, p := range from.props {
			if (p.typ == "colr" || p.typ == "pixi") && !have[p.typ] {
				im.Properties = append(im.Properties, Property{Type: p.typ, Body: p.body, Essential: p.essential})
			}
		}
	}
	return im, nil
}
