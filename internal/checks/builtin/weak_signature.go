package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// weakSignatureCheck flags chain certificates signed with MD2, MD5 or SHA-1.
type weakSignatureCheck struct{}

func (*weakSignatureCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "weak-signature",
		Version:     Version,
		Description: "a certificate of the chain (other than a sent root) is signed with MD2, MD5 or SHA-1",
		Severity:    audit.Error,
		Citation:    "RFC 9155 (SHA-1 deprecated in TLS 1.2); CA/Browser Forum Baseline Requirements 7.1.3",
		Source:      source,
	}
}

func (*weakSignatureCheck) Configure(sdk.Config) error { return nil }

// weakSigAlg reports whether a signature algorithm name (x509.SignatureAlgorithm.String()) uses a broken hash.
func weakSigAlg(name string) bool {
	n := strings.ToUpper(name)
	return strings.Contains(n, "MD2") || strings.Contains(n, "MD5") || strings.Contains(n, "SHA1")
}

func (*weakSignatureCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		r := &b.Results[i]
		for j := range r.Chain {
			cert := &r.Chain[j]
			if sentRoot(cert, j) || !weakSigAlg(cert.SigAlg) {
				continue
			}
			out.Partner(i, r.VerdictSeverity(audit.WeakSignature),
				fmt.Sprintf("%s certificate %s is signed with %s%s", certRole(j), cert.Subject, cert.SigAlg, underRoot(r.Root)),
				audit.WeakSignature.Remedy())
		}
	}
	return nil
}

// underRoot says which root the chain ends in, which decides the severity
// (audit.Verdict.SeverityUnder).
func underRoot(root audit.Root) string {
	switch root.Source {
	case audit.RootSystem:
		return ", under the public root " + root.Subject + " (Windows and Go refuse it)"
	case audit.RootPrivate:
		return ", under the imported private root " + root.Subject + " (Windows accepts it; Go and OpenSSL 3 do not)"
	}
	return ""
}
