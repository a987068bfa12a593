package pixels

// DecodeMemory estimates the bytes [DecodeFrom] allocates to decode the
// image whose header is c for a box of w×h pixels (in its stored
// orientation; 0 means full size), from the header alone, so a budget can
// be checked before any pixel is decoded. It asks the format's codec
// ([Codec.Memory]) and otherwise counts the full-size image, bytes per
// sample × channels × pixels. It returns 0 for a format that is not
// registered.
func DecodeMemory(c Config, w, h int) int64 {
	return decodeMemory(c, DecodeOptions{Width: w, Height: h})
}

// decodeMemory is DecodeMemory for a decoder told opts; the pixel limit
// is c's.
func decodeMemory(c Config, opts DecodeOptions) int64 {
	codec := lookup(c.Format)
	if codec == nil {
		return 0
	}
	opts.MaxPixels = c.Pixels()
	if codec.Memory == nil {
		return fullSizeMemory(c)
	}
	return codec.Memory(c, opts)
}

// RenderMemory estimates the bytes [Render] allocates to decode the image
// whose header is c for outs: [DecodeMemory] for the box Render decodes
// for, the largest of outs' boxes, and the least size that makes each
// thumbnail at full quality (the fitted thumbnail for Fit), which a
// decoder that reduces on load (JPEG) decodes at.
func RenderMemory(c Config, outs []Output) int64 {
	return decodeMemory(c, decodeOptions(c, outs))
}

// fullSizeMemory is the memory of the decoded image at full size: bytes
// per sample (at least one) × channels (four when the header does not
// say) × pixels.
func fullSizeMemory(c Config) int64 {
	bytes := int64(max(1, (c.BitDepth+7)/8))
	ch := int64(c.Channels)
	if ch <= 0 {
		ch = 4
	}
	return bytes * ch * c.Pixels()
}
