package reports

import "fmt"

// vantages writes the comparison of the run's vantage points: a table of
// the targets they saw differently (capped at maxListRows, the rest in
// vantages.csv), each point's verdict and the note, and how many targets
// every point saw alike; nothing without vs.
func (d *doc) vantages(vs *Vantages) {
	if vs == nil {
		return
	}
	d.addPage()
	d.heading("Vantage points compared", 16)
	names := make([]string, len(vs.Names))
	for k, n := range vs.Names {
		names[k] = vantageName(n)
	}
	d.para(fmt.Sprintf("The same audit from %s: the targets they saw differently. A target that fails from some vantage points only points at the network path (a firewall, an outbound proxy, DNS views), not at the partner's server.",
		joinAnd(names)), "", 9.5, 4.8)
	rows := vs.Rows[:min(len(vs.Rows), maxListRows)]
	if len(rows) > 0 {
		const partnerW, targetW, noteW = 36.0, 44.0, 40.0
		cols := []tcol{{"Partner", partnerW, "L", true}, {"Target", targetW, "L", true}}
		each := (d.width - partnerW - targetW - noteW) / float64(max(len(names), 1))
		for _, n := range names {
			cols = append(cols, tcol{n, each, "L", true})
		}
		cols = append(cols, tcol{"Note", noteW, "L", true})
		d.table(cols, len(rows), func(i int) ([]string, []mark) {
			r := rows[i]
			target := r.Host
			if r.Port != 0 {
				target = fmt.Sprintf("%s:%d", r.Host, r.Port)
			}
			if r.Address != "" {
				target += " (" + r.Address + ")"
			}
			cells := []string{r.Partner, target}
			for _, vd := range r.Verdicts {
				s := string(vd)
				if s == "" {
					s = "–"
				}
				cells = append(cells, s)
			}
			return append(cells, r.Note), nil
		})
		d.more(len(vs.Rows)-len(rows), "target", FileVantagesCSV)
	}
	d.p.Ln(2)
	d.para(fmt.Sprintf("%s target%s seen alike from every vantage point, %s seen differently.",
		thousands(vs.Same), plural(vs.Same), thousands(len(vs.Rows))), "B", 9.5, 4.8)
}
