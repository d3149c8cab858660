package revocation

import (
	"context"
	"crypto/x509"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/verify"
)

// Inspector returns a hook for run.Options.Inspect that, for one verified
// partner, completes a PartialChain from AIA (recording in r.Completion
// whether Windows would build the chain, which the aia check words) and
// checks the verified path, or the path the completed chain verifies to,
// for revocation (setting r.Revocation and adding Revoked or
// RevocationOffline). roots and now must be the run's own (run.Options.Roots, run.Options.Now).
func (f *Fetcher) Inspector(roots *x509.CertPool, now time.Time) func(ctx context.Context, r *audit.Result, chain, path []*x509.Certificate) {
	return func(ctx context.Context, r *audit.Result, chain, path []*x509.Certificate) {
		if r.Has(audit.PartialChain) && len(chain) > 0 {
			c := f.Complete(ctx, chain, roots)
			r.Completion = c.Facts()
			if c.Built {
				// The chain as Windows would build it; verify handles expired
				// certificates the same way it did for the presented chain.
				path = verify.Verify(verify.Input{Chain: c.Chain, Host: r.Host}, verify.Options{Roots: roots, Now: now}).Path
			}
		}
		if len(path) == 0 {
			rev := NotChecked("not checked: the chain does not reach a trusted root")
			r.Revocation = &rev
			return
		}
		rev, v := f.Check(ctx, path, r.OCSPStaple, now)
		r.Revocation = &rev
		if v != audit.Valid {
			r.Verdicts = append(r.Verdicts, v)
			if r.Details == nil {
				r.Details = map[audit.Verdict]string{}
			}
			r.Details[v] = rev.Detail
		}
	}
}
