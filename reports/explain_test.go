package reports

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// twoKeyTypes is a target reached through NAT that holds an RSA and an ECDSA
// certificate, whose revocation was not checked, with its transcript.
func twoKeyTypes(res *audit.Results) audit.Result {
	r := res.Partners[0]
	r.Partner.Address = "10.1.2.3:2525"
	r.SMTP.RemoteAddr = "10.1.2.3:2525"
	r.SMTP.Transcript = []string{"S: 220 mx ESMTP", "C: EHLO audit.example", "S: 250 STARTTLS", "C: STARTTLS", "S: 220 go ahead"}
	rsa := r.Chain[0]
	rsa.KeyType, rsa.KeyBits = "RSA", 2048
	r.Certificates = []audit.CertAudit{
		{KeyType: "ECDSA", Chain: r.Chain, Verdicts: r.Verdicts, TLSVersion: "TLS 1.3"},
		{KeyType: "RSA", Chain: []audit.Cert{rsa}, Verdicts: []audit.Verdict{audit.WeakSignature}, TLSVersion: "TLS 1.2"},
	}
	r.Revocation = &audit.Revocation{Method: "not checked", Status: "not checked", Detail: "--offline"}
	return r
}

// TestWriteExplanation compares probe's explanation of results with golden files.
func TestWriteExplanation(t *testing.T) {
	res := loadFixture(t)
	tests := []struct {
		name       string
		results    []audit.Result
		transcript bool
	}{
		{"explain-fixture.txt", res.Partners, false},
		{"explain-two-key-types.txt", []audit.Result{twoKeyTypes(res)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			for i := range tt.results {
				before := tt.results[i].Revocation
				var saved audit.Revocation
				if before != nil {
					saved = *before
				}
				if err := WriteExplanation(&b, &tt.results[i], res.Started, tt.transcript); err != nil {
					t.Fatal(err)
				}
				if before != nil && !reflect.DeepEqual(*before, saved) {
					t.Errorf("%s: the explanation changed the result's revocation", tt.results[i].Partner.Name)
				}
				b.WriteString("\n")
			}
			golden(t, tt.name, b.Bytes())
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteExplanationError(t *testing.T) {
	r := audit.Result{Verdict: audit.Timeout, Verdicts: []audit.Verdict{audit.Timeout}}
	if err := WriteExplanation(failWriter{}, &r, time.Time{}, false); err == nil || err.Error() != "disk full" {
		t.Errorf("err = %v", err)
	}
}

// TestWriteProbeExplanation compares probe's explanation of partners known
// by their domain with a golden file: the MX hosts and addresses, the
// run's notes, every target explained, what the partner gets; a partner
// without target (null MX, DNS failure) says why.
func TestWriteProbeExplanation(t *testing.T) {
	res := loadTargetsFixture(t)
	var b bytes.Buffer
	for i := range res.Partners {
		if err := WriteProbeExplanation(&b, res, i, false); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
	}
	out := b.String()
	for _, want := range []string{
		"Contoso Shipping: 2 MX hosts, 4 addresses\n",
		"  MX 20 mx2.contoso-shipping.example: ",
		"  note:      IPv6 not tested from here",
		"\nContoso Shipping: Expired (critical) on 1 of 4 addresses\n",
		"Null MX Inc: NullMX",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q", want)
		}
	}
	golden(t, "explain-targets.txt", b.Bytes())

	// A partner probed at one host, without domain, is WriteExplanation alone.
	one := loadFixture(t)
	one.Partners[0].Domain, one.Partners[0].Targets = "", nil
	var single, plain bytes.Buffer
	if err := WriteProbeExplanation(&single, one, 0, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteExplanation(&plain, &one.Partners[0], one.Started, true); err != nil {
		t.Fatal(err)
	}
	if single.String() != plain.String() {
		t.Errorf("one host:\n%s\nwant\n%s", single.String(), plain.String())
	}
}
