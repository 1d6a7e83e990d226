// Package charttest reads back, for tests, the SVG documents package chart
// writes.
package charttest

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// Doc is what the tests read back from a chart.
type Doc struct {
	Root   string
	Attrs  map[string]string // of the root element
	Series []string          // <title> of each <g class="series">
	Paths  []string          // d of each series path
	// Strokes are the stroke, stroke-width and stroke-dasharray of each
	// series path.
	Strokes  [][3]string
	Circles  int      // circle markers, in series and legends
	Markers  int      // markers of any shape, in series and legends
	Texts    []string // character data of every <text>
	Elements int
}

// Parse decodes an SVG document with encoding/xml, failing the test if it
// is not well-formed XML.
func Parse(t testing.TB, data []byte) Doc {
	t.Helper()
	doc := Doc{Attrs: map[string]string{}}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, data)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			doc.Elements++
			attr := func(name string) string {
				for _, a := range tok.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			if len(stack) == 0 {
				doc.Root = tok.Name.Local
				for _, a := range tok.Attr {
					doc.Attrs[a.Name.Local] = a.Value
				}
			}
			switch name := tok.Name.Local; {
			case name == "g" && attr("class") == "series":
				doc.Series = append(doc.Series, "")
			case name == "path":
				doc.Paths = append(doc.Paths, attr("d"))
				doc.Strokes = append(doc.Strokes, [3]string{attr("stroke"), attr("stroke-width"), attr("stroke-dasharray")})
			case name == "circle":
				doc.Circles++
				doc.Markers++
			case name == "polygon", name == "rect" && attr("class") == "marker":
				doc.Markers++
			}
			stack = append(stack, tok.Name.Local)
			text.Reset()
		case xml.CharData:
			text.Write(tok)
		case xml.EndElement:
			switch tok.Name.Local {
			case "text":
				doc.Texts = append(doc.Texts, text.String())
			case "title":
				if len(doc.Series) > 0 {
					doc.Series[len(doc.Series)-1] = text.String()
				}
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	return doc
}
