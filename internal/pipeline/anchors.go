package pipeline

import (
	"crypto/x509"

	"github.com/mxaudit/mxaudit/audit"
)

// anchors parses the private roots once per run, for verify to link a
// chain to them where crypto/x509 refuses the link (a SHA-1 signature).
func anchors(roots []audit.PrivateRoot) []*x509.Certificate {
	var out []*x509.Certificate
	for _, pr := range roots {
		if c, err := x509.ParseCertificate(pr.DER); err == nil {
			out = append(out, c)
		}
	}
	return out
}
