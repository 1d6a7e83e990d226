package chart

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmr/dpmr/internal/chart/charttest"
)

func renderChart(t *testing.T, c Chart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// historyChart is the chart training draws: J on a log scale above test
// metrics, by iteration.
func historyChart(iterations int) Chart {
	var j, f1, auc []Point
	for i := range iterations {
		x := float64(i)
		j = append(j, Point{x, 1500 + 2000*math.Exp(-x/4)})
		f1 = append(f1, Point{x, 0.8 - 0.3*math.Exp(-x/3)})
		auc = append(auc, Point{x, 0.9 - 0.4*math.Exp(-x/3)})
	}
	return Chart{
		Title:  "training <history> & test",
		XLabel: "iteration",
		Panels: []Panel{
			{YLabel: "J", LogY: true, Series: []Series{{Name: "J", Points: j}}},
			{YLabel: "test", Series: []Series{{Name: "F1", Points: f1}, {Name: "AUC", Points: auc}}},
		},
	}
}

func TestWriteSVGChart(t *testing.T) {
	data := renderChart(t, historyChart(30))
	doc := charttest.Parse(t, data)
	if doc.Root != "svg" || doc.Attrs["width"] != "800" || doc.Attrs["height"] != "500" ||
		doc.Attrs["xmlns"] != "http://www.w3.org/2000/svg" {
		t.Errorf("root <%s %v>, want an 800x500 <svg> in the SVG namespace", doc.Root, doc.Attrs)
	}
	if !slices.Equal(doc.Series, []string{"J", "F1", "AUC"}) {
		t.Errorf("series %q, want J, F1, AUC", doc.Series)
	}
	if len(doc.Paths) != 3 {
		t.Errorf("%d paths, want one per series", len(doc.Paths))
	}
	for _, want := range []string{"training <history> & test", "iteration", "J", "test", "F1", "AUC", "2000", "0.5", "25"} {
		if !slices.Contains(doc.Texts, want) {
			t.Errorf("no text %q among %q", want, doc.Texts)
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
	doc := charttest.Parse(t, renderChart(t, Chart{Panels: []Panel{{
		Series: []Series{{Name: "J", Points: []Point{{3, 1234.5}}}},
	}}}))
	if len(doc.Series) != 1 || len(doc.Paths) != 1 || doc.Paths[0] == "" {
		t.Fatalf("series %q paths %q", doc.Series, doc.Paths)
	}
	// A lone point is a marker (and one in the legend), not an invisible
	// zero-length line.
	if doc.Circles != 2 {
		t.Errorf("%d markers, want 2", doc.Circles)
	}
	for _, want := range []string{"2", "3", "4"} {
		if !slices.Contains(doc.Texts, want) {
			t.Errorf("no x tick %q around the point among %q", want, doc.Texts)
		}
	}
}

func TestWriteSVGChartSkipsNonFinite(t *testing.T) {
	pts := []Point{{0, 1}, {1, 2}, {2, math.NaN()}, {3, 4}, {4, 5}, {math.Inf(1), 1}, {5, 6}, {6, math.Inf(-1)}}
	data := renderChart(t, Chart{Panels: []Panel{{Series: []Series{{Name: "s", Points: pts}}}}})
	doc := charttest.Parse(t, data)
	if len(doc.Paths) != 1 {
		t.Fatalf("paths %q", doc.Paths)
	}
	// Three runs of finite points: (0,1)-(1,2), (3,4)-(4,5), (5,6).
	d := doc.Paths[0]
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
	if !slices.Contains(doc.Texts, "6") || slices.Contains(doc.Texts, "7") {
		t.Errorf("tick labels %q, want 0 to 6", doc.Texts)
	}
}

func TestWriteSVGChartLogSkipsNonPositive(t *testing.T) {
	pts := []Point{{0, 100}, {1, 0}, {2, -3}, {3, 1}}
	doc := charttest.Parse(t, renderChart(t, Chart{Panels: []Panel{{LogY: true, Series: []Series{{Name: "s", Points: pts}}}}}))
	if d := doc.Paths[0]; strings.Count(d, "M") != 2 || strings.Count(d, "L") != 0 {
		t.Errorf("path %q, want two lone points", d)
	}
	for _, want := range []string{"1", "10", "100"} {
		if !slices.Contains(doc.Texts, want) {
			t.Errorf("no decade tick %q among %q", want, doc.Texts)
		}
	}
}

func TestWriteSVGChartNoData(t *testing.T) {
	doc := charttest.Parse(t, renderChart(t, Chart{Title: "empty", Panels: []Panel{
		{Series: []Series{{Name: "nothing", Points: []Point{{math.NaN(), 1}}}}},
		{},
	}}))
	if len(doc.Series) != 1 || !slices.Contains(doc.Texts, "no data") {
		t.Errorf("series %q texts %q", doc.Series, doc.Texts)
	}
}

func TestWriteSVGChartErrors(t *testing.T) {
	for _, c := range []Chart{
		{},
		{Width: 100, Panels: []Panel{{}}},
		{Height: 200, Panels: []Panel{{}, {}}},
	} {
		if err := Write(io.Discard, c); err == nil {
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
		if got := ShortExp(in); got != want {
			t.Errorf("ShortExp(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteSVGChartPanelXLabel: a panel with an x label of its own gets
// the x tick labels and that label between it and the next panel; the
// bottom panel keeps the chart's.
func TestWriteSVGChartPanelXLabel(t *testing.T) {
	line := []Point{{0, 100}, {10, 200}}
	data := renderChart(t, Chart{XLabel: "bottom x", Panels: []Panel{
		{XLabel: "top x", Series: []Series{{Name: "a", Points: line}}},
		{Series: []Series{{Name: "b", Points: line}}},
	}})
	doc := charttest.Parse(t, data)
	count := func(s string) int {
		n := 0
		for _, x := range doc.Texts {
			if x == s {
				n++
			}
		}
		return n
	}
	if count("top x") != 1 || count("bottom x") != 1 || count("10") != 2 || count("0") != 2 {
		t.Errorf("texts %q: want each x label once and the x ticks 0 to 10 under both panels", doc.Texts)
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

// TestWriteSVGChartOverlapping: series drawn on the very same points stay
// visible: each after a panel's first is dashed in a pattern of its own,
// thinner, with markers of its own shape; a log axis says it is one.
func TestWriteSVGChartOverlapping(t *testing.T) {
	var same []Point
	for i := range 10 {
		same = append(same, Point{X: float64(i), Y: math.Pow(10, -float64(i))})
	}
	var series []Series
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		series = append(series, Series{Name: name, Points: same})
	}
	data := renderChart(t, Chart{Panels: []Panel{{YLabel: "(J - J*) / J*", LogY: true, Series: series}, {LogY: true, Series: series[:1]}}})
	doc := charttest.Parse(t, data)
	for _, want := range []string{"(J - J*) / J* (log scale)", "log scale"} {
		if !slices.Contains(doc.Texts, want) {
			t.Errorf("no y label %q among %q", want, doc.Texts)
		}
	}
	if len(doc.Strokes) != 8 {
		t.Fatalf("%d series paths, want 8", len(doc.Strokes))
	}
	seen := map[[2]string]bool{}
	for i, s := range doc.Strokes[:7] {
		colourDash := [2]string{s[0], s[2]}
		if seen[colourDash] {
			t.Errorf("series %d is drawn like an earlier one: %q", i, s)
		}
		seen[colourDash] = true
		if (i == 0) != (s[2] == "") || (i > 0) && !(s[1] < doc.Strokes[0][1]) {
			t.Errorf("series %d: stroke %q; want the first solid and wider, the others dashed and thinner than %q", i, s, doc.Strokes[0])
		}
	}
	// Each of the 8 series marks its 10 points and its legend entry, in 4
	// shapes in turn: circles for a, e and the second panel's.
	if doc.Markers != 8*11 || doc.Circles != 3*11 {
		t.Errorf("%d markers, %d of them circles; want %d and %d", doc.Markers, doc.Circles, 8*11, 3*11)
	}
}
