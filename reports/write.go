package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/mxaudit/mxaudit/audit"
)

// Format is one output format of --format.
type Format string

// The formats; JSON is results.json itself, which the caller writes with audit.WriteResults.
const (
	XLSX Format = "xlsx"
	PDF  Format = "pdf"
	JSON Format = "json"
	CSV  Format = "csv"
)

// AllFormats is the default of --format.
var AllFormats = []Format{XLSX, PDF, JSON, CSV}

// ParseFormats reads a comma-separated list such as "xlsx,pdf"; "all" means AllFormats.
func ParseFormats(s string) ([]Format, error) {
	var out []Format
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		switch Format(f) {
		case "":
			continue
		case "all":
			return slices.Clone(AllFormats), nil
		case XLSX, PDF, JSON, CSV:
			if !slices.Contains(out, Format(f)) {
				out = append(out, Format(f))
			}
		default:
			return nil, fmt.Errorf("unknown format %q (want xlsx, pdf, json, csv or all)", f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no format given (want xlsx, pdf, json, csv or all)")
	}
	return out, nil
}

// File names written into the output folder.
const (
	FileXLSX        = "report.xlsx"
	FilePDF         = "report.pdf"
	FilePartnersCSV = "partners.csv"
	FileFindingsCSV = "findings.csv"
	FileRootsCSV    = "private-roots.csv"
	FileChangesCSV  = "changes.csv"
	FileTrustCSV    = "trust-errors.csv"
	DirPartnerPDFs  = "partners"
	FileResultsJSON = "results.json"
	FileRootsJSON   = "private-roots.json"
	FileRootsXLSX   = "private-roots.xlsx"
	FileRootsPDF    = "private-roots.pdf"
)

// WriteAll writes the reports of res for formats into dir, each file
// atomically, and returns the paths written. JSON is skipped: results.json
// is written by the caller. CSV includes changes.csv only when the run has
// changes (a changes.csv left from an earlier run is removed, so it is never
// stale). perPartner adds partners/<name>.pdf for each partner. A report
// that fails does not keep the others from being written: the errors are
// joined. When ctx ends, WriteAll stops after the file under way.
func WriteAll(ctx context.Context, dir string, res *audit.Results, formats []Format, perPartner bool, opts Options) ([]string, error) {
	return WriteAllFrom(ctx, dir, res, PartnersOf(res), formats, perPartner, opts)
}

// WriteAllFrom writes the reports as WriteAll does, with the partners
// taken from partners (the run's results in results order, ranged once per
// report or more; head.Partners is not read and may be nil): the CSVs row
// by row, the workbook in passes (WriteXLSXFrom), the PDF report from its
// one-pass tally, and the per-partner PDFs
// one partner at a time (writePartnerPDFs).
func WriteAllFrom(ctx context.Context, dir string, head *audit.Results, partners iter.Seq[*audit.Result], formats []Format, perPartner bool, opts Options) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	write := func(name string, fn func(io.Writer) error) error {
		p := filepath.Join(dir, name)
		if err := audit.WriteAtomic(p, fn); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		written = append(written, p)
		return nil
	}
	var errs []error
	for _, f := range formats {
		if ctx.Err() != nil {
			return written, errors.Join(append(errs, context.Cause(ctx))...)
		}
		var err error
		switch f {
		case XLSX:
			err = write(FileXLSX, func(w io.Writer) error { return WriteXLSXFrom(w, head, partners, opts) })
		case PDF:
			err = write(FilePDF, func(w io.Writer) error { return WritePDFFrom(w, head, partners, opts) })
		case CSV:
			err = writeCSVs(dir, head, partners, opts, write)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if perPartner && ctx.Err() == nil {
		paths, err := writePartnerPDFs(ctx, dir, head, partners, opts)
		written = append(written, paths...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return written, errors.Join(errs...)
}

// writeCSVs writes partners.csv, targets.csv, findings.csv,
// private-roots.csv and, when the run has any, trust-errors.csv and
// changes.csv (removing a stale one otherwise) with write.
func writeCSVs(dir string, head *audit.Results, partners iter.Seq[*audit.Result], opts Options, write func(string, func(io.Writer) error) error) error {
	err := write(FilePartnersCSV, func(w io.Writer) error { return WritePartnersCSVFrom(w, head, partners, opts) })
	if err == nil {
		err = write(FileTargetsCSV, func(w io.Writer) error { return WriteTargetsCSVFrom(w, head, partners, opts) })
	}
	if err == nil {
		err = write(FileFindingsCSV, func(w io.Writer) error { return WriteFindingsCSVFrom(w, head, partners, opts) })
	}
	if err == nil {
		err = write(FileRootsCSV, func(w io.Writer) error { return WriteRootsCSV(w, head.PrivateRoots, head.RunThresholds(), opts) })
	}
	if err == nil && len(head.TrustErrors) > 0 {
		err = write(FileTrustCSV, func(w io.Writer) error { return WriteTrustErrorsCSV(w, head.TrustErrors) })
	} else if err == nil {
		err = removeStale(dir, FileTrustCSV)
	}
	if err == nil && len(head.Changes) > 0 {
		err = write(FileChangesCSV, func(w io.Writer) error { return WriteChangesCSV(w, head, opts) })
	} else if err == nil {
		err = removeStale(dir, FileChangesCSV)
	}
	return err
}

// removeStale removes dir/name, left from an earlier run, if it is there.
func removeStale(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// firstRows returns the index of the first row of each partner name, in order.
func firstRows(res *audit.Results) []int {
	seen := map[string]bool{}
	var out []int
	for i := range res.Partners {
		if !seen[res.Partners[i].Name] {
			seen[res.Partners[i].Name] = true
			out = append(out, i)
		}
	}
	return out
}

// PartnerFileNames returns the per-partner PDF file name of each row, in
// order: the partner's name with anything but letters, digits, '-', '_'
// and '.' replaced by '-', made unique with a numeric suffix. Rows of the
// same partner name share one file, which covers them all.
func PartnerFileNames(res *audit.Results) []string {
	var names fileNames
	byName := map[string]string{}
	out := make([]string, len(res.Partners))
	for i := range res.Partners {
		f, ok := byName[res.Partners[i].Name]
		if !ok {
			f = names.next(res.Partners[i].Name)
			byName[res.Partners[i].Name] = f
		}
		out[i] = f
	}
	return out
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		ok := unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '.'
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() > 80 {
			break
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" {
		out = "partner"
	}
	return out
}
