package audit

import (
	"crypto/x509"
	"slices"
	"strings"
)

// CoversDomain reports whether c names domain or a name under it, in its
// DNS names or (as Exchange also looks there) its subject CN: the one rule
// of DomainMismatch and of Exchange Domain Security (event 11015).
func CoversDomain(c *x509.Certificate, domain string) bool {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, n := range append(slices.Clone(c.DNSNames), c.Subject.CommonName) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n == d || strings.HasSuffix(n, "."+d) {
			return true
		}
	}
	return false
}
