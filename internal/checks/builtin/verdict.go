package builtin

import (
	"context"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// verdictCheck turns every verdict of a partner into a finding with its remedy.
//
// Verdicts that have a check of their own with a more precise message
// (expiry, weak-key, weak-signature, pin) are left to those checks.
type verdictCheck struct{}

// ownedElsewhere lists the verdicts another built-in check reports.
var ownedElsewhere = map[audit.Verdict]string{
	audit.Expired:       "expiry",
	audit.WeakKey:       "weak-key",
	audit.WeakSignature: "weak-signature",
	audit.IssuerChanged: "pin",
}

func (*verdictCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "verdict",
		Version:     Version,
		Description: "each chain verdict (UntrustedRoot, PartialChain, NameMismatch, ...) as a finding with its runbook remedy",
		Severity:    audit.Critical,
		Citation:    "X509ChainStatusFlags, SslPolicyErrors and Exchange TLS event texts",
		Source:      source,
	}
}

func (*verdictCheck) Configure(sdk.Config) error { return nil }

func (*verdictCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		r := &b.Results[i]
		for _, v := range r.Verdicts {
			if v == audit.Valid || ownedElsewhere[v] != "" {
				continue
			}
			msg := string(v)
			if d := r.Details[v]; d != "" {
				msg = fmt.Sprintf("%s: %s", v, d)
			} else if v == r.Verdict && r.Error != "" {
				msg = fmt.Sprintf("%s: %s", v, r.Error)
			}
			out.Partner(i, r.VerdictSeverity(v), msg, r.VerdictRemedy(v))
		}
	}
	return nil
}
