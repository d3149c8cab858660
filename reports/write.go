package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
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

// WriteAllFrom writes the reports as WriteAll does, with partners.csv,
// targets.csv and findings.csv taken row by row from partners (the same
// results as res.Partners, in the same order); the workbook, the PDF and
// the per-partner PDFs still read res.Partners.
func WriteAllFrom(ctx context.Context, dir string, res *audit.Results, partners iter.Seq[*audit.Result], formats []Format, perPartner bool, opts Options) ([]string, error) {
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
			err = write(FileXLSX, func(w io.Writer) error { return WriteXLSX(w, res, opts) })
		case PDF:
			err = write(FilePDF, func(w io.Writer) error { return WritePDF(w, res, opts) })
		case CSV:
			err = write(FilePartnersCSV, func(w io.Writer) error { return WritePartnersCSVFrom(w, res, partners, opts) })
			if err == nil {
				err = write(FileTargetsCSV, func(w io.Writer) error { return WriteTargetsCSVFrom(w, res, partners, opts) })
			}
			if err == nil {
				err = write(FileFindingsCSV, func(w io.Writer) error { return WriteFindingsCSVFrom(w, res, partners, opts) })
			}
			if err == nil {
				err = write(FileRootsCSV, func(w io.Writer) error { return WriteRootsCSV(w, res.PrivateRoots, res.RunThresholds(), opts) })
			}
			if err == nil && len(res.TrustErrors) > 0 {
				err = write(FileTrustCSV, func(w io.Writer) error { return WriteTrustErrorsCSV(w, res.TrustErrors) })
			} else if err == nil {
				if rerr := os.Remove(filepath.Join(dir, FileTrustCSV)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					err = fmt.Errorf("%s: %w", FileTrustCSV, rerr)
				}
			}
			if err == nil && len(res.Changes) > 0 {
				err = write(FileChangesCSV, func(w io.Writer) error { return WriteChangesCSV(w, res, opts) })
			} else if err == nil {
				if rerr := os.Remove(filepath.Join(dir, FileChangesCSV)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					err = fmt.Errorf("%s: %w", FileChangesCSV, rerr)
				}
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if perPartner && ctx.Err() == nil {
		if err := os.MkdirAll(filepath.Join(dir, DirPartnerPDFs), 0o755); err != nil {
			return written, err
		}
		// One PDF costs ~30 ms (mostly embedding the font): render on every core, report in partner order.
		names := PartnerFileNames(res)
		paths := make([]string, len(res.Partners))
		perr := make([]error, len(res.Partners))
		next := make(chan int)
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for i := range next {
					var b bytes.Buffer
					name := filepath.Join(DirPartnerPDFs, names[i])
					if err := partnerPDF(&b, res, i, opts); err != nil {
						perr[i] = fmt.Errorf("%s: %w", name, err)
						continue
					}
					paths[i] = filepath.Join(dir, name)
					if err := audit.WriteFileAtomic(paths[i], b.Bytes()); err != nil {
						perr[i] = fmt.Errorf("%s: %w", name, err)
						paths[i] = ""
					}
				}
			})
		}
		first := firstRows(res) // one PDF per partner name, covering all its rows
	feed:
		for _, i := range first {
			select {
			case next <- i:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()
		for _, i := range first {
			if perr[i] != nil {
				errs = append(errs, perr[i])
			} else if paths[i] != "" {
				written = append(written, paths[i])
			}
		}
	}
	return written, errors.Join(errs...)
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
	seen := map[string]bool{}
	byName := map[string]string{}
	out := make([]string, len(res.Partners))
	for i := range res.Partners {
		if f, ok := byName[res.Partners[i].Name]; ok {
			out[i] = f
			continue
		}
		base := slug(res.Partners[i].Name)
		name := base + ".pdf"
		for n := 2; seen[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s-%d.pdf", base, n)
		}
		seen[strings.ToLower(name)] = true
		out[i] = name
		byName[res.Partners[i].Name] = name
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
