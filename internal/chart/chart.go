// Package chart draws line charts as standalone SVG documents: the charts
// dpmr writes (a training run's history.svg, dpmr plot, eval --curves),
// from one producer so that they read alike.
package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart is a line chart of one or more panels stacked over a shared x
// axis, e.g. the objective J on top and test F1 and AUC below, by
// iteration. Write draws it.
type Chart struct {
	Title  string
	XLabel string
	// Panels are drawn top to bottom with equal heights; at least one.
	Panels []Panel
	// Width and Height are the size in pixels; 0 means 800 wide, 500 high.
	Width, Height int
}

// Panel is one plot area with its own y axis.
type Panel struct {
	YLabel string
	// XLabel, when set, is the panel's own x axis label, for panels whose
	// x is not the others' (recall under a ROC curve's false positive
	// rate): the x tick labels and XLabel are drawn under the panel. The
	// range of x is still the chart's.
	XLabel string
	// LogY draws the y axis in log scale, labelled YLabel + " (log
	// scale)"; points with y <= 0 are then skipped like non-finite ones.
	LogY   bool
	Series []Series
}

// yLabel is the y axis label as drawn: a log axis says so, since its
// decades read like a linear axis' round values.
func (p Panel) yLabel() string {
	switch {
	case !p.LogY:
		return p.YLabel
	case p.YLabel == "":
		return "log scale"
	}
	return p.YLabel + " (log scale)"
}

// Series is one named line. Points are joined in order; a point
// with a NaN or infinite coordinate is skipped and breaks the line.
type Series struct {
	Name   string
	Points []Point
}

// Point is a point of a series, in data coordinates.
type Point struct{ X, Y float64 }

// seriesColors are distinct on white and from each other; a chart with
// more series reuses them.
var seriesColors = []string{
	"#1f6fb4", "#d1342b", "#2e9a3a", "#f08a0c", "#8a55c0",
	"#8c564b", "#d9529f", "#13a8b8", "#6b6b6b", "#a5a51c",
}

// Layout constants, in pixels at the default size.
const (
	chartTitleSize  = 16
	chartLabelSize  = 13
	chartTickSize   = 11
	chartLegendSize = 12
	chartCharWidth  = 0.6 // average glyph width of a sans-serif font, in font sizes
	chartPanelGap   = 18  // between stacked panels
	chartTickLen    = 5
	chartMarkersMax = 40 // series with at most this many points show each one
	chartLegendMax  = 28 // characters of a series name shown in the legend
)

// Write writes c as a standalone SVG document. Axes get ticks at
// round values (decades on a log axis), every panel a legend on its right,
// every series its own colour and, after a panel's first, dashes (see
// seriesStyle). A panel with no plottable point is drawn
// empty with a note. It fails only on a chart it cannot lay out or on a
// write error.
func Write(w io.Writer, c Chart) error {
	if len(c.Panels) == 0 {
		return errors.New("chart has no panels")
	}
	width, height := c.Width, c.Height
	if width == 0 {
		width = 800
	}
	if height == 0 {
		height = 500
	}
	if width < 300 || height < 120*len(c.Panels) {
		return fmt.Errorf("chart of %d panels does not fit in %dx%d pixels", len(c.Panels), width, height)
	}

	// The x range spans every plottable point of every panel.
	xr := newRange()
	panels := make([]panelLayout, len(c.Panels))
	for i, p := range c.Panels {
		panels[i].panel = p
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if plottable(pt, p.LogY) {
					xr.add(pt.X)
				}
			}
		}
	}
	xAxis := linearAxis(xr, 8, xr.integers)

	// Horizontal layout: y label, y tick labels, plot, legend. Every panel
	// shares the plot's left and right edges, so the x axis lines up.
	tickChars := 0
	legendChars := 0
	for i := range panels {
		p := &panels[i]
		yr := newRange()
		for _, s := range p.panel.Series {
			for _, pt := range s.Points {
				if plottable(pt, p.panel.LogY) {
					yr.add(pt.Y)
				}
			}
			legendChars = max(legendChars, len([]rune(legendName(s.Name))))
		}
		p.empty = yr.n == 0
		target := max(2, (height-80)/len(panels)/45)
		if p.panel.LogY {
			p.y = logAxis(yr, target)
		} else {
			p.y = linearAxis(yr, target, false)
		}
		for _, t := range p.y.ticks {
			tickChars = max(tickChars, len(t.label))
		}
	}
	left := 12 + chartLabelSize + 10 + int(float64(tickChars)*chartCharWidth*chartTickSize) + chartTickLen + 4
	right := width - 16
	if legendChars > 0 {
		right -= 14 + 24 + 6 + int(float64(legendChars)*chartCharWidth*chartLegendSize)
	}
	if right-left < 120 {
		return fmt.Errorf("chart of %d pixels is too narrow for its labels and legend", width)
	}
	top := 12
	if c.Title != "" {
		top = 12 + chartTitleSize + 14
	}
	bottom := height - (chartTickLen + chartTickSize + 8)
	if c.XLabel != "" || c.Panels[len(c.Panels)-1].XLabel != "" {
		bottom -= chartLabelSize + 10
	}
	bottom -= 6
	// Under a panel with an x label of its own, and above the next, go its
	// x tick labels and label.
	const xAxisHeight = chartTickLen + chartTickSize + 8 + chartLabelSize + 10
	gaps := make([]float64, len(panels))
	gapSum := 0.0
	for i := range panels[:len(panels)-1] {
		gaps[i] = chartPanelGap
		if panels[i].panel.XLabel != "" {
			gaps[i] += xAxisHeight
		}
		gapSum += gaps[i]
	}
	panelH := (float64(bottom-top) - gapSum) / float64(len(panels))
	y := float64(top)
	for i := range panels {
		p := &panels[i]
		p.top = y
		p.bottom = p.top + panelH
		p.left, p.right = float64(left), float64(right)
		y = p.bottom + gaps[i]
	}

	var b svgBuilder
	b.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n",
		width, height, width, height)
	b.printf(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	if c.Title != "" {
		b.printf(`<text x="%.1f" y="%d" font-size="%d" font-weight="bold" text-anchor="middle">%s</text>`+"\n",
			float64(left+right)/2, 12+chartTitleSize, chartTitleSize, esc(c.Title))
	}
	colour := 0
	for i := range panels {
		p := &panels[i]
		last := i == len(panels)-1
		p.draw(&b, xAxis, last || p.panel.XLabel != "", &colour)
		// The x axis labels, under the bottom panel and under any with
		// an x label of its own.
		label := p.panel.XLabel
		if last && label == "" {
			label = c.XLabel
		}
		if !last && label == "" {
			continue
		}
		for _, t := range xAxis.ticks {
			x := p.xPos(xAxis, t.value)
			b.printf(`<text x="%.2f" y="%.2f" font-size="%d" text-anchor="middle">%s</text>`+"\n",
				x, p.bottom+chartTickLen+4+chartTickSize, chartTickSize, esc(t.label))
		}
		if label != "" {
			b.printf(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle">%s</text>`+"\n",
				(p.left+p.right)/2, p.bottom+chartTickLen+4+chartTickSize+10+chartLabelSize, chartLabelSize, esc(label))
		}
	}
	b.printf("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// plottable tells whether a point can be drawn on an axis.
func plottable(pt Point, logY bool) bool {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	return finite(pt.X) && finite(pt.Y) && (!logY || pt.Y > 0)
}

// legendName is a series' name as the legend shows it.
func legendName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	if r := []rune(name); len(r) > chartLegendMax {
		return string(r[:chartLegendMax-1]) + "…"
	}
	return name
}

// panelLayout is a panel placed on the canvas with its y axis.
type panelLayout struct {
	panel                    Panel
	y                        axis
	empty                    bool
	top, bottom, left, right float64
}

func (p *panelLayout) xPos(a axis, v float64) float64 {
	return p.left + (p.right-p.left)*a.frac(v)
}

func (p *panelLayout) yPos(v float64) float64 {
	return p.bottom - (p.bottom-p.top)*p.y.frac(v)
}

// draw draws the panel's grid, frame, y axis, series and legend; the x
// tick marks too, and their labels are left to the caller. colour is the
// index of the next series colour, shared across panels.
func (p *panelLayout) draw(b *svgBuilder, xa axis, bottomPanel bool, colour *int) {
	w, h := p.right-p.left, p.bottom-p.top
	// Grid: minor lines first, so major ones cover them.
	for _, t := range p.y.minor {
		y := p.yPos(t)
		b.printf(`<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="#f0f0f0"/>`+"\n", p.left, y, p.right, y)
	}
	for _, t := range p.y.ticks {
		y := p.yPos(t.value)
		b.printf(`<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="#dddddd"/>`+"\n", p.left, y, p.right, y)
	}
	for _, t := range xa.ticks {
		x := p.xPos(xa, t.value)
		b.printf(`<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="#dddddd"/>`+"\n", x, p.top, x, p.bottom)
		if bottomPanel {
			b.printf(`<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="#333333"/>`+"\n", x, p.bottom, x, p.bottom+chartTickLen)
		}
	}
	b.printf(`<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="none" stroke="#333333"/>`+"\n", p.left, p.top, w, h)
	for _, t := range p.y.ticks {
		y := p.yPos(t.value)
		b.printf(`<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="#333333"/>`+"\n", p.left-chartTickLen, y, p.left, y)
		b.printf(`<text x="%.2f" y="%.2f" font-size="%d" text-anchor="end" dy="0.35em">%s</text>`+"\n",
			p.left-chartTickLen-3, y, chartTickSize, esc(t.label))
	}
	if label := p.panel.yLabel(); label != "" {
		b.printf(`<text transform="translate(%.2f,%.2f) rotate(-90)" font-size="%d" text-anchor="middle">%s</text>`+"\n",
			12+chartLabelSize-2.0, p.top+h/2, chartLabelSize, esc(label))
	}
	if p.empty {
		b.printf(`<text x="%.2f" y="%.2f" font-size="%d" fill="#888888" text-anchor="middle">no data</text>`+"\n",
			p.left+w/2, p.top+h/2, chartLabelSize)
	}

	legendY := p.top + 8
	for k, s := range p.panel.Series {
		st := styleOf(*colour, k)
		*colour++
		b.printf(`<g class="series">`+"<title>%s</title>\n", esc(s.Name))
		var path strings.Builder
		var pts [][2]float64
		var isolated []bool
		up := false // whether the previous point was drawn
		plotted := 0
		for _, pt := range s.Points {
			if !plottable(pt, p.panel.LogY) {
				up = false
				continue
			}
			x, y := p.xPos(xa, pt.X), p.yPos(pt.Y)
			cmd := "L"
			if !up {
				cmd = "M"
			}
			fmt.Fprintf(&path, "%s%.2f %.2f ", cmd, x, y)
			// A point starting a line is isolated until a next one joins it.
			if up {
				isolated[len(isolated)-1] = false
			}
			isolated = append(isolated, !up)
			pts = append(pts, [2]float64{x, y})
			up = true
			plotted++
		}
		if path.Len() > 0 {
			b.printf(`<path d="%s" fill="none" stroke="%s" stroke-width="%g" stroke-linejoin="round" stroke-linecap="%s"%s/>`+"\n",
				strings.TrimSpace(path.String()), st.colour, st.width, st.cap(), st.dashAttr())
		}
		for i, pt := range pts {
			if plotted <= chartMarkersMax || isolated[i] {
				st.marker(b, pt[0], pt[1])
			}
		}
		b.printf("</g>\n")

		// Legend entry, to the right of the plot.
		lx := p.right + 14
		b.printf(`<line x1="%.2f" y1="%.2f" x2="%.2f" y2="%.2f" stroke="%s" stroke-width="%g"%s/>`+"\n",
			lx, legendY, lx+24, legendY, st.colour, st.width, st.dashAttr())
		if plotted <= chartMarkersMax {
			st.marker(b, lx+12, legendY)
		}
		b.printf(`<text x="%.2f" y="%.2f" font-size="%d" dy="0.35em">%s</text>`+"\n",
			lx+30, legendY, chartLegendSize, esc(legendName(s.Name)))
		legendY += chartLegendSize + 8
	}
}

// seriesStyle is how a series is drawn. Series that overlap must all stay
// visible: each after a panel's first is drawn over the earlier ones
// dashed, in a pattern of its own, and thinner, so that one lying on
// another shows through its gaps and along its edges; where points are
// marked, each series has its own marker shape too.
type seriesStyle struct {
	colour string
	dash   string // stroke-dasharray, "" for solid
	width  float64
	shape  int // index in markerShapes
}

// seriesDashes are the patterns of a panel's series in turn, solid first;
// each differs from the others in its dash or gap lengths.
var seriesDashes = []string{"", "9 5", "2 4", "12 4 2 4", "5 3", "1 6"}

// markerShapes are the markers of a panel's series in turn.
const markerShapes = 4 // circle, square, triangle, diamond

// styleOf is the style of the chart's n-th series (colours run across
// panels), the k-th of its panel.
func styleOf(n, k int) seriesStyle {
	st := seriesStyle{
		colour: seriesColors[n%len(seriesColors)],
		dash:   seriesDashes[0],
		width:  2.6,
		shape:  k % markerShapes,
	}
	if k > 0 {
		st.dash = seriesDashes[1+(k-1)%(len(seriesDashes)-1)]
		st.width = 1.8
	}
	return st
}

func (st seriesStyle) dashAttr() string {
	if st.dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + st.dash + `"`
}

// cap keeps dots of a dotted pattern square: round caps would fill its
// short gaps.
func (st seriesStyle) cap() string {
	if st.dash == "" {
		return "round"
	}
	return "butt"
}

// marker draws the style's marker centred at (x, y).
func (st seriesStyle) marker(b *svgBuilder, x, y float64) {
	const r = 3.2
	switch st.shape {
	case 0:
		b.printf(`<circle cx="%.2f" cy="%.2f" r="3" fill="%s"/>`+"\n", x, y, st.colour)
	case 1:
		b.printf(`<rect class="marker" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"/>`+"\n", x-r*0.85, y-r*0.85, 1.7*r, 1.7*r, st.colour)
	case 2:
		b.printf(`<polygon points="%.2f,%.2f %.2f,%.2f %.2f,%.2f" fill="%s"/>`+"\n", x, y-1.2*r, x-1.1*r, y+0.8*r, x+1.1*r, y+0.8*r, st.colour)
	default:
		b.printf(`<polygon points="%.2f,%.2f %.2f,%.2f %.2f,%.2f %.2f,%.2f" fill="%s"/>`+"\n", x, y-1.2*r, x+1.2*r, y, x, y+1.2*r, x-1.2*r, y, st.colour)
	}
}

// dataRange accumulates the extent of a set of values.
type dataRange struct {
	lo, hi   float64
	n        int
	integers bool // every value is a whole number
}

func newRange() dataRange { return dataRange{lo: math.Inf(1), hi: math.Inf(-1), integers: true} }

func (r *dataRange) add(v float64) {
	r.lo, r.hi = min(r.lo, v), max(r.hi, v)
	r.n++
	r.integers = r.integers && v == math.Trunc(v)
}

// axis maps values to [0, 1] along an axis, linearly or by log10.
type axis struct {
	lo, hi float64 // in axis coordinates (log10 of the value on a log axis)
	log    bool
	ticks  []tick
	minor  []float64 // values of unlabelled grid lines
}

type tick struct {
	value float64
	label string
}

func (a axis) frac(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return (v - a.lo) / (a.hi - a.lo)
}

// linearAxis spans r with about target ticks at round values (1, 2 or 5
// times a power of ten), widening r to the outer ticks. With integers the
// step is a whole number.
func linearAxis(r dataRange, target int, integers bool) axis {
	lo, hi := r.lo, r.hi
	// A span float64 can hardly resolve counts as none: the values are
	// drawn as equal, on a range around them.
	equal := hi-lo <= max(math.Abs(lo), math.Abs(hi))*1e-9
	switch {
	case r.n == 0:
		lo, hi = 0, 1
	case equal && integers:
		lo, hi = lo-1, lo+1
	case equal && lo == 0:
		lo, hi = -1, 1
	case equal:
		d := math.Abs(lo) * 0.1
		lo, hi = lo-d, lo+d
	}
	step := niceStep((hi-lo)/float64(target), integers)
	// The slack keeps a bound that is a tick, up to rounding, from
	// adding one more.
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	a := axis{lo: first * step, hi: last * step}
	for k := range int(last-first) + 1 {
		a.ticks = append(a.ticks, tick{value: (first + float64(k)) * step})
	}
	labelTicks(a.ticks, step)
	return a
}

// niceStep is the least of 1, 2 and 5 times a power of ten that is at
// least raw; at least 1 for integers.
func niceStep(raw float64, integers bool) float64 {
	if integers && raw <= 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// labelTicks labels evenly spaced ticks with as many decimals as the step
// needs, or in exponent notation for very large or small values.
func labelTicks(ticks []tick, step float64) {
	maxAbs := 0.0
	for _, t := range ticks {
		maxAbs = max(maxAbs, math.Abs(t.value))
	}
	stepExp := int(math.Floor(math.Log10(step) + 1e-9))
	if maxAbs < 1e6 && stepExp >= -4 {
		decimals := max(0, -stepExp)
		for i := range ticks {
			v := ticks[i].value
			if math.Abs(v) < step/2 {
				v = 0 // not "-0" or "1e-17"
			}
			ticks[i].label = strconv.FormatFloat(v, 'f', decimals, 64)
		}
		return
	}
	digits := max(0, int(math.Floor(math.Log10(maxAbs)))-stepExp)
	for i := range ticks {
		v := ticks[i].value
		if math.Abs(v) < step/2 {
			ticks[i].label = "0"
			continue
		}
		ticks[i].label = ShortExp(strconv.FormatFloat(v, 'e', digits, 64))
	}
}

// ShortExp turns Go's "1.5e+07" into "1.5e7" and "2e-05" into "2e-5".
func ShortExp(s string) string {
	mant, exp, ok := strings.Cut(s, "e")
	if !ok {
		return s
	}
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp, "+-0")
	if exp == "" {
		return mant
	}
	return mant + "e" + sign + exp
}

// logAxis spans r, all positive, on a log10 scale. Across a decade or
// more it ticks powers of ten (every k-th one to stay near target) with
// minor lines at their multiples; within less, round linear values.
func logAxis(r dataRange, target int) axis {
	if r.n == 0 {
		r.lo, r.hi = 1, 10
	}
	lo, hi := math.Log10(r.lo), math.Log10(r.hi)
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	a := axis{log: true}
	if hi-lo < 1 {
		// Less than a decade: round values of the linear scale, placed
		// by their logarithm.
		lin := linearAxis(dataRange{lo: math.Pow(10, lo), hi: math.Pow(10, hi), n: 2}, target, false)
		step := lin.ticks[1].value - lin.ticks[0].value
		pad := (hi - lo) * 0.05
		a.lo, a.hi = lo-pad, hi+pad
		for _, t := range lin.ticks {
			if t.value > 0 && math.Log10(t.value) >= a.lo && math.Log10(t.value) <= a.hi {
				a.ticks = append(a.ticks, t)
			}
		}
		labelTicks(a.ticks, step)
		return a
	}
	first, last := math.Floor(lo+1e-9), math.Ceil(hi-1e-9)
	// Label every k-th decade, the axis ending on labelled ones.
	every := math.Ceil((last - first) / float64(target))
	first, last = math.Floor(first/every)*every, math.Ceil(last/every)*every
	a.lo, a.hi = first, last
	for k := first; k <= last; k += every {
		a.ticks = append(a.ticks, tick{value: math.Pow(10, k), label: decadeLabel(int(k))})
	}
	if last-first <= 6 {
		for k := first; k < last; k++ {
			for m := 2.0; m <= 9; m++ {
				a.minor = append(a.minor, m*math.Pow(10, k))
			}
		}
	}
	return a
}

// decadeLabel writes 10^k plainly when short, else as 1e<k>.
func decadeLabel(k int) string {
	if -3 <= k && k <= 5 {
		return strconv.FormatFloat(math.Pow(10, float64(k)), 'f', max(0, -k), 64)
	}
	return "1e" + strconv.Itoa(k)
}

// svgBuilder accumulates the document; writing it whole at the end makes
// write errors a single check.
type svgBuilder struct{ bytes.Buffer }

func (b *svgBuilder) printf(format string, args ...any) { fmt.Fprintf(&b.Buffer, format, args...) }

// esc escapes text for XML character data and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}
