package reports

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// cjkFont returns the CJK font tests use: Debian's fonts-droid-fallback, installed by .ci/run.
func cjkFont(t *testing.T) *Font {
	t.Helper()
	const p = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"
	_, err := os.Stat(p)
	needTool(t, "a CJK TrueType font ("+p+")", "fonts-droid-fallback", err == nil)
	f, err := LoadFont(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func renderPDF(t *testing.T, res *audit.Results, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WritePDF(&b, res, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPDFContent(t *testing.T) {
	res := loadFixture(t)
	text, pages := pdfText(t, renderPDF(t, res, Options{CJKFont: cjkFont(t), Org: "Contoso Mail Ops"}))
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"Contoso Mail Ops", "Report period: Q3 2026", "Executive summary", "Partners by verdict",
		"Critical and error findings", "Private roots lifecycle", "Partner details", "Inventory rows not audited",
		"Müller GmbH", "Société Générale", "Ελληνική Τράπεζα", "Сбербанк", "株式会社テスト",
		"What to do: Ask the partner to renew its certificate",
		"Revocation: crl: revoked, answer valid until 2026-07-04", "Revocation: crl: offline (CRL http://crl.example/ca.crl",
		"Page 1 of " + pages,
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if pages == "" || pages == "1" || pages == "0" {
		t.Fatalf("page count %q", pages)
	}
	if !strings.Contains(flat, "Page "+pages+" of "+pages) {
		t.Errorf("last page is not numbered %q of %q", pages, pages)
	}
	// The lifecycle table lists the roots by expiry, each on its line with days left and status.
	var order []string
	rows := regexp.MustCompile(`(?m)^\s*(\S+\.(?:sst|p7b|cer|pem))\s.*?(\d{4}-\d\d-\d\d)\s+(-?\d+)\s+(expired|expiring|ok|unused)\b`)
	for _, m := range rows.FindAllStringSubmatch(text, -1) {
		order = append(order, m[1]+" "+m[3]+" "+m[4])
	}
	want := []string{"sber-legacy.sst -10 expired", "sg-partners.p7b 30 expiring", "mueller-root.cer 400 ok", "old-project.pem 1000 unused"}
	if strings.Join(order, "|") != strings.Join(want, "|") {
		t.Errorf("private roots rows %q, want %q", order, want)
	}
	// Changes: after the executive summary and before the findings, grouped by kind in history order, each with its meaning.
	sum, chg, fnd := strings.Index(flat, "Executive summary"), strings.Index(flat, "Changes since the previous run"), strings.Index(flat, "Critical and error findings")
	if sum < 0 || chg < 0 || fnd < 0 || !(sum < chg && chg < fnd) {
		t.Errorf("summary at %d, changes at %d, findings at %d: want the changes section between them", sum, chg, fnd)
	}
	for _, want := range []string{
		"Compared with run 41 of the same inventory, 12 changes for 6 partners",
		"Verdict got worse — 2 partners", "Issuer changed — 1 partner",
		"update the inventory's pin (expected_issuer)",
		"CN=Example Public TLS CA 2026,O=Example", "issuer_changed", "Alte Partner AG",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("changes section lacks %q", want)
		}
	}
	last := -1
	for _, label := range []string{"Partner added", "Partner removed", "Verdict got worse", "Verdict recovered", "Certificate replaced",
		"Issuer changed", "Subject changed", "Key changed", "Trust anchor changed", "Expiry threshold crossed"} {
		i := strings.Index(flat, label+" — ")
		if i < last {
			t.Errorf("group %q at %d comes before the previous group (at %d)", label, i, last)
		}
		last = i
	}
	// Critical before error findings.
	if c, e := strings.Index(flat, "CRITICAL Expired"), strings.Index(flat, "ERROR UntrustedRoot"); c < 0 || e < 0 || c > e {
		t.Errorf("critical group at %d, error group at %d: want critical first", c, e)
	}
}

func TestPDFWithoutChangesHasNoChangesSection(t *testing.T) {
	res := loadFixture(t)
	res.Changes = nil
	text, _ := pdfText(t, renderPDF(t, res, Options{NoFontSearch: true}))
	if strings.Contains(text, "Changes since the previous run") {
		t.Error("a run without changes has a changes section")
	}
	// And a partner PDF of a partner without changes has none either.
	var b bytes.Buffer
	if err := PartnerPDF(&b, loadFixture(t), "Сбербанк", Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	if text, _ := pdfText(t, b.Bytes()); strings.Contains(text, "Changes since the previous run") {
		t.Error("the partner PDF of a partner without changes has a changes section")
	}
}

func TestPDFDeterministic(t *testing.T) {
	res := loadFixture(t)
	opts := Options{NoFontSearch: true}
	a, b := renderPDF(t, res, opts), renderPDF(t, res, opts)
	if !bytes.Equal(a, b) {
		t.Fatal("two renders of the same results differ in their bytes")
	}
	// Re-read from disk: the same results.json gives the same bytes.
	again, err := audit.ReadResults(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, renderPDF(t, again, opts)) {
		t.Fatal("re-rendering results.json gives different bytes")
	}
}

func TestPDFWithoutCJKFontShowsPlaceholder(t *testing.T) {
	var warnings []string
	pdf := renderPDF(t, loadFixture(t), Options{NoFontSearch: true, Warn: func(s string) { warnings = append(warnings, s) }})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "--font") {
		t.Errorf("warnings %q, want one pointing at --font", warnings)
	}
	text, _ := pdfText(t, pdf)
	if strings.Contains(text, "株式会社") {
		t.Error("CJK text came out although no CJK font was loaded")
	}
	if !strings.Contains(text, strings.Repeat(placeholder, 7)) {
		t.Error("the CJK name is not shown as a visible placeholder")
	}
	if !strings.Contains(strings.Join(strings.Fields(text), " "), "Render again with a CJK TrueType font") {
		t.Error("the cover does not say that characters are missing")
	}
	// Latin, Greek and Cyrillic still come from the embedded font.
	for _, s := range []string{"Müller GmbH", "Ελληνική Τράπεζα", "Сбербанк"} {
		if !strings.Contains(text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
}

func TestPartnerPDFHasOnlyItsOwnFindings(t *testing.T) {
	res := loadFixture(t)
	var b bytes.Buffer
	if err := PartnerPDF(&b, res, "Сбербанк", Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, pages := pdfText(t, b.Bytes())
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Сбербанк", "NameMismatch", "WeakKey", "Expired", "sber-legacy.sst", "Page 1 of " + pages} {
		if !strings.Contains(flat, want) {
			t.Errorf("partner PDF lacks %q", want)
		}
	}
	for _, other := range []string{"Müller", "Société Générale", "Ελληνική", "Partner 00", "UntrustedRoot", "old-project.pem", "partners.csv"} {
		if strings.Contains(flat, other) {
			t.Errorf("partner PDF mentions %q, which belongs to someone else", other)
		}
	}
	// A partner with changes sees its own changes only.
	b.Reset()
	if err := PartnerPDF(&b, res, "Ελληνική Τράπεζα", Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, _ = pdfText(t, b.Bytes())
	flat = strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Changes since the previous run", "5 changes for 1 partner", "Issuer changed — 1 partner", "Trust anchor changed",
		// The partner is told what it must do, not what our admins would do.
		"please use a certificate from a public certification authority, or send us your root CA certificate"} {
		if !strings.Contains(flat, want) {
			t.Errorf("partner PDF lacks %q", want)
		}
	}
	if strings.Contains(flat, "Import the partner's root CA") {
		t.Error("partner PDF gives our admins' remedy to the partner")
	}
	for _, other := range []string{"Alte Partner AG", "Verdict recovered", "Partner added", "Société Générale"} {
		if strings.Contains(flat, other) {
			t.Errorf("partner PDF mentions %q, a change of someone else", other)
		}
	}
	if err := PartnerPDF(&b, res, "nobody", Options{}); err == nil {
		t.Error("PartnerPDF of an unknown partner succeeded")
	}
}
