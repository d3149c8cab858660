package reports

import (
	"fmt"

	"github.com/xuri/excelize/v2"
)

// SheetVantages is the workbook sheet comparing the run's vantage points
// (Options.Vantages): one row per target they saw differently.
const SheetVantages = "Vantage Points"

// vantagesSheet writes the Vantage Points sheet when Options.Vantages is
// set: one row per differing target, the primary verdict from each vantage
// point in a column, and the note; the rows failing from some vantage
// points only are coloured red, the others amber.
func (x *xl) vantagesSheet() error {
	vs := x.vantages
	if vs == nil {
		return nil
	}
	cols := []column{{"Partner", 28}, {"Domain", 22}, {"Host", 26}, {"Port", 7}, {"Address", 24}}
	for _, n := range vs.Names {
		cols = append(cols, column{"From " + vantageName(n), 18})
	}
	cols = append(cols, column{"Note", 40})
	noteCol, _ := excelize.ColumnNumberToName(len(cols))
	lastCol := noteCol
	s := sheet{name: SheetVantages, table: "VantagePoints", cols: cols, whole: FileVantagesCSV, note: func() string {
		if vs.Same == 0 {
			return ""
		}
		return fmt.Sprintf("%d more targets every vantage point saw alike are not listed (%s lists every target).", vs.Same, FileVantagesCSV)
	}}
	return x.stream(s, func(row func([]any) error) error {
		for _, r := range vs.Rows {
			cells := []any{r.Partner, r.Domain, blank(r.Host), r.Port, blank(r.Address)}
			for i := range vs.Names {
				var vd any
				if i < len(r.Verdicts) && r.Verdicts[i] != "" {
					vd = string(r.Verdicts[i])
				}
				cells = append(cells, vd)
			}
			if err := row(append(cells, blank(r.Note))); err != nil {
				return err
			}
		}
		return nil
	}, func(last int) error {
		// "fails from ... only" is vantageNote's wording of a row failing from some vantage points.
		return x.f.SetConditionalFormat(SheetVantages, fmt.Sprintf("A2:%s%d", lastCol, last), []excelize.ConditionalFormatOptions{
			{Type: "formula", Criteria: fmt.Sprintf(`LEFT($%s2,11)="fails from "`, noteCol), Format: ptr(x.worse), StopIfTrue: true},
			{Type: "formula", Criteria: fmt.Sprintf(`$%s2<>""`, noteCol), Format: ptr(x.daysAmber)},
		})
	})
}
