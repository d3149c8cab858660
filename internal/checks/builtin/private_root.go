package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// privateRootCheck states the lifecycle of the imported private roots, by
// the status audit.Thresholds.RootStatus gives them under the run's
// root_expiring_days: expired, expiring, or used by no partner's chain.
type privateRootCheck struct{}

func (*privateRootCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "private-root",
		Version:     Version,
		Description: "an imported private root is expired (error), expires within [thresholds] root_expiring_days (warning) or no partner's chain uses it",
		Severity:    audit.Error,
		Citation:    "RFC 5280 6.1 (trust anchors); Windows Trusted Root Certification Authorities store hygiene",
		Maintainer:  maintainer,
	}
}

func (*privateRootCheck) Configure(sdk.Config) error { return nil }

func (*privateRootCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.PrivateRoots {
		p := &b.PrivateRoots[i]
		name := p.Subject
		if p.File != "" {
			name = fmt.Sprintf("%s (%s)", p.Subject, p.File)
		}
		days := audit.DaysLeft(p.NotAfter, b.Now)
		switch b.Thresholds.RootStatus(days, true) {
		case audit.RootExpired:
			out.PrivateRoot(i, audit.Error, fmt.Sprintf("private root %s %s, on %s", name, audit.DaysText(p.NotAfter, b.Now), day(p.NotAfter)),
				"Import the partner's new root CA certificate and remove the expired one from the store and from --private-roots.")
			continue
		case audit.RootExpiring:
			out.PrivateRoot(i, audit.Warning, fmt.Sprintf("private root %s expires on %s (%s)", name, day(p.NotAfter), audit.DaysWords(days)),
				"Ask the partner for its next root CA certificate and import it before this one expires.")
		}
		if len(p.UsedBy) > 0 {
			continue
		}
		if len(p.DeclaredBy) > 0 {
			out.PrivateRoot(i, audit.Warning,
				fmt.Sprintf("private root %s is declared by %s but no partner's chain ends in it any more", name, strings.Join(p.DeclaredBy, ", ")),
				"Ask the partner whether it changed CA; update the inventory's private_root column and remove the root from the store once no partner needs it.")
			continue
		}
		out.PrivateRoot(i, audit.Info, fmt.Sprintf("private root %s is not used by any partner", name),
			"Remove it from the Trusted Root Certification Authorities store and from --private-roots unless a partner not in this inventory needs it.")
	}
	return nil
}
