package templates

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultParses(t *testing.T) {
	s := Default()
	for _, n := range []string{"title.tmpl", "organisation.tmpl", "period.tmpl", "scope.tmpl", "summary.tmpl", "footer.tmpl", "remedy.tmpl",
		"action-ok.tmpl", "action-expiring.tmpl", "action-expired.tmpl", "action-unused.tmpl", "partner-intro.tmpl",
		"changes-intro.tmpl", "change-label.tmpl", "change-other.tmpl", "change-issuer_changed.tmpl"} {
		if !s.Has(n) {
			t.Errorf("embedded template %s missing", n)
		}
	}
	got, err := s.Text("period.tmpl", map[string]any{"Quarter": "Q3", "Year": 2026})
	if err != nil || got != "Q3 2026" {
		t.Errorf("period: %q, %v", got, err)
	}
	if logo, _ := s.Logo(); logo != nil {
		t.Error("embedded set has a logo")
	}
	for kind, want := range map[string]string{"issuer_changed": "Issuer changed", "verdict_worse": "Verdict got worse", "dane_changed": "dane_changed"} {
		if got, err := s.Text("change-label.tmpl", map[string]any{"Kind": kind}); err != nil || got != want {
			t.Errorf("change-label %s: %q, %v; want %q", kind, got, err, want)
		}
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "title.tmpl", "Quartalsprüfung TLS\n")
	write(t, dir, "remedies/UntrustedRoot.tmpl", "Root von {{.Partner}} importieren.")
	write(t, dir, "logo.png", "\x89PNG fake")
	write(t, dir, "README.txt", "ignored: not a template")
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  func() (string, error)
		want string
	}{
		{"overridden title, trailing newline dropped", func() (string, error) { return s.Text("title.tmpl", nil) }, "Quartalsprüfung TLS"},
		{"embedded footer kept", func() (string, error) {
			return s.Text("footer.tmpl", map[string]any{"Org": "O", "Title": "T", "Period": "P"})
		}, "O · T · P · confidential"},
		{"per-verdict remedy", func() (string, error) {
			return s.Remedy(audit.UntrustedRoot, map[string]any{"Partner": "Müller GmbH", "Default": "x"})
		}, "Root von Müller GmbH importieren."},
		{"other verdicts use remedy.tmpl", func() (string, error) {
			return s.Remedy(audit.Expired, map[string]any{"Default": audit.Expired.Remedy()})
		}, audit.Expired.Remedy()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if logo, typ := s.Logo(); string(logo) != "\x89PNG fake" || typ != "png" {
		t.Errorf("logo %q type %q", logo, typ)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, file, text, want string
	}{
		{"misspelt name", "titel.tmpl", "x", "unknown template"},
		{"unknown verdict", "remedies/Broken.tmpl", "x", "unknown template"},
		{"unknown case", "remedies/PartialChain.missing-leaf.tmpl", "x", "PartialChain.missing-root"},
		{"case of a verdict without cases", "partner-remedies/Expired.missing-root.tmpl", "x", "unknown template"},
		{"syntax error names the file", "scope.tmpl", "{{.Partners", "scope.tmpl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tt.file, tt.text)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing folder succeeded")
	}
	_, err := Default().Text("nope.tmpl", nil)
	if !errors.Is(err, ErrNoTemplate) {
		t.Errorf("unknown name: %v", err)
	}
	// A field the data lacks is an error, not "<no value>".
	if _, err := Default().Text("period.tmpl", map[string]any{"Quarter": "Q1"}); err == nil {
		t.Error("missing field did not fail")
	}
}

// Issue 10, item 2: a PartialChain's remedy follows its case, for our admins
// and for the partner, and each case can be overridden on its own.
func TestCaseRemedies(t *testing.T) {
	const root = "CN=Contoso Root CA,O=Contoso"
	partial := func(chain int) *audit.Result {
		r := &audit.Result{Partner: audit.Partner{Name: "Contoso", Host: "mx.contoso.example"},
			Verdict: audit.PartialChain, Verdicts: []audit.Verdict{audit.PartialChain},
			Root: audit.Root{Store: audit.RootNone, Subject: root}}
		leaf := audit.Cert{Subject: "CN=mx.contoso.example", Issuer: "CN=Contoso Issuing CA,O=Contoso"}
		r.Chain = []audit.Cert{leaf, {Subject: leaf.Issuer, Issuer: root}}[:chain]
		if chain == 1 {
			r.Root.Subject = leaf.Issuer
		}
		return r
	}
	over := t.TempDir()
	write(t, over, "remedies/PartialChain.missing-root.tmpl", "Stammzertifikat {{.Missing}} von {{.Partner}} importieren ({{.Case}}).")
	write(t, over, "partner-remedies/PartialChain.tmpl", "Bitte Kette prüfen: {{.Default}}")
	o, err := Load(over)
	if err != nil {
		t.Fatal(err)
	}
	admin := func(s *Set, r *audit.Result) func() (string, error) {
		return func() (string, error) { return s.ResultRemedy(r, audit.PartialChain) }
	}
	partner := func(s *Set, r *audit.Result) func() (string, error) {
		return func() (string, error) { return s.ResultPartnerRemedy(r, audit.PartialChain) }
	}
	tests := []struct {
		name    string
		got     func() (string, error)
		want    []string
		mustNot []string
	}{
		{"missing root, admin", admin(Default(), partial(2)), []string{"root CA (" + root + ")", "Trusted Root Certification Authorities", "public CA"}, []string{"send its intermediate"}},
		{"missing root, partner", partner(Default(), partial(2)), []string{"root CA certificate (" + root + ")", "thumbprint", "public certification authority"},
			[]string{"Ask the partner", "store", "--private-roots", "Intermediate Certification Authorities"}},
		{"missing intermediate, admin", admin(Default(), partial(1)), []string{"send its intermediate CA certificate (CN=Contoso Issuing CA,O=Contoso)"}, []string{"Trusted Root"}},
		{"missing intermediate, partner", partner(Default(), partial(1)), []string{"send its intermediate CA certificate (CN=Contoso Issuing CA,O=Contoso)"}, []string{"Ask the partner", "store"}},
		{"case override", admin(o, partial(2)), []string{"Stammzertifikat " + root + " von Contoso importieren (missing-root)."}, nil},
		{"case without its own override keeps the built-in text", admin(o, partial(1)), []string{"Intermediate Certification Authorities"}, []string{"Stammzertifikat"}},
		{"verdict override gets the case's default", partner(o, partial(2)), []string{"Bitte Kette prüfen: Your server sends its certificate and its intermediate"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not contain %q", got, w)
				}
			}
			for _, w := range tt.mustNot {
				if strings.Contains(got, w) {
					t.Errorf("%q contains %q", got, w)
				}
			}
		})
	}
}

// TestLoadSpecialFiles: a FIFO or a symlink to /dev/zero in --templates is
// refused at once, naming the file and why.
func TestLoadSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name, file, reason string
		make               func(path string) error
	}{
		{"FIFO template", "title.tmpl", "a FIFO (named pipe), not a regular file", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"template linked to /dev/zero", "footer.tmpl", "a device, not a regular file", func(p string) error { return os.Symlink("/dev/zero", p) }},
		{"logo linked to /dev/zero", "logo.png", "a device, not a regular file", func(p string) error { return os.Symlink("/dev/zero", p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.file)
			if err := tc.make(p); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := Load(dir); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), p+": "+tc.reason) {
					t.Errorf("Load = %v; want %q", err, tc.reason)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocked")
			}
		})
	}
}
