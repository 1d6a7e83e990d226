package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is what the tests read back from a chart.
type svgDoc struct {
	root     string
	attrs    map[string]string // of the root element
	series   []string          // <title> of each <g class="series">
	paths    []string          // d of each series path
	circles  int               // markers, in series and legends
	texts    []string          // character data of every <text>
	elements int
}

// parseSVG decodes an SVG document with encoding/xml, failing the test if
// it is not well-formed XML.
func parseSVG(t *testing.T, data []byte) svgDoc {
	t.Helper()
	doc := svgDoc{attrs: map[string]string{}}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []string
	var text, title strings.Builder
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
			doc.elements++
			attr := func(name string) string {
				for _, a := range tok.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			if len(stack) == 0 {
				doc.root = tok.Name.Local
				for _, a := range tok.Attr {
					doc.attrs[a.Name.Local] = a.Value
				}
			}
			switch {
			case tok.Name.Local == "g" && attr("class") == "series":
				doc.series = append(doc.series, "")
			case tok.Name.Local == "path":
				doc.paths = append(doc.paths, attr("d"))
			case tok.Name.Local == "circle":
				doc.circles++
			}
			stack = append(stack, tok.Name.Local)
			text.Reset()
			title.Reset()
		case xml.CharData:
			text.Write(tok)
		case xml.EndElement:
			switch tok.Name.Local {
			case "text":
				doc.texts = append(doc.texts, text.String())
			case "title":
				if len(doc.series) > 0 {
					doc.series[len(doc.series)-1] = text.String()
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

func renderChart(t *testing.T, c chart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeSVGChart(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// historyChart is the chart training draws: J on a log scale above test
// metrics, by iteration.
func historyChart(iterations int) chart {
	var j, f1, auc []chartPoint
	for i := range iterations {
		x := float64(i)
		j = append(j, chartPoint{x, 1500 + 2000*math.Exp(-x/4)})
		f1 = append(f1, chartPoint{x, 0.8 - 0.3*math.Exp(-x/3)})
		auc = append(auc, chartPoint{x, 0.9 - 0.4*math.Exp(-x/3)})
	}
	return chart{
		Title:  "training <history> & test",
		XLabel: "iteration",
		Panels: []chartPanel{
			{YLabel: "J", LogY: true, Series: []chartSeries{{Name: "J", Points: j}}},
			{YLabel: "test", Series: []chartSeries{{Name: "F1", Points: f1}, {Name: "AUC", Points: auc}}},
		},
	}
}

func TestWriteSVGChart(t *testing.T) {
	data := renderChart(t, historyChart(30))
	doc := parseSVG(t, data)
	if doc.root != "svg" || doc.attrs["width"] != "800" || doc.attrs["height"] != "500" ||
		doc.attrs["xmlns"] != "http://www.w3.org/2000/svg" {
		t.Errorf("root <%s %v>, want an 800x500 <svg> in the SVG namespace", doc.root, doc.attrs)
	}
	if !slices.Equal(doc.series, []string{"J", "F1", "AUC"}) {
		t.Errorf("series %q, want J, F1, AUC", doc.series)
	}
	if len(doc.paths) != 3 {
		t.Errorf("%d paths, want one per series", len(doc.paths))
	}
	for _, want := range []string{"training <history> & test", "iteration", "J", "test", "F1", "AUC", "2000", "0.5", "25"} {
		if !slices.Contains(doc.texts, want) {
			t.Errorf("no text %q among %q", want, doc.texts)
		}
	}
	// Each series has its own colour.
	colours := map[string]bool{}
	for _, s := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(s, "<path ") {
			_, after, _ := strings.Cut(s, `stroke="`)
			c, _, _ := strings.Cut(after, `"`)
			colours[c] = true
		}
	}
	if len(colours) != 3 {
		t.Errorf("series colours %v, want 3 distinct", colours)
	}
	// The same chart gives the same bytes.
	if again := renderChart(t, historyChart(30)); !bytes.Equal(again, data) {
		t.Error("rendering twice gave different documents")
	}
}

func TestWriteSVGChartSinglePoint(t *testing.T) {
	doc := parseSVG(t, renderChart(t, chart{Panels: []chartPanel{{
		Series: []chartSeries{{Name: "J", Points: []chartPoint{{3, 1234.5}}}},
	}}}))
	if len(doc.series) != 1 || len(doc.paths) != 1 || doc.paths[0] == "" {
		t.Fatalf("series %q paths %q", doc.series, doc.paths)
	}
	// A lone point is a marker (and one in the legend), not an invisible
	// zero-length line.
	if doc.circles != 2 {
		t.Errorf("%d markers, want 2", doc.circles)
	}
	for _, want := range []string{"2", "3", "4"} {
		if !slices.Contains(doc.texts, want) {
			t.Errorf("no x tick %q around the point among %q", want, doc.texts)
		}
	}
}

func TestWriteSVGChartSkipsNonFinite(t *testing.T) {
	pts := []chartPoint{{0, 1}, {1, 2}, {2, math.NaN()}, {3, 4}, {4, 5}, {math.Inf(1), 1}, {5, 6}, {6, math.Inf(-1)}}
	data := renderChart(t, chart{Panels: []chartPanel{{Series: []chartSeries{{Name: "s", Points: pts}}}}})
	doc := parseSVG(t, data)
	if len(doc.paths) != 1 {
		t.Fatalf("paths %q", doc.paths)
	}
	// Three runs of finite points: (0,1)-(1,2), (3,4)-(4,5), (5,6).
	d := doc.paths[0]
	if m, l := strings.Count(d, "M"), strings.Count(d, "L"); m != 3 || l != 2 {
		t.Errorf("path %q has %d moves and %d lines, want 3 and 2", d, m, l)
	}
	for _, bad := range []string{"NaN", "Inf"} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("document contains %s", bad)
		}
	}
	// The axes span the plotted points only: x 0 to 5, y 1 to 6, both
	// with step 1.
	if !slices.Contains(doc.texts, "6") || slices.Contains(doc.texts, "7") {
		t.Errorf("tick labels %q, want 0 to 6", doc.texts)
	}
}

func TestWriteSVGChartLogSkipsNonPositive(t *testing.T) {
	pts := []chartPoint{{0, 100}, {1, 0}, {2, -3}, {3, 1}}
	doc := parseSVG(t, renderChart(t, chart{Panels: []chartPanel{{LogY: true, Series: []chartSeries{{Name: "s", Points: pts}}}}}))
	if d := doc.paths[0]; strings.Count(d, "M") != 2 || strings.Count(d, "L") != 0 {
		t.Errorf("path %q, want two lone points", d)
	}
	for _, want := range []string{"1", "10", "100"} {
		if !slices.Contains(doc.texts, want) {
			t.Errorf("no decade tick %q among %q", want, doc.texts)
		}
	}
}

func TestWriteSVGChartNoData(t *testing.T) {
	doc := parseSVG(t, renderChart(t, chart{Title: "empty", Panels: []chartPanel{
		{Series: []chartSeries{{Name: "nothing", Points: []chartPoint{{math.NaN(), 1}}}}},
		{},
	}}))
	if len(doc.series) != 1 || !slices.Contains(doc.texts, "no data") {
		t.Errorf("series %q texts %q", doc.series, doc.texts)
	}
}

func TestWriteSVGChartErrors(t *testing.T) {
	for _, c := range []chart{
		{},
		{Width: 100, Panels: []chartPanel{{}}},
		{Height: 200, Panels: []chartPanel{{}, {}}},
	} {
		if err := writeSVGChart(io.Discard, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestAxisTicks(t *testing.T) {
	labels := func(a axis) []string {
		var l []string
		for _, t := range a.ticks {
			l = append(l, t.label)
		}
		return l
	}
	r := func(lo, hi float64, integers bool) dataRange {
		return dataRange{lo: lo, hi: hi, n: 2, integers: integers}
	}
	for _, tc := range []struct {
		name string
		a    axis
		want []string
	}{
		// span 0.48 / 4 = 0.12: step 0.2, from 0.2 to 1.
		{"fractions", linearAxis(r(0.33, 0.81, false), 4, false), []string{"0.2", "0.4", "0.6", "0.8", "1.0"}},
		// span 3 / 8 < 1: whole iterations.
		{"iterations", linearAxis(r(0, 3, true), 8, true), []string{"0", "1", "2", "3"}},
		{"negative", linearAxis(r(-0.7, 0.3, false), 5, false), []string{"-0.8", "-0.6", "-0.4", "-0.2", "0.0", "0.2", "0.4"}},
		// 4e6 needs exponents: step 1e6.
		{"large", linearAxis(r(1.4e6, 3.4e6, false), 3, false), []string{"1e6", "2e6", "3e6", "4e6"}},
		{"small", linearAxis(r(1e-6, 3e-6, false), 2, false), []string{"1e-6", "2e-6", "3e-6"}},
		{"tiny", linearAxis(r(0, 3e-5, false), 3, false), []string{"0", "1e-5", "2e-5", "3e-5"}},
		// Equal values get a range of 10% around them: 4.5 to 5.5, step
		// 1/4 rounded up to 0.5.
		{"constant", linearAxis(r(5, 5, false), 4, false), []string{"4.5", "5.0", "5.5"}},
		{"almost constant", linearAxis(r(1000, 1000+1e-10, false), 4, false), []string{"900", "950", "1000", "1050", "1100"}},
		// 7 decades, 4 ticks wanted: every other decade, ends labelled.
		{"decades", logAxis(r(2e-3, 5e3, false), 4), []string{"1e-4", "0.01", "1", "100", "10000"}},
		{"big decades", logAxis(r(1, 1e9, false), 10), []string{"1", "10", "100", "1000", "10000", "100000", "1e6", "1e7", "1e8", "1e9"}},
		// Less than a decade: round linear values.
		{"within a decade", logAxis(r(2900, 3400, false), 3), []string{"3000", "3200", "3400"}},
	} {
		if got := labels(tc.a); !slices.Equal(got, tc.want) {
			t.Errorf("%s: ticks %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestShortExp(t *testing.T) {
	for in, want := range map[string]string{"1.5e+07": "1.5e7", "2e-05": "2e-5", "3e+00": "3", "12": "12"} {
		if got := shortExp(in); got != want {
			t.Errorf("shortExp(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteSVGChartPanelXLabel: a panel with an x label of its own gets
// the x tick labels and that label between it and the next panel; the
// bottom panel keeps the chart's.
func TestWriteSVGChartPanelXLabel(t *testing.T) {
	line := []chartPoint{{0, 100}, {10, 200}}
	data := renderChart(t, chart{XLabel: "bottom x", Panels: []chartPanel{
		{XLabel: "top x", Series: []chartSeries{{Name: "a", Points: line}}},
		{Series: []chartSeries{{Name: "b", Points: line}}},
	}})
	doc := parseSVG(t, data)
	count := func(s string) int {
		n := 0
		for _, x := range doc.texts {
			if x == s {
				n++
			}
		}
		return n
	}
	if count("top x") != 1 || count("bottom x") != 1 || count("10") != 2 || count("0") != 2 {
		t.Errorf("texts %q: want each x label once and the x ticks 0 to 10 under both panels", doc.texts)
	}
	// The frames, top first, and where the top panel's label sits.
	var frames [][2]float64 // top and bottom of each panel
	var labelY float64
	for _, l := range strings.Split(string(data), "\n") {
		var x, y, w, h float64
		if _, err := fmt.Sscanf(l, `<rect x="%f" y="%f" width="%f" height="%f"`, &x, &y, &w, &h); err == nil {
			frames = append(frames, [2]float64{y, y + h})
		}
		if strings.HasSuffix(l, ">top x</text>") {
			_, after, _ := strings.Cut(l, ` y="`)
			labelY, _ = strconv.ParseFloat(after[:strings.Index(after, `"`)], 64)
		}
	}
	if len(frames) != 2 || !(frames[0][1] < labelY && labelY < frames[1][0]) {
		t.Errorf("panels %v, top x label at y %v: want it between them", frames, labelY)
	}
}
