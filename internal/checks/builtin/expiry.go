package builtin

import (
	"context"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// expiryCheck warns before a certificate of the chain expires, by the run's
// thresholds (expiry_warning_days, expiry_error_days). A certificate that
// has expired is the Expired verdict, which says so once.
type expiryCheck struct{}

func (*expiryCheck) Info() sdk.Info {
	return sdk.Info{
		Name:    "expiry",
		Version: Version,
		Description: "a certificate of the chain expires within [thresholds] expiry_warning_days (warning) or expiry_error_days (error) of the run; " +
			"an expired one is the Expired verdict",
		Severity:   audit.Error,
		Citation:   "RFC 5280 4.1.2.5 (validity); Exchange event CertificateExpired",
		Maintainer: maintainer,
	}
}

func (*expiryCheck) Configure(sdk.Config) error { return nil }

func (*expiryCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		perTarget(b, out, i, func(r *audit.Result) []finding { return expiring(r, b) })
	}
	return nil
}

// expiring says which certificates of r's chain expire soon.
func expiring(r *audit.Result, b *sdk.Batch) []finding {
	var out []finding
	for j := range r.Chain {
		cert := &r.Chain[j]
		if sentRoot(cert, j) || cert.NotAfter.IsZero() {
			continue
		}
		days := audit.DaysLeft(cert.NotAfter, b.Now)
		sev, soon := b.Thresholds.ExpirySeverity(days)
		if !soon {
			continue
		}
		msg := fmt.Sprintf("%s certificate %s expires on %s (%s)", certRole(j), cert.Subject, day(cert.NotAfter), audit.DaysWords(days))
		rem := "Ask the partner to renew its certificate before it expires."
		if sev == audit.Error {
			rem = "Ask the partner to renew its certificate now; mail to it fails once it expires."
		}
		out = append(out, finding{sev, msg, rem})
	}
	return out
}
