package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// aiaCheck says, for a partner whose chain is a PartialChain, whether
// Windows (Exchange) would still complete it from the AIA caIssuers URL:
// the facts the revocation stage recorded in Result.Completion. The
// PartialChain verdict states the problem and its remedy; this check adds
// only what Exchange makes of it.
type aiaCheck struct{}

func (*aiaCheck) Info() sdk.Info {
	return sdk.Info{
		Name:    "aia",
		Version: Version,
		Description: "for a PartialChain: whether Windows completes the chain from the AIA caIssuers URL " +
			"(warning: Exchange accepts it while that URL answers, other MTAs do not), or cannot either (info)",
		Severity:   audit.Warning,
		Citation:   "RFC 5280 4.2.2.1 (authority information access); Windows CryptoAPI chain building (AIA retrieval)",
		Maintainer: maintainer,
	}
}

func (*aiaCheck) Configure(sdk.Config) error { return nil }

func (*aiaCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.Results {
		perTarget(b, out, i, func(r *audit.Result) []finding {
			if c := r.Completion; c != nil && r.Has(audit.PartialChain) {
				sev, msg, rem := aiaFinding(r, c)
				return []finding{{sev, msg, rem}}
			}
			return nil
		})
	}
	return nil
}

// aiaFinding words the completion c of r's PartialChain.
func aiaFinding(r *audit.Result, c *audit.Completion) (audit.Severity, string, string) {
	missing := "its intermediate CA certificate (issuer " + c.Missing + ")"
	if r.Case(audit.PartialChain) == audit.CaseMissingRoot {
		missing = fmt.Sprintf("the issuer of its CA certificate %s, most likely the partner's root CA %s", c.LastSent, c.Missing)
	}
	urls := strings.Join(c.URLs, ", ")
	switch {
	case c.Built && len(c.Fetched) > 0:
		fetched := strings.Join(c.Fetched, ", then ")
		return audit.Warning,
			fmt.Sprintf("Windows completes the chain by fetching the CA certificate %s from %s (AIA caIssuers), so Exchange accepts it as long as that URL answers; MTAs that do not fetch AIA (Postfix, OpenSSL-based, most non-Windows) refuse it.", fetched, urls),
			fmt.Sprintf("Until the partner sends the CA certificate %s itself, keep outbound HTTP to %s open from your Exchange servers, or import that certificate into the Intermediate Certification Authorities store.", fetched, urls)
	case c.Built:
		return audit.Info, "The chain reaches a trusted root without fetching anything from AIA.", ""
	case c.Offline:
		return audit.Info, fmt.Sprintf("The AIA caIssuers URL was not fetched (--offline): whether Windows would complete the chain (the server does not send %s) is not known.", missing), ""
	}
	msg := fmt.Sprintf("Windows cannot complete the chain from AIA either (the server does not send %s): %s.", missing, c.Reason)
	if r.Case(audit.PartialChain) == audit.CaseMissingRoot {
		return audit.Info, msg, ""
	}
	return audit.Info, msg, "If the partner cannot send its intermediate at once, a reachable AIA caIssuers URL in its certificate lets Windows complete the chain meanwhile."
}
