package metadata

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// Namespaces of the XMP properties read and written.
const (
	nsRDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
	nsDC  = "http://purl.org/dc/elements/1.1/"
	nsXML = "http://www.w3.org/XML/1998/namespace"
)

// XMPHeader starts the XMP packet of a JPEG APP1 segment.
const XMPHeader = "http://ns.adobe.com/xap/1.0/\x00"

// XMPKeyword is the keyword of a PNG iTXt chunk that holds an XMP packet.
const XMPKeyword = "XML:com.adobe.xmp"

// maxTokens bounds the XML tokens read from one packet.
const maxTokens = 100_000

// FromXMP reads dc:creator (every entry of its rdf:Seq) and dc:rights (the
// x-default entry of its rdf:Alt, else the first) from an XMP packet. A
// packet that is not well-formed XML is an error; entities other than
// XML's five are refused by the parser, so nothing expands.
func FromXMP(packet []byte) (Rights, error) {
	if len(packet) > MaxBlock {
		return Rights{}, malformed("XMP packet of %d bytes exceeds %d", len(packet), MaxBlock)
	}
	d := xml.NewDecoder(bytes.NewReader(packet))
	var r Rights
	var (
		prop    string // "creator" or "rights" while inside one, else ""
		depth   int    // element depth inside prop
		inLi    bool
		lang    string
		text    strings.Builder
		rights  []string // dc:rights entries, x-default first
		creator []string
	)
	for n := 0; ; n++ {
		if n > maxTokens {
			return Rights{}, malformed("XMP packet has more than %d XML tokens", maxTokens)
		}
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Rights{}, malformed("XMP: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if prop == "" {
				if tok.Name.Space == nsDC && (tok.Name.Local == "creator" || tok.Name.Local == "rights") {
					prop, depth = tok.Name.Local, 0
					text.Reset()
				}
				continue
			}
			depth++
			if tok.Name.Space == nsRDF && tok.Name.Local == "li" {
				inLi, lang = true, ""
				text.Reset()
				for _, a := range tok.Attr {
					if a.Name.Space == nsXML && a.Name.Local == "lang" {
						lang = a.Value
					}
				}
			}
		case xml.CharData:
			if prop != "" && text.Len() < maxText {
				text.Write(tok)
			}
		case xml.EndElement:
			if prop == "" {
				continue
			}
			if depth == 0 {
				// The property's end: a simple value without rdf:li.
				if len(creator) == 0 && prop == "creator" || len(rights) == 0 && prop == "rights" {
					if s := clean([]byte(text.String())); s != "" {
						if prop == "creator" {
							creator = []string{s}
						} else {
							rights = []string{s}
						}
					}
				}
				prop = ""
				continue
			}
			depth--
			if inLi && tok.Name.Space == nsRDF && tok.Name.Local == "li" {
				inLi = false
				s := clean([]byte(text.String()))
				text.Reset()
				if s == "" {
					continue
				}
				switch {
				case prop == "creator" && len(creator) < maxCreators:
					creator = append(creator, s)
				case prop == "rights" && lang == "x-default":
					rights = append([]string{s}, rights...)
				case prop == "rights":
					rights = append(rights, s)
				}
			}
		}
	}
	r.Creators = creator
	if len(rights) > 0 {
		r.Copyright = rights[0]
	}
	return r, nil
}

// XMP returns an XMP packet with only dc:creator and dc:rights (those r
// has), or nil when r has neither.
func XMP(r Rights) []byte {
	if r.IsZero() {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n")
	b.WriteString(" <rdf:RDF xmlns:rdf=\"" + nsRDF + "\">\n")
	b.WriteString("  <rdf:Description rdf:about=\"\" xmlns:dc=\"" + nsDC + "\">\n")
	if len(r.Creators) > 0 {
		b.WriteString("   <dc:creator>\n    <rdf:Seq>\n")
		for _, c := range r.Creators {
			b.WriteString("     <rdf:li>")
			xml.EscapeText(&b, []byte(c)) //nolint:errcheck // a bytes.Buffer does not fail
			b.WriteString("</rdf:li>\n")
		}
		b.WriteString("    </rdf:Seq>\n   </dc:creator>\n")
	}
	if r.Copyright != "" {
		b.WriteString("   <dc:rights>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">")
		xml.EscapeText(&b, []byte(r.Copyright)) //nolint:errcheck // as above
		b.WriteString("</rdf:li>\n    </rdf:Alt>\n   </dc:rights>\n")
	}
	b.WriteString("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>")
	return b.Bytes()
}
