package chart

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
)

// A chart is well-formed SVG named for screen readers, holds no inline
// style (the CSP forbids it) and escapes its text.
func TestCharts(t *testing.T) {
	c := Chart{ID: "c1", Title: "Sign-ins <by> method", Desc: "30 days & counting", Labels: []string{"11-01", "11-02", "11-03"}}
	for name, svg := range map[string]string{
		"stacked": string(Stacked(c, []Series{{Name: "Passkey", Class: "s1", Values: []float64{1, 2, 3}},
			{Name: "Password", Class: "s2", Values: []float64{4, 0, 1}}})),
		"line": string(Line(Chart{ID: "c2", Title: "Adoption", Desc: "d", Labels: c.Labels, Percent: true},
			[]Series{{Name: "Share", Class: "s1", Values: []float64{10, math.NaN(), 40}}})),
	} {
		dec := xml.NewDecoder(strings.NewReader("<root>" + svg + "</root>"))
		for {
			if _, err := dec.Token(); err != nil {
				if err.Error() != "EOF" {
					t.Errorf("%s: not well-formed: %v\n%s", name, err, svg)
				}
				break
			}
		}
		for _, want := range []string{`role="img"`, `aria-labelledby=`, `<title id=`, `<desc id=`} {
			if !strings.Contains(svg, want) {
				t.Errorf("%s: no %s", name, want)
			}
		}
		if strings.Contains(svg, "style=") || strings.Contains(svg, "<by>") {
			t.Errorf("%s: inline style or unescaped text:\n%s", name, svg)
		}
	}
	// The stack of the first column is 5 of a scale of 5 or more; a
	// missing value breaks the line into dots.
	if s := string(Line(Chart{ID: "x", Labels: []string{"a", "b", "c"}, Percent: true},
		[]Series{{Class: "s1", Values: []float64{10, math.NaN(), 40}}})); strings.Contains(s, "<polyline") {
		t.Errorf("a line drawn across a gap: %s", s)
	}
	if niceMax(5, false) != 5 || niceMax(37, false) != 50 || niceMax(2, false) != 4 || niceMax(1234, false) != 2000 {
		t.Error("niceMax")
	}
}
