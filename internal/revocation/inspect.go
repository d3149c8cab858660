package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/verify"
)

// Inspector returns a hook for run.Options.Inspect that, for one verified
// partner, completes a PartialChain from AIA (adding a finding that says
// whether Windows would build the chain) and checks the verified path, or
// the path the completed chain verifies to, for revocation (setting
// r.Revocation and adding Revoked or RevocationOffline). roots and now must
// be the run's own (run.Options.Roots, run.Options.Now).
func (f *Fetcher) Inspector(roots *x509.CertPool, now time.Time) func(ctx context.Context, r *audit.Result, chain, path []*x509.Certificate) {
	return func(ctx context.Context, r *audit.Result, chain, path []*x509.Certificate) {
		if r.Has(audit.PartialChain) && len(chain) > 0 {
			c := f.Complete(ctx, chain, roots)
			r.Findings = append(r.Findings, c.Finding(r.Enforced))
			if r.Details != nil {
				r.Details[audit.PartialChain] += partialNote(c)
			}
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

// partialNote is the clause added to a PartialChain detail.
func partialNote(c Completion) string {
	switch {
	case c.Built && len(c.Fetched) > 0:
		return "; Windows builds the chain from AIA " + strings.Join(c.URLs, ", ")
	case c.Built:
		return ""
	case c.Err == nil:
		return ""
	case errors.Is(c.Err, ErrOffline):
		return "; AIA not fetched (offline)"
	}
	return "; Windows cannot build it from AIA either: " + aiaReason(c.Err)
}
