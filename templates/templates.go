// Package templates holds the wording of mxaudit's reports: titles, texts,
// recommended actions, remedies and the organisation's name and logo, as
// text/template files embedded in the binary. A directory given with
// --templates overrides any of them file by file.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/mxaudit/mxaudit/audit"
)

// FS is the embedded default wording: text/*.tmpl and text/remedies/.
//
//go:embed text
var FS embed.FS

// Set is a loaded set of templates: the embedded ones, each replaced by the
// file of the same name in the override directory when there is one.
type Set struct {
	tmpls   map[string]*template.Template
	from    map[string]string // template name -> file it came from, for error messages
	logo    []byte
	logoExt string
}

// Names returns the names of the embedded templates, such as "title.tmpl", sorted.
func Names() []string {
	var names []string
	entries, _ := fs.ReadDir(FS, "text")
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".tmpl") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// Default returns the embedded templates; it panics only if the embedded files do not parse, which a test rules out.
func Default() *Set {
	s, err := Load("")
	if err != nil {
		panic(err)
	}
	return s
}

// Load reads the embedded templates and, when dir is not empty, overrides
// them with the *.tmpl files in dir (and remedies/<Verdict>.tmpl below it),
// and takes logo.png or logo.jpg from dir. A .tmpl file whose name mxaudit
// does not know is an error, so a misspelt override is never silently ignored.
func Load(dir string) (*Set, error) {
	s := &Set{tmpls: map[string]*template.Template{}, from: map[string]string{}}
	for _, name := range Names() {
		b, err := FS.ReadFile(path.Join("text", name))
		if err != nil {
			return nil, err
		}
		if err := s.add(name, "embedded "+name, string(b)); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return s, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	known := Names()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(rel) {
		case "logo.png", "logo.jpg", "logo.jpeg":
			b, err := readOverride(p, MaxLogoBytes)
			if err != nil {
				return fmt.Errorf("templates: %w", err)
			}
			s.logo, s.logoExt = b, strings.TrimPrefix(path.Ext(strings.ToLower(rel)), ".")
			if s.logoExt == "jpeg" {
				s.logoExt = "jpg"
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".tmpl") {
			return nil
		}
		if !slices.Contains(known, rel) && !isRemedyName(rel) {
			return fmt.Errorf("templates: %s: unknown template (known: %s, remedies/<Verdict>.tmpl, partner-remedies/<Verdict>.tmpl, and <Verdict>.<case>.tmpl in both for a verdict's cases: %s)", p, strings.Join(known, ", "), caseNames())
		}
		b, err := readOverride(p, MaxTemplateBytes)
		if err != nil {
			return fmt.Errorf("templates: %w", err)
		}
		return s.add(rel, p, string(b))
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// isRemedyName reports whether rel is remedies/<Verdict>.tmpl,
// remedies/<Verdict>.<case>.tmpl, or the same under partner-remedies/, for
// a known verdict and one of its cases.
func isRemedyName(rel string) bool {
	v, ok := strings.CutPrefix(rel, "remedies/")
	if !ok {
		v, ok = strings.CutPrefix(rel, "partner-remedies/")
	}
	if !ok {
		return false
	}
	v = strings.TrimSuffix(v, ".tmpl")
	if vd, c, hasCase := strings.Cut(v, "."); hasCase {
		return audit.Verdict(vd).HasCase(audit.Case(c))
	}
	return audit.Verdict(v).Known()
}

func (s *Set) add(name, from, text string) error {
	t, err := template.New(name).Option("missingkey=error").Parse(strings.TrimRight(text, "\n"))
	if err != nil {
		return fmt.Errorf("templates: %s: %w", from, err)
	}
	s.tmpls[name] = t
	s.from[name] = from
	return nil
}

// ErrNoTemplate is returned by Text for a name that is neither embedded nor overridden.
var ErrNoTemplate = errors.New("no such template")

// Has reports whether a template of that name is loaded.
func (s *Set) Has(name string) bool { _, ok := s.tmpls[name]; return ok }

// Text executes the template name with data and returns the text.
func (s *Set) Text(name string, data any) (string, error) {
	t, ok := s.tmpls[name]
	if !ok {
		return "", fmt.Errorf("templates: %s: %w", name, ErrNoTemplate)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("templates: %s: %w", s.from[name], err)
	}
	return b.String(), nil
}

// Remedy returns the remedy text for verdict v: remedies/<v>.tmpl when
// loaded, otherwise remedy.tmpl; data should carry Default (the built-in remedy).
func (s *Set) Remedy(v audit.Verdict, data any) (string, error) {
	if name := "remedies/" + string(v) + ".tmpl"; s.Has(name) {
		return s.Text(name, data)
	}
	return s.Text("remedy.tmpl", data)
}

// PartnerRemedy renders what the partner should do about verdict v, for
// messages to partners: partner-remedies/<Verdict>.tmpl when it exists, else
// remedy.tmpl (data's Default should then be v.PartnerRemedy()).
func (s *Set) PartnerRemedy(v audit.Verdict, data any) (string, error) {
	if name := "partner-remedies/" + string(v) + ".tmpl"; s.Has(name) {
		return s.Text(name, data)
	}
	return s.Text("remedy.tmpl", data)
}

// ResultRemedy renders what our admins do about verdict v of r, following
// the case of v that applies to r (audit.Result.Case):
// remedies/<v>.<case>.tmpl, else remedies/<v>.tmpl, else remedy.tmpl. The
// data has .Verdict .Case .Partner .Domain .Host .Detail .Missing (the
// certificate the case names) and .Default (r.VerdictRemedy(v)).
func (s *Set) ResultRemedy(r *audit.Result, v audit.Verdict) (string, error) {
	return s.caseRemedy("remedies/", r, v, r.VerdictRemedy(v))
}

// ResultPartnerRemedy renders what the partner is asked to do about verdict
// v of r, as ResultRemedy does from partner-remedies/, with .Default
// r.VerdictPartnerRemedy(v): the wording for mails and per-partner reports.
func (s *Set) ResultPartnerRemedy(r *audit.Result, v audit.Verdict) (string, error) {
	return s.caseRemedy("partner-remedies/", r, v, r.VerdictPartnerRemedy(v))
}

func (s *Set) caseRemedy(dir string, r *audit.Result, v audit.Verdict, def string) (string, error) {
	c := r.Case(v)
	data := map[string]any{
		"Verdict": string(v), "Case": string(c), "Partner": r.Name, "Domain": r.Domain, "Host": r.Host,
		"Detail": r.Details[v], "Missing": r.Missing(), "Default": def,
	}
	if c != "" {
		if name := dir + string(v) + "." + string(c) + ".tmpl"; s.Has(name) {
			return s.Text(name, data)
		}
	}
	if name := dir + string(v) + ".tmpl"; s.Has(name) {
		return s.Text(name, data)
	}
	return s.Text("remedy.tmpl", data)
}

// caseNames lists every <Verdict>.<case> for error messages.
func caseNames() string {
	var out []string
	for _, v := range audit.Order {
		for _, c := range v.Cases() {
			out = append(out, string(v)+"."+string(c))
		}
	}
	return strings.Join(out, ", ")
}

// Logo returns the organisation's logo and its image type ("png" or "jpg"), or nil when there is none.
func (s *Set) Logo() ([]byte, string) { return s.logo, s.logoExt }

// Size caps of the override files Load reads.
const (
	MaxTemplateBytes = 1 << 20 // one wording template
	MaxLogoBytes     = 8 << 20 // the report logo
)

// readOverride reads the override file at path when it is a regular file
// (symlinks followed) of at most max bytes: a FIFO is refused before it is
// opened, so it cannot block Load, and a link to a device is refused too.
func readOverride(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s, not a regular file", path, fileKind(st.Mode()))
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, over the %d-byte limit", path, st.Size(), max)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s: grew past the %d-byte limit while being read", path, max)
	}
	return b, err
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
