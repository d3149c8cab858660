package reports

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

func TestPartnerFinding(t *testing.T) {
	tests := []struct {
		name       string
		f          audit.Finding
		ok         bool
		wantRemedy string
	}{
		{"verdict restates the verdicts", audit.Finding{Check: "verdict", Severity: audit.Error, Remedy: "Ask the partner"}, false, ""},
		{"enforced restates the primary verdict", audit.Finding{Check: "enforced", Severity: audit.Critical}, false, ""},
		{"aia restates PartialChain in our admin's words", audit.Finding{Check: "aia", Severity: audit.Warning,
			Remedy: "Ask the partner to send the intermediate; import the intermediate into the Intermediate Certification Authorities store."}, false, ""},
		{"weak-key restates WeakKey", audit.Finding{Check: "weak-key", Severity: audit.Warning}, false, ""},
		{"weak-signature restates WeakSignature", audit.Finding{Check: "weak-signature", Severity: audit.Warning}, false, ""},
		{"pin is about our inventory and connector", audit.Finding{Check: "pin", Severity: audit.Warning}, false, ""},
		{"private-root is our side", audit.Finding{Check: "private-root", Severity: audit.Warning}, false, ""},
		{"CheckFailed is our plugins", audit.Finding{Check: "CheckFailed", Severity: audit.Warning}, false, ""},
		{"expiry in the partner's words", audit.Finding{Check: "expiry", Severity: audit.Warning, Message: "leaf expires", Remedy: "Ask the partner to renew"},
			true, "Please renew this certificate before it expires and install the new one on your mail server."},
		{"tls-version in the partner's words", audit.Finding{Check: "tls-version", Severity: audit.Warning, Remedy: "Ask the partner to enable TLS 1.2"},
			true, "Please enable TLS 1.2 and 1.3 on your mail server and disable older protocol versions."},
		{"weak-cipher in the partner's words", audit.Finding{Check: "weak-cipher", Severity: audit.Warning, Remedy: "Ask the partner to prefer ECDHE"},
			true, "Please prefer ECDHE cipher suites with AES-GCM or ChaCha20-Poly1305 and disable RC4, DES/3DES, NULL, EXPORT and static-RSA suites."},
		{"a third-party check keeps its message, not our remedy", audit.Finding{Check: "no-wildcard", Severity: audit.Warning, Message: "wildcard",
			Remedy: "Ask the partner for a certificate naming its mail host."}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PartnerFinding(tt.f)
			if ok != tt.ok || got.Remedy != tt.wantRemedy {
				t.Fatalf("got %v %q, want %v %q", ok, got.Remedy, tt.ok, tt.wantRemedy)
			}
			if ok && (got.Message != tt.f.Message || got.Check != tt.f.Check || got.Severity != tt.f.Severity) {
				t.Errorf("changed more than the remedy: %+v", got)
			}
			if strings.Contains(got.Remedy, "Ask the partner") {
				t.Errorf("our admin's wording reaches the partner: %q", got.Remedy)
			}
		})
	}
}

// TestPartnerPDFAllRows: a partner listed with two MX hosts gets one
// report covering both, under one file name, and the root we imported from
// it is explained in its words; our side's findings are not in it.
func TestPartnerPDFAllRows(t *testing.T) {
	now := time.Date(2026, 3, 16, 7, 30, 0, 0, time.UTC)
	row := func(host string, v audit.Verdict, fs ...audit.Finding) audit.Result {
		return audit.Result{Partner: audit.Partner{Name: "Fabrikam", Domain: "fabrikam.example", Host: host, Port: 25, TLS: audit.StartTLS},
			Verdict: v, Verdicts: []audit.Verdict{v}, Findings: fs, Root: audit.Root{Store: audit.RootPrivate, Subject: "CN=Fabrikam Root", SHA256: "AB"},
			Chain: []audit.Cert{{Subject: "CN=" + host, Issuer: "CN=Fabrikam Root", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(1, 0, 0), SHA1: "AB"}}}
	}
	ours := audit.Finding{Check: "private-root", Severity: audit.Warning, Message: "private root CN=Fabrikam Root expires on 2026-04-30 (in 45 days)",
		Remedy: "Ask the partner for its next root CA certificate and import it before this one expires."}
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now, Finished: now,
		Partners: []audit.Result{
			row("mx1.fabrikam.example", audit.Valid, ours),
			{Partner: audit.Partner{Name: "Other Corp", Host: "mx.other.example", Port: 25}, Verdict: audit.Valid, Verdicts: []audit.Verdict{audit.Valid}},
			row("mx2.fabrikam.example", audit.NameMismatch, ours),
		},
		PrivateRoots: []audit.PrivateRoot{{File: "fabrikam-root.cer", Subject: "CN=Fabrikam Root", SHA256: "AB", NotAfter: now.AddDate(0, 0, 45), DaysLeft: 45,
			UsedBy: []string{"Fabrikam"}, DeclaredBy: []string{"Fabrikam"}, Status: audit.RootExpiring}},
	}
	if names := PartnerFileNames(res); names[0] != "Fabrikam.pdf" || names[2] != "Fabrikam.pdf" || names[1] != "Other-Corp.pdf" {
		t.Errorf("file names %v: the rows of one partner must share its file", names)
	}
	dir := t.TempDir()
	written, err := WriteAll(context.Background(), dir, res, []Format{CSV}, true, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	var pdfs []string
	for _, p := range written {
		if filepath.Dir(p) == filepath.Join(dir, DirPartnerPDFs) {
			pdfs = append(pdfs, filepath.Base(p))
		}
	}
	if !slices.Equal(pdfs, []string{"Fabrikam.pdf", "Other-Corp.pdf"}) {
		t.Errorf("--per-partner wrote %v, want one PDF per partner name", pdfs)
	}
	var b bytes.Buffer
	if err := PartnerPDF(&b, res, "Fabrikam", Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, _ := pdfText(t, b.Bytes())
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"mx1.fabrikam.example:25", "mx2.fabrikam.example:25", "NameMismatch", "Result: NameMismatch (error), the worst of 2 mail servers",
		"please send us its successor before then"} {
		if !strings.Contains(flat, want) {
			t.Errorf("partner PDF lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"Other Corp", "private-root", "Ask the partner", "Obtain the new root", "(warning)"} {
		if strings.Contains(flat, not) {
			t.Errorf("partner PDF has %q:\n%s", not, text)
		}
	}
}
