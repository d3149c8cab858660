package builtin

import (
	"context"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/audit/dn"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// pinCheck compares the leaf's issuer and subject with the inventory's pin
// (expected_issuer, expected_subject, or a whole `<I>issuer<S>subject` in
// expected_issuer) as parsed names, and shows the presented certificate's
// issuer and subject in that form. (An Exchange connector's
// TlsCertificateName names our own certificate, never the partner's.)
type pinCheck struct{}

func (*pinCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "pin",
		Version:     Version,
		Description: "the leaf's issuer or subject differs from the inventory's pin, expected_issuer/expected_subject (IssuerChanged)",
		Severity:    audit.Error,
		Citation:    "the inventory's expected_issuer/expected_subject; Exchange Online Set-OutboundConnector -TlsSettings DomainValidation -TlsDomain",
		Source:      source,
	}
}

func (*pinCheck) Configure(sdk.Config) error { return nil }

func (*pinCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		r := &b.Results[i]
		if (r.ExpectedIssuer == "" && r.ExpectedSubject == "") || len(r.Chain) == 0 {
			continue
		}
		leaf, err := b.Leaf(i)
		if err != nil {
			out.Partner(i, audit.Warning, fmt.Sprintf("the pin cannot be compared: %v", err),
				"Check the partner's certificate with openssl s_client -starttls smtp -showcerts.")
			continue
		}
		var iss, sub dn.Name
		if dn.IsPin(r.ExpectedIssuer) {
			iss, sub, err = dn.ParsePin(r.ExpectedIssuer)
		} else {
			if r.ExpectedIssuer != "" {
				iss, err = dn.Parse(r.ExpectedIssuer)
			}
			if err == nil && r.ExpectedSubject != "" {
				sub, err = dn.Parse(r.ExpectedSubject)
			}
		}
		got := dn.TLSCertificateName(leaf.Issuer, leaf.Subject)
		sev := r.VerdictSeverity(audit.IssuerChanged)
		if err != nil {
			out.Partner(i, sev, fmt.Sprintf("the inventory's pin cannot be read (%v); the certificate reads %s", err, got),
				"Correct expected_issuer/expected_subject in the inventory.")
			continue
		}
		if len(iss) > 0 && !dn.Match(iss, dn.FromPKIX(leaf.Issuer)) {
			out.Partner(i, sev, fmt.Sprintf("IssuerChanged: issuer is %s, pinned %s; the certificate reads %s",
				dn.Windows(leaf.Issuer), iss.String(), got), r.VerdictRemedy(audit.IssuerChanged))
		}
		if len(sub) > 0 && !dn.Match(sub, dn.FromPKIX(leaf.Subject)) {
			out.Partner(i, sev, fmt.Sprintf("IssuerChanged: subject is %s, pinned %s; the certificate reads %s",
				dn.Windows(leaf.Subject), sub.String(), got), r.VerdictRemedy(audit.IssuerChanged))
		}
	}
	return nil
}
