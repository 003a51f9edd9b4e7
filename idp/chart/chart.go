// Package chart draws the console's charts as inline SVG on the server:
// no script, no framework, readable by screen readers (a title and a
// description of what the chart shows), and styled by the page's
// stylesheet (classes, never inline styles: the CSP allows none), so they
// follow the light and dark themes.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Size of the drawing, in SVG units; it scales to its box.
const (
	width  = 640
	height = 240
	left   = 48 // room for the y axis labels
	right  = 12
	top    = 12
	bottom = 36 // room for the x axis labels
)

// Series is one set of values, one per label, drawn in class (s1..s4).
type Series struct {
	Name   string
	Class  string
	Values []float64
}

// Chart is what a chart shows, for the image and for people who cannot
// see it.
type Chart struct {
	// ID makes the element IDs of the title and description unique.
	ID          string
	Title, Desc string
	Labels      []string
	// Percent draws values as 0-100 %.
	Percent bool
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// open starts the SVG with its accessible name and description.
func (c Chart) open(b *strings.Builder) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" focusable="false">`,
		width, height, esc(c.ID), esc(c.ID))
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, esc(c.ID), esc(c.Title), esc(c.ID), esc(c.Desc))
}

// axes draws the y grid up to max and the x labels (every few, so they
// never overlap), and returns the x position of each label's column.
func (c Chart) axes(b *strings.Builder, max float64) (x func(i int) float64, y func(v float64) float64, step float64) {
	n := len(c.Labels)
	step = float64(width-left-right) / float64(max1(n, 1))
	x = func(i int) float64 { return left + step*float64(i) + step/2 }
	y = func(v float64) float64 { return top + (float64(height-top-bottom))*(1-v/max) }
	for _, f := range []float64{0, .5, 1} {
		v := max * f
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, left, width-right, y(v), y(v))
		label := fmt.Sprintf("%g", math.Round(v*10)/10)
		if c.Percent {
			label += "%"
		}
		fmt.Fprintf(b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, y(v)+4, label)
	}
	every := max1(1, int(math.Ceil(float64(n)/6)))
	for i, l := range c.Labels {
		// Every few labels, and the last one when it does not crowd the
		// one before.
		if i%every == 0 || (i == n-1 && i%every >= (every+1)/2) {
			fmt.Fprintf(b, `<text class="axis" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), height-bottom+20, esc(l))
		}
	}
	return x, y, step
}

// Stacked draws one column per label, the series stacked.
func Stacked(c Chart, series []Series) template.HTML {
	var b strings.Builder
	c.open(&b)
	max := 0.0
	for i := range c.Labels {
		sum := 0.0
		for _, s := range series {
			sum += at(s.Values, i)
		}
		max = math.Max(max, sum)
	}
	max = niceMax(max, c.Percent)
	x, y, step := c.axes(&b, max)
	w := math.Max(step*0.7, 1)
	for i := range c.Labels {
		base := 0.0
		for _, s := range series {
			v := at(s.Values, i)
			if v <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`,
				esc(s.Class), x(i)-w/2, y(base+v), w, y(base)-y(base+v))
			base += v
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) + legend(series)
}

// Line draws each series as a line with a dot per value; a NaN value (no
// data) breaks the line.
func Line(c Chart, series []Series) template.HTML {
	var b strings.Builder
	c.open(&b)
	max := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				max = math.Max(max, v)
			}
		}
	}
	max = niceMax(max, c.Percent)
	x, y, _ := c.axes(&b, max)
	for _, s := range series {
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, esc(s.Class), strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for i := range c.Labels {
			v := at(s.Values, i)
			if math.IsNaN(v) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="3"/>`, esc(s.Class), x(i), y(v))
		}
		flush()
	}
	b.WriteString(`</svg>`)
	if len(series) > 1 {
		return template.HTML(b.String()) + legend(series)
	}
	return template.HTML(b.String())
}

// legend names the series, with their colors.
func legend(series []Series) template.HTML {
	var b strings.Builder
	b.WriteString(`<ul class="legend">`)
	for _, s := range series {
		fmt.Fprintf(&b, `<li><svg class="swatch" viewBox="0 0 10 10" aria-hidden="true" focusable="false"><rect class="%s" width="10" height="10"/></svg>%s</li>`,
			esc(s.Class), esc(s.Name))
	}
	b.WriteString(`</ul>`)
	return template.HTML(b.String())
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

// niceMax rounds the top of the scale up to a round number.
func niceMax(max float64, percent bool) float64 {
	if percent {
		return 100
	}
	if max <= 4 {
		return 4
	}
	mag := math.Pow(10, math.Floor(math.Log10(max)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if max <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

func max1(a, b int) int {
	if a > b {
		return a
	}
	return b
}
