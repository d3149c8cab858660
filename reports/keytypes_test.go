package reports

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// TestKeyTypesInReports: a server holding an RSA and an ECDSA certificate
// is reported with both (issue 10, item 4): the PDF's partner section names
// each key type with its own verdicts, and the Certificates sheet lists the
// other key type's leaf too.
func TestKeyTypesInReports(t *testing.T) {
	res := loadFixture(t)
	r := twoKeyTypes(res)
	other := r.Chain[0]
	other.Subject, other.SHA256, other.SHA1 = "CN=mx.rsa-only.example", strings.Repeat("AB", 32), strings.Repeat("CD", 20)
	r.Certificates[1].Chain = []audit.Cert{other}
	// The worst certificate decides: the RSA one's SHA-1 signature.
	r.Verdict, r.Verdicts = audit.WeakSignature, []audit.Verdict{audit.WeakSignature}
	r.Details = map[audit.Verdict]string{audit.WeakSignature: "RSA certificate: the leaf is signed with SHA1-RSA"}
	res.Partners = []audit.Result{r}

	v, err := newView(res, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range v.distinctCerts() {
		found = found || c.Subject == "CN=mx.rsa-only.example"
	}
	if !found {
		t.Error("the Certificates sheet's rows leave out the RSA certificate")
	}

	needTool(t, "pdftotext", "poppler-utils", havePoppler())
	var b bytes.Buffer
	if err := WritePDF(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, _ := pdfText(t, b.Bytes())
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Certificates by key type", "ECDSA", "RSA", "CN=mx.rsa-only.example", "WeakSignature"} {
		if !strings.Contains(flat, want) {
			t.Errorf("PDF lacks %q", want)
		}
	}
}

// distinctCerts returns every certificate of every chain once, by SHA-256, soonest expiry first.
func (v *view) distinctCerts() []CertRow {
	idx := map[string]int{}
	var out []CertRow
	for i := range v.res.Partners {
		r := &v.res.Partners[i]
		for _, c := range servedCerts(r) {
			key := certKey(&c)
			j, ok := idx[key]
			if !ok {
				j = len(out)
				idx[key] = j
				out = append(out, CertRow{Cert: c})
			}
			if p := out[j].Partners; len(p) == 0 || p[len(p)-1] != r.Name {
				out[j].Partners = append(out[j].Partners, r.Name)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b CertRow) int {
		return cmp.Or(a.NotAfter.Compare(b.NotAfter), strings.Compare(a.SHA256, b.SHA256))
	})
	return out
}
