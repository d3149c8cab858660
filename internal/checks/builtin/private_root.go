package builtin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/sdk"
)

// privateRootCheck grades the imported private roots: expired, expiring
// within expiring_days, or used by no partner's chain any more.
type privateRootCheck struct {
	expiringDays int
}

func (*privateRootCheck) Info() sdk.Info {
	return sdk.Info{
		Name:        "private-root",
		Version:     Version,
		Description: "an imported private root is expired (error), expires within expiring_days (warning) or no partner's chain uses it",
		Severity:    audit.Error,
		Citation:    "RFC 5280 6.1 (trust anchors); Windows Trusted Root Certification Authorities store hygiene",
		Source:      source,
		Config: []sdk.ConfigKey{
			{Name: "expiring_days", Description: "days before NotAfter from which a root counts as expiring", Default: fmt.Sprint(audit.RootExpiringDays)},
		},
	}
}

func (c *privateRootCheck) Configure(cfg sdk.Config) error {
	var err error
	c.expiringDays, err = cfg.Int("expiring_days", audit.RootExpiringDays)
	if err == nil && c.expiringDays < 0 {
		err = fmt.Errorf("expiring_days: %d is negative", c.expiringDays)
	}
	return err
}

func (c *privateRootCheck) Check(_ context.Context, b *sdk.Batch, out *sdk.Report) error {
	for i := range b.PrivateRoots {
		p := &b.PrivateRoots[i]
		name := p.Subject
		if p.File != "" {
			name = fmt.Sprintf("%s (%s)", p.Subject, p.File)
		}
		days := audit.DaysLeft(p.NotAfter, b.Now)
		switch {
		case !b.Now.Before(p.NotAfter):
			out.PrivateRoot(i, audit.Error, fmt.Sprintf("private root %s %s, on %s", name, audit.DaysText(p.NotAfter, b.Now), day(p.NotAfter)),
				"Import the partner's new root CA certificate and remove the expired one from the store and from --private-roots.")
			continue
		case p.NotAfter.Sub(b.Now) <= time.Duration(c.expiringDays)*24*time.Hour:
			out.PrivateRoot(i, audit.Warning, fmt.Sprintf("private root %s expires on %s (in %d days)", name, day(p.NotAfter), days),
				"Ask the partner for its next root CA certificate and import it before this one expires.")
		}
		if len(p.UsedBy) == 0 {
			if len(p.DeclaredBy) > 0 {
				out.PrivateRoot(i, audit.Warning,
					fmt.Sprintf("private root %s is declared by %s but no partner's chain ends in it any more", name, strings.Join(p.DeclaredBy, ", ")),
					"Ask the partner whether it changed CA; update the inventory's private_root column and remove the root from the store once no partner needs it.")
			} else {
				out.PrivateRoot(i, audit.Info, fmt.Sprintf("private root %s is not used by any partner", name),
					"Remove it from the Trusted Root Certification Authorities store and from --private-roots unless a partner not in this inventory needs it.")
			}
		}
	}
	return nil
}
