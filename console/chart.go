package console

import (
	"fmt"
	"html"
	"strings"
)

// The charts are SVG rendered here, on the server, and pushed over the
// event stream: no charting library, no JavaScript build, nothing to
// fetch, and the same picture with scripts off. Colours are the
// verdicts' (and pass WCAG AA contrast against white for the labels).
var verdictColour = [len(Verdicts)]string{"#2e7d32", "#a15c00", "#6a1b9a", "#c62828"}

// VerdictChart draws calls per minute as stacked bars, one per minute,
// with a y axis scaled to a round maximum.
func VerdictChart(st Stats) string {
	const w, h, left, bottom, top = 720, 220, 44, 28, 12
	plotW, plotH := float64(w-left-8), float64(h-bottom-top)
	peak := 0
	for _, p := range st.Series {
		sum := 0
		for _, n := range p.Verdicts {
			sum += n
		}
		peak = max(peak, sum)
	}
	ymax := niceMax(peak)
	var b strings.Builder
	desc := fmt.Sprintf("Last hour: %d allowed, %d challenged, %d sent to the honeypot, %d rejected; last minute %d calls.",
		st.Total[0], st.Total[1], st.Total[2], st.Total[3], st.LastMinute[0]+st.LastMinute[1]+st.LastMinute[2]+st.LastMinute[3])
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="vc-title vc-desc" class="chart">`, w, h)
	fmt.Fprintf(&b, `<title id="vc-title">Calls screened per minute by verdict</title><desc id="vc-desc">%s</desc>`, html.EscapeString(desc))
	// Grid and y labels.
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d0d4d9" stroke-width="1"/>`, left, w-8, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#3a3f45">%d</text>`, left-6, y+4, ymax*i/4)
	}
	bw := plotW / float64(len(st.Series))
	for i, p := range st.Series {
		x := float64(left) + float64(i)*bw
		y := float64(top) + plotH
		total := 0
		for v, n := range p.Verdicts {
			total += n
			if n == 0 {
				continue
			}
			hgt := plotH * float64(n) / float64(ymax)
			y -= hgt
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`, x+0.5, y, bw-1, hgt, verdictColour[v])
		}
		if total > 0 {
			fmt.Fprintf(&b, `<title>%s UTC: %d calls</title>`, p.Time.Format("15:04"), total)
		}
		if i%10 == 0 || i == len(st.Series)-1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#3a3f45">%s</text>`, x+bw/2, h-10, p.Time.Format("15:04"))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// niceMax returns four grid steps of 1, 2 or 5 times a power of ten that
// reach n, so the y labels are whole, round numbers.
func niceMax(n int) int {
	for p := 1; p < 1<<50; p *= 10 {
		for _, m := range [...]int{1, 2, 5} {
			if m*p*4 >= n {
				return m * p * 4
			}
		}
	}
	return n
}

// RiskClass names the colour band of a 0–100 risk for the country table.
func RiskClass(risk int) string {
	switch {
	case risk >= 70:
		return "risk-high"
	case risk >= 30:
		return "risk-mid"
	}
	return "risk-low"
}
