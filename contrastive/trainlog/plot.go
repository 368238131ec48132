package trainlog

import (
	"fmt"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/contriever-go/contriever/internal/atomicfile"
)

// Plot draws the rows as a PNG at path (written atomically): one panel for
// the loss, one for the learning rate and, for each name in evalCols that
// has at least one value, one for that column, all against the step.
func Plot(path string, rows []Row, evalCols ...string) error {
	type panel struct {
		title string
		get   func(Row) (float64, bool)
	}
	panels := []panel{
		{"loss", func(r Row) (float64, bool) { return r.Loss, !math.IsNaN(r.Loss) }},
		{"learning rate", func(r Row) (float64, bool) { return r.LR, !math.IsNaN(r.LR) }},
	}
	for _, c := range evalCols {
		has := false
		for _, r := range rows {
			if _, ok := r.Extra[c]; ok {
				has = true
				break
			}
		}
		if has {
			c := c
			panels = append(panels, panel{c, func(r Row) (float64, bool) { v, ok := r.Extra[c]; return v, ok }})
		}
	}
	var plots [][]*plot.Plot
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "step"
		var xy plotter.XYs
		for _, r := range rows {
			if v, ok := pn.get(r); ok && !math.IsInf(v, 0) {
				xy = append(xy, plotter.XY{X: float64(r.Step), Y: v})
			}
		}
		if len(xy) > 0 {
			line, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("trainlog: plotting %s: %w", pn.title, err)
			}
			p.Add(line)
			if len(xy) <= 50 {
				pts, err := plotter.NewScatter(xy)
				if err == nil {
					pts.GlyphStyle.Radius = vg.Points(2)
					p.Add(pts)
				}
			}
		}
		p.Add(plotter.NewGrid())
		if len(rows) > 0 {
			// One step axis for every panel.
			p.X.Min, p.X.Max = float64(rows[0].Step), float64(rows[len(rows)-1].Step)
			if p.X.Max <= p.X.Min {
				p.X.Max = p.X.Min + 1
			}
		}
		plots = append(plots, []*plot.Plot{p})
	}
	const w, rowH = 8 * vg.Inch, 2.6 * vg.Inch
	img := vgimg.New(w, rowH*vg.Length(len(plots)))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(8)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return atomicfile.Write(path, func(wr io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(wr)
		return err
	})
}
